"""A local receiver for the signed webhook destination: verifies, deduplicates, keeps what it was told.

Start it from a test::

    with WebhookSimulator(port=0, secret="s3cret", seed=1) as sim:
        # a webhook sync pointed at sim.base_url (any path; or path="/hooks" to insist on one)
        sim.state.record("c1")                  # last payload, merged attributes, deliveries
        sim.state.list_members("LstVip")        # emails in joining order
        sim.state.events("Cart Abandoned"), sim.state.duplicate_events
        sim.state.deletions(), sim.state.replays
        sim.fail_records({"c7": "unknown customer"})   # per-record errors in the 2xx answer
        sim.reject_records(["c9"])              # any batch holding c9 is refused whole (400)
        sim.faults.add("503:next=2")            # the shared seeded faults (op "deliver")

or from the command line: ``activation simulate webhook --secret-env WEBHOOK_SECRET``.

Each POST goes through the same pipeline as the ESP simulators
(:mod:`activation.simulators.base`): the signature check (401), the optional
rate limit (429 with Retry-After), the seeded faults (429, 5xx, timeout,
reset, and ``import-errors``: a share of a batch's records answered as
errors), then :meth:`WebhookSimulator.handle`:

1. ``Idempotency-Key`` is required (400) and must equal the body's ``batch_id``;
2. a key seen before with the same body replays the stored answer (header
   ``Idempotent-Replayed: true``) and applies nothing; with a different body
   it is refused (422);
3. the body is checked (400 naming the member), the size limits (413);
4. each record is applied by mode, unless it was chosen to fail; the answer is
   200 ``{"batch_id", "results": [{"key", "status": "ok"|"error", "error", "code"}]}``,
   stored under the key.

What the simulator does with records, per mode: ``upsert_profiles`` keeps the
last payload and the merged attributes per key (null clears a field);
``mirror_lists`` adds or removes ``email`` in ``list_id`` (REMOVE removes,
every other operation adds); ``trigger_events`` logs every event received,
counting a key seen before (in a new batch) as a duplicate;
``propagate_deletions`` records the request and erases that email's profiles
and memberships (the event log is kept as the record of what arrived).
Records are kept per (sync, key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from activation.errors import ConfigError
from activation.simulators.base import Identified, Reply, SimulatorServer
from activation.simulators.faults import FaultRule
from activation.simulators.ratelimit import Window, parse_windows

OPERATION = "deliver"
MODES = ("upsert_profiles", "mirror_lists", "trigger_events", "propagate_deletions")
REQUIRED_PAYLOAD = {"mirror_lists": ("list_id", "email"), "trigger_events": ("metric", "email"),
                    "propagate_deletions": ("email",), "upsert_profiles": ()}
DEFAULT_TOLERANCE = 300.0
DEFAULT_PORT = 8770


class _Invalid(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class WebhookState:
    """What the receiver was told. Thread-safe: every method holds the simulator's lock."""

    def __init__(self, lock: threading.RLock) -> None:
        self.lock = lock
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self._records: dict[tuple[str, str], dict[str, Any]] = {}
            self._lists: dict[str, dict[str, str]] = {}
            self._events: list[dict[str, Any]] = []
            self._event_keys: set[tuple[str, str]] = set()
            self._deletions: list[dict[str, Any]] = []
            self._erased: set[str] = set()
            self._batches: list[dict[str, Any]] = []
            self._answers: dict[str, tuple[str, Reply]] = {}
            self.replays = 0
            self.duplicate_events = 0

    # -- queries ---------------------------------------------------------------------------
    def record(self, key: str, sync: str | None = None) -> dict[str, Any] | None:
        """The last delivery of ``key``: sync, mode, operation, payload, attributes (merged), deliveries."""
        with self.lock:
            found = [entry for (name, k), entry in self._records.items() if k == key and sync in (None, name)]
            if len(found) > 1:
                raise ValueError(f"key {key!r} was received from several syncs; pass sync=")
            return json.loads(json.dumps(found[0])) if found else None

    def records(self, sync: str | None = None) -> dict[str, dict[str, Any]]:
        """key -> last delivery, for one sync (or every sync, when keys do not collide)."""
        with self.lock:
            return {k: json.loads(json.dumps(e)) for (name, k), e in self._records.items() if sync in (None, name)}

    def list_members(self, list_id: str) -> list[str]:
        """Emails in the list, in joining order."""
        with self.lock:
            return list(self._lists.get(list_id, {}))

    def lists(self) -> dict[str, list[str]]:
        with self.lock:
            return {list_id: list(members) for list_id, members in self._lists.items()}

    def events(self, metric: str | None = None) -> list[dict[str, Any]]:
        """Every event record received, duplicates included (``duplicate``: its key arrived before)."""
        with self.lock:
            return [dict(e) for e in self._events if metric in (None, e["metric"])]

    def deletions(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(d) for d in self._deletions]

    def erased(self) -> set[str]:
        with self.lock:
            return set(self._erased)

    def batches(self) -> list[dict[str, Any]]:
        """Every batch applied (replays not included): batch_id, sync, mode, operation, records, errors."""
        with self.lock:
            return [dict(b) for b in self._batches]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            records: dict[str, dict[str, Any]] = {}
            for (sync, key), entry in self._records.items():
                records.setdefault(sync, {})[key] = entry
            return json.loads(json.dumps({
                "records": records, "lists": self.lists(), "events": self._events,
                "duplicate_events": self.duplicate_events, "deletions": self._deletions,
                "erased": sorted(self._erased), "batches": self._batches, "replays": self.replays,
            }))

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "records": len(self._records), "lists": {k: len(v) for k, v in self._lists.items()},
                "events": len(self._events), "duplicate_events": self.duplicate_events,
                "deletions": len(self._deletions), "batches": len(self._batches), "replays": self.replays,
            }

    # -- idempotency -----------------------------------------------------------------------
    def stored_answer(self, key: str) -> tuple[str, Reply] | None:
        with self.lock:
            return self._answers.get(key)

    def store_answer(self, key: str, body_hash: str, reply: Reply) -> None:
        with self.lock:
            self._answers.setdefault(key, (body_hash, reply))

    # -- applying --------------------------------------------------------------------------
    def apply(self, batch_id: str, document: Mapping[str, Any], failing: Mapping[str, str]) -> list[dict[str, Any]]:
        """Apply every record not in ``failing`` (key -> error); one result per record."""
        sync, mode = document["sync"], document["mode"]
        results = []
        with self.lock:
            for record in document["records"]:
                key, operation, payload = record["key"], record["operation"], record["payload"]
                if key in failing:
                    results.append({"key": key, "status": "error", "code": "rejected", "error": failing[key]})
                    continue
                self._apply_one(batch_id, sync, mode, key, operation, payload)
                results.append({"key": key, "status": "ok"})
            self._batches.append({
                "batch_id": batch_id, "sync": sync, "mode": mode, "operation": document["operation"],
                "records": len(results), "errors": sum(1 for r in results if r["status"] != "ok"),
            })
        return results

    def _apply_one(self, batch_id: str, sync: str, mode: str, key: str, operation: str,
                   payload: dict[str, Any]) -> None:
        entry = self._records.get((sync, key))
        if entry is None:
            entry = self._records[(sync, key)] = {"sync": sync, "mode": mode, "key": key, "attributes": {},
                                                  "deliveries": 0}
        entry.update(operation=operation, payload=payload, batch_id=batch_id)
        entry["deliveries"] += 1
        if mode == "upsert_profiles":
            entry["attributes"].update(payload)
        elif mode == "mirror_lists":
            members = self._lists.setdefault(str(payload["list_id"]), {})
            email = str(payload["email"]).lower()
            if operation == "REMOVE":
                members.pop(email, None)
            else:
                members.setdefault(email, key)
        elif mode == "trigger_events":
            duplicate = (sync, key) in self._event_keys
            self._event_keys.add((sync, key))
            self.duplicate_events += duplicate
            self._events.append({
                "sync": sync, "key": key, "metric": payload["metric"], "email": payload["email"],
                "time": payload.get("time"), "properties": payload.get("properties"), "batch_id": batch_id,
                "duplicate": duplicate,
            })
        elif mode == "propagate_deletions":
            email = str(payload["email"]).lower()
            self._deletions.append({"sync": sync, "key": key, "email": email, "batch_id": batch_id})
            self._erased.add(email)
            for record_key, other in list(self._records.items()):
                if other["mode"] == "upsert_profiles" and str(other["attributes"].get("email", "")).lower() == email:
                    del self._records[record_key]
            for members in self._lists.values():
                members.pop(email, None)


