"""The sync half of `make demo`: every sync in syncs.yml into a local Klaviyo simulator.

Starts the simulator in-process with production rate limits and the lists
the syncs file maps to, clears activation's state in the warehouse (it
describes an ESP account; this simulated account starts empty), points the Klaviyo destination at it
(KLAVIYO_BASE_URL, a demo API key), runs `activation sync` twice (the
second run must send nothing), and prints what the simulated account holds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from activation.config import load_syncs
from activation.simulators.klaviyo import KlaviyoSimulator

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True, help="the dbt-built DuckDB warehouse")
    parser.add_argument("--syncs", type=Path, default=ROOT / "syncs.yml")
    args = parser.parse_args(argv)
    syncs = load_syncs(args.syncs)
    with duckdb.connect(str(args.db)) as con:
        con.execute(f'drop schema if exists "{syncs.state_schema}" cascade')
    lists = {
        list_id: segment
        for sync in syncs.syncs
        if sync.destination.type == "klaviyo"
        for segment, list_id in sync.lists.items()
    }
    activation = Path(sys.executable).parent / "activation"
    with KlaviyoSimulator(port=0, rate_limits="production", lists=lists) as simulator:
        env = {**os.environ, "KLAVIYO_BASE_URL": simulator.base_url, "KLAVIYO_API_KEY": "pk_demo_not_a_secret"}
        print(f"\nSyncs into the Klaviyo simulator at {simulator.base_url} (production rate limits)")
        for attempt in ("first run", "second run (nothing changed: nothing to send)"):
            print(f"\n-- {attempt}")
            completed = subprocess.run(
                [str(activation), "sync", "--syncs", str(args.syncs), "--db", str(args.db)], env=env, check=False
            )
            if completed.returncode not in (0, 1):
                return completed.returncode
        summary = simulator.state.summary()
        print("\nThe simulated Klaviyo account now holds")
        print(f"  profiles            {summary['profiles']:>8,}")
        for list_id, members in sorted(summary["lists"].items()):
            print(f"  list {list_id:<22}{members:>6,} members ({lists.get(list_id, '')})")
        print(f"  events              {summary['events']:>8,}")
        print(f"  deletion requests   {summary['deletion_requests']:>8,}")
        print(f"  requests received   {simulator.stats.total:>8,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
