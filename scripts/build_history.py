"""Replay the last N days of segment membership history into a built warehouse.

Usage: python scripts/build_history.py [--days 7] [--as-of "YYYY-MM-DD HH:MM:SS"]

A fresh warehouse has one day of segment_membership_history (the build's own
as_of), so segment_sizes_daily and segment_performance_daily have one row per
segment. This script rebuilds, for each of the last N days at the same clock
time as as_of (oldest first), the models whose result depends on as_of and
that segment_membership_history reads, then the history itself: the first day
restarts the history (--full-refresh), every later day appends its entries
and exits. Finally everything that depends on as_of is built and tested at
as_of itself, so the warehouse ends where it started, with a week of history.

Models that do not read as_of (staging, sessions, the identity graph, orders)
are left alone: their result is the same at every as_of. Which models read it
is taken from the manifest: a model that calls a macro that (through any
chain of macros) reads var as_of.

as_of defaults to the as_of of the warehouse's last build
(segment_memberships.computed_as_of), else the current time (UTC). The replay
restarts the history, so on a history that already spans several builds it
refuses unless --replace-history is given (make history passes it: the demo's
history is always a replay). dbt parses the project once and every run reuses
that manifest: var as_of is read when a model compiles, not when the project
is parsed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
from dbt.cli.main import dbtRunner

PROJECT_DIR = Path(__file__).resolve().parent.parent
HISTORY_MODEL = "segment_membership_history"
AS_OF_MACROS = ("as_of", "as_of_text")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _as_of_models(manifest) -> set[str]:
    """unique_ids of the models that read var as_of, directly or through macros."""
    project = manifest.metadata.project_name
    reading = {f"macro.{project}.{name}" for name in AS_OF_MACROS}
    changed = True
    while changed:  # macros that call a macro that reads as_of, to a fixed point
        changed = False
        for unique_id, macro in manifest.macros.items():
            if unique_id not in reading and reading & set(macro.depends_on.macros):
                reading.add(unique_id)
                changed = True
    return {
        unique_id
        for unique_id, node in manifest.nodes.items()
        if node.resource_type == "model"
        and (reading & set(node.depends_on.macros) or "var('as_of'" in node.raw_code.replace('"', "'"))
    }


def _ancestors(manifest, unique_id: str) -> set[str]:
    seen: set[str] = set()
    stack = [unique_id]
    while stack:
        for parent in getattr(manifest.nodes[stack.pop()].depends_on, "nodes", []):
            if parent in manifest.nodes and parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def _descendants(manifest, unique_ids: set[str]) -> set[str]:
    children: dict[str, set[str]] = {}
    for unique_id, node in manifest.nodes.items():
        for parent in getattr(node.depends_on, "nodes", []):
            children.setdefault(parent, set()).add(unique_id)
    seen = set(unique_ids)
    stack = list(unique_ids)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _names(manifest, unique_ids: set[str]) -> list[str]:
    return sorted(manifest.nodes[u].name for u in unique_ids if manifest.nodes[u].resource_type == "model")


def _query(db: Path, sql: str):
    """One value from the warehouse, or None when the relation is not built yet."""
    if not db.exists():
        return None
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    except duckdb.CatalogException:
        return None
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7, help="days to replay before as_of (default 7)")
    parser.add_argument("--as-of", help="'YYYY-MM-DD HH:MM:SS' UTC (default: the last build's as_of, else now)")
    parser.add_argument(
        "--db",
        type=Path,
        default=Path(os.environ.get("WAREHOUSE_PATH", PROJECT_DIR / "warehouse.duckdb")),
        help="DuckDB warehouse built by dbt (default: $WAREHOUSE_PATH, else warehouse.duckdb)",
    )
    parser.add_argument(
        "--replace-history",
        action="store_true",
        help="replay even when the history already spans several builds (it is replaced)",
    )
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")

    os.environ["WAREHOUSE_PATH"] = str(args.db.resolve())
    common = ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    started = time.monotonic()

    parsed = dbtRunner().invoke(["parse", "--quiet", *common])
    if not parsed.success:
        print("error: dbt parse failed", file=sys.stderr)
        return 1
    manifest = parsed.result
    project = manifest.metadata.project_name
    history_id = f"model.{project}.{HISTORY_MODEL}"
    memberships = manifest.nodes[f"model.{project}.segment_memberships"].relation_name
    history = manifest.nodes[history_id].relation_name

    # the replay restarts the history: never silently on one that spans several builds
    builds = _query(
        args.db,
        f"select count(*) from (select entered_at from {history} "
        f"union select exited_at from {history} where exited_at is not null)",
    )
    if (builds or 0) > 1 and not args.replace_history:
        print(
            f"error: {history} already holds changes from {builds} builds; the replay would replace "
            "them. Pass --replace-history to replay anyway.",
            file=sys.stderr,
        )
        return 2

    if args.as_of:
        as_of = datetime.strptime(args.as_of.replace("T", " "), TIME_FORMAT)
    else:
        last_as_of = _query(args.db, f"select max(computed_as_of) from {memberships}")
        as_of = last_as_of or datetime.now(timezone.utc).replace(tzinfo=None)
    as_of = as_of.replace(microsecond=0)

    as_of_models = _as_of_models(manifest)
    replayed = (_ancestors(manifest, history_id) & _descendants(manifest, as_of_models)) | {history_id}
    final = _descendants(manifest, as_of_models)
    print(f"as_of {as_of:{TIME_FORMAT}}; replaying {args.days} days: {', '.join(_names(manifest, replayed))}")

    runner = dbtRunner(manifest=manifest)
    for days_back in range(args.days, 0, -1):
        day = as_of - timedelta(days=days_back)
        step = time.monotonic()
        command = ["run", "--quiet", *common, "--select", *_names(manifest, replayed)]
        command += ["--vars", f"{{as_of: '{day:{TIME_FORMAT}}'}}"]
        if days_back == args.days:
            command.append("--full-refresh")  # restart the history at the oldest day
        result = runner.invoke(command)
        if not result.success:
            print(f"error: dbt run at as_of {day:{TIME_FORMAT}} failed", file=sys.stderr)
            return 1
        print(f"  as_of {day:{TIME_FORMAT}}  {time.monotonic() - step:5.1f} s")

    step = time.monotonic()
    command = ["build", "--quiet", *common, "--select", *_names(manifest, final)]
    command += ["--vars", f"{{as_of: '{as_of:{TIME_FORMAT}}'}}"]
    result = runner.invoke(command)
    if not result.success:
        print(f"error: dbt build at as_of {as_of:{TIME_FORMAT}} failed", file=sys.stderr)
        return 1
    print(f"  as_of {as_of:{TIME_FORMAT}}  {time.monotonic() - step:5.1f} s (build and test of all that reads as_of)")
    print(f"history replayed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
