"""``activation run``: one command for a scheduler (cron, Airflow, Dagster).

A run, in order, and never two at once:

1. **Lock**: a lock file next to the warehouse (``<warehouse>.run.lock``),
   taken without waiting. If another run holds it, this one exits 5 at once
   and touches nothing.
2. **Freshness**: ``dbt source freshness`` for the sources upstream of the
   selected syncs' exports. A source past its ``error_after`` stops the run
   (exit 6); ``warn_after`` is reported and the run goes on.
3. **Build**: ``dbt build --select +<export> --exclude-resource-type unit_test``
   for each selected sync (the export and everything upstream, with their
   data tests; the same nodes as
   ``+exposure:<sync>``). Any failed model or test stops the run (exit 6),
   naming the nodes (from run_results.json).
4. **Sync** the selected syncs, exactly as ``activation sync`` does.
5. **Alerts** (activation/alerts.py) and a JSON **run report**.

DuckDB has a single writer. dbt runs in a child process that has exited
before activation opens the warehouse, and activation opens it only after
the last dbt step; the lock keeps a second scheduled run from interleaving.

On a PostgreSQL warehouse (``--warehouse postgresql://...``) the lock is a
PostgreSQL advisory lock held by the run's own session (so it holds across
machines, and a killed run releases it), and dbt runs with the profile's
target as the environment selects it (e.g. ``DBT_TARGET``): activation does
not pass the URL to dbt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml
from filelock import FileLock, Timeout

from activation import yamlfile
from activation.alerts import Alert, failed_share_alerts, membership_change_alerts, payload, post
from activation.cli_common import CONTEXT
from activation.commands import (
    BREAKER,
    CONFIG,
    DESTINATION,
    OK,
    PARTIAL,
    db_option,
    run_syncs,
    select_option,
    syncs_option,
)
from activation.config import Alerts, Sync, SyncsFile, load_syncs
from activation.contract import project_dir
from activation.db import Warehouse, is_postgres, postgres_label, redact
from activation.errors import ActivationError, ConfigError
from activation.state import StateStore

LOCKED, DATA_QUALITY, INTERNAL, INTERRUPTED = 5, 6, 70, 130
OUTCOMES = {
    OK: "success",
    PARTIAL: "partial: some records failed",
    CONFIG: "configuration error",
    BREAKER: "circuit breaker",
    DESTINATION: "destination failure",
    LOCKED: "another run holds the lock",
    DATA_QUALITY: "data-quality stop",
    INTERNAL: "internal error",
    INTERRUPTED: "interrupted",
}
LOG_TAIL_CHARS = 4000
FAILED_STATUSES = {"error", "fail", "runtime error"}


class Stop(Exception):
    """End the run early with an exit code (nothing more is run; the report and alerts still are)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class DbtStep:
    name: str
    command: list[str]
    selectors: list[str]
    returncode: int | None = None
    duration_seconds: float = 0.0
    failed_nodes: list[dict[str, Any]] = field(default_factory=list)
    warned_nodes: list[dict[str, Any]] = field(default_factory=list)
    skipped_nodes: int = 0
    nodes: int = 0
    log_tail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "command": " ".join(self.command),
            "selectors": self.selectors,
            "returncode": self.returncode,
            "duration_seconds": self.duration_seconds,
            "nodes": self.nodes,
            "failed_nodes": self.failed_nodes,
            "warned_nodes": self.warned_nodes,
            "skipped_nodes": self.skipped_nodes,
            **({"log_tail": self.log_tail} if self.log_tail else {}),
        }


