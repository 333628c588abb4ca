"""The one small interface every destination implements.

The engine hands a destination journal records of one mode and operation;
the destination packs them into request-sized batches by its own limits
(`batches`), sends one batch (`send`) and answers with one outcome per
record. Everything vendor-specific (payload shape, endpoints, async jobs,
error formats) stays behind these two methods, so the engine has no special
case for any ESP.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from activation.config import Mode

ACKNOWLEDGED = "acknowledged"
FAILED = "failed"
UNCERTAIN = "uncertain"  # the engine's status for a send that may or may not have reached the ESP


@dataclass(frozen=True)
class JournalRecord:
    """One planned operation on one record, as stored in the journal."""

    seq: int
    record_key: str
    email: str | None
    operation: str
    payload: Mapping[str, Any]
    destination_ref: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What the destination said about one record of a batch."""

    seq: int
    status: str  # acknowledged | failed | uncertain
    destination_ref: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retryable: bool = True

    @classmethod
    def ok(cls, record: JournalRecord, destination_ref: str | None = None) -> Outcome:
        return cls(record.seq, ACKNOWLEDGED, destination_ref or record.destination_ref)

    @classmethod
    def failed(cls, record: JournalRecord, code: str, message: str, *, retryable: bool = True) -> Outcome:
        return cls(record.seq, FAILED, record.destination_ref, code, message[:2000], retryable)

    @classmethod
    def uncertain(cls, record: JournalRecord, code: str, message: str) -> Outcome:
        """A non-idempotent send whose request may have reached the ESP without an answer saying so
        (a read timeout, a reset, a 5xx). Recorded as uncertain and never resent: a resend could
        count twice at an ESP that does not deduplicate. A person checks the ESP."""
        return cls(record.seq, UNCERTAIN, record.destination_ref, code, message[:2000], False)


@dataclass
class Batch:
    """Records that go out in one request (or one asynchronous job)."""

    mode: Mode
    operation: str
    records: list[JournalRecord]
    group: str | None = None  # e.g. the list id of a membership batch
    bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Destination(ABC):
    """A vendor API behind one interface."""

    name: str
    # batches the engine may have in flight at once (the ESP's connection or concurrency limit)
    max_concurrency: int = 1

    @abstractmethod
    def supports(self, mode: Mode) -> bool:
        """Whether this destination can run syncs of `mode`."""

    @abstractmethod
    def batches(self, mode: Mode, operation: str, records: Iterable[JournalRecord]) -> Iterator[Batch]:
        """Pack records into request-sized batches (count and bytes limits of the endpoint)."""

    def idempotent(self, mode: Mode, operation: str) -> bool:
        """Whether sending the same batch twice is harmless at this ESP (upserts, set membership,
        events the ESP deduplicates). When False the engine marks the batch in flight before
        sending it and never resends an in-flight batch after a crash: at most once, and an
        interrupted send is reported as uncertain instead of risking a duplicate."""
        return True

    @abstractmethod
    def send(self, batch: Batch) -> list[Outcome]:
        """Send one batch; one outcome per record. Raises only when nothing about the batch is known."""

    def request_stats(self) -> dict[str, int]:
        """Requests sent so far, by endpoint class (for run records and benchmarks)."""
        return {}

    def close(self) -> None:
        """Release connections."""


def grouped_batches(
    mode: Mode, operation: str, records: Iterable[JournalRecord], group_of: Callable[[JournalRecord], str], size: int
) -> Iterator[Batch]:
    """Batches of at most `size` records that share a group (a list, a tag): one request each."""
    groups: dict[str, list[JournalRecord]] = {}
    for record in records:
        groups.setdefault(group_of(record), []).append(record)
    for group, members in groups.items():
        for start in range(0, len(members), size):
            yield Batch(mode, operation, members[start : start + size], group=group)


def single_batches(mode: Mode, operation: str, records: Iterable[JournalRecord]) -> Iterator[Batch]:
    """One record per batch (endpoints that take one event or one deletion per request)."""
    for record in records:
        yield Batch(mode, operation, [record])

