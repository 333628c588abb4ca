"""Mailchimp (Marketing API 3.0): members, merge fields, tags, member events, permanent deletion.

One audience per sync (``destination.settings.list_id``). A member's id is the
MD5 hex of the lowercased address. What each mode sends:

- ``upsert_profiles``: POST /3.0/lists/{list_id} with up to 500 members and
  ``update_existing: true``. Each member carries ``status_if_new`` (setting
  ``status_if_new``, default ``subscribed``: exports hold consented contacts
  only) and never ``status``: an existing member keeps the status Mailchimp
  has, so an unsubscribed or cleaned member is never re-subscribed. Mapped
  fields are merge fields (``FNAME: first_name`` or ``merge_fields.FNAME:
  first_name``), except ``email``/``email_address``, ``language`` and ``vip``.
  Missing merge fields are created on the audience once per run (GET, then
  POST /lists/{id}/merge-fields; types from ``settings.merge_fields``, default
  text). With null_policy skip a null is left out (Mailchimp keeps its value);
  with clear it is sent as "" (Mailchimp clears it). The answer is 200 even
  when some members fail: each entry of ``errors`` is mapped back to its
  record by email; a member neither created, updated nor refused is failed
  too, never assumed. "Member In Compliance State" (an unsubscribed or
  cleaned address, e.g. one archived after unsubscribing, that Mailchimp
  refuses to subscribe) is recorded against the key with ``retryable=False``
  and says why: nothing in this module can re-subscribe anyone.
- ``mirror_lists``: the ``lists`` mapping names a *tag* per segment. Tags are
  per member at POST /lists/{id}/members/{hash}/tags (one request per
  member), but every tag is also a static segment of the audience, and POST
  /lists/{id}/segments/{segment_id} adds and removes up to 500 members per
  request. That is the cheapest correct path: a membership diff is grouped
  by tag, and each group of up to 500 costs one request (plus one batch
  upsert for additions, below), instead of one request per member; the
  asynchronous /batches endpoint would also save requests but answers only
  later, with per-operation results in an archive to download and parse.
  Only audience members can be tagged, so an ADD first upserts the addresses
  (``status_if_new``, no other field: an existing member is left as it is),
  then tags them: the tag is active. A REMOVE takes the tag off (inactive);
  it never unsubscribes anyone. Tag ids are looked up (GET /segments?type=static)
  and missing tags created once per run.
- ``trigger_events``: POST /lists/{id}/members/{hash}/events, one per record.
  Mailchimp does not deduplicate member events, so ``idempotent()`` is False
  for this mode: the engine sends each at most once, and the transport
  retries only failures that surely did not reach Mailchimp; a read timeout,
  reset or 5xx answer is recorded as ``uncertain`` (never resent, a person
  checks) rather than failed (which the next run would resend). The event name
  must be 2-30 letters, digits, ``_`` or ``-`` (checked when the destination is
  built); property values are sent as strings.
- ``propagate_deletions``: POST /lists/{id}/members/{hash}/actions/delete-permanent
  per address (204). A 404 means the audience has no such member: nothing to
  erase, acknowledged. The address can never be re-imported afterwards.

Limits: Mailchimp publishes no per-second quota; it allows 10 simultaneous
connections per account, so ``max_concurrency`` and the transport's connection
pool are 10. Errors are ``application/problem+json``; 401/403 and an unknown
audience stop the run (configuration), a 400 about a batch as a whole halves
it until the bad members are isolated.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from activation.config import Mode, NullPolicy, Sync
from activation.destinations.base import (
    Batch,
    Destination,
    JournalRecord,
    Outcome,
    grouped_batches,
    single_batches,
)
from activation.errors import BatchRejected, ConfigError, DestinationError, RequestFailed, TransportError
from activation.transport.batching import pack
from activation.transport.client import Transport
from activation.transport.limits import DestinationLimits, EndpointClass, RateLimit
from activation.transport.outcomes import RecordOutcome
from activation.transport.split import send_with_split

API = "/3.0"
MB = 1_000_000
MAX_MEMBERS = 500  # batch upsert and static-segment calls: 500 members each (a test compares with the contract)
MAX_CONNECTIONS = 10
# Mailchimp documents no byte limit per request; this cap only keeps a request of 500 members sane.
MAX_REQUEST_BYTES = 4 * MB
PAGE = 1_000  # the largest `count` of list endpoints
NO_QUOTA = RateLimit()  # no documented request-rate limit; concurrency is the limit

LIMITS = DestinationLimits(
    endpoint_classes={
        "audience": EndpointClass("audience", NO_QUOTA, 1, MB),
        "batch_upsert": EndpointClass("batch_upsert", NO_QUOTA, MAX_MEMBERS, MAX_REQUEST_BYTES),
        "merge_fields": EndpointClass("merge_fields", NO_QUOTA, 1, MB),
        "tags": EndpointClass("tags", NO_QUOTA, 1, MB),
        "tag_members": EndpointClass("tag_members", NO_QUOTA, MAX_MEMBERS, MAX_REQUEST_BYTES),
        "events": EndpointClass("events", NO_QUOTA, 1, MB),
        "deletion": EndpointClass("deletion", NO_QUOTA, 1, MB),
    },
    max_concurrency=MAX_CONNECTIONS,
)
STATUSES_IF_NEW = ("subscribed", "pending", "transactional")
MERGE_TYPES = ("text", "number", "address", "phone", "date", "url", "imageurl", "birthday", "zip")
MERGE_TAG = re.compile(r"^[A-Z0-9_]{1,10}$")
EVENT_NAME = re.compile(r"^[A-Za-z0-9_-]{2,30}$")
MEMBER_FIELDS = {"email": "email_address", "email_address": "email_address", "language": "language", "vip": "vip"}
COMPLIANCE = "member_in_compliance_state"
UNCERTAIN_EVENT = (
    "The event may have reached Mailchimp, which does not deduplicate member events: not resent. Check the "
    "member's activity; if it is missing, delete this record's sync_state row to send it again."
)
NOT_A_MEMBER = re.compile(r"not (a )?(list )?(member|found|subscribed)", re.I)


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: MD5 hex of the lowercased address."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class MailchimpDestination(Destination):
    name = "mailchimp"
    max_concurrency = MAX_CONNECTIONS

    def __init__(self, sync: Sync, *, transport: Transport | None = None,
                 http_transport: httpx.BaseTransport | None = None) -> None:
        """``transport`` replaces the whole client; ``http_transport`` only the network (tests record requests)."""
        self.sync = sync
        settings = sync.destination.settings
        self.list_id = str(settings.get("list_id") or "")
        if not self.list_id:
            raise ConfigError(f"sync {sync.name}: destination.settings.list_id (the Mailchimp audience id) is required")
        self.status_if_new = str(settings.get("status_if_new") or "subscribed")
        if self.status_if_new not in STATUSES_IF_NEW:
            raise ConfigError(f"sync {sync.name}: settings.status_if_new must be one of {', '.join(STATUSES_IF_NEW)}")
        self.merge_types = self._merge_types(settings.get("merge_fields") or {})
        self.field_map = self._field_map() if sync.mode is Mode.UPSERT_PROFILES else {}
        self._check_mode_settings()
        if transport is None:
            api_key = sync.destination.secret("api_key")
            transport = Transport(
                sync.destination.resolved_base_url() or self._production_url(api_key, settings.get("data_center")),
                {
                    "Authorization": "Basic " + base64.b64encode(f"activation:{api_key}".encode()).decode(),
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                },
                LIMITS,
                timeout=float(settings.get("timeout_seconds") or os.environ.get("ACTIVATION_HTTP_TIMEOUT") or 30),
                http_transport=http_transport,
            )
        self.transport = transport
        self._setup = threading.Lock()
        self._audience_checked = False
        self._merge_fields_ready = False
        self._tag_ids: dict[str, int] | None = None

    # -- configuration -----------------------------------------------------------------------
    def _production_url(self, api_key: str, data_center: Any) -> str:
        dc = str(data_center or (api_key.rsplit("-", 1)[1] if "-" in api_key else ""))
        if not re.fullmatch(r"[a-z]+[0-9]+", dc):
            raise ConfigError(
                f"sync {self.sync.name}: cannot tell the Mailchimp data center: the API key should end in '-<dc>' "
                "(e.g. '...-us6'); or set destination.settings.data_center"
            )
        return f"https://{dc}.api.mailchimp.com"

    def _merge_types(self, declared: dict[str, Any]) -> dict[str, dict[str, str]]:
        """settings.merge_fields: TAG -> type, or TAG -> {type, name}."""
        found: dict[str, dict[str, str]] = {}
        for tag, spec in declared.items():
            spec = {"type": spec} if isinstance(spec, str) else dict(spec or {})
            if spec.get("type", "text") not in MERGE_TYPES:
                raise ConfigError(f"sync {self.sync.name}: settings.merge_fields.{tag}.type must be one of "
                                  f"{', '.join(MERGE_TYPES)}")
            found[tag] = {"type": spec.get("type", "text"), "name": str(spec.get("name") or "")}
        return found

    def _field_map(self) -> dict[str, tuple[str, str]]:
        """destination field -> (kind, name): ("member", "email_address") or ("merge", "FNAME")."""
        mapped: dict[str, tuple[str, str]] = {}
        for target in self.sync.fields:
            if target in MEMBER_FIELDS:
                mapped[target] = ("member", MEMBER_FIELDS[target])
                continue
            tag = target.removeprefix("merge_fields.")
            if not MERGE_TAG.match(tag):
                raise ConfigError(
                    f"sync {self.sync.name}: field {target!r} is not a Mailchimp merge tag: use at most 10 upper "
                    "case letters, digits or '_' (e.g. FNAME, CARTVALUE), or email, language, vip"
                )
            mapped[target] = ("merge", tag)
        return mapped

    def _check_mode_settings(self) -> None:
        sync = self.sync
        if sync.mode is Mode.TRIGGER_EVENTS and sync.event and not EVENT_NAME.match(sync.event.metric):
            suggestion = re.sub(r"[^A-Za-z0-9_-]+", "_", sync.event.metric.strip()).lower()[:30]
            raise ConfigError(
                f"sync {sync.name}: event.metric {sync.event.metric!r} is not a valid Mailchimp event name (2-30 "
                f"letters, digits, '_' or '-'); e.g. {suggestion!r}"
            )
        if sync.mode is Mode.MIRROR_LISTS:
            for segment, tag in sync.lists.items():
                if not tag.strip() or len(tag) > 100 or "|" in tag:
                    raise ConfigError(f"sync {sync.name}: lists.{segment}: a Mailchimp tag name needs 1-100 "
                                      "characters and no '|'")

    # -- interface -------------------------------------------------------------------------
    def supports(self, mode: Mode) -> bool:
        return mode in (Mode.UPSERT_PROFILES, Mode.MIRROR_LISTS, Mode.TRIGGER_EVENTS, Mode.PROPAGATE_DELETIONS)

    def idempotent(self, mode: Mode, operation: str) -> bool:
        # member events are not deduplicated by Mailchimp; upserts, tags and deletions are
        return mode is not Mode.TRIGGER_EVENTS

    def batches(self, mode: Mode, operation: str, records: Iterable[JournalRecord]) -> Iterator[Batch]:
        if mode is Mode.UPSERT_PROFILES:
            yield from self._upsert_batches(mode, operation, records)
        elif mode is Mode.MIRROR_LISTS:
            yield from grouped_batches(mode, operation, records, self._tag_of, MAX_MEMBERS)
        else:
            yield from single_batches(mode, operation, records)

    def send(self, batch: Batch) -> list[Outcome]:
        try:
            if batch.extra.get("oversized"):
                return [Outcome.failed(r, "too_large", batch.extra["oversized"], retryable=False) for r in batch.records]
            self._ensure_audience()
            if batch.mode is Mode.UPSERT_PROFILES:
                self._ensure_merge_fields()
                return self._upsert(batch.records, self._member)
            if batch.mode is Mode.MIRROR_LISTS:
                if batch.operation == "REMOVE":
                    return self._untag(batch)
                return self._tag(batch)
            if batch.mode is Mode.TRIGGER_EVENTS:
                return [self._send_event(record) for record in batch.records]
            return [self._delete(record) for record in batch.records]
        except TransportError as error:
            # retries exhausted: nothing about these records is known; they are retried next run
            return [Outcome.failed(r, "transport", str(error)) for r in batch.records]

    def request_stats(self) -> dict[str, int]:
        return {name: stats.requests for name, stats in self.transport.stats.items()}

    def close(self) -> None:
        self.transport.close()

    # -- once per run: audience, merge fields, tag ids ----------------------------------------
    def _ensure_audience(self) -> None:
        with self._setup:
            if self._audience_checked:
                return
            response = self.transport.send("audience", "GET", f"{API}/lists/{self.list_id}",
                                           params={"fields": "id,name"})
            if response.status_code != 200:
                self._raise_for_setup(response, f"audience {self.list_id}")
            self._audience_checked = True

    def _ensure_merge_fields(self) -> None:
        """Create the mapped merge fields the audience lacks: one GET (paged) and one POST per missing tag."""
        with self._setup:
            if self._merge_fields_ready:
                return
            wanted = {tag for kind, tag in self.field_map.values() if kind == "merge"}
            existing = {entry["tag"] for entry in self._paged("merge_fields", "merge-fields", "merge_fields")}
            columns = {target.removeprefix("merge_fields."): column for target, column in self.sync.fields.items()}
            for tag in sorted(wanted - existing):
                declared = self.merge_types.get(tag, {})
                body = {"tag": tag, "name": declared.get("name") or columns.get(tag, tag).replace("_", " ").capitalize(),
                        "type": declared.get("type", "text"), "required": False, "public": False}
                response = self.transport.send("merge_fields", "POST", f"{API}/lists/{self.list_id}/merge-fields",
                                               content=_dumps(body))
                if response.status_code != 200 and not (response.status_code == 400 and "already exists" in
                                                        self._problem(response)[1]):
                    self._raise_for_setup(response, f"merge field {tag}")
            self._merge_fields_ready = True

    def _tag_id(self, tag: str, create: bool) -> int | None:
        with self._setup:
            if self._tag_ids is None:
                self._tag_ids = {entry["name"]: int(entry["id"])
                                 for entry in self._paged("tags", "segments", "segments", {"type": "static"})}
            if tag not in self._tag_ids and create:
                response = self.transport.send("tags", "POST", f"{API}/lists/{self.list_id}/segments",
                                               content=_dumps({"name": tag, "static_segment": []}))
                if response.status_code == 200:
                    self._tag_ids[tag] = int(response.json()["id"])
                elif response.status_code == 400 and "already exists" in self._problem(response)[1]:
                    # an earlier attempt created it and its answer was lost (the transport retried): look it up
                    self._tag_ids = {entry["name"]: int(entry["id"])
                                     for entry in self._paged("tags", "segments", "segments", {"type": "static"})}
                    if tag not in self._tag_ids:
                        self._raise_for_setup(response, f"tag {tag!r}")
                else:
                    self._raise_for_setup(response, f"tag {tag!r}")
            return self._tag_ids.get(tag)

    def _paged(self, endpoint: str, resource: str, key: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            response = self.transport.send(endpoint, "GET", f"{API}/lists/{self.list_id}/{resource}",
                                           params={**(params or {}), "count": PAGE, "offset": offset})
            if response.status_code != 200:
                self._raise_for_setup(response, resource)
            document = response.json()
            page = document.get(key) or []
            items += page
            offset += len(page)
            if not page or offset >= int(document.get("total_items") or 0):
                return items

    def _raise_for_setup(self, response: httpx.Response, what: str) -> None:
        title, detail = self._problem(response)
        if response.status_code in (401, 403):
            raise ConfigError(f"Mailchimp refused the API key ({response.status_code} {title}: {detail}); check the "
                              "credential and its data center")
        if response.status_code == 404:
            raise ConfigError(f"sync {self.sync.name}: Mailchimp has no {what} ({detail}); check "
                              "destination.settings.list_id")
        raise DestinationError(f"Mailchimp {what}: HTTP {response.status_code} {title}: {detail}")

    # -- member upserts ----------------------------------------------------------------------
    def _member(self, record: JournalRecord) -> dict[str, Any]:
        member: dict[str, Any] = {"email_address": record.email or "", "status_if_new": self.status_if_new}
        merge: dict[str, Any] = {}
        clear = self.sync.null_policy is NullPolicy.CLEAR
        for target, value in record.payload.items():
            kind, name = self.field_map.get(target, ("merge", target))
            if kind == "member":
                if value is not None and name != "email_address":  # the journal's address is the canonical one
                    member[name] = value
                continue
            if value is None:
                if clear:
                    merge[name] = ""
                continue
            merge[name] = self._merge_value(name, value)
        if merge:
            member["merge_fields"] = merge
        return member

    def _merge_value(self, tag: str, value: Any) -> Any:
        kind = self.merge_types.get(tag, {}).get("type", "text")
        if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if kind == "address" and isinstance(value, dict):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))
        return str(value)

    def _upsert_batches(self, mode: Mode, operation: str, records: Iterable[JournalRecord]) -> Iterator[Batch]:
        endpoint = LIMITS.get("batch_upsert")
        oversized: list[tuple[JournalRecord, str]] = []
        for chunk in pack(
            records,
            endpoint.max_records,
            endpoint.max_bytes,
            lambda record: _dumps(self._member(record)),
            on_rejected=lambda record, why: oversized.append((record, why)),
            overhead=len(_dumps({"members": [], "update_existing": True})),
            separator=1,
        ):
            yield Batch(mode, operation, chunk)
        for record, why in oversized:
            yield Batch(mode, operation, [record], extra={"oversized": why})

    def _upsert(self, records: list[JournalRecord], body_of: Any) -> list[Outcome]:
        """Batch upserts; an address twice in one batch goes in a second request (one member per address)."""
        outcomes: dict[int, Outcome] = {}
        remaining = list(records)
        while remaining:
            seen: set[str] = set()
            this_round, later = [], []
            for record in remaining:
                email = (record.email or "").lower()
                (later if email in seen else this_round).append(record)
                seen.add(email)
            by_key = {record.record_key: record for record in this_round}
            for outcome in send_with_split(this_round, lambda chunk: self._batch_upsert(list(chunk), body_of),
                                           key=lambda record: record.record_key):
                record = by_key[outcome.key]
                outcomes[record.seq] = Outcome.ok(record, subscriber_hash(record.email or "")) \
                    if outcome.status == "acknowledged" else Outcome.failed(
                        record, outcome.error_code or outcome.status, outcome.error_message or "",
                        retryable=outcome.retryable)
            remaining = later
        return [outcomes[record.seq] for record in records]

    def _batch_upsert(self, records: list[JournalRecord], body_of: Any) -> list[RecordOutcome]:
        body = {"members": [body_of(record) for record in records], "update_existing": True}
        response = self.transport.send("batch_upsert", "POST", f"{API}/lists/{self.list_id}", content=_dumps(body))
        if response.status_code in (400, 413):
            title, detail = self._problem(response)
            raise BatchRejected(f"Mailchimp refused the batch ({response.status_code} {title}): {detail}",
                                code=f"http_{response.status_code}")
        if response.status_code != 200:
            return self._whole_request_failed([r.record_key for r in records], response)
        document = response.json()
        errors = {str(e.get("email_address", "")).lower(): e for e in document.get("errors") or []}
        done = {str(m.get("email_address", "")).lower()
                for m in (document.get("new_members") or []) + (document.get("updated_members") or [])}
        outcomes = []
        for record in records:
            email = (record.email or "").lower()
            if email in errors:
                code, message, retryable = self._member_error(errors[email])
                outcomes.append(RecordOutcome.failed(record.record_key, code, message, retryable=retryable))
            elif email in done:
                outcomes.append(RecordOutcome.acknowledged(record.record_key))
            else:
                outcomes.append(RecordOutcome.failed(
                    record.record_key, "not_acknowledged",
                    "Mailchimp's batch answer neither created, updated nor refused this member; sent again next run"))
        return outcomes

    @staticmethod
    def _member_error(error: dict[str, Any]) -> tuple[str, str, bool]:
        """(code, message, retryable) of one entry of a batch answer's ``errors``."""
        text = str(error.get("error") or "")
        where = f" (field {error['field']}: {error.get('field_message') or ''})" if error.get("field") else ""
        if "compliance state" in text.lower():
            return COMPLIANCE, (
                "Member In Compliance State: Mailchimp holds this address as unsubscribed or cleaned and refuses to "
                "subscribe it. Activation never re-subscribes anyone (status_if_new only); the contact must "
                f"subscribe again themselves. Mailchimp said: {text}"
            ), False
        if "permanently deleted" in text.lower():
            return "permanently_deleted", f"Mailchimp: {text}", False
        return str(error.get("error_code") or "member_error").lower(), f"Mailchimp: {text}{where}", False

    # -- tags --------------------------------------------------------------------------------
    def _tag_of(self, record: JournalRecord) -> str:
        tag = record.payload.get("list_id") if record.payload else None
        return str(tag) if tag else record.record_key.rsplit("|", 1)[-1]

    def _tag(self, batch: Batch) -> list[Outcome]:
        """Members first (status_if_new, nothing else), then one static-segment call adds the tag."""
        tag = str(batch.group)
        upserted = self._upsert(batch.records, lambda r: {"email_address": r.email or "",
                                                          "status_if_new": self.status_if_new})
        outcomes = {o.seq: o for o in upserted}
        members = [r for r in batch.records if outcomes[r.seq].status == "acknowledged"]
        if members:
            tag_id = self._tag_id(tag, create=True)
            outcomes.update(self._segment_call(tag_id, members, "members_to_add"))
        return [outcomes[r.seq] for r in batch.records]

    def _untag(self, batch: Batch) -> list[Outcome]:
        tag_id = self._tag_id(str(batch.group), create=False)
        if tag_id is None:  # the tag does not exist: nobody has it
            return [Outcome.ok(r) for r in batch.records]
        outcomes = self._segment_call(tag_id, batch.records, "members_to_remove")
        return [outcomes[r.seq] for r in batch.records]

    def _segment_call(self, tag_id: int | None, records: list[JournalRecord], field: str) -> dict[int, Outcome]:
        body = {field: [r.email or "" for r in records]}
        response = self.transport.send("tag_members", "POST", f"{API}/lists/{self.list_id}/segments/{tag_id}",
                                       content=_dumps(body))
        if response.status_code != 200:
            failed = self._whole_request_failed([r.record_key for r in records], response)
            return {r.seq: Outcome.failed(r, f.error_code or "", f.error_message or "", retryable=f.retryable)
                    for r, f in zip(records, failed)}
        refused: dict[str, str] = {}
        for error in response.json().get("errors") or []:
            for email in error.get("email_addresses") or []:
                refused[str(email).lower()] = str(error.get("error") or "")
        outcomes = {}
        for record in records:
            text = refused.get((record.email or "").lower())
            if text is None or (field == "members_to_remove" and NOT_A_MEMBER.search(text)):
                outcomes[record.seq] = Outcome.ok(record)  # a removal of a non-member leaves it untagged: done
            else:
                outcomes[record.seq] = Outcome.failed(record, "tag_refused", f"Mailchimp: {text}")
        return outcomes

    # -- events and deletions ----------------------------------------------------------------
    def _send_event(self, record: JournalRecord) -> Outcome:
        payload = record.payload
        properties = {name: value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
                      for name, value in (payload.get("properties") or {}).items() if value is not None}
        body: dict[str, Any] = {"name": payload["metric"], "properties": properties, "is_syncing": False}
        if payload.get("time"):
            moment = str(payload["time"]).replace(" ", "T")
            body["occurred_at"] = moment if ("+" in moment or moment.endswith("Z")) else moment + "+00:00"
        email = payload.get("email") or record.email or ""
        try:
            response = self.transport.send("events", "POST",
                                           f"{API}/lists/{self.list_id}/members/{subscriber_hash(email)}/events",
                                           content=_dumps(body), idempotent=False)
        except RequestFailed as error:  # the request may have reached Mailchimp: not resent
            return Outcome.uncertain(record, "uncertain", f"{UNCERTAIN_EVENT} {error}")
        if response.status_code >= 500 or response.status_code == 408:
            return Outcome.uncertain(record, f"http_{response.status_code}",
                                     f"{UNCERTAIN_EVENT} Mailchimp answered HTTP {response.status_code}.")
        if response.status_code == 204:
            return Outcome.ok(record)
        if response.status_code == 404:
            return Outcome.failed(record, "not_a_member", "Mailchimp: the address is not a member of the audience; "
                                  "events need a member (run the profiles sync first); sent again next run")
        failed = self._whole_request_failed([record.record_key], response)[0]
        return Outcome.failed(record, failed.error_code or "", failed.error_message or "", retryable=failed.retryable)

    def _delete(self, record: JournalRecord) -> Outcome:
        email = record.payload.get("email") or record.email or ""
        response = self.transport.send(
            "deletion", "POST", f"{API}/lists/{self.list_id}/members/{subscriber_hash(email)}/actions/delete-permanent")
        if response.status_code in (204, 404):  # 404: no such member in the audience, nothing to erase
            return Outcome.ok(record, subscriber_hash(email))
        failed = self._whole_request_failed([record.record_key], response)[0]
        return Outcome.failed(record, failed.error_code or "", failed.error_message or "", retryable=failed.retryable)

    # -- errors ------------------------------------------------------------------------------
    @staticmethod
    def _problem(response: httpx.Response) -> tuple[str, str]:
        """(title, detail) of a problem+json answer, with its field errors."""
        try:
            document = response.json()
        except ValueError:
            return response.reason_phrase, " ".join(response.text.split())[:300]
        if not isinstance(document, dict):
            return response.reason_phrase, str(document)[:300]
        detail = str(document.get("detail") or "")
        fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in document.get("errors") or []
                           if isinstance(e, dict))
        return str(document.get("title") or response.reason_phrase), detail + (f" ({fields})" if fields else "")

    def _whole_request_failed(self, keys: list[str], response: httpx.Response) -> list[RecordOutcome]:
        """A non-2xx answer about the whole request: every record failed with Mailchimp's problem."""
        title, detail = self._problem(response)
        if response.status_code in (401, 403):
            raise ConfigError(f"Mailchimp refused the API key ({response.status_code} {title}: {detail}); check the "
                              "credential and its data center")
        if title == "Member In Compliance State":
            message = ("Member In Compliance State: Mailchimp holds this address as unsubscribed or cleaned; "
                       f"activation never re-subscribes anyone. Mailchimp said: {detail}")
            return [RecordOutcome.failed(key, COMPLIANCE, message, retryable=False) for key in keys]
        retryable = response.status_code >= 500 or response.status_code == 429
        code = re.sub(r"\W+", "_", title.lower()).strip("_") or f"http_{response.status_code}"
        return [RecordOutcome.failed(key, code, f"HTTP {response.status_code} {title}: {detail}", retryable=retryable)
                for key in keys]
