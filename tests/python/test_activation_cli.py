"""`activation preview`: listing, scenarios, warehouse contacts, and exit codes (0 ok, 2 usage/config, 1 render)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner

import activation.templates
from activation.cli import main
from activation.scenarios import read_scenarios
from dbt_runner import PROJECT_DIR

CONTRACT_YAML = PROJECT_DIR / "models/exports/export_contact_template_variables.yml"
SCENARIO_NAMES = list(read_scenarios())

BOOTS = {
    "product_id": "SKU-000620", "product_name": "Black Chelsea Boots", "quantity": 1, "unit_price": 119.0,
    "line_amount": 119.0, "product_url": "https://shop.example.com/p/SKU-000620",
    "image_url": "https://cdn.example.com/img/SKU-000620.jpg",
}
SCARF = {
    "product_id": "SKU-000214", "product_name": "Grey Wool Scarf", "category": "Accessories", "price": 29.0,
    "product_url": "https://shop.example.com/p/SKU-000214", "image_url": "https://cdn.example.com/img/SKU-000214.jpg",
}
ROWS = [
    {
        "contact_key": "c0ffee01", "email": "ada@example.com", "first_name": "Ada",
        "has_last_viewed_product": True, "last_viewed_product_id": "SKU-000620",
        "last_viewed_product_name": "Black Chelsea Boots",
        "last_viewed_product_url": "https://shop.example.com/p/SKU-000620",
        "last_viewed_product_image_url": "https://cdn.example.com/img/SKU-000620.jpg",
        "last_viewed_product_price": "119.00", "has_open_cart": True, "cart_items": json.dumps([BOOTS]),
        "cart_item_count": 1, "cart_value": "119.00", "recommended_products": json.dumps([SCARF]),
        "rfm_segment": "unscored", "is_vip": False, "has_ordered": False, "last_order_date": "",
        "primary_segment": "cart_abandoners", "computed_as_of": "2026-11-20 12:00:00",
    },
    {
        "contact_key": "c0ffee02", "email": "new@example.com", "first_name": "there",
        "has_last_viewed_product": False, "last_viewed_product_id": "", "last_viewed_product_name": "",
        "last_viewed_product_url": "https://shop.example.com",
        "last_viewed_product_image_url": "https://cdn.example.com/img/placeholder.jpg",
        "last_viewed_product_price": "0", "has_open_cart": False, "cart_items": "[]", "cart_item_count": 0,
        "cart_value": "0", "recommended_products": "[]", "rfm_segment": "unscored", "is_vip": False,
        "has_ordered": False, "last_order_date": "", "primary_segment": "none",
        "computed_as_of": "2026-11-20 12:00:00",
    },
]


def _columns() -> list[dict]:
    (model,) = yaml.safe_load(CONTRACT_YAML.read_text())["models"]
    return model["columns"]


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """A DuckDB file with exports.export_contact_template_variables typed as the contract says, two rows."""
    path = tmp_path / "warehouse.duckdb"
    columns = _columns()
    with duckdb.connect(str(path)) as con:
        con.execute("create schema exports")
        con.execute(
            "create table exports.export_contact_template_variables ("
            + ", ".join(f'"{c["name"]}" {c["data_type"]} not null' for c in columns)
            + ")"
        )
        placeholders = ", ".join("?" for _ in columns)
        for row in ROWS:
            con.execute(
                f"insert into exports.export_contact_template_variables values ({placeholders})",
                [row[c["name"]] for c in columns],
            )
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["preview", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_list_shows_templates_and_scenarios():
    code, output = run("--list")
    assert code == 0, output
    for name in ["cart_reminder", "recommendations", "vip_offer", "welcome", "newsletter", *SCENARIO_NAMES]:
        assert f"  {name} " in output
    assert "Abandoned-cart reminder" in output


def test_scenario_renders_subject_and_text():
    code, output = run("cart_reminder", "--scenario", "abandoned_cart")
    assert code == 0, output
    assert "Subject: Black Chelsea Boots and 1 more still in your cart" in output
    assert "Hi Ada," in output and "Total: €248.00 (2 products)" in output


def test_scenario_renders_html():
    code, output = run("newsletter", "--scenario", "vip_with_open_cart", "--format", "html")
    assert code == 0, output
    assert "<!DOCTYPE html>" in output and "A thank-you for our VIPs" in output


def test_all_scenarios_renders_one_email_per_scenario():
    code, output = run("newsletter", "--all-scenarios")
    assert code == 0, output
    for name in SCENARIO_NAMES:
        assert f"===== newsletter for scenario {name} =====" in output


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope", "--scenario", "abandoned_cart"], "unknown template 'nope'; available: cart_reminder, newsletter"),
        (["newsletter", "--scenario", "nope"], "unknown scenario 'nope'; available: abandoned_cart"),
        (["newsletter"], "give exactly one of --customer, --email, --scenario or --all-scenarios"),
        (["newsletter", "--scenario", "abandoned_cart", "--customer", "x"], "(got --customer, --scenario)"),
        (["--scenario", "abandoned_cart"], "missing TEMPLATE (see `activation preview --list`)"),
        (["newsletter", "--scenario", "abandoned_cart", "--db", "w.duckdb"], "--db only applies to --customer"),
        (["newsletter", "--list"], "--list takes no TEMPLATE"),
        (["newsletter", "--scenario", "abandoned_cart", "--format", "pdf"], "'pdf' is not one of 'text', 'html'"),
    ],
)
def test_usage_errors_exit_2_with_a_helpful_message(args, message):
    code, output = run(*args)
    assert code == 2, output
    assert message in output


def test_customer_renders_from_the_warehouse(warehouse):
    code, output = run("cart_reminder", "--customer", "c0ffee01", "--db", str(warehouse))
    assert code == 0, output
    assert "To: ada@example.com" in output
    assert "Subject: Black Chelsea Boots still in your cart" in output
    assert "- Black Chelsea Boots: 1 x €119.00 = €119.00" in output  # cart_items decoded from JSON
    assert "- Grey Wool Scarf (Accessories), €29.00" in output  # recommended_products decoded from JSON


def test_email_lookup_ignores_case_and_fallback_contact_renders(warehouse):
    code, output = run("newsletter", "--email", " NEW@example.com ", "--db", str(warehouse))
    assert code == 0, output
    assert "Hi there," in output and "NEW THIS WEEK" in output


def test_db_defaults_to_warehouse_path(warehouse, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))
    code, output = run("welcome", "--customer", "c0ffee02")
    assert code == 0, output


def test_unknown_customer_exits_2_suggesting_a_key(warehouse):
    code, output = run("newsletter", "--customer", "nobody", "--db", str(warehouse))
    assert code == 2, output
    assert "no contact with contact_key 'nobody'" in output and "2 contacts" in output
    assert "--customer c0ffee01" in output


def test_missing_warehouse_exits_2_saying_what_to_run(tmp_path):
    code, output = run("newsletter", "--customer", "c0ffee01", "--db", str(tmp_path / "none.duckdb"))
    assert code == 2, output
    assert "warehouse not found" in output and "make demo" in output


def test_missing_export_table_exits_2_saying_what_to_run(tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    code, output = run("newsletter", "--customer", "c0ffee01", "--db", str(path))
    assert code == 2, output
    assert "no table exports.export_contact_template_variables" in output
    assert "make demo" in output and "dbt build" in output


def test_row_breaking_the_contract_exits_2(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update exports.export_contact_template_variables set cart_items = ? where contact_key = 'c0ffee01'",
            [json.dumps([{"product_id": "SKU-1"}])],
        )
    code, output = run("cart_reminder", "--customer", "c0ffee01", "--db", str(warehouse))
    assert code == 2, output
    assert "does not match the export contract" in output and "lacks field(s) product_name" in output


def test_render_error_exits_1_naming_the_template_line(tmp_path, monkeypatch):
    for part, source in {
        "subject": "s",
        "txt": "ok\n{{ cart_items[0].product_name }}",
        "html": "<p>x</p>",
    }.items():
        (tmp_path / f"broken.{part}.j2").write_text(source)
    monkeypatch.setattr(activation.templates, "TEMPLATES_DIR", tmp_path)
    code, output = run("broken", "--scenario", "new_subscriber")
    assert code == 1, output
    assert "broken.txt.j2 line 2" in output and "UndefinedError" in output


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "activation"
    completed = subprocess.run([str(script), "preview", "--help"], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert "--all-scenarios" in completed.stdout and "Exit codes" in completed.stdout
