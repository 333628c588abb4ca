"""`dbt build` on generated data: green, and every raw row accounted for as the generator predicts."""

from __future__ import annotations

import re

import pytest
import yaml

from dbt_runner import PROJECT_DIR, query

pytestmark = pytest.mark.dbt


def _declared_unit_tests() -> set[str]:
    names = set()
    for path in (PROJECT_DIR / "models").rglob("*.yml"):
        for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests", []):
            names.add(f"{test['model']}::{test['name']}")
    return names


def test_dbt_build_is_green_and_runs_every_unit_test(built_warehouse):
    _, _, result = built_warehouse
    result.check()
    assert re.search(r"ERROR=0 ", result.output)
    passed = set(re.findall(r" PASS (\S+::\S+) ", result.output))
    declared = _declared_unit_tests()
    assert declared, "no unit tests declared"
    assert declared <= passed, f"unit tests not run or not passed: {sorted(declared - passed)}"


def test_reconciliation_accounts_for_every_raw_row(built_warehouse, small_dataset):
    warehouse, _, result = built_warehouse
    result.check()
    rows = query(
        warehouse,
        "select raw_table, raw_rows, staged_rows, quarantined_rows, duplicate_rows, unaccounted_rows "
        "from staging.stg_audit__reconciliation",
    )
    assert {r[0] for r in rows} == set(small_dataset.manifest["tables"])
    for raw_table, raw_rows, staged, quarantined, duplicates, unaccounted in rows:
        expected = small_dataset.manifest["tables"][raw_table]
        assert unaccounted == 0, raw_table
        assert raw_rows == expected["raw_rows"], raw_table
        assert (staged, duplicates, quarantined) == (
            expected["expected_staged_rows"],
            expected["expected_duplicate_rows"],
            sum(expected["expected_quarantined_rows"].values()),
        ), raw_table


def test_quarantine_reasons_match_what_the_generator_injected(built_warehouse, small_dataset):
    warehouse, _, result = built_warehouse
    result.check()
    found = {
        (table, reason): count
        for table, reason, count in query(
            warehouse,
            "select raw_table, quarantine_reason, quarantined_rows from staging.stg_audit__quarantine_reasons",
        )
    }
    expected = {
        (table, reason): count
        for table, spec in small_dataset.manifest["tables"].items()
        for reason, count in spec["expected_quarantined_rows"].items()
        if count
    }
    assert found == expected
    # the default dataset is messy: every kind of event anomaly shows up
    event_reasons = {reason for (table, reason) in found if table == "events"}
    assert {
        "malformed_json",
        "bot_user_agent",
        "bot_event_rate",
        "unknown_event_name",
        "missing_identifier",
        "timestamp_in_future",
        "timestamp_too_old",
    } <= event_reasons


def test_clock_skew_is_corrected(built_warehouse):
    """An event cannot happen after the server received it. Devices whose clock runs ahead send
    client timestamps in the future; after correction no staged event is later than its receipt."""
    warehouse, _, result = built_warehouse
    result.check()
    ((ahead_before, ahead_after),) = query(
        warehouse,
        """
        select
            count(*) filter (where client_timestamp > received_at + interval 5 minute),
            count(*) filter (where occurred_at > received_at + interval 1 second)
        from staging.stg_segment__events
        """,
    )
    assert ahead_before > 0, "the dataset should contain client clocks running ahead"
    assert ahead_after == 0


def test_staged_emails_and_product_ids_are_normalised(built_warehouse):
    warehouse, _, result = built_warehouse
    result.check()
    ((bad_emails, bad_products),) = query(
        warehouse,
        """
        select
            (select count(*) from staging.stg_segment__events where email <> lower(trim(email)))
            + (select count(*) from staging.stg_crm__customers where email <> lower(trim(email))),
            (select count(*) from staging.stg_segment__events where product_id <> upper(trim(product_id)))
        """,
    )
    assert (bad_emails, bad_products) == (0, 0)
