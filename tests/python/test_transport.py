"""activation.transport: retries, Retry-After, the rate limiter, concurrency, packing, splitting, redaction.

Scripted answers come from ``httpx.MockTransport``; network failures (resets,
timeouts) and in-flight counting from a stdlib HTTP server on port 0. Time is a
fake clock wherever a test would otherwise wait.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from activation.errors import BatchRejected, ConfigError, RequestFailed, RetriesExhausted
from activation.transport import (
    DestinationLimits, EndpointClass, RateLimit, RateLimiter, RecordOutcome, Transport, pack,
    run_concurrently, send_with_split,
)
from activation.transport.client import server_delay
from activation.transport.redaction import Redactor

SECRET = "pk_live_5ecr3t0000abcdef"


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def limits(rate: RateLimit | None = None, max_concurrency: int = 4) -> DestinationLimits:
    endpoint = EndpointClass("bulk", rate or RateLimit(), max_records=100, max_bytes=10_000)
    return DestinationLimits({"bulk": endpoint}, max_concurrency=max_concurrency)


def scripted(answers: list[httpx.Response | Exception], clock: FakeClock, **options) -> tuple[Transport, list]:
    """A Transport whose requests get ``answers`` in turn; the list of requests seen."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    options.setdefault("limits", limits())
    transport = Transport(
        "https://esp.example.com", {"Authorization": f"Klaviyo-API-Key {SECRET}"},
        clock=clock, sleep=clock.sleep, wall_clock=lambda: 1_700_000_000 + clock.now,
        http_transport=httpx.MockTransport(handler), **options,
    )
    return transport, seen


# --- retries ---------------------------------------------------------------


def test_retries_a_500_then_returns_the_success():
    clock = FakeClock()
    transport, seen = scripted([httpx.Response(500), httpx.Response(502), httpx.Response(202, json={"ok": 1})], clock)
    response = transport.send("bulk", "POST", "/jobs", json={"data": [1, 2]})
    assert response.status_code == 202 and len(seen) == 3
    stats = transport.stats["bulk"]
    assert (stats.requests, stats.retries, stats.errors, stats.throttled) == (3, 2, 2, 0)
    assert stats.bytes_sent == 3 * len(seen[0].content)
    assert len(clock.sleeps) == 2 and clock.sleeps[1] <= 1.0  # full jitter: uniform(0, 0.5 * 2**n)


def test_resets_and_timeouts_are_retried():
    clock = FakeClock()
    failures = [httpx.ReadError("[Errno 104] Connection reset by peer"), httpx.ConnectTimeout("timed out"),
                httpx.RemoteProtocolError("Server disconnected without sending a response.")]
    transport, seen = scripted([*failures, httpx.Response(200)], clock)
    assert transport.send("bulk", "PUT", "/x", json={}).status_code == 200 and len(seen) == 4
    assert transport.stats["bulk"].errors == 3


def test_retry_after_pauses_the_endpoint_class_for_the_seconds_given():
    clock = FakeClock()
    transport, seen = scripted([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200)], clock)
    started = clock.now
    assert transport.send("bulk", "GET", "/x").status_code == 200
    assert clock.now - started == pytest.approx(7.0)
    assert transport.stats["bulk"].throttled == 1 and transport.stats["bulk"].limiter_wait_seconds == pytest.approx(7.0)


def test_a_429_without_headers_backs_off_the_whole_class():
    clock = FakeClock()
    transport, _ = scripted([httpx.Response(429), httpx.Response(200)], clock)
    started = clock.now
    transport.send("bulk", "GET", "/x")
    assert transport.stats["bulk"].limiter_wait_seconds == pytest.approx(clock.now - started)


def test_x_ratelimit_reset_epoch_seconds_is_honoured():
    clock = FakeClock()
    reset = str(int(1_700_000_000 + clock.now + 12))
    transport, _ = scripted([httpx.Response(429, headers={"X-RateLimit-Reset": reset}), httpx.Response(200)], clock)
    started = clock.now
    transport.send("bulk", "GET", "/x")
    assert clock.now - started == pytest.approx(12.0)


