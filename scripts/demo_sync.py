"""The sync half of `make demo`: every sync of one destination into its local simulator.

    python scripts/demo_sync.py --db warehouse.duckdb [--destination klaviyo|braze|mailchimp|webhook]

Starts that destination's simulator in-process (production rate limits),
clears activation's state in the warehouse (it describes an ESP account; the
simulated account starts empty), points the syncs file of that destination
at it through the variables the file names (base_url_env, credentials; demo
values), runs `activation sync` twice (the second run must send nothing)
and prints the requests the simulator received.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from activation.config import load_syncs
from activation.simulators.rehearsal import SYNCS_FILES, rehearsal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="the dbt-built DuckDB warehouse")
    parser.add_argument("--destination", choices=sorted(SYNCS_FILES), default="klaviyo")
    parser.add_argument("--syncs", type=Path, help="syncs file (default: the destination's example file)")
    args = parser.parse_args(argv)
    syncs_path = args.syncs or SYNCS_FILES[args.destination]
    syncs = load_syncs(syncs_path)
    with duckdb.connect(str(args.db)) as con:
        con.execute(f'drop schema if exists "{syncs.state_schema}" cascade')
    activation = Path(sys.executable).parent / "activation"
    with rehearsal(args.destination, syncs) as (simulator, env):
        print(f"\nSyncs of {syncs_path.name} into the {args.destination} simulator at {simulator.base_url}")
        for attempt in ("first run", "second run (nothing changed: nothing to send)"):
            print(f"\n-- {attempt}")
            completed = subprocess.run(
                [str(activation), "sync", "--syncs", str(syncs_path), "--db", str(args.db)],
                env={**os.environ, **env},
                check=False,
            )
            if completed.returncode not in (0, 1):
                return completed.returncode
        print(f"\nRequests the {args.destination} simulator received, by operation")
        for operation, entry in sorted(simulator.stats.by_operation().items()):
            statuses = ", ".join(f"{status}: {count}" for status, count in sorted(entry.get("statuses", {}).items()))
            print(f"  {operation:<40}{entry.get('requests', 0):>7,}   ({statuses})")
        print(f"  {'total':<40}{simulator.stats.total:>7,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
