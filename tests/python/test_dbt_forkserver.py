"""The tests' dbt fork server answers like the `dbt` executable, and no command's state reaches the next."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import pytest

import dbt_runner
from dbt_forkserver import exit_code
from dbt_runner import DBT, PROJECT_DIR

pytestmark = pytest.mark.dbt


def _args(work: Path, *command: str) -> list[str]:
    return [*command, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
            "--target-path", str(work / "target"), "--log-path", str(work / "logs")]


def _env(warehouse: str) -> dict[str, str]:
    return {**os.environ, "WAREHOUSE_PATH": warehouse, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def _executable(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    completed = subprocess.run([str(DBT), *args], cwd=cwd, env=env, capture_output=True, text=True)
    return completed.returncode, completed.stdout + completed.stderr


@pytest.mark.parametrize(
    ("success", "exception", "code"),
    [(True, None, 0), (False, None, 1), (False, RuntimeError("x"), 2)],
)
def test_exit_codes_are_the_executables(success, exception, code):
    class Result:
        pass

    result = Result()
    result.success, result.exception = success, exception
    assert exit_code(result) == code


def test_a_failing_command_answers_like_the_executable_and_releases_the_warehouse(tmp_path, monkeypatch):
    monkeypatch.delenv(dbt_runner.FORKSERVER_ENV, raising=False)
    # an empty warehouse: the on-run-start check fails naming the missing raw tables
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    args = _args(tmp_path / "served", "run", "--select", "sessions")
    served = dbt_runner.dbt(args, tmp_path, _env("empty.duckdb"))
    code, output = _executable(_args(tmp_path / "executable", "run", "--select", "sessions"), tmp_path, _env("empty.duckdb"))
    assert (served.returncode, code) == (2, 2)
    for text in (served.output, output):
        assert "Raw tables not found" in text and "raw_events_table" in text
    # the command's process is gone, and with it dbt-duckdb's open database: writable here
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as connection:
        connection.execute("create table released (x integer)")


def test_each_command_gets_its_own_directory_and_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(dbt_runner.FORKSERVER_ENV, raising=False)
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        result = dbt_runner.dbt(_args(tmp_path / name, "run", "--select", "sessions"), tmp_path / name, _env(f"{name}.duckdb"))
        assert result.returncode == 2, result.output
        # dbt opened WAREHOUSE_PATH relative to the command's own working directory
        assert (tmp_path / name / f"{name}.duckdb").exists()
    assert not (tmp_path / "first" / "second.duckdb").exists()
    listed = dbt_runner.dbt(_args(tmp_path / "ls", "ls", "--select", "sessions", "--quiet"), tmp_path, _env("x.duckdb"))
    assert listed.returncode == 0
    assert "email_personalization.marts.core.sessions" in listed.output.splitlines()


def test_bad_arguments_fail_with_exit_code_2_and_a_message(tmp_path, monkeypatch):
    monkeypatch.delenv(dbt_runner.FORKSERVER_ENV, raising=False)
    result = dbt_runner.dbt(["run", "--no-such-option"], tmp_path, _env("x.duckdb"))
    assert result.returncode == 2
    assert "no-such-option" in result.output