def test_server_delay_reads_seconds_http_dates_and_reset_headers():
    now = 1_700_000_000.0
    assert server_delay(httpx.Headers({"Retry-After": "3"}), now) == 3
    assert server_delay(httpx.Headers({"Retry-After": "Tue, 14 Nov 2023 22:13:40 GMT"}), now) == pytest.approx(20)
    assert server_delay(httpx.Headers({"X-RateLimit-Reset": "5"}), now) == 5
    assert server_delay(httpx.Headers({"Retry-After": "soon"}), now) is None
    assert server_delay(httpx.Headers({}), now) is None


def test_a_400_is_returned_without_retrying():
    clock = FakeClock()
    refused = httpx.Response(400, json={"errors": [{"detail": "bad email"}]})
    transport, seen = scripted([refused, httpx.Response(200)], clock)
    response = transport.send("bulk", "POST", "/jobs", json={})
    assert response.status_code == 400 and len(seen) == 1 and clock.sleeps == []


def test_throttling_does_not_use_up_the_attempt_budget():
    clock = FakeClock()
    throttled = httpx.Response(429, headers={"Retry-After": "1"})
    answers = [throttled] * 4 + [httpx.Response(500), httpx.Response(500), httpx.Response(200)]
    transport, seen = scripted(answers, clock, max_attempts=3)
    assert transport.send("bulk", "GET", "/x").status_code == 200 and len(seen) == 7


def test_exhausted_attempts_raise_a_helpful_error():
    clock = FakeClock()
    transport, seen = scripted([httpx.Response(503, text="upstream is down")], clock, max_attempts=3)
    with pytest.raises(RetriesExhausted) as caught:
        transport.send("bulk", "POST", "/api/profile-bulk-import-jobs", json={})
    error = caught.value
    assert (error.attempts, error.last_status, error.endpoint_class, len(seen)) == (3, 503, "bulk", 3)
    message = str(error)
    for part in ("POST /api/profile-bulk-import-jobs", "'bulk'", "3 attempts", "max_attempts",
                 "HTTP 503 Service Unavailable: upstream is down", "status page", "next run"):
        assert part in message
    assert transport.stats["bulk"].exhausted == 1


def test_endless_throttling_stops_at_its_own_budget():
    clock = FakeClock()
    transport, seen = scripted([httpx.Response(429, headers={"Retry-After": "2"})], clock, max_throttled=4)
    with pytest.raises(RetriesExhausted, match=r"throttled \(429\) 4 times.*lower this endpoint class's RateLimit"):
        transport.send("bulk", "GET", "/x")
    assert len(seen) == 4


def test_a_pause_past_the_deadline_gives_up_at_once():
    clock = FakeClock()
    transport, seen = scripted([httpx.Response(429, headers={"Retry-After": "3600"})], clock, max_elapsed=300)
    with pytest.raises(RetriesExhausted, match="asked to wait 3600.0s.*max_elapsed=300s"):
        transport.send("bulk", "GET", "/x")
    assert len(seen) == 1 and clock.sleeps == []


def test_non_idempotent_calls_retry_only_what_surely_did_not_arrive():
    clock = FakeClock()
    transport, seen = scripted([httpx.ConnectError("refused"), httpx.Response(202)], clock)
    assert transport.send("bulk", "POST", "/events", json={}, idempotent=False).status_code == 202
    transport, seen = scripted([httpx.ReadTimeout("timed out"), httpx.Response(202)], clock)
    with pytest.raises(RequestFailed, match="may have reached the ESP"):
        transport.send("bulk", "POST", "/events", json={}, idempotent=False)
    assert len(seen) == 1


def test_an_undeclared_endpoint_class_names_the_declared_ones():
    transport, _ = scripted([httpx.Response(200)], FakeClock())
    with pytest.raises(ConfigError, match=r"'events' is not declared.*declared: bulk"):
        transport.send("events", "GET", "/x")


# --- a real local server: resets, timeouts, in-flight requests -------------------------


class Server:
    """ThreadingHTTPServer on port 0; ``behave(n)`` picks what the n-th request (from 1) gets."""

    def __init__(self, behave: Callable[[int], str], delay: float = 0.0) -> None:
        self.behave, self.delay = behave, delay
        self.count = self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server.lock:
                    server.count += 1
                    number = server.count
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    action = server.behave(number)
                    if action == "reset":
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.close_connection = True
                        return
                    time.sleep(server.delay if action == "ok" else 1.0)  # "slow" outlasts the client's timeout
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                finally:
                    with server.lock:
                        server.in_flight -= 1

            do_GET = do_POST

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_connection_reset_and_a_timeout_are_retried():
    plan = {1: "reset", 2: "slow"}
    with Server(lambda n: plan.get(n, "ok")) as server:
        transport = Transport(server.url, {}, limits(), timeout=0.3, sleep=lambda seconds: None)
        with transport:
            response = transport.send("bulk", "POST", "/jobs", json={"a": 1})
    assert response.status_code == 200 and server.count == 3
    assert transport.stats["bulk"].errors == 2 and transport.stats["bulk"].retries == 2


