"""Command line: ``python -m datagen generate ...`` (console script ``datagen``)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from datagen.config import GeneratorConfig, default_end_time
from datagen.contract import RAW_TABLES
from datagen.manifest import MANIFEST_NAME
from datagen.pipeline import STAGES, Dataset, generate
from datagen.writers import FileFormat, OutputError, WriteMode, check_schema, write_duckdb, write_files

DEFAULT_DB = "warehouse.duckdb"
DEFAULT_FILES_DIR = "generated"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Generate sample raw data for the warehouse.

    Lands the 8 raw tables of models/staging/_raw__sources.yml (events, customers, orders,
    order_items, products, email_events, consents, privacy_requests) with realistic
    behaviour and a known set of anomalies, plus manifest.json: per table, how many rows
    staging must stage, count as duplicates and quarantine for each reason.
    """


def _end_time(_: click.Context, __: click.Parameter, value: str | None) -> datetime:
    if value is None:
        return default_end_time()
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not ISO-8601; use e.g. 2026-11-22T12:00:00 (UTC) or 2026-11-22T13:00:00+01:00"
        ) from None


F = TypeVar("F", bound=Callable[..., Any])


def _duckdb_options(db_help: str, schema_help: str) -> Callable[[F], F]:
    """--db and --schema: the DuckDB file of the raw tables and their schema (generate writes, load reads)."""

    def decorate(command: F) -> F:
        command = click.option("--schema", default="raw", show_default=True, help=schema_help)(command)
        return click.option(
            "--db",
            "db_path",
            type=click.Path(dir_okay=False, path_type=Path),
            default=lambda: os.environ.get("WAREHOUSE_PATH", DEFAULT_DB),
            show_default=f"$WAREHOUSE_PATH or {DEFAULT_DB}",
            help=db_help,
        )(command)

    return decorate


@main.command("generate")
@_duckdb_options("DuckDB file to write the raw tables into (created if missing).",
                 "Schema for the raw tables in the DuckDB file.")
