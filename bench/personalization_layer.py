"""Time the personalization layer: segments, recommendations, exports (issue 4).

The warehouse must already be built (`dbt build`); this reruns only the
layer's models (`dbt run --select ...`) `--runs` times at one fixed as_of and
reports the median wall time of the run and of each model (from dbt's
run_results.json).

    python -m bench.personalization_layer --db /tmp/bench1m.duckdb --runs 3
    python -m bench.personalization_layer --db /tmp/bench1m.duckdb --generate --customers 1000000

Prints a table and writes bench/results/personalization_layer.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import dbt_process

ROOT = Path(__file__).resolve().parents[1]
LAYER = [
    "path:models/intermediate/segments",
    "path:models/intermediate/recommendations",
    "path:models/intermediate/contacts",
    "path:models/marts/marketing/segments",
    "products",
    "customer_recommendations",
    "path:models/exports",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="DuckDB warehouse (built, or --generate)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--generate", action="store_true", help="generate raw data and run a full dbt build first")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--as-of", default=None, help="as_of of the timed runs (default: the build's)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "results" / "work_layer")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.generate:
        subprocess.run(
            [sys.executable, "-m", "datagen", "generate", "--db", str(args.db), "--customers", str(args.customers),
             "--days", str(args.days), "--seed", "1", "--quiet"],
            check=True,
        )
    as_of = args.as_of or datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    vars_ = json.dumps({"as_of": as_of})
    if args.generate:
        seconds = dbt_process.run(["build", "--full-refresh", "--vars", vars_], args.db, args.work)
        print(f"full dbt build: {seconds:.1f} s")
    walls: list[float] = []
    per_model: dict[str, list[float]] = {}
    for run in range(args.runs):
        seconds = dbt_process.run(["run", "--select", *LAYER, "--vars", vars_], args.db, args.work)
        results = dbt_process.node_results(args.work)
        walls.append(seconds)
        for result in results:
            per_model.setdefault(result["unique_id"].split(".")[-1], []).append(result["execution_time"])
        print(f"run {run + 1}: {seconds:.1f} s")
    medians = {name: statistics.median(times) for name, times in per_model.items()}
    print(f"\n{'model':<48}{'median s':>10}")
    for name, value in sorted(medians.items(), key=lambda item: -item[1]):
        print(f"{name:<48}{value:>10.2f}")
    print(f"{'layer (dbt run wall time)':<48}{statistics.median(walls):>10.2f}   runs: {', '.join(f'{w:.1f}' for w in walls)}")
    out = ROOT / "bench" / "results" / "personalization_layer.json"
    out.write_text(json.dumps({
        "as_of": as_of, "runs": walls, "median_seconds": statistics.median(walls), "models_median_seconds": medians,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }, indent=2))
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
