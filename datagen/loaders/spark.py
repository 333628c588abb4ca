"""Spark loader: ``python -m datagen load --db X.duckdb --target spark``.

Each raw table is streamed from DuckDB into a Parquet file, then a local Spark
session (configured from the ``spark`` target in profiles.yml, so it shares
dbt's warehouse directory and Derby metastore) creates a managed Parquet table
``<target_schema>.<table>`` from it, casting every column to the Spark type of
the same values: text stays ``string`` (JSON payloads included), decimals keep
precision and scale, naive timestamps stay the same UTC instants (the session
time zone is UTC). Derby admits one process at a time: run the loader before
dbt, not alongside it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq

from datagen.loaders._spark_session import start_session
from datagen.loaders.base import LoadedTable, LoadError, OnTable, RawSource, SourceTable, check_identifier, ignore

_SIMPLE_TYPES = {
    "VARCHAR": "string",
    "TEXT": "string",
    "BOOLEAN": "boolean",
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INTEGER": "int",
    "BIGINT": "bigint",
    "FLOAT": "float",
    "DOUBLE": "double",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "JSON": "string",
}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")


def spark_type(duckdb_type: str) -> str:
    """The Spark SQL type holding the same values as a DuckDB column type."""
    name = duckdb_type.strip().upper()
    if name in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[name]
    decimal = _DECIMAL.match(name)
    if decimal:
        return f"decimal({decimal.group(1)},{decimal.group(2)})"
    raise LoadError(f"no Spark type for DuckDB type {duckdb_type!r}; add it to datagen/loaders/spark.py")


def create_table_sql(target_schema: str, table: SourceTable, parquet_path: Path | None) -> str:
    """CTAS of a managed Parquet table from a Parquet file, every column cast to its Spark type
    (an empty table, parquet_path None, is created from the column list alone)."""
    if parquet_path is None:
        definitions = ", ".join(f"`{column.name}` {spark_type(column.duckdb_type)}" for column in table.columns)
        return f"create table `{target_schema}`.`{table.name}` ({definitions}) using parquet"
    columns = ",\n    ".join(
        f"cast(`{column.name}` as {spark_type(column.duckdb_type)}) as `{column.name}`" for column in table.columns
    )
    return (
        f"create table `{target_schema}`.`{table.name}` using parquet as\n"
        f"select\n    {columns}\nfrom parquet.`{parquet_path}`"
    )


def load(
    source: RawSource, tables: Sequence[SourceTable], target_schema: str, on_table: OnTable | None = None
) -> list[LoadedTable]:
    """Replace ``target_schema``.<table> in Spark with each source table; returns rows and seconds per table."""
    check_identifier(target_schema, "target schema")
    for table in tables:  # check every type before starting Spark
        for column in table.columns:
            spark_type(column.duckdb_type)
    notify = on_table or ignore
    work = Path(tempfile.mkdtemp(prefix="datagen-spark-"))
    try:
        files: dict[str, Path | None] = {}
        for table in tables:
            path = work / f"{table.name}.parquet"
            writer: pq.ParquetWriter | None = None
            for batch in source.batches(table):
                if writer is None:
                    writer = pq.ParquetWriter(path, batch.schema)
                writer.write_batch(batch)
            if writer is not None:
                writer.close()
            files[table.name] = path if writer is not None else None  # None: no rows
        session = start_session()
        loaded: list[LoadedTable] = []
        try:
            session.sql(f"create database if not exists `{target_schema}`")
            for table in tables:
                notify(table.name)
                started = time.perf_counter()
                session.sql(f"drop table if exists `{target_schema}`.`{table.name}`")
                session.sql(create_table_sql(target_schema, table, files[table.name]))
                rows = session.sql(f"select count(*) from `{target_schema}`.`{table.name}`").collect()[0][0]
                if rows != table.rows:
                    raise LoadError(f"{target_schema}.{table.name}: {rows} rows in Spark, {table.rows} in DuckDB")
                loaded.append(LoadedTable(table.name, int(rows), time.perf_counter() - started))
        finally:
            session.stop()
        return loaded
    finally:
        shutil.rmtree(work, ignore_errors=True)


