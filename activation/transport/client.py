"""The HTTP client every destination sends through: rate limits, retries, backoff, stats, redaction.

Libraries:
    httpx     one pooled ``httpx.Client`` per destination: timeouts per phase, keep-alive,
              and ``max_connections = max_concurrency`` so no more requests than the ESP
              allows are ever in flight (Mailchimp: 10), whatever the caller's thread count.
    tenacity  drives the attempt loop (stop / wait / retry / before_sleep hooks, injectable
              sleep) and supplies the full-jitter backoff (``wait_random_exponential``:
              uniform(0, min(max_backoff, backoff * 2 ** attempt))). The policy is ours,
              because tenacity's stock stops cannot count 429s apart from errors and its
              clock is not injectable.

Retry policy, per ``send``:
    - 5xx (500/502/503/504), 408, timeouts, connection errors and resets are *errors*: they are
      retried with full-jitter backoff until ``max_attempts`` attempts have failed.
    - 429 is *throttling*: the server is healthy and told us when to come back. The
      ``Retry-After`` (seconds or HTTP date) or ``X-RateLimit-Reset`` (epoch seconds, or
      seconds if small) pauses the whole endpoint class in the limiter, so every thread
      waits, not just this one. 429s do not use up ``max_attempts``; they have their own
      budget (``max_throttled``), and the ``max_elapsed`` deadline bounds both: a pause
      that would end past the deadline gives up at once instead of sleeping in vain.
      A 429 without either header pauses the class for the jittered backoff instead.
    - any other response (2xx, 3xx, other 4xx and 5xx) is returned to the caller, which
      maps it to records.
    - ``idempotent=False`` (e.g. events an ESP does not deduplicate) retries only what
      surely did not reach the ESP: 429, connection refused, connect timeouts.
Exhaustion raises ``RetriesExhausted``; a non-retried network failure ``RequestFailed``.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx
import tenacity

from activation.errors import RequestFailed, RetriesExhausted
from activation.transport.limiter import RateLimiter
from activation.transport.limits import DestinationLimits
from activation.transport.redaction import QueryRedactingFilter, Redactor

log = logging.getLogger("activation.transport")
if not any(isinstance(existing, QueryRedactingFilter) for existing in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(QueryRedactingFilter())

RETRY_STATUSES = frozenset({408, 500, 502, 503, 504})
RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
UNSENT_NOTE = "Records not acknowledged stay pending for the next run."


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of every destination's client, built once per process.

    The same as httpx's default (certificates and host names verified against certifi's CA
    bundle; ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured), but building it loads the whole CA
    bundle, about 30 ms, and a run opens one client per sync. An ``SSLContext`` may be shared
    by any number of connections and threads.
    """
    return httpx.create_ssl_context()


