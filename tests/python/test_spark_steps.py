"""scripts/spark_steps.py: datagen and dbt commands run in order in one process, each timed,
and the first failure stops the run with that step's exit code.

The Spark suites (scripts/engine_build.sh, scripts/test_spark.sh) run the loader and both dbt
builds through it; here the steps are cheap datagen and dbt commands, since what is tested is
the sequencing, not Spark."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("spark_steps", ROOT / "scripts" / "spark_steps.py")
spark_steps = importlib.util.module_from_spec(_spec)
sys.modules["spark_steps"] = spark_steps
_spec.loader.exec_module(spark_steps)


def _generate(db: Path, seed: int) -> list[str]:
    return ["datagen", "generate", "--db", str(db), "--customers", "20", "--days", "2", "--seed", str(seed), "--quiet"]


def test_steps_split_on_the_separator():
    words = ["datagen", "generate", "--db", "a.duckdb", "---", "dbt", "run", "--target", "spark"]
    assert spark_steps.split_steps(words) == [
        ["datagen", "generate", "--db", "a.duckdb"],
        ["dbt", "run", "--target", "spark"],
    ]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["datagen", "generate", "---"], "step 2 is empty"),
        (["---", "dbt", "run"], "step 1 is empty"),
        (["python", "-c", "1"], "step 1 starts with 'python': each step is one of datagen, dbt"),
    ],
)
def test_a_malformed_command_line_is_refused_naming_the_fix(words, message, capsys):
    with pytest.raises(SystemExit) as refused:
        spark_steps.main(["--", *words])
    assert refused.value.code == 2
    assert message in capsys.readouterr().err


def test_every_step_runs_in_order_in_this_process_and_is_timed(tmp_path):
    first, second, times = tmp_path / "first.duckdb", tmp_path / "second.duckdb", tmp_path / "times.tsv"

    code = spark_steps.main(["--times", str(times), "--", *_generate(first, 1), "---", *_generate(second, 2)])

    assert code == 0
    for db in (first, second):
        with duckdb.connect(str(db), read_only=True) as connection:
            assert connection.execute("select count(*) from raw.customers").fetchone()[0] >= 20
    lines = [line.split("\t") for line in times.read_text().splitlines()]
    assert [command for _, command in lines] == [" ".join(_generate(first, 1)), " ".join(_generate(second, 2))]
    assert all(float(seconds) >= 0 for seconds, _ in lines)


def test_the_first_failing_step_stops_the_run_with_its_exit_code(tmp_path, capsys):
    never, times = tmp_path / "never.duckdb", tmp_path / "times.tsv"
    bad = ["datagen", "generate", "--db", str(tmp_path / "bad.duckdb"), "--customers", "3"]

    code = spark_steps.main(["--times", str(times), "--", *bad, "---", *_generate(never, 1)])

    assert code == 2  # click's exit code for a bad option value
    assert not never.exists()
    assert len(times.read_text().splitlines()) == 1
    err = capsys.readouterr().err
    assert "customers must be an integer from 20" in err
    assert "step 1/2 (datagen generate) failed, exit 2" in err


def test_a_dbt_step_that_cannot_run_fails_with_exit_2(tmp_path, capsys):
    code = spark_steps.main(["--", "dbt", "parse", "--project-dir", str(tmp_path / "no-such-project")])

    assert code == 2
    assert "step 1/1 (dbt parse) failed, exit 2" in capsys.readouterr().err
