"""The warehouse activation reads exports from and keeps its state in: DuckDB or PostgreSQL.

DuckDB is the embedded default (the file dbt builds); PostgreSQL is the
other first-class warehouse. Activation never writes to dbt's schemas: its
own tables live in the state schema (``activation`` by default).

Callers write one SQL text for both engines, with ``?`` placeholders. What
differs goes through the `Dialect` (SQL fragments: JSON building, regular
expressions, ordered aggregates, collation) or a `Warehouse` method (temporary
tables, loading a batch of rows, transactions, an exclusive lock), so the
planner stays one set of queries.

Which warehouse: ``--warehouse`` (alias ``--db``), else ``$ACTIVATION_WAREHOUSE``,
else ``$WAREHOUSE_PATH``, else ``./warehouse.duckdb``. A value starting with
``postgresql://`` or ``postgres://`` is a PostgreSQL URL; anything else is a
DuckDB file. A URL never carries a password: libpq reads it from
``PGPASSWORD``, ``~/.pgpass`` or ``PGPASSFILE``, so it is not in ``ps``, shell
history, logs, state tables or error messages (`redact` scrubs any that slips
into a message).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import duckdb

from activation.errors import ConfigError

DEFAULT_WAREHOUSE = "warehouse.duckdb"
WAREHOUSE_ENV = "ACTIVATION_WAREHOUSE"
# DuckDB's memory_limit for activation's connection (e.g. "512MB"; "default": DuckDB's own, 80% of RAM).
# Above it DuckDB spills temp tables and sorts to disk: a bounded footprint for a slower large plan.
MEMORY_LIMIT_ENV = "ACTIVATION_DUCKDB_MEMORY_LIMIT"
# When unset. The process's peak RSS is this plus what DuckDB does not count against it (measured at 1M
# Klaviyo profiles: 300-550 MB more while writing the all-ADD journal) plus Python's pages and batches:
# 256MB kept a first sync of a million profiles under 1 GB, where 512MB did not (DECISIONLOG.md).
DEFAULT_MEMORY_LIMIT = "256MB"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
MIN_POSTGRES_VERSION = 140000  # split_part with a negative field (14)
PASSWORD_HINT = (
    "put the password in PGPASSWORD or ~/.pgpass (or PGPASSFILE), never in the URL: "
    "a URL shows up in `ps`, shell history, logs and run reports"
)

# session settings that make PostgreSQL's text output (payload hashes, timestamps) independent of
# the server's or the role's defaults
POSTGRES_SESSION = (
    "set time zone 'UTC'",
    "set datestyle to 'ISO, MDY'",
    "set intervalstyle to 'postgres'",
    "set extra_float_digits to 1",
)

_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/:@\s]*:)(?P<secret>[^@\s]*)(?P<tail>@)", re.I)
_KEY_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s&]+)", re.I)


def redact(text: str) -> str:
    """`text` with the password of any URL (``user:***@``) or ``password=`` setting replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", text)
    return _KEY_PASSWORD.sub(lambda m: f"{m['head']}***", text)


def default_warehouse() -> str:
    """$ACTIVATION_WAREHOUSE, else $WAREHOUSE_PATH, else ./warehouse.duckdb."""
    return os.environ.get(WAREHOUSE_ENV) or os.environ.get("WAREHOUSE_PATH") or DEFAULT_WAREHOUSE


def default_warehouse_path() -> Path:
    """$WAREHOUSE_PATH, else ./warehouse.duckdb (the same default as profiles.yml): DuckDB-only commands."""
    return Path(os.environ.get("WAREHOUSE_PATH") or DEFAULT_WAREHOUSE)


def is_postgres(spec: str | Path) -> bool:
    return isinstance(spec, str) and spec.strip().lower().startswith(POSTGRES_SCHEMES)


