"""Load the raw schema of a generated DuckDB file into Spark tables ``raw.<table>``.

    python -m datagen.loaders.spark --db warehouse.duckdb

DuckDB writes each raw table to Parquet; a local Spark session (configured from
the ``spark`` target in profiles.yml, so it shares dbt's warehouse directory
and Derby metastore) then creates a managed Parquet table from it with the raw
contract's column types: text stays ``string`` (JSON payloads included),
``decimal(18,2)`` stays decimal, timestamps are naive UTC instants read in a
UTC session. Derby admits one process at a time, so run this before dbt, not
alongside it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from datagen.contract import RAW_TABLES
from datagen.loaders.spark_session import SparkSetupError, start_session

SPARK_TYPES = {
    "varchar": "string",
    "timestamp": "timestamp",
    "decimal(18,2)": "decimal(18,2)",
    "integer": "int",
    "bigint": "bigint",
    "boolean": "boolean",
    "double": "double",
}


def export_parquet(db_path: Path, schema: str, out_dir: Path) -> dict[str, Path]:
    """Write every raw table of the DuckDB file to out_dir/<table>.parquet."""
    if not db_path.exists():
        raise FileNotFoundError(f"{db_path} not found; generate it first: python -m datagen generate --db {db_path}")
    files: dict[str, Path] = {}
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        present = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [schema]
            ).fetchall()
        }
        missing = sorted(set(RAW_TABLES) - present)
        if missing:
            raise LookupError(f"{db_path} has no {schema}.{', '.join(missing)}; run python -m datagen generate first")
        for table in RAW_TABLES:
            target = out_dir / f"{table}.parquet"
            con.execute(f"COPY \"{schema}\".\"{table}\" TO '{target}' (FORMAT parquet)")
            files[table] = target
    finally:
        con.close()
    return files


def create_tables(session: Any, files: dict[str, Path], database: str) -> dict[str, int]:
    """(Re)create database.<table> for each file as a managed Parquet table; rows per table."""
    session.sql(f"create database if not exists `{database}`")
    counts: dict[str, int] = {}
    for table, path in files.items():
        columns = ",\n    ".join(
            f"cast(`{name}` as {SPARK_TYPES[kind]}) as `{name}`" for name, kind in RAW_TABLES[table]
        )
        session.sql(f"drop table if exists `{database}`.`{table}`")
        session.sql(
            f"create table `{database}`.`{table}` using parquet as\n"
            f"select\n    {columns}\nfrom parquet.`{path}`"
        )
        counts[table] = session.sql(f"select count(*) from `{database}`.`{table}`").collect()[0][0]
    return counts


def load(db_path: Path, schema: str = "raw", database: str = "raw") -> dict[str, int]:
    """Copy the raw tables of db_path (schema) into Spark database ``database``; rows per table."""
    work = Path(tempfile.mkdtemp(prefix="raw-parquet-"))
    try:
        files = export_parquet(db_path, schema, work)
        session = start_session()
        try:
            return create_tables(session, files, database)
        finally:
            session.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datagen.loaders.spark", description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("warehouse.duckdb"), help="generated DuckDB file")
    parser.add_argument("--schema", default="raw", help="schema of the raw tables in the DuckDB file")
    parser.add_argument("--database", default="raw", help="Spark database to create the tables in")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        counts = load(args.db, args.schema, args.database)
    except (SparkSetupError, FileNotFoundError, LookupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for table, rows in counts.items():
        print(f"{args.database}.{table}: {rows} rows")
    print(f"loaded {len(counts)} tables into Spark in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
