"""Run dbt against a throwaway DuckDB warehouse from tests."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb

PROJECT_DIR = Path(__file__).resolve().parents[2]
DBT = Path(sys.executable).parent / "dbt"
# A directory where run_dbt keeps dbt's partial-parse manifests between dbt calls (conftest sets it per
# pytest worker); unset: every dbt call parses the project from scratch.
PARSE_CACHE_ENV = "TEST_DBT_PARSE_CACHE"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# TEST_DBT_FORKSERVER=0 (exactly): every dbt command is a `dbt` process of its own, as a user runs it
# (slower: about 2 CPU seconds more per command); otherwise dbt_forkserver.py runs them (see there).
FORKSERVER_ENV = "TEST_DBT_FORKSERVER"


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
    result = dbt(command, warehouse.parent, env)
    if saved is not None and not saved.exists() and (target / PARTIAL_PARSE_FILE).exists():
        saved.parent.mkdir(parents=True, exist_ok=True)
        partial = saved.with_suffix(".tmp")
        shutil.copyfile(target / PARTIAL_PARSE_FILE, partial)
        partial.replace(saved)
    return result


def dbt(args: list[str], cwd: Path, env: dict[str, str]) -> DbtResult:
    """`dbt ARGS` in `cwd` with the environment `env` (the whole of it), through this process's
    fork server (started on first use), or as a `dbt` process when TEST_DBT_FORKSERVER=0."""
    if os.environ.get(FORKSERVER_ENV, "1") == "0" or not hasattr(os, "fork"):
        completed = subprocess.run([str(DBT), *args], cwd=cwd, env=env, capture_output=True, text=True)
        return DbtResult(completed.returncode, completed.stdout + completed.stderr)
    return _FORKSERVER.run(args, cwd, env)


class _ForkServer:
    """The client side of dbt_forkserver.py: one server per process (per pytest worker), one command at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        atexit.register(self.close)

    def run(self, args: list[str], cwd: Path, env: dict[str, str]) -> DbtResult:
        with self._lock, tempfile.TemporaryDirectory(prefix="dbt-output-") as scratch:
            output = Path(scratch) / "output.txt"
            request = json.dumps({"args": args, "cwd": str(cwd), "env": dict(env), "output": str(output)})
            process = self._started()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(request + "\n")
                process.stdin.flush()
                reply = process.stdout.readline()
            except BaseException:
                # interrupted between request and reply: the next reply would be this one's
                process.kill()
                process.wait()
                self._process = None
                raise
            if not reply:
                code = process.wait()
                self._process = None
                raise RuntimeError(f"dbt_forkserver.py exited ({code}) before answering; its stderr is in pytest's output")
            text = output.read_text(errors="replace") if output.exists() else ""
            return DbtResult(json.loads(reply)["returncode"], text)

    def _started(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            # -P: not this directory on the server's sys.path, where dbt's plugin search would
            # import every dbt_*.py module of the tests as a possible plugin
            self._process = subprocess.Popen(
                [sys.executable, "-P", str(Path(__file__).with_name("dbt_forkserver.py")), str(PROJECT_DIR)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_SERVER_ENV,
            )
        return self._process

    def close(self) -> None:
        """End the server (at the end of its stdin); called at exit."""
        if self._process is not None and self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=60)
        self._process = None


# the server's own environment: this process's at import, not a test's monkeypatched one (each
# command gets the environment of its call)
_SERVER_ENV = dict(os.environ)
_FORKSERVER = _ForkServer()


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
