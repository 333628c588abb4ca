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

class TransportError(ActivationError):
    """An HTTP exchange with a destination did not succeed (exit code 1).

    Messages never contain credentials: the transport redacts them first.
    """


class RequestFailed(TransportError):
    """A request failed in a way the transport does not retry (e.g. a timeout on a non-idempotent call)."""


class RetriesExhausted(TransportError):
    """Every allowed attempt failed (5xx, timeout, reset, or 429 past its own budget or the deadline)."""

    def __init__(
        self,
        message: str,
        *,
        endpoint_class: str,
        attempts: int,
        last_status: int | None,
        last_error: str | None,
    ) -> None:
        super().__init__(message)
        self.endpoint_class = endpoint_class
        self.attempts = attempts
        self.last_status = last_status
        self.last_error = last_error


class BatchRejected(TransportError):
    """Raised by a destination's send_batch callback when the ESP refused a batch as a whole.

    Only for refusals that depend on the batch's content (a 400 naming no record,
    a 413 too large): ``send_with_split`` halves the batch until the bad records
    are isolated. Authentication or configuration errors must not use it, or
    every record would be probed one by one.
    """

    def __init__(self, message: str, *, code: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
