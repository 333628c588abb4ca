"""DuckDB's memory settings on activation's connection: a bounded default memory limit, and the plan's wide
writes (payloads, journal) on one thread (see DECISIONLOG.md, "Peak memory of a first sync of a million")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from contact_exports import contacts_export

from activation.db import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_ENV, Warehouse
from activation.engine import Engine
from activation.errors import ConfigError
from activation.state import StateStore


def _memory_limit_bytes(warehouse: Warehouse) -> int:
    row = warehouse.fetchone("select value from duckdb_settings() where name = 'memory_limit'")
    assert row is not None
    return _parse(row[0])


def _parse(text: str) -> int:
    """DuckDB's text of a size (e.g. '244.1 MiB') in bytes, to a tenth of its unit."""
    number, unit = text.split()
    return int(float(number) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "memory.duckdb"
    duckdb.connect(str(path)).close()
    return path


def test_the_connection_gets_a_bounded_memory_limit_when_none_is_set(db, monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    assert DEFAULT_MEMORY_LIMIT == "256MB"
    with Warehouse.open(db) as warehouse:
        assert abs(_memory_limit_bytes(warehouse) - 256 * 10**6) < 2**20 // 5


def test_the_environment_sets_the_limit_and_default_keeps_duckdbs_own(db, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1GB")
    with Warehouse.open(db) as warehouse:
        assert abs(_memory_limit_bytes(warehouse) - 10**9) < 2**20 // 5
    with duckdb.connect(str(db)) as con:
        duckdb_own = con.execute("select value from duckdb_settings() where name = 'memory_limit'").fetchone()[0]
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "default")
    with Warehouse.open(db) as warehouse:
        assert _memory_limit_bytes(warehouse) == _parse(duckdb_own)


def test_a_limit_duckdb_cannot_read_is_a_config_error(db, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ConfigError, match="not a DuckDB memory limit"):
        Warehouse.open(db)


def _threads(warehouse: Warehouse) -> int:
    row = warehouse.fetchone("select current_setting('threads')")
    assert row is not None
    return int(row[0])


def test_bulk_write_runs_on_one_thread_and_restores_the_count_even_after_an_error(db):
    with Warehouse.open(db) as warehouse:
        warehouse.execute("set threads = 3")
        with warehouse.bulk_write():
            assert _threads(warehouse) == 1
        assert _threads(warehouse) == 3
        with pytest.raises(RuntimeError), warehouse.bulk_write():
            raise RuntimeError("boom")
        assert _threads(warehouse) == 3


def test_the_plan_writes_payloads_and_journal_on_one_thread_and_plans_the_same(tmp_path, monkeypatch):
    path, sync = contacts_export(tmp_path, 500)
    seen: dict[str, int] = {}
    with Warehouse.open(path) as warehouse:
        warehouse.execute("set threads = 2")
        execute, create = warehouse.execute, warehouse.create_temp_table

        def spy_execute(sql: str, parameters: Any = None) -> None:
            if "insert into" in sql and "journal" in sql:
                seen["journal"] = _threads(warehouse)
            execute(sql, parameters)

        def spy_create(name: str, sql: str, parameters: Any = None) -> None:
            seen[name.split("_")[0]] = _threads(warehouse)
            create(name, sql, parameters)

        monkeypatch.setattr(warehouse, "execute", spy_execute)
        monkeypatch.setattr(warehouse, "create_temp_table", spy_create)
        engine = Engine(warehouse, StateStore(warehouse), "exports", lambda s: None, progress=False)  # type: ignore[arg-type,return-value]
        plan = engine.plan_only(sync)
        after = _threads(warehouse)
    assert plan.counts["ADD"] == 500
    assert seen == {"judged": 2, "plan": 2, "seq": 2, "payload": 1, "journal": 1}
    assert after == 2
