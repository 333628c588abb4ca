"""Fixed-window rate limiting, one counter per (endpoint class, window).

An ESP states its limits as a few windows per endpoint, e.g. Klaviyo's
``{"burst": "10/s", "steady": "150/m"}``: at most 10 requests in each
calendar second and 150 in each calendar minute. Windows are *fixed*: aligned
on multiples of their length on the limiter's clock (Unix time by default), and
a window's count starts again from zero when the next window begins. A request
is admitted only if every window has room; a refused request does not count.

The key ("endpoint class") is whatever the simulator passes; the Klaviyo
simulator passes the operationId, because Klaviyo counts each endpoint on its
own (two endpoints with the same "10/s, 150/m" tier do not share a budget).

Modes: ``production`` (the stated limits, times ``scale``) and ``off`` (no limit
and no rate-limit headers: for measuring an engine's own speed).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from activation.errors import ConfigError

MODES = ("production", "off")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Window:
    """At most ``limit`` requests per fixed window of ``seconds``; ``name`` as the ESP calls it."""

    name: str
    limit: int
    seconds: int


@dataclass(frozen=True)
class Decision:
    """The limiter's answer for one request.

    ``retry_after``: whole seconds until every full window has room again (0 when
    allowed). ``limit``/``remaining``/``reset`` describe the reported window (the
    steady one, as Klaviyo's ``RateLimit-*`` headers do); ``None`` when limits are off.
    """

    allowed: bool
    retry_after: int = 0
    window: str | None = None
    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None


def parse_windows(spec: Mapping[str, str]) -> tuple[Window, ...]:
    """``{"burst": "10/s", "steady": "150/m"}`` -> windows, shortest first."""
    windows = []
    for name, text in spec.items():
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*", str(text))
        if not match:
            raise ConfigError(f"rate limit {name}={text!r} is not of the form N/s, N/m, N/h or N/d")
        count, multiple, unit = match.groups()
        windows.append(Window(name, int(count), int(multiple or 1) * _UNITS[unit]))
    return tuple(sorted(windows, key=lambda window: window.seconds))


class FixedWindowLimiter:
    """Counts requests per key in fixed windows; thread-safe.

    ``limits``: key -> windows. Keys without limits are never limited.
    ``clock``: seconds (float); inject a fake clock in tests.
    """

    def __init__(
        self,
        limits: Mapping[str, tuple[Window, ...]],
        mode: str = "production",
        scale: float = 1.0,
        clock: Callable[[], float] = time.time,
        reported_window: str = "steady",
    ) -> None:
        self.limits = dict(limits)
        self.clock = clock
        self.reported_window = reported_window
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], tuple[int, int]] = {}
        self.mode = "production"
        self.scale = 1.0
        self.configure(mode, scale)

    def configure(self, mode: str | None = None, scale: float | None = None) -> None:
        """Change the mode and/or scale at run time (counts are kept)."""
        if mode is not None:
            if mode not in MODES:
                raise ConfigError(f"unknown rate-limit mode {mode!r}; use one of {', '.join(MODES)}")
            self.mode = mode
        if scale is not None:
            if not scale > 0:
                raise ConfigError(f"rate-limit scale must be > 0 (got {scale}); use mode 'off' to lift limits")
            self.scale = float(scale)

    def effective(self, window: Window) -> int:
        """The window's limit after scaling (at least 1)."""
        return max(1, math.floor(window.limit * self.scale))

    def hit(self, key: str) -> Decision:
        """Count one request for ``key`` if every window has room; say whether it may proceed."""
        if self.mode == "off":
            return Decision(True)
        windows = self.limits.get(key, ())
        if not windows:
            return Decision(True)
        now = self.clock()
        with self._lock:
            current = []
            retry_after = 0
            for window in windows:
                index = math.floor(now / window.seconds)
                seen_index, count = self._counts.get((key, window.seconds), (index, 0))
                count = count if seen_index == index else 0
                current.append((window, index, count))
                if count >= self.effective(window):
                    retry_after = max(retry_after, math.ceil((index + 1) * window.seconds - now))
            if retry_after:
                return self._decision(False, max(1, retry_after), current, now, counted=False)
            for window, index, count in current:
                self._counts[(key, window.seconds)] = (index, count + 1)
            return self._decision(True, 0, current, now, counted=True)

    def reset(self) -> None:
        """Forget every count (all windows start empty)."""
        with self._lock:
            self._counts.clear()

    def _decision(self, allowed: bool, retry_after: int, current: list[tuple[Window, int, int]], now: float,
                  counted: bool) -> Decision:
        reported = next((entry for entry in current if entry[0].name == self.reported_window), current[-1])
        window, index, count = reported
        used = count + (1 if counted else 0)
        return Decision(
            allowed,
            retry_after,
            window.name,
            self.effective(window),
            max(0, self.effective(window) - used),
            max(1, math.ceil((index + 1) * window.seconds - now)),
        )
