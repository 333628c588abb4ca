"""For an ESP that does not deduplicate (Braze events), an interrupted send is never repeated.

A batch of a non-idempotent destination is committed as in flight before it
is sent. If the process dies before its outcome is committed, the next run
does not resend it (the ESP may already have it and would count it twice):
it is recorded as uncertain, and everything still pending is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import duckdb
import pytest

from activation.config import Mode, Sync
from activation.db import Warehouse
from activation.destinations.base import Batch, Destination, JournalRecord, Outcome
from activation.engine import Engine
from activation.state import StateStore

SYNC = Sync.model_validate(
    {
        "name": "events",
        "source": "cart_events",
        "key": "event_id",
        "destination": {"type": "braze"},
        "mode": "trigger_events",
        "event": {"metric": "Cart Abandoned", "unique_id": "event_id"},
    }
)


class Crash(BaseException):
    """Stands in for kill -9 in-process: nothing after it runs."""


class NonDeduplicatingEsp(Destination):
    name = "esp"

    def __init__(self, received: list[str], crash_on_batch: int | None = None) -> None:
        self.received = received
        self.crash_on_batch = crash_on_batch
        self.batches_sent = 0

    def supports(self, mode: Mode) -> bool:
        return True

    def idempotent(self, mode: Mode, operation: str) -> bool:
        return False

    def batches(self, mode: Mode, operation: str, records: Iterable[JournalRecord]) -> Iterator[Batch]:
        records = list(records)
        for start in range(0, len(records), 10):
            yield Batch(mode, operation, records[start : start + 10])

    def send(self, batch: Batch) -> list[Outcome]:
        self.batches_sent += 1
        self.received.extend(record.record_key for record in batch.records)  # the ESP has them now
        if self.batches_sent == self.crash_on_batch:
            raise Crash  # ... but the process dies before the outcome is committed
        return [Outcome.ok(record) for record in batch.records]


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema exports")
        con.execute(
            "create table exports.cart_events as select 'e' || lpad(i::varchar, 3, '0') as event_id, "
            "'c' || i || '@example.com' as email from range(50) t(i)"
        )
    return Warehouse.open_duckdb(path)


def test_an_interrupted_non_idempotent_batch_is_never_resent(warehouse):
    received: list[str] = []
    store = StateStore(warehouse)
    crashing = Engine(warehouse, store, "exports", lambda s: NonDeduplicatingEsp(received, crash_on_batch=3), progress=False)
    with pytest.raises(Crash):
        crashing.run(SYNC)
    assert len(received) == 30  # two batches committed, the third reached the ESP, then the crash
    engine = Engine(warehouse, store, "exports", lambda s: NonDeduplicatingEsp(received), progress=False)
    result = engine.run(SYNC)
    assert sorted(received) == sorted(set(received)), "an event reached the ESP twice"
    assert len(received) == 50, "every event was sent once"
    states = dict(warehouse.fetchall("select status, count(*) from activation.sync_state group by 1"))
    assert states == {"synced": 40, "uncertain": 10}
    assert result.counts["ADD"] == 0  # the interrupted run was completed; the new plan had nothing left
    # and later runs never resend the uncertain ones
    assert engine.run(SYNC).sent == 0 and len(received) == 50