@click.option(
    "--customers",
    type=int,
    default=2000,
    show_default=True,
    help="CRM customers. Another 25% as many anonymous-only visitors browse too.",
)
@click.option(
    "--days", type=int, default=30, show_default=True, help="Length of the event window, ending at --end-time."
)
@click.option(
    "--events",
    type=int,
    default=None,
    help="Target total event count; scales per-customer activity.  [default: about 10 per customer per 30 days]",
)
@click.option(
    "--products", type=int, default=None, help="Catalogue size.  [default: customers / 500, from 50 up to 5000]"
)
@click.option(
    "--seed", type=int, default=42, show_default=True, help="Random seed; the same options give identical data."
)
@click.option(
    "--end-time",
    "end_time",
    callback=_end_time,
    default=None,
    metavar="ISO",
    help="End of the window, e.g. 2026-11-22T12:00:00 (UTC unless an offset is given).  [default: now, to the second]",
)
@click.option(
    "--mess-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiplier for all anomaly rates; 0 gives perfectly clean data.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["duckdb", "parquet", "ndjson"]),
    default="duckdb",
    show_default=True,
    help="duckdb writes into --db; parquet / ndjson write one file per table into --out-dir.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Directory for data files and manifest.json.  [default: {DEFAULT_FILES_DIR}/ for files, "
    "the directory of --db for duckdb]",
)
@click.option("--append", is_flag=True, help="Insert into existing raw tables instead of replacing them (duckdb only).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def generate_command(
    ctx: click.Context,
    db_path: Path,
    schema: str,
    customers: int,
    days: int,
    events: int | None,
    products: int | None,
    seed: int,
    end_time: datetime,
    mess_scale: float,
    fmt: str,
    out_dir: Path | None,
    append: bool,
    quiet: bool,
) -> None:
    """Generate the raw tables and write them.

    \b
    Examples:
      python -m datagen generate                       # 2,000 customers into warehouse.duckdb
      python -m datagen generate --customers 1000000 --days 30 --db /tmp/big.duckdb
      python -m datagen generate --end-time 2026-11-22T12:00:00 --mess-scale 0
      python -m datagen generate --format parquet --out-dir data/raw

    The manifest (manifest.json) records the config and, per table, raw rows, expected
    staged rows, duplicates and quarantined rows per reason. With --append it describes
    only the batch just written.
    """
    if fmt != "duckdb":
        for option, name in (("append", "--append"), ("schema", "--schema"), ("db_path", "--db")):
            if ctx.get_parameter_source(option) is ParameterSource.COMMANDLINE:
                raise click.UsageError(f"{name} only applies to --format duckdb; drop it or use --format duckdb")
    try:
        config = GeneratorConfig(
            customers=customers,
            days=days,
            end_time=end_time,
            seed=seed,
            products=products,
            events=events,
            mess_scale=mess_scale,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None

    if fmt == "duckdb":
        try:
            check_schema(schema)
        except OutputError as error:
            raise click.UsageError(str(error)) from None
    started = time.perf_counter()
    with _progress(quiet) as advance:
        dataset = generate(config, on_stage=advance)
        generated = time.perf_counter()

        def writing(name: str) -> None:
            advance(f"write {name}")

        try:
            if fmt == "duckdb":
                mode: WriteMode = "append" if append else "replace"
                manifest_path = out_dir / MANIFEST_NAME if out_dir else None
                manifest = write_duckdb(dataset, db_path, schema, mode, manifest_path, on_table=writing)
                target = f"{db_path} (schema {schema})"
            else:
                file_format: FileFormat = "parquet" if fmt == "parquet" else "ndjson"
                manifest = write_files(dataset, out_dir or Path(DEFAULT_FILES_DIR), file_format, on_table=writing)
                target = f"{manifest.parent}/*.{fmt}"
        except OutputError as error:
            raise click.UsageError(str(error)) from None
    finished = time.perf_counter()
    click.echo(_summary(config, dataset, target, manifest, generated - started, finished - generated))


@main.command("load")
@_duckdb_options("DuckDB file holding the raw tables (written by `datagen generate`).",
                 "Schema of the raw tables in the DuckDB file.")
@click.option(
    "--target",
    "target",
    required=True,
    metavar="ENGINE",
    help="Engine to load into: a module of datagen/loaders/ (postgres, ...).",
)
@click.option(
    "--target-schema",
    default=None,
    help="Schema to create the tables in.  [default: the same as --schema]",
)
@click.option("--table", "tables", multiple=True, help="Load only this table (repeatable).  [default: all]")
@click.option("--quiet", is_flag=True, help="Print only the summary.")
def load_command(
    db_path: Path, schema: str, target: str, target_schema: str | None, tables: tuple[str, ...], quiet: bool
) -> None:
    """Copy the raw tables of a DuckDB file into another engine (replacing them there).

    \b
    Examples:
      python -m datagen generate --db /tmp/w.duckdb --customers 2000 --days 30
      python -m datagen load --db /tmp/w.duckdb --target postgres   # PG* variables; scripts/postgres.sh env

    Column types are mapped to the engine's types of the same values; each table is
    replaced in one transaction and its row count checked against the source.
    """
    from datagen.loaders import LoadError, loader_module
    from datagen.loaders.base import RawSource, check_identifier

    started = time.perf_counter()
    try:
        module = loader_module(target)
        with RawSource(db_path, schema) as source:
            raw_tables = source.tables(tables or None)
            destination = check_identifier(target_schema or schema, "--target-schema")
            loaded = module.load(
                source,
                raw_tables,
                destination,
                on_table=None if quiet else lambda name: click.echo(f"loading {name}", err=True),
            )
    except LoadError as error:
        raise click.ClickException(str(error)) from None
    for table in loaded:
        click.echo(f"{destination}.{table.name:<17}{table.rows:>12,} rows {table.seconds:>8.1f} s")
    click.echo(f"loaded {len(loaded)} tables into {target} in {time.perf_counter() - started:.1f} s")


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str], None]]:
    """A callable that advances a progress bar on stderr by one stage (no bar when quiet)."""
    if quiet:
        yield lambda _: None
        return
    stages = [*STAGES, *(f"write {name}" for name in RAW_TABLES)]
    with click.progressbar(
        length=len(stages), label="datagen", file=sys.stderr, show_pos=True, item_show_func=lambda stage: stage
    ) as bar:
        yield lambda stage: bar.update(1, stage)


def _summary(
    config: GeneratorConfig, dataset: Dataset, target: str, manifest: Path, gen_s: float, write_s: float
) -> str:
    lines = [
        f"datagen: {config.customers:,} customers, {config.days} days to {config.end_time.isoformat()}, "
        f"seed {config.seed}, mess x{config.mess_scale:g}",
        f"{'table':<17}{'raw rows':>12}{'staged':>12}{'duplicates':>12}{'quarantined':>13}",
    ]
    for name, expected in dataset.manifest["tables"].items():
        quarantined = sum(expected["expected_quarantined_rows"].values())
        lines.append(
            f"{name:<17}{expected['raw_rows']:>12,}{expected['expected_staged_rows']:>12,}"
            f"{expected['expected_duplicate_rows']:>12,}{quarantined:>13,}"
        )
    lines.append(f"prepared in {gen_s:.1f} s, assembled and written in {write_s:.1f} s -> {target}")
    lines.append(f"manifest: {manifest}")
    return "\n".join(lines)
