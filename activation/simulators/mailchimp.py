"""A local Mailchimp Marketing API (3.0), as far as syncs use it.

Start it from a test::

    with MailchimpSimulator(port=0, seed=1, audiences={"aud1": "Shop"}) as sim:
        destination base URL = sim.base_url          # paths stay /3.0/lists/...
        ...
        sim.state.member("ada@example.com")           # status, merge_fields, tags {name: active|inactive}
        sim.state.tag_members("aud1", "vip"), sim.state.events(), sim.state.permanently_deleted()
        sim.state.compliance_refusals == [] == sim.state.status_changes   # no status forced or changed
        sim.peak_in_flight <= 10                      # simultaneous requests ever seen

or from the command line: ``activation simulate mailchimp --audience aud1``.

Every request is checked against ``contracts/mailchimp/marketing-3.0.json``
(:mod:`activation.contracts.mailchimp`): unknown path 404, wrong method 405,
missing or wrong HTTP Basic key 401, anything else wrong 400 "Invalid
Resource" with ``errors: [{field, message}]``. Every error is
``application/problem+json``: ``{type, title, status, detail, instance}``.
Mailchimp publishes no per-second quota; it allows 10 simultaneous
connections per account, so the simulator answers 429 to a request that
arrives while ``connection_limit`` others are in progress. ``latency`` holds
every API answer that long, so concurrency becomes visible.

The batch upsert answers 200 with ``new_members``, ``updated_members``,
``errors``, ``total_created``, ``total_updated`` and ``error_count`` even when
some members fail. The rules of the account are in
:mod:`activation.simulators.mailchimp_state`. Faults are the shared seeded
ones (:mod:`activation.simulators.faults`), with ``op=`` naming an operation
below; ``import-errors:share=F`` makes that share of a batch upsert's members
fail with a per-member error.

Operations: ping, get_list, batch_subscribe, get_members, get_member,
upsert_member, update_member_tags, create_member_event,
delete_member_permanent, get_merge_fields, create_merge_field, get_segments,
create_segment, batch_segment_members.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from activation.contracts.mailchimp import MailchimpContract, RequestCheck, load_contract
from activation.contracts.openapi import Problem
from activation.simulators.base import ApiError, Identified, Reply, RequestRecord, SimulatorServer
from activation.simulators.faults import FaultRule
from activation.simulators.mailchimp_state import MailchimpState, Member, MemberError, Segment

PROBLEM_JSON = "application/problem+json; charset=utf-8"
ERROR_DOCS = "https://mailchimp.com/developer/marketing/docs/errors/"
TITLES = {
    400: "Invalid Resource", 401: "API Key Invalid", 403: "Forbidden", 404: "Resource Not Found",
    405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 501: "Not Implemented",
}
CONNECTION_LIMIT_OPERATION = "(connection limit)"

Handler = Callable[["MailchimpSimulator", web.Request, RequestCheck], Reply]


class MailchimpSimulator(SimulatorServer):
    """The Mailchimp simulator (see the module docstring).

    ``audiences``: list id -> name of the audiences the account has (created with
    the default FNAME and LNAME merge fields); ``api_key``: accept only this key
    (default: any non-empty Basic password); ``connection_limit``: simultaneous
    requests allowed (10, Mailchimp's; 0: no limit); ``latency``: seconds every
    API answer is held. Other options: :class:`SimulatorServer` (Mailchimp has no
    request-rate windows, so ``rate_limits`` has nothing to limit).
    """

    name = "mailchimp"
    content_type = "application/json; charset=utf-8"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        faults: Iterable[str | FaultRule | Mapping[str, Any]] = (),
        audiences: Mapping[str, str] | Iterable[str] | None = None,
        api_key: str | None = None,
        connection_limit: int | None = None,
        latency: float = 0.0,
        contract: MailchimpContract | None = None,
    ) -> None:
        super().__init__(host, port, seed, "off", 1.0, faults, {})
        self.contract = contract or load_contract()
        self.api_key = api_key
        self.connection_limit = self.contract.max_connections if connection_limit is None else connection_limit
        self.latency = latency
        self.state = MailchimpState(self.lock)
        self._initial_audiences = dict(audiences) if isinstance(audiences, Mapping) else \
            {list_id: list_id for list_id in audiences or ()}
        self._in_flight = 0
        self._open: set[Any] = set()
        self.peak_in_flight = 0
        self.peak_open_connections = 0
        self.connection_refusals = 0
        self._ensure_audiences()

    def _ensure_audiences(self) -> None:
        for list_id, name in self._initial_audiences.items():
            self.state.add_audience(list_id, name)

    # ------------------------------------------------------------------ pipeline hooks

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        """Count simultaneous API requests (and open connections); refuse those past the connection limit."""
        if not request.path.startswith("/3.0"):  # outside the API: answered as usual, never counted
            return await super()._dispatch(request)
        self._in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        if request.transport is not None:
            self._open = {t for t in self._open if not t.is_closing()} | {request.transport}
            self.peak_open_connections = max(self.peak_open_connections, len(self._open))
        try:
            if self.connection_limit and self._in_flight > self.connection_limit:
                body = await request.read()
                self.connection_refusals += 1
                reply = self.error_reply(429, "too_many_connections", "Too Many Requests",
                                         f"You have exceeded the limit of {self.connection_limit} simultaneous "
                                         "connections.")
                response = self._encode(reply)
                self.stats.record(RequestRecord(time.time(), request.method, request.path,
                                                CONNECTION_LIMIT_OPERATION, 429, len(body),
                                                response.content_length or 0, None))
                return response
            return await super()._dispatch(request)
        finally:
            self._in_flight -= 1

    def identify(self, request: web.Request, body: bytes) -> Identified:
        operation, params, problem = self.contract.match(request.method, request.path)
        if problem is not None:
            return Identified(None, self._problem_reply(problem))
        assert operation is not None
        auth = self.contract.check_auth(request.headers, self.api_key)
        if auth is not None:
            return Identified(operation.name, self._problem_reply(auth))
        return Identified(operation.name, context=(operation, params))

    async def handle(self, request: web.Request, body: bytes, identified: Identified) -> Reply:
        operation, params = identified.context
        if self.latency:
            await asyncio.sleep(self.latency)
        check = self.contract.check_request(operation, params, dict(request.query), body or None)
        if check.problems:
            return self._invalid(check.problems)
        handler = HANDLERS.get(operation.name)
        if handler is None:  # pragma: no cover - every contract operation has a handler
            return self.error_reply(501, "not_implemented", TITLES[501], f"{operation.name} is not simulated.")
        try:
            with self.lock:
                return handler(self, request, check)
        except MemberError as error:
            reply = self.error_reply(error.status, "member", error.title, error.error)
            if error.field:
                reply.body["errors"] = [{"field": error.field, "message": error.field_message}]
            return reply
        except ApiError as error:
            reply = self.error_reply(error.status, error.code, error.title or TITLES.get(error.status, "Error"),
                                     error.detail)
            if error.pointer:
                reply.body["errors"] = [{"field": error.pointer, "message": error.detail}]
            return reply

    def error_reply(self, status: int, code: str, title: str, detail: str, **where: Any) -> Reply:
        """problem+json; the base pipeline's titles (429, 5xx) become Mailchimp's."""
        if code in ("throttled", "error"):
            title = TITLES.get(status, title)
        body = {"type": ERROR_DOCS, "title": title, "status": status, "detail": detail,
                "instance": str(uuid.uuid4())}
        return Reply(status, body, {"Content-Type": PROBLEM_JSON})

    def snapshot(self) -> dict[str, Any]:
        return {**self.state.snapshot(), "connections": self.connection_stats()}

    def summary(self) -> dict[str, Any]:
        return {**self.state.summary(), "connections": self.connection_stats()}

    def connection_stats(self) -> dict[str, int]:
        return {"limit": self.connection_limit, "peak_in_flight": self.peak_in_flight,
                "peak_open_connections": self.peak_open_connections, "refused": self.connection_refusals}

    def reset_state(self) -> None:
        self.state.clear()
        self.peak_in_flight = self.peak_open_connections = self.connection_refusals = 0
        self._ensure_audiences()

    # ------------------------------------------------------------------ helpers

    def _problem_reply(self, problem: Problem) -> Reply:
        return self.error_reply(problem.status, problem.code, problem.code, problem.detail)

    def _invalid(self, problems: list[Problem]) -> Reply:
        first = problems[0]
        if first.status != 400 or first.code != "Invalid Resource":
            return self._problem_reply(first)
        reply = self.error_reply(400, "invalid", "Invalid Resource",
                                 "The resource submitted could not be validated. For field-specific details, "
                                 "see the 'errors' array.")
        reply.body["errors"] = [{"field": p.pointer if p.pointer is not None else (p.parameter or ""),
                                 "message": p.detail} for p in problems]
        return reply

    def member_json(self, member: Member, list_id: str) -> dict[str, Any]:
        return {
            "id": member.id, "email_address": member.email_address, "unique_email_id": member.id[:10],
            "email_type": member.email_type, "status": member.status, "merge_fields": dict(member.merge_fields),
            "language": member.language, "vip": member.vip, "last_changed": member.updated,
            "tags_count": len(member.active_tags()),
            "tags": [{"id": 0, "name": name} for name in member.active_tags()], "list_id": list_id,
        }

    def segment_json(self, segment: Segment, list_id: str) -> dict[str, Any]:
        audience = self.state.audience(list_id)
        return {"id": segment.id, "name": segment.name, "type": segment.type,
                "member_count": self.state.segment_member_count(audience, segment),
                "created_at": segment.created_at, "list_id": list_id}


def _page(check: RequestCheck, items: list[Any]) -> tuple[list[Any], int]:
    count = int(check.query.get("count", 10))  # Mailchimp's default page size is 10
    offset = int(check.query.get("offset", 0))
    return items[offset:offset + count], len(items)


# ---------------------------------------------------------------------- handlers, one per operation


def ping(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    return Reply(200, {"health_status": "Everything's Chimpy!"})


def get_list(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    audience = sim.state.audience(check.path_params["list_id"])
    statuses = [m.status for m in audience.members.values()]
    return Reply(200, {"id": audience.id, "name": audience.name, "stats": {
        "member_count": statuses.count("subscribed"), "unsubscribe_count": statuses.count("unsubscribed"),
        "cleaned_count": statuses.count("cleaned"), "merge_field_count": len(audience.merge_fields)}})


def batch_subscribe(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    list_id = check.path_params["list_id"]
    sim.state.audience(list_id)
    members = check.body["members"]
    rule = sim.faults.for_job("batch_subscribe")
    failing = set(sim.faults.failing_records(rule, len(members))) if rule else set()
    created, updated, errors = [], [], []
    for index, body in enumerate(members):
        if index in failing:
            errors.append(MemberError(body["email_address"], "The member could not be added or updated (simulated "
                                      "failure: fault import-errors). Retry it later.").entry())
            continue
        try:
            member, new = sim.state.upsert(list_id, body, update_existing=bool(check.body.get("update_existing")))
        except MemberError as error:
            errors.append(error.entry())
            continue
        (created if new else updated).append(sim.member_json(member, list_id))
    return Reply(200, {"new_members": created, "updated_members": updated, "errors": errors,
                       "total_created": len(created), "total_updated": len(updated), "error_count": len(errors),
                       "_links": []})


def _listing(
    check: RequestCheck, list_id: str, key: str, items: Iterable[Any], field: str, render: Callable[[Any], Any]
) -> Reply:
    """A paged collection of an audience, filtered on `field` when the query names it."""
    chosen = [item for item in items if field not in check.query or getattr(item, field) == check.query[field]]
    page, total = _page(check, chosen)
    return Reply(200, {key: [render(item) for item in page], "list_id": list_id, "total_items": total})


def get_members(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    list_id = check.path_params["list_id"]
    members = sim.state.audience(list_id).members.values()
    return _listing(check, list_id, "members", members, "status", lambda m: sim.member_json(m, list_id))


def get_member(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    list_id = check.path_params["list_id"]
    return Reply(200, sim.member_json(sim.state.member_at(list_id, check.path_params["subscriber_hash"]), list_id))


def upsert_member(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    list_id = check.path_params["list_id"]
    member, _ = sim.state.upsert(list_id, check.body, operation="upsert_member",
                                 expect_hash=check.path_params["subscriber_hash"])
    return Reply(200, sim.member_json(member, list_id))


def update_member_tags(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    sim.state.update_tags(check.path_params["list_id"], check.path_params["subscriber_hash"], check.body["tags"])
    return Reply(204)


def create_member_event(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    sim.state.record_event(check.path_params["list_id"], check.path_params["subscriber_hash"], check.body)
    return Reply(204)


def delete_member_permanent(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    sim.state.delete_permanent(check.path_params["list_id"], check.path_params["subscriber_hash"])
    return Reply(204)


def get_merge_fields(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    list_id = check.path_params["list_id"]
    fields = sim.state.audience(list_id).merge_fields.values()
    return _listing(check, list_id, "merge_fields", fields, "type", lambda f: {**vars(f), "list_id": list_id})


def create_merge_field(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    list_id = check.path_params["list_id"]
    merge = sim.state.create_merge_field(list_id, check.body)
    return Reply(200, {**vars(merge), "list_id": list_id})


def get_segments(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    list_id = check.path_params["list_id"]
    segments = sim.state.audience(list_id).segments.values()
    return _listing(check, list_id, "segments", segments, "type", lambda seg: sim.segment_json(seg, list_id))


def create_segment(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    list_id = check.path_params["list_id"]
    return Reply(200, sim.segment_json(sim.state.create_segment(list_id, check.body), list_id))


def batch_segment_members(sim: MailchimpSimulator, request: web.Request, check: RequestCheck) -> Reply:
    list_id = check.path_params["list_id"]
    segment = sim.state.segment(list_id, check.path_params["segment_id"])
    result = sim.state.batch_segment(list_id, segment.id, check.body.get("members_to_add") or [],
                                     check.body.get("members_to_remove") or [])
    errors = result["errors"]
    return Reply(200, {
        "members_added": [sim.member_json(m, list_id) for m in result["added"]],
        "members_removed": [sim.member_json(m, list_id) for m in result["removed"]],
        "errors": errors, "total_added": len(result["added"]), "total_removed": len(result["removed"]),
        "error_count": sum(len(e["email_addresses"]) for e in errors),
    })


HANDLERS: dict[str, Handler] = {
    handler.__name__: handler
    for handler in (
        ping, get_list, batch_subscribe, get_members, get_member, upsert_member, update_member_tags,
        create_member_event, delete_member_permanent, get_merge_fields, create_merge_field, get_segments,
        create_segment, batch_segment_members,
    )
}

__all__ = ["MailchimpSimulator"]
