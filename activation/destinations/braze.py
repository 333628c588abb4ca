"""Braze: attributes, segment membership and events through POST /users/track; erasure through /users/delete.

Braze has no lists to mirror and no OpenAPI file; the contract is
contracts/braze/braze.schema.json (activation.contracts.braze). What each
mode sends (docs/destinations/braze.md has the full picture):

- ``upsert_profiles``: one attributes object per record, up to
  ``objects_per_request`` (75) per request. Mapped fields are Braze profile
  fields (``first_name``, ``email``, ...) or custom attributes, side by side
  (Braze has no ``properties`` namespace). JSON columns arrive as JSON (arrays
  of objects are Braze array-of-objects attributes). ``null_policy: clear``
  sends ``null``, which removes the attribute at Braze; ``skip`` leaves it out.
- ``mirror_lists``: segment membership as custom attributes (see below);
  ADD sets it, REMOVE unsets it with ``_update_existing_only`` so a removal
  never creates a user.
- ``trigger_events``: one event object per record (``name`` = the sync's
  metric, ``time``, ``properties``), 75 per request. **Braze does not
  deduplicate events**, so :meth:`BrazeDestination.idempotent` is False for
  this mode: the engine commits each batch as in flight before sending it and
  never resends it after a crash, and the transport is told
  ``idempotent=False`` so it retries only what surely did not reach Braze
  (429, connection refused). A read timeout or a 5xx leaves the batch
  *uncertain* (recorded, never resent): at most once, never twice.
- ``propagate_deletions``: POST /users/delete by email, 50 entries per
  request. Braze deletes one user per email entry (chosen by a
  ``prioritization``), so each address is sent twice: the most recently
  updated identified user and the most recently updated anonymous one
  (25 addresses per request).

**Who is the user.** ``identify_by: external_id`` (the default, as Braze
recommends): the sync key (``contact_key``, the warehouse's stable customer
id) is the Braze ``external_id``; an email change then updates the same
profile instead of creating a second one. Every attributes object that may
create a user also sets ``email``, because events and deletions can only
name the user by email (their journal records carry the event or request
id, not the contact key) and Braze resolves an email to the most recently
updated user with it. ``identify_by: email`` names users by address
everywhere, for workspaces whose external_ids belong to another system.

**Membership: one boolean attribute per segment** (``membership: booleans``,
the default; the sync's ``lists`` maps a segment to the attribute name, e.g.
``vip: segment_vip``). Chosen over one array attribute with add/remove
because:

1. it is idempotent whatever Braze's array semantics: the engine resends an
   interrupted batch, and setting ``segment_vip: true`` twice is harmless,
   while ``{"add": ["vip"]}`` twice relies on Braze not keeping duplicates;
2. segments are independent: concurrent batches touch different attributes,
   and no array-length cap (25 by default at Braze, oldest values dropped)
   can silently evict a membership;
3. Braze filters and Canvas triggers read it directly ("segment_vip is
   true", "segment_vip changed to true" starts an entry flow).

The cost is one custom attribute per segment. ``membership: array`` is
available for workspaces that prefer a single ``segments`` attribute
(``membership_attribute``; the ``lists`` values are then the array values).
REMOVE sets the boolean to false (an explicit "left the segment"), never
null.

**Consent.** This module never subscribes anyone. ``email_subscribe`` is
sent only when an ``upsert_profiles`` sync maps it to a consent column in
``fields``: a withdrawal (false, "withdrawn", "revoked", "denied",
"unsubscribed", "opted_out") becomes ``unsubscribed``; a grant is left out
(Braze keeps its own state) unless ``settings.consent_grants: true``, and is
then ``opted_in``; null is never sent; any other value fails the record.
Other subscription fields (``push_subscribe``, ``subscription_groups``) and
POST /v2/subscription/status/set are never used. Membership removal unsets a
segment attribute; it never touches subscription state.

**Errors.** A 201 with ``errors: [{type, input_array, index}]`` fails the
objects at those indexes (the others were processed). A 400 or 413 is
fatal for the request and depends on its content: the batch is halved until
the bad objects are isolated (nothing was processed, so the halves are safe
to send even for events). 401/403 fail the batch and every later batch of
the run without another request (check the key). 429s carry
``X-RateLimit-Reset``, which the transport turns into a pause of the
endpoint class.
"""

