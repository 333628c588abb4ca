"""Planner.plan on a small hand-built export and state: every operation, rejection and count, on both engines.

The export and the state are written by hand (no dbt build), so each key's expected operation is
known: UNCHANGED, CHANGE (value or mapping fingerprint), ADD (new, or previously removed), RETRY,
no operation (a tombstoned state row), REMOVE (mirror_lists: a membership gone from the export, or
whose row is now rejected), and every rejection reason. UNCHANGED keys are not held in the plan table;
their count is derived, so these tests check it against keys whose fate is known.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from activation.config import Sync, load_syncs
from activation.db import Warehouse
from activation.engine import Engine
from activation.planner import Plan, Planner
from activation.state import StateStore

ENGINES = ["duckdb", "postgres"]

# key, email, name, segment
ROWS = [
    ("k1", "a@x.io", "A", "vip"),  # unchanged
    ("k2", "b@x.io", "B", "vip"),  # changed value (state hash made stale below)
    ("k3", "c@x.io", "C", "vip"),  # new (its state row deleted below)
    ("k4", "d@x.io", "D", "lapsing"),  # failed last time: RETRY
    ("k5", "e@x.io", "E", "lapsing"),  # removed earlier: ADD again
    ("k6", "f@x.io", "F", "lapsing"),  # tombstoned state: never planned
    ("k9", "g@x.io", "G", "vip"),  # synced under another mapping: CHANGE
    ("k7", "bad-email", "H", "vip"),  # invalid_email (and a state row: a membership to remove)
    ("dup", "d1@x.io", "I", "vip"),  # duplicate_key
    ("dup", "d2@x.io", "J", "vip"),  # duplicate_key
    (None, "n@x.io", "K", "vip"),  # null_key
    ("k8", " T@X.io ", "L", "vip"),  # tombstoned (normalised email in tombstones)
]


def _syncs_file(tmp_path: Path) -> Path:
    document = {
        "version": 1,
        "exports_schema": "exports",
        "state_schema": "activation",
        "syncs": [
            {
                "name": "profiles",
                "source": "planner_contacts",
                "key": "contact_key",
                "destination": {"type": "webhook", "settings": {"url": "https://example.invalid/hook"}},
                "mode": "upsert_profiles",
                "fields": {"email": "email", "name": "first_name"},
            },
            {
                "name": "lists",
                "source": "planner_contacts",
                "key": "contact_key",
                "segment": "segment_key",
                "destination": {"type": "webhook", "settings": {"url": "https://example.invalid/hook"}},
                "mode": "mirror_lists",
                "lists": {"vip": "LstVip", "lapsing": "LstLapsing"},
                "circuit_breaker": {"max_removed_share": 1, "min_list_size": 0},
            },
        ],
    }
    path = tmp_path / "syncs.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture(params=ENGINES)
def warehouse(request, tmp_path) -> Iterator[Warehouse]:
    if request.param == "duckdb":
        import duckdb

        path = tmp_path / "planner.duckdb"
        duckdb.connect(str(path)).close()
        spec: str | Path = path
    else:
        spec = request.getfixturevalue("postgres_server").fresh("exports", "activation").spec
    with Warehouse.open(spec) as opened:
        opened.execute("create schema exports")
        opened.execute(
            "create table exports.planner_contacts "
            "(contact_key varchar, email varchar, first_name varchar, segment_key varchar)"
        )
        for row in ROWS:
            opened.execute("insert into exports.planner_contacts values (?, ?, ?, ?)", list(row))
        yield opened


def _sync(tmp_path: Path, name: str) -> Sync:
    return next(s for s in load_syncs(_syncs_file(tmp_path)).syncs if s.name == name)


def _synced_once(warehouse: Warehouse, store: StateStore, sync: Sync) -> None:
    """A first plan of everything, acknowledged and applied to sync_state as a real run would."""
    engine = Engine(warehouse, store, "exports", lambda s: None, progress=False)  # type: ignore[arg-type,return-value]
    with warehouse.transaction():
        engine.planner.plan(sync, "first")
    warehouse.execute("update activation.journal set status = 'acknowledged' where run_id = 'first'")
    engine._apply_state(sync, "first")


def _second_plan(warehouse: Warehouse, store: StateStore, sync: Sync) -> tuple[Plan, dict[str, str], list]:
    planner = Planner(warehouse, store, "exports")
    with warehouse.transaction():
        plan = planner.plan(sync, "second")
    journal = warehouse.fetchall(
        "select seq, record_key, operation, payload from activation.journal where run_id = 'second' order by seq"
    )
    return plan, {key: operation for _, key, operation, _ in journal}, journal


def _age_state(warehouse: Warehouse, sync: str, key_of: dict[str, str]) -> None:
    """The state edits that give each key its expected operation; key_of maps k1.. to the state's record_key."""
    where = "where sync_name = ? and record_key = ?"
    warehouse.execute(f"update activation.sync_state set payload_hash = 'stale' {where}", [sync, key_of["k2"]])
    warehouse.execute(f"delete from activation.sync_state {where}", [sync, key_of["k3"]])
    warehouse.execute(f"update activation.sync_state set status = 'failed' {where}", [sync, key_of["k4"]])
    warehouse.execute(f"update activation.sync_state set status = 'removed' {where}", [sync, key_of["k5"]])
    warehouse.execute(f"update activation.sync_state set status = 'tombstoned' {where}", [sync, key_of["k6"]])
    warehouse.execute(f"update activation.sync_state set mapping_fingerprint = 'older' {where}", [sync, key_of["k9"]])
    # a key now rejected (invalid email) that was synced, and one gone from the export
    for key in (key_of["k7"], key_of["gone"]):
        warehouse.execute(
            "insert into activation.sync_state (sync_name, record_key, email, payload_hash, mapping_fingerprint, "
            "status) values (?, ?, 'old@x.io', 'h', 'f', 'synced')",
            [sync, key],
        )
    warehouse.execute(
        "insert into activation.tombstones (email, sync_name, run_id, tombstoned_at) "
        "values ('t@x.io', 'erase', 'r0', current_timestamp)"
    )


