"""Email templates and scenario profiles agree with the export contract (no warehouse needed).

The contract is models/exports/export_contact_template_variables.yml: its
columns are the only variables a template may use, meta.fields lists the keys
of the objects in the json list columns, meta.fallback is what a contact with
no data gets. Every template must render for the all-fallback profile and for
every seeded scenario.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import jinja2
import pytest
import yaml

from activation.contract import load_contract
from activation.errors import ConfigError, RenderError
from activation.scenarios import read_scenarios
from activation.template_check import check_templates, template_variables
from activation.templates import PARTS, list_emails, make_environment, render_email, template_file
from dbt_runner import PROJECT_DIR

CONTRACT_YAML = PROJECT_DIR / "models/exports/export_contact_template_variables.yml"
REQUIRED_EMAILS = {"cart_reminder", "recommendations", "vip_offer", "welcome", "newsletter"}


def _yaml_columns() -> list[dict]:
    """The contract's columns, straight from the YAML (independent of activation.contract)."""
    (model,) = [m for m in yaml.safe_load(CONTRACT_YAML.read_text())["models"]
                if m["name"] == "export_contact_template_variables"]
    return model["columns"]


def _meta(column: dict) -> dict:
    return (column.get("config") or {}).get("meta") or {}


YAML_COLUMNS = _yaml_columns()
COLUMN_NAMES = {column["name"] for column in YAML_COLUMNS}
LIST_FIELDS = {c["name"]: set(_meta(c)["fields"]) for c in YAML_COLUMNS if _meta(c).get("format") == "json"}
CONTRACT = load_contract(CONTRACT_YAML)
ENVIRONMENT = make_environment()
EMAILS = list_emails(ENVIRONMENT)
SCENARIOS = read_scenarios()
TEMPLATE_FILES = [template_file(email, part) for email in EMAILS for part in PARTS]


def _fallback_profile() -> dict:
    """Every column at its meta.fallback (json columns decoded); the keys and timestamp have none."""
    profile = {}
    for column in YAML_COLUMNS:
        meta = _meta(column)
        if "fallback" in meta:
            value = meta["fallback"]
            profile[column["name"]] = yaml.safe_load(value) if meta.get("format") == "json" else value
    profile.update(contact_key="fallback", email="fallback@example.com", computed_as_of=datetime(2026, 11, 20, 12))
    return profile


def _python_type(column: dict) -> tuple[type, ...]:
    data_type = column["data_type"].lower()
    if _meta(column).get("format") == "json":
        return (list,)
    if data_type in ("string", "varchar"):
        return (str,)
    if data_type == "boolean":
        return (bool,)
    if data_type == "integer":
        return (int,)
    if data_type.startswith("decimal"):
        return (int, float, Decimal)
    if data_type == "timestamp":
        return (datetime,)
    raise AssertionError(f"test does not know data_type {data_type} of {column['name']}")


# --- the contract as activation reads it ----------------------------------------------------------


def test_contract_is_read_as_written():
    assert CONTRACT.names == tuple(column["name"] for column in YAML_COLUMNS)
    assert {name: set(fields) for name, fields in CONTRACT.list_fields().items()} == LIST_FIELDS
    assert set(LIST_FIELDS) == {"cart_items", "recommended_products"}
    assert CONTRACT.fallback_profile(
        contact_key="fallback", email="fallback@example.com", computed_as_of=datetime(2026, 11, 20, 12)
    ) == _fallback_profile()


def test_fallback_profile_demands_the_columns_without_fallback():
    with pytest.raises(ConfigError, match="contact_key"):
        CONTRACT.fallback_profile(email="x@example.com")


# --- templates use only what the contract has -----------------------------------------------------


def test_required_emails_exist_with_every_part():
    assert REQUIRED_EMAILS <= set(EMAILS)
    for name in TEMPLATE_FILES:
        ENVIRONMENT.get_template(name)  # raises TemplateNotFound / TemplateSyntaxError


