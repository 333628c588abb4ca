"""CPU of one `activation sync` process, as cron runs it: a first sync, then syncs with nothing to send.

A scheduled sync is a new process each run, and so is each sync of the test suite (about 240
in `make test`). Most of a small sync's CPU is starting up: importing its libraries, reading
YAML, building HTTP clients. This measures the whole process (user + system CPU of the child,
from getrusage) for each source tree given, interleaved in the same run so that the ratio
holds even when the machine's speed drifts:

    python -m bench.sync_startup                                  # this checkout
    python -m bench.sync_startup --source old=/tmp/old-checkout   # ... against another one

Each repetition copies the warehouse (default: the demo's, `make demo`), resets a Klaviyo
simulator (its own process, bench/simproc.py, limits off) and runs, per source, one first
sync (everything is sent) and --noop syncs with nothing to send. A source is a directory
holding an `activation` package; it is run as `python -c 'sys.path[:0] = [DIR]; ...'` with
this interpreter, so the same installed libraries serve both. Prints medians (CPU seconds)
and the ratio to the first source; writes bench/results/sync_startup.json.
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
from pathlib import Path
from typing import Any

from activation.config import load_syncs
from bench.simproc import SimulatorProcess

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "sync_startup.json"


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_sync(source: Path, warehouse: Path, syncs: Path, env: dict[str, str]) -> float:
    """CPU seconds of one `activation sync` process run from `source`; fails loudly if the sync fails."""
    code = f"import sys; sys.path[:0] = [{str(source)!r}]; from activation.cli import main; main()"
    command = [sys.executable, "-c", code, "sync", "--syncs", str(syncs), "--warehouse", str(warehouse),
               "--output", "json"]
    before = child_cpu()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    spent = child_cpu() - before
    if completed.returncode != 0:
        raise SystemExit(f"sync from {source} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, default=ROOT / "warehouse.duckdb",
                        help="a dbt-built DuckDB warehouse with the exports (default: the demo's, make demo)")
    parser.add_argument("--source", action="append", default=[], metavar="LABEL=DIR",
                        help="another checkout to measure beside this one (repeatable)")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions (fresh warehouse copy each)")
    parser.add_argument("--noop", type=int, default=3, help="syncs with nothing to send after each first sync")
    args = parser.parse_args()
    if not args.warehouse.exists():
        parser.error(f"{args.warehouse} does not exist: run `make demo` first, or pass --warehouse")
    sources = {"this": ROOT}
    for spec in args.source:
        label, _, directory = spec.partition("=")
        if not directory or not (Path(directory) / "activation").is_dir():
            parser.error(f"--source {spec!r}: expected LABEL=DIR, DIR holding an activation package")
        sources[label] = Path(directory).resolve()

    syncs_file = ROOT / "syncs.yml"
    first: dict[str, list[float]] = {label: [] for label in sources}
    noop: dict[str, list[float]] = {label: [] for label in sources}
    with SimulatorProcess("klaviyo", limits="off") as simulator, tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, **simulator.sync_env(load_syncs(syncs_file))}
        for repeat in range(args.repeats):
            for label, source in sources.items():
                simulator.reset()
                warehouse = Path(scratch) / f"{label}.duckdb"
                shutil.copyfile(args.warehouse, warehouse)
                first[label].append(run_sync(source, warehouse, syncs_file, env))
                noop[label] += [run_sync(source, warehouse, syncs_file, env) for _ in range(args.noop)]
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)

    reference = next(iter(sources))
    results: dict[str, Any] = {"warehouse": str(args.warehouse), "repeats": args.repeats, "sources": {}}
    print(f"{'source':<10} {'first sync CPU s':>17} {'no-op sync CPU s':>17} {'no-op vs ' + reference:>14}")
    for label in sources:
        first_median, noop_median = statistics.median(first[label]), statistics.median(noop[label])
        ratio = noop_median / statistics.median(noop[reference])
        results["sources"][label] = {"dir": str(sources[label]), "first": first[label], "noop": noop[label],
                                     "first_median": first_median, "noop_median": noop_median}
        print(f"{label:<10} {first_median:>17.3f} {noop_median:>17.3f} {ratio:>14.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
