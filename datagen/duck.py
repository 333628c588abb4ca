"""String assembly in DuckDB: SQL over numeric Arrow frames.

A raw table is a :class:`Recipe` (SQL + the frames it reads). It is materialised as an
Arrow table in an in-memory database, or run straight into a warehouse / file by the
writers (no Arrow round trip). Recipes never reorder rows (no joins on the row source,
no ORDER BY); DuckDB keeps insertion order, so output is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

import duckdb
import pyarrow as pa

from datagen.contract import arrow_schema, contract_select

MACROS = (
    # uuid-like text from two uint64 halves
    # (8-4-4-4-12 lower-case hex, formatted from the integers: no UUID type needed)
    """CREATE OR REPLACE TEMP MACRO uuid_text(hi, lo) AS printf(
        '%08x-%04x-%04x-%04x-%012x',
        hi::UBIGINT >> 32, (hi::UBIGINT >> 16) & 65535, hi::UBIGINT & 65535,
        lo::UBIGINT >> 48, lo::UBIGINT & 281474976710655
    )""",
    # decimal(18,2) from integer cents, exactly
    "CREATE OR REPLACE TEMP MACRO cents(c) AS (c * 0.01)::DECIMAL(18, 2)",
    # CRM id of customer number n (0-based)
    "CREATE OR REPLACE TEMP MACRO customer_id(n) AS printf('CUST-%08d', n + 1)",
    # ISO-8601 text of epoch ms as a client writes it: local time + offset, or UTC + Z
    """CREATE OR REPLACE TEMP MACRO iso_ms(ms, offset_min, local) AS
        strftime(make_timestamp((ms + offset_min * 60000) * 1000), '%Y-%m-%dT%H:%M:%S.%g')
        || CASE WHEN local THEN printf('%+03d:%02d', offset_min // 60, abs(offset_min) % 60) ELSE 'Z' END""",
    # email as typed: 0 as is, 1 capitalised, 2 upper-case, 3 space-padded
    """CREATE OR REPLACE TEMP MACRO email_variant(email, v) AS CASE v
        WHEN 1 THEN upper(email[1]) || email[2:]
        WHEN 2 THEN upper(email)
        WHEN 3 THEN ' ' || email || ' '
        ELSE email END""",
)


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Session settings and the temporary SQL macros the recipes use."""
    for statement in (
        "SET preserve_insertion_order = true",
        "SET enable_progress_bar = false",
        "SET TimeZone = 'UTC'",
        *MACROS,
    ):
        con.execute(statement).fetchall()


@dataclass(frozen=True)
class Recipe:
    """SQL producing one raw table (contract columns, in order) from the named frames."""

    table: str
    sql: str
    frames: Mapping[str, pa.Table]

    @property
    def contract_sql(self) -> str:
        """The SQL, selecting exactly the contract columns with their contract types."""
        return contract_select(self.table, self.sql)

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Make the frames visible to ``con`` (undo with :meth:`unregister`)."""
        for name, frame in self.frames.items():
            con.register(name, frame)

    def unregister(self, con: duckdb.DuckDBPyConnection) -> None:
        for name in self.frames:
            con.unregister(name)


class Assembler:
    """An in-memory DuckDB connection for intermediate strings and materialising recipes."""

    def __init__(self) -> None:
        self._con = duckdb.connect(":memory:")
        prepare(self._con)

    def __enter__(self) -> Assembler:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._con.close()

    def query(self, sql: str, **frames: pa.Table) -> pa.Table:
        """Run ``sql`` with each keyword frame visible as a view of that name."""
        return self._run(sql, frames)

    def materialize(self, recipe: Recipe) -> pa.Table:
        """The recipe's raw table as Arrow, in the contract's Arrow schema."""
        return self._run(recipe.contract_sql, recipe.frames).cast(arrow_schema(recipe.table))

    def _run(self, sql: str, frames: Mapping[str, pa.Table]) -> pa.Table:
        for name, frame in frames.items():
            self._con.register(name, frame)
        try:
            return self._con.sql(sql).to_arrow_table()
        finally:
            for name in frames:
                self._con.unregister(name)


class Tables(Mapping[str, pa.Table]):
    """Raw tables by name, each assembled from its recipe on first access and kept."""

    def __init__(self, recipes: Mapping[str, Recipe]) -> None:
        self._recipes = dict(recipes)
        self._assembled: dict[str, pa.Table] = {}

    def __getitem__(self, name: str) -> pa.Table:
        if name not in self._assembled:
            with Assembler() as assembler:
                self._assembled[name] = assembler.materialize(self._recipes[name])
        return self._assembled[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._recipes)

    def __len__(self) -> int:
        return len(self._recipes)

    def recipe(self, name: str) -> Recipe:
        return self._recipes[name]

    def assembled(self, name: str) -> pa.Table | None:
        """The Arrow table if it was already assembled, else None."""
        return self._assembled.get(name)


def sql_list(values: Sequence[str]) -> str:
    """A DuckDB list literal of strings, e.g. ``['a', 'b']`` (1-based indexing in SQL;
    index 0 and NULL give NULL)."""
    quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
    return f"[{quoted}]"