class WebhookSimulator(SimulatorServer):
    """A receiver for the webhook destination (see the module docstring).

    ``secret``: the shared signing secret (required); ``tolerance``: seconds a
    timestamp may be off the simulator's clock (default 300); ``path``: accept
    only this path (default: any path); ``rate_limit``: e.g. ``["50/s", "1000/m"]``
    (default: none); ``max_records`` / ``max_bytes``: per-request limits answered
    with 413; ``record_errors``: key -> message answered as per-record errors;
    ``reject_keys``: a batch holding one of these keys is refused whole (400),
    like a body the receiver cannot parse; ``wall_clock``: for the timestamp check.
    Other options: :class:`SimulatorServer`.
    """

    name = "webhook"
    content_type = "application/json"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        rate_limits: str = "production",
        rate_limit_scale: float = 1.0,
        faults: Iterable[str | FaultRule | Mapping[str, Any]] = (),
        *,
        secret: str | None,
        tolerance: float = DEFAULT_TOLERANCE,
        path: str | None = None,
        rate_limit: Iterable[str] = (),
        max_records: int | None = None,
        max_bytes: int | None = None,
        record_errors: Mapping[str, str] | None = None,
        reject_keys: Iterable[str] = (),
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ConfigError("the webhook simulator needs the signing secret (--secret-env NAME of a set variable)")
        windows: dict[str, tuple[Window, ...]] = {}
        specs = list(rate_limit)
        if specs:
            windows[OPERATION] = parse_windows({f"limit{i + 1}": spec for i, spec in enumerate(specs)})
        super().__init__(host, port, seed, rate_limits, rate_limit_scale, faults, windows)
        self.secret = secret.encode()
        self.tolerance = tolerance
        self.path = path
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.wall_clock = wall_clock
        self.state = WebhookState(self.lock)
        self._initial_errors = (dict(record_errors or {}), set(reject_keys))
        self.record_errors: dict[str, str] = dict(self._initial_errors[0])
        self.reject_keys: set[str] = set(self._initial_errors[1])

    # ------------------------------------------------------------------ per-record errors

    def fail_records(self, errors: Mapping[str, str]) -> None:
        """Answer these keys with a per-record error (key -> message) until cleared."""
        with self.lock:
            self.record_errors.update(errors)

    def reject_records(self, keys: Iterable[str]) -> None:
        """Refuse (400, no per-record detail) every batch that holds one of these keys."""
        with self.lock:
            self.reject_keys.update(keys)

    def clear_record_errors(self) -> None:
        with self.lock:
            self.record_errors.clear()
            self.reject_keys.clear()

    # ------------------------------------------------------------------ pipeline hooks

    def identify(self, request: web.Request, body: bytes) -> Identified:
        if self.path is not None and request.path != self.path:
            return Identified(None, self.error_reply(404, "not_found", "Not found.",
                                                     f"Nothing is received at {request.path}; POST to {self.path}."))
        if request.method != "POST":
            reply = self.error_reply(405, "method_not_allowed", "Method not allowed.", "Deliveries are POSTed.")
            reply.headers["Allow"] = "POST"
            return Identified(None, reply)
        problem = self._verify(request.headers, body)
        if problem is not None:
            return Identified(OPERATION, self.error_reply(401, "invalid_signature", "Unauthorized.", problem))
        return Identified(OPERATION)

    def _verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """Why the signature does not hold, or None. Written apart from the destination's signer on purpose."""
        timestamp, signature = headers.get("X-Timestamp"), headers.get("X-Signature")
        if not timestamp or not signature:
            return "X-Timestamp and X-Signature are required."
        if not timestamp.isdigit():
            return "X-Timestamp must be Unix seconds."
        skew = abs(self.wall_clock() - int(timestamp))
        if skew > self.tolerance:
            return f"X-Timestamp is {skew:.0f}s away from now (tolerance {self.tolerance:g}s): stale or replayed."
        scheme, _, received = signature.partition("=")
        expected = hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if scheme != "sha256" or not hmac.compare_digest(received, expected):
            return "X-Signature does not match the body and timestamp (expected sha256=<hex HMAC-SHA256>)."
        return None

    async def handle(self, request: web.Request, body: bytes, identified: Identified) -> Reply:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return self.error_reply(400, "missing_idempotency_key", "Bad request.", "Idempotency-Key is required.")
        try:
            document = json.loads(body)
        except ValueError:
            return self.error_reply(400, "invalid_json", "Bad request.", "The body is not JSON.")
        body_hash = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
        with self.lock:
            stored = self.state.stored_answer(key)
            if stored is not None:
                if stored[0] != body_hash:
                    return self.error_reply(422, "idempotency_key_reused", "Unprocessable.",
                                            "This Idempotency-Key came with a different body before.")
                self.state.replays += 1
                reply = stored[1]
                return Reply(reply.status, reply.body, {**reply.headers, "Idempotent-Replayed": "true"})
            try:
                self._check(key, body, document)
            except _Invalid as invalid:
                return self.error_reply(invalid.status, invalid.code, "Refused.", invalid.message)
            failing = {k: v for k, v in self.record_errors.items()}
            rule = self.faults.for_job(OPERATION)
            if rule is not None:
                records = document["records"]
                for index in self.faults.failing_records(rule, len(records)):
                    failing.setdefault(records[index]["key"], "simulated error (import-errors fault)")
            results = self.state.apply(key, document, failing)
            reply = Reply(200, {"batch_id": key, "results": results})
            self.state.store_answer(key, body_hash, reply)
            return reply

    def _check(self, key: str, body: bytes, document: Any) -> None:
        if self.max_bytes is not None and len(body) > self.max_bytes:
            raise _Invalid(413, "too_large", f"The body is {len(body)} bytes; at most {self.max_bytes} are accepted.")
        if not isinstance(document, dict):
            raise _Invalid(400, "invalid_batch", "The body must be a JSON object.")
        for name in ("sync", "mode", "operation", "batch_id"):
            if not isinstance(document.get(name), str) or not document[name]:
                raise _Invalid(400, "invalid_batch", f"/{name} must be a non-empty string.")
        if document["mode"] not in MODES:
            raise _Invalid(400, "invalid_batch", f"/mode must be one of {', '.join(MODES)}.")
        if document["batch_id"] != key:
            raise _Invalid(400, "invalid_batch", "/batch_id must equal the Idempotency-Key header.")
        records = document.get("records")
        if not isinstance(records, list) or not records:
            raise _Invalid(400, "invalid_batch", "/records must be a non-empty list.")
        if self.max_records is not None and len(records) > self.max_records:
            raise _Invalid(413, "too_many_records", f"{len(records)} records; at most {self.max_records} per batch.")
        seen: set[str] = set()
        for index, record in enumerate(records):
            where = f"/records/{index}"
            if not isinstance(record, dict):
                raise _Invalid(400, "invalid_batch", f"{where} must be an object.")
            if not isinstance(record.get("key"), str) or not record["key"]:
                raise _Invalid(400, "invalid_batch", f"{where}/key must be a non-empty string.")
            if record["key"] in seen:
                raise _Invalid(400, "invalid_batch", f"{where}/key {record['key']!r} appears twice in the batch.")
            seen.add(record["key"])
            if not isinstance(record.get("operation"), str):
                raise _Invalid(400, "invalid_batch", f"{where}/operation must be a string.")
            payload = record.get("payload")
            if not isinstance(payload, dict):
                raise _Invalid(400, "invalid_batch", f"{where}/payload must be an object.")
            for name in REQUIRED_PAYLOAD[document["mode"]]:
                if payload.get(name) in (None, ""):
                    raise _Invalid(400, "invalid_batch", f"{where}/payload/{name} is required in {document['mode']}.")
        if self.reject_keys & seen:
            raise _Invalid(400, "invalid_batch", "The receiver could not process this batch.")

    def error_reply(self, status: int, code: str, title: str, detail: str, **where: Any) -> Reply:
        return Reply(status, {"error": {"code": code, "message": detail}})

    def snapshot(self) -> dict[str, Any]:
        return {**self.state.snapshot(), "record_errors": dict(self.record_errors),
                "reject_keys": sorted(self.reject_keys)}

    def summary(self) -> dict[str, Any]:
        return self.state.summary()

    def reset_state(self) -> None:
        self.state.clear()
        self.record_errors = dict(self._initial_errors[0])
        self.reject_keys = set(self._initial_errors[1])

    # ------------------------------------------------------------------ admin

    def admin_routes(self) -> list[tuple[str, str, Callable[[web.Request], Any]]]:
        return [(method, "/record-errors", self._admin_record_errors) for method in ("GET", "POST", "DELETE")]

    async def _admin_record_errors(self, request: web.Request) -> web.Response:
        """GET the per-record errors; POST {"errors": {key: message}, "reject": [key], "replace": false}; DELETE."""
        if request.method == "DELETE":
            self.clear_record_errors()
        elif request.method == "POST":
            try:
                text = await request.text()
                payload = json.loads(text) if text.strip() else {}
                errors = payload.get("errors", {})
                reject = payload.get("reject", [])
                if not isinstance(errors, dict) or not isinstance(reject, list):
                    raise TypeError("errors must map keys to messages and reject must list keys")
            except (ValueError, TypeError, AttributeError) as error:
                return web.json_response({"error": str(error)}, status=400)
            if payload.get("replace"):
                self.clear_record_errors()
            self.fail_records({str(k): str(v) for k, v in errors.items()})
            self.reject_records(str(k) for k in reject)
        with self.lock:
            return web.json_response({"errors": dict(self.record_errors), "reject": sorted(self.reject_keys)})
