"""A generic signed webhook: JSON batches POSTed to an in-house system.

Every mode is supported; the receiver decides what a record means. One
request carries up to ``batch_size`` records (default 500) and ``max_bytes``
bytes (default 1,000,000)::

    POST <url>
    Content-Type: application/json
    X-Timestamp: 1795176000
    X-Signature: sha256=<hex HMAC-SHA256(secret, X-Timestamp + "." + raw body)>
    Idempotency-Key: <64 hex: the batch's content, see below>

    {"sync": "crm_profiles", "mode": "upsert_profiles", "operation": "ADD",
     "batch_id": "<the Idempotency-Key>",
     "records": [{"key": "c1", "operation": "ADD", "payload": {...}}, ...]}

Payloads per mode (``payload``):

- ``upsert_profiles``: the mapped fields; with null_policy skip a null is
  left out (keep your value), with clear it is sent as null (clear it).
- ``mirror_lists``: ``{"list_id", "email"}``; operation ``REMOVE`` means
  remove that membership; every other operation means add it.
- ``trigger_events``: ``{"metric", "email", "time" (ISO 8601, UTC),
  "properties"}``; ``key`` is the event's deterministic unique id.
- ``propagate_deletions``: ``{"email"}``: erase that person.

Operations are the planner's: ADD, CHANGE, RETRY (sent again after a failed
attempt) and REMOVE (mirror_lists only). Only REMOVE is destructive; every
other operation means "make the payload true".

Signature: the secret is the ``secret`` credential's environment variable.
Each attempt (retries too) is signed afresh with its own timestamp, so a
receiver can hold a short replay window (5 minutes) however long the retries
take; the body and the Idempotency-Key stay the same.

Idempotency-Key: a SHA-256 over the sync name, mode and operation and, per
record, its key, operation, payload hash and the key of the batch that last
carried it (kept as the record's ``destination_ref``). It is the same when
the same journal batch is sent again (a transport retry, or a resend after a
crash before the outcome was committed), and different for any other batch,
including the same payload sent by a later run (a membership added, removed
and added again; a failed record retried). A receiver that stores the first
answer per key and replays it applies each batch once.

Answers: 2xx acknowledges every record, unless the JSON body has
``{"results": [{"key", "status": "ok"|"error", "error", "code"?,
"retryable"?}]}``: each ``error`` fails that record (kept against its key and
retried next run); records not listed are acknowledged. 400, 413 and 422
refuse the batch's content: it is halved until the bad records are isolated.
401/403 (signature, secret or clock) and 404/405 (URL) stop the run with a
configuration error. 429, 5xx, 408, timeouts and resets are retried by the
transport with backoff. See docs/destinations/webhook.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from activation.config import Mode, NullPolicy, Sync
from activation.destinations.base import FAILED, Batch, Destination, JournalRecord, Outcome
from activation.errors import BatchRejected, ConfigError
from activation.transport.batching import pack
from activation.transport.client import Transport, tls_context
from activation.transport.limits import DestinationLimits, EndpointClass, RateLimit
from activation.transport.outcomes import RecordOutcome
from activation.transport.split import send_with_split

ENDPOINT = "deliver"
SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_PREFIX = "sha256="
KEY_VERSION = "activation-webhook/1"
SPLIT_STATUSES = frozenset({400, 413, 422})  # the batch's content was refused: halve it
USER_AGENT = "activation-webhook/1"


class WebhookSettings(BaseModel):
    """``destination.settings`` of a webhook sync (unknown keys are refused, to catch typos)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(default=None, description="Full URL to POST to (or base_url plus path).")
    path: str | None = Field(default=None, description="Path below base_url (default /).")
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 500
    max_bytes: Annotated[int, Field(ge=1_000)] = 1_000_000
    max_record_bytes: Annotated[int, Field(ge=1)] | None = None
    rate_limit: list[str] = Field(default_factory=lambda: ["10/s"], description="Requests per window: N/s, N/m, N/d.")
    max_concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    timeout_seconds: Annotated[float, Field(gt=0)] | None = None
    lift_rate_limits: bool = False

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body``."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


