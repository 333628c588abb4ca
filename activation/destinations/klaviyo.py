"""Klaviyo: profiles through bulk import jobs, lists, trigger events, data-privacy deletions.

API revision 2026-07-15 (contracts/klaviyo). What each mode sends:

- ``upsert_profiles``: POST /api/profile-bulk-import-jobs with up to 10,000
  profiles / 5 MB per job (100 KB per profile), then GET the job until it
  is complete, then GET its import-errors when some profiles failed; each
  error is mapped back to its record by email. Mapped fields named
  ``properties.x`` become custom properties; the others are profile
  attributes (email, external_id, first_name, ...). With null_policy skip a
  null is left out (Klaviyo keeps its value); with clear it is sent as null
  (Klaviyo clears it).
- ``mirror_lists``: ADD imports the members' emails in a bulk job whose
  ``relationships.lists`` names the list (no Klaviyo ids needed, 10,000 per
  request instead of 1,000); REMOVE resolves Klaviyo profile ids by email
  (GET /api/profiles, 100 per page, kept in the state) and calls DELETE
  /api/lists/{id}/relationships/profiles with up to 1,000 ids. Removal never
  touches consent (no unsubscribe call exists in this module).
- ``trigger_events``: POST /api/events per event with the row's unique_id,
  so a resend after a crash is recorded once by Klaviyo.
- ``propagate_deletions``: POST /api/data-privacy-deletion-jobs per email.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import Any

import httpx

from activation.config import Mode, NullPolicy, Sync
from activation.destinations.base import Batch, Destination, JournalRecord, Outcome, grouped_batches, single_batches
from activation.errors import BatchRejected, ConfigError, DestinationError, TransportError
from activation.transport.batching import pack
from activation.transport.client import Transport
from activation.transport.limits import DestinationLimits, EndpointClass, RateLimit
from activation.transport.outcomes import RecordOutcome
from activation.transport.split import send_with_split

BASE_URL = "https://a.klaviyo.com"
REVISION = "2026-07-15"
CONTENT_TYPE = "application/vnd.api+json"
# Klaviyo documents "5 MB" and "100 KB"; read as decimal units, the stricter reading (as the simulator does)
MB = 1_000_000
KB = 1_000

# Declared from the contract's x-klaviyo-ratelimit (a test compares them).
LIMITS = DestinationLimits(
    endpoint_classes={
        "bulk_import": EndpointClass("bulk_import", RateLimit.parse("10/s", "150/m"), 10_000, 5 * MB, 100 * KB),
        "bulk_import_status": EndpointClass("bulk_import_status", RateLimit.parse("10/s", "150/m"), 1, MB),
        "bulk_import_errors": EndpointClass("bulk_import_errors", RateLimit.parse("10/s", "150/m"), 1, MB),
        "profiles_lookup": EndpointClass("profiles_lookup", RateLimit.parse("75/s", "750/m"), 100, MB),
        "list_add": EndpointClass("list_add", RateLimit.parse("10/s", "150/m"), 1_000, 5 * MB),
        "list_remove": EndpointClass("list_remove", RateLimit.parse("10/s", "150/m"), 1_000, 5 * MB),
        "events": EndpointClass("events", RateLimit.parse("350/s", "3500/m"), 1, 5 * MB),
        "deletion": EndpointClass("deletion", RateLimit.parse("3/s", "60/m"), 1, MB),
    },
    max_concurrency=4,
)
# the contract's operation behind each endpoint class
OPERATIONS = {
    "bulk_import": ("POST", "/api/profile-bulk-import-jobs"),
    "bulk_import_status": ("GET", "/api/profile-bulk-import-jobs/{job_id}"),
    "bulk_import_errors": ("GET", "/api/profile-bulk-import-jobs/{id}/import-errors"),
    "profiles_lookup": ("GET", "/api/profiles"),
    "list_add": ("POST", "/api/lists/{id}/relationships/profiles"),
    "list_remove": ("DELETE", "/api/lists/{id}/relationships/profiles"),
    "events": ("POST", "/api/events"),
    "deletion": ("POST", "/api/data-privacy-deletion-jobs"),
}
JOB_DONE = {"complete", "cancelled"}
# Batch.extra key: journal seq -> the profile's JSON bytes, encoded once when the batch was packed
ENCODED = "encoded_profiles"
# where the profiles go in an import job's JSON body
PROFILES_MARKER = b'"profiles":{"data":[]'

POLL_FIRST, POLL_MAX, POLL_DEADLINE = 0.1, 2.0, 600.0
POLL_LEARN = 0.8  # a job's first wait: this share of the wait the previous job needed (see _wait_for)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class KlaviyoDestination(Destination):
    name = "klaviyo"

    def __init__(self, sync: Sync, *, transport: Transport | None = None, lifted: bool = False) -> None:
        self.sync = sync
        if transport is None:
            api_key = sync.destination.secret("api_key")
            transport = Transport(
                sync.destination.resolved_base_url() or BASE_URL,
                {
                    "Authorization": f"Klaviyo-API-Key {api_key}",
                    "revision": REVISION,
                    "Accept": CONTENT_TYPE,
                    "Content-Type": CONTENT_TYPE,
                },
                LIMITS,
                timeout=float(sync.destination.settings.get("timeout_seconds") or os.environ.get("ACTIVATION_HTTP_TIMEOUT") or 30),
                lifted=lifted or bool(sync.destination.settings.get("lift_rate_limits")),
            )
        self.transport = transport
        self.max_concurrency = LIMITS.max_concurrency
        self._job_wait = 0.0  # seconds of waiting the last import job needed before a GET found it done

    # -- interface -------------------------------------------------------------------------
    def supports(self, mode: Mode) -> bool:
        return True

    def batches(self, mode: Mode, operation: str, records: Iterable[JournalRecord]) -> Iterator[Batch]:
        if mode is Mode.UPSERT_PROFILES or (mode is Mode.MIRROR_LISTS and operation != "REMOVE"):
            yield from self._import_batches(mode, operation, records)
        elif mode is Mode.MIRROR_LISTS:
            yield from grouped_batches(
                mode, operation, records, self._list_of, LIMITS.get("list_remove").max_records
            )
        else:
            yield from single_batches(mode, operation, records)

    @staticmethod
    def _list_of(record: JournalRecord) -> str:
        """The list id of a membership record (its key is contact_key|list_id)."""
        return record.record_key.rsplit("|", 1)[-1]

    def send(self, batch: Batch) -> list[Outcome]:
        try:
            if batch.extra.get("oversized"):
                return [Outcome.failed(r, "too_large", batch.extra["oversized"], retryable=False) for r in batch.records]
            if batch.mode is Mode.TRIGGER_EVENTS:
                return self._send_event(batch.records[0])
            if batch.mode is Mode.PROPAGATE_DELETIONS:
                return self._send_deletion(batch.records[0])
            if batch.mode is Mode.MIRROR_LISTS and batch.operation == "REMOVE":
                return self._remove_from_list(batch)
            return self._import(batch)
        except TransportError as error:
            # retries exhausted: nothing about these records is known; they are retried next run
            return [Outcome.failed(r, "transport", str(error)) for r in batch.records]

    def request_stats(self) -> dict[str, int]:
        return {name: stats.requests for name, stats in self.transport.stats.items()}

    def close(self) -> None:
        self.transport.close()

    # -- profiles and list adds: bulk import jobs ---------------------------------------------
    def _profile(self, record: JournalRecord) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        skip_nulls = self.sync.null_policy is NullPolicy.SKIP
        if self.sync.mode is Mode.MIRROR_LISTS:
            return {"type": "profile", "attributes": {"email": record.payload["email"]}}
        for field, value in record.payload.items():
            if value is None and skip_nulls:
                continue
            if field.startswith("properties."):
                properties[field.removeprefix("properties.")] = value
            else:
                attributes[field] = value
        if properties:
            attributes["properties"] = properties
        return {"type": "profile", "attributes": attributes}

    def _import_batches(self, mode: Mode, operation: str, records: Iterable[JournalRecord]) -> Iterator[Batch]:
        endpoint = LIMITS.get("bulk_import")
        groups: dict[str | None, list[JournalRecord]] = {}
        for record in records:
            group = record.payload.get("list_id") if mode is Mode.MIRROR_LISTS else None
            groups.setdefault(group, []).append(record)
        for list_id, members in groups.items():
            envelope = self._job_body([], list_id)
            oversized: list[tuple[JournalRecord, str]] = []
            # each profile is encoded once, here: the job body joins these bytes (_job_bytes)
            encoded = ((record, _dumps(self._profile(record))) for record in members)
            for chunk in pack(
                encoded,
                endpoint.max_records,
                endpoint.max_bytes,
                itemgetter(1),
                on_rejected=lambda pair, why: oversized.append((pair[0], why)),
                overhead=len(_dumps(envelope)),
                separator=1,
                max_record_bytes=endpoint.max_record_bytes,
            ):
                records = [record for record, _ in chunk]
                profiles = {record.seq: body for record, body in chunk}
                yield Batch(mode, operation, records, group=list_id, extra={ENCODED: profiles})
            for record, why in oversized:
                yield Batch(mode, operation, [record], group=list_id, extra={"oversized": why})

    @staticmethod
    def _job_body(profiles: list[dict[str, Any]], list_id: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": profiles}},
        }
        if list_id:
            data["relationships"] = {"lists": {"data": [{"type": "list", "id": list_id}]}}
        return {"data": data}

    def _job_bytes(self, records: list[JournalRecord], list_id: str | None, encoded: dict[int, bytes]) -> bytes:
        """The job body of ``records``: the same bytes as ``_dumps(self._job_body(profiles, list_id))``, built
        from each profile's bytes encoded when the batch was packed (a profile not there is encoded now)."""
        envelope = _dumps(self._job_body([], list_id))
        at = envelope.index(PROFILES_MARKER) + len(PROFILES_MARKER) - 1  # just before the profiles' "]"
        profiles = b",".join(
            encoded[record.seq] if record.seq in encoded else _dumps(self._profile(record)) for record in records
        )
        return envelope[:at] + profiles + envelope[at:]

    def _import(self, batch: Batch) -> list[Outcome]:
        """One bulk job; a job refused as a whole (400/413 naming no profile) is halved until the bad
        profiles are isolated, so one malformed record cannot hold back the other 9,999."""
        by_key = {record.record_key: record for record in batch.records}
        encoded: dict[int, bytes] = batch.extra.get(ENCODED) or {}
        outcomes = send_with_split(
            batch.records,
            lambda records: self._import_job(list(records), batch.group, encoded),
            key=lambda record: record.record_key,
        )
        converted = []
        for outcome in outcomes:
            record = by_key[outcome.key]
            if outcome.status == "acknowledged":
                converted.append(Outcome.ok(record))
            else:
                converted.append(
                    Outcome.failed(
                        record, outcome.error_code or outcome.status, outcome.error_message or "", retryable=outcome.retryable
                    )
                )
        return converted

    def _import_job(
        self, records: list[JournalRecord], list_id: str | None, encoded: dict[int, bytes] | None = None
    ) -> list[RecordOutcome]:
        body = self._job_bytes(records, list_id, encoded or {})
        response = self.transport.send("bulk_import", "POST", "/api/profile-bulk-import-jobs", content=body)
        if response.status_code in (400, 413):
            raise BatchRejected(
                f"Klaviyo refused the import job ({response.status_code}): {self._error_detail(response)}",
                code=f"http_{response.status_code}",
            )
        if response.status_code != 202:
            failed = self._whole_batch_failed(records, response)  # raises on 401/403
            return [RecordOutcome.failed(r.record_key, f.error_code or "", f.error_message or "") for r, f in zip(records, failed)]
        created = response.json()
        job_id = created["data"]["id"]
        job = self._wait_for(job_id, created)
        attributes = job["data"]["attributes"]
        if attributes.get("status") != "complete":
            message = f"import job {job_id} ended {attributes.get('status')}"
            return [RecordOutcome.failed(r.record_key, "job_" + str(attributes.get("status")), message) for r in records]
        errors = self._import_errors(job_id) if attributes.get("failed_count") else {}
        outcomes = []
        for record in records:
            email = (record.payload.get("email") or record.email or "").lower()
            error = errors.get(email)
            if error:
                outcomes.append(RecordOutcome.failed(record.record_key, error["code"], error["detail"], retryable=False))
            else:
                outcomes.append(RecordOutcome.acknowledged(record.record_key))
        return outcomes

    @staticmethod
    def _error_detail(response: httpx.Response) -> str:
        try:
            first = (response.json().get("errors") or [{}])[0]
        except ValueError:
            return response.text[:300]
        return str(first.get("detail") or first.get("title") or response.text[:300])

    def _wait_for(self, job_id: str, created: dict[str, Any]) -> dict[str, Any]:
        """The job once it is done. ``created`` is the 202's document: it already gives the job's status,
        so the first GET is not sent at once (a job is never done the instant it is queued; a poll then
        would only answer "queued") but after the first wait: POLL_FIRST, or POLL_LEARN times the wait the
        previous job of this destination needed (jobs of one sync take similar times, so most are then
        found done by their first GET; each one found so comes a little earlier for the next). A GET
        that finds the job not done is followed by waits doubling from 2 * POLL_FIRST up to POLL_MAX."""
        if ((created.get("data") or {}).get("attributes") or {}).get("status") in JOB_DONE:
            return created
        first = min(max(POLL_FIRST, POLL_LEARN * self._job_wait), POLL_DEADLINE)
        delay, waited, step = first, 0.0, min(2 * POLL_FIRST, POLL_MAX)
        while True:
            time.sleep(delay)
            waited += delay
            delay, step = step, min(step * 2, POLL_MAX)
            response = self.transport.send(
                "bulk_import_status", "GET", f"/api/profile-bulk-import-jobs/{job_id}"
            )
            if response.status_code != 200:
                raise DestinationError(f"Klaviyo import job {job_id}: GET answered {response.status_code}")
            job = response.json()
            if job["data"]["attributes"].get("status") in JOB_DONE:
                self._job_wait = waited  # what this job needed: the next one's first wait follows it
                return job
            if waited > POLL_DEADLINE:
                raise DestinationError(f"Klaviyo import job {job_id} still not complete after {waited:.0f} s")

    def _import_errors(self, job_id: str) -> dict[str, dict[str, str]]:
        """email -> {code, detail} for every profile the job rejected."""
        found: dict[str, dict[str, str]] = {}
        url: str | None = f"/api/profile-bulk-import-jobs/{job_id}/import-errors"
        params: dict[str, Any] | None = {"page[size]": 100}
        while url:
            response = self.transport.send("bulk_import_errors", "GET", url, params=params)
            if response.status_code != 200:
                raise DestinationError(f"Klaviyo import job {job_id}: import-errors answered {response.status_code}")
            document = response.json()
            for error in document.get("data", []):
                attributes = error.get("attributes", {})
                payload = attributes.get("original_payload") or {}
                email = (payload.get("email") or payload.get("attributes", {}).get("email") or "").lower()
                if email:
                    found[email] = {"code": attributes.get("code", "invalid"), "detail": attributes.get("detail", "")}
            url, params = (document.get("links") or {}).get("next"), None
        return found

    # -- list removal ------------------------------------------------------------------------
    def _resolve_ids(self, records: list[JournalRecord]) -> dict[str, str]:
        """record_key -> Klaviyo profile id, looking up by email the ones the state does not know."""
        known = {r.record_key: r.destination_ref for r in records if r.destination_ref}
        missing = [r for r in records if not r.destination_ref and r.email]
        page = LIMITS.get("profiles_lookup").max_records
        for start in range(0, len(missing), page):
            chunk = missing[start : start + page]
            emails = ",".join(json.dumps(r.email) for r in chunk)
            response = self.transport.send(
                "profiles_lookup",
                "GET",
                "/api/profiles",
                params={"filter": f"any(email,[{emails}])", "page[size]": page, "fields[profile]": "email"},
            )
            if response.status_code != 200:
                raise DestinationError(f"Klaviyo profile lookup answered {response.status_code}: {response.text[:300]}")
            by_email = {p["attributes"]["email"].lower(): p["id"] for p in response.json().get("data", [])}
            for record in chunk:
                if record.email and record.email.lower() in by_email:
                    known[record.record_key] = by_email[record.email.lower()]
        return known

    def _remove_from_list(self, batch: Batch) -> list[Outcome]:
        ids = self._resolve_ids(batch.records)
        present = [r for r in batch.records if r.record_key in ids]
        outcomes = {r.seq: Outcome.ok(r) for r in batch.records if r.record_key not in ids}  # not at Klaviyo: done
        if present:
            body = {"data": [{"type": "profile", "id": ids[r.record_key]} for r in present]}
            response = self.transport.send(
                "list_remove", "DELETE", f"/api/lists/{batch.group}/relationships/profiles", content=_dumps(body)
            )
            if response.status_code == 204:
                outcomes.update({r.seq: Outcome.ok(r, ids[r.record_key]) for r in present})
            else:
                outcomes.update({o.seq: o for o in self._whole_batch_failed(present, response)})
        return [outcomes[r.seq] for r in batch.records]

    # -- events and deletions ----------------------------------------------------------------
    def _send_event(self, record: JournalRecord) -> list[Outcome]:
        payload = record.payload
        attributes: dict[str, Any] = {
            "properties": payload.get("properties") or {},
            "unique_id": record.record_key,
            "metric": {"data": {"type": "metric", "attributes": {"name": payload["metric"]}}},
            "profile": {"data": {"type": "profile", "attributes": {"email": payload["email"]}}},
        }
        if payload.get("time"):
            attributes["time"] = str(payload["time"]).replace(" ", "T") + ("" if "+" in str(payload["time"]) else "+00:00")
        body = {"data": {"type": "event", "attributes": attributes}}
        response = self.transport.send("events", "POST", "/api/events", content=_dumps(body))
        if response.status_code == 202:
            return [Outcome.ok(record)]
        return self._whole_batch_failed([record], response)

    def _send_deletion(self, record: JournalRecord) -> list[Outcome]:
        body = {
            "data": {
                "type": "data-privacy-deletion-job",
                "attributes": {"profile": {"data": {"type": "profile", "attributes": {"email": record.payload["email"]}}}},
            }
        }
        response = self.transport.send("deletion", "POST", "/api/data-privacy-deletion-jobs", content=_dumps(body))
        if response.status_code == 202:
            return [Outcome.ok(record)]
        return self._whole_batch_failed([record], response)

    # -- errors ------------------------------------------------------------------------------
    @staticmethod
    def _whole_batch_failed(records: list[JournalRecord], response: httpx.Response) -> list[Outcome]:
        """A 4xx for the whole request: every record failed with Klaviyo's error (retried next run)."""
        try:
            errors = response.json().get("errors") or [{}]
        except ValueError:
            errors = [{}]
        first = errors[0]
        code = str(first.get("code") or response.status_code)
        detail = first.get("detail") or first.get("title") or response.text[:300]
        if response.status_code in (401, 403):
            raise ConfigError(f"Klaviyo refused the API key ({response.status_code}: {detail}); check the credential")
        return [Outcome.failed(r, code, f"HTTP {response.status_code}: {detail}") for r in records]
