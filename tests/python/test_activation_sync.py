"""activation sync against the Klaviyo simulator: convergence, crash-resume, consent, errors.

Each test copies the dbt-built test warehouse (exports included), edits the
exports where a test needs an upstream change (as a dbt rebuild would), and
syncs into a fresh simulator. Reliability is judged on the simulator's state:
what the ESP would hold, not what activation believes it sent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from activation.config import load_syncs
from activation.contracts.klaviyo import validate_request
from activation.db import Warehouse
from activation.destinations.klaviyo import KlaviyoDestination
from activation.engine import Engine
from activation.simulators.klaviyo import KlaviyoSimulator
from activation.state import StateStore
from dbt_runner import PROJECT_DIR

pytestmark = pytest.mark.dbt

SYNCS = PROJECT_DIR / "syncs.yml"
ACTIVATION = Path(sys.executable).parent / "activation"


def _lists() -> dict[str, str]:
    return {list_id: segment for sync in load_syncs(SYNCS).syncs for segment, list_id in sync.lists.items()}


@pytest.fixture
def warehouse(built_warehouse, tmp_path) -> Path:
    source, _, result = built_warehouse
    result.check()
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(source, copy)
    # the 400-customer test data has few or no abandoned carts at its as_of: add three
    # events for real contacts, so every test exercises trigger events too
    execute(
        copy,
        """
        insert into exports.export_cart_abandonment_events
        select
            md5(contact_key || '|test-cart') as event_id, contact_key, email, cart_items, cart_item_count,
            cart_value, false as is_holdout, timestamp '2026-11-20 09:00:00', timestamp '2026-11-20 10:00:00'
        from exports.export_contact_template_variables
        where email not in (select email from exports.export_deletion_requests)
        order by contact_key
        limit 3
        """,
    )
    return copy


@pytest.fixture
def simulator() -> Iterator[KlaviyoSimulator]:
    with KlaviyoSimulator(port=0, seed=3, rate_limits="off", job_delay=0.02, deletion_delay=0.02, lists=_lists()) as sim:
        yield sim


@pytest.fixture(autouse=True)
def klaviyo_env(monkeypatch, simulator) -> None:
    monkeypatch.setenv("KLAVIYO_BASE_URL", simulator.base_url)
    monkeypatch.setenv("KLAVIYO_API_KEY", "pk_test_secret_value")


def sync(warehouse: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`activation sync --output json` in a subprocess (as cron would run it)."""
    return subprocess.run(
        [str(ACTIVATION), "sync", "--syncs", str(SYNCS), "--db", str(warehouse), "--output", "json", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def runs(completed: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert completed.stdout, completed.stderr[-3000:]
    return {run["sync_name"]: run for run in json.loads(completed.stdout)["runs"]}


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def execute(path: Path, sql: str) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(sql)


def expected_lists(path: Path) -> dict[str, set[str]]:
    """What Klaviyo's lists must hold: treatment members of mapped segments, by list id."""
    mapping = {segment: list_id for list_id, segment in _lists().items()}
    members: dict[str, set[str]] = {list_id: set() for list_id in mapping.values()}
    for email, segment in query(
        path, "select email, segment_key from exports.export_segment_memberships where not is_holdout"
    ):
        if segment in mapping:
            members[mapping[segment]].add(email)
    return members


def actual_lists(simulator: KlaviyoSimulator) -> dict[str, set[str]]:
    state = simulator.state.snapshot()
    emails = {profile["id"]: profile["email"] for profile in state["profiles"]}
    return {klist["id"]: {emails[m] for m in klist["members"]} for klist in state["lists"]}


def assert_converged(path: Path, simulator: KlaviyoSimulator) -> None:
    state = simulator.state.snapshot()
    profiles = {p["email"]: p for p in state["profiles"]}
    variables = query(path, "select email, first_name, cart_value from exports.export_contact_template_variables")
    erased = {email for (email,) in query(path, "select email from exports.export_deletion_requests")}
    for email, first_name, cart_value in variables:
        if email in erased:
            continue
        assert email in profiles, f"{email} missing at Klaviyo"
        assert profiles[email]["first_name"] == first_name
        assert float(profiles[email]["properties"]["cart_value"]) == float(cart_value)
    assert actual_lists(simulator) == expected_lists(path)
    events = query(path, "select event_id from exports.export_cart_abandonment_events where not is_holdout")
    assert sorted(e["unique_id"] for e in state["events"]) == sorted(event_id for (event_id,) in events)
    assert all(p["email"] not in erased for p in state["profiles"]), "an erased profile is back"
    assert state["subscription_calls"] == [], "a sync must never subscribe or unsubscribe"


def test_first_sync_converges_and_the_second_sends_nothing(warehouse, simulator):
    first = sync(warehouse)
    assert first.returncode == 0, first.stdout + first.stderr
    assert_converged(warehouse, simulator)
    requests = simulator.stats.total
    second = sync(warehouse)
    assert second.returncode == 0
    assert simulator.stats.total == requests, "an unchanged export must send nothing"
    assert all(run["sent"] == 0 for run in runs(second).values())


def test_only_changed_records_are_sent(warehouse, simulator):
    assert sync(warehouse).returncode == 0
    execute(
        warehouse,
        """
        update exports.export_contact_template_variables set first_name = 'Changed'
        where contact_key in (select contact_key from exports.export_contact_template_variables order by 1 limit 7);
        -- a column no sync maps: nothing to send
        update exports.export_contact_template_variables set computed_as_of = computed_as_of + interval 1 day;
        """,
    )
    result = runs(sync(warehouse))
    assert result["klaviyo_profiles"]["counts"]["CHANGE"] == 7
    assert result["klaviyo_profiles"]["sent"] == 7
    assert result["klaviyo_segments"]["sent"] == 0
    assert_converged(warehouse, simulator)


def test_every_request_the_destination_makes_validates_against_the_contract(warehouse, simulator):
    """Requests checked on the client side, before the simulator sees them, with the official contract."""
    problems: list[str] = []
    seen: list[str] = []

    class Validating(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            body = request.read()
            seen.append(f"{request.method} {request.url.path}")
            for problem in validate_request(request.method, str(request.url), dict(request.headers), body or None):
                problems.append(f"{request.method} {request.url.path}: {problem}")
            return super().handle_request(request)

    syncs = load_syncs(SYNCS)
    with Warehouse.open_duckdb(warehouse) as db:
        store = StateStore(db)

        def destination(sync_):
            from activation.destinations.klaviyo import LIMITS
            from activation.transport.client import Transport

            transport = Transport(
                simulator.base_url,
                {"Authorization": "Klaviyo-API-Key pk_test", "revision": "2026-07-15",
                 "Accept": "application/vnd.api+json", "Content-Type": "application/vnd.api+json"},
                LIMITS,
                http_transport=Validating(),
            )
            return KlaviyoDestination(sync_, transport=transport)

        engine = Engine(db, store, "exports", destination, progress=False)
        for sync_ in syncs.syncs:
            engine.run(sync_)
        # list removals (profile lookup by email, then DELETE relationships) are requests too
        db.execute(
            """delete from exports.export_segment_memberships
               where segment_key = 'lapsing' and contact_key in (
                   select contact_key from exports.export_segment_memberships
                   where segment_key = 'lapsing' and not is_holdout order by 1 limit 3)"""
        )
        engine.run(syncs.select(["klaviyo_segments"])[0])
    kinds = {entry.split(" ")[0] + " " + entry.split(" ")[1].split("/")[2] for entry in seen}
    assert {"POST profile-bulk-import-jobs", "GET profile-bulk-import-jobs", "POST events",
            "POST data-privacy-deletion-jobs", "GET profiles", "DELETE lists"} <= kinds, kinds
    assert problems == []


def test_list_removal_resolves_ids_and_never_unsubscribes(warehouse, simulator):
    assert sync(warehouse).returncode == 0
    execute(
        warehouse,
        """
        delete from exports.export_segment_memberships
        where segment_key = 'lapsing'
            and contact_key in (select contact_key from exports.export_segment_memberships
                                where segment_key = 'lapsing' order by 1 limit 3)
        """,
    )
    result = runs(sync(warehouse, "--select", "klaviyo_segments"))
    assert result["klaviyo_segments"]["counts"]["REMOVE"] == 3
    assert simulator.stats.count("remove_profiles_from_list") == 1
    assert_converged(warehouse, simulator)


def test_consent_withdrawal_leaves_lists_and_is_never_updated_again(warehouse, simulator):
    assert sync(warehouse).returncode == 0
    (email,) = query(
        warehouse,
        """select m.email from exports.export_segment_memberships m where not is_holdout
           and segment_key in ('lapsing', 'churn_risk', 'vip', 'warm_lead') order by 1 limit 1""",
    )[0]
    # the dbt rebuild after the withdrawal: the contact leaves both consent-gated exports
    execute(warehouse, f"delete from exports.export_segment_memberships where email = '{email}'")
    execute(warehouse, f"delete from exports.export_contact_template_variables where email = '{email}'")
    imports_before = simulator.stats.count("bulk_import_profiles")
    assert sync(warehouse).returncode == 0
    lists_of = {klist: members for klist, members in actual_lists(simulator).items() if email in members}
    assert lists_of == {}, f"{email} still in {sorted(lists_of)}"
    assert simulator.stats.count("bulk_import_profiles") == imports_before, "nothing to upsert after a withdrawal"
    assert simulator.state.snapshot()["subscription_calls"] == []


def test_rejected_rows_are_counted_and_never_sent(warehouse, simulator):
    execute(
        warehouse,
        """
        insert into exports.export_contact_template_variables
        select * replace ('bad-email' as email, 'k-bad' as contact_key)
        from exports.export_contact_template_variables limit 1;
        insert into exports.export_contact_template_variables
        select * replace ('dup' as contact_key, 'dup1@example.com' as email)
        from exports.export_contact_template_variables limit 2;
        """,
    )
    result = runs(sync(warehouse, "--select", "klaviyo_profiles"))["klaviyo_profiles"]
    assert result["rejected"] == {"invalid_email": 1, "duplicate_key": 2}
    emails = {p["email"] for p in simulator.state.snapshot()["profiles"]}
    assert "bad-email" not in emails and "dup1@example.com" not in emails
    assert query(warehouse, "select count(*) from activation.rejections")[0][0] == 3


def test_per_record_import_errors_are_recorded_and_retried_next_run(warehouse, simulator):
    simulator.faults.add("import-errors:share=0.2,next=1")
    first = sync(warehouse, "--select", "klaviyo_profiles")
    assert first.returncode == 1, first.stderr  # partial
    failed = runs(first)["klaviyo_profiles"]["failed"]
    assert failed > 0
    assert query(warehouse, "select count(*) from activation.sync_state where status = 'failed'")[0][0] == failed
    second = runs(sync(warehouse, "--select", "klaviyo_profiles"))["klaviyo_profiles"]
    assert second["counts"]["RETRY"] == failed and second["failed"] == 0
    assert query(warehouse, "select count(*) from activation.sync_state where status = 'failed'")[0][0] == 0


@pytest.mark.parametrize("fault", ["503:p=0.3", "reset:p=0.2,apply=true", "429:for=1,seconds=0.2", "timeout:next=1,seconds=40,apply=true"])
def test_transport_faults_do_not_lose_anything(warehouse, simulator, fault):
    simulator.faults.add(fault)
    result = sync(warehouse, env={"ACTIVATION_HTTP_TIMEOUT": "2"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert_converged(warehouse, simulator)


@pytest.mark.parametrize("point", ["after_plan", "after_send:1", "after_send:3", "after_commit:2"])
def test_a_crash_anywhere_then_a_rerun_converges_without_duplicates(warehouse, simulator, point):
    crashed = sync(warehouse, env={"ACTIVATION_CRASH_AT": point})
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    rerun = sync(warehouse)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_converged(warehouse, simulator)
    # a resent event was recorded once by Klaviyo (unique_id); no run is left open
    state = simulator.state.snapshot()
    assert len({e["unique_id"] for e in state["events"]}) == len(state["events"])
    assert query(warehouse, "select count(*) from activation.runs where status in ('planned', 'running')")[0][0] == 0
    requests = simulator.stats.total
    assert sync(warehouse).returncode == 0
    assert simulator.stats.total == requests, "after convergence a rerun sends nothing"


def test_circuit_breaker_stops_a_mass_removal(warehouse, simulator, tmp_path):
    import yaml

    declared = yaml.safe_load(SYNCS.read_text())
    for entry in declared["syncs"]:
        if entry["name"] == "klaviyo_segments":
            entry["circuit_breaker"] = {"max_removed_share": 0.5, "min_list_size": 5}
    syncs_file = tmp_path / "syncs.yml"
    syncs_file.write_text(yaml.safe_dump(declared))
    assert sync(warehouse, "--syncs", str(syncs_file), "--select", "klaviyo_segments").returncode == 0
    execute(warehouse, "delete from exports.export_segment_memberships where segment_key = 'lapsing'")
    before = actual_lists(simulator)
    assert len(before["LstLapsing"]) >= 5
    stopped = sync(warehouse, "--syncs", str(syncs_file), "--select", "klaviyo_segments")
    assert stopped.returncode == 3
    assert "--force-removals" in runs(stopped)["klaviyo_segments"]["error"]
    assert actual_lists(simulator) == before, "nothing may be sent when the breaker trips"
    forced = sync(warehouse, "--syncs", str(syncs_file), "--select", "klaviyo_segments", "--force-removals")
    assert forced.returncode == 0
    assert actual_lists(simulator) == expected_lists(warehouse)


def test_deletion_erases_and_tombstones(warehouse, simulator):
    assert sync(warehouse).returncode == 0
    erased = {email for (email,) in query(warehouse, "select email from exports.export_deletion_requests")}
    assert erased
    assert {d["value"] for d in simulator.state.snapshot()["deletion_requests"] if d["identifier"] == "email"} >= erased
    # an erased address that reappears upstream is rejected, never sent again
    some = sorted(erased)[0]
    execute(
        warehouse,
        f"""insert into exports.export_contact_template_variables
            select * replace ('{some}' as email, 'k-erased' as contact_key)
            from exports.export_contact_template_variables limit 1""",
    )
    result = runs(sync(warehouse, "--select", "klaviyo_profiles"))["klaviyo_profiles"]
    assert result["rejected"] == {"tombstoned": 1}


def test_dry_run_sends_nothing_and_is_recorded(warehouse, simulator):
    result = sync(warehouse, "--dry-run")
    assert result.returncode == 0
    assert simulator.stats.total == 0
    assert {run["status"] for run in runs(result).values()} == {"dry_run"}
    assert query(warehouse, "select count(*) from activation.runs where dry_run")[0][0] == 4


def test_a_secret_never_reaches_logs_or_tables(warehouse, simulator):
    simulator.faults.add("503:next=2")
    result = sync(warehouse)
    assert "pk_test_secret_value" not in result.stdout + result.stderr
    for (table,) in query(warehouse, "select table_name from information_schema.tables where table_schema = 'activation'"):
        dump = json.dumps(query(warehouse, f"select * from activation.{table}"), default=str)
        assert "pk_test_secret_value" not in dump, table



def test_plan_shows_operations_with_sample_keys_and_status_lists_runs(warehouse, simulator):
    def activation(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ACTIVATION), *args, "--syncs", str(SYNCS), "--db", str(warehouse)],
            capture_output=True, text=True, env=os.environ.copy(), timeout=120,
        )

    planned = activation("plan", "--output", "json")
    assert planned.returncode == 0, planned.stderr
    by_sync = {entry["sync_name"]: entry for entry in json.loads(planned.stdout)}
    contacts = query(warehouse, "select count(*) from exports.export_contact_template_variables")[0][0]
    assert by_sync["klaviyo_profiles"]["counts"]["ADD"] == contacts
    assert len(by_sync["klaviyo_profiles"]["samples"]["ADD"]) == 5
    assert simulator.stats.total == 0, "plan sends nothing"
    assert query(warehouse, "select count(*) from activation.runs")[0][0] == 0, "plan records nothing"
    assert sync(warehouse).returncode == 0
    status = activation("status", "--output", "json")
    assert status.returncode == 0
    assert {row["sync_name"] for row in json.loads(status.stdout)} == {s.name for s in load_syncs(SYNCS).syncs}


def test_a_mapping_change_resends_every_record(warehouse, simulator, tmp_path):
    import yaml

    assert sync(warehouse, "--select", "klaviyo_profiles").returncode == 0
    declared = yaml.safe_load(SYNCS.read_text())
    for entry in declared["syncs"]:
        if entry["name"] == "klaviyo_profiles":
            entry["fields"]["properties.favourite"] = "rfm_segment"
    changed = tmp_path / "syncs.yml"
    changed.write_text(yaml.safe_dump(declared))
    result = runs(sync(warehouse, "--syncs", str(changed), "--select", "klaviyo_profiles"))["klaviyo_profiles"]
    contacts = query(warehouse, "select count(*) from exports.export_contact_template_variables")[0][0]
    assert result["counts"]["CHANGE"] == contacts and result["counts"]["UNCHANGED"] == 0
    profile = simulator.state.snapshot()["profiles"][0]
    assert "favourite" in profile["properties"]