class SigningTransport(httpx.BaseTransport):
    """Signs every attempt just before it goes on the wire (the Transport resends one built request)."""

    def __init__(self, inner: httpx.BaseTransport, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._inner = inner
        self._secret = secret.encode()
        self._clock = clock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timestamp = str(int(self._clock()))
        request.headers[TIMESTAMP_HEADER] = timestamp
        request.headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, request.content)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _canonical_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def idempotency_key(sync_name: str, mode: str, operation: str, entries: Iterable[tuple[str, str, Any, str | None]]) -> str:
    """SHA-256 hex over the sync, mode, operation and each (record key, operation, payload, previous ref)."""
    digest = hashlib.sha256(json.dumps([KEY_VERSION, sync_name, mode, operation]).encode() + b"\n")
    for key, record_operation, payload, previous in entries:
        digest.update(json.dumps([key, record_operation, _canonical_hash(payload), previous or ""]).encode() + b"\n")
    return digest.hexdigest()


def _iso_time(value: Any) -> Any:
    """An export's event time (UTC, 'YYYY-MM-DD HH:MM:SS[.f][+00]') as ISO 8601 with an offset."""
    if not isinstance(value, str) or not value:
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def _target(sync: Sync, settings: WebhookSettings) -> tuple[str, str]:
    """(base URL, path) of the receiver: base_url_env wins (to rehearse), then url, then base_url + path."""
    destination = sync.destination
    overridden = bool(destination.base_url_env and os.environ.get(destination.base_url_env))
    if settings.url:
        if destination.base_url and not overridden:
            raise ConfigError(f"sync {sync.name}: give the webhook destination settings.url or base_url (+ path), "
                              "not both")
        parts = urlsplit(settings.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"sync {sync.name}: settings.url {settings.url!r} is not an http(s) URL")
        path = settings.path or parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        base = destination.resolved_base_url() if overridden else f"{parts.scheme}://{parts.netloc}"
        return str(base), path
    base = destination.resolved_base_url()
    if not base:
        raise ConfigError(
            f"sync {sync.name}: the webhook destination needs settings.url, or base_url (or base_url_env) "
            "plus settings.path"
        )
    return base, settings.path or "/"


