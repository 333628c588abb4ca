"""A local Braze: POST /users/track and POST /users/delete, as far as syncs use them.

Start it from a test::

    with BrazeSimulator(port=0, seed=1) as sim:
        client.base_url = sim.base_url                       # http://127.0.0.1:<port>
        ...
        sim.state.user("c-42")["attributes"]["segment_vip"] is True
        sim.state.events("Cart Abandoned"), sim.state.duplicate_events == 0
        sim.state.subscription_changes() == []

or from the command line: ``activation simulate braze --port 8767``.

Every request is checked against ``contracts/braze/braze.schema.json``
(:mod:`activation.contracts.braze`). Answers follow Braze's shapes:

* success: ``201 {"message": "success", "attributes_processed": n, "events_processed": m}``
  (a count for each array the request had);
* partial success: the same 201 plus ``errors: [{"type", "input_array", "index"}]``
  for the objects that were not processed (the others were);
* fatal: 4xx ``{"message": ..., "errors": [{"type": ...}]}`` and nothing is
  processed (400 envelope or counts, 401 key, 404 path, 405 method, 415 media type);
* /users/delete: ``201 {"deleted": n, "message": "success"}``;
* rate limits per operation in fixed windows (``x-rate-limits``: /users/track
  3,000 per 3 s, /users/delete 20,000 per minute); admitted answers carry
  ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``
  (epoch seconds), and a 429 carries ``X-RateLimit-Reset`` (no Retry-After).

Operations (for ``op=`` in fault rules and in the stats): ``users_track``,
``users_delete``, ``subscription_status_set`` (recorded, so a test can prove a
sync never calls it). Faults are those of every simulator, and
``import-errors:share=F`` makes a share of a /users/track request's objects
fail with a per-object error (a partial success).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from activation.contracts.braze import LIMIT_MODES, BrazeContract, load_contract
from activation.errors import ConfigError
from activation.simulators.base import Identified, Reply, SimulatorServer
from activation.simulators.braze_state import BrazeState
from activation.simulators.faults import FaultRule
from activation.simulators.ratelimit import Decision, parse_windows

FAULT_OBJECT_ERROR = "Simulated failure of this object (import-errors fault)."


class BrazeSimulator(SimulatorServer):
    """The Braze simulator (see the module docstring).

    ``api_key``: accept only this REST API key (default: any ``Bearer`` key);
    ``objects_per_request``: most objects per array (default 75; 50 for MAU
    plans); ``limit_mode``: ``per_array`` (75 attributes + 75 events + 75
    purchases) or ``total`` (75 in all, newer accounts); ``array_max_length``:
    the longest array attribute (Braze's default 25). Other options:
    :class:`SimulatorServer`.
    """

    name = "braze"
    content_type = "application/json"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        rate_limits: str = "production",
        rate_limit_scale: float = 1.0,
        faults: Iterable[str | FaultRule | Mapping[str, Any]] = (),
        api_key: str | None = None,
        objects_per_request: int | None = None,
        limit_mode: str = "per_array",
        array_max_length: int | None = None,
        contract: BrazeContract | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.contract = contract or load_contract()
        if limit_mode not in LIMIT_MODES:
            raise ConfigError(f"limit_mode must be one of {', '.join(LIMIT_MODES)}, not {limit_mode!r}")
        self.objects_per_request = objects_per_request or self.contract.limits["objects_per_array"]
        if self.objects_per_request < 1:
            raise ConfigError("objects_per_request must be at least 1")
        self.limit_mode = limit_mode
        windows = {op: parse_windows({"window": spec}) for op, spec in self.contract.rate_limits().items()}
        kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
        super().__init__(host, port, seed, rate_limits, rate_limit_scale, faults, windows, **kwargs)
        self.api_key = api_key
        self.state = BrazeState(self.lock, array_max_length or self.contract.limits["array_attribute_length"])

    # ------------------------------------------------------------------ pipeline hooks

    def identify(self, request: web.Request, body: bytes) -> Identified:
        operation, status, message = self.contract.match(request.method, request.path)
        if operation is None:
            return Identified(None, self._fatal(status, message))
        problem = self.contract.check_auth(request.headers, self.api_key)
        if problem is not None:
            return Identified(operation.name, self._fatal(401, problem))
        return Identified(operation.name, context=operation)

    async def handle(self, request: web.Request, body: bytes, identified: Identified) -> Reply:
        operation = identified.context
        check = self.contract.check_request(
            operation, request.headers, body, objects_per_request=self.objects_per_request,
            limit_mode=self.limit_mode,
        )
        if check.fatal:
            return Reply(check.status, {"message": check.problems[0], "errors": [{"type": p} for p in check.problems]})
        if operation.name == "users_track":
            rejected = {(e.input_array, e.index): e.type for e in check.object_errors}
            rule = self.faults.for_job(operation.name)
            if rule is not None:
                count = len(check.body.get("attributes") or []) + len(check.body.get("events") or [])
                for position in self.faults.failing_records(rule, count):
                    attributes = len(check.body.get("attributes") or [])
                    key = ("attributes", position) if position < attributes else ("events", position - attributes)
                    rejected.setdefault(key, FAULT_OBJECT_ERROR)
            result = self.state.track(check.body, rejected)
            answer: dict[str, Any] = {"message": "success"}
            answer.update({f"{array}_processed": count for array, count in result.processed.items()})
            if result.errors:
                answer["errors"] = sorted(result.errors, key=lambda e: (e["input_array"], e["index"]))
            return Reply(201, answer)
        if operation.name == "users_delete":
            return Reply(201, {"deleted": self.state.delete(check.body), "message": "success"})
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = body.decode(errors="replace")
        self.state.record_subscription_call(payload)
        return Reply(201, {"message": "success"})

    def error_reply(self, status: int, code: str, title: str, detail: str, **where: Any) -> Reply:
        return self._fatal(status, detail)

    def rate_limit_headers(self, decision: Decision) -> dict[str, str]:
        if decision.limit is None:
            return {}
        return {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": str(math.ceil(time.time() + (decision.reset or 0))),
        }

    def throttle_headers(self, retry_after: int) -> dict[str, str]:
        return {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(math.ceil(time.time() + retry_after))}

    def snapshot(self) -> dict[str, Any]:
        return {**self.state.snapshot(), "settings": self._settings()}

    def summary(self) -> dict[str, Any]:
        return {**self.state.summary(), "settings": self._settings()}

    def reset_state(self) -> None:
        self.state.clear()

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _fatal(status: int, message: str) -> Reply:
        return Reply(status, {"message": message, "errors": [{"type": message}]})

    def _settings(self) -> dict[str, Any]:
        return {
            "objects_per_request": self.objects_per_request,
            "limit_mode": self.limit_mode,
            "array_max_length": self.state.array_max_length,
            "api_key_required": self.api_key is not None,
        }
