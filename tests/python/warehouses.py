"""Test warehouses on either engine: a DuckDB file, or a PostgreSQL database holding its exports.

The PostgreSQL dbt build lives elsewhere; activation only reads the export
tables' contract, so a PostgreSQL test warehouse is the dbt-built DuckDB
exports copied table by table with COPY, each column with its PostgreSQL
counterpart type (``postgres_type``). Tests pass a target's ``spec`` to
``activation --warehouse`` and read it back with ``query`` / ``execute``,
which take a target of either kind (or a plain DuckDB path).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psycopg

import dbt_runner
from dbt_runner import PROJECT_DIR

POSTGRES_SCRIPT = PROJECT_DIR / "scripts" / "postgres.sh"
SKIP_ENV = "POSTGRES_TESTS"  # POSTGRES_TESTS=skip: a developer without PostgreSQL skips these tests


@dataclass(frozen=True)
class DuckDBTarget:
    path: Path

    @property
    def spec(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return self.spec


@dataclass(frozen=True)
class PostgresTarget:
    url: str

    @property
    def spec(self) -> str:
        return self.url

    def __str__(self) -> str:
        return self.spec

    def connect(self) -> psycopg.Connection[Any]:
        connection = psycopg.connect(self.url, autocommit=True)
        connection.execute("set time zone 'UTC'")
        return connection


Target = DuckDBTarget | PostgresTarget | Path


def query(target: Target, sql: str) -> list[tuple[Any, ...]]:
    if isinstance(target, PostgresTarget):
        with target.connect() as connection:
            return connection.execute(sql).fetchall()
    path = target.path if isinstance(target, DuckDBTarget) else target
    return dbt_runner.query(path, sql)


def execute(target: Target, sql: str) -> None:
    """Change the warehouse (tests edit exports as a dbt rebuild would). Portable SQL only for PostgreSQL."""
    if isinstance(target, PostgresTarget):
        with target.connect() as connection:
            connection.execute(sql)
        return
    path = target.path if isinstance(target, DuckDBTarget) else target
    dbt_runner.execute(path, sql)


# ----------------------------------------------------------------------------------------------
# DuckDB exports -> PostgreSQL
# ----------------------------------------------------------------------------------------------
_SCALARS = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "BOOLEAN": "boolean",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "HUGEINT": "numeric(38, 0)",
    "UUID": "uuid",
    "JSON": "jsonb",
}


def postgres_type(duckdb_type: str) -> str:
    """The PostgreSQL type of a DuckDB column type; an unknown type fails the test, naming it."""
    if duckdb_type.endswith("[]"):
        return postgres_type(duckdb_type[:-2]) + "[]"
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duckdb_type)
    if decimal:
        return f"numeric({decimal[1]}, {decimal[2]})"
    if duckdb_type not in _SCALARS:
        raise AssertionError(f"no PostgreSQL type for DuckDB type {duckdb_type}: add it to warehouses._SCALARS")
    return _SCALARS[duckdb_type]


def copy_schema(duckdb_path: Path, target: PostgresTarget, schema: str = "exports") -> dict[str, int]:
    """Replace `schema` in PostgreSQL with the DuckDB file's tables of that schema; rows per table."""
    copied = {}
    with duckdb.connect(str(duckdb_path), read_only=True) as source, target.connect() as sink:
        tables = [name for (name,) in source.execute(
            "select table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE' "
            "order by table_name", [schema]).fetchall()]
        sink.execute(f'drop schema if exists "{schema}" cascade')
        sink.execute(f'create schema "{schema}"')
        for table in tables:
            columns = source.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position", [schema, table]).fetchall()
            types = [postgres_type(data_type) for _, data_type in columns]
            definition = ", ".join(f'"{name}" {pg_type}' for (name, _), pg_type in zip(columns, types, strict=True))
            sink.execute(f'create table "{schema}"."{table}" ({definition})')
            rows = source.execute(f'select * from "{schema}"."{table}"').fetchall()
            names = ", ".join(f'"{name}"' for name, _ in columns)
            with sink.cursor() as cursor, cursor.copy(f'copy "{schema}"."{table}" ({names}) from stdin') as copy:
                copy.set_types([re.sub(r"\(.*\)", "", pg_type) for pg_type in types])  # registry names
                for row in rows:
                    copy.write_row(row)
            copied[table] = len(rows)
    return copied


# ----------------------------------------------------------------------------------------------
# the throwaway server (scripts/postgres.sh)
# ----------------------------------------------------------------------------------------------
@dataclass
class PostgresServer:
    """A server on 127.0.0.1, and one test database on it that this session created."""

    port: int
    database: str
    started_here: bool

    def url(self, database: str | None = None) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database or self.database}"

    def fresh(self, *schemas: str) -> PostgresTarget:
        """The test database with `schemas` dropped: a clean warehouse for one test."""
        target = PostgresTarget(self.url())
        with target.connect() as connection:
            for schema in schemas:
                connection.execute(f'drop schema if exists "{schema}" cascade')
        return target


def script(command: str, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(POSTGRES_SCRIPT), command],
        capture_output=True, text=True, timeout=900, env={**os.environ, "PGPORT": str(port)},
    )


def start_server(port: int, database: str) -> PostgresServer:
    """Start the script's server unless one answers on `port`; create `database` (dropping a leftover)."""
    running = script("status", port).returncode == 0
    if not running:
        started = script("start", port)
        if started.returncode != 0:
            raise RuntimeError(
                f"scripts/postgres.sh start failed (exit {started.returncode}); these tests need PostgreSQL "
                f"(set {SKIP_ENV}=skip to skip them on a developer machine):\n{started.stdout}{started.stderr}"
            )
    server = PostgresServer(port, database, started_here=not running)
    with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
        admin.execute(f'drop database if exists "{database}" with (force)')
        admin.execute(f'create database "{database}"')
    return server


def stop_server(server: PostgresServer) -> None:
    with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
        admin.execute(f'drop database if exists "{server.database}" with (force)')
    if server.started_here:
        script("stop", server.port)
