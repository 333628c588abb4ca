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

On a PostgreSQL warehouse (``--db postgresql://...``) the planning runs in the server, so the
process CPU time is the client's only; when the server runs on this machine, "plan_server_cpu_seconds"
and "sync_server_cpu_seconds" add the server's: the session's backend plus the children the
postmaster reaped meanwhile (parallel query workers; also any autovacuum worker that ended then).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path

from activation.config import load_syncs
from activation.db import Warehouse
from activation.destinations import make_destination
from activation.engine import Engine
from activation.state import StateStore
from bench.procstatus import status_mb


def own_peak_rss_mb() -> float:
    """This process's peak RSS since its exec: VmHWM of /proc/self/status.

    Not getrusage's ru_maxrss: on Linux a child inherits its parent's high-water mark through fork and
    keeps it across exec (measured: a parent that had touched 1 GiB starts children reporting 1 GiB),
    so ru_maxrss reported the bench parent's peak (it builds the export with DuckDB) whenever that was larger.
    """
    if Path("/proc/self/status").exists():
        return status_mb("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: may include the parent's


def _cpu_fields(pid: int) -> list[str]:
    """/proc/PID/stat fields from the state on (field 3): utime is [11], stime [12], cutime [13], cstime [14]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def server_cpu(warehouse: Warehouse) -> Callable[[], float] | None:
    """A clock of the PostgreSQL server's CPU seconds for this session (backend + reaped postmaster children),
    or None (DuckDB: in-process; a server on another machine: not readable)."""
    if warehouse.dialect.name != "postgres":
        return None
    row = warehouse.fetchone("select pg_backend_pid()")
    backend = int(row[0]) if row else 0
    if not Path(f"/proc/{backend}/stat").exists():
        return None
    postmaster = int(_cpu_fields(backend)[1])
    tick = os.sysconf("SC_CLK_TCK")

    def seconds() -> float:
        own, parent = _cpu_fields(backend), _cpu_fields(postmaster)
        return (int(own[11]) + int(own[12]) + int(parent[13]) + int(parent[14])) / tick

    return seconds


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
        server = server_cpu(warehouse)
        if server:
            out["plan_server_cpu_seconds"] = []
        for _ in range(args.plans):
            started, cpu = time.perf_counter(), time.process_time()
            server_started = server() if server else 0.0
            plan = engine.plan_only(sync)
            out["plan_seconds"].append(time.perf_counter() - started)
            out["plan_cpu_seconds"].append(time.process_time() - cpu)  # every thread of this process (DuckDB's too)
            if server:
                out["plan_server_cpu_seconds"].append(server() - server_started)
            out["planned"] = plan.counts
        if not args.no_sync:
            profiler = cProfile.Profile() if args.profile else None
            started, cpu = time.perf_counter(), time.process_time()
            server_started = server() if server else 0.0
            if profiler:
                profiler.enable()
            result = engine.run(sync)
            if profiler:
                profiler.disable()
                profiler.dump_stats(str(args.profile))
            out["sync_seconds"] = time.perf_counter() - started
            out["sync_cpu_seconds"] = time.process_time() - cpu
            if server:
                out["sync_server_cpu_seconds"] = server() - server_started
            out["result"] = result.as_dict()
    out["peak_rss_mb"] = own_peak_rss_mb()
    args.out.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