@dataclass
class EndpointStats:
    """Counters for one endpoint class, for run records and benchmarks."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    errors: int = 0
    exhausted: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    limiter_wait_seconds: float = 0.0


class Transport:
    """Send requests to one destination within its declared limits."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        limits: DestinationLimits,
        *,
        timeout: float | httpx.Timeout = 30.0,
        max_attempts: int = 5,
        max_throttled: int = 20,
        max_elapsed: float = 300.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        lifted: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``http_transport`` replaces the network (``httpx.MockTransport`` in tests)."""
        if max_attempts < 1 or max_throttled < 1 or max_elapsed <= 0:
            raise ValueError("max_attempts and max_throttled must be >= 1 and max_elapsed > 0")
        self.limits = limits
        self.limiter = RateLimiter(limits, lifted=lifted, clock=clock, sleep=sleep)
        self.redactor = Redactor(headers)
        self.max_attempts, self.max_throttled, self.max_elapsed = max_attempts, max_throttled, max_elapsed
        self._backoff = tenacity.wait_random_exponential(multiplier=backoff, max=max_backoff)
        self._clock, self._wall_clock, self._sleep = clock, wall_clock, sleep
        pool = httpx.Limits(max_connections=limits.max_concurrency, max_keepalive_connections=limits.max_concurrency)
        self._client = httpx.Client(
            base_url=base_url,
            headers=dict(headers),
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout, pool=None),
            limits=pool,
            verify=tls_context(),
            transport=http_transport,
        )
        self._stats = {name: EndpointStats() for name in limits.endpoint_classes}
        self._stats_lock = threading.Lock()

    def send(
        self,
        endpoint_class: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send one request within ``endpoint_class``'s limits; return the first response not retried.

        Raises ``RetriesExhausted`` when the retry budget runs out, ``RequestFailed``
        for a network failure that is not retried, ``ConfigError`` for an
        undeclared endpoint class. ``content`` must be bytes or str (a request is
        built once and re-sent as is).
        """
        self.limits.get(endpoint_class)
        if headers:
            self.redactor.learn(headers)
        request = self._client.build_request(method, path, json=json, content=content, params=params, headers=headers)
        call = _Call(self, endpoint_class, request, idempotent)
        retrying = tenacity.Retrying(
            sleep=self._sleep, retry=call.retry, wait=call.wait, stop=call.stop,
            before_sleep=call.before_sleep, retry_error_callback=call.give_up,
        )
        try:
            return retrying(call.attempt)
        except httpx.HTTPError as error:
            why = "the request may have reached the ESP and the call is not idempotent" if isinstance(
                error, RETRY_ERRORS) else "this error is not retryable"
            raise RequestFailed(self.redactor.text(
                f"{call.label}: {type(error).__name__}: {error} (not retried: {why}). "
                f"Check the base URL and the network. {UNSENT_NOTE}"
            )) from None

    @property
    def stats(self) -> dict[str, EndpointStats]:
        """A snapshot of the counters per endpoint class."""
        with self._stats_lock:
            return {name: replace(stats) for name, stats in self._stats.items()}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Transport({str(self._client.base_url)!r}, headers={self.redactor.headers(self._client.headers)})"

    def _count(self, endpoint_class: str, **increments: float) -> None:
        with self._stats_lock:
            stats = self._stats[endpoint_class]
            for name, value in increments.items():
                setattr(stats, name, getattr(stats, name) + value)