from __future__ import annotations

import json
import operator
import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activation.config import Mode, NullPolicy, Sync
from activation.destinations.base import Batch, Destination, JournalRecord, Outcome
from activation.errors import BatchRejected, ConfigError, RetriesExhausted, TransportError
from activation.transport.batching import pack
from activation.transport.client import Transport
from activation.transport.limits import DestinationLimits, EndpointClass, RateLimit
from activation.transport.outcomes import RecordOutcome
from activation.transport.split import send_with_split

MB = 1_000_000
DELETE_IDS_PER_REQUEST = 50  # "up to 50 ids of one identifier type per request"
# one /users/delete entry per (address, prioritization): Braze deletes one user per entry
DELETION_PRIORITIZATIONS = (["identified", "most_recently_updated"], ["unidentified", "most_recently_updated"])
REMOVE = "REMOVE"

# Profile fields a sync must not map: identity and control keys (the destination sets them) and
# subscription state other than email_subscribe (the warehouse records email consent only).
CONTROL_FIELDS = frozenset({"external_id", "braze_id", "user_alias", "_update_existing_only", "push_token_import"})
FORBIDDEN_FIELDS = frozenset({"push_subscribe", "subscription_groups", "sms_subscribe"})
# Braze standard profile fields: never usable as a segment attribute
STANDARD_FIELDS = frozenset({
    "email", "phone", "first_name", "last_name", "country", "language", "home_city", "gender", "dob",
    "email_subscribe", "time_zone", "image_url", "current_location", "bio", "facebook", "twitter",
    "email_open_tracking_disabled", "email_click_tracking_disabled", "marked_email_as_spam_at",
    "date_of_first_session", "date_of_last_session", "attributed_campaign", "attributed_source",
    "attributed_adgroup", "attributed_ad",
})
NEVER_CLEARED = frozenset({"email"})
CONSENT_GRANTED = frozenset({"granted", "opted_in", "opt_in", "true", "yes"})
CONSENT_WITHDRAWN = frozenset({"withdrawn", "revoked", "denied", "unsubscribed", "opted_out", "opt_out", "false", "no"})
_TZ = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$")