def test_in_flight_requests_never_exceed_max_concurrency():
    with Server(lambda n: "ok", delay=0.03) as server:
        transport = Transport(server.url, {}, limits(max_concurrency=3), lifted=True)
        with transport:
            tasks = [lambda: transport.send("bulk", "POST", "/x", json={}).status_code for _ in range(24)]
            assert run_concurrently(tasks, max_concurrency=8) == [200] * 24  # more threads than connections
        assert 2 <= server.max_in_flight <= 3
        server.max_in_flight = 0
        transport = Transport(server.url, {}, limits(max_concurrency=10), lifted=True)
        with transport:
            run_concurrently([lambda: transport.send("bulk", "POST", "/x") for _ in range(16)], max_concurrency=4)
        assert 2 <= server.max_in_flight <= 4


def test_run_concurrently_keeps_order_and_raises_the_first_error_after_the_rest_finish():
    assert run_concurrently([lambda i=i: i * i for i in range(50)], max_concurrency=5) == [i * i for i in range(50)]
    finished = []

    def task(i: int) -> int:
        if i == 3:
            raise ValueError("boom")
        time.sleep(0.01)
        finished.append(i)
        return i

    with pytest.raises(ValueError, match="boom"):
        run_concurrently((lambda i=i: task(i) for i in range(1000)), max_concurrency=2)
    assert len(finished) < 20  # stopped taking new tasks


# --- the rate limiter --------------------------------------------------------------


def most_in_any_window(stamps: list[float], seconds: float) -> int:
    """The largest number of stamps inside any half-open interval [t, t + seconds)."""
    most, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_limiter_never_exceeds_10_per_second_and_150_per_minute():
    clock = FakeClock()
    limiter = RateLimiter(limits(RateLimit.parse("10/s", "150/m")), clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(400):
        limiter.acquire("bulk")
        stamps.append(clock.now)
    assert most_in_any_window(stamps, 1.0) == 10
    assert most_in_any_window(stamps, 60.0) == 150
    first_minute = [stamp for stamp in stamps if stamp < stamps[0] + 60]
    assert len(first_minute) == 150  # the budget is used, not just respected
    assert all(seconds > 0 for seconds in clock.sleeps)  # it sleeps, it does not spin


def test_limiter_is_thread_safe_under_a_real_clock():
    limiter = RateLimiter(limits(RateLimit(per_second=40)), margin=0.0)
    stamps, lock = [], threading.Lock()

    def worker() -> None:
        for _ in range(10):
            limiter.acquire("bulk")
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stamps) == 80 and most_in_any_window(sorted(stamps), 0.99) <= 40


