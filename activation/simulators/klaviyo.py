"""A local Klaviyo: the API of revision 2026-07-15, as far as syncs use it.

Start it from a test::

    with KlaviyoSimulator(port=0, seed=1, rate_limits="production") as sim:
        client.base_url = sim.base_url            # http://127.0.0.1:<port>
        ...
        assert sim.state.profile_by_email("ada@example.com")["first_name"] == "Ada"
        assert sim.state.subscription_calls("unsubscribe") == []

or from the command line: ``activation simulate klaviyo --port 8765``.

Every request is checked against the contract (``activation.contracts.klaviyo``):
unknown path 404, wrong method 405, missing or malformed API key 401, anything
else wrong 400 (413 too large, 415 media type) with Klaviyo's error shape
``{"errors": [{"id", "status", "code", "title", "detail", "source": {...}}]}``.
Rate limits come from each operation's ``x-klaviyo-ratelimit``, counted per
operation (Klaviyo limits each endpoint on its own). What the account does with
valid requests is in :mod:`activation.simulators.klaviyo_state`.

Implemented operations (operationIds): profiles: get_profiles, get_profile,
create_profile, update_profile, create_or_update_profile, bulk_import_profiles,
get_bulk_import_profiles_jobs, get_bulk_import_profiles_job,
get_errors_for_bulk_import_profiles_job, get_profiles_for_bulk_import_profiles_job,
get_profile_ids_for_bulk_import_profiles_job, get_list_for_bulk_import_profiles_job,
get_list_ids_for_bulk_import_profiles_job, get_lists_for_profile,
get_list_ids_for_profile, bulk_subscribe_profiles, bulk_unsubscribe_profiles;
lists: get_lists, create_list, get_list, update_list, delete_list,
get_profiles_for_list, get_profile_ids_for_list, add_profiles_to_list,
remove_profiles_from_list; events: create_event; data privacy:
request_profile_deletion. Other operations of the contract are validated and
rate limited, then answered 501.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from activation.contracts.filters import Comparison, Expression, evaluate
from activation.contracts.klaviyo import JSON_API, KlaviyoContract, RequestCheck, load_contract
from activation.contracts.openapi import Problem
from activation.simulators.base import ApiError, Identified, Reply, SimulatorServer
from activation.simulators.faults import FaultRule
from activation.simulators.klaviyo_state import IDENTIFIERS, KlaviyoState, Profile, iso
from activation.simulators.ratelimit import parse_windows

TITLES = {
    "invalid": "Invalid input.",
    "parse_error": "Malformed request.",
    "not_found": "Not found.",
    "method_not_allowed": "Method not allowed.",
    "not_authenticated": "Authentication credentials were not provided.",
    "duplicate_profile": "Conflict.",
    "payload_too_large": "Request entity too large.",
    "unsupported_media_type": "Unsupported media type.",
    "throttled": "Request was throttled.",
    "not_implemented": "Not implemented.",
}
LARGE_BODY = 256 * 1024  # validated off the loop, so small requests keep flowing meanwhile

Handler = Callable[["KlaviyoSimulator", web.Request, RequestCheck], Reply]


class KlaviyoSimulator(SimulatorServer):
    """The Klaviyo simulator (see the module docstring).

    ``api_key``: accept only this private key (default: any ``Klaviyo-API-Key``);
    ``any_revision``: accept any well-formed ``revision`` header (default: only
    2026-07-15), still checking bodies against 2026-07-15; the revisions seen are
    counted in :attr:`revisions`;
    ``job_delay``: seconds a bulk import job takes from queued to complete (half of
    it queued, half processing); ``deletion_delay``: seconds until a deletion
    request has removed its profiles. Other options: :class:`SimulatorServer`.
    """

    name = "klaviyo"
    content_type = JSON_API

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        rate_limits: str = "production",
        rate_limit_scale: float = 1.0,
        faults: Iterable[str | FaultRule | Mapping[str, Any]] = (),
        api_key: str | None = None,
        any_revision: bool = False,
        job_delay: float = 0.2,
        deletion_delay: float = 0.2,
        contract: KlaviyoContract | None = None,
        clock: Callable[[], float] | None = None,
        lists: Mapping[str, str] | None = None,
    ) -> None:
        self.contract = contract or load_contract()
        windows = {op: parse_windows(spec) for op, spec in self.contract.rate_limits().items() if spec}
        kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
        super().__init__(host, port, seed, rate_limits, rate_limit_scale, faults, windows, **kwargs)
        self.api_key = api_key
        self.any_revision = any_revision
        self.revisions: dict[str, int] = {}
        self.job_delay = job_delay
        self.deletion_delay = deletion_delay
        self.state = KlaviyoState(self.lock)
        self.initial_lists = dict(lists or {})
        self._ensure_initial_lists()

    def _ensure_initial_lists(self) -> None:
        """Lists the simulated account starts with (id -> name), e.g. the ids a syncs file maps to."""
        for list_id, name in self.initial_lists.items():
            self.state.ensure_list(list_id, name)

    # ------------------------------------------------------------------ pipeline hooks

    def identify(self, request: web.Request, body: bytes) -> Identified:
        operation, params, problem = self.contract.match(request.method, request.path)
        if operation is None:
            assert problem is not None
            return Identified(None, self._problem_reply(problem))
        auth = self.contract.check_auth(request.headers, self.api_key)
        if auth is not None:
            return Identified(operation.operation_id, self._problem_reply(auth))
        return Identified(operation.operation_id, context=(operation, params))

    async def handle(self, request: web.Request, body: bytes, identified: Identified) -> Reply:
        operation, params = identified.context
        revision = request.headers.get("revision", "(none)")
        self.revisions[revision] = self.revisions.get(revision, 0) + 1
        arguments = (operation, params, request.path_qs, request.headers, body, False, self.any_revision)
        if len(body) > LARGE_BODY:
            check = await asyncio.get_running_loop().run_in_executor(None, self.contract.check_request, *arguments)
        else:
            check = self.contract.check_request(*arguments)
        if check.problems:
            status = check.status
            return self._problems_reply(status, [p for p in check.problems if p.status == status])
        handler = HANDLERS.get(operation.operation_id)
        if handler is None:
            return self.error_reply(501, "not_implemented", TITLES["not_implemented"],
                                    f"The simulator validates {operation.operation_id} but does not implement it.")
        try:
            return handler(self, request, check)
        except ApiError as error:
            return self.error_reply(error.status, error.code, error.title or TITLES.get(error.code, "Error."),
                                    error.detail, pointer=error.pointer, parameter=error.parameter, meta=error.meta)

    def error_reply(self, status: int, code: str, title: str, detail: str, **where: Any) -> Reply:
        return Reply(status, {"errors": [self._error(status, code, title, detail, **where)]})

    def snapshot(self) -> dict[str, Any]:
        return {**self.state.snapshot(), "revisions": dict(self.revisions)}

    def summary(self) -> dict[str, Any]:
        return {**self.state.summary(), "revisions": dict(self.revisions)}

    def reset_state(self) -> None:
        self.state.clear()
        self.revisions.clear()
        self._ensure_initial_lists()

    # ------------------------------------------------------------------ errors

    def _error(self, status: int, code: str, title: str, detail: str, pointer: str | None = None,
               parameter: str | None = None, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        source: dict[str, str] = {"parameter": parameter} if parameter else {"pointer": pointer or "/data/"}
        error: dict[str, Any] = {"id": str(uuid.uuid4()), "status": status, "code": code, "title": title,
                                 "detail": detail, "source": source}
        if meta:
            error["meta"] = meta
        return error

    def _problem_reply(self, problem: Problem) -> Reply:
        return self._problems_reply(problem.status, [problem])

    def _problems_reply(self, status: int, problems: list[Problem]) -> Reply:
        return Reply(status, {"errors": [
            self._error(p.status, p.code, TITLES.get(p.code, "Invalid input."), p.detail, p.pointer, p.parameter)
            for p in problems]})

    # ------------------------------------------------------------------ helpers for handlers

    def page(self, request: web.Request, check: RequestCheck, items: list[Any],
             render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """One page of ``items`` with JSON:API ``links`` (``next``/``prev`` only when they exist)."""
        assert check.operation is not None
        declared = check.operation.parameters.get(("query", "page[size]"))
        size = int(check.query.get("page[size]") or (declared.schema.get("default", 20) if declared else 20))
        offset = _decode_cursor(check.query.get("page[cursor]"))
        chunk = items[offset:offset + size]
        links = {"self": self._url(request, check.query)}
        if offset + size < len(items):
            links["next"] = self._url(request, {**check.query, "page[cursor]": _encode_cursor(offset + size)})
        if offset > 0:
            links["prev"] = self._url(request, {**check.query, "page[cursor]": _encode_cursor(max(0, offset - size))})
        return {"data": [render(item) for item in chunk], "links": links}

    def _url(self, request: web.Request, query: Mapping[str, str]) -> str:
        return f"{self.base_url}{request.path}" + (f"?{urlencode(query)}" if query else "")

    def profile_json(self, profile: Profile, check: RequestCheck) -> dict[str, Any]:
        extra = check.query.get("additional-fields[profile]", "")
        return self.state.profile_resource(profile, self.base_url, subscriptions="subscriptions" in extra)

    def after(self, delay: float, callback: Callable[[], None]) -> None:
        self.schedule(delay, callback)


# ---------------------------------------------------------------------- handlers, one per operation


def get_profiles(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    profiles = _filtered_profiles(sim.state, check.filter)
    sort = check.query.get("sort")
    if sort:
        key = sort.lstrip("-")
        profiles.sort(key=lambda p: str(_profile_value(p, key) or ""), reverse=sort.startswith("-"))
    return Reply(200, sim.page(request, check, profiles, lambda p: sim.profile_json(p, check)))


def get_profile(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    profile = _profile_or_404(sim.state, check.path_params["id"])
    return Reply(200, {"data": sim.profile_json(profile, check), "links": {"self": sim._url(request, {})}})


def create_profile(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    data = dict(check.body["data"])
    data.pop("id", None)
    profile, _ = sim.state.upsert(data, update=False)
    return Reply(201, {"data": sim.profile_json(profile, check), "links": {"self": sim._url(request, {})}})


def update_profile(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    profile, _ = sim.state.upsert(check.body["data"], create=False, profile_id=check.path_params["id"])
    return Reply(200, {"data": sim.profile_json(profile, check), "links": {"self": sim._url(request, {})}})


def create_or_update_profile(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    profile, created = sim.state.upsert(check.body["data"])
    return Reply(201 if created else 200, {"data": sim.profile_json(profile, check),
                                           "links": {"self": sim._url(request, {})}})


def get_lists_for_profile(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    profile = _profile_or_404(sim.state, check.path_params["id"])
    lists = [sim.state.get_list(list_id) for list_id in sim.state.lists_of(profile.id)]
    return Reply(200, {"data": [sim.state.list_resource(k, sim.base_url) for k in lists],
                       "links": {"self": sim._url(request, check.query)}})


def get_list_ids_for_profile(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    profile = _profile_or_404(sim.state, check.path_params["id"])
    return Reply(200, {"data": [{"type": "list", "id": i} for i in sim.state.lists_of(profile.id)],
                       "links": {"self": sim._url(request, check.query)}})


def bulk_import_profiles(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    data = check.body["data"]
    profiles = data["attributes"]["profiles"]["data"]
    list_ids = [entry["id"] for entry in ((data.get("relationships") or {}).get("lists") or {}).get("data") or []]
    job = sim.state.create_job(profiles, list_ids, owned=True)  # the body was parsed for this request alone
    rule = sim.faults.for_job("bulk_import_profiles")
    failing = set(sim.faults.failing_records(rule, job.total_count)) if rule else set()
    detail = ("The profile could not be imported (simulated failure: fault import-errors). "
              "Retry it in a later job.")
    sim.after(sim.job_delay / 2, lambda: sim.state.start_job(job))
    sim.after(sim.job_delay, lambda: sim.state.finish_job(job, failing, detail))
    return Reply(202, {"data": sim.state.job_resource(job, sim.base_url), "links": {"self": sim._url(request, {})}})


def get_bulk_import_profiles_jobs(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    jobs = [job for job in sim.state.all_jobs() if _matches(check.filter, partial(_job_value, job))]
    return Reply(200, sim.page(request, check, jobs, lambda j: sim.state.job_resource(j, sim.base_url)))


def get_bulk_import_profiles_job(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    job = sim.state.get_job(check.path_params["job_id"])
    document: dict[str, Any] = {"data": sim.state.job_resource(job, sim.base_url)}
    if "lists" in check.query.get("include", ""):
        document["included"] = [sim.state.list_resource(sim.state.get_list(i), sim.base_url)
                                for i in job.list_ids if i in {k.id for k in sim.state.all_lists()}]
    return Reply(200, document)


def get_errors_for_bulk_import_profiles_job(sim: KlaviyoSimulator, request: web.Request,
                                            check: RequestCheck) -> Reply:
    job = sim.state.get_job(check.path_params["id"])
    with sim.lock:
        errors = list(job.errors)
    return Reply(200, sim.page(request, check, errors, lambda error: error))


def get_profiles_for_bulk_import_profiles_job(sim: KlaviyoSimulator, request: web.Request,
                                              check: RequestCheck) -> Reply:
    job = sim.state.get_job(check.path_params["id"])
    profiles = [p for p in (sim.state.find(profile_id=i) for i in job.profile_ids) if p is not None]
    return Reply(200, sim.page(request, check, profiles, lambda p: sim.profile_json(p, check)))


def get_profile_ids_for_bulk_import_profiles_job(sim: KlaviyoSimulator, request: web.Request,
                                                 check: RequestCheck) -> Reply:
    job = sim.state.get_job(check.path_params["id"])
    ids = [i for i in job.profile_ids if sim.state.find(profile_id=i) is not None]
    return Reply(200, sim.page(request, check, ids, lambda i: {"type": "profile", "id": i}))


def get_list_for_bulk_import_profiles_job(sim: KlaviyoSimulator, request: web.Request,
                                          check: RequestCheck) -> Reply:
    job = sim.state.get_job(check.path_params["id"])
    known = {k.id: k for k in sim.state.all_lists()}
    return Reply(200, {"data": [sim.state.list_resource(known[i], sim.base_url) for i in job.list_ids if i in known],
                       "links": {"self": sim._url(request, check.query)}})


def get_list_ids_for_bulk_import_profiles_job(sim: KlaviyoSimulator, request: web.Request,
                                              check: RequestCheck) -> Reply:
    job = sim.state.get_job(check.path_params["id"])
    return Reply(200, {"data": [{"type": "list", "id": i} for i in job.list_ids],
                       "links": {"self": sim._url(request, check.query)}})


def bulk_subscribe_profiles(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    return _subscription(sim, check, "subscribe")


def bulk_unsubscribe_profiles(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    return _subscription(sim, check, "unsubscribe")


def get_lists(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    lists = [k for k in sim.state.all_lists() if _matches(check.filter, partial(_list_value, k))]
    return Reply(200, sim.page(request, check, lists, lambda k: sim.state.list_resource(k, sim.base_url)))


def create_list(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    attributes = check.body["data"]["attributes"]
    klist = sim.state.create_list(attributes["name"], attributes.get("opt_in_process"))
    return Reply(201, {"data": sim.state.list_resource(klist, sim.base_url), "links": {"self": sim._url(request, {})}})


def get_list(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    klist = sim.state.get_list(check.path_params["id"])
    return Reply(200, {"data": sim.state.list_resource(klist, sim.base_url), "links": {"self": sim._url(request, {})}})


def update_list(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    attributes = check.body["data"].get("attributes") or {}
    klist = sim.state.rename_list(check.path_params["id"], attributes.get("name"), attributes.get("opt_in_process"))
    return Reply(200, {"data": sim.state.list_resource(klist, sim.base_url), "links": {"self": sim._url(request, {})}})


def delete_list(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    sim.state.delete_list(check.path_params["id"])
    return Reply(204)


def get_profiles_for_list(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    def render(member: tuple[Profile, datetime]) -> dict[str, Any]:
        resource = sim.profile_json(member[0], check)
        resource["attributes"]["joined_group_at"] = iso(member[1])
        return resource

    return Reply(200, sim.page(request, check, _members(sim, check), render))


def get_profile_ids_for_list(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    return Reply(200, sim.page(request, check, _members(sim, check), lambda m: {"type": "profile", "id": m[0].id}))


def add_profiles_to_list(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    sim.state.add_members(check.path_params["id"], [entry["id"] for entry in check.body["data"]])
    return Reply(204)


def remove_profiles_from_list(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    sim.state.remove_members(check.path_params["id"], [entry["id"] for entry in check.body["data"]])
    return Reply(204)


def create_event(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    sim.state.record_event(check.body["data"]["attributes"])
    return Reply(202)


def request_profile_deletion(sim: KlaviyoSimulator, request: web.Request, check: RequestCheck) -> Reply:
    profile = check.body["data"]["attributes"]["profile"]["data"]
    attributes = profile.get("attributes") or {}
    if profile.get("id"):
        identifier, value = "id", profile["id"]
    else:
        identifier = "email" if attributes.get("email") else "phone_number"
        value = attributes[identifier]
    deletion = sim.state.request_deletion(identifier, value)
    sim.after(sim.deletion_delay, lambda: sim.state.complete_deletion(deletion))
    return Reply(202)


HANDLERS: dict[str, Handler] = {
    handler.__name__: handler
    for handler in (
        get_profiles, get_profile, create_profile, update_profile, create_or_update_profile,
        get_lists_for_profile, get_list_ids_for_profile, bulk_import_profiles, get_bulk_import_profiles_jobs,
        get_bulk_import_profiles_job, get_errors_for_bulk_import_profiles_job,
        get_profiles_for_bulk_import_profiles_job, get_profile_ids_for_bulk_import_profiles_job,
        get_list_for_bulk_import_profiles_job, get_list_ids_for_bulk_import_profiles_job,
        bulk_subscribe_profiles, bulk_unsubscribe_profiles, get_lists, create_list, get_list, update_list,
        delete_list, get_profiles_for_list, get_profile_ids_for_list, add_profiles_to_list,
        remove_profiles_from_list, create_event, request_profile_deletion,
    )
}


# ---------------------------------------------------------------------- internals


def _subscription(sim: KlaviyoSimulator, check: RequestCheck, kind: str) -> Reply:
    data = check.body["data"]
    profiles = data["attributes"]["profiles"]["data"]
    list_data = ((data.get("relationships") or {}).get("list") or {}).get("data")
    sim.state.subscription_job(kind, profiles, list_data["id"] if list_data else None)
    return Reply(202)


def _profile_or_404(state: KlaviyoState, profile_id: str) -> Profile:
    profile = state.find(profile_id=profile_id)
    if profile is None:
        raise ApiError(404, "not_found", f"A profile with id {profile_id!r} does not exist.", parameter="id")
    return profile


def _members(sim: KlaviyoSimulator, check: RequestCheck) -> list[tuple[Profile, datetime]]:
    """The list's members that pass the filter, with the time each joined, in joining order."""
    klist = sim.state.get_list(check.path_params["id"])
    with sim.lock:
        members = list(klist.members.items())
    profiles: list[tuple[Profile, datetime]] = []
    for profile_id, joined in members:
        profile = sim.state.find(profile_id=profile_id)
        if profile is None:
            continue
        if not _matches(check.filter, partial(_member_value, profile, joined)):
            continue
        profiles.append((profile, joined))
    if check.query.get("sort", "").startswith("-"):
        profiles.reverse()
    return profiles


