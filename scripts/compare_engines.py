"""Compare every mart and export across engines built from the same raw data.

The models are those under models/marts/ and models/exports/ in a dbt manifest
(target/manifest.json of any build of this project). Each engine's tables are read
in full and every value is normalised in Python, so that only a difference in the
data counts:

  - floats (and JSON numbers that are not integers) to 9 significant digits
    (engines may add in a different order, or differ in exp/sqrt in the last bits);
  - decimals exactly, without trailing zeros (5.00 == 5.0);
  - timestamps as UTC ISO-8601 with microseconds (naive ones are UTC);
  - dates as ISO-8601; booleans as true / false; null as null;
  - JSON text (columns with meta format: json) parsed and written again with
    sorted keys and no whitespace, numbers by value (5.00 == 5).

Per model it prints the row count and an order-independent checksum of the rows
(the sum of the rows' SHA-256 digests modulo 2**128, so duplicate rows count), per
engine. The first engine is the reference; on any difference the script names the
model, prints a sample of rows present on one side and not the other, and exits 1.

    python scripts/compare_engines.py --manifest target/manifest.json \\
        --engine duckdb=warehouse.duckdb --engine postgres

Engines are KIND[=LOCATION]: duckdb=<file>, postgres (PG* variables, defaults of
scripts/postgres.sh), postgres=<libpq conninfo>, or spark[=<SPARK_STATE_DIR>] (the
local warehouse and metastore of the spark target, default ./spark-warehouse; run
after dbt has finished, Derby admits one process). Another engine is one reader
class in READERS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import hashlib
import json
import math
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
MODEL_FOLDERS = ("models/marts/", "models/exports/")
FLOAT_DIGITS = 9
SAMPLE_ROWS = 5
_MASK = (1 << 128) - 1


@dataclass(frozen=True)
class Model:
    name: str
    schema: str
    table: str
    json_columns: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


class Reader(Protocol):
    label: str

    def read(self, model: Model) -> Table: ...

    def close(self) -> None: ...


class DuckDBReader:
    def __init__(self, label: str, location: str | None) -> None:
        import duckdb

        path = Path(location or os.environ.get("WAREHOUSE_PATH", "warehouse.duckdb"))
        if not path.exists():
            raise SystemExit(f"{label}: {path} does not exist (build it first, e.g. make build)")
        self.label = label
        self._con = duckdb.connect(str(path), read_only=True)
        self._con.execute("SET TimeZone = 'UTC'")

    def read(self, model: Model) -> Table:
        result = self._con.execute(f'select * from "{model.schema}"."{model.table}"')
        columns = tuple(column[0] for column in result.description or ())
        return Table(columns, result.fetchall())

    def close(self) -> None:
        self._con.close()


class PostgresReader:
    DEFAULTS = {"host": ("PGHOST", "127.0.0.1"), "port": ("PGPORT", "54329"),
                "user": ("PGUSER", "postgres"), "dbname": ("PGDATABASE", "warehouse")}

    def __init__(self, label: str, location: str | None) -> None:
        import psycopg

        self.label = label
        try:
            if location:
                self._con = psycopg.connect(location)
            else:
                settings = {key: os.environ.get(env) or default for key, (env, default) in self.DEFAULTS.items()}
                self._con = psycopg.connect(**settings)  # PGPASSWORD etc. are read by libpq
        except psycopg.OperationalError as error:
            raise SystemExit(f"{label}: cannot connect ({str(error).strip()}); scripts/postgres.sh start") from None
        self._con.execute("set timezone = 'UTC'")

    def read(self, model: Model) -> Table:
        with self._con.cursor() as cursor:
            cursor.execute(f'select * from "{model.schema}"."{model.table}"')
            columns = tuple(column.name for column in cursor.description or ())
            return Table(columns, cursor.fetchall())

    def close(self) -> None:
        self._con.close()


class SparkReader:
    """Tables of the local Spark warehouse of the spark target (profiles.yml), read through
    pyspark. LOCATION is the SPARK_STATE_DIR the build used (default ./spark-warehouse). The
    embedded Derby metastore admits one process at a time: run this after dbt has finished."""

    def __init__(self, label: str, location: str | None) -> None:
        import time

        if location:
            os.environ["SPARK_STATE_DIR"] = str(Path(location).resolve())
        os.environ.setdefault("SPARK_STATE_DIR", str(ROOT / "spark-warehouse"))
        # pyspark turns TIMESTAMP values into naive datetimes in the process's time zone
        os.environ["TZ"] = "UTC"
        time.tzset()
        sys.path.insert(0, str(ROOT))
        from datagen.loaders._spark_session import SparkSetupError, spark_conf, start_session, state_dirs

        try:
            conf = spark_conf(ROOT)
            warehouse = state_dirs(conf)[0]
            if not warehouse.exists():
                raise SystemExit(f"{label}: {warehouse} does not exist (build it first: make test-spark)")
            self._session = start_session(conf)
        except SparkSetupError as error:
            raise SystemExit(f"{label}: {error}") from None
        self.label = label

    def read(self, model: Model) -> Table:
        frame = self._session.sql(f"select * from `{model.schema}`.`{model.table}`")
        return Table(tuple(frame.columns), [tuple(row) for row in frame.collect()])

    def close(self) -> None:
        self._session.stop()


READERS: dict[str, Callable[[str, str | None], Reader]] = {
    "duckdb": DuckDBReader,
    "postgres": PostgresReader,
    "spark": SparkReader,
}


# ---------------------------------------------------------------- normalisation

def normalise_float(value: float) -> Any:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == 0:
        return 0.0
    return float(f"{value:.{FLOAT_DIGITS}g}")


def normalise_json(value: Any) -> Any:
    """A parsed JSON value, numbers by value (5.00 == 5), floats rounded like columns."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return normalise_float(value)
    if isinstance(value, list):
        return [normalise_json(item) for item in value]
    if isinstance(value, dict):
        return {key: normalise_json(item) for key, item in value.items()}
    return value