def require_duckdb(path: Path, command: str) -> None:
    """ConfigError for a PostgreSQL URL given to a command that reads DuckDB only (the URL is not echoed)."""
    if str(path).strip().lower().startswith(("postgresql:", "postgres:")):
        raise ConfigError(
            f"`activation {command}` reads a DuckDB warehouse only; PostgreSQL is supported by sync, plan, "
            f"status and run. Pass --db path/to/warehouse.duckdb (or set WAREHOUSE_PATH)"
        )


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Dialect:
    """Engine-specific SQL fragments. This base class is DuckDB's."""

    name = "duckdb"

    def json_object(self, pairs: Sequence[tuple[str, str]]) -> str:
        """SQL building a JSON object text from (key, SQL expression) pairs; nulls kept as null."""
        if not pairs:
            return "'{}'"
        args = ", ".join(f"{_literal(key)}, {expr}" for key, expr in pairs)
        return f"cast(json_object({args}) as varchar)"

    def json_value(self, expr: str) -> str:
        """A column holding JSON text, embedded as JSON (not as a string) in json_object."""
        return f"json({expr})"

    def json_scalar(self, expr: str, data_type: str | None) -> str:
        """A column embedded as a JSON scalar so that every engine writes the same value.

        DuckDB writes timestamps as '2026-11-20 09:00:00', dates as '2026-11-20'.
        """
        return expr

    def md5(self, expr: str) -> str:
        return f"md5({expr})"

    def values_hash(self, exprs: Sequence[str]) -> str:
        """A text hash of the values of these SQL expressions, nulls included (change detection).

        DuckDB's 64-bit ``hash`` of the values themselves: cheap enough to run over every row of a
        large export at each plan (an md5 of each row's JSON payload cost several times more).
        Hashes compare values of one engine only (state is per warehouse).
        """
        return f"cast(hash({', '.join(exprs)}) as varchar)"

    def regexp_full_match(self, expr: str, pattern: str) -> str:
        """True when the whole of `expr` matches `pattern` (a Python string, quoted here)."""
        return f"regexp_full_match({expr}, {_literal(pattern)})"

    def sort_key(self, expr: str) -> str:
        """`expr` ordered by bytes (code points), the same on every engine whatever the collation."""
        return expr

    def first_sorted(self, expr: str, n: int) -> str:
        """Aggregate: the first `n` values of `expr` in sort_key order, as a list.

        DuckDB's ``min(x, n)`` keeps the n smallest (byte order for text, as sort_key) in a
        bounded heap; a sorted list of every value cost a sort of the whole group."""
        return f"min({expr}, {int(n)})"

    def last_part(self, expr: str, separator: str) -> str:
        """The text after the last `separator` in `expr`."""
        return f"split_part({expr}, {_literal(separator)}, -1)"


class PostgresDialect(Dialect):
    name = "postgres"

    def json_object(self, pairs: Sequence[tuple[str, str]]) -> str:
        if not pairs:
            return "'{}'"
        args = ", ".join(f"{_literal(key)}, {expr}" for key, expr in pairs)
        return f"cast(json_build_object({args}) as text)"

    def json_value(self, expr: str) -> str:
        # from text, json or jsonb alike: the export's JSON column type is the dbt adapter's choice
        return f"cast(cast({expr} as text) as json)"

    def json_scalar(self, expr: str, data_type: str | None) -> str:
        # to_json writes timestamps in ISO 8601 with a 'T'; DuckDB with a space: the text cast
        # (DateStyle ISO, set per session) writes what DuckDB writes
        if data_type and data_type.lower().startswith("timestamp"):
            return f"cast({expr} as text)"
        return expr

    def regexp_full_match(self, expr: str, pattern: str) -> str:
        anchored = pattern if pattern.startswith("^") and pattern.endswith("$") else f"^(?:{pattern})$"
        return f"({expr} ~ {_literal(anchored)})"

    def values_hash(self, exprs: Sequence[str]) -> str:
        # the row's text form (session settings pin how timestamps and floats are written; a null
        # field is empty, an empty string is "") hashed to 64 bits by hashtextextended, the hash
        # behind hash partitioning, so kept stable across server versions
        return f"cast(hashtextextended(cast(row({', '.join(exprs)}) as text), 0) as text)"

    def sort_key(self, expr: str) -> str:
        return f'({expr}) collate "C"'

    def first_sorted(self, expr: str, n: int) -> str:
        return f"(array_agg({expr} order by {self.sort_key(expr)}))[1:{int(n)}]"


DUCKDB = Dialect()
POSTGRES = PostgresDialect()