def _filtered_profiles(state: KlaviyoState, expression: Expression | None) -> list[Profile]:
    if expression is None:
        return state.profiles_list()
    # a lookup by identifier uses the index instead of scanning every profile
    if isinstance(expression, Comparison) and expression.field in (*IDENTIFIERS, "id") and \
            expression.operator in ("equals", "any"):
        values = expression.value if expression.operator == "any" else [expression.value]
        found: dict[str, Profile] = {}
        for value in values:
            if not isinstance(value, str):
                continue
            key = "profile_id" if expression.field == "id" else expression.field
            profile = state.find(**{key: value})
            if profile is not None:
                found[profile.id] = profile
        return list(found.values())
    return [p for p in state.profiles_list() if _matches(expression, partial(_profile_value, p))]


def _matches(expression: Expression | None, value_of: Callable[[str], Any]) -> bool:
    return expression is None or evaluate(expression, value_of)


def _profile_value(profile: Profile, field: str) -> Any:
    if field == "id":
        return profile.id
    if field in ("created", "updated"):
        return iso(getattr(profile, field))
    return profile.attributes.get(field)


def _member_value(profile: Profile, joined: datetime, field: str) -> Any:
    return iso(joined) if field == "joined_group_at" else _profile_value(profile, field)


def _job_value(job: Any, field: str) -> Any:
    return getattr(job, field, None)


def _list_value(klist: Any, field: str) -> Any:
    if field in ("created", "updated"):
        return iso(getattr(klist, field))
    return getattr(klist, field, None)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind != "offset" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "invalid", f"Invalid page cursor {cursor!r}: use the links.next URL of the previous "
                       "page.", parameter="page[cursor]") from None
