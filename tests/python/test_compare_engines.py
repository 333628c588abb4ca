"""scripts/compare_engines.py: equal data compares equal whatever the engine's formatting,
and any real difference fails naming the model with the differing rows.

Two DuckDB files stand in for two engines (the reader is the only engine-specific part)."""

from __future__ import annotations

import decimal
import importlib.util
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("compare_engines", ROOT / "scripts" / "compare_engines.py")
compare_engines = importlib.util.module_from_spec(_spec)
sys.modules["compare_engines"] = compare_engines  # dataclasses look their module up
_spec.loader.exec_module(compare_engines)


def _manifest(tmp_path: Path) -> Path:
    nodes = {
        "model.p.customers": {
            "resource_type": "model", "name": "customers", "schema": "marts", "alias": "customers",
            "original_file_path": "models/marts/core/customers.sql",
            "columns": {"views": {"name": "views", "config": {"meta": {"format": "json"}}}},
        },
        "model.p.export_x": {
            "resource_type": "model", "name": "export_x", "schema": "exports", "alias": "export_x",
            "original_file_path": "models/exports/export_x.sql", "columns": {},
        },
        "model.p.stg_y": {
            "resource_type": "model", "name": "stg_y", "schema": "staging", "alias": "stg_y",
            "original_file_path": "models/staging/stg_y.sql", "columns": {},
        },
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"nodes": nodes}))
    return path


def _warehouse(path: Path, customers: list[tuple], exports: list[tuple]) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema exports")
        con.execute("create table marts.customers (key varchar, revenue decimal(18,2), rate double, views varchar)")
        con.execute("create table exports.export_x (key varchar, sent_at timestamp)")
        con.executemany("insert into marts.customers values (?, ?, ?, ?)", customers)
        con.executemany("insert into exports.export_x values (?, ?)", exports)
    return path


CUSTOMERS = [("a", "1.50", 0.1 + 0.2, '{"shoes":1,"bags":2}'), ("b", "0", 1 / 3, None), ("b", "0", 1 / 3, None)]
EXPORTS = [("a", datetime(2026, 11, 20, 12, 0, 0, 500000))]


def test_models_are_the_marts_and_exports_of_the_manifest(tmp_path):
    models = compare_engines.models_from_manifest(_manifest(tmp_path))
    assert [(m.schema, m.name) for m in models] == [("exports", "export_x"), ("marts", "customers")]
    assert models[1].json_columns == {"views"}


def test_same_data_in_another_order_and_formatting_is_equal(tmp_path):
    left = _warehouse(tmp_path / "left.duckdb", CUSTOMERS, EXPORTS)
    # rows reordered, JSON with other whitespace and key order, float noise in the 16th digit
    right = _warehouse(
        tmp_path / "right.duckdb",
        [("b", "0.00", 0.3333333333333333, None), ("a", "1.5", 0.30000000000000004, '{"bags": 2, "shoes": 1}'),
         ("b", "0", 1 / 3, None)],
        EXPORTS,
    )
    code = compare_engines.main(["--manifest", str(_manifest(tmp_path)),
                                 "--engine", f"duckdb={left}", "--engine", f"duckdb={right}"])
    assert code == 0


@pytest.mark.parametrize(
    ("customers", "exports", "model", "only_right"),
    [
        ([CUSTOMERS[0], CUSTOMERS[1]], EXPORTS, "customers", None),  # a duplicate row lost
        ([("a", "1.51", 0.3, '{"shoes":1,"bags":2}'), *CUSTOMERS[1:]], EXPORTS, "customers", '"1.51"'),
        ([("a", "1.50", 0.3, '{"shoes":1,"bags":3}'), *CUSTOMERS[1:]], EXPORTS, "customers", '\\"bags\\":3'),
        (CUSTOMERS, [("a", datetime(2026, 11, 20, 12, 0, 0, 500001))], "export_x", "12:00:00.500001"),
    ],
)
def test_a_difference_fails_naming_the_model_and_rows(tmp_path, capsys, customers, exports, model, only_right):
    left = _warehouse(tmp_path / "left.duckdb", CUSTOMERS, EXPORTS)
    right = _warehouse(tmp_path / "right.duckdb", customers, exports)
    code = compare_engines.main(["--manifest", str(_manifest(tmp_path)),
                                 "--engine", f"duckdb={left}", "--engine", f"duckdb={right}"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"DIFFERENCE in {model}" in out
    assert f"models differ across duckdb, duckdb#2: {model}" in out
    if only_right:
        assert any(line.strip().startswith("only on duckdb#2:") and only_right in line for line in out.splitlines())


def test_normalisation_of_engine_values():
    normalise = compare_engines.normalise
    assert normalise(decimal.Decimal("5.00")) == normalise(decimal.Decimal("5.0")) == {"decimal": "5"}
    assert normalise(0.1 + 0.2) == normalise(0.3)
    assert normalise(datetime(2026, 1, 1, 13, tzinfo=timezone.utc)) == normalise(datetime(2026, 1, 1, 13))
    assert normalise('{"b": 1.0, "a": [1, 2]}', is_json=True) == normalise('{"a":[1,2],"b":1}', is_json=True)
    assert json.dumps(normalise(True)) == "true"  # booleans stay booleans, not 1
    assert normalise(None) is None