class WebhookDestination(Destination):
    name = "webhook"

    def __init__(
        self,
        sync: Sync,
        *,
        http_transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        **transport_options: Any,
    ) -> None:
        """``http_transport`` replaces the network (tests); ``clock`` stamps X-Timestamp;
        ``transport_options`` go to :class:`Transport` (max_attempts, backoff, sleep, ...)."""
        self.sync = sync
        try:
            self.settings = WebhookSettings.model_validate(dict(sync.destination.settings))
        except ValidationError as error:
            problems = "; ".join(
                f"settings.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
            )
            raise ConfigError(f"sync {sync.name}: webhook destination: {problems}") from None
        settings = self.settings
        self.base_url, self.path = _target(sync, settings)
        self.limits = DestinationLimits(
            endpoint_classes={
                ENDPOINT: EndpointClass(
                    ENDPOINT, RateLimit.parse(*settings.rate_limit), settings.batch_size, settings.max_bytes,
                    settings.max_record_bytes,
                )
            },
            max_concurrency=settings.max_concurrency,
        )
        self.max_concurrency = settings.max_concurrency
        secret = sync.destination.secret("secret")
        if http_transport is None:
            pool = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
            http_transport = httpx.HTTPTransport(limits=pool, verify=tls_context())
        timeout = settings.timeout_seconds or float(os.environ.get("ACTIVATION_HTTP_TIMEOUT") or 30)
        self.transport = Transport(
            self.base_url,
            {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT},
            self.limits,
            timeout=timeout,
            lifted=settings.lift_rate_limits or bool(transport_options.pop("lifted", False)),
            http_transport=SigningTransport(http_transport, secret, clock),
            **transport_options,
        )
        # the request envelope without records, with a batch id of the real length
        self._overhead = len(self._body("", "0" * 64, b""))

    # -- interface -------------------------------------------------------------------------
    def supports(self, mode: Mode) -> bool:
        return True

    def idempotent(self, mode: Mode, operation: str) -> bool:
        # a resent batch carries the same Idempotency-Key; the receiver applies it once
        return True

    def batches(self, mode: Mode, operation: str, records: Iterable[JournalRecord]) -> Iterator[Batch]:
        """Consecutive journal records, by count and bytes. A batch also ends where the journal sequence
        has a gap, so a resume after a crash (some batches committed, others not) packs the rest into
        the very batches it first sent, with the same Idempotency-Keys."""
        endpoint = self.limits.get(ENDPOINT)
        run: list[tuple[JournalRecord, bytes]] = []
        for record in records:
            if run and record.seq != run[-1][0].seq + 1:
                yield from self._pack(mode, operation, run, endpoint)
                run = []
            run.append((record, self._encode(mode, record)))
        yield from self._pack(mode, operation, run, endpoint)

    def send(self, batch: Batch) -> list[Outcome]:
        if batch.extra.get("oversized"):
            return [Outcome.failed(r, "too_large", batch.extra["oversized"], retryable=False) for r in batch.records]
        encoded: dict[int, bytes] = batch.extra.get("encoded") or {
            r.seq: self._encode(batch.mode, r) for r in batch.records
        }
        refs: dict[str, str] = {}  # record key -> the batch id that last carried it

        def deliver(records: list[JournalRecord]) -> list[RecordOutcome]:
            batch_id = self._batch_id(batch.mode, batch.operation, records)
            refs.update((record.record_key, batch_id) for record in records)
            body = self._body(batch.operation, batch_id, b",".join(encoded[record.seq] for record in records))
            response = self.transport.send(
                ENDPOINT, "POST", self.path, content=body, headers={IDEMPOTENCY_HEADER: batch_id}
            )
            return self._read(records, response)

        outcomes = send_with_split(batch.records, lambda rs: deliver(list(rs)), key=lambda r: r.record_key)
        by_key = {record.record_key: record for record in batch.records}
        converted = []
        for outcome in outcomes:
            record = by_key[outcome.key]
            ref = refs.get(record.record_key, record.destination_ref)
            if outcome.status == "acknowledged":
                converted.append(Outcome.ok(record, ref))
            else:
                # the ref moves on after a failure too, so the retry next run is a new batch for the receiver
                converted.append(Outcome(record.seq, FAILED, ref, outcome.error_code or outcome.status,
                                         (outcome.error_message or "")[:2000], outcome.retryable))
        return converted

    def request_stats(self) -> dict[str, int]:
        return {name: stats.requests for name, stats in self.transport.stats.items()}

    def close(self) -> None:
        self.transport.close()

    # -- encoding ----------------------------------------------------------------------------
    def payload(self, mode: Mode, record: JournalRecord) -> dict[str, Any]:
        """What the receiver gets as the record's ``payload``."""
        payload = dict(record.payload)
        if mode is Mode.UPSERT_PROFILES:
            if self.sync.null_policy is NullPolicy.SKIP:
                payload = {field: value for field, value in payload.items() if value is not None}
        elif mode is Mode.MIRROR_LISTS:
            # a REMOVE has no payload in the journal (the row left the export): rebuild it from the key
            payload = {
                "list_id": payload.get("list_id") or record.record_key.rsplit("|", 1)[-1],
                "email": payload.get("email") or record.email,
            }
        elif mode is Mode.TRIGGER_EVENTS:
            if "time" in payload:
                payload["time"] = _iso_time(payload["time"])
        elif mode is Mode.PROPAGATE_DELETIONS:
            payload = {"email": payload.get("email") or record.email}
        return payload

    def _encode(self, mode: Mode, record: JournalRecord) -> bytes:
        return _dumps({"key": record.record_key, "operation": record.operation, "payload": self.payload(mode, record)})

    def _body(self, operation: str, batch_id: str, records: bytes) -> bytes:
        """The request body; records are spliced in already encoded (each was encoded once, to pack it)."""
        head = _dumps({"sync": self.sync.name, "mode": self.sync.mode.value, "operation": operation,
                       "batch_id": batch_id})
        return head[:-1] + b',"records":[' + records + b"]}"

    def _batch_id(self, mode: Mode, operation: str, records: list[JournalRecord]) -> str:
        entries = ((r.record_key, r.operation, self.payload(mode, r), r.destination_ref) for r in records)
        return idempotency_key(self.sync.name, mode.value, operation, entries)

    def _pack(
        self, mode: Mode, operation: str, run: list[tuple[JournalRecord, bytes]], endpoint: EndpointClass
    ) -> Iterator[Batch]:
        if not run:
            return
        oversized: list[tuple[tuple[JournalRecord, bytes], str]] = []
        for chunk in pack(
            run,
            endpoint.max_records,
            endpoint.max_bytes,
            lambda pair: pair[1],
            on_rejected=lambda pair, why: oversized.append((pair, why)),
            overhead=self._overhead + len(_dumps(operation)) - 2,
            separator=1,
            max_record_bytes=endpoint.max_record_bytes,
        ):
            yield Batch(mode, operation, [record for record, _ in chunk],
                        extra={"encoded": {record.seq: data for record, data in chunk}})
        for (record, _), why in oversized:
            yield Batch(mode, operation, [record], extra={"oversized": why})

    # -- answers -----------------------------------------------------------------------------
    def _read(self, records: list[JournalRecord], response: httpx.Response) -> list[RecordOutcome]:
        status = response.status_code
        if 200 <= status < 300:
            return self._results(records, response)
        detail = _error_detail(response)
        if status in SPLIT_STATUSES:
            raise BatchRejected(f"the receiver refused the batch ({status}): {detail}", code=f"http_{status}")
        if status in (401, 403):
            raise ConfigError(
                f"sync {self.sync.name}: the webhook receiver refused the request ({status}: {detail.rstrip('.')}). "
                f"Check that it verifies with the same secret as {self.sync.destination.credentials.get('secret')} "
                "and that both clocks are right (the timestamp is signed)."
            )
        if status in (404, 405):
            raise ConfigError(
                f"sync {self.sync.name}: the webhook receiver answered {status} for POST {self.path} at "
                f"{self.base_url} ({detail}); check settings.url / base_url and path"
            )
        return [RecordOutcome.failed(r.record_key, f"http_{status}", f"HTTP {status}: {detail}") for r in records]

    @staticmethod
    def _results(records: list[JournalRecord], response: httpx.Response) -> list[RecordOutcome]:
        """2xx: every record acknowledged, except those the optional ``results`` list reports as errors."""
        reported: dict[str, Mapping[str, Any]] = {}
        if response.content:
            try:
                document = response.json()
            except ValueError:
                document = None
            results = document.get("results") if isinstance(document, dict) else None
            if isinstance(results, list):
                reported = {str(item["key"]): item for item in results if isinstance(item, dict) and "key" in item}
        outcomes = []
        for record in records:
            item = reported.get(record.record_key)
            status = item.get("status", "ok") if item else "ok"
            if status == "ok":
                outcomes.append(RecordOutcome.acknowledged(record.record_key))
                continue
            assert item is not None
            code = str(item.get("code") or ("receiver_error" if status == "error" else f"status_{status}"))
            message = str(item.get("error") or item.get("message") or f"the receiver answered status {status!r}")
            outcomes.append(RecordOutcome.failed(record.record_key, code, message,
                                                 retryable=bool(item.get("retryable", False))))
        return outcomes


def _error_detail(response: httpx.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300] or response.reason_phrase
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("code") or error)[:300]
        if error or document.get("message"):
            parts = [str(part) for part in (error, document.get("message")) if part]
            return ": ".join(parts)[:300]
    return json.dumps(document)[:300]
