"""Time `dbt build`: a full refresh, then an incremental build after 1% new events.

The newest `--new-share` of raw events (by received_at) is held back, the
warehouse is built with --full-refresh, the held-back events are landed, and
`dbt build` runs incrementally. The full build runs at as_of = the cut, the
incremental one at as_of = the end of the data, as consecutive scheduled runs
would (at one as_of the membership history, by design, records nothing new,
and its test that daily sizes match the memberships fails). Both builds are production builds: models and
data tests, without dbt unit tests (`--exclude-resource-type unit_test`, as
`activation run` builds; `--unit-tests` includes them). Repeated `--runs`
times on a fresh copy of the warehouse; medians are reported, with the
slowest nodes of each build, and the CPU seconds of each dbt process
(user + system, its DuckDB threads included): on a machine shared with
other work the wall time moves with the load, the CPU time far less.

    python -m bench.build_times --db /tmp/bench10m.duckdb --runs 3
    python -m bench.build_times --db /tmp/bench10m.duckdb --generate --customers 1000000

Prints a table and writes bench/results/build_times.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import duckdb

from bench import dbt_process

AS_OF = datetime(2026, 11, 20, 12)  # the generated data ends here (--end-time below)

ROOT = Path(__file__).resolve().parents[1]


def _hold_back(warehouse: Path, share: float) -> tuple[int, datetime]:
    """Move the newest `share` of raw events into raw._held_back; return how many, and the
    received_at they were cut at (the as_of of the build before they land)."""
    with duckdb.connect(str(warehouse)) as con:
        cut = con.execute(
            f"select quantile_disc(received_at, {1 - share}) from raw.events"
        ).fetchone()[0]
        con.execute("create or replace table raw._held_back as select * from raw.events where received_at > ?", [cut])
        con.execute("delete from raw.events where received_at > ?", [cut])
        return con.execute("select count(*) from raw._held_back").fetchone()[0], cut


def _land_held_back(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("insert into raw.events select * from raw._held_back")
        con.execute("drop table raw._held_back")


def _node_seconds(work: Path) -> dict[str, float]:
    """Execution seconds per node (model, test, seed) of the last dbt invocation."""
    return {entry["unique_id"]: entry["execution_time"] for entry in dbt_process.node_results(work)}


def _children_cpu_seconds() -> float:
    """User + system CPU seconds of the finished child processes so far (dbt and its threads)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_build(args: list[str], warehouse: Path, work: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one dbt invocation."""
    before = _children_cpu_seconds()
    wall = dbt_process.run(args, warehouse, work)
    return wall, _children_cpu_seconds() - before


def _as_of(moment: datetime) -> list[str]:
    return ["--vars", json.dumps({"as_of": moment.strftime("%Y-%m-%d %H:%M:%S")})]


def _slowest(runs: list[dict[str, float]], top: int = 25) -> dict[str, float]:
    """The `top` nodes by median execution seconds across runs."""
    if not runs:
        return {}
    medians = {node: statistics.median(run.get(node, 0.0) for run in runs) for node in runs[0]}
    ranked = sorted(medians.items(), key=lambda item: item[1], reverse=True)[:top]
    return {node: round(seconds, 2) for node, seconds in ranked}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="DuckDB file holding the raw schema")
    parser.add_argument("--generate", action="store_true", help="generate the raw data into --db first")
    parser.add_argument("--customers", type=int, default=1_000_000, help="with --generate (default 1,000,000)")
    parser.add_argument("--days", type=int, default=30, help="with --generate (default 30)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported (default 3)")
    parser.add_argument("--new-share", type=float, default=0.01, help="share of events held back (default 0.01)")
    parser.add_argument("--select", default=None, help="dbt --select for both builds (default: everything)")
    parser.add_argument("--unit-tests", action="store_true",
                        help="include dbt unit tests in both builds (default: excluded, as in a scheduled build)")
    args = parser.parse_args(argv)

    if args.generate:
        subprocess.run(
            [sys.executable, "-m", "datagen", "generate", "--db", str(args.db), "--customers", str(args.customers),
             "--days", str(args.days), "--end-time", AS_OF.isoformat(), "--quiet"],
            check=True,
        )
    if not args.db.exists():
        raise SystemExit(f"{args.db} does not exist: pass --generate or generate it with python -m datagen")
    with duckdb.connect(str(args.db), read_only=True) as con:
        events = con.execute("select count(*) from raw.events").fetchone()[0]

    select = ["--select", args.select] if args.select else []
    # a production build: models and data tests; unit tests (fixed rows, not data) are CI's
    if not args.unit_tests:
        select += ["--exclude-resource-type", "unit_test"]
    full_times, incremental_times, held = [], [], 0
    full_cpu: list[float] = []
    incremental_cpu: list[float] = []
    full_nodes: list[dict[str, float]] = []
    incremental_nodes: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench_build_") as tmp:
        work = Path(tmp)
        for run in range(args.runs):
            warehouse = work / "warehouse.duckdb"
            shutil.copy(args.db, warehouse)
            held, cut = _hold_back(warehouse, args.new_share)
            dbt_process.run(["seed"], warehouse, work)
            # as a scheduled run: the full build sees the data up to the cut, the incremental
            # build runs later (at AS_OF), once the held-back events have landed
            wall, cpu = _timed_build(["build", "--full-refresh", *select, *_as_of(cut)], warehouse, work)
            full_times.append(wall)
            full_cpu.append(cpu)
            full_nodes.append(_node_seconds(work))
            _land_held_back(warehouse)
            wall, cpu = _timed_build(["build", *select, *_as_of(AS_OF)], warehouse, work)
            incremental_times.append(wall)
            incremental_cpu.append(cpu)
            incremental_nodes.append(_node_seconds(work))
            print(f"run {run + 1}: full {full_times[-1]:.1f} s ({full_cpu[-1]:.1f} CPU s), incremental "
                  f"{incremental_times[-1]:.1f} s ({incremental_cpu[-1]:.1f} CPU s), load average "
                  f"{os.getloadavg()[0]:.1f}", file=sys.stderr)
            warehouse.unlink()

    result = {
        "raw_events": events,
        "new_events": held,
        "runs": args.runs,
        "select": args.select or "everything",
        "unit_tests": args.unit_tests,
        "full_build_seconds": full_times,
        "incremental_build_seconds": incremental_times,
        "full_build_median": statistics.median(full_times),
        "incremental_build_median": statistics.median(incremental_times),
        "incremental_over_full": statistics.median(incremental_times) / statistics.median(full_times),
        "full_build_cpu_seconds": full_cpu,
        "incremental_build_cpu_seconds": incremental_cpu,
        "incremental_over_full_cpu": statistics.median(incremental_cpu) / statistics.median(full_cpu),
        "load_average_at_end": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "slowest_nodes_full": _slowest(full_nodes),
        "slowest_nodes_incremental": _slowest(incremental_nodes),
    }
    out = ROOT / "bench" / "results" / "build_times.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\n{'raw events':<28}{events:>14,}")
    print(f"{'new events (incremental)':<28}{held:>14,}")
    print(f"{'full build, median (s)':<28}{result['full_build_median']:>14.1f}")
    print(f"{'incremental, median (s)':<28}{result['incremental_build_median']:>14.1f}")
    print(f"{'incremental / full':<28}{result['incremental_over_full']:>14.2f}")
    print(f"{'full build, median CPU s':<28}{statistics.median(full_cpu):>14.1f}")
    print(f"{'incremental, median CPU s':<28}{statistics.median(incremental_cpu):>14.1f}")
    print(f"{'incremental / full (CPU)':<28}{result['incremental_over_full_cpu']:>14.2f}")
    for label, key in (("full", "slowest_nodes_full"), ("incremental", "slowest_nodes_incremental")):
        print(f"\nslowest nodes, {label} build (median s):")
        for node, seconds in list(result[key].items())[:10]:
            print(f"  {seconds:>8.1f}  {node}")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
