"""Output: the raw tables into a DuckDB schema, or Parquet / NDJSON files; the manifest
beside them. Tables not yet assembled as Arrow are built by their SQL recipes straight
into the target."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import duckdb

from datagen.contract import RAW_TABLES, ddl_columns
from datagen.duck import Tables, prepare
from datagen.manifest import MANIFEST_NAME, write_manifest
from datagen.pipeline import Dataset

WriteMode = Literal["replace", "append"]
FileFormat = Literal["parquet", "ndjson"]
OnTable = Callable[[str], None]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Long, mostly unique text compresses faster and smaller with zstd than DuckDB's default.
ZSTD_COLUMNS: dict[str, dict[str, str]] = {
    "events": {column: "zstd" for column in ("timestamp", "sent_at", "properties", "traits", "context")},
}
_BATCH = "_datagen_batch"


class OutputError(ValueError):
    """A problem with where or how to write (bad schema name, mismatching existing table)."""


def check_schema(schema: str) -> None:
    """Raise OutputError unless ``schema`` is a plain SQL identifier."""
    if not _IDENTIFIER.match(schema):
        raise OutputError(
            f"schema {schema!r} is not a plain SQL identifier; use letters, digits and _ (e.g. --schema raw)"
        )


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    con.execute(sql).fetchall()


def _ignore(_: str) -> None:
    return None


def _with_rows(con: duckdb.DuckDBPyConnection, tables: Tables, name: str, statement: str) -> None:
    """Run ``statement`` with ``{rows}`` replaced by a query of the rows of table ``name``:
    from its Arrow table if assembled, else from its recipe."""
    assembled = tables.assembled(name)
    if assembled is not None:
        con.register(_BATCH, assembled)
        try:
            _run(con, statement.replace("{rows}", f"SELECT * FROM {_BATCH}"))
        finally:
            con.unregister(_BATCH)
        return
    recipe = tables.recipe(name)
    recipe.register(con)
    try:
        _run(con, statement.replace("{rows}", recipe.contract_sql))
    finally:
        recipe.unregister(con)


def write_duckdb(
    dataset: Dataset,
    db_path: str | Path,
    schema: str = "raw",
    mode: WriteMode = "replace",
    manifest_path: str | Path | None = None,
    on_table: OnTable | None = None,
) -> Path:
    """Write every raw table into ``schema`` of the DuckDB file ``db_path`` (created if
    missing) in one transaction. ``replace`` recreates the tables; ``append`` inserts into
    existing ones (created if missing; their columns must match the contract). The manifest
    goes to ``manifest_path`` (default: manifest.json beside the database); returns its
    path. ``on_table`` is called with each table name before it is written."""
    if mode not in ("replace", "append"):
        raise ValueError(f"mode must be 'replace' or 'append' (got {mode!r})")
    if not _IDENTIFIER.match(schema):
        raise ValueError(
            f"schema {schema!r} is not a plain SQL identifier; use letters, digits and _ (e.g. --schema raw)"
        )
    report = on_table or _ignore
    db = Path(db_path)
    db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db))
    try:
        prepare(con)
        compression = ZSTD_COLUMNS if _zstd_available(con) else {}
        _run(con, "BEGIN TRANSACTION")
        _run(con, f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for name in dataset.tables:
            report(name)
            target = f'"{schema}"."{name}"'
            create = "CREATE OR REPLACE TABLE" if mode == "replace" else "CREATE TABLE IF NOT EXISTS"
            _run(con, f"{create} {target} ({ddl_columns(name, compression.get(name))})")
            if mode == "append":
                _check_columns(con, schema, name)
            _with_rows(con, dataset.tables, name, f"INSERT INTO {target} BY NAME {{rows}}")
        _run(con, "COMMIT")
    except BaseException:
        con.rollback()
        raise
    finally:
        con.close()
    return write_manifest(dataset.manifest, manifest_path or db.parent / MANIFEST_NAME)


def _zstd_available(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database's storage version offers zstd (DuckDB >= 1.2 files)."""
    probe = '"main"."_datagen_zstd_probe"'
    try:
        _run(con, f"CREATE OR REPLACE TABLE {probe} (c VARCHAR USING COMPRESSION zstd)")
    except duckdb.Error:
        return False
    _run(con, f"DROP TABLE {probe}")
    return True


def _check_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> None:
    found = con.execute(
        "SELECT column_name, lower(replace(data_type, ' ', '')) FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    expected = list(RAW_TABLES[table])
    if found != expected:
        raise OutputError(
            f"{schema}.{table} exists with columns {found}, not the raw contract {expected}; "
            "drop it or write without --append"
        )


def write_files(
    dataset: Dataset, out_dir: str | Path, fmt: FileFormat = "parquet", on_table: OnTable | None = None
) -> Path:
    """Write ``<table>.parquet`` or ``<table>.ndjson`` per raw table and manifest.json into
    ``out_dir``; returns the manifest path. ``on_table`` is called with each table name."""
    if fmt not in ("parquet", "ndjson"):
        raise OutputError(f"fmt must be 'parquet' or 'ndjson' (got {fmt!r})")
    report = on_table or _ignore
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT json"
    con = duckdb.connect(":memory:")
    try:
        prepare(con)
        for name in dataset.tables:
            report(name)
            target = str(out / f"{name}.{fmt}").replace("'", "''")
            _with_rows(con, dataset.tables, name, f"COPY ({{rows}}) TO '{target}' ({options})")
    finally:
        con.close()
    return write_manifest(dataset.manifest, out / MANIFEST_NAME)
