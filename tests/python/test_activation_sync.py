"""activation sync against every destination's simulator: convergence, crash-resume, consent, errors.

Each test copies the dbt-built test warehouse (exports included), edits the
exports where a test needs an upstream change (as a dbt rebuild would), and
syncs into a fresh simulator. Reliability is judged on the simulator's state:
what the ESP would hold, not what activation believes it sent.

The reliability tests (convergence, changed-only, consent, transport faults,
crash-resume, deletions) run against every destination, each with its own
syncs file (tests/python/destinations.py: one harness per destination, ids
klaviyo / braze / mailchimp / webhook). The others exercise Klaviyo only:
they test the engine and the CLI, which every destination shares, or
Klaviyo's contract.

Tests marked ``on_both_engines`` run twice, ids ``duckdb`` and ``postgres``:
on the DuckDB file, and on a PostgreSQL database holding the same exports
(tests/python/warehouses.py copies them; activation keeps its state there
too). Their SQL edits of the exports are portable. The transport-fault tests
exercise HTTP, not the warehouse, and run on DuckDB only.

Braze and Mailchimp do not deduplicate events, so activation sends each at
most once: an event whose answer was lost (a 5xx, a timeout, a reset) or that
was in flight at a crash is recorded ``uncertain`` and never resent. For them
an event may be missing at the ESP only if activation recorded it uncertain,
and none may ever arrive twice.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from destinations import HARNESSES, DestinationHarness, KlaviyoHarness
from warehouses import DuckDBTarget, PostgresTarget, copy_schema, execute, query

pytestmark = pytest.mark.dbt

SYNCS = PROJECT_DIR / "syncs.yml"
ACTIVATION = Path(sys.executable).parent / "activation"
DESTINATIONS = list(HARNESSES)  # pytest ids: klaviyo, braze, mailchimp, webhook
ENGINES = ["duckdb", "postgres"]

Target = DuckDBTarget | PostgresTarget


@pytest.fixture
def warehouse(request, built_warehouse, tmp_path) -> Target:
    """The dbt-built exports with three cart events added: the DuckDB file, or (param postgres)
    a fresh PostgreSQL database holding a copy of its exports schema."""
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
    if getattr(request, "param", "duckdb") == "postgres":
        target = request.getfixturevalue("postgres_server").fresh("exports", "activation")
        copy_schema(copy, target, "exports")
        return target
    return DuckDBTarget(copy)


def _started(harness: DestinationHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[DestinationHarness]:
    with harness.start():
        for name, value in harness.env().items():
            monkeypatch.setenv(name, value)
        yield harness


@pytest.fixture
def destination(request, monkeypatch) -> Iterator[DestinationHarness]:
    """A started simulator for the destination named by the test's parameter, the syncs file pointed at it."""
    yield from _started(HARNESSES[request.param](), monkeypatch)


@pytest.fixture
def klaviyo(monkeypatch) -> Iterator[DestinationHarness]:
    yield from _started(KlaviyoHarness(), monkeypatch)


@pytest.fixture
def simulator(klaviyo) -> KlaviyoSimulator:
    assert isinstance(klaviyo.sim, KlaviyoSimulator)
    return klaviyo.sim


every_destination = pytest.mark.parametrize("destination", DESTINATIONS, indirect=True)
on_both_engines = pytest.mark.parametrize("warehouse", ENGINES, indirect=True)


