"""A thread-safe rate limiter per endpoint class: every declared window, plus pauses told by the ESP.

Why not pyrate-limiter: it was evaluated (4.x: several rates per bucket, a
sliding-window log or fixed windows) and fits the counting, but (1) its
blocking path calls ``time.sleep``/``time.monotonic`` directly, so tests of a
simulated minute would take a minute or monkeypatching; (2) it has no notion
of "the server said pause this class until T", which the 429 handling needs
shared across threads; (3) it starts a background leak thread per bucket and
has broken its API at each major version. The part we need is ~60 lines.

Why a sliding-window log and not fixed windows, although ESPs count in fixed
windows (Klaviyo: a 1-second burst and a 1-minute steady window): our windows
cannot be aligned with the ESP's clock. A client-side fixed window lets 2N
through across a boundary that the ESP may see inside one of its windows. A
sliding log never lets more than N through in *any* interval of the window's
length, so it respects the ESP's fixed windows wherever they start, and its
long-run throughput is the same N per window. ``margin`` (default 50 ms)
widens each window to absorb jitter between sending and the ESP's arrival
timestamp.

Memory is one timestamp per allowed request per window (a deque of at most N),
O(1) per acquire. Waiting sleeps for exactly the time until the earliest
window frees up (no busy spin); the clock and the sleep are injectable.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from activation.transport.limits import DestinationLimits


@dataclass
class _Window:
    seconds: float
    limit: int
    stamps: deque[float]


@dataclass
class _ClassState:
    windows: list[_Window]
    paused_until: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


class RateLimiter:
    """``acquire(endpoint_class)`` blocks until a request of that class is allowed by every window."""

    def __init__(
        self,
        limits: DestinationLimits,
        *,
        lifted: bool = False,
        margin: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``lifted`` drops the windows (benchmarks against a local server); pauses still apply."""
        self.limits = limits
        self.lifted = lifted
        self._clock = clock
        self._sleep = sleep
        self._classes = {
            name: _ClassState(
                [] if lifted else [
                    _Window(seconds + margin, limit, deque(maxlen=limit))
                    for seconds, limit in endpoint.rate_limit.windows()
                ]
            )
            for name, endpoint in limits.endpoint_classes.items()
        }

    def acquire(self, endpoint_class: str) -> float:
        """Wait until a request is allowed, count it in every window, return the seconds waited."""
        state = self._state(endpoint_class)
        waited = 0.0
        while True:
            with state.lock:
                now = self._clock()
                ready_at = state.paused_until
                for window in state.windows:
                    if len(window.stamps) == window.limit:
                        ready_at = max(ready_at, window.stamps[0] + window.seconds)
                if ready_at <= now:
                    for window in state.windows:
                        window.stamps.append(now)
                    return waited
            self._sleep(ready_at - now)
            waited += ready_at - now

    def pause(self, endpoint_class: str, seconds: float) -> None:
        """Allow nothing of this class for ``seconds`` from now (a 429's Retry-After); pauses only extend."""
        state = self._state(endpoint_class)
        with state.lock:
            state.paused_until = max(state.paused_until, self._clock() + max(0.0, seconds))

    def paused_for(self, endpoint_class: str) -> float:
        """Seconds left in this class's pause (0 when not paused)."""
        state = self._state(endpoint_class)
        with state.lock:
            return max(0.0, state.paused_until - self._clock())

    def _state(self, endpoint_class: str) -> _ClassState:
        state = self._classes.get(endpoint_class)
        if state is None:
            self.limits.get(endpoint_class)  # raises a ConfigError naming the declared classes
            raise AssertionError("unreachable")
        return state
