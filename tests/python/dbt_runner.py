"""Run dbt against a throwaway DuckDB warehouse from tests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

PROJECT_DIR = Path(__file__).resolve().parents[2]
DBT = Path(sys.executable).parent / "dbt"
# A directory where run_dbt keeps dbt's partial-parse manifests between dbt calls (conftest sets it per
# pytest worker); unset: every dbt call parses the project from scratch.
PARSE_CACHE_ENV = "TEST_DBT_PARSE_CACHE"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"


@dataclass(frozen=True)
class DbtResult:
    returncode: int
    output: str

    def check(self) -> "DbtResult":
        assert self.returncode == 0, f"dbt failed ({self.returncode}):\n{self.output[-6000:]}"
        return self


def run_dbt(args: list[str], warehouse: Path, work_dir: Path, vars_: dict | None = None) -> DbtResult:
    """Run one dbt command on `warehouse`, with target and logs kept under `work_dir`.

    dbt runs in the warehouse's directory with WAREHOUSE_PATH set to the file's bare name. dbt reuses
    a saved parse only when the profile's connection details (the DuckDB path among them), the --vars
    and the target are the ones it was saved with; with the same relative path everywhere, every dbt
    call with the same vars and target can start from the parse an earlier call saved (partial
    parsing, as in a user's project: changed files are still re-parsed) instead of parsing the whole
    project again, about 4 CPU seconds each.
    """
    warehouse = warehouse.resolve()
    target = work_dir / "target"
    command = [
        str(DBT),
        *args,
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(target),
        "--log-path", str(work_dir / "logs"),
    ]
    if vars_:
        command += ["--vars", json.dumps(vars_)]
    saved = _saved_parse(args, warehouse, vars_)
    if saved is not None and saved.exists() and not (target / PARTIAL_PARSE_FILE).exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(saved, target / PARTIAL_PARSE_FILE)
    env = {**os.environ, "WAREHOUSE_PATH": warehouse.name, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    completed = subprocess.run(command, cwd=warehouse.parent, env=env, capture_output=True, text=True)
    if saved is not None and not saved.exists() and (target / PARTIAL_PARSE_FILE).exists():
        saved.parent.mkdir(parents=True, exist_ok=True)
        partial = saved.with_suffix(".tmp")
        shutil.copyfile(target / PARTIAL_PARSE_FILE, partial)
        partial.replace(saved)
    return DbtResult(completed.returncode, completed.stdout + completed.stderr)


def _saved_parse(args: list[str], warehouse: Path, vars_: dict | None) -> Path | None:
    """Where the parse of dbt calls like this one is kept: one file per warehouse file name, vars and
    target (what dbt's own check compares), or None when no cache directory is set."""
    root = os.environ.get(PARSE_CACHE_ENV)
    if not root:
        return None
    target = args[args.index("--target") + 1] if "--target" in args[:-1] else ""
    key = json.dumps({"warehouse": warehouse.name, "vars": vars_ or {}, "target": target}, sort_keys=True)
    return Path(root) / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.msgpack"


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def execute(warehouse: Path, sql: str) -> None:
    """Run SQL that changes the warehouse (tests editing exports as a rebuild would)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)
