"""Segments on a real build: catalogue, holdouts, primary segment, history.

The rules themselves are proven by dbt unit tests (segment_memberships.yml);
these tests check properties of the whole build and the fail-fast checks of
the catalogue.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from dbt_runner import query, run_dbt

pytestmark = pytest.mark.dbt

# Declared segments that may legitimately be empty on the 400-customer test
# dataset (the 2000-customer demo populates every one: scripts/demo_summary.py).
MAY_BE_EMPTY_ON_SMALL_DATA = {"multi_criteria_example", "cart_abandoner"}


def test_every_declared_segment_has_members(built_warehouse):
    warehouse, _, result = built_warehouse
    result.check()
    declared = {row[0] for row in query(warehouse, "select segment_family from marts.segment_definitions")}
    populated = {row[0] for row in query(warehouse, "select distinct segment_family from marts.segment_memberships")}
    assert len(declared) >= 14
    assert declared - populated <= MAY_BE_EMPTY_ON_SMALL_DATA, declared - populated


def test_holdout_is_a_stable_hash_of_salt_segment_and_customer(built_warehouse):
    """The SQL assignment equals md5 computed here: it depends on nothing but the
    three values, so it is the same on every build and every engine."""
    warehouse, _, _ = built_warehouse
    rows = query(warehouse, "select customer_key, segment_key, holdout_group from marts.segment_memberships")
    assert len(rows) > 500
    mismatches = []
    for customer_key, segment_key, group in rows:
        bucket = int(hashlib.md5(f"h1|{segment_key}|{customer_key}".encode()).hexdigest()[:8], 16) % 10000
        expected = "control" if bucket < 1000 else "treatment"
        if group != expected:
            mismatches.append((customer_key, segment_key, group))
    assert not mismatches, mismatches[:5]
    control_share = sum(group == "control" for _, _, group in rows) / len(rows)
    assert 0.07 < control_share < 0.13, control_share


def test_primary_segment_is_the_lowest_priority_membership(built_warehouse):
    warehouse, _, _ = built_warehouse
    wrong = query(
        warehouse,
        """
        with best as (
            select m.customer_key, min(d.priority) as priority, count(*) as segments
            from marts.segment_memberships m
            join marts.segment_definitions d using (segment_family)
            group by 1
        )
        select best.customer_key
        from best
        full join marts.customer_primary_segment p using (customer_key)
        where p.customer_key is null or best.customer_key is null
            or p.primary_segment_priority <> best.priority or p.segment_count <> best.segments
        """,
    )
    assert wrong == []


def test_history_opens_one_interval_per_current_membership(built_warehouse):
    warehouse, _, _ = built_warehouse
    difference = query(
        warehouse,
        """
        (select customer_key, segment_key from marts.segment_memberships
         except all
         select customer_key, segment_key from marts.segment_membership_history where is_current)
        union all
        (select customer_key, segment_key from marts.segment_membership_history where is_current
         except all
         select customer_key, segment_key from marts.segment_memberships)
        """,
    )
    assert difference == []


BAD_CATALOGUES = [
    ([{"key": "x", "name": "X", "description": "d", "owner": "o", "priority": 1}], "'condition' is required"),
    (
        [{"key": "x", "name": "X", "description": "d", "owner": "o", "priority": 1, "condition": "true", "when": 1}],
        "unknown field 'when'",
    ),
    (
        [{"key": "Cart-Abandoner", "name": "X", "description": "d", "owner": "o", "priority": 1, "condition": "true"}],
        "lower_snake_case",
    ),
    (
        [
            {"key": "x", "name": "X", "description": "d", "owner": "o", "priority": 1, "condition": "true"},
            {"key": "x", "name": "Y", "description": "d", "owner": "o", "priority": 2, "condition": "true"},
        ],
        "declared twice",
    ),
    (
        [
            {"key": "x", "name": "X", "description": "d", "owner": "o", "priority": 1, "condition": "true",
             "exclusions": ["vipp"]},
        ],
        "exclusion 'vipp' is not another segment's key",
    ),
    (
        [{"key": "x", "name": "X", "description": "d", "owner": "o", "priority": 1, "condition": "true",
          "source": "orders"}],
        "source 'orders' is unknown",
    ),
    (
        [{"key": "x", "name": "X", "description": "d", "owner": "o", "priority": 1, "condition": "true",
          "holdout_percent": 150}],
        "holdout_percent must be a number from 0 to 100",
    ),
]


@pytest.mark.parametrize(("segments", "message"), BAD_CATALOGUES, ids=lambda v: v if isinstance(v, str) else "")
def test_a_bad_catalogue_fails_naming_the_segment_and_the_fix(tmp_path, segments, message):
    result = run_dbt(
        ["run-operation", "validate_segment_catalogue", "--args", json.dumps({"segments": segments})],
        tmp_path / "w.duckdb",
        tmp_path,
    )
    assert result.returncode != 0
    assert "segment catalogue (macros/segments/segment_catalogue_yaml.sql)" in result.output
    assert message in result.output, result.output[-2000:]


def test_the_shipped_catalogue_is_valid(tmp_path):
    result = run_dbt(["run-operation", "segment_catalogue"], tmp_path / "w.duckdb", tmp_path)
    result.check()