class BrazeSettings(BaseModel):
    """``destination.settings`` of a Braze sync (every key optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objects_per_request: int = Field(75, ge=1, le=75, description="Objects per /users/track array (MAU plans: 50).")
    rate_limit: str = Field(
        "3000/3s", description="/users/track requests allowed (N/s, N/m, or a window of k seconds: 3000/3s)."
    )
    delete_rate_limit: str = Field("20000/m", description="/users/delete requests allowed.")
    max_concurrency: int = Field(4, ge=1, le=64, description="Requests in flight at once.")
    max_request_bytes: int = Field(4 * MB, ge=10_000, description="Guard on a request's size (Braze states none).")
    identify_by: Literal["external_id", "email"] = "external_id"
    membership: Literal["booleans", "array"] = "booleans"
    membership_attribute: str = Field("segments", description="The array attribute (membership: array).")
    consent_grants: bool = Field(False, description="Send a mapped consent grant as email_subscribe: opted_in.")
    timeout_seconds: float | None = Field(None, gt=0)
    lift_rate_limits: bool = False


class InvalidRecord(Exception):
    """A record that cannot become a Braze object (reported as failed, never sent)."""


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


def declared_limits(settings: BrazeSettings) -> DestinationLimits:
    """The endpoint classes of a Braze destination with these settings."""
    return DestinationLimits(
        endpoint_classes={
            "users_track": EndpointClass(
                "users_track", RateLimit.parse(settings.rate_limit), settings.objects_per_request,
                settings.max_request_bytes,
            ),
            "users_delete": EndpointClass(
                "users_delete", RateLimit.parse(settings.delete_rate_limit), DELETE_IDS_PER_REQUEST, MB
            ),
        },
        max_concurrency=settings.max_concurrency,
    )


class BrazeDestination(Destination):
    name = "braze"

    def __init__(self, sync: Sync, *, transport: Transport | None = None, lifted: bool = False) -> None:
        self.sync = sync
        try:
            self.settings = BrazeSettings.model_validate(sync.destination.settings)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in error.errors()
            )
            raise ConfigError(f"sync {sync.name}: invalid Braze settings: {problems}") from None
        self.limits = declared_limits(self.settings)
        self._check_mapping()
        if transport is None:
            base_url = sync.destination.resolved_base_url()
            if not base_url:
                where = f"or set ${sync.destination.base_url_env}" if sync.destination.base_url_env else \
                    "or name an environment variable in destination.base_url_env"
                raise ConfigError(
                    f"sync {sync.name}: Braze needs your instance's REST endpoint (e.g. "
                    f"https://rest.iad-01.braze.com): set destination.base_url {where}"
                )
            if not base_url.startswith(("https://", "http://")):
                raise ConfigError(f"sync {sync.name}: Braze base URL {base_url!r} must start with https://")
            api_key = sync.destination.secret("api_key")
            timeout = self.settings.timeout_seconds or float(os.environ.get("ACTIVATION_HTTP_TIMEOUT") or 30)
            transport = Transport(
                base_url,
                {
                    "Authorization": f"Bearer {api_key}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
                self.limits,
                timeout=timeout,
                lifted=lifted or self.settings.lift_rate_limits,
            )
        self.transport = transport
        self.max_concurrency = self.limits.max_concurrency
        self._refused: str | None = None  # set by a 401/403: later batches fail without a request

    # -- interface -------------------------------------------------------------------------
    def supports(self, mode: Mode) -> bool:
        return True

    def idempotent(self, mode: Mode, operation: str) -> bool:
        """Events are not deduplicated by Braze; everything else is a set or a delete."""
        return mode is not Mode.TRIGGER_EVENTS

    def batches(self, mode: Mode, operation: str, records: Iterable[JournalRecord]) -> Iterator[Batch]:
        if mode is Mode.PROPAGATE_DELETIONS:
            per_request = DELETE_IDS_PER_REQUEST // len(DELETION_PRIORITIZATIONS)
            chunk: list[JournalRecord] = []
            for record in records:
                chunk.append(record)
                if len(chunk) == per_request:
                    yield Batch(mode, operation, chunk)
                    chunk = []
            if chunk:
                yield Batch(mode, operation, chunk)
            return
        array = "events" if mode is Mode.TRIGGER_EVENTS else "attributes"
        endpoint = self.limits.get("users_track")
        built: list[tuple[JournalRecord, dict[str, Any], bytes]] = []
        for record in records:
            try:
                item = self._object(mode, record)
            except InvalidRecord as error:
                yield Batch(mode, operation, [record], extra={"invalid": str(error)})
                continue
            built.append((record, item, _dumps(item)))
        oversized: list[tuple[tuple[JournalRecord, dict[str, Any], bytes], str]] = []
        for chunk_built in pack(
            built,
            endpoint.max_records,
            endpoint.max_bytes,
            operator.itemgetter(2),
            on_rejected=lambda entry, why: oversized.append((entry, why)),
            overhead=len(_dumps({array: []})),
            separator=1,
        ):
            yield Batch(
                mode, operation, [entry[0] for entry in chunk_built],
                extra={"array": array, "objects": {entry[0].seq: entry[1] for entry in chunk_built}},
            )
        for entry, why in oversized:
            yield Batch(mode, operation, [entry[0]], extra={"invalid": why, "code": "too_large"})

    def send(self, batch: Batch) -> list[Outcome]:
        if "invalid" in batch.extra:
            code = batch.extra.get("code", "invalid_record")
            return [Outcome.failed(r, code, batch.extra["invalid"], retryable=False) for r in batch.records]
        if self._refused is not None:
            return [Outcome.failed(r, "unauthorized", self._refused) for r in batch.records]
        certain = self.idempotent(batch.mode, batch.operation)
        if batch.mode is Mode.PROPAGATE_DELETIONS:
            outcomes = send_with_split(batch.records, self._delete, key=lambda r: str(r.seq))
        else:
            array, objects = batch.extra["array"], batch.extra["objects"]
            outcomes = send_with_split(
                batch.records,
                lambda records: self._track(list(records), array, objects, certain),
                key=lambda r: str(r.seq),
            )
        by_seq = {str(record.seq): record for record in batch.records}
        return [self._outcome(by_seq[o.key], o) for o in outcomes]

    def request_stats(self) -> dict[str, int]:
        return {name: stats.requests for name, stats in self.transport.stats.items()}

    def close(self) -> None:
        self.transport.close()

    # -- objects -----------------------------------------------------------------------------
    def _object(self, mode: Mode, record: JournalRecord) -> dict[str, Any]:
        if mode is Mode.UPSERT_PROFILES:
            return self._profile(record)
        if mode is Mode.MIRROR_LISTS:
            return self._membership(record)
        if mode is Mode.TRIGGER_EVENTS:
            return self._event(record)
        raise InvalidRecord(f"mode {mode} sends no /users/track object")

    def _identity(self, record: JournalRecord, contact_key: str) -> dict[str, Any]:
        if self.settings.identify_by == "external_id":
            return {"external_id": contact_key}
        email = record.payload.get("email") or record.email
        if not email:
            raise InvalidRecord("identify_by is email, and this record has no email address")
        return {"email": email}

    def _profile(self, record: JournalRecord) -> dict[str, Any]:
        item = self._identity(record, record.record_key)
        skip_nulls = self.sync.null_policy is NullPolicy.SKIP
        for field, value in record.payload.items():
            if field == "email_subscribe":
                state = self._consent(value)
                if state is not None:
                    item["email_subscribe"] = state
                continue
            if value is None and (skip_nulls or field in NEVER_CLEARED):
                continue
            item[field] = value
        if "email" not in item and record.email:
            item["email"] = record.email
        return item

    def _membership(self, record: JournalRecord) -> dict[str, Any]:
        contact_key, _, value = record.record_key.rpartition("|")
        adding = record.operation != REMOVE
        item = self._identity(record, contact_key)
        if self.settings.membership == "booleans":
            item[value] = adding
        else:
            item[self.settings.membership_attribute] = {"add" if adding else "remove": [value]}
        if not adding:
            item["_update_existing_only"] = True  # a removal never creates a user
        elif "email" not in item and (record.payload.get("email") or record.email):
            item["email"] = record.payload.get("email") or record.email
        return item

    def _event(self, record: JournalRecord) -> dict[str, Any]:
        payload = record.payload
        email = payload.get("email") or record.email
        if not email:
            raise InvalidRecord("an event needs the contact's email address")
        item: dict[str, Any] = {
            "email": email,
            "name": payload["metric"],
            "time": _iso_time(payload.get("time")),
        }
        if payload.get("properties"):
            item["properties"] = payload["properties"]
        return item

    def _consent(self, value: Any) -> str | None:
        """A mapped consent value -> email_subscribe to send, or None to leave Braze's state as it is."""
        if value is None:
            return None
        text = str(value).strip().lower()
        if text in CONSENT_WITHDRAWN:
            return "unsubscribed"
        if text in CONSENT_GRANTED:
            return "opted_in" if self.settings.consent_grants else None
        raise InvalidRecord(
            f"consent value {value!r} is neither a grant ({', '.join(sorted(CONSENT_GRANTED))}) nor a withdrawal "
            f"({', '.join(sorted(CONSENT_WITHDRAWN))}); email_subscribe was not sent"
        )

    # -- requests ----------------------------------------------------------------------------
    def _track(
        self, records: list[JournalRecord], array: str, objects: dict[int, dict[str, Any]], certain: bool
    ) -> list[RecordOutcome]:
        """One /users/track request; raises BatchRejected on a fatal 400/413 (the caller halves the batch)."""
        body = {array: [objects[record.seq] for record in records]}
        try:
            response = self.transport.send(
                "users_track", "POST", "/users/track", content=_dumps(body), idempotent=certain
            )
        except RetriesExhausted as error:
            # with idempotent=False only 429s and refused connections are retried: Braze has none of these
            return [RecordOutcome.failed(str(r.seq), "transport", str(error)) for r in records]
        except TransportError as error:
            return self._unknown(records, certain, "transport", str(error))
        status = response.status_code
        if 200 <= status < 300:
            return self._partial(records, array, response, certain)
        message = _message(response)
        if status in (400, 413):
            raise BatchRejected(f"Braze refused the request ({status}): {message}", code=f"http_{status}")
        return self._refusal(records, response, message, certain)

    def _partial(
        self, records: list[JournalRecord], array: str, response: httpx.Response, certain: bool
    ) -> list[RecordOutcome]:
        """2xx: processed, except the objects ``errors`` names by index."""
        try:
            errors = response.json().get("errors") or []
        except (ValueError, AttributeError):
            errors = []
        failed: dict[int, str] = {}
        unmapped: list[Any] = []
        for error in errors:
            index = error.get("index") if isinstance(error, dict) else None
            if isinstance(error, dict) and error.get("input_array") == array and isinstance(index, int) \
                    and 0 <= index < len(records):
                failed[index] = str(error.get("type") or "rejected by Braze")
            else:
                unmapped.append(error)
        outcomes: list[RecordOutcome] = []
        for index, record in enumerate(records):
            key = str(record.seq)
            if index in failed:
                outcomes.append(RecordOutcome.rejected(key, "braze_object_error", failed[index]))
            elif unmapped:
                note = f"Braze reported errors it did not tie to an object: {json.dumps(unmapped)[:500]}"
                outcomes.extend(self._unknown([record], certain, "unmapped_error", note))
            else:
                outcomes.append(RecordOutcome.acknowledged(key))
        return outcomes

    def _delete(self, records: Iterable[JournalRecord]) -> list[RecordOutcome]:
        records = list(records)
        entries = []
        for record in records:
            email = record.payload.get("email") or record.email
            entries += [{"email": email, "prioritization": list(p)} for p in DELETION_PRIORITIZATIONS]
        try:
            response = self.transport.send(
                "users_delete", "POST", "/users/delete", content=_dumps({"email_addresses": entries})
            )
        except TransportError as error:
            return [RecordOutcome.failed(str(r.seq), "transport", str(error)) for r in records]
        status = response.status_code
        if 200 <= status < 300:
            return [RecordOutcome.acknowledged(str(r.seq)) for r in records]
        message = _message(response)
        if status in (400, 413):
            raise BatchRejected(f"Braze refused the deletion ({status}): {message}", code=f"http_{status}")
        return self._refusal(records, response, message, True)

    def _refusal(
        self, records: list[JournalRecord], response: httpx.Response, message: str, certain: bool
    ) -> list[RecordOutcome]:
        """A non-2xx answer for the whole request that splitting cannot help."""
        status = response.status_code
        if status in (401, 403):
            self._refused = (
                f"Braze refused the REST API key ({status}: {message}); check the variable named in "
                f"credentials.api_key and the key's permissions (users.track, users.delete). Nothing was sent."
            )
            return [RecordOutcome.failed(str(r.seq), f"http_{status}", self._refused) for r in records]
        if status >= 500:
            # not retried for a non-idempotent send: Braze may have processed it
            return self._unknown(records, certain, f"http_{status}", f"HTTP {status}: {message}")
        return [RecordOutcome.failed(str(r.seq), f"http_{status}", f"HTTP {status}: {message}") for r in records]

    @staticmethod
    def _unknown(records: list[JournalRecord], certain: bool, code: str, message: str) -> list[RecordOutcome]:
        """Braze may or may not have processed these: resend if harmless, else record as uncertain."""
        if certain:
            return [RecordOutcome.failed(str(r.seq), code, message) for r in records]
        note = f"{message} (Braze may have processed it and does not deduplicate events: not resent)"
        return [RecordOutcome.uncertain(str(r.seq), code, note) for r in records]

    @staticmethod
    def _outcome(record: JournalRecord, outcome: RecordOutcome) -> Outcome:
        if outcome.status == "acknowledged":
            return Outcome.ok(record)
        if outcome.status == "uncertain":
            return Outcome.uncertain(record, outcome.error_code or "uncertain", outcome.error_message or "")
        return Outcome.failed(
            record, outcome.error_code or outcome.status, outcome.error_message or "", retryable=outcome.retryable
        )

    # -- configuration -----------------------------------------------------------------------
    def _check_mapping(self) -> None:
        sync, settings = self.sync, self.settings
        where = f"sync {sync.name}"
        if sync.mode is Mode.UPSERT_PROFILES:
            for field in sync.fields:
                if field in CONTROL_FIELDS:
                    raise ConfigError(
                        f"{where}: fields.{field}: the Braze destination sets the identity itself "
                        f"(identify_by: {settings.identify_by}; external_id is the sync key {sync.key!r}); "
                        "remove it from fields"
                    )
                if field in FORBIDDEN_FIELDS:
                    raise ConfigError(
                        f"{where}: fields.{field}: the warehouse records email consent only; map email_subscribe "
                        "to a consent column, or nothing"
                    )
                _check_name(where, f"fields.{field}", field)
        if sync.mode is Mode.MIRROR_LISTS:
            if settings.membership == "array":
                _check_name(where, "settings.membership_attribute", settings.membership_attribute)
                if settings.membership_attribute in STANDARD_FIELDS | CONTROL_FIELDS:
                    raise ConfigError(f"{where}: settings.membership_attribute cannot be the Braze profile "
                                      f"field {settings.membership_attribute!r}")
            for segment, value in sync.lists.items():
                if "|" in value or not value or len(value) > 255:
                    raise ConfigError(f"{where}: lists.{segment}: {value!r} must be 1-255 characters without '|'")
                if settings.membership == "booleans":
                    _check_name(where, f"lists.{segment}", value)
                    if value in STANDARD_FIELDS | CONTROL_FIELDS | FORBIDDEN_FIELDS:
                        raise ConfigError(f"{where}: lists.{segment}: {value!r} is a Braze profile field; name a "
                                          "custom attribute, e.g. segment_" + segment)