@dataclass
class Dbt:
    """How to call dbt for this project and warehouse (a child process: it releases the warehouse on exit)."""

    executable: str
    project_dir: Path
    profiles_dir: Path | None
    target_path: Path
    warehouse: Path | None  # a DuckDB file, passed as WAREHOUSE_PATH; None: the profile's target as it is
    vars_yaml: str | None

    @classmethod
    def locate(cls, warehouse: Path | None, target_path: Path | None, vars_yaml: str | None) -> Dbt:
        beside = Path(sys.executable).parent / "dbt"
        executable = str(beside) if beside.exists() else shutil.which("dbt")
        if not executable:
            raise ConfigError("dbt is not installed (no dbt next to this Python, none on PATH)")
        project = project_dir().resolve()
        if not (project / "dbt_project.yml").is_file():
            raise ConfigError(f"no dbt_project.yml in {project}: set DBT_PROJECT_DIR to the dbt project")
        profiles = os.environ.get("DBT_PROFILES_DIR")
        profiles_dir = Path(profiles) if profiles else (project if (project / "profiles.yml").is_file() else None)
        if vars_yaml is not None:
            try:
                parsed = yamlfile.safe_load(vars_yaml)
            except yaml.YAMLError as error:
                raise ConfigError(f"--dbt-vars is not valid YAML: {error}") from None
            if not isinstance(parsed, dict):
                raise ConfigError("--dbt-vars must be a YAML mapping, e.g. '{as_of: \"2026-11-20 12:00:00\"}'")
        return cls(executable, project, profiles_dir, (target_path or project / "target").resolve(),
                   warehouse.resolve() if warehouse else None, vars_yaml)

    def command(self, *args: str) -> list[str]:
        command = [self.executable, *args, "--project-dir", str(self.project_dir),
                   "--target-path", str(self.target_path), "--log-path", str(self.target_path.parent / "logs")]
        if self.profiles_dir is not None:
            command += ["--profiles-dir", str(self.profiles_dir)]
        if self.vars_yaml:
            command += ["--vars", self.vars_yaml]
        return command

    def run(self, step: DbtStep, artifact: str) -> dict[str, Any] | None:
        """Run the step; its artifact (sources.json / run_results.json) when dbt wrote one."""
        path = self.target_path / artifact
        path.unlink(missing_ok=True)  # never read a previous invocation's results
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false"}
        if self.warehouse is not None:
            env["WAREHOUSE_PATH"] = str(self.warehouse)
        started = time.monotonic()
        completed = subprocess.run(step.command, cwd=self.project_dir, env=env, capture_output=True, text=True)
        step.duration_seconds = round(time.monotonic() - started, 3)
        step.returncode = completed.returncode
        output = completed.stdout + completed.stderr
        if completed.returncode != 0:
            step.log_tail = output[-LOG_TAIL_CHARS:]
        if not path.is_file():
            return None
        return json.loads(path.read_text())


def _node(result: dict[str, Any]) -> dict[str, Any]:
    node = {"unique_id": result["unique_id"], "status": result["status"]}
    message = result.get("message") or result.get("error")
    if result.get("max_loaded_at_time_ago_in_s") is not None:
        criteria = result.get("criteria") or {}
        limit = (criteria.get("error_after") if result["status"] == "error" else criteria.get("warn_after")) or {}
        hours = result["max_loaded_at_time_ago_in_s"] / 3600
        message = (f"newest row {hours:.1f} h old (loaded_at {result.get('max_loaded_at')}); "
                   f"{'error' if result['status'] == 'error' else 'warn'} after {limit.get('count')} {limit.get('period')}")
    if message:
        node["message"] = str(message)
    if result.get("failures") is not None:
        node["failures"] = result["failures"]
    return node


def _classify(step: DbtStep, results: list[dict[str, Any]]) -> None:
    step.nodes = len(results)
    step.failed_nodes = [_node(r) for r in results if r["status"] in FAILED_STATUSES]
    step.warned_nodes = [_node(r) for r in results if r["status"] == "warn"]
    step.skipped_nodes = sum(1 for r in results if r["status"] == "skipped")


def freshness_step(dbt: Dbt, selectors: list[str]) -> DbtStep:
    return DbtStep("source freshness", dbt.command("source", "freshness", "--select", *selectors), selectors)


def build_step(dbt: Dbt, selectors: list[str]) -> DbtStep:
    # Unit tests check SQL logic on fixed rows, not the data: they run in CI
    # (`make test`), not in every scheduled build, as dbt's docs recommend.
    return DbtStep(
        "build", dbt.command("build", "--select", *selectors, "--exclude-resource-type", "unit_test"), selectors
    )


