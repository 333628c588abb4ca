"""One sync run of a benchmark, in its own process: plan N times (timed, thrown away), then sync once.

Run by bench/sync_requests.py as a child process so that the peak memory of
activation alone can be measured (the parent reads the child's rusage; the
simulator is another process):

    python -m bench.sync_child --syncs FILE --db WAREHOUSE --sync NAME --plans 3 --out result.json
    python -m bench.sync_child --syncs FILE --db postgresql://postgres@127.0.0.1:54329/warehouse \
        --sync NAME --plans 3 --no-sync --out result.json

The environment points the sync at its simulator (base URL and credential
variables). Writes {"plan_seconds": [...], "plan_cpu_seconds": [...], "sync_seconds", "sync_cpu_seconds", "result",
"peak_rss_mb"}: wall time, and CPU time of the process (all its threads, DuckDB's included; on a machine
shared with other work the wall time stretches, the CPU time much less).
``--profile FILE`` writes a cProfile of the sync (not of the plans).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import time
from pathlib import Path

from activation.config import load_syncs
from activation.db import Warehouse
from activation.destinations import make_destination
from activation.engine import Engine
from activation.state import StateStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--syncs", type=Path, required=True)
    parser.add_argument("--db", required=True, help="a DuckDB file or a postgresql:// URL (as --warehouse)")
    parser.add_argument("--sync", required=True)
    parser.add_argument("--plans", type=int, default=3, help="timed plans before the sync (0: none)")
    parser.add_argument("--no-sync", action="store_true", help="plan only")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the sync to this file")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    syncs = load_syncs(args.syncs)
    sync = next(s for s in syncs.syncs if s.name == args.sync)
    out: dict = {"plan_seconds": [], "plan_cpu_seconds": []}
    with Warehouse.open(args.db) as warehouse:
        engine = Engine(warehouse, StateStore(warehouse, syncs.state_schema), syncs.exports_schema, make_destination,
                        progress=False)
        for _ in range(args.plans):
            started, cpu = time.perf_counter(), time.process_time()
            plan = engine.plan_only(sync)
            out["plan_seconds"].append(time.perf_counter() - started)
            out["plan_cpu_seconds"].append(time.process_time() - cpu)  # every thread of this process (DuckDB's too)
            out["planned"] = plan.counts
        if not args.no_sync:
            profiler = cProfile.Profile() if args.profile else None
            started, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            result = engine.run(sync)
            if profiler:
                profiler.disable()
                profiler.dump_stats(str(args.profile))
            out["sync_seconds"] = time.perf_counter() - started
            out["sync_cpu_seconds"] = time.process_time() - cpu
            out["result"] = result.as_dict()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    args.out.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
