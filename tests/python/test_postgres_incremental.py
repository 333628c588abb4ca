"""Incremental builds on PostgreSQL equal a full refresh (the DuckDB test_incremental, on
the postgres target).

Raw events land in three loads with late rows and duplicates straddling the cut-offs
(raw_loads); after each load only the event models run incrementally (window_replace).
The result must equal one full build of all the rows. Needs a PostgreSQL server (PG*
variables, defaults of scripts/postgres.sh), started by the postgres_server fixture when none answers.
Each build gets its own database, created and dropped here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from dbt_runner import PROJECT_DIR, dbt, query
from raw_loads import assign_loads, land

from datagen import write_duckdb

pytestmark = pytest.mark.postgres

EVENT_MODELS = ["base_segment__events", "stg_segment__events", "stg_segment__events_quarantine"]
RAW_TABLES = ["events", "customers", "orders", "order_items", "products", "email_events", "consents",
              "privacy_requests"]
AS_OF = "2026-11-20 12:00:00"


def _connect(dbname: str):
    psycopg = pytest.importorskip("psycopg", reason="psycopg 3 not installed (pip install -e '.[postgres]')")
    from datagen.loaders.postgres import connection_settings

    settings = {**connection_settings(), "dbname": dbname}
    return psycopg.connect(**settings, connect_timeout=3, autocommit=True)


@pytest.fixture
def databases(postgres_server):
    """Two empty databases (full, incremental), dropped afterwards, on the server the
    postgres_server fixture started (or found); no server fails the test, it never skips."""
    admin = _connect("postgres")
    names = ["ep_test_full_refresh", "ep_test_incremental"]
    for name in names:
        admin.execute(f"drop database if exists {name} with (force)")
        admin.execute(f"create database {name}")
    yield names
    for name in names:
        admin.execute(f"drop database if exists {name} with (force)")
    admin.close()


def _env(database: str) -> dict[str, str]:
    return {**os.environ, "PGDATABASE": database, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def _load(raw: Path, database: str, tables: list[str]) -> None:
    command = [sys.executable, "-m", "datagen", "load", "--db", str(raw), "--target", "postgres", "--quiet"]
    for table in tables:
        command += ["--table", table]
    completed = subprocess.run(command, cwd=PROJECT_DIR, env=_env(database), capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def _dbt(args: list[str], database: str, work: Path) -> None:
    command = [*args, "--target", "postgres", "--vars", f'{{as_of: "{AS_OF}"}}',
               "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
               "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    dbt(command, PROJECT_DIR, _env(database)).check()


def _rows(database: str, relation: str) -> Counter:
    with _connect(database) as connection:
        return Counter(map(repr, connection.execute(f"select * from staging.{relation}").fetchall()))


def test_incremental_batches_equal_full_refresh_on_postgres(tmp_path, small_dataset, databases):
    full_db, incremental_db = databases
    full_raw, batched_raw = tmp_path / "full.duckdb", tmp_path / "batched.duckdb"
    write_duckdb(small_dataset, full_raw, schema="raw", mode="replace")
    write_duckdb(small_dataset, batched_raw, schema="raw", mode="replace")

    _load(full_raw, full_db, RAW_TABLES)
    _dbt(["seed"], full_db, tmp_path)
    _dbt(["run", "--full-refresh", "--select", *EVENT_MODELS], full_db, tmp_path)

    first, last = query(batched_raw, "select min(received_at), max(received_at) from raw.events")[0]
    loads = assign_loads(batched_raw, [first + (last - first) * 0.5, first + (last - first) * 0.8])
    assert loads[1][1] > 0 and loads[2][1] > 0, "later loads must carry late-landing rows"
    for load in sorted(loads):
        land(batched_raw, load)
        _load(batched_raw, incremental_db, RAW_TABLES if load == 0 else ["events"])
        if load == 0:
            _dbt(["seed"], incremental_db, tmp_path)  # needs the raw tables (on-run-start checks them)
        _dbt(["run", "--select", *EVENT_MODELS], incremental_db, tmp_path)

    for relation in EVENT_MODELS:
        full, incremental = _rows(full_db, relation), _rows(incremental_db, relation)
        assert sum(full.values()) > 0, relation
        assert (sum((full - incremental).values()), sum((incremental - full).values())) == (0, 0), relation
