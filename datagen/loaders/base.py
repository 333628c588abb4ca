"""What every loader shares: the source (raw tables in a DuckDB file, read-only), their
columns with DuckDB's type names, and streaming their rows as Arrow record batches."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import duckdb
import pyarrow as pa

OnTable = Callable[[str], None]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# rows per Arrow batch streamed to a target: bounded memory whatever the table size
BATCH_ROWS = 100_000


class LoadError(RuntimeError):
    """A load that cannot start or did not complete; the message says what to do."""


def check_identifier(name: str, what: str) -> str:
    """``name`` if it is a plain SQL identifier (safe to quote into SQL), else LoadError."""
    if not _IDENTIFIER.match(name):
        raise LoadError(f"{what} {name!r} is not a plain SQL identifier (letters, digits and _)")
    return name


@dataclass(frozen=True)
class SourceColumn:
    name: str
    duckdb_type: str  # as DuckDB names it: VARCHAR, TIMESTAMP, DECIMAL(18,2), INTEGER, ...


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: tuple[SourceColumn, ...]
    rows: int


@dataclass(frozen=True)
class LoadedTable:
    name: str
    rows: int
    seconds: float


class RawSource:
    """The raw schema of a DuckDB file, opened read-only."""

    def __init__(self, db_path: str | Path, schema: str = "raw") -> None:
        path = Path(db_path)
        if not path.exists():
            raise LoadError(f"{path} does not exist; generate it first: python -m datagen generate --db {path}")
        self.schema = check_identifier(schema, "schema")
        self.path = path
        self._con = duckdb.connect(str(path), read_only=True)
        # naive timestamps are UTC; a TIMESTAMPTZ column is read as UTC instants
        self._con.execute("SET TimeZone = 'UTC'").fetchall()
        # the catalog is named after the file: qualify fully (a file raw.duckdb has catalog "raw")
        (self._catalog,) = self._con.execute("select current_database()").fetchone() or ("",)

    def __enter__(self) -> RawSource:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    def tables(self, names: Sequence[str] | None = None) -> list[SourceTable]:
        """The schema's base tables (all, or ``names`` in that order), with columns and row counts."""
        found = [
            row[0]
            for row in self._con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = ? and table_schema = ? and table_type = 'BASE TABLE' order by table_name",
                [self._catalog, self.schema],
            ).fetchall()
        ]
        if not found:
            raise LoadError(
                f"schema {self.schema!r} of {self.path} has no tables; "
                f"generate them: python -m datagen generate --db {self.path}"
            )
        wanted = list(names) if names else found
        missing = [name for name in wanted if name not in found]
        if missing:
            raise LoadError(f"no table {', '.join(missing)} in schema {self.schema!r} of {self.path}; found {', '.join(found)}")
        return [self._table(name) for name in wanted]

    def _table(self, name: str) -> SourceTable:
        columns = tuple(
            SourceColumn(check_identifier(column, f"column of {name}"), data_type)
            for column, data_type in self._con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_catalog = ? and table_schema = ? and table_name = ? order by ordinal_position",
                [self._catalog, self.schema, name],
            ).fetchall()
        )
        (rows,) = self._con.execute(f"select count(*) from {self._relation(name)}").fetchone() or (0,)
        return SourceTable(name=name, columns=columns, rows=int(rows))

    def _relation(self, name: str) -> str:
        catalog = self._catalog.replace('"', '""')
        return f'"{catalog}"."{self.schema}"."{check_identifier(name, "table")}"'

    def batches(self, table: SourceTable, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The table's rows as Arrow record batches, in the table's column order."""
        columns = ", ".join(f'"{column.name}"' for column in table.columns)
        reader = self._con.execute(f"select {columns} from {self._relation(table.name)}").to_arrow_reader(batch_rows)
        yield from reader


def ignore(_: str) -> None:
    return None