def normalise(value: Any, is_json: bool = False) -> Any:
    """A JSON-serialisable value that is equal for equal data on every engine."""
    if value is None:
        return None
    if is_json and isinstance(value, str):
        try:
            parsed = json.loads(value, parse_float=float)
        except ValueError:
            return {"invalid json": value}
        return {"json": json.dumps(normalise_json(parsed), sort_keys=True, separators=(",", ":"))}
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return normalise_float(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return {"decimal": format(value.normalize(), "f") if value != 0 else "0"}
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return {"timestamp": value.isoformat(timespec="microseconds")}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return [normalise(item) for item in value]
    return {type(value).__name__: str(value)}


def normalised_rows(model: Model, table: Table) -> list[str]:
    """Each row as canonical JSON text, columns in name order."""
    order = sorted(range(len(table.columns)), key=lambda index: table.columns[index])
    is_json = [table.columns[index] in model.json_columns for index in order]
    names = [table.columns[index] for index in order]
    out = []
    for row in table.rows:
        values = [normalise(row[index], flag) for index, flag in zip(order, is_json)]
        out.append(json.dumps(dict(zip(names, values)), sort_keys=False, separators=(",", ":")))
    return out


def checksum(rows: Iterable[str]) -> str:
    total = 0
    for row in rows:
        total = (total + int.from_bytes(hashlib.sha256(row.encode()).digest()[:16], "big")) & _MASK
    return f"{total:032x}"


# ------------------------------------------------------------------- the models

def models_from_manifest(path: Path) -> list[Model]:
    if not path.exists():
        raise SystemExit(f"{path} does not exist: run any dbt command (dbt parse) to write it")
    manifest = json.loads(path.read_text())
    models = []
    for node in manifest["nodes"].values():
        if node.get("resource_type") != "model":
            continue
        if not node.get("original_file_path", "").startswith(MODEL_FOLDERS):
            continue
        json_columns = frozenset(
            name for name, column in node.get("columns", {}).items()
            if (column.get("meta") or {}).get("format") == "json"
            or ((column.get("config") or {}).get("meta") or {}).get("format") == "json"
        )
        models.append(Model(node["name"], node["schema"], node.get("alias") or node["name"], json_columns))
    if not models:
        raise SystemExit(f"{path} lists no models under {' or '.join(MODEL_FOLDERS)}")
    return sorted(models, key=lambda model: (model.schema, model.name))


# ------------------------------------------------------------------- comparison

@dataclass
class Difference:
    model: str
    engine: str
    reason: str
    only_reference: list[str]
    only_engine: list[str]


def compare(models: Sequence[Model], readers: Sequence[Reader], out: Callable[[str], None] = print) -> list[Difference]:
    reference, *others = readers
    labels = [reader.label for reader in readers]
    out(f"{'model':<46}" + "".join(f"{label + ' rows':>18}" for label in labels) + "  checksum (" + labels[0] + ")")
    differences: list[Difference] = []
    for model in models:
        rows = {}
        for reader in readers:
            try:
                rows[reader.label] = normalised_rows(model, reader.read(model))
            except Exception as error:  # a missing table is a difference too
                rows[reader.label] = None
                differences.append(Difference(model.name, reader.label, f"cannot read: {str(error).strip()}", [], []))
        ref_rows = rows[reference.label]
        sums = {label: (checksum(value) if value is not None else "-") for label, value in rows.items()}
        status = []
        for reader in others:
            mine = rows[reader.label]
            if ref_rows is None or mine is None:
                continue
            if sums[reader.label] == sums[reference.label] and len(mine) == len(ref_rows):
                continue
            ref_count, my_count = Counter(ref_rows), Counter(mine)
            differences.append(Difference(
                model.name, reader.label,
                f"{len(ref_rows)} rows on {reference.label}, {len(mine)} on {reader.label}, checksums differ",
                sorted((ref_count - my_count).elements())[:SAMPLE_ROWS],
                sorted((my_count - ref_count).elements())[:SAMPLE_ROWS],
            ))
            status.append(f"DIFFERS on {reader.label}")
        counts = "".join(f"{(len(value) if value is not None else '-'):>18}" for value in rows.values())
        out(f"{model.schema + '.' + model.name:<46}{counts}  {sums[reference.label][:16]} {' '.join(status) or 'same'}")
    return differences


def report(differences: Sequence[Difference], reference: str, out: Callable[[str], None] = print) -> None:
    for difference in differences:
        out(f"\nDIFFERENCE in {difference.model} ({difference.engine} vs {reference}): {difference.reason}")
        for side, sample in ((f"only on {reference}", difference.only_reference),
                             (f"only on {difference.engine}", difference.only_engine)):
            for row in sample:
                out(f"  {side}: {row}")


def parse_engine(spec: str, taken: set[str]) -> tuple[str, str, str | None]:
    kind, _, location = spec.partition("=")
    if kind not in READERS:
        raise SystemExit(f"unknown engine {kind!r} in --engine {spec}; known: {', '.join(READERS)}")
    label, suffix = kind, 2
    while label in taken:
        label, suffix = f"{kind}#{suffix}", suffix + 1
    taken.add(label)
    return label, kind, location or None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=ROOT / "target" / "manifest.json")
    parser.add_argument("--engine", action="append", required=True, metavar="KIND[=LOCATION]",
                        help="an engine to read (repeat; the first is the reference)")
    parser.add_argument("--model", action="append", help="compare only this model (repeatable)")
    args = parser.parse_args(argv)
    if len(args.engine) < 2:
        parser.error("give at least two --engine")
    models = models_from_manifest(args.manifest)
    if args.model:
        unknown = set(args.model) - {model.name for model in models}
        if unknown:
            parser.error(f"not a mart or export: {', '.join(sorted(unknown))}")
        models = [model for model in models if model.name in args.model]
    taken: set[str] = set()
    readers = []
    try:
        for spec in args.engine:
            label, kind, location = parse_engine(spec, taken)
            readers.append(READERS[kind](label, location))
        differences = compare(models, readers)
    finally:
        for reader in readers:
            reader.close()
    report(differences, readers[0].label)
    engines = ", ".join(reader.label for reader in readers)
    if differences:
        names = sorted({difference.model for difference in differences})
        print(f"\n{len(names)} of {len(models)} models differ across {engines}: {', '.join(names)}")
        return 1
    print(f"\n{len(models)} models, zero differences across {engines} "
          f"(floats to {FLOAT_DIGITS} significant digits, JSON compared parsed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