def check_freshness(dbt: Dbt, step: DbtStep, echo: Any) -> None:
    """Run `dbt source freshness`; Stop when a source is past its error threshold."""
    artifact = dbt.run(step, "sources.json")
    _classify(step, (artifact or {}).get("results", []))
    for node in step.warned_nodes:
        echo(f"  warning: {node['unique_id']} is getting stale: {node.get('message', '')}")
    stale = [node for node in step.failed_nodes if node["status"] == "error"]
    if stale:
        raise Stop(DATA_QUALITY, "source freshness: past error_after, nothing was built or synced:\n"
                   + "\n".join(f"  {node['unique_id']}: {node.get('message', '')}" for node in stale))
    if step.failed_nodes or (step.returncode and artifact is None):
        raise Stop(CONFIG, "dbt source freshness could not check the sources:\n"
                   + "\n".join(f"  {node['unique_id']}: {node.get('message', '')}" for node in step.failed_nodes)
                   + (f"\n{step.log_tail}" if step.log_tail else ""))


def build(dbt: Dbt, step: DbtStep) -> None:
    """Run `dbt build`; Stop when a model or test failed (or dbt could not run)."""
    artifact = dbt.run(step, "run_results.json")
    _classify(step, (artifact or {}).get("results", []))
    if step.failed_nodes:
        raise Stop(DATA_QUALITY, f"dbt build: {len(step.failed_nodes)} node(s) failed"
                   f" ({step.skipped_nodes} skipped downstream); nothing was synced:\n"
                   + "\n".join(f"  {node['unique_id']} ({node['status']}): {node.get('message', '')}"
                               for node in step.failed_nodes))
    if step.returncode:
        raise Stop(CONFIG, f"dbt build failed before running its nodes (exit {step.returncode}):\n{step.log_tail}")


def default_report_path(dbt_target: Path | None) -> Path:
    target = dbt_target or project_dir() / "target"
    return target / "activation_runs" / f"{datetime.now(UTC):%Y%m%dT%H%M%S_%fZ}.json"


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".run.lock")


class RunLock:
    """One scheduled run per warehouse: a lock file next to a DuckDB file, or a PostgreSQL advisory
    lock of a session this run keeps open (released by PostgreSQL if the run dies)."""

    def __init__(self, warehouse_spec: str) -> None:
        self.spec = warehouse_spec
        self.postgres = is_postgres(warehouse_spec)
        if self.postgres:
            self.label = postgres_label(warehouse_spec)
            self.description = f"advisory lock 'activation run' on {self.label}"
        else:
            self.label = str(warehouse_spec)
            self.description = str(lock_path(Path(warehouse_spec)))
        self._file: FileLock | None = None
        self._session: Warehouse | None = None
        self._context: Any = None

    def acquire(self) -> None:
        """Take the lock without waiting; Stop(LOCKED) when another run holds it."""
        busy = (f"another `activation run` holds {self.description}: this run did nothing "
                "(it is still running, or the schedule is faster than a run)")
        if not self.postgres:
            self._file = FileLock(self.description)
            try:
                self._file.acquire(timeout=0)  # one attempt: a scheduled run never waits for the previous one
            except Timeout:
                raise Stop(LOCKED, busy) from None
            except OSError as error:
                raise Stop(CONFIG, f"cannot create the lock file {self.description}: {error}") from None
            return
        try:
            self._session = Warehouse.open(self.spec)
        except ConfigError as error:
            raise Stop(CONFIG, str(error)) from None
        # advisory locks belong to the database: every spelling of its URL meets the same lock
        self._context = self._session.exclusive("activation run")
        try:
            self._context.__enter__()
        except ConfigError:
            self._session.close()
            self._session = None
            raise Stop(LOCKED, busy) from None

    def release(self) -> None:
        if self._file is not None:
            self._file.release()
        if self._session is not None:
            self._context.__exit__(None, None, None)
            self._session.close()
            self._session = None


@click.command("run", context_settings=CONTEXT, short_help="Scheduled run: lock, dbt freshness and build, sync, alert.")
@syncs_option
@db_option
@select_option
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON run report here.  [default: <dbt target>/activation_runs/<UTC time>.json]")
@click.option("--dbt-vars", "dbt_vars", metavar="YAML",
              help="Passed to every dbt step as --vars, e.g. '{as_of: \"2026-11-20 12:00:00\"}'.")
