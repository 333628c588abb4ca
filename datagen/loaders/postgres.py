"""Load the raw tables into PostgreSQL with COPY (psycopg 3).

Connection: libpq's variables, with the defaults of the dbt ``postgres`` target and
scripts/postgres.sh: PGHOST (127.0.0.1), PGPORT (54329), PGUSER (postgres),
PGDATABASE (warehouse); PGPASSWORD, PGSSLMODE and the rest are read by libpq itself, so
no secret passes through this code or its messages.

Each table is replaced in its own transaction (drop, create with the mapped column
types, COPY, count check): a failed load leaves the previous table in place. Rows
stream from DuckDB as Arrow batches written as CSV into ``COPY ... FROM STDIN``, so
memory stays bounded and nothing is inserted row by row.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.csv as pa_csv

from datagen.loaders.base import LoadedTable, LoadError, OnTable, RawSource, SourceColumn, SourceTable, ignore

# DuckDB type -> PostgreSQL type of the same values (DECIMAL(p,s) is handled apart).
TYPE_MAP: dict[str, str] = {
    "VARCHAR": "text",
    "BOOLEAN": "boolean",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "REAL": "real",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "UUID": "uuid",
    "JSON": "json",
}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")

DEFAULTS = {"host": "127.0.0.1", "port": "54329", "user": "postgres", "dbname": "warehouse"}
_ENV = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE"}


def postgres_type(column: SourceColumn, table: str) -> str:
    """The PostgreSQL type holding exactly the values of a DuckDB column."""
    duckdb_type = column.duckdb_type.upper()
    decimal = _DECIMAL.match(duckdb_type)
    if decimal:
        return f"numeric({decimal.group(1)},{decimal.group(2)})"
    if duckdb_type in TYPE_MAP:
        return TYPE_MAP[duckdb_type]
    raise LoadError(
        f"{table}.{column.name} has DuckDB type {column.duckdb_type}, which the postgres loader does not map; "
        "add it to TYPE_MAP in datagen/loaders/postgres.py"
    )


def connection_settings() -> dict[str, str]:
    """host, port, user and dbname from PG* variables or the defaults (never the password)."""
    return {key: os.environ.get(_ENV[key]) or default for key, default in DEFAULTS.items()}


def create_table_sql(schema: str, table: SourceTable) -> str:
    columns = ", ".join(f'"{column.name}" {postgres_type(column, table.name)}' for column in table.columns)
    return f'create table "{schema}"."{table.name}" ({columns})'


def csv_chunk(batch: pa.RecordBatch) -> bytes:
    """A batch as CSV for COPY: strings always quoted, so '' stays an empty string and an
    unquoted empty field is NULL; timestamps ISO-8601 with microseconds."""
    buffer = io.BytesIO()
    pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return buffer.getvalue()


def load(
    source: RawSource, tables: Sequence[SourceTable], target_schema: str, on_table: OnTable | None = None
) -> list[LoadedTable]:
    """Replace ``target_schema``.<table> with each source table; returns rows and seconds per table."""
    try:
        import psycopg
    except ImportError:
        raise LoadError("psycopg 3 is not installed: pip install -e '.[postgres]'") from None
    # check every type before touching the database
    statements = {table.name: create_table_sql(target_schema, table) for table in tables}
    settings = connection_settings()
    where = f"{settings['user']}@{settings['host']}:{settings['port']}/{settings['dbname']}"
    try:
        connection = psycopg.connect(**settings, connect_timeout=10, application_name="datagen load")
    except psycopg.OperationalError as error:
        raise LoadError(
            f"cannot connect to PostgreSQL at {where}: {str(error).strip()}\n"
            "Start the local server with scripts/postgres.sh start, or set PGHOST/PGPORT/PGUSER/PGDATABASE "
            "(and PGPASSWORD) for yours."
        ) from None
    loaded: list[LoadedTable] = []
    notify = on_table or ignore
    with connection:
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute(f'create schema if not exists "{target_schema}"')
        for table in tables:
            notify(table.name)
            started = time.perf_counter()
            columns = ", ".join(f'"{column.name}"' for column in table.columns)
            with connection.transaction(), connection.cursor() as cursor:
                cursor.execute(f'drop table if exists "{target_schema}"."{table.name}"')
                cursor.execute(statements[table.name])
                with cursor.copy(f'copy "{target_schema}"."{table.name}" ({columns}) from stdin (format csv)') as copy:
                    for batch in source.batches(table):
                        copy.write(csv_chunk(batch))
                cursor.execute(f'select count(*) from "{target_schema}"."{table.name}"')
                (rows,) = cursor.fetchone() or (0,)
                if rows != table.rows:
                    raise LoadError(
                        f"{target_schema}.{table.name}: {rows} rows in PostgreSQL after COPY, {table.rows} in "
                        f"{source.path}; the table was left as it was"
                    )
                cursor.execute(f'analyze "{target_schema}"."{table.name}"')
            loaded.append(LoadedTable(table.name, int(rows), time.perf_counter() - started))
    return loaded
