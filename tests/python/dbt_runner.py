"""Run dbt against a throwaway DuckDB warehouse from tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

PROJECT_DIR = Path(__file__).resolve().parents[2]
DBT = Path(sys.executable).parent / "dbt"


@dataclass(frozen=True)
class DbtResult:
    returncode: int
    output: str

    def check(self) -> "DbtResult":
        assert self.returncode == 0, f"dbt failed ({self.returncode}):\n{self.output[-6000:]}"
        return self


def run_dbt(args: list[str], warehouse: Path, work_dir: Path, vars_: dict | None = None) -> DbtResult:
    """Run one dbt command on `warehouse`, with target and logs kept under `work_dir`."""
    command = [
        str(DBT),
        *args,
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(work_dir / "target"),
        "--log-path", str(work_dir / "logs"),
    ]
    if vars_:
        import json

        command += ["--vars", json.dumps(vars_)]
    env = {**os.environ, "WAREHOUSE_PATH": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    completed = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    return DbtResult(completed.returncode, completed.stdout + completed.stderr)


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def execute(warehouse: Path, sql: str) -> None:
    """Run SQL that changes the warehouse (tests editing exports as a rebuild would)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)