def test_every_operation_rejection_and_count_of_a_profile_sync(warehouse, tmp_path):
    sync = _sync(tmp_path, "profiles")
    store = StateStore(warehouse)
    store.ensure()
    _synced_once(warehouse, store, sync)
    _age_state(warehouse, sync.name, {k: k for k in ("k2", "k3", "k4", "k5", "k6", "k7", "k9")} | {"gone": "k10"})

    plan, operations, journal = _second_plan(warehouse, store, sync)

    assert plan.counts == {"ADD": 2, "CHANGE": 2, "REMOVE": 0, "RETRY": 1, "UNCHANGED": 1}
    assert plan.rejected == {"invalid_email": 1, "duplicate_key": 2, "null_key": 1, "tombstoned": 1}
    assert operations == {"k3": "ADD", "k5": "ADD", "k2": "CHANGE", "k9": "CHANGE", "k4": "RETRY"}
    assert [seq for seq, *_ in journal] == [1, 2, 3, 4, 5]  # by operation, then key
    assert [key for _, key, _, _ in journal] == ["k3", "k5", "k2", "k9", "k4"]
    assert all(payload for *_, payload in journal), "every ADD, CHANGE and RETRY carries its payload"
    assert plan.samples == {"ADD": ["k3", "k5"], "CHANGE": ["k2", "k9"], "RETRY": ["k4"]}
    rejected = warehouse.fetchall(
        "select record_key, reason from activation.rejections where run_id = 'second' order by 2, 1"
    )
    assert rejected == [("dup", "duplicate_key"), ("dup", "duplicate_key"), ("k7", "invalid_email"),
                        (None, "null_key"), ("k8", "tombstoned")]


def test_a_second_plan_with_nothing_changed_counts_every_valid_key_unchanged(warehouse, tmp_path):
    sync = _sync(tmp_path, "profiles")
    store = StateStore(warehouse)
    store.ensure()
    _synced_once(warehouse, store, sync)

    plan, operations, _ = _second_plan(warehouse, store, sync)

    valid = 8  # 12 rows: two duplicates, a null key and an invalid email rejected
    assert plan.counts == {"ADD": 0, "CHANGE": 0, "REMOVE": 0, "RETRY": 0, "UNCHANGED": valid}
    assert operations == {}


def test_a_list_sync_removes_memberships_gone_or_rejected_and_counts_them_per_list(warehouse, tmp_path):
    sync = _sync(tmp_path, "lists")
    store = StateStore(warehouse)
    store.ensure()
    _synced_once(warehouse, store, sync)
    members = {key: f"{key}|{'LstLapsing' if key in ('k4', 'k5', 'k6') else 'LstVip'}"
               for key in ("k2", "k3", "k4", "k5", "k6", "k7", "k9")}
    _age_state(warehouse, sync.name, members | {"gone": "k10|LstVip"})

    plan, operations, journal = _second_plan(warehouse, store, sync)

    # k7 (now an invalid email) and k8 (now tombstoned) were synced members: their rows are rejected, so
    # their memberships are removed, as is k10's, gone from the export
    assert plan.counts == {"ADD": 2, "CHANGE": 2, "REMOVE": 3, "RETRY": 1, "UNCHANGED": 1}
    assert operations == {"k3|LstVip": "ADD", "k5|LstLapsing": "ADD", "k2|LstVip": "CHANGE", "k9|LstVip": "CHANGE",
                          "k4|LstLapsing": "RETRY", "k10|LstVip": "REMOVE", "k7|LstVip": "REMOVE",
                          "k8|LstVip": "REMOVE"}
    assert [key for _, key, operation, _ in journal if operation == "REMOVE"] == ["k10|LstVip", "k7|LstVip",
                                                                                  "k8|LstVip"]
    assert journal[-1][0] == len(journal), "removals come last"
    assert [payload is None for _, _, operation, payload in journal] == [
        operation == "REMOVE" for _, _, operation, _ in journal
    ]
    # synced members per list: k1, k2, k7, k8, k9, k10 in LstVip; none in LstLapsing (failed, removed, tombstoned)
    assert plan.removals_by_list == {"LstVip": (3, 6)}