class Warehouse:
    """One connection; `transaction()` groups statements that must commit together.

    Open one with `Warehouse.open(spec)` (a DuckDB path or a PostgreSQL URL).
    """

    dialect: Dialect = DUCKDB

    def __init__(self, connection: Any, label: str) -> None:
        self.connection = connection
        self.label = label  # for messages: a path, or postgresql://user@host:port/database (never a password)

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, spec: str | Path, *, read_only: bool = False) -> Warehouse:
        """A DuckDB file path or a ``postgresql://`` URL."""
        if is_postgres(spec):
            return PostgresWarehouse.connect(str(spec).strip(), read_only=read_only)
        return DuckDBWarehouse.connect(Path(spec), read_only=read_only)

    @classmethod
    def open_duckdb(cls, path: Path, *, read_only: bool = False) -> Warehouse:
        return DuckDBWarehouse.connect(path, read_only=read_only)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- statements ------------------------------------------------------------------------------
    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> None:
        raise NotImplementedError

    def fetchall(self, sql: str, parameters: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.query(sql, parameters)[1]

    def fetchone(self, sql: str, parameters: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.fetchall(sql, parameters)
        return rows[0] if rows else None

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows."""
        raise NotImplementedError

    def columns(self, schema: str, table: str) -> list[str]:
        return list(self.column_types(schema, table))

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        """Column name -> data type (information_schema's spelling), in table order."""
        rows = self.fetchall(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        )
        return {name: data_type for name, data_type in rows}

    def relation_exists(self, schema: str, table: str) -> bool:
        return bool(
            self.fetchone(
                "select 1 from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
            )
        )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("begin transaction")
        try:
            yield
        except BaseException:
            self.execute("rollback")
            raise
        else:
            self.execute("commit")

    # -- temporary tables ------------------------------------------------------------------------
    def create_temp_table(self, name: str, select_sql: str, parameters: Sequence[Any] | None = None) -> None:
        """A session-private table `name` holding the result of `select_sql` (replacing one of that name)."""
        raise NotImplementedError

    def drop_temp_table(self, name: str) -> None:
        raise NotImplementedError

    def temp_rows(
        self, name: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
    ) -> AbstractContextManager[None]:
        """Rows readable as the table `name` while the block runs. `columns`: (name, SQL type:
        bigint, varchar or boolean)."""
        raise NotImplementedError

    @contextmanager
    def bulk_write(self) -> Iterator[None]:
        """Statements that write many wide rows at once (a first sync's journal): run them with the
        engine's low-memory settings. Nothing to change on a server warehouse."""
        yield

    # -- concurrency -----------------------------------------------------------------------------
    @contextmanager
    def exclusive(self, key: str) -> Iterator[None]:
        """Only one process at a time in the block for `key` (e.g. one sync), or ConfigError at once."""
        yield


class DuckDBWarehouse(Warehouse):
    dialect = DUCKDB

    @classmethod
    def connect(cls, path: Path, *, read_only: bool = False) -> DuckDBWarehouse:
        if not path.exists():
            raise ConfigError(
                f"warehouse {path} does not exist: run `make demo` or `dbt build` first, or point --warehouse "
                f"(or ${WAREHOUSE_ENV}) at a DuckDB file or a postgresql://host:port/database URL"
            )
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            raise ConfigError(
                f"cannot open warehouse {path} ({error}); is dbt or another sync using it right now?"
            ) from None
        memory_limit = os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT
        if memory_limit.strip().lower() != "default":
            try:
                connection.execute(f"set memory_limit = {_literal(memory_limit)}")
            except duckdb.Error as error:
                connection.close()
                raise ConfigError(
                    f"${MEMORY_LIMIT_ENV}={memory_limit!r} is not a DuckDB memory limit ({error}); "
                    "write e.g. 512MB or 2GB (or default: DuckDB's own, 80% of RAM)"
                ) from None
        return cls(connection, str(path))

    @contextmanager
    def bulk_write(self) -> Iterator[None]:
        """DuckDB runs the block's statements on one thread: each thread buffers its own share of a
        large write (row groups, string heaps) outside the memory limit; measured on the all-ADD
        journal insert of 1M Klaviyo payloads, 256MB limit: peak RSS 850 MB on 2 threads, 657 on 1."""
        row = self.fetchone("select current_setting('threads')")
        threads = int(row[0]) if row else 1
        if threads <= 1:
            yield
            return
        self.execute("set threads = 1")
        try:
            yield
        finally:
            self.execute(f"set threads = {threads}")

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> None:
        self.connection.execute(sql, parameters or [])

    def fetchall(self, sql: str, parameters: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, parameters or []).fetchall()

    def fetchone(self, sql: str, parameters: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        return self.connection.execute(sql, parameters or []).fetchone()

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.connection.execute(sql, parameters or [])
        return [d[0] for d in cursor.description], cursor.fetchall()

    def create_temp_table(self, name: str, select_sql: str, parameters: Sequence[Any] | None = None) -> None:
        self.execute(f"create or replace temp table {quote(name)} as {select_sql}", parameters)

    def drop_temp_table(self, name: str) -> None:
        self.execute(f"drop table if exists {quote(name)}")

    @contextmanager
    def temp_rows(
        self, name: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
    ) -> Iterator[None]:
        import pyarrow as pa  # here, not at the top: only a sync that sends needs it (~0.1 s off every other start)

        arrow_types = {"bigint": pa.int64(), "varchar": pa.string(), "boolean": pa.bool_()}
        table = pa.table(
            {
                column: pa.array([row[i] for row in rows], arrow_types[sql_type])
                for i, (column, sql_type) in enumerate(columns)
            }
        )
        self.connection.register(name, table)
        try:
            yield
        finally:
            self.connection.unregister(name)


def _to_pyformat(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s``, and every literal ``%`` doubled.

    ``?`` inside quoted strings, quoted identifiers and comments is left alone.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == char:
                    if end + 1 < n and sql[end + 1] == char:  # '' or "" escape
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1].replace("%", "%%"))
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end == -1 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif char == "?":
            out.append("%s")
            i += 1
        elif char == "%":
            out.append("%%")
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _advisory_key(key: str) -> int:
    """A stable signed 64-bit key for pg_try_advisory_lock."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def postgres_label(url: str) -> str:
    """The URL as messages may show it: without password, without query parameters."""
    return redact(url.split("?", 1)[0])


class PostgresWarehouse(Warehouse):
    """PostgreSQL through psycopg 3, autocommit outside `transaction()`, one session.

    The session settings (POSTGRES_SESSION) pin UTC, ISO dates and shortest exact floats,
    so payload text and its hash do not depend on server or role defaults.
    """

    dialect = POSTGRES

    @classmethod
    def connect(cls, url: str, *, read_only: bool = False) -> PostgresWarehouse:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        label = postgres_label(url)
        try:
            settings = conninfo_to_dict(url)
        except psycopg.Error as error:
            raise ConfigError(
                f"warehouse URL {label} is not valid ({redact(str(error)).strip()}); expected "
                "postgresql://[user@]host[:port]/database"
            ) from None
        if "password" in settings:
            raise ConfigError(f"warehouse URL {redact(url)} contains a password: {PASSWORD_HINT}")
        try:
            connection = psycopg.connect(
                url,
                autocommit=True,
                application_name=settings.get("application_name") or "activation",
                connect_timeout=int(settings.get("connect_timeout") or os.environ.get("PGCONNECT_TIMEOUT") or 10),
            )
        except psycopg.OperationalError as error:
            detail = redact(str(error)).strip().replace("\n", " ")
            hint = (
                f"set PGPASSWORD or add the password to ~/.pgpass ({PASSWORD_HINT.split(': ', 1)[1]})"
                if "password" in detail.lower()
                else "is the server running and reachable, and does the database exist?"
            )
            raise ConfigError(f"cannot connect to PostgreSQL warehouse {label}: {detail}; {hint}") from None
        info = connection.info
        # what the session is connected to, whatever the URL left to libpq's PG* variables
        warehouse = cls(connection, f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}")
        version = int(connection.info.server_version)
        if version < MIN_POSTGRES_VERSION:
            connection.close()
            raise ConfigError(
                f"PostgreSQL warehouse {warehouse.label} runs server version {version // 10000}; "
                "activation needs 14 or newer"
            )
        for statement in POSTGRES_SESSION:
            warehouse.execute(statement)
        if read_only:
            warehouse.execute("set default_transaction_read_only to on")
        return warehouse

    def _run(self, sql: str, parameters: Sequence[Any] | None) -> Any:
        if parameters:
            return self.connection.execute(_to_pyformat(sql), list(parameters))
        return self.connection.execute(sql)

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> None:
        self._run(sql, parameters)

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self._run(sql, parameters)
        return [d.name for d in cursor.description or []], cursor.fetchall()

    def create_temp_table(self, name: str, select_sql: str, parameters: Sequence[Any] | None = None) -> None:
        self.drop_temp_table(name)
        self.execute(f"create temp table {quote(name)} as {select_sql}", parameters)

    def drop_temp_table(self, name: str) -> None:
        self.execute(f"drop table if exists pg_temp.{quote(name)}")

    @contextmanager
    def temp_rows(
        self, name: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
    ) -> Iterator[None]:
        from psycopg.pq import TransactionStatus

        self.drop_temp_table(name)
        definition = ", ".join(f"{quote(column)} {sql_type}" for column, sql_type in columns)
        self.execute(f"create temp table {quote(name)} ({definition})")
        names = ", ".join(quote(column) for column, _ in columns)
        with self.connection.cursor() as cursor:
            with cursor.copy(f"copy pg_temp.{quote(name)} ({names}) from stdin") as copy:
                for row in rows:
                    copy.write_row(row)
        try:
            yield
        finally:
            # after an error inside a transaction, its rollback drops the table
            if self.connection.info.transaction_status != TransactionStatus.INERROR:
                self.drop_temp_table(name)

    @contextmanager
    def exclusive(self, key: str) -> Iterator[None]:
        lock = _advisory_key(key)
        row = self.fetchone("select pg_try_advisory_lock(?)", [lock])
        if not (row and row[0]):
            raise ConfigError(
                f"another activation process holds the lock for {key} on {self.label} "
                "(a PostgreSQL advisory lock, released when that process ends): wait for it to finish"
            )
        try:
            yield
        finally:
            import psycopg

            try:
                self.execute("select pg_advisory_unlock(?)", [lock])
            except psycopg.Error:
                pass  # a broken or closed session: PostgreSQL released the lock with it


def rows_of(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows as dicts keyed by column name."""
    return [dict(zip(columns, row, strict=True)) for row in rows]
