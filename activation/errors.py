"""The exceptions activation raises; the command line maps them to exit codes.

Every message says what is wrong and what to do about it.
"""

from __future__ import annotations


class ActivationError(Exception):
    """Base class of every error activation reports to the user."""


class ConfigError(ActivationError):
    """Bad input or setup: a missing warehouse, table, contact, template or scenario (exit code 2)."""


class RenderError(ActivationError):
    """A template failed to render with a given set of variables (exit code 1)."""


class CircuitBreakerTripped(ActivationError):
    """A list sync would remove more than its circuit breaker allows; nothing was sent."""


class DestinationError(ActivationError):
    """The destination failed in a way no retry fixed (the run is recorded as failed)."""
