"""dbt as the benchmarks run it: a separate process on one warehouse file, timed.

Each benchmark compares dbt's wall time with something else (the engine alone,
an incremental run), so every one runs dbt the same way: this project's
profiles, the warehouse in $WAREHOUSE_PATH, target and logs in a work folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DBT = Path(sys.executable).parent / "dbt"


def run(args: list[str], warehouse: Path, work: Path) -> float:
    """Run `dbt <args>` against `warehouse`; return its wall seconds. A non-zero exit stops the
    benchmark with the end of dbt's output."""
    env = {**os.environ, "WAREHOUSE_PATH": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [
        str(DBT), *args, "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
        "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{completed.stdout[-4000:]}{completed.stderr[-2000:]}")
    return elapsed


def node_results(work: Path) -> list[dict[str, Any]]:
    """run_results.json's per-node results of the last dbt invocation in `work`."""
    return json.loads((work / "target" / "run_results.json").read_text())["results"]