def test_pause_holds_the_class_and_lifted_drops_only_the_windows():
    clock = FakeClock()
    limiter = RateLimiter(limits(RateLimit(per_second=1)), lifted=True, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        limiter.acquire("bulk")
    assert clock.sleeps == []
    limiter.pause("bulk", 5)
    limiter.pause("bulk", 2)  # a shorter pause does not shorten the first
    assert limiter.acquire("bulk") == pytest.approx(5.0)


def test_rate_limit_strings():
    assert RateLimit.parse("10/s", "150/m") == RateLimit(per_second=10, per_minute=150)
    assert RateLimit.parse("150/d") == RateLimit(per_day=150)
    assert RateLimit.parse("3000/3s") == RateLimit(per_second=1000)
    with pytest.raises(ConfigError, match="N/s, N/m or N/d"):
        RateLimit.parse("10 per second")


# --- packing -------------------------------------------------------------------------


def test_pack_by_count():
    batches = list(pack(range(25), 10, 10**6, lambda r: b"x", on_rejected=pytest.fail))
    assert [len(batch) for batch in batches] == [10, 10, 5]


def test_pack_by_bytes_with_envelope_and_an_oversized_record():
    records = ["a" * 10, "b" * 10, "c" * 500, "d" * 10, "e" * 30, "f" * 9]
    rejected = []
    batches = list(pack(
        records, 100, 50, str.encode, on_rejected=lambda r, why: rejected.append((r, why)),
        overhead=10, separator=1, max_record_bytes=35,
    ))
    # envelope 10 + a 10 + 1 + b 10 + 1 + d 10 = 42; e would make 73 > 50; then 10 + 30 + 1 + 9 = 50 exactly
    assert batches == [["a" * 10, "b" * 10, "d" * 10], ["e" * 30, "f" * 9]]
    assert [(record, why) for record, why in rejected] == [
        ("c" * 500, "record is 500 bytes encoded; the destination accepts at most 35 per record")
    ]
    for batch in batches:
        assert 10 + sum(map(len, batch)) + len(batch) - 1 <= 50


def test_pack_a_million_records_in_linear_time():
    records = [b"x" * (i % 200) for i in range(1_000_000)]
    started = time.perf_counter()
    count = sum(len(batch) for batch in pack(records, 10_000, 5_000_000, bytes, on_rejected=pytest.fail))
    elapsed = time.perf_counter() - started
    assert count == 1_000_000 and elapsed < 5.0


# --- splitting -----------------------------------------------------------------------


def test_split_isolates_one_bad_record_in_a_thousand():
    records = [f"k{i}" for i in range(1000)]
    calls = []

    def send_batch(batch):
        calls.append(len(batch))
        if "k637" in batch:
            raise BatchRejected("invalid email address", code="invalid_email")
        return [RecordOutcome.acknowledged(key) for key in batch]

    outcomes = send_with_split(records, send_batch, key=str)
    assert [outcome.key for outcome in outcomes] == records
    bad = [outcome for outcome in outcomes if outcome.status != "acknowledged"]
    assert bad == [RecordOutcome("k637", "rejected", "invalid_email", "invalid email address", False)]
    assert len(calls) - 1 <= 2 * math.ceil(math.log2(1000))
    assert sum(size for size in calls if size < 1000) >= 999  # every good record was sent


def test_split_marks_a_failed_sub_batch_retryable_and_goes_on():
    def send_batch(batch):
        if len(batch) == 4:
            raise BatchRejected("413 too large", code="too_large", retryable=True)
        if batch[0] == "a":
            raise RetriesExhausted("gave up", endpoint_class="bulk", attempts=5, last_status=503, last_error=None)
        return [RecordOutcome.acknowledged(key) for key in batch]

    outcomes = send_with_split(list("abcd"), send_batch, key=str)
    assert [(o.key, o.status, o.retryable) for o in outcomes] == [
        ("a", "failed", True), ("b", "failed", True), ("c", "acknowledged", False), ("d", "acknowledged", False)
    ]
    assert outcomes[0].error_code == "RetriesExhausted"


# --- secrets -------------------------------------------------------------------------


def test_secrets_never_reach_logs_exceptions_or_reprs(caplog):
    clock = FakeClock()
    echo = httpx.Response(500, text=f'{{"detail": "bad key Klaviyo-API-Key {SECRET}"}}')
    transport, _ = scripted([echo], clock, max_attempts=2)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RetriesExhausted) as caught:
        transport.send("bulk", "POST", "/x", params={"api_key": "query-secret-value"},
                       headers={"X-Api-Key": "other-secret-value"})
    texts = [str(caught.value), repr(caught.value), caught.value.last_error or "", repr(transport), caplog.text]
    assert caplog.text and "[redacted]" in str(caught.value)
    for text in texts:
        assert SECRET not in text and "other-secret-value" not in text and "query-secret-value" not in text


def test_redactor_covers_headers_basic_auth_and_query_parameters():
    basic = "Basic " + __import__("base64").b64encode(b"anystring:us6-mailchimpkey").decode()
    redactor = Redactor({"Authorization": basic, "Content-Type": "application/json"})
    assert redactor.headers({"Authorization": basic, "X-Api-Key": "k", "Accept": "x"}) == {
        "Authorization": "[redacted]", "X-Api-Key": "[redacted]", "Accept": "x"}
    assert "us6-mailchimpkey" not in redactor.text("echo: anystring:us6-mailchimpkey")
    assert redactor.text("GET /x?api_key=abc123&page=2") == "GET /x?api_key=[redacted]&page=2"
    assert json.loads(json.dumps(redactor.headers({"Content-Type": "application/json"}))) == {
        "Content-Type": "application/json"}