@click.option("--dbt-target-path", "dbt_target", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="dbt's target path (artifacts; logs go beside it).  [default: <dbt project>/target]")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: print the run report on stdout (progress goes to stderr).")
def run_command(
    syncs_path: Path,
    warehouse_spec: str,
    names: tuple[str, ...],
    report_path: Path | None,
    dbt_vars: str | None,
    dbt_target: Path | None,
    output: str,
) -> None:
    """One scheduled run: lock, check source freshness, dbt build, sync, alert, report.

    \b
    1. take the lock <warehouse>.run.lock (no waiting; on PostgreSQL an advisory lock):
       a run that finds it held exits 5;
    2. dbt source freshness on the sources upstream of the selected syncs' exports:
       past error_after stops the run (exit 6), warn_after only warns;
    3. dbt build --select +<export> for each selected sync, data tests included and unit
       tests excluded (they run in CI): a failed model or test stops the run before
       anything is sent (exit 6), naming the failed nodes;
    4. the syncs, exactly as `activation sync` runs them;
    5. alerts to the webhook in $<alerts.webhook_url_env> (syncs.yml `alerts`): on a non-zero
       exit (a partial run only above failed_share), a failed share above alerts.failed_share,
       or a list sync planning far more changes than its recent median;
    6. a JSON report: dbt steps (command, duration, failed nodes), syncs (counts), exit code,
       alerts.

    dbt runs as a child process and has exited before the sync opens the warehouse: DuckDB
    never has two writers. The dbt project is $DBT_PROJECT_DIR (else this checkout); a DuckDB
    warehouse is passed to dbt as WAREHOUSE_PATH. With a PostgreSQL --warehouse, dbt uses the
    profile's target as the environment selects it (DBT_TARGET): point both at the same database.

    \b
    Exit codes:
      0  success (or nothing to send)
      1  partial: some records failed (recorded, retried by the next run)
      2  configuration error (syncs file, warehouse, dbt project, dbt could not run)
      3  a circuit breaker stopped a list sync before it sent anything
      4  a destination failed in a way retries did not fix
      5  another run holds the lock: nothing was done
      6  data-quality stop: a source past its freshness error threshold, or a dbt model or
         test failed; nothing was synced
      70 an unexpected internal error (a bug: traceback on stderr; report and alert still written)
    """
    started_at = datetime.now(UTC)
    started = time.monotonic()
    report_path = report_path or default_report_path(dbt_target)
    say = (lambda text: click.echo(text, err=True)) if output == "json" else click.echo
    lock = RunLock(warehouse_spec)
    report: dict[str, Any] = {
        "started_at": started_at.isoformat(),
        "selected_syncs": list(names),
        "warehouse": lock.label,
        "lock": lock.description,
        "dbt": [],
        "syncs": [],
        "alerts": [],
    }
    settings = Alerts()
    syncs: SyncsFile | None = None
    selected: list[Sync] = []
    code: int | None = None  # still None in `finally`: interrupted (Ctrl-C), reported as such
    message = ""
    alerts: list[Alert] = []
    try:
        try:
            syncs = load_syncs(syncs_path)
            settings = syncs.alerts
            selected = syncs.select(list(names))
            report["selected_syncs"] = [sync.name for sync in selected]
            duckdb_file = None if lock.postgres else Path(warehouse_spec)
            if duckdb_file is not None and not duckdb_file.exists():
                raise ConfigError(f"warehouse {duckdb_file} does not exist: run `make demo` or `dbt build` first")
            dbt = Dbt.locate(duckdb_file, dbt_target, dbt_vars)
        except ConfigError as error:
            raise Stop(CONFIG, str(error)) from None
        lock.acquire()
        try:
            selectors = list(dict.fromkeys(f"+{sync.source}" for sync in selected))
            if selectors:
                say(f"dbt source freshness --select {' '.join(selectors)}")
                step = freshness_step(dbt, selectors)
                try:
                    check_freshness(dbt, step, say)
                finally:
                    report["dbt"].append(step.as_dict())
                say(f"  {step.nodes} source(s) checked, {len(step.warned_nodes)} warning(s), "
                    f"{step.duration_seconds:.1f} s")
                say(f"dbt build --select {' '.join(selectors)} --exclude-resource-type unit_test")
                step = build_step(dbt, selectors)
                try:
                    build(dbt, step)
                finally:
                    report["dbt"].append(step.as_dict())
                say(f"  {step.nodes} node(s) ok, {len(step.warned_nodes)} warning(s), {step.duration_seconds:.1f} s")
            code, entries = _sync(syncs, selected, warehouse_spec, settings, alerts, text=output == "text")
            report["syncs"] = entries
            message = "; ".join(f"{e['sync_name']}: {e['status']}: {e['error']}" for e in entries if e.get("error"))
        finally:
            lock.release()
    except Stop as stop:
        code, message = stop.code, str(stop)
    except ActivationError as error:  # a destination or engine failure no except above expected
        code, message = DESTINATION, f"{type(error).__name__}: {error}"
    except Exception as error:  # a bug: still reported and alerted, then the traceback
        code, message = INTERNAL, f"{type(error).__name__}: {error}"
        traceback.print_exc()
    finally:
        if code is None:
            code, message = INTERRUPTED, "interrupted"
        message = redact(message)  # a driver's message never carries a password to a report or an alert
        report["exit_code"] = code
        report["outcome"] = OUTCOMES.get(code, "failed")
        if message:
            report["message"] = message
        if code not in (OK, PARTIAL):  # a partial run alerts only above failed_share (collected by _sync)
            alerts.insert(0, Alert("failure", f"{OUTCOMES.get(code, 'failed')}: {message}".rstrip(": ")))
        report["alerts"] = _send_alerts(settings, alerts, code, report_path)
        report["finished_at"] = datetime.now(UTC).isoformat()
        report["duration_seconds"] = round(time.monotonic() - started, 3)
        _write_report(report_path, report)
    if message and code != OK:
        click.echo(f"activation run: {OUTCOMES.get(code, 'failed')} (exit {code}): {message}", err=True)
    if output == "json":
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        click.echo(f"activation run: {OUTCOMES.get(code, 'failed')} (exit {code}), "
                   f"{report['duration_seconds']:.1f} s; report {report_path}")
    if code:
        raise SystemExit(code)