class _Call:
    """The state of one ``send``: its attempts, its budgets, and the last thing that went wrong."""

    def __init__(self, transport: Transport, endpoint_class: str, request: httpx.Request, idempotent: bool) -> None:
        self.transport, self.endpoint_class = transport, endpoint_class
        self.request, self.idempotent = request, idempotent
        self.label = f"{request.method} {request.url.path} (endpoint class {endpoint_class!r})"
        self.started = transport._clock()
        self.attempts = self.errors = self.throttles = 0
        self.throttled = False
        self.last = ""
        self.last_status: int | None = None
        self.last_error: str | None = None
        self.stop_reason = ""

    def attempt(self) -> httpx.Response:
        transport, name = self.transport, self.endpoint_class
        waited = transport.limiter.acquire(name)
        self.attempts += 1
        sent = len(self.request.content)
        try:
            response = transport._client.send(self.request)
        except httpx.HTTPError as error:
            transport._count(name, requests=1, errors=1, bytes_sent=sent, limiter_wait_seconds=waited)
            self.last_status, self.last_error = None, f"{type(error).__name__}: {error}"
            self.last = transport.redactor.text(self.last_error)
            raise
        status = response.status_code
        transport._count(
            name, requests=1, bytes_sent=sent, bytes_received=len(response.content), limiter_wait_seconds=waited,
            throttled=int(status == 429), errors=int(status in RETRY_STATUSES),
        )
        self.last_status, self.last_error = status, None
        if status == 429 or status in RETRY_STATUSES:
            body = " ".join(response.text.split())[:300]
            self.last = transport.redactor.text(f"HTTP {status} {response.reason_phrase}{': ' if body else ''}{body}")
            delay = server_delay(response.headers, transport._wall_clock())
            if delay is not None:
                transport.limiter.pause(name, delay)
        return response

    def retry(self, state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        assert outcome is not None
        if outcome.failed:
            error = outcome.exception()
            self.throttled = False
            return isinstance(error, RETRY_ERRORS) and (self.idempotent or isinstance(error, NOT_SENT_ERRORS))
        status = outcome.result().status_code
        self.throttled = status == 429
        return self.throttled or (status in RETRY_STATUSES and self.idempotent)

    def wait(self, state: tenacity.RetryCallState) -> float:
        limiter = self.transport.limiter
        if self.throttled and limiter.paused_for(self.endpoint_class) == 0:
            limiter.pause(self.endpoint_class, self.transport._backoff(state))  # no Retry-After: back off together
        if limiter.paused_for(self.endpoint_class) > 0:
            return 0.0  # the limiter holds every thread of this class until the pause ends
        return self.transport._backoff(state)

    def stop(self, state: tenacity.RetryCallState) -> bool:
        transport = self.transport
        if self.throttled:
            self.throttles += 1
            if self.throttles >= transport.max_throttled:
                self.stop_reason = f"throttled (429) {self.throttles} times, the limit (max_throttled)"
        else:
            self.errors += 1
            if self.errors >= transport.max_attempts:
                self.stop_reason = f"{self.errors} attempts failed, the limit (max_attempts)"
        pause = transport.limiter.paused_for(self.endpoint_class)
        resume = transport._clock() - self.started + max(state.upcoming_sleep, pause)
        if not self.stop_reason and resume > transport.max_elapsed:
            told = f"the ESP asked to wait {pause:.1f}s; " if pause else ""
            self.stop_reason = (
                f"{told}the next attempt would start {resume:.1f}s after the first, "
                f"past max_elapsed={transport.max_elapsed:g}s"
            )
        return bool(self.stop_reason)

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        self.transport._count(self.endpoint_class, retries=1)
        wait = max(state.upcoming_sleep, self.transport.limiter.paused_for(self.endpoint_class))
        log.info("%s: %s; retrying in %.2fs (attempt %d)", self.label, self.last, wait, self.attempts + 1)

    def give_up(self, state: tenacity.RetryCallState) -> httpx.Response:
        self.transport._count(self.endpoint_class, exhausted=1)
        elapsed = self.transport._clock() - self.started
        if self.throttled:
            advice = "The ESP keeps throttling: lower this endpoint class's RateLimit or run fewer syncs at once."
        elif self.last_status is not None:
            advice = "The ESP is failing: check its status page, then rerun."
        else:
            advice = "Check the network and the destination's base URL, or raise the timeout."
        message = (
            f"{self.label} gave up after {self.attempts} attempts ({self.errors} failed, {self.throttles} throttled) "
            f"in {elapsed:.1f}s: {self.stop_reason}. Last: {self.last}. {advice} {UNSENT_NOTE}"
        )
        log.warning("%s", self.transport.redactor.text(message))
        raise RetriesExhausted(
            self.transport.redactor.text(message), endpoint_class=self.endpoint_class, attempts=self.attempts,
            last_status=self.last_status,
            last_error=None if self.last_error is None else self.transport.redactor.text(self.last_error),
        )


def server_delay(headers: httpx.Headers, now_epoch: float) -> float | None:
    """Seconds the server asked us to wait: ``Retry-After`` (seconds or HTTP date), else ``X-RateLimit-Reset``.

    ``X-RateLimit-Reset`` is read as epoch seconds when it looks like one (> 1e9),
    otherwise as seconds from now (APIs differ). Unreadable values are ignored.
    """
    retry_after = headers.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(retry_after).timestamp() - now_epoch)
            except (TypeError, ValueError):
                pass
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            value = float(reset)
        except ValueError:
            return None
        return max(0.0, value - now_epoch if value > 1e9 else value)
    return None
