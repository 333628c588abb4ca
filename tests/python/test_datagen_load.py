"""python -m datagen load: raw tables from a DuckDB file into another engine.

The type mapping is checked without a server. The round trip runs on the test
session's PostgreSQL server (the `postgres_server` fixture starts one through
scripts/postgres.sh; POSTGRES_TESTS=skip skips it), in the session's own database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from raw_loads import raw_rows

from datagen.loaders import LoadError, available_targets, loader_module
from datagen.loaders.base import RawSource, SourceColumn
from datagen.loaders.postgres import postgres_type

ROOT = Path(__file__).resolve().parents[2]


def test_postgres_is_a_target_and_unknown_targets_are_named():
    assert "postgres" in available_targets()
    with pytest.raises(LoadError, match="no loader for target 'oracle'; available: .*postgres"):
        loader_module("oracle")


@pytest.mark.parametrize(
    ("duckdb_type", "expected"),
    [
        ("VARCHAR", "text"),
        ("TIMESTAMP", "timestamp"),
        ("TIMESTAMP WITH TIME ZONE", "timestamptz"),
        ("DECIMAL(18,2)", "numeric(18,2)"),
        ("INTEGER", "integer"),
        ("BIGINT", "bigint"),
        ("DOUBLE", "double precision"),
        ("BOOLEAN", "boolean"),
        ("DATE", "date"),
    ],
)
def test_postgres_types_hold_the_same_values(duckdb_type, expected):
    assert postgres_type(SourceColumn("c", duckdb_type), "t") == expected


def test_an_unmapped_type_fails_naming_the_column_and_the_fix():
    with pytest.raises(LoadError, match=r"t\.c has DuckDB type HUGEINT.*TYPE_MAP in datagen/loaders/postgres\.py"):
        postgres_type(SourceColumn("c", "HUGEINT"), "t")


def test_a_missing_source_says_how_to_make_it(tmp_path):
    with pytest.raises(LoadError, match="python -m datagen generate"):
        RawSource(tmp_path / "nothing.duckdb")


@pytest.mark.postgres
def test_load_copies_every_row_and_value_exactly(tmp_path, small_dataset, postgres_server):
    import psycopg

    from datagen import write_duckdb

    connection = psycopg.connect(postgres_server.url())
    source = tmp_path / "source.duckdb"
    write_duckdb(small_dataset, source, schema="raw", mode="replace")
    schema = "datagen_load_test"
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "datagen", "load", "--db", str(source), "--target", "postgres",
             "--target-schema", schema, "--quiet"],
            check=False, cwd=ROOT, capture_output=True, text=True,
            env={**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(postgres_server.port), "PGUSER": "postgres",
                 "PGDATABASE": postgres_server.database},
        )
        assert completed.returncode == 0, completed.stderr
        source_tables = raw_rows(source)
        assert len(source_tables) == 8
        for name, expected in source_tables.items():
            actual = sorted(map(repr, connection.execute(f'select * from {schema}."{name}"').fetchall()))
            assert actual == expected, name
    finally:
        connection.execute(f"drop schema if exists {schema} cascade")
        connection.commit()
        connection.close()
