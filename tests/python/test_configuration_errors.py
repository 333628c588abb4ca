"""Bad configuration fails fast, naming the fix."""

from __future__ import annotations

import duckdb
import pytest
import yaml

from dbt_runner import PROJECT_DIR, run_dbt

pytestmark = pytest.mark.dbt


def _empty_raw_warehouse(path, skip: str | None = None) -> None:
    """Create the raw contract's tables, empty, optionally leaving one out."""
    sources = yaml.safe_load((PROJECT_DIR / "models/staging/_raw__sources.yml").read_text())
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw")
        for table in sources["sources"][0]["tables"]:
            if table["name"] == skip:
                continue
            columns = ", ".join(f'"{c["name"]}" {c["data_type"]}' for c in table["columns"])
            con.execute(f'create table raw."{table["name"]}" ({columns})')


def test_missing_raw_table_names_the_var_to_set(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    _empty_raw_warehouse(warehouse, skip="orders")
    result = run_dbt(["run", "--select", "stg_shop__products"], warehouse, tmp_path)
    assert result.returncode != 0
    assert "Raw tables not found" in result.output
    assert "raw.orders" in result.output and "set var raw_orders_table" in result.output


def test_wrong_raw_schema_names_the_var_to_set(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    _empty_raw_warehouse(warehouse)
    result = run_dbt(["run", "--select", "stg_shop__products"], warehouse, tmp_path, vars_={"raw_schema": "landing"})
    assert result.returncode != 0
    assert "landing.events" in result.output and "raw_schema" in result.output


def test_renamed_raw_table_is_found_through_its_var(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    _empty_raw_warehouse(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table raw.events rename to tracks")
    result = run_dbt(
        ["build", "--select", "+stg_segment__events", "--exclude", "test_type:unit"],
        warehouse,
        tmp_path,
        vars_={"raw_events_table": "tracks"},
    )
    result.check()
