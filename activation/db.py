"""The warehouse connection activation reads exports from and keeps its state in.

DuckDB is the embedded default (the file dbt builds). Activation never
writes to dbt's schemas: its own tables live in the state schema
(``activation`` by default). SQL that differs between engines goes through
the small `Dialect` below, so planning stays one set of queries.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from activation.errors import ConfigError

DEFAULT_WAREHOUSE = "warehouse.duckdb"


def default_warehouse_path() -> Path:
    """$WAREHOUSE_PATH, else ./warehouse.duckdb (the same default as profiles.yml)."""
    return Path(os.environ.get("WAREHOUSE_PATH") or DEFAULT_WAREHOUSE)


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class Dialect:
    """Engine-specific SQL fragments (DuckDB here; PostgreSQL in a later change)."""

    name: str = "duckdb"

    def json_object(self, pairs: Sequence[tuple[str, str]]) -> str:
        """SQL building a JSON object text from (key, SQL expression) pairs; nulls kept as null."""
        if not pairs:
            return "'{}'"
        args = ", ".join(f"'{key}', {expr}" for key, expr in pairs)
        return f"cast(json_object({args}) as varchar)"

    def json_value(self, expr: str) -> str:
        """A column holding JSON text, embedded as JSON (not as a string) in json_object."""
        return f"json({expr})"

    def md5(self, expr: str) -> str:
        return f"md5({expr})"


class Warehouse:
    """One connection; `transaction()` groups statements that must commit together."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, dialect: Dialect, label: str) -> None:
        self.connection = connection
        self.dialect = dialect
        self.label = label

    @classmethod
    def open_duckdb(cls, path: Path, *, read_only: bool = False) -> Warehouse:
        if not path.exists():
            raise ConfigError(f"warehouse {path} does not exist: run `make demo` or `dbt build` first")
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            raise ConfigError(
                f"cannot open warehouse {path} ({error}); is dbt or another sync using it right now?"
            ) from None
        return cls(connection, Dialect("duckdb"), str(path))

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> None:
        self.connection.execute(sql, parameters or [])

    def fetchall(self, sql: str, parameters: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, parameters or []).fetchall()

    def fetchone(self, sql: str, parameters: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        return self.connection.execute(sql, parameters or []).fetchone()

    def columns(self, schema: str, table: str) -> list[str]:
        rows = self.fetchall(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, table],
        )
        return [name for (name,) in rows]

    def relation_exists(self, schema: str, table: str) -> bool:
        return bool(
            self.fetchone(
                "select 1 from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
            )
        )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.connection.execute("begin transaction")
        try:
            yield
        except BaseException:
            self.connection.execute("rollback")
            raise
        else:
            self.connection.execute("commit")