def sync(
    warehouse: Target, *args: str, syncs: Path = SYNCS, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`activation sync --output json` in a subprocess (as cron would run it)."""
    return subprocess.run(
        [str(ACTIVATION), "sync", "--syncs", str(syncs), "--warehouse", warehouse.spec, "--output", "json", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def runs(completed: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert completed.stdout, completed.stderr[-3000:]
    return {run["sync_name"]: run for run in json.loads(completed.stdout)["runs"]}



def insert_copy(warehouse: Target, table: str, rows: int = 1, **replace: str) -> None:
    """Insert copies of the first `rows` rows of exports.`table`, with columns replaced by SQL
    expressions (portable: no DuckDB `* replace`)."""
    columns = [name for (name,) in query(
        warehouse, f"select column_name from information_schema.columns where table_schema = 'exports' "
                   f"and table_name = '{table}' order by ordinal_position")]
    names = ", ".join(f'"{name}"' for name in columns)
    values = ", ".join(replace.get(name, f'"{name}"') for name in columns)
    execute(warehouse, f"insert into exports.{table} ({names}) "
                       f"select {values} from exports.{table} order by contact_key limit {rows}")


def uncertain_events(path: Target, destination: DestinationHarness) -> set[str]:
    """Event ids activation recorded as uncertain (maybe at the ESP, never resent)."""
    return {key for (key,) in query(
        path,
        f"select record_key from activation.sync_state "
        f"where sync_name = '{destination.events_sync}' and status = 'uncertain'",
    )}


def assert_succeeded(completed: subprocess.CompletedProcess[str], path: Target, destination: DestinationHarness) -> None:
    """Exit 0; or exit 1 at an at-most-once destination, when every record it did not acknowledge
    is an event recorded uncertain (a lost answer is never resent, so the run cannot call it done)."""
    if completed.returncode == 0:
        return
    assert completed.returncode == 1 and destination.at_most_once, completed.stdout + completed.stderr[-3000:]
    for run in runs(completed).values():
        if run.get("failed"):
            (uncertain,) = query(
                path, f"select count(*) from activation.journal where run_id = '{run['run_id']}' "
                      "and status = 'uncertain'")[0]
            assert run["sync_name"] == destination.events_sync and uncertain == run["failed"], run


def expected_memberships(path: Target, destination: DestinationHarness) -> dict[str, set[str]]:
    """What the ESP's lists / segments / tags must hold: treatment members of mapped segments."""
    members: dict[str, set[str]] = {list_id: set() for list_id in destination.lists.values()}
    for email, segment in query(
        path, "select email, segment_key from exports.export_segment_memberships where not is_holdout"
    ):
        if segment in destination.lists:
            members[destination.lists[segment]].add(email.lower())
    return members


def non_empty(memberships: dict[str, set[str]]) -> dict[str, set[str]]:
    return {list_id: members for list_id, members in memberships.items() if members}


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def assert_events(path: Target, destination: DestinationHarness) -> None:
    """Every treatment event arrived once; at an at-most-once destination one may be missing only if
    activation recorded it uncertain (received | uncertain == expected, nothing received twice)."""
    expected = {
        event_id: destination.event_key(event_id, email, abandoned_at)
        for event_id, email, abandoned_at in query(
            path, "select event_id, email, abandoned_at from exports.export_cart_abandonment_events "
                  "where not is_holdout")
    }
    assert expected, "the test data has no events"
    assert len(set(expected.values())) == len(expected), "the harness's event key must tell the events apart"
    received = destination.events()
    twice = sorted(str(key) for key, count in Counter(received).items() if count > 1)
    assert twice == [], f"events received more than once at {destination.name}: {twice}"
    uncertain = uncertain_events(path, destination)
    if not destination.at_most_once:
        assert uncertain == set(), "an idempotent destination has no reason to leave an event uncertain"
    assert uncertain <= expected.keys(), uncertain - expected.keys()
    assert set(received) | {expected[event_id] for event_id in uncertain} == set(expected.values())


def assert_converged(path: Target, destination: DestinationHarness) -> None:
    variables = query(path, "select email, first_name, cart_value from exports.export_contact_template_variables")
    erased = {email.lower() for (email,) in query(path, "select email from exports.export_deletion_requests")}
    held = destination.profiles([email for email, _, _ in variables] + sorted(erased))
    for email, first_name, cart_value in variables:
        if email.lower() in erased:
            continue
        profile = held[email]
        assert profile is not None, f"{email} missing at {destination.name}"
        assert profile["first_name"] == first_name, email
        assert _number(profile["cart_value"]) == _number(cart_value), email
    assert non_empty(destination.memberships()) == non_empty(expected_memberships(path, destination))
    assert_events(path, destination)
    for email in erased:
        assert held[email] is None, f"an erased profile is back: {email}"
    assert destination.subscription_changes() == 0, "a sync must never subscribe, unsubscribe or change a status"


# ---------------------------------------------------------------------------------------------
# every destination
# ---------------------------------------------------------------------------------------------


@on_both_engines
@every_destination
def test_first_sync_converges_and_the_second_sends_nothing(warehouse, destination):
    first = sync(warehouse, syncs=destination.syncs_file)
    assert first.returncode == 0, first.stdout + first.stderr
    assert_converged(warehouse, destination)
    requests = destination.requests()
    second = sync(warehouse, syncs=destination.syncs_file)
    assert second.returncode == 0, second.stdout + second.stderr
    assert destination.requests() == requests, "an unchanged export must send nothing"
    assert all(run["sent"] == 0 for run in runs(second).values())


@on_both_engines
@every_destination
def test_only_changed_records_are_sent(warehouse, destination):
    assert sync(warehouse, syncs=destination.syncs_file).returncode == 0
    execute(
        warehouse,
        """
        update exports.export_contact_template_variables set first_name = 'Changed'
        where contact_key in (select contact_key from exports.export_contact_template_variables order by 1 limit 7);
        -- a column no sync maps: nothing to send
        update exports.export_contact_template_variables set computed_as_of = computed_as_of + interval '1 day';
        """,
    )
    result = runs(sync(warehouse, syncs=destination.syncs_file))
    assert result[destination.profiles_sync]["counts"]["CHANGE"] == 7
    assert result[destination.profiles_sync]["sent"] == 7
    assert result[destination.segments_sync]["sent"] == 0
    assert result[destination.events_sync]["sent"] == 0
    assert_converged(warehouse, destination)


@on_both_engines
@every_destination
def test_consent_withdrawal_leaves_lists_and_is_never_updated_again(warehouse, destination):
    assert sync(warehouse, syncs=destination.syncs_file).returncode == 0
    segments = ", ".join(f"'{segment}'" for segment in sorted(destination.lists))
    (email,) = query(
        warehouse,
        f"""select m.email from exports.export_segment_memberships m where not is_holdout
            and segment_key in ({segments}) order by 1 limit 1""",
    )[0]
    before = destination.profile(email)
    assert before is not None
    assert any(email.lower() in members for members in destination.memberships().values())
    # the dbt rebuild after the withdrawal: the contact leaves both consent-gated exports
    execute(warehouse, f"delete from exports.export_segment_memberships where email = '{email}'")
    execute(warehouse, f"delete from exports.export_contact_template_variables where email = '{email}'")
    result = sync(warehouse, syncs=destination.syncs_file)
    assert result.returncode == 0, result.stdout + result.stderr
    lists_of = sorted(list_id for list_id, members in destination.memberships().items() if email.lower() in members)
    assert lists_of == [], f"{email} still in {lists_of}"
    assert runs(result)[destination.profiles_sync]["sent"] == 0, "nothing to upsert after a withdrawal"
    assert destination.profile(email) == before, "the withdrawn contact's profile was updated"
    assert destination.subscription_changes() == 0
    assert_converged(warehouse, destination)


# "events:<fault>": the other syncs first, then the fault meets the first request that carries events
# (at Braze and Mailchimp an event whose answer is lost must be recorded uncertain, never resent)
EVENT_FAULTS = ("events:503:next=1", "events:reset:next=1,apply=true")
FAULTS = [
    *(("klaviyo", fault) for fault in ("503:p=0.3", "reset:p=0.2,apply=true", "429:next=3,seconds=0.2",
                                       "timeout:next=1,seconds=40,apply=true")),
    *((name, fault) for name in DESTINATIONS if name != "klaviyo" for fault in ("503:p=0.3", "reset:p=0.2,apply=true")),
    *((name, fault) for name in DESTINATIONS for fault in EVENT_FAULTS),
]


@pytest.mark.parametrize("destination, fault", FAULTS, indirect=["destination"])
def test_transport_faults_do_not_lose_anything(warehouse, destination, fault):
    syncs = destination.syncs_file
    in_events = fault.startswith("events:")
    if in_events:
        fault = fault.removeprefix("events:")
        others = [destination.profiles_sync, destination.segments_sync, destination.deletions_sync]
        assert sync(warehouse, *(f"--select={name}" for name in others), syncs=syncs).returncode == 0
        fault += f",op={destination.event_operation}"
    destination.add_fault(fault)
    result = sync(warehouse, syncs=syncs, env={"ACTIVATION_HTTP_TIMEOUT": "2"})
    assert_succeeded(result, warehouse, destination)
    assert destination.sim is not None
    assert sum(rule.fired for rule in destination.sim.faults.rules) > 0, "no fault happened: the test proves nothing"
    assert_converged(warehouse, destination)
    if in_events and destination.at_most_once:
        assert uncertain_events(warehouse, destination), "an event whose answer was lost is recorded uncertain"


# "events:<point>": the other syncs first, then a crash in the events sync (at Braze and Mailchimp
# an event batch in flight: it must be recorded uncertain, never sent twice)
CRASH_POINTS = {
    "klaviyo": ["after_plan", "after_send:1", "after_send:3", "after_commit:2", "events:after_send:1"],
    **{name: ["after_plan", "after_send:1", "after_commit:2", "events:after_send:1"]
       for name in DESTINATIONS if name != "klaviyo"},
}


@on_both_engines
@pytest.mark.parametrize(
    "destination, point",
    [(name, point) for name, points in CRASH_POINTS.items() for point in points],
    indirect=["destination"],
)
def test_a_crash_anywhere_then_a_rerun_converges_without_duplicates(warehouse, destination, point):
    syncs = destination.syncs_file
    if point.startswith("events:"):
        point = point.removeprefix("events:")
        others = [destination.profiles_sync, destination.segments_sync, destination.deletions_sync]
        assert sync(warehouse, *(f"--select={name}" for name in others), syncs=syncs).returncode == 0
        crashed = sync(warehouse, "--select", destination.events_sync, syncs=syncs,
                       env={"ACTIVATION_CRASH_AT": point})
        in_events = True
    else:
        crashed = sync(warehouse, syncs=syncs, env={"ACTIVATION_CRASH_AT": point})
        in_events = False
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    rerun = sync(warehouse, syncs=syncs)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_converged(warehouse, destination)  # no event twice; a missing one only if recorded uncertain
    if in_events and destination.at_most_once:
        assert uncertain_events(warehouse, destination), "the events acknowledged before the crash are uncertain"
    assert query(warehouse, "select count(*) from activation.runs where status in ('planned', 'running')")[0][0] == 0
    requests = destination.requests()
    assert sync(warehouse, syncs=syncs).returncode == 0
    assert destination.requests() == requests, "after convergence a rerun sends nothing"


@on_both_engines
@every_destination
def test_deletion_erases_and_tombstones(warehouse, destination):
    assert sync(warehouse, syncs=destination.syncs_file).returncode == 0
    # a contact the ESP holds, in a mapped segment, asks to be erased
    segments = ", ".join(f"'{segment}'" for segment in sorted(destination.lists))
    (email,) = query(
        warehouse,
        f"""select m.email from exports.export_segment_memberships m where not is_holdout
            and segment_key in ({segments})
            and email not in (select email from exports.export_cart_abandonment_events)
            order by 1 desc limit 1""",
    )[0]
    assert destination.profile(email) is not None
    assert any(email.lower() in members for members in destination.memberships().values())
    # the dbt rebuild: a deletion request, and the contact leaves the consent-gated exports
    execute(
        warehouse,
        f"""insert into exports.export_deletion_requests
                values (md5('{email}|test-erasure'), 'req-test', 'customer_id', '{email}', timestamp '2026-11-20 11:00:00');
            delete from exports.export_segment_memberships where email = '{email}';
            delete from exports.export_contact_template_variables where email = '{email}';""",
    )
    assert sync(warehouse, syncs=destination.syncs_file).returncode == 0
    assert email.lower() in destination.erased()
    requested = {e for (e,) in query(warehouse, "select email from exports.export_deletion_requests")}
    assert len(requested) > 1 and destination.erasure_asked(requested) == requested, "every request reaches the ESP"
    assert destination.profile(email) is None
    assert all(email.lower() not in members for members in destination.memberships().values())
    assert_converged(warehouse, destination)
    # an erased address that reappears upstream is rejected, never sent again
    insert_copy(warehouse, "export_contact_template_variables", email=f"'{email}'", contact_key="'k-erased'")
    result = runs(sync(warehouse, "--select", destination.profiles_sync, syncs=destination.syncs_file))
    assert result[destination.profiles_sync]["rejected"] == {"tombstoned": 1}
    assert destination.profile(email) is None


# ---------------------------------------------------------------------------------------------
# Klaviyo: the engine, the CLI and Klaviyo's contract
# ---------------------------------------------------------------------------------------------


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
    with Warehouse.open(warehouse.spec) as db:
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

@on_both_engines
def test_list_removal_resolves_ids_and_never_unsubscribes(warehouse, klaviyo, simulator):
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
    assert_converged(warehouse, klaviyo)


@on_both_engines
def test_rejected_rows_are_counted_and_never_sent(warehouse, simulator):
    insert_copy(warehouse, "export_contact_template_variables", email="'bad-email'", contact_key="'k-bad'")
    insert_copy(warehouse, "export_contact_template_variables", 2, contact_key="'dup'", email="'dup1@example.com'")
    result = runs(sync(warehouse, "--select", "klaviyo_profiles"))["klaviyo_profiles"]
    assert result["rejected"] == {"invalid_email": 1, "duplicate_key": 2}
    emails = {p["email"] for p in simulator.state.snapshot()["profiles"]}
    assert "bad-email" not in emails and "dup1@example.com" not in emails
    assert query(warehouse, "select count(*) from activation.rejections")[0][0] == 3


@on_both_engines
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

@on_both_engines
def test_circuit_breaker_stops_a_mass_removal(warehouse, klaviyo, simulator, tmp_path):
    import yaml

    declared = yaml.safe_load(SYNCS.read_text())
    for entry in declared["syncs"]:
        if entry["name"] == "klaviyo_segments":
            entry["circuit_breaker"] = {"max_removed_share": 0.5, "min_list_size": 5}
    syncs_file = tmp_path / "syncs.yml"
    syncs_file.write_text(yaml.safe_dump(declared))
    assert sync(warehouse, "--syncs", str(syncs_file), "--select", "klaviyo_segments").returncode == 0
    execute(warehouse, "delete from exports.export_segment_memberships where segment_key = 'lapsing'")
    before = klaviyo.memberships()
    assert len(before["LstLapsing"]) >= 5
    stopped = sync(warehouse, "--syncs", str(syncs_file), "--select", "klaviyo_segments")
    assert stopped.returncode == 3
    assert "--force-removals" in runs(stopped)["klaviyo_segments"]["error"]
    assert klaviyo.memberships() == before, "nothing may be sent when the breaker trips"
    forced = sync(warehouse, "--syncs", str(syncs_file), "--select", "klaviyo_segments", "--force-removals")
    assert forced.returncode == 0
    assert non_empty(klaviyo.memberships()) == non_empty(expected_memberships(warehouse, klaviyo))

@on_both_engines
def test_dry_run_sends_nothing_and_is_recorded(warehouse, simulator):
    result = sync(warehouse, "--dry-run")
    assert result.returncode == 0
    assert simulator.stats.total == 0
    assert {run["status"] for run in runs(result).values()} == {"dry_run"}
    assert query(warehouse, "select count(*) from activation.runs where dry_run")[0][0] == 4


@on_both_engines
def test_a_secret_never_reaches_logs_or_tables(warehouse, simulator):
    simulator.faults.add("503:next=2")
    result = sync(warehouse)
    assert "pk_test_secret_value" not in result.stdout + result.stderr
    for (table,) in query(warehouse, "select table_name from information_schema.tables where table_schema = 'activation'"):
        dump = json.dumps(query(warehouse, f"select * from activation.{table}"), default=str)
        assert "pk_test_secret_value" not in dump, table


@on_both_engines
def test_plan_shows_operations_with_sample_keys_and_status_lists_runs(warehouse, simulator):
    def activation(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ACTIVATION), *args, "--syncs", str(SYNCS), "--warehouse", warehouse.spec],
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
    selected = activation("status", "--output", "json", "--select", "klaviyo_profiles")
    assert selected.returncode == 0, selected.stderr
    assert {row["sync_name"] for row in json.loads(selected.stdout)} == {"klaviyo_profiles"}


@on_both_engines
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