@pytest.mark.parametrize("name", TEMPLATE_FILES)
def test_template_variables_are_contract_columns(name):
    variables = template_variables(ENVIRONMENT, name)
    assert variables <= COLUMN_NAMES, f"{name} uses variables not in the contract: {variables - COLUMN_NAMES}"


def test_variables_of_included_and_extended_templates_are_collected():
    # first_name is only in the layout, cart_items only in the cart partial
    assert {"first_name", "cart_items", "is_vip", "recommended_products"} <= template_variables(
        ENVIRONMENT, "newsletter.html.j2"
    )


def test_templates_pass_the_static_check():
    problems = check_templates(ENVIRONMENT, CONTRACT)
    assert not problems, "\n".join(map(str, problems))


def test_static_check_reports_unknown_variables_and_fields():
    environment = make_environment(
        jinja2.DictLoader(
            {
                "bad.subject.j2": "{{ loyalty_points }} for {{ first_name }}",
                "bad.txt.j2": "{% extends '_layout.txt.j2' %}{% block body %}"
                "{% for item in cart_items %}{{ item.colour }} {{ item.product_name }} {{ loop.index }}{% endfor %}"
                "{{ recommended_products[0].sku }}{% endblock %}",
                "_layout.txt.j2": "{% block body %}{% endblock %}{% include '_footer.txt.j2' %}",
                "_footer.txt.j2": "{{ unsubscribe_url }}",
                "bad.html.j2": "{% set first = cart_items[0] %}{{ first.product_name }}"
                "{{ cart_items|sum(attribute='weight') }}"
                "{% for p in recommended_products|sort(attribute='price') %}{{ p.brand }}{% endfor %}"
                "{% include '_missing.html.j2' %}",
            }
        )
    )
    problems = [str(problem) for problem in check_templates(environment, CONTRACT)]
    report = "\n".join(problems)

    def reported(*fragments: str) -> bool:
        return any(all(fragment in problem for fragment in fragments) for problem in problems)

    assert reported("bad.subject.j2", "unknown variable 'loyalty_points'"), report
    assert reported("_footer.txt.j2", "used by bad", "unknown variable 'unsubscribe_url'"), report
    assert reported("bad.txt.j2", "unknown field 'colour'", "cart_items"), report
    assert reported("bad.txt.j2", "unknown field 'sku'", "recommended_products"), report
    assert reported("bad.html.j2", "unknown field 'weight'"), report
    assert reported("bad.html.j2", "unknown field 'brand'"), report
    assert reported("bad.html.j2", "cannot check first.product_name"), report
    assert reported("_missing.html.j2", "template not found"), report
    assert not reported("first_name") and not reported("'product_name'") and not reported("loop"), report
    assert len(problems) == 8, report


# --- rendering -------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", EMAILS)
def test_every_email_renders_on_the_fallback_values(email):
    rendered = render_email(ENVIRONMENT, email, _fallback_profile())
    assert rendered.subject and "\n" not in rendered.subject
    assert "Hi there," in rendered.text and "Hi there," in rendered.html


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("email", EMAILS)
def test_every_email_renders_for_every_scenario(email, scenario):
    variables = SCENARIOS[scenario].variables
    rendered = render_email(ENVIRONMENT, email, variables)
    assert rendered.subject and rendered.text.strip() and rendered.html.strip()
    assert variables["first_name"] in rendered.text


def test_an_unknown_variable_fails_the_render():
    environment = make_environment(
        jinja2.DictLoader({"x.subject.j2": "s", "x.txt.j2": "{{ loyalty_points }}", "x.html.j2": "h"})
    )
    with pytest.raises(RenderError, match="loyalty_points"):
        render_email(environment, "x", _fallback_profile())


def test_a_missing_field_fails_the_render_naming_the_template_line():
    profile = {**SCENARIOS["abandoned_cart"].variables, "cart_items": [{"product_name": "Boots"}]}
    with pytest.raises(RenderError, match=r"_cart\.(txt|html)\.j2 line \d+ \(via .*no attribute"):
        render_email(ENVIRONMENT, "cart_reminder", profile)


