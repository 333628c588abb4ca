"""Time the data generator: `python -m datagen generate` of N customers into a fresh DuckDB file.

Each run is the command a user types, in its own process, writing a new
DuckDB file (removed after the run): wall time, CPU seconds of the process
(user + system, its DuckDB threads included) and its peak resident memory.
The raw tables' row counts are read from the first run's file. Medians of
`--runs` runs are reported.

    python -m bench.generator --customers 1000000 --runs 3     # about 10 million events
    python -m bench.generator --customers 20000 --runs 3       # a quick check

Prints a table and writes bench/results/generator.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
END_TIME = "2026-11-20T12:00:00"  # as bench.build_times: the same data a build benchmark uses


def generate_once(db: Path, customers: int, days: int, seed: int) -> dict[str, float]:
    """One `python -m datagen generate` run in a child process: wall s, CPU s and peak RSS MB of that child
    (os.wait4 gives the child's own resource usage, not the maximum over every child so far)."""
    command = [sys.executable, "-m", "datagen", "generate", "--db", str(db), "--customers", str(customers),
               "--days", str(days), "--seed", str(seed), "--end-time", END_TIME, "--quiet"]
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            stderr.seek(0)
            raise SystemExit(f"datagen failed ({child.returncode}):\n{stderr.read().decode()[-4000:]}")
    return {"wall_seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}


def row_counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' order by 1").fetchall()]
        return {name: con.execute(f'select count(*) from raw."{name}"').fetchone()[0] for name in tables}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="CRM customers (default 1,000,000)")
    parser.add_argument("--days", type=int, default=30, help="event window in days (default 30)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported (default 3)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the DuckDB files are written (default: a temporary directory)")
    args = parser.parse_args(argv)

    runs: list[dict[str, float]] = []
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench_generator_", dir=args.dir) as tmp:
        for run in range(args.runs):
            db = Path(tmp) / f"generated_{run}.duckdb"
            runs.append(generate_once(db, args.customers, args.days, args.seed))
            if not counts:
                counts = row_counts(db)
            size_mb = db.stat().st_size / 1024 / 1024
            db.unlink()
            print(f"run {run + 1}: {runs[-1]['wall_seconds']:.1f} s, {runs[-1]['cpu_seconds']:.1f} CPU s, "
                  f"peak {runs[-1]['peak_rss_mb']:.0f} MB, file {size_mb:.0f} MB, load average "
                  f"{os.getloadavg()[0]:.1f}", file=sys.stderr)

    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    result = {
        "customers": args.customers,
        "days": args.days,
        "seed": args.seed,
        "runs": runs,
        "wall_seconds_median": median("wall_seconds"),
        "cpu_seconds_median": median("cpu_seconds"),
        "peak_rss_mb_median": median("peak_rss_mb"),
        "raw_rows": counts,
        "events_per_second": counts.get("events", 0) / median("wall_seconds"),
        "load_average_at_end": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }
    out = ROOT / "bench" / "results" / "generator.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\n{'customers':<26}{args.customers:>14,}")
    for table, rows in counts.items():
        print(f"{'raw.' + table:<26}{rows:>14,}")
    walls = ", ".join(f"{run['wall_seconds']:.1f}" for run in runs)
    print(f"{'wall, median (s)':<26}{result['wall_seconds_median']:>14.1f}   ({walls})")
    print(f"{'CPU, median (s)':<26}{result['cpu_seconds_median']:>14.1f}")
    print(f"{'peak RSS, median (MB)':<26}{result['peak_rss_mb_median']:>14.0f}")
    print(f"{'events / s (wall)':<26}{result['events_per_second']:>14,.0f}")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
