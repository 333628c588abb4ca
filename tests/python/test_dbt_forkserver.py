"""The tests' dbt fork server answers like the `dbt` executable, and no command's state reaches the next."""

from __future__ import annotations

import os
from pathlib import Path

import dbt_runner
import duckdb
import pytest
from dbt_runner import PROJECT_DIR

pytestmark = pytest.mark.dbt


def _args(work: Path, *command: str) -> list[str]:
    return [*command, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
            "--target-path", str(work / "target"), "--log-path", str(work / "logs")]


def _env(warehouse: str) -> dict[str, str]:
    return {**os.environ, "WAREHOUSE_PATH": warehouse, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def _both_ways(monkeypatch, args: list[str], cwd: Path, env: dict[str, str]) -> tuple[dbt_runner.DbtResult, dbt_runner.DbtResult]:
    """The same command through the fork server, then as a `dbt` process (TEST_DBT_FORKSERVER=0)."""
    monkeypatch.delenv(dbt_runner.FORKSERVER_ENV, raising=False)
    served = dbt_runner.dbt(args, cwd, env)
    monkeypatch.setenv(dbt_runner.FORKSERVER_ENV, "0")
    executable = dbt_runner.dbt(args, cwd, env)
    monkeypatch.delenv(dbt_runner.FORKSERVER_ENV)
    return served, executable


def test_a_failed_model_exits_1_as_from_the_executable(tmp_path, monkeypatch):
    # the raw-table check off: dbt runs, and the model fails on its missing raw table
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    args = [*_args(tmp_path, "run", "--select", "base_crm__customers"), "--vars", "{check_raw_sources: false}"]
    served, executable = _both_ways(monkeypatch, args, tmp_path, _env("empty.duckdb"))
    assert (served.returncode, executable.returncode) == (1, 1), served.output
    for result in (served, executable):
        assert "ERROR=1" in result.output


def test_a_failing_command_answers_like_the_executable_and_releases_the_warehouse(tmp_path, monkeypatch):
    # an empty warehouse: the on-run-start check fails naming the missing raw tables
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    served, executable = _both_ways(monkeypatch, _args(tmp_path, "run", "--select", "sessions"), tmp_path, _env("empty.duckdb"))
    assert (served.returncode, executable.returncode) == (2, 2)
    for result in (served, executable):
        assert "Raw tables not found" in result.output and "raw_events_table" in result.output
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