def test_html_is_autoescaped_and_text_is_not():
    rendered = render_email(ENVIRONMENT, "cart_reminder", SCENARIOS["markup_in_names"].variables)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "&lt;b&gt;Siobhán&lt;/b&gt; &amp;" in rendered.html
    assert "<b>Siobhán</b> &" in rendered.text and "<script>" in rendered.subject


def test_newsletter_picks_its_blocks():
    def body(scenario: str) -> str:
        return render_email(ENVIRONMENT, "newsletter", SCENARIOS[scenario].variables).text

    assert "YOU LEFT SOMETHING IN YOUR CART" in body("abandoned_cart")
    assert "YOUR CART" not in body("browse_only") and "PICKED FOR YOU" in body("browse_only")
    vip_cart = body("vip_with_open_cart")
    assert "YOUR CART" in vip_cart and "VIPS" in vip_cart and "PICKED FOR YOU" in vip_cart
    assert "NEW THIS WEEK" not in vip_cart
    fallback = body("new_subscriber")
    assert "NEW THIS WEEK" in fallback and "PICKED FOR YOU" not in fallback and "YOUR CART" not in fallback


def test_unknown_email_is_a_config_error_listing_the_available_ones():
    with pytest.raises(ConfigError, match="unknown template 'nope'; available: cart_reminder"):
        render_email(ENVIRONMENT, "nope", _fallback_profile())


# --- scenario profiles ----------------------------------------------------------------------------


def test_the_scenarios_cover_the_required_kinds_of_contact():
    variables = [scenario.variables for scenario in SCENARIOS.values()]
    assert any(v["has_open_cart"] and not v["has_ordered"] for v in variables), "abandoned cart"
    assert any(v["has_last_viewed_product"] and not v["has_open_cart"] and not v["has_ordered"] for v in variables)
    assert any(v["is_vip"] and v["recommended_products"] for v in variables), "VIP with recommendations"
    assert any(v["has_ordered"] and not v["is_vip"] for v in variables), "lapsing customer"


def test_new_subscriber_has_every_fallback_value():
    profile = SCENARIOS["new_subscriber"].variables
    fallback = _fallback_profile()
    differing = {name for name in fallback if name not in {"contact_key", "email", "computed_as_of"}
                 and profile[name] != fallback[name]}
    assert not differing, f"new_subscriber differs from the fallbacks in {differing}"


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario_has_exactly_the_contract_columns_and_types(scenario):
    variables = SCENARIOS[scenario].variables
    assert set(variables) == COLUMN_NAMES, (
        f"missing {COLUMN_NAMES - set(variables)}, unknown {set(variables) - COLUMN_NAMES}"
    )
    for column in YAML_COLUMNS:
        value = variables[column["name"]]
        expected = _python_type(column)
        assert isinstance(value, expected) and not (isinstance(value, bool) and bool not in expected), (
            f"{scenario}.{column['name']} = {value!r} should be {expected}"
        )
        if list in expected:
            for item in value:
                assert set(item) == LIST_FIELDS[column["name"]], f"{scenario}.{column['name']} item {item}"
    assert CONTRACT.problems(variables) == []


def test_profile_check_reports_mismatches():
    variables = dict(SCENARIOS["abandoned_cart"].variables)
    variables["is_vip"] = "no"
    variables["cart_item_count"] = True
    variables["cart_items"] = [{**variables["cart_items"][0], "colour": "red"}]
    del variables["email"]
    variables["loyalty_points"] = 3
    problems = "\n".join(CONTRACT.problems(variables))
    assert "missing column email" in problems
    assert "unknown column loyalty_points" in problems
    assert "is_vip should be bool" in problems
    assert "cart_item_count should be int" in problems
    assert "undocumented field(s) colour" in problems
