"""``activation sync | plan | status``: the reverse-ETL commands.

Exit codes (also in `activation sync --help`):

    0  every selected sync succeeded (or there was nothing to send)
    1  partial: some records failed; they are recorded and retried next run
    2  configuration or usage error (syncs file, warehouse, missing export, credentials)
    3  a circuit breaker stopped a list sync before it sent anything
    4  a destination failed in a way retries did not fix (the run is recorded as failed)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from activation.cli_common import CONTEXT
from activation.config import DEFAULT_SYNCS_FILE, Sync, SyncsFile, load_syncs
from activation.db import DEFAULT_WAREHOUSE, WAREHOUSE_ENV, Warehouse, default_warehouse, rows_of
from activation.destinations import make_destination
from activation.engine import Engine, RunResult
from activation.errors import CircuitBreakerTripped, ConfigError, DestinationError
from activation.planner import OPERATIONS
from activation.state import StateStore

OK, PARTIAL, CONFIG, BREAKER, DESTINATION = 0, 1, 2, 3, 4


def _default_syncs() -> Path:
    return Path(os.environ.get("ACTIVATION_SYNCS") or DEFAULT_SYNCS_FILE)


syncs_option = click.option(
    "--syncs",
    "syncs_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=_default_syncs,
    show_default=f"$ACTIVATION_SYNCS or ./{DEFAULT_SYNCS_FILE}",
    help="The sync declarations file.",
)
db_option = click.option(
    "--warehouse",
    "--db",
    "warehouse_spec",
    metavar="PATH|URL",
    default=default_warehouse,
    show_default=f"${WAREHOUSE_ENV}, else $WAREHOUSE_PATH, else ./{DEFAULT_WAREHOUSE}",
    help=(
        "Where exports are read and activation's state is kept: a DuckDB file, or a PostgreSQL URL "
        "postgresql://[user@]host[:port]/database (no password in it: libpq reads PGPASSWORD or ~/.pgpass; "
        "PGHOST, PGPORT, PGUSER, PGDATABASE fill in what the URL leaves out)."
    ),
)
select_option = click.option(
    "--select", "-s", "names", multiple=True, metavar="NAME", help="Run only this sync (repeatable). Default: all."
)
output_option = click.option(
    "--output", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format."
)


class Fail(click.ClickException):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


def _open(syncs_path: Path, warehouse_spec: str) -> tuple[SyncsFile, Warehouse, StateStore]:
    syncs = load_syncs(syncs_path)
    warehouse = Warehouse.open(warehouse_spec)
    return syncs, warehouse, StateStore(warehouse, syncs.state_schema)


@click.command("sync", context_settings=CONTEXT, short_help="Send what changed to the destinations.")
@syncs_option
@db_option
@select_option
@click.option("--dry-run", is_flag=True, help="Plan and record the run as a dry run; send nothing.")
@click.option("--full-resync", is_flag=True, help="Send every record again, changed or not (state is kept).")
@click.option(
    "--force-removals", is_flag=True, help="Proceed even when a list would lose more than its circuit breaker allows."
)
@output_option
def sync_command(
    syncs_path: Path,
    warehouse_spec: str,
    names: tuple[str, ...],
    dry_run: bool,
    full_resync: bool,
    force_removals: bool,
    output: str,
) -> None:
    """Run syncs: plan each against what the destination last acknowledged, then send the changes.

    Each sync first finishes any run a crash interrupted (from its journal), then plans
    ADD / CHANGE / REMOVE / RETRY / UNCHANGED per record in SQL, stores the plan, and sends it
    batch by batch. State is committed per acknowledged batch, so a rerun after a crash
    resumes without losing or duplicating anything. Records an ESP rejects are recorded with
    the reason and retried on the next run. Every run is recorded in <state schema>.runs
    (see `activation status`).

    Credentials come from the environment variables the syncs file names; a destination's
    base URL can be redirected with its base_url_env (e.g. KLAVIYO_BASE_URL=http://127.0.0.1:8765
    to rehearse against `activation simulate klaviyo`).

    \b
    Exit codes: 0 ok, 1 some records failed (retried next run), 2 configuration error,
    3 a circuit breaker stopped a list sync, 4 a destination failed.
    """
    try:
        syncs, warehouse, store = _open(syncs_path, warehouse_spec)
    except ConfigError as error:
        raise Fail(str(error), CONFIG) from None
    with warehouse:
        try:
            selected = syncs.select(list(names))
        except ConfigError as error:
            raise Fail(str(error), CONFIG) from None
        code, results = run_syncs(
            syncs, warehouse, store, selected, dry_run=dry_run, full_resync=full_resync,
            force_removals=force_removals, text=output == "text",
        )
    if output == "json":
        click.echo(json.dumps({"exit_code": code, "runs": results}, indent=2, default=str))
    else:
        for entry in results:
            if entry.get("error") and entry["status"] in ("aborted", "config_error", "failed"):
                click.echo(f"{entry['sync_name']}: {entry['status'].upper()}: {entry['error']}", err=True)
    if code:
        raise SystemExit(code)


def run_syncs(
    syncs: SyncsFile,
    warehouse: Warehouse,
    store: StateStore,
    selected: list[Sync],
    *,
    dry_run: bool = False,
    full_resync: bool = False,
    force_removals: bool = False,
    text: bool = True,
) -> tuple[int, list[dict[str, Any]]]:
    """Run `selected` one after the other; the exit code and one entry per sync (a run or its error).

    `sync` and the scheduled `run` share it. With `text`, each finished run is described on stdout.
    """
    results: list[dict[str, Any]] = []
    code = OK
    engine = Engine(warehouse, store, syncs.exports_schema, make_destination, progress=text)
    for sync in selected:
        try:
            result = engine.run(sync, dry_run=dry_run, full_resync=full_resync, force_removals=force_removals)
        except CircuitBreakerTripped as error:
            results.append({"sync_name": sync.name, "status": "aborted", "error": str(error)})
            code = max(code, BREAKER)
            continue
        except ConfigError as error:
            results.append({"sync_name": sync.name, "status": "config_error", "error": str(error)})
            code = max(code, CONFIG)
            continue
        except DestinationError as error:
            results.append({"sync_name": sync.name, "status": "failed", "error": str(error)})
            code = max(code, DESTINATION)
            continue
        results.append(result.as_dict())
        if result.failed:
            code = max(code, PARTIAL)
        if text:
            click.echo(_describe_run(result))
    return code, results


def _describe_run(result: RunResult) -> str:
    planned = ", ".join(f"{op.lower()} {result.counts.get(op, 0):,}" for op in OPERATIONS)
    rejected = sum(result.rejected.values())
    line = f"{result.sync_name}: {result.status} ({planned}; rejected {rejected:,})"
    if result.status != "dry_run":
        line += (
            f"\n  sent {result.sent:,}, acknowledged {result.acknowledged:,}, failed {result.failed:,}, "
            f"requests {result.requests:,}, {result.duration_seconds:.1f} s"
        )
    if result.resumed_run_ids:
        line += f"\n  first completed interrupted run(s): {', '.join(result.resumed_run_ids)}"
    return line


@click.command("plan", context_settings=CONTEXT, short_help="Show what a sync would change, with sample keys.")
@syncs_option
@db_option
@select_option
@click.option("--full-resync", is_flag=True, help="Plan as if every record had to be sent again.")
@click.option("--samples", default=5, show_default=True, help="Sample record keys per operation.")
@output_option
def plan_command(
    syncs_path: Path, warehouse_spec: str, names: tuple[str, ...], full_resync: bool, samples: int, output: str
) -> None:
    """Compute each selected sync's plan and print it; nothing is sent or recorded.

    Per operation (ADD, CHANGE, REMOVE, RETRY, UNCHANGED) the number of records and a few
    sample keys, and the rejected rows by reason (null_key, duplicate_key, invalid_email,
    tombstoned).
    """
    try:
        syncs, warehouse, store = _open(syncs_path, warehouse_spec)
        selected = syncs.select(list(names))
    except ConfigError as error:
        raise Fail(str(error), CONFIG) from None
    plans = []
    with warehouse:
        engine = Engine(warehouse, store, syncs.exports_schema, make_destination, progress=False)
        for sync in selected:
            try:
                plan = engine.plan_only(sync, full_resync=full_resync)
            except ConfigError as error:
                raise Fail(str(error), CONFIG) from None
            plans.append(
                {
                    "sync_name": sync.name,
                    "counts": plan.counts,
                    "rejected": plan.rejected,
                    "samples": {op: keys[:samples] for op, keys in plan.samples.items()},
                    "removals_by_list": {k: {"remove": r, "members": m} for k, (r, m) in plan.removals_by_list.items()},
                }
            )
    if output == "json":
        click.echo(json.dumps(plans, indent=2))
        return
    for entry in plans:
        click.echo(f"{entry['sync_name']}")
        for op in OPERATIONS:
            keys = entry["samples"].get(op, [])
            sample = f"  e.g. {', '.join(keys)}" if keys else ""
            click.echo(f"  {op:<10}{entry['counts'][op]:>10,}{sample}")
        for reason, count in sorted(entry["rejected"].items()):
            click.echo(f"  rejected  {count:>10,}  {reason}")


@click.command("status", context_settings=CONTEXT, short_help="Recent runs and their counts.")
@syncs_option
@db_option
@select_option
@click.option("--limit", default=10, show_default=True, help="Runs to show.")
@output_option
def status_command(syncs_path: Path, warehouse_spec: str, names: tuple[str, ...], limit: int, output: str) -> None:
    """Recent runs from <state schema>.runs: status, planned operations, outcomes, requests, duration, error."""
    try:
        syncs = load_syncs(syncs_path)
        warehouse = Warehouse.open(warehouse_spec, read_only=True)
    except ConfigError as error:
        raise Fail(str(error), CONFIG) from None
    store = StateStore(warehouse, syncs.state_schema)
    with warehouse:
        if not warehouse.relation_exists(syncs.state_schema, "runs"):
            click.echo("no runs yet (run `activation sync`)")
            return
        where = "where sync_name in (select unnest(cast(? as varchar[])))" if names else ""
        params: list[Any] = [list(names)] if names else []
        rows = rows_of(*warehouse.query(
            f"select * from {store.table('runs')} {where} order by started_at desc limit {int(limit)}", params
        ))
    if output == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        click.echo(
            f"{row['started_at']:%Y-%m-%d %H:%M:%S}  {row['sync_name']:<24} {row['status']:<10} "
            f"add {row['planned_add']:,} change {row['planned_change']:,} remove {row['planned_remove']:,} "
            f"retry {row['planned_retry']:,} unchanged {row['unchanged']:,} rejected {row['rejected']:,} | "
            f"sent {row['sent']:,} ack {row['acknowledged']:,} failed {row['failed']:,} "
            f"requests {row['requests']:,} {row['duration_seconds'] or 0:.1f}s"
            + (f"\n    {row['error']}" if row["error"] else "")
        )