def _sync(
    syncs: SyncsFile | None,
    selected: list[Sync],
    warehouse_spec: str,
    settings: Alerts,
    alerts: list[Alert],
    *,
    text: bool,
) -> tuple[int, list[dict[str, Any]]]:
    """The syncs (dbt has exited: activation is now the warehouse's only user), then their alerts."""
    assert syncs is not None
    try:
        warehouse = Warehouse.open(warehouse_spec)
    except ConfigError as error:
        raise Stop(CONFIG, str(error)) from None
    store = StateStore(warehouse, syncs.state_schema)
    with warehouse:
        code, entries = run_syncs(syncs, warehouse, store, selected, text=text)
        alerts += failed_share_alerts(settings, entries)
        alerts += membership_change_alerts(settings, warehouse, store, selected, entries)
    for entry in entries:
        entry.pop("samples", None)  # record keys: not for a report that may be shipped around
    return code, entries


def _send_alerts(settings: Alerts, alerts: list[Alert], code: int, report_path: Path) -> list[dict[str, Any]]:
    if not alerts:
        return []
    for alert in alerts:
        click.echo(f"ALERT [{alert.kind}] {alert.summary.splitlines()[0]}", err=True)
    message = payload(alerts, exit_code=code, outcome=OUTCOMES.get(code, "failed"), report_path=str(report_path))
    delivery = post(settings, message)
    click.echo(f"  alert posted to ${settings.webhook_url_env}" if delivery["delivered"]
               else f"  alert {delivery['error']}", err=True)
    return [{**alert.as_dict(), **delivery} for alert in alerts]


def _write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(report, indent=2, default=str) + "\n")
    temporary.replace(path)
