"""The sender reads pending journal records a page (engine.READ_PAGE) at a time and holds back each page's
last batch to pack it with the next page: small pages change neither what is sent nor how many requests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from activation import engine as engine_module
from activation.config import Mode, load_syncs
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
    path = tmp_path / "pages.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema exports")
        con.execute(
            "create table exports.contacts as select printf('k%03d', i) as contact_key, "
            f"printf('p%03d@x.io', i) as email, i as score from range({RECORDS}) as t(i)"
        )
    syncs = tmp_path / "syncs.yml"
    syncs.write_text(yaml.safe_dump({"version": 1, "syncs": [{
        "name": "contacts", "source": "contacts", "key": "contact_key", "mode": "upsert_profiles",
        "destination": {"type": "webhook", "settings": {"url": "https://example.invalid/hook"}},
        "fields": {"email": "email", "score": "score"},
    }]}))
    sync = load_syncs(syncs).syncs[0]
    monkeypatch.setattr(engine_module, "READ_PAGE", page)
    destination = Recorder()
    with Warehouse.open(path) as warehouse:
        engine = Engine(warehouse, StateStore(warehouse), "exports", lambda s: destination, progress=False)
        result = engine.run(sync)
        synced = warehouse.fetchone("select count(*) from activation.sync_state where status = 'synced'")

    assert result.acknowledged == RECORDS and synced == (RECORDS,)
    assert len(destination.sent) == -(-RECORDS // PER_REQUEST), "a page edge must not add a part-filled request"
    assert sorted(key for batch in destination.sent for key in batch) == [f"k{i:03d}" for i in range(RECORDS)]
    # a page plus the batch held back from the one before is all the sender holds at once
    assert max(destination.handed) <= page + PER_REQUEST
