"""python -m datagen load --target spark: raw tables from a DuckDB file into local Spark.

Type mapping, the generated SQL and the session settings are checked without Spark.
The round trip needs pyspark (pip install -e '.[spark]') and Java 17, and is skipped,
saying so, without them; `make test-spark` loads the demo dataset the same way.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from raw_loads import raw_rows

from datagen.loaders import LoadError, available_targets
from datagen.loaders._spark_session import java_home, spark_conf, state_dirs
from datagen.loaders.base import SourceColumn, SourceTable
from datagen.loaders.spark import create_table_sql, spark_type

ROOT = Path(__file__).resolve().parents[2]


def test_spark_is_a_target():
    assert "spark" in available_targets()
    assert "_spark_session" not in available_targets()


@pytest.mark.parametrize(
    ("duckdb_type", "expected"),
    [
        ("VARCHAR", "string"),
        ("TIMESTAMP", "timestamp"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp"),
        ("DECIMAL(18,2)", "decimal(18,2)"),
        ("DECIMAL(9, 4)", "decimal(9,4)"),
        ("INTEGER", "int"),
        ("BIGINT", "bigint"),
        ("DOUBLE", "double"),
        ("BOOLEAN", "boolean"),
        ("DATE", "date"),
    ],
)
def test_spark_types_hold_the_same_values(duckdb_type, expected):
    assert spark_type(duckdb_type) == expected


def test_an_unmapped_type_fails_naming_the_fix():
    with pytest.raises(LoadError, match=r"HUGEINT.*datagen/loaders/spark\.py"):
        spark_type("HUGEINT")


def test_tables_are_parquet_with_every_column_cast(tmp_path):
    table = SourceTable("orders", (SourceColumn("order_id", "VARCHAR"), SourceColumn("total", "DECIMAL(18,2)")), 3)
    sql = create_table_sql("raw", table, tmp_path / "orders.parquet")
    assert sql.startswith("create table `raw`.`orders` using parquet as")
    assert "cast(`order_id` as string) as `order_id`" in sql
    assert "cast(`total` as decimal(18,2)) as `total`" in sql
    empty = create_table_sql("raw", SourceTable("orders", table.columns, 0), None)
    assert empty == "create table `raw`.`orders` (`order_id` string, `total` decimal(18,2)) using parquet"


def test_session_settings_come_from_the_spark_target(monkeypatch, tmp_path):
    monkeypatch.setenv("SPARK_STATE_DIR", str(tmp_path))
    conf = spark_conf(ROOT)
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.master"].startswith("local[")
    assert state_dirs(conf) == [tmp_path / "warehouse", tmp_path / "metastore_db"]


def test_code_generation_is_off_unless_spark_codegen_is_true(monkeypatch):
    monkeypatch.delenv("SPARK_CODEGEN", raising=False)
    conf = spark_conf(ROOT)
    assert conf["spark.sql.codegen.wholeStage"] == "false"
    assert conf["spark.sql.codegen.factoryMode"] == "NO_CODEGEN"
    for on in ("true", "True"):
        monkeypatch.setenv("SPARK_CODEGEN", on)
        conf = spark_conf(ROOT)
        # Spark's own defaults, both of them
        assert conf["spark.sql.codegen.wholeStage"] == "true"
        assert conf["spark.sql.codegen.factoryMode"] == "FALLBACK"
    monkeypatch.setenv("SPARK_CODEGEN", "1")  # not true: off, both of them
    conf = spark_conf(ROOT)
    assert (conf["spark.sql.codegen.wholeStage"], conf["spark.sql.codegen.factoryMode"]) == ("false", "NO_CODEGEN")


def _spark_or_skip() -> None:
    pytest.importorskip("pyspark", reason="pyspark not installed (pip install -e '.[spark]')")
    if java_home() is None:
        pytest.skip("no Java found (JAVA_HOME, java on PATH or /usr/lib/jvm)")


def _plain(value):
    """Spark writes timestamps as UTC instants; DuckDB's are naive UTC."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def test_load_copies_every_row_and_value_exactly(tmp_path, small_dataset):
    from datagen import write_duckdb

    _spark_or_skip()
    source = tmp_path / "source.duckdb"
    write_duckdb(small_dataset, source, schema="raw", mode="replace")
    state = tmp_path / "spark"
    env = {**os.environ, "SPARK_STATE_DIR": str(state), "DBT_PROFILES_DIR": str(ROOT), "DBT_PROJECT_DIR": str(ROOT)}
    completed = subprocess.run(
        [sys.executable, "-m", "datagen", "load", "--db", str(source), "--target", "spark", "--quiet"],
        check=False, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert (state / "metastore_db").is_dir(), "the metastore belongs under SPARK_STATE_DIR"
    assert not (tmp_path / "metastore_db").exists(), "no metastore in the working directory"
    source_tables = raw_rows(source)
    assert len(source_tables) == 8
    for name, expected in source_tables.items():
        # the managed table's Parquet files, read without Spark
        files = sorted((state / "warehouse" / "raw.db" / name).glob("*.parquet"))
        rows = [tuple(_plain(value) for value in row.values()) for file in files for row in pq.read_table(file).to_pylist()]
        assert sorted(map(repr, rows)) == expected, name
    shutil.rmtree(state, ignore_errors=True)
