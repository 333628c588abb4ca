"""Braze: the destination against the simulator, the simulator against the contract, and the engine's
at-most-once guarantee for events Braze does not deduplicate. Fast: no dbt, small batches.

Every request the destination makes is captured and checked with
``activation.contracts.braze.validate_request``, so the destination is held to
the contract throughout (not only to what the simulator happens to accept).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import duckdb
import httpx
import pytest
from click.testing import CliRunner

from activation.cli import main
from activation.config import Mode, Sync
from activation.contracts.braze import load_contract, validate_request
from activation.db import Warehouse
from activation.destinations import make_destination
from activation.destinations.base import UNCERTAIN, Batch, JournalRecord, Outcome
from activation.destinations.braze import BrazeDestination, BrazeSettings, declared_limits
from activation.engine import UNCERTAIN as ENGINE_UNCERTAIN
from activation.engine import Engine
from activation.errors import ConfigError
from activation.simulators.braze import BrazeSimulator
from activation.state import StateStore
from activation.transport.client import Transport

KEY = "braze-rest-key-secret"
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


# -- helpers ------------------------------------------------------------------------------------

@pytest.fixture
def sim() -> Iterator[BrazeSimulator]:
    with BrazeSimulator(port=0, seed=5, rate_limits="off") as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def braze_key(monkeypatch) -> None:
    monkeypatch.setenv("BRAZE_API_KEY", KEY)


def make_sync(mode: str, base_url: str, settings: dict[str, Any] | None = None, **extra: Any) -> Sync:
    defaults: dict[str, Any] = {
        "upsert_profiles": {"fields": {"email": "email", "first_name": "first_name", "cart_value": "cart_value"}},
        "mirror_lists": {"segment": "segment_key", "lists": {"vip": "segment_vip", "lapsing": "segment_lapsing"}},
        "trigger_events": {"event": {"metric": "Cart Abandoned", "unique_id": "event_id"}},
        "propagate_deletions": {},
    }[mode]
    return Sync.model_validate({
        "name": "braze_test", "source": "s", "key": "contact_key", "mode": mode,
        "destination": {"type": "braze", "base_url": base_url, "credentials": {"api_key": "BRAZE_API_KEY"},
                        "settings": settings or {}},
        **{**defaults, **extra},
    })


class Recorder:
    """Every request a destination sends: bodies by path, each checked against the contract."""

    def __init__(self, destination: BrazeDestination) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        self.problems: list[str] = []
        destination.transport._client.event_hooks["request"].append(self)

    def __call__(self, request: httpx.Request) -> None:
        body = json.loads(request.content)
        self.bodies.append((request.url.path, body))
        self.problems += validate_request(request.method, request.url.path, dict(request.headers), body)

    def arrays(self, name: str) -> list[list[dict[str, Any]]]:
        return [body[name] for path, body in self.bodies if name in body]


def destination(sync: Sync) -> tuple[BrazeDestination, Recorder]:
    made = make_destination(sync)
    assert isinstance(made, BrazeDestination)
    return made, Recorder(made)


def send_all(dest: BrazeDestination, operation: str, records: Iterable[JournalRecord]) -> list[Outcome]:
    return [o for batch in dest.batches(dest.sync.mode, operation, list(records)) for o in dest.send(batch)]


def profiles(n: int, start: int = 0) -> list[JournalRecord]:
    return [
        JournalRecord(i, f"c{i}", f"c{i}@example.com", "ADD",
                      {"email": f"c{i}@example.com", "first_name": f"N{i}", "cart_value": i * 1.5})
        for i in range(start, start + n)
    ]


def membership(seq: int, contact: str, attribute: str, operation: str = "ADD") -> JournalRecord:
    email = f"{contact}@example.com"
    payload = {} if operation == "REMOVE" else {"list_id": attribute, "email": email}
    return JournalRecord(seq, f"{contact}|{attribute}", email, operation, payload)


def events(n: int) -> list[JournalRecord]:
    return [
        JournalRecord(i, f"evt{i}", f"c{i % 7}@example.com", "ADD",
                      {"metric": "Cart Abandoned", "email": f"c{i % 7}@example.com", "time": "2026-11-20 10:00:00",
                       "properties": {"event_id": f"evt{i}", "cart_value": 10 + i}})
        for i in range(n)
    ]


def statuses(outcomes: list[Outcome]) -> dict[str, int]:
    found: dict[str, int] = {}
    for outcome in outcomes:
        found[outcome.status] = found.get(outcome.status, 0) + 1
    return found


# -- destination: attributes ---------------------------------------------------------------------

def test_profiles_are_batched_to_75_objects_identified_by_the_sync_key(sim):
    dest, sent = destination(make_sync("upsert_profiles", sim.base_url))
    outcomes = send_all(dest, "ADD", profiles(160))
    assert statuses(outcomes) == {"acknowledged": 160}
    assert [len(a) for a in sent.arrays("attributes")] == [75, 75, 10]
    assert sent.problems == []
    user = sim.state.user("c42")
    assert user["email"] == "c42@example.com" and user["attributes"] == {"first_name": "N42", "cart_value": 63.0}
    assert len(sim.state.users()) == 160 and dest.request_stats() == {"users_track": 3, "users_delete": 0}


def test_objects_per_request_is_a_setting(sim):
    dest, sent = destination(make_sync("upsert_profiles", sim.base_url, {"objects_per_request": 50}))
    send_all(dest, "ADD", profiles(120))
    assert [len(a) for a in sent.arrays("attributes")] == [50, 50, 20]
    assert dest.limits.get("users_track").max_records == 50


def test_null_policy_skip_leaves_an_attribute_and_clear_removes_it(sim):
    dest, _ = destination(make_sync("upsert_profiles", sim.base_url))
    send_all(dest, "ADD", profiles(1))
    nulls = [JournalRecord(9, "c0", "c0@example.com", "CHANGE",
                           {"email": None, "first_name": None, "cart_value": None})]
    send_all(dest, "CHANGE", nulls)
    assert sim.state.user("c0")["attributes"] == {"first_name": "N0", "cart_value": 0.0}
    clearing, _ = destination(make_sync("upsert_profiles", sim.base_url, null_policy="clear"))
    send_all(clearing, "CHANGE", nulls)
    user = sim.state.user("c0")
    assert user["attributes"] == {} and user["email"] == "c0@example.com"  # email is never cleared


def test_partial_errors_are_mapped_back_to_records_by_index(sim):
    dest, sent = destination(make_sync("upsert_profiles", sim.base_url))
    records = profiles(100)
    for position in (3, 80, 99):  # the second request holds 80 and 99 at indexes 5 and 24
        records[position] = JournalRecord(position, f"c{position}", "x@example.com", "ADD", {"email": "not-an-email"})
    outcomes = {o.seq: o for o in send_all(dest, "ADD", records)}
    failed = {seq for seq, o in outcomes.items() if o.status != "acknowledged"}
    assert failed == {3, 80, 99}
    assert all("Invalid email address" in outcomes[s].error_message and not outcomes[s].retryable for s in failed)
    assert {u["external_id"] for u in sim.state.users()} == {f"c{i}" for i in range(100)} - {"c3", "c80", "c99"}
    assert sim.stats.count("users_track", 201) == 2  # partial success, not a refusal


def test_simulated_object_failures_fail_exactly_the_objects_braze_did_not_process(sim):
    sim.faults.add("import-errors:share=0.2")
    dest, _ = destination(make_sync("upsert_profiles", sim.base_url))
    outcomes = send_all(dest, "ADD", profiles(150))
    failed = {f"c{o.seq}" for o in outcomes if o.status != "acknowledged"}
    stored = {u["external_id"] for u in sim.state.users()}
    assert failed and stored == {f"c{i}" for i in range(150)} - failed


def test_a_fatal_400_is_halved_until_the_bad_object_is_isolated():
    requests: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        objects = json.loads(request.content)["attributes"]
        if any(o.get("first_name") == "poison" for o in objects):
            return httpx.Response(400, json={"message": "Invalid request", "errors": [{"type": "bad payload"}]})
        requests.append(len(objects))
        return httpx.Response(201, json={"message": "success", "attributes_processed": len(objects)})

    sync = make_sync("upsert_profiles", "https://rest.braze.test")
    transport = Transport("https://rest.braze.test", {}, declared_limits(BrazeSettings()), lifted=True,
                          http_transport=httpx.MockTransport(handler))
    dest = BrazeDestination(sync, transport=transport)
    records = profiles(75)
    records[40] = JournalRecord(40, "c40", "c40@example.com", "ADD", {"email": "c40@example.com", "first_name": "poison"})
    outcomes = send_all(dest, "ADD", records)
    assert [o.seq for o in outcomes if o.status != "acknowledged"] == [40]
    assert sum(requests) == 74 and len(requests) <= 2 * 7  # every good object once; about log2(75) halvings


def test_a_refused_key_fails_the_batch_and_every_later_one_without_another_request():
    with BrazeSimulator(port=0, rate_limits="off", api_key="the-right-key") as sim:
        dest, _ = destination(make_sync("upsert_profiles", sim.base_url))
        outcomes = send_all(dest, "ADD", profiles(200))
        assert statuses(outcomes) == {"failed": 200}
        assert "check the variable named in credentials.api_key" in outcomes[-1].error_message
        assert sim.stats.count("users_track") == 1 and sim.state.users() == []


# -- destination: membership ---------------------------------------------------------------------

def test_membership_is_one_boolean_per_segment_and_removal_never_creates_a_user(sim):
    dest, sent = destination(make_sync("mirror_lists", sim.base_url))
    adds = [membership(1, "c1", "segment_vip"), membership(2, "c1", "segment_lapsing"), membership(3, "c2", "segment_vip")]
    assert statuses(send_all(dest, "ADD", adds)) == {"acknowledged": 3}
    assert sorted(u["external_id"] for u in sim.state.members("segment_vip")) == ["c1", "c2"]
    assert sim.state.user("c1")["email"] == "c1@example.com"  # findable by the email events and deletions use
    removes = [membership(4, "c1", "segment_vip", "REMOVE"), membership(5, "ghost", "segment_vip", "REMOVE")]
    assert statuses(send_all(dest, "REMOVE", removes)) == {"acknowledged": 2}
    assert [u["external_id"] for u in sim.state.members("segment_vip")] == ["c2"]
    assert sim.state.user("c1")["attributes"] == {"segment_vip": False, "segment_lapsing": True}
    assert sim.state.user("ghost") is None
    assert all(o.get("_update_existing_only") for o in sent.arrays("attributes")[-1])
    # a resend after a crash changes nothing
    send_all(dest, "ADD", adds)
    assert sorted(u["external_id"] for u in sim.state.members("segment_vip")) == ["c1", "c2"]
    assert sent.problems == [] and sim.state.subscription_changes() == []


def test_membership_can_be_one_array_attribute_with_add_and_remove(sim):
    settings = {"membership": "array", "membership_attribute": "segments"}
    dest, sent = destination(make_sync("mirror_lists", sim.base_url, settings, lists={"vip": "vip", "lapsing": "lapsing"}))
    send_all(dest, "ADD", [membership(1, "c1", "vip"), membership(2, "c1", "lapsing"), membership(3, "c2", "vip")])
    send_all(dest, "ADD", [membership(1, "c1", "vip")])  # resent: still one value
    assert sim.state.user("c1")["attributes"]["segments"] == ["vip", "lapsing"]
    send_all(dest, "REMOVE", [membership(4, "c1", "vip", "REMOVE")])
    assert sim.state.user("c1")["attributes"]["segments"] == ["lapsing"]
    assert [u["external_id"] for u in sim.state.members("segments", "vip")] == ["c2"]
    assert sent.arrays("attributes")[-1] == [
        {"external_id": "c1", "segments": {"remove": ["vip"]}, "_update_existing_only": True}]


def test_identify_by_email_names_users_by_address(sim):
    dest, sent = destination(make_sync("mirror_lists", sim.base_url, {"identify_by": "email"}))
    send_all(dest, "ADD", [membership(1, "c1", "segment_vip")])
    (user,) = sim.state.users()
    assert user["external_id"] is None and user["email"] == "c1@example.com"
    assert "external_id" not in sent.arrays("attributes")[0][0]


# -- destination: events -------------------------------------------------------------------------

def test_events_are_sent_once_per_record_75_per_request(sim):
    dest, sent = destination(make_sync("trigger_events", sim.base_url))
    assert dest.idempotent(Mode.TRIGGER_EVENTS, "ADD") is False
    assert all(dest.idempotent(mode, "ADD") for mode in Mode if mode is not Mode.TRIGGER_EVENTS)
    outcomes = send_all(dest, "ADD", events(100))
    assert statuses(outcomes) == {"acknowledged": 100}
    assert [len(a) for a in sent.arrays("events")] == [75, 25] and sent.problems == []
    received = sim.state.events("Cart Abandoned")
    assert sorted(e["properties"]["event_id"] for e in received) == sorted(f"evt{i}" for i in range(100))
    assert sim.state.duplicate_events == 0
    assert received[0]["time"] == "2026-11-20T10:00:00Z" and received[0]["email"] == "c0@example.com"


@pytest.mark.parametrize("fault", ["503:next=1", "500:next=1,apply=true", "reset:next=1,apply=true",
                                   "timeout:next=1,seconds=3,apply=true"])
def test_an_ambiguous_event_failure_is_uncertain_and_never_retried(sim, fault):
    sim.faults.add(fault)
    dest, _ = destination(make_sync("trigger_events", sim.base_url, {"timeout_seconds": 1}))
    outcomes = send_all(dest, "ADD", events(10))
    assert statuses(outcomes) == {UNCERTAIN: 10}
    assert all(not o.retryable and "does not deduplicate" in o.error_message for o in outcomes)
    assert dest.transport.stats["users_track"].requests == 1  # the transport did not resend it
    assert sim.state.duplicate_events == 0 and len(sim.state.events()) in (0, 10)


def test_a_throttled_event_request_is_retried_after_x_ratelimit_reset(sim):
    sim.faults.add("429:next=2,seconds=0")
    dest, _ = destination(make_sync("trigger_events", sim.base_url))
    outcomes = send_all(dest, "ADD", events(10))
    assert statuses(outcomes) == {"acknowledged": 10}
    assert sim.stats.count("users_track", 429) == 2 and dest.transport.stats["users_track"].throttled == 2
    assert len(sim.state.events()) == 10 and sim.state.duplicate_events == 0


def test_an_event_refused_by_content_fails_and_is_retryable_because_braze_processed_nothing(sim):
    dest, _ = destination(make_sync("trigger_events", sim.base_url))
    records = events(3)
    records[1] = JournalRecord(1, "evt1", "c1@example.com", "ADD",
                               {"metric": "Cart Abandoned", "email": "c1@example.com", "time": "yesterday"})
    outcomes = send_all(dest, "ADD", records)
    assert [o.status for o in outcomes] == ["acknowledged", "failed", "acknowledged"]
    assert "ISO 8601" in outcomes[1].error_message and len(sim.state.events()) == 2


# -- destination: deletions ----------------------------------------------------------------------

def test_deletions_go_50_entries_a_request_and_erase_identified_and_anonymous_users(sim):
    upsert, _ = destination(make_sync("upsert_profiles", sim.base_url))
    send_all(upsert, "ADD", profiles(60))
    anonymous, _ = destination(make_sync("trigger_events", sim.base_url))
    send_all(anonymous, "ADD", [JournalRecord(1, "e", "lone@example.com", "ADD",
                                              {"metric": "Cart Abandoned", "email": "lone@example.com"})])
    # lone@ has an anonymous profile (made by the event) and an identified one; c5@ has three identified ones
    sim.state.track({"attributes": [{"external_id": "app-lone", "email": "lone@example.com"},
                                    {"external_id": "app-5", "email": "c5@example.com"},
                                    {"external_id": "app-5b", "email": "c5@example.com"}]})
    dest, sent = destination(make_sync("propagate_deletions", sim.base_url))
    erase = [JournalRecord(i, f"d{i}", f"c{i}@example.com", "ADD", {"email": f"c{i}@example.com"}) for i in range(60)]
    erase.append(JournalRecord(60, "d60", "lone@example.com", "ADD", {"email": "lone@example.com"}))
    assert statuses(send_all(dest, "ADD", erase)) == {"acknowledged": 61}
    entries = [body["email_addresses"] for path, body in sent.bodies]
    assert [len(e) for e in entries] == [50, 50, 22] and sent.problems == []
    # both of lone@'s profiles are erased; Braze deletes one user per entry, so of three identified profiles
    # sharing c5@ only the most recently updated goes (the documented limitation: docs/destinations/braze.md)
    assert [u["external_id"] for u in sim.state.users()] == ["c5", "app-5"]
    assert len(sim.state.deleted_users()) == 59 + 2 + 1


# -- destination: consent ------------------------------------------------------------------------

def test_no_mode_ever_sets_email_subscribe(sim):
    for mode, records in [("upsert_profiles", profiles(5)), ("mirror_lists", [membership(1, "c1", "segment_vip")]),
                          ("trigger_events", events(5))]:
        dest, sent = destination(make_sync(mode, sim.base_url))
        send_all(dest, "ADD", records)
        assert not any("email_subscribe" in o for a in sent.arrays("attributes") for o in a)
    assert sim.state.subscription_changes() == [] and sim.state.subscription_calls() == []
    assert {u["email_subscribe"] for u in sim.state.users()} == {"subscribed"}  # Braze's default, untouched


def test_a_mapped_consent_column_sends_withdrawals_and_grants_only_when_allowed(sim):
    fields = {"email": "email", "email_subscribe": "consent"}
    records = [JournalRecord(i, f"c{i}", f"c{i}@example.com", "ADD", {"email": f"c{i}@example.com", "email_subscribe": v})
               for i, v in enumerate([False, "withdrawn", True, "granted", None, "maybe"])]
    dest, _ = destination(make_sync("upsert_profiles", sim.base_url, fields=fields))
    outcomes = {o.seq: o for o in send_all(dest, "ADD", records)}
    assert outcomes[5].status == "failed" and "neither a grant" in outcomes[5].error_message
    assert {c["external_id"]: c["to"] for c in sim.state.subscription_changes()} == {"c0": "unsubscribed",
                                                                                    "c1": "unsubscribed"}
    granting, _ = destination(make_sync("upsert_profiles", sim.base_url, {"consent_grants": True}, fields=fields))
    send_all(granting, "ADD", records[2:5])
    assert sorted(c["external_id"] for c in sim.state.subscription_changes("opted_in")) == ["c2", "c3"]
    assert sim.state.user("c4")["email_subscribe"] == "subscribed"  # null: left as Braze has it


# -- destination: configuration ------------------------------------------------------------------

@pytest.mark.parametrize("overrides, message", [
    ({"fields": {"properties.cart_value": "cart_value"}}, "no 'properties' namespace"),
    ({"fields": {"external_id": "contact_key"}}, "sets the identity itself"),
    ({"fields": {"push_subscribe": "consent"}}, "email consent only"),
    ({"settings": {"objects_per_request": 100}}, "objects_per_request"),
    ({"settings": {"membership": "tags"}}, "membership"),
    ({"settings": {"unknown": 1}}, "unknown"),
])
def test_configuration_errors_name_the_fix(overrides, message):
    sync = make_sync("upsert_profiles", "https://rest.braze.test", overrides.get("settings"),
                     **{k: v for k, v in overrides.items() if k != "settings"})
    with pytest.raises(ConfigError, match=message):
        make_destination(sync)


def test_membership_attributes_must_be_custom_and_a_base_url_is_required(monkeypatch):
    with pytest.raises(ConfigError, match="is a Braze profile field"):
        make_destination(make_sync("mirror_lists", "https://rest.braze.test", lists={"vip": "email"}))
    with pytest.raises(ConfigError, match="without '|'"):
        make_destination(make_sync("mirror_lists", "https://rest.braze.test", lists={"vip": "a|b"}))
    no_url = Sync.model_validate({
        "name": "braze_test", "source": "s", "key": "contact_key", "mode": "propagate_deletions",
        "destination": {"type": "braze", "base_url_env": "BRAZE_BASE_URL", "credentials": {"api_key": "BRAZE_API_KEY"}},
    })
    monkeypatch.delenv("BRAZE_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match=r"REST endpoint.*BRAZE_BASE_URL"):
        make_destination(no_url)
    monkeypatch.delenv("BRAZE_API_KEY")
    with pytest.raises(ConfigError, match="BRAZE_API_KEY"):
        make_destination(make_sync("upsert_profiles", "https://rest.braze.test"))


def test_declared_limits_follow_the_contract_and_the_settings():
    contract = load_contract()
    limits = declared_limits(BrazeSettings())
    track, delete = limits.get("users_track"), limits.get("users_delete")
    assert track.max_records == contract.limits["objects_per_array"] == 75
    assert delete.max_records == contract.limits["delete_ids_per_request"] == 50
    assert contract.rate_limits()["users_track"] == "3000/3s" and track.rate_limit.per_second == 1000
    assert delete.rate_limit.per_minute == 20_000
    assert declared_limits(BrazeSettings(rate_limit="600/m", max_concurrency=2)).max_concurrency == 2
    assert UNCERTAIN == ENGINE_UNCERTAIN


# -- simulator -----------------------------------------------------------------------------------

def post(sim: BrazeSimulator, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(sim.base_url + path, content=content, headers=HEADERS if headers is None else headers)


def assert_fatal(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    document = response.json()
    assert set(document) == {"message", "errors"} and fragment in document["message"]
    assert all(set(e) == {"type"} for e in document["errors"])


def test_simulator_answers_fatal_errors_in_brazes_shape_and_processes_nothing(sim):
    assert_fatal(post(sim, "/users/track", {"attributes": [{"external_id": "a"}]}, {}), 401, "Authorization")
    assert_fatal(post(sim, "/users/track", {"attributes": [{"external_id": "a"}]},
                      {**HEADERS, "Content-Type": "text/plain"}), 415, "application/json")
    assert_fatal(httpx.get(sim.base_url + "/users/track", headers=HEADERS), 405, "POST only")
    assert_fatal(post(sim, "/users/merge", {}), 404, "not a Braze REST endpoint")
    assert_fatal(post(sim, "/users/track", b"{nope"), 400, "not valid JSON")
    assert_fatal(post(sim, "/users/track", {}), 400, "Valid data must be provided")
    assert_fatal(post(sim, "/users/track", {"attributes": [{"external_id": "a"}], "api_key": "x"}), 400, "api_key")
    too_many = {"attributes": [{"external_id": str(i)} for i in range(76)]}
    assert_fatal(post(sim, "/users/track", too_many), 400, "at most 75")
    assert_fatal(post(sim, "/users/delete", {"external_ids": [str(i) for i in range(51)]}), 400, "at most 50")
    assert_fatal(post(sim, "/users/delete", {"external_ids": ["a"], "braze_ids": ["b"]}), 400, "exactly one")
    assert_fatal(post(sim, "/users/delete", {"email_addresses": [{"email": "a@b.co"}]}), 400, "prioritization")
    assert sim.state.users() == [] and sim.stats.count("users_track", 400) == 4


def test_simulator_limit_mode_total_counts_every_array_together():
    with BrazeSimulator(port=0, rate_limits="off", objects_per_request=50, limit_mode="total") as sim:
        body = {"attributes": [{"external_id": str(i)} for i in range(30)],
                "events": [{"external_id": "a", "name": "E", "time": "2026-01-01"} for _ in range(30)]}
        assert_fatal(post(sim, "/users/track", body), 400, "60 objects in total")
        body["events"] = body["events"][:20]
        assert post(sim, "/users/track", body).json() == {
            "message": "success", "attributes_processed": 30, "events_processed": 20}


def test_simulator_partial_success_lists_errors_by_array_and_index(sim):
    body = {
        "attributes": [{"external_id": "a", "email": "a@example.com"}, {"first_name": "nobody"},
                       {"external_id": "b", "email_subscribe": "yes please"}],
        "events": [{"email": "a@example.com", "name": "E", "time": "2026-11-20T10:00:00Z"}, {"external_id": "a", "name": "E"}],
    }
    response = post(sim, "/users/track", body)
    assert response.status_code == 201
    document = response.json()
    assert document["message"] == "success" and document["attributes_processed"] == 1
    assert document["events_processed"] == 1
    assert [(e["input_array"], e["index"]) for e in document["errors"]] == [
        ("attributes", 1), ("attributes", 2), ("events", 1)]
    assert sim.state.user("b") is None and len(sim.state.events()) == 1


def test_simulator_user_rules(sim):
    track = sim.state.track
    track({"attributes": [{"external_id": "u1", "email": "Same@example.com", "tags": ["x"], "n": 1}]})
    track({"attributes": [{"external_id": "u1", "tags": {"add": ["y", "x"], "remove": []}, "n": {"inc": 2}}]})
    user = sim.state.user("u1")
    assert user["attributes"] == {"tags": ["x", "y"], "n": 3}
    track({"attributes": [{"external_id": "u1", "tags": {"add": [str(i) for i in range(30)]}, "n": None}]})
    tags = sim.state.user("u1")["attributes"]["tags"]
    assert len(tags) == 25 and tags[-1] == "29" and "x" not in tags  # the oldest values made room
    assert "n" not in sim.state.user("u1")["attributes"]
    track({"attributes": [{"external_id": "u2", "email": "same@example.com"}]})  # most recently updated
    track({"attributes": [{"email": "SAME@example.com", "first_name": "Ann"}]})
    assert sim.state.user("u2")["attributes"]["first_name"] == "Ann"
    assert track({"attributes": [{"external_id": "nobody", "x": 1, "_update_existing_only": True}]}).skipped == 1
    assert sim.state.user("nobody") is None
    event = {"email": "same@example.com", "name": "E", "time": "2026-01-01", "properties": {"a": 1}}
    track({"events": [event, event, {**event, "properties": {"a": 2}}]})
    assert len(sim.state.events("E")) == 3 and sim.state.duplicate_events == 1  # Braze does not deduplicate


def test_simulator_rate_limit_answers_429_with_x_ratelimit_reset():
    now = [1_000_000.5]
    with BrazeSimulator(port=0, rate_limit_scale=0.001, clock=lambda: now[0]) as sim:  # 3 per fixed 3 s
        ok = [post(sim, "/users/track", {"attributes": [{"external_id": str(i)}]}) for i in range(3)]
        assert [r.status_code for r in ok] == [201] * 3
        assert ok[-1].headers["X-RateLimit-Limit"] == "3" and ok[-1].headers["X-RateLimit-Remaining"] == "0"
        throttled = post(sim, "/users/track", {"attributes": [{"external_id": "late"}]})
        assert throttled.status_code == 429 and "retry-after" not in throttled.headers
        assert int(throttled.headers["X-RateLimit-Reset"]) > 1e9  # epoch seconds
        assert sim.state.user("late") is None
        now[0] += 3
        assert post(sim, "/users/track", {"attributes": [{"external_id": "late"}]}).status_code == 201
        sim.set_rate_limits("off")
        assert "X-RateLimit-Limit" not in post(sim, "/users/track", {"attributes": [{"external_id": "x"}]}).headers


def test_simulator_faults_are_seeded_and_reproducible():
    def pattern() -> list[int]:
        with BrazeSimulator(port=0, seed=11, rate_limits="off", faults=["503:p=0.4,op=users_track"]) as sim:
            return [post(sim, "/users/track", {"attributes": [{"external_id": "a"}]}).status_code for _ in range(15)]

    first = pattern()
    assert first == pattern() and {201, 503} == set(first)


def test_simulator_admin_endpoints(sim):
    post(sim, "/users/track", {"attributes": [{"external_id": "a", "email": "a@example.com"}]})
    state = httpx.get(sim.base_url + "/__simulator/state").json()
    assert state["simulator"] == "braze" and state["state"]["users"][0]["external_id"] == "a"
    summary = httpx.get(sim.base_url + "/__simulator/state?summary=1").json()["state"]
    assert summary["users"] == 1 and summary["settings"]["objects_per_request"] == 75
    added = httpx.post(sim.base_url + "/__simulator/faults", json={"faults": ["429:op=users_delete,next=1"]}).json()
    assert added["faults"][0]["op"] == "users_delete"
    assert post(sim, "/users/delete", {"external_ids": ["a"]}).status_code == 429
    assert post(sim, "/users/delete", {"external_ids": ["a"]}).json() == {"deleted": 1, "message": "success"}
    assert httpx.post(sim.base_url + "/__simulator/reset").json() == {"ok": True}
    assert sim.state.users() == [] and sim.stats.total == 0


def test_cli_simulate_braze_help_documents_faults_and_rehearsal():
    result = CliRunner().invoke(main, ["simulate", "braze", "--help"])
    assert result.exit_code == 0
    assert "X-RateLimit-Reset" in result.output and "import-errors" in result.output
    assert "syncs.braze.yml" in result.output


# -- engine: at most once against the simulator --------------------------------------------------

class Crash(BaseException):
    """Stands in for kill -9 in-process: nothing after it runs."""


class CrashingBraze(BrazeDestination):
    """Braze that dies right after the nth request succeeded, before the engine commits it."""

    def __init__(self, sync: Sync, crash_on_batch: int) -> None:
        super().__init__(sync)
        self.crash_on_batch = crash_on_batch
        self.sent = 0

    def send(self, batch: Batch) -> list[Outcome]:
        outcomes = super().send(batch)
        self.sent += 1
        if self.sent == self.crash_on_batch:
            raise Crash
        return outcomes


@pytest.fixture
def event_warehouse(tmp_path) -> Warehouse:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema exports")
        con.execute(
            "create table exports.cart_events as select 'e' || lpad(i::varchar, 3, '0') as event_id, "
            "'c' || (i % 40) || '@example.com' as email, timestamp '2026-11-20 10:00:00' as abandoned_at, "
            "i * 2.5 as cart_value from range(200) t(i)"
        )
    return Warehouse.open_duckdb(path)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_crash_after_braze_acknowledged_events_never_duplicates_them(sim, event_warehouse, concurrency):
    sync = make_sync(
        "trigger_events", sim.base_url, {"max_concurrency": concurrency}, source="cart_events", key="event_id",
        event={"metric": "Cart Abandoned", "unique_id": "event_id", "time": "abandoned_at",
               "properties": {"event_id": "event_id", "cart_value": "cart_value"}},
    )
    store = StateStore(event_warehouse)
    with pytest.raises(Crash):
        Engine(event_warehouse, store, "exports", lambda s: CrashingBraze(s, crash_on_batch=2), progress=False).run(sync)
    engine = Engine(event_warehouse, store, "exports", make_destination, progress=False)
    engine.run(sync)
    received = [e["properties"]["event_id"] for e in sim.state.events("Cart Abandoned")]
    assert len(received) == len(set(received)) == 200, "every event reached Braze, none twice"
    assert sim.state.duplicate_events == 0
    states = dict(event_warehouse.fetchall("select status, count(*) from activation.sync_state group by 1"))
    if concurrency == 1:
        assert states == {"synced": 125, "uncertain": 75}  # batch 1 committed, batch 2 acknowledged then the crash
    else:
        assert states["uncertain"] >= 75 and sum(states.values()) == 200 and set(states) <= {"synced", "uncertain"}
    synced = {key for (key,) in event_warehouse.fetchall(
        "select record_key from activation.sync_state where status = 'synced'")}
    assert synced <= set(received)
    requests = sim.stats.total
    assert engine.run(sync).sent == 0 and sim.stats.total == requests  # uncertain events are never resent


@pytest.fixture
def contact_warehouse(tmp_path) -> Warehouse:
    path = tmp_path / "c.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema exports")
        con.execute("create table exports.contacts as select 'k' || i as contact_key, 'p' || i || '@example.com' as email, "
                    "'N' || i as first_name, i * 1.0 as cart_value from range(120) t(i)")
        con.execute("create table exports.memberships as select 'k' || i as contact_key, 'p' || i || '@example.com' "
                    "as email, case when i % 2 = 0 then 'vip' else 'lapsing' end as segment_key, i % 10 = 0 as is_holdout "
                    "from range(120) t(i)")
        con.execute("create table exports.erasures as select 'r1' as deletion_key, 'p7@example.com' as email")
    return Warehouse.open_duckdb(path)


def test_the_engine_converges_a_braze_workspace_and_removal_flips_the_attribute(sim, contact_warehouse):
    profiles_sync = make_sync("upsert_profiles", sim.base_url, name="braze_profiles", source="contacts")
    segments_sync = make_sync("mirror_lists", sim.base_url, name="braze_segments", source="memberships",
                              holdout="is_holdout")
    erase_sync = make_sync("propagate_deletions", sim.base_url, name="braze_deletions", source="erasures",
                           key="deletion_key")
    engine = Engine(contact_warehouse, StateStore(contact_warehouse), "exports", make_destination, progress=False)
    for sync in (profiles_sync, segments_sync):
        assert engine.run(sync).failed == 0
    assert len(sim.state.users()) == 120
    # even contacts are vip, odd ones lapsing; every tenth (all even) is in the control group
    assert len(sim.state.members("segment_vip")) == 48 and len(sim.state.members("segment_lapsing")) == 60
    contact_warehouse.execute("delete from exports.memberships where contact_key in ('k2', 'k3')")
    second = engine.run(segments_sync)
    assert second.counts["REMOVE"] == 2 and second.failed == 0
    assert sim.state.user("k2")["attributes"]["segment_vip"] is False
    assert sim.state.user("k3")["attributes"]["segment_lapsing"] is False
    assert engine.run(erase_sync).acknowledged == 1
    assert sim.state.users_by_email("p7@example.com") == [] and sim.state.user("k7") is None
    assert engine.run(profiles_sync).sent == 0  # nothing changed; the erased address is tombstoned
    assert sim.state.subscription_changes() == [] and sim.stats.count(status=400) == 0


def test_the_compiled_pre_check_gives_the_same_errors_as_jsonschema():
    """FastValidator answers a valid object without jsonschema, and an invalid one with jsonschema's errors."""
    import jsonschema

    from activation.contracts.fastcheck import FastValidator

    schema = {"type": "object", "properties": {"email": {"type": "string"}, "n": {"type": "integer", "minimum": 0}},
              "required": ["email"], "additionalProperties": False}
    fast, slow = FastValidator(schema), jsonschema.Draft202012Validator(schema)
    for instance in ({"email": "a@b.c", "n": 1}, {"n": -1}, {"email": 3, "x": 1}, [], {"email": "a", "n": 1.5}):
        assert [e.message for e in fast.iter_errors(instance)] == [e.message for e in slow.iter_errors(instance)]
        assert fast.is_valid(instance) == slow.is_valid(instance)