def _check_name(where: str, label: str, name: str) -> None:
    if name.startswith("properties."):
        raise ConfigError(
            f"{where}: {label}: Braze has no 'properties' namespace; custom attributes sit beside the profile "
            f"fields: write {name.removeprefix('properties.')!r}"
        )
    if not name or len(name) > 255 or name.startswith("$") or "." in name:
        raise ConfigError(f"{where}: {label}: {name!r} is not a Braze attribute name (1-255 characters, "
                          "not starting with '$', no '.')")


def _iso_time(value: Any) -> str:
    """A warehouse timestamp as ISO 8601, in UTC unless it names its zone; now when there is none."""
    if value is None or str(value).strip() == "":
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = str(value).strip().replace(" ", "T", 1)
    if "T" not in text:
        text += "T00:00:00"
    clock = text.partition("T")[2]
    if re.search(r"[+-]\d{2}$", clock):  # DuckDB's timestamptz: +00
        return text + ":00"
    return text if _TZ.search(clock) else text + "Z"


def _message(response: httpx.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300]
    if isinstance(document, dict):
        errors = document.get("errors") or []
        detail = document.get("message") or ""
        extra = "; ".join(str(e.get("type", e)) if isinstance(e, dict) else str(e) for e in errors[:3])
        return (f"{detail} ({extra})" if extra and extra != detail else str(detail))[:500]
    return str(document)[:300]
