"""The sender reads pending journal records a page (engine.READ_PAGE) at a time and holds back each page's
last batch to pack it with the next page: small pages change neither what is sent nor how many requests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from contact_exports import contact_key, contacts_export

from activation import engine as engine_module
from activation.config import Mode
from activation.db import Warehouse
from activation.destinations.base import Batch, Destination, JournalRecord, Outcome
from activation.engine import Engine
from activation.state import StateStore

RECORDS = 95
PER_REQUEST = 10


class Recorder(Destination):
    """Packs PER_REQUEST records a request and acknowledges everything; remembers what it was given."""

    def __init__(self) -> None:
        self.name = "recorder"
        self.max_concurrency = 2
        self.handed: list[int] = []  # records per batches() call
        self.sent: list[list[str]] = []

    def supports(self, mode: Mode) -> bool:
        return True

    def batches(self, mode: Mode, operation: str, records: Iterable[JournalRecord]) -> Iterator[Batch]:
        records = list(records)
        self.handed.append(len(records))
        for start in range(0, len(records), PER_REQUEST):
            yield Batch(mode, operation, records[start : start + PER_REQUEST])

    def send(self, batch: Batch) -> list[Outcome]:
        self.sent.append([record.record_key for record in batch.records])
        return [Outcome.ok(record) for record in batch.records]


@pytest.mark.parametrize("page", [7, 10, 1000])
def test_small_pages_send_every_record_once_in_order_with_the_fewest_requests(tmp_path: Path, monkeypatch, page):
    path, sync = contacts_export(tmp_path, RECORDS)
    monkeypatch.setattr(engine_module, "READ_PAGE", page)
    destination = Recorder()
    with Warehouse.open(path) as warehouse:
        engine = Engine(warehouse, StateStore(warehouse), "exports", lambda s: destination, progress=False)
        result = engine.run(sync)
        synced = warehouse.fetchone("select count(*) from activation.sync_state where status = 'synced'")

    assert result.acknowledged == RECORDS and synced == (RECORDS,)
    assert len(destination.sent) == -(-RECORDS // PER_REQUEST), "a page edge must not add a part-filled request"
    assert sorted(key for batch in destination.sent for key in batch) == [contact_key(i) for i in range(RECORDS)]
    # a page plus the batch held back from the one before is all the sender holds at once
    assert max(destination.handed) <= page + PER_REQUEST
