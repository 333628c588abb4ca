"""What every ESP simulator shares: the server, the request pipeline, stats and the admin API.

A simulator is an aiohttp application served by its own asyncio loop in a
background thread, so a test can start it, talk to it over real HTTP with any
client, and read its state from Python::

    with KlaviyoSimulator(port=0, seed=1) as sim:
        requests.get(sim.base_url + "/api/lists", headers=...)
        sim.state.profile_by_email("ada@example.com")

Why aiohttp: one asyncio loop serves thousands of keep-alive connections with
little overhead per request (no thread per connection), it accepts large bodies
(``client_max_size``), a held answer (the ``timeout`` fault) costs a sleeping
coroutine rather than a thread, and it is a mature, widely used library.

Every API request goes through one pipeline (:meth:`SimulatorServer._dispatch`):

1. the ESP-specific :meth:`identify` names the operation, or answers 404/405/401;
2. the fixed-window rate limiter may answer 429 (``Retry-After``);
3. the fault injector may turn the request into a 429/5xx, a reset connection
   or a held answer;
4. the ESP-specific :meth:`handle` validates and applies the request;
5. the answer gets the rate-limit headers, and the request is counted
   (operation, status, bytes in and out).

Admin endpoints (outside the ESP's API, no authentication, never limited):

    GET    /__simulator/health       {"ok": true, "simulator": NAME}
    GET    /__simulator/state        the ESP state and the request stats (JSON);
                                     ``?summary=1``: counts only (cheap on large states)
    GET    /__simulator/stats        request stats only
    GET    /__simulator/faults       the fault rules in force
    POST   /__simulator/faults       add rules: {"faults": ["503:p=0.1", {...}], "replace": false}
    DELETE /__simulator/faults       remove every rule
    POST   /__simulator/rate-limits  {"mode": "production"|"off", "scale": 1.0}
    POST   /__simulator/reset        empty state, stats and windows; the start-up faults again
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from activation.errors import ConfigError
from activation.simulators.faults import FaultInjector, FaultRule
from activation.simulators.ratelimit import Decision, FixedWindowLimiter, Window

ADMIN_PREFIX = "/__simulator"
MAX_BODY_BYTES = 64 * 1024 * 1024  # read anything plausible, so the ESP's own size limit answers
RECENT_REQUESTS = 10_000


class ApiError(Exception):
    """A request the ESP refuses, raised by simulator logic; the simulator renders it in the ESP's error shape.

    ``pointer`` (JSON pointer into the body) or ``parameter`` says where; ``meta``
    carries extra data (Klaviyo's ``duplicate_profile_id``).
    """

    def __init__(self, status: int, code: str, detail: str, *, title: str | None = None,
                 pointer: str | None = None, parameter: str | None = None,
                 meta: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title
        self.pointer = pointer
        self.parameter = parameter
        self.meta = meta or {}


@dataclass
class Reply:
    """An answer before encoding: status, JSON body (``None``: empty) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Identified:
    """What :meth:`SimulatorServer.identify` learned: the operation, or a reply that ends the request."""

    operation: str | None
    reply: Reply | None = None
    context: Any = None


@dataclass(frozen=True)
class RequestRecord:
    """One request as the simulator saw it."""

    at: float
    method: str
    path: str
    operation: str | None
    status: int
    bytes_in: int
    bytes_out: int
    fault: str | None


class RequestStats:
    """Counts of requests per operation and status, bytes, and the most recent requests. Thread-safe."""

    def __init__(self, keep: int = RECENT_REQUESTS) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self.epoch = 0
        self.reset()

    def reset(self) -> None:
        """Forget every count. A request that arrived before the reset is not counted after it
        (a held answer, the ``timeout`` fault, can finish seconds later): see ``record``."""
        with self._lock:
            self._by_operation: dict[str, dict[str, Any]] = {}
            self._recent: deque[RequestRecord] = deque(maxlen=self._keep)
            self.total = 0
            self.epoch += 1

    def record(self, record: RequestRecord, epoch: int | None = None) -> None:
        """Count one answered request; ``epoch``: ``self.epoch`` when it arrived (None: now)."""
        key = record.operation or "(none)"
        with self._lock:
            if epoch is not None and epoch != self.epoch:
                return
            self.total += 1
            entry = self._by_operation.setdefault(
                key, {"requests": 0, "statuses": {}, "bytes_in": 0, "bytes_out": 0, "faults": {}}
            )
            entry["requests"] += 1
            status = str(record.status)
            entry["statuses"][status] = entry["statuses"].get(status, 0) + 1
            entry["bytes_in"] += record.bytes_in
            entry["bytes_out"] += record.bytes_out
            if record.fault:
                entry["faults"][record.fault] = entry["faults"].get(record.fault, 0) + 1
            self._recent.append(record)

    def by_operation(self) -> dict[str, dict[str, Any]]:
        """operation -> {requests, statuses: {"202": n}, bytes_in, bytes_out, faults: {kind: n}}."""
        with self._lock:
            return json.loads(json.dumps(self._by_operation))

    def count(self, operation: str | None = None, status: int | None = None) -> int:
        """Requests seen, optionally only of one operation and/or one status (0 = reset connections)."""
        with self._lock:
            entries = [self._by_operation.get(operation, {})] if operation else list(self._by_operation.values())
            if status is None:
                return sum(entry.get("requests", 0) for entry in entries)
            return sum(entry.get("statuses", {}).get(str(status), 0) for entry in entries)

    def recent(self, operation: str | None = None) -> list[RequestRecord]:
        """The last requests (at most 10,000), oldest first."""
        with self._lock:
            return [r for r in self._recent if operation is None or r.operation == operation]

    def snapshot(self) -> dict[str, Any]:
        return {"total": self.total, "by_operation": self.by_operation()}


class SimulatorServer:
    """Base class of the ESP simulators: lifecycle, pipeline, stats, admin API.

    Subclasses set :attr:`name` and :attr:`content_type`, and implement
    :meth:`identify`, :meth:`handle`, :meth:`error_reply`, :meth:`snapshot` and
    :meth:`reset_state`. ``rate_limits``: "production" or "off";
    ``rate_limit_scale`` multiplies every limit; ``faults``: start-up fault rules
    (spec strings, see :mod:`activation.simulators.faults`); ``clock``: the rate
    limiter's clock (a fake one makes window tests exact).
    """

    name = "simulator"
    content_type = "application/json"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        rate_limits: str = "production",
        rate_limit_scale: float = 1.0,
        faults: Iterable[str | FaultRule | Mapping[str, Any]] = (),
        windows: Mapping[str, tuple[Window, ...]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.seed = seed
        self.lock = threading.RLock()
        self.stats = RequestStats()
        self.limiter = FixedWindowLimiter(windows or {}, rate_limits, rate_limit_scale, clock)
        self._initial_faults: list[str | Mapping[str, Any]] = [
            rule.describe() if isinstance(rule, FaultRule) else rule for rule in faults
        ]
        self.faults = FaultInjector(seed, self._initial_faults)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._pending = 0
        self._idle = threading.Condition()

    # ------------------------------------------------------------------ subclass hooks

    def identify(self, request: web.Request, body: bytes) -> Identified:
        """Name the operation of an API request, or answer it (404, 405, 401)."""
        raise NotImplementedError

    async def handle(self, request: web.Request, body: bytes, identified: Identified) -> Reply:
        """Validate and apply one API request; called only when no fault pre-empts it."""
        raise NotImplementedError

    def error_reply(self, status: int, code: str, title: str, detail: str, **where: str | None) -> Reply:
        """An error answer in the ESP's shape (``where``: pointer= or parameter=)."""
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        """The ESP state as JSON-friendly data (the admin ``/state`` endpoint)."""
        return {}

    def summary(self) -> dict[str, Any]:
        """Counts of the ESP state (``/state?summary=1``); defaults to the whole snapshot."""
        return self.snapshot()

    def reset_state(self) -> None:
        """Forget the ESP state (profiles, lists, jobs, ...)."""

    def admin_routes(self) -> list[tuple[str, str, Callable[[web.Request], Any]]]:
        """Extra admin endpoints of this simulator: (method, path below /__simulator, async handler)."""
        return []

    def rate_limit_headers(self, decision: Decision) -> dict[str, str]:
        """Headers that describe the rate-limit window on an admitted request."""
        if decision.limit is None:
            return {}
        return {
            "RateLimit-Limit": str(decision.limit),
            "RateLimit-Remaining": str(decision.remaining),
            "RateLimit-Reset": str(decision.reset),
        }

    def throttle_headers(self, retry_after: int) -> dict[str, str]:
        """Headers of a 429 saying when to come back (``retry_after`` whole seconds from now)."""
        return {"Retry-After": str(retry_after)}

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """``http://host:port`` once started (the ESP's API lives below it, e.g. ``/api/...``)."""
        if self.port is None:
            raise RuntimeError(f"the {self.name} simulator is not running: call start() or use it as a context")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> SimulatorServer:
        """Start serving in a background thread; returns when the port is open."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, args=(ready, failure), name=f"{self.name}-simulator", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            error = failure[0]
            if isinstance(error, OSError):
                raise ConfigError(f"the {self.name} simulator cannot listen on {self.host}:{self.requested_port}: "
                                  f"{error.strerror or error}; choose another --port (0 picks a free one)") from error
            raise error
        return self

    def stop(self) -> None:
        """Stop serving (held answers are cut short) and wait for the thread to end."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self.port = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        """Start, call ``on_ready``, and block until Ctrl-C (KeyboardInterrupt); then stop."""
        self.start()
        if on_ready:
            on_ready()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def reset(self) -> None:
        """Back to as-started: empty state, stats and rate windows, the start-up faults (fresh seeds)."""
        with self.lock:
            self.reset_state()
        self.stats.reset()
        self.limiter.reset()
        self.faults.set(self._initial_faults)

    def set_rate_limits(self, mode: str | None = None, scale: float | None = None) -> None:
        """Switch rate limiting at run time: mode "production" or "off", and/or a scale factor."""
        self.limiter.configure(mode, scale)

    # ------------------------------------------------------------------ background work

    def schedule(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the server loop after ``delay`` seconds (background jobs)."""
        assert self._loop is not None
        with self._idle:
            self._pending += 1

        def run() -> None:
            try:
                callback()
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

        if threading.current_thread() is self._thread:
            self._loop.call_later(delay, run)
        else:
            self._loop.call_soon_threadsafe(self._loop.call_later, delay, run)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no background work is pending (jobs done); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # ------------------------------------------------------------------ server internals

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as error:  # handed to start(), which raises it
            failure.append(error)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _startup(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_get(f"{ADMIN_PREFIX}/health", self._admin_health)
        app.router.add_get(f"{ADMIN_PREFIX}/state", self._admin_state)
        app.router.add_get(f"{ADMIN_PREFIX}/stats", self._admin_stats)
        app.router.add_get(f"{ADMIN_PREFIX}/faults", self._admin_faults)
        app.router.add_post(f"{ADMIN_PREFIX}/faults", self._admin_faults)
        app.router.add_delete(f"{ADMIN_PREFIX}/faults", self._admin_faults)
        app.router.add_post(f"{ADMIN_PREFIX}/rate-limits", self._admin_rate_limits)
        app.router.add_post(f"{ADMIN_PREFIX}/reset", self._admin_reset)
        for method, path, handler in self.admin_routes():
            app.router.add_route(method, f"{ADMIN_PREFIX}{path}", handler)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port, backlog=1024, reuse_address=True)
        await site.start()
        server = site._server  # aiohttp has no public accessor for the port it bound
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        epoch = self.stats.epoch
        body = await request.read()
        identified = self.identify(request, body)
        operation = identified.operation
        fault_name: str | None = None
        decision: Decision | None = None
        if identified.reply is not None:
            reply = identified.reply
        else:
            assert operation is not None
            decision = self.limiter.hit(operation)
            rule = self.faults.for_request(operation) if decision.allowed else None
            if not decision.allowed:
                reply = self.error_reply(
                    429, "throttled", "Request was throttled.",
                    f"Request was throttled. Expected available in {decision.retry_after} second"
                    f"{'s' if decision.retry_after != 1 else ''}.",
                )
                reply.headers.update(self.throttle_headers(decision.retry_after))
            elif rule is not None:
                fault_name = rule.kind
                faulty = await self._fault_reply(request, body, identified, rule)
                if faulty is None:  # connection reset: nothing was sent
                    self.stats.record(RequestRecord(time.time(), request.method, request.path, operation, 0,
                                                    len(body), 0, fault_name), epoch)
                    return await self._reset_connection(request)
                reply = faulty
            else:
                reply = await self.handle(request, body, identified)
        if decision is not None and decision.allowed:
            reply.headers.update(self.rate_limit_headers(decision))
        response = self._encode(reply)
        self.stats.record(RequestRecord(time.time(), request.method, request.path, operation, reply.status,
                                        len(body), response.content_length or 0, fault_name), epoch)
        return response

    async def _fault_reply(self, request: web.Request, body: bytes, identified: Identified,
                           rule: FaultRule) -> Reply | None:
        applied = await self.handle(request, body, identified) if rule.apply else None
        if rule.kind == "reset":
            return None
        if rule.kind == "timeout":
            await asyncio.sleep(rule.seconds if rule.seconds is not None else 30.0)
            return applied if applied is not None else await self.handle(request, body, identified)
        if rule.kind == "429":
            retry_after = rule.retry_after(self.faults.clock())
            reply = self.error_reply(429, "throttled", "Request was throttled.",
                                     f"Request was throttled. Expected available in {retry_after} seconds.")
            reply.headers.update(self.throttle_headers(retry_after))
            return reply
        status = int(rule.kind)
        titles = {500: "A server error occurred.", 502: "Bad gateway.", 503: "Service unavailable."}
        return self.error_reply(status, "error", titles.get(status, "Server error."),
                                f"{titles.get(status, 'Server error.')} Please try again later.")

    async def _reset_connection(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):  # linger 0: close() sends RST, not FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        raise asyncio.CancelledError  # aiohttp drops the request without writing anything

    def _encode(self, reply: Reply) -> web.Response:
        if reply.body is None:
            return web.Response(status=reply.status, headers=reply.headers)
        text = json.dumps(reply.body, separators=(",", ":"))
        return web.Response(status=reply.status, body=text.encode(), headers={
            "Content-Type": self.content_type, **reply.headers})

    # ------------------------------------------------------------------ admin API

    async def _admin_health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "simulator": self.name, "base_url": self.base_url})

    async def _admin_state(self, request: web.Request) -> web.Response:
        with self.lock:
            state = self.summary() if request.query.get("summary") in ("1", "true") else self.snapshot()
        return web.json_response({"simulator": self.name, "state": state, "requests": self.stats.snapshot(),
                                  "faults": self.faults.describe(), "rate_limits": self._limits_summary()})

    async def _admin_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.snapshot())

    async def _admin_faults(self, request: web.Request) -> web.Response:
        try:
            if request.method == "DELETE":
                self.faults.clear()
            elif request.method == "POST":
                payload = await _json(request)
                rules = payload.get("faults", []) if isinstance(payload, dict) else payload
                if isinstance(rules, (str, dict)):
                    rules = [rules]
                parsed = [FaultRule.parse(r) if isinstance(r, str) else FaultRule.from_mapping(r) for r in rules]
                if isinstance(payload, dict) and payload.get("replace"):
                    self.faults.clear()
                for rule in parsed:
                    self.faults.add(rule)
        except (ConfigError, ValueError, TypeError, AttributeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response({"faults": self.faults.describe()})

    async def _admin_rate_limits(self, request: web.Request) -> web.Response:
        try:
            payload = await _json(request)
            self.set_rate_limits(payload.get("mode"), payload.get("scale"))
        except (ConfigError, ValueError, TypeError, AttributeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(self._limits_summary())

    async def _admin_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    def _limits_summary(self) -> dict[str, Any]:
        return {"mode": self.limiter.mode, "scale": self.limiter.scale,
                "windows": {key: [asdict(w) for w in windows] for key, windows in self.limiter.limits.items()}}


async def _json(request: web.Request) -> Any:
    text = await request.text()
    return json.loads(text) if text.strip() else {}
