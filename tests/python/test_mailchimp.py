"""Mailchimp: the destination against the simulator, the simulator against the contract (fast, no dbt).

Judged on the simulator's state (what Mailchimp would hold) and on the
requests it counted, never on what the destination believes it sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from activation.config import Mode, Sync, load_syncs
from activation.contracts.mailchimp import load_contract, validate_request
from activation.db import Warehouse
from activation.destinations import make_destination
from activation.destinations.base import Batch, JournalRecord, Outcome
from activation.destinations.mailchimp import LIMITS, MAX_MEMBERS, MailchimpDestination, subscriber_hash
from activation.engine import Engine
from activation.errors import ConfigError
from activation.simulators.mailchimp import MailchimpSimulator
from activation.state import StateStore

AUDIENCE = "aud1"
KEY = "0123456789abcdef0123456789abcdef-us6"
PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim() -> Iterator[MailchimpSimulator]:
    with MailchimpSimulator(port=0, seed=5, audiences={AUDIENCE: "Shop"}) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def env(monkeypatch, request) -> None:
    if "sim" in request.fixturenames:
        monkeypatch.setenv("MAILCHIMP_BASE_URL", request.getfixturevalue("sim").base_url)
    monkeypatch.setenv("MAILCHIMP_API_KEY", KEY)


def make_sync(mode: str, name: str = "mc", **extra: Any) -> Sync:
    settings = {"list_id": AUDIENCE, **extra.pop("settings", {})}
    return Sync.model_validate({
        "name": name, "source": "src", "key": "k", "mode": mode,
        "destination": {"type": "mailchimp", "base_url_env": "MAILCHIMP_BASE_URL",
                        "credentials": {"api_key": "MAILCHIMP_API_KEY"}, "settings": settings},
        **extra,
    })


PROFILES = {"fields": {"email": "email", "FNAME": "first_name", "CARTVALUE": "cart_value",
                       "merge_fields.RECS": "recommended_products"},
            "settings": {"merge_fields": {"CARTVALUE": "number"}}}


def profile(seq: int, email: str, **payload: Any) -> JournalRecord:
    body = {"email": email, "FNAME": f"Name{seq}", "CARTVALUE": seq * 1.5, "merge_fields.RECS": None, **payload}
    return JournalRecord(seq, f"k{seq}", email, "ADD", body)


def send_all(destination: MailchimpDestination, mode: Mode, operation: str,
             records: list[JournalRecord]) -> dict[str, Outcome]:
    outcomes: list[Outcome] = []
    for batch in destination.batches(mode, operation, records):
        outcomes += destination.send(batch)
    by_seq = {record.seq: record.record_key for record in records}
    return {by_seq[o.seq]: o for o in outcomes}


class Recording(httpx.HTTPTransport):
    """Keeps every request (method, path, JSON body) and its contract problems."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str, Any]] = []
        self.problems: list[str] = []
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        problems = validate_request(request.method, str(request.url), dict(request.headers), body or None)
        with self.lock:
            self.requests.append((request.method, request.url.path, json.loads(body) if body else None))
            self.problems += [f"{request.method} {request.url.path}: {p}" for p in problems]
        return super().handle_request(request)


# ---------------------------------------------------------------------- destination: declared limits


def test_limits_match_the_contract():
    contract = load_contract()
    assert MAX_MEMBERS == contract.max_items("batch_subscribe", "members") == 500
    assert contract.max_items("batch_segment_members", "members_to_add") == MAX_MEMBERS
    assert contract.max_items("batch_segment_members", "members_to_remove") == MAX_MEMBERS
    assert LIMITS.max_concurrency == MailchimpDestination.max_concurrency == contract.max_connections == 10
    assert all(not endpoint.rate_limit.windows() for endpoint in LIMITS.endpoint_classes.values())


def test_make_destination_knows_mailchimp(sim):
    assert isinstance(make_destination(make_sync("upsert_profiles", **PROFILES)), MailchimpDestination)


def test_the_data_center_comes_from_the_key(monkeypatch):
    monkeypatch.delenv("MAILCHIMP_BASE_URL", raising=False)
    destination = MailchimpDestination(make_sync("propagate_deletions"))
    assert str(destination.transport._client.base_url).startswith("https://us6.api.mailchimp.com")
    monkeypatch.setenv("MAILCHIMP_API_KEY", "no-data-center-suffix-")
    with pytest.raises(ConfigError, match="data center"):
        MailchimpDestination(make_sync("propagate_deletions"))
    destination = MailchimpDestination(make_sync("propagate_deletions", settings={"data_center": "us19"}))
    assert str(destination.transport._client.base_url).startswith("https://us19.api.mailchimp.com")


@pytest.mark.parametrize(("mode", "extra", "message"), [
    ("upsert_profiles", {"fields": {"first_name": "first_name"}}, "not a Mailchimp merge tag"),
    ("upsert_profiles", {"fields": {"TOOLONGMERGETAG": "x"}}, "not a Mailchimp merge tag"),
    ("trigger_events", {"event": {"metric": "Cart Abandoned", "unique_id": "id"}}, "'cart_abandoned'"),
    ("upsert_profiles", {"fields": {"FNAME": "x"}, "settings": {"status_if_new": "unsubscribed"}}, "status_if_new"),
    ("mirror_lists", {"segment": "s", "lists": {"vip": "a|b"}}, "tag name"),
])
def test_configuration_problems_name_the_fix(mode, extra, message):
    with pytest.raises(ConfigError, match=message):
        MailchimpDestination(make_sync(mode, **extra))


def test_a_missing_audience_or_a_bad_key_stops_the_run(sim):
    with pytest.raises(ConfigError, match="list_id"):
        MailchimpDestination(make_sync("upsert_profiles", fields={"FNAME": "f"}, settings={"list_id": ""}))
    wrong = MailchimpDestination(make_sync("upsert_profiles", fields={"FNAME": "f"}, settings={"list_id": "nope"}))
    with pytest.raises(ConfigError, match="settings.list_id"):
        send_all(wrong, Mode.UPSERT_PROFILES, "ADD", [profile(1, "a@example.com")])
    with MailchimpSimulator(port=0, audiences=[AUDIENCE], api_key="the-right-key-us6") as strict:
        sync = make_sync("upsert_profiles", fields={"FNAME": "f"})
        destination = MailchimpDestination(sync)
        destination.transport._client.base_url = strict.base_url
        with pytest.raises(ConfigError, match="API key"):
            send_all(destination, Mode.UPSERT_PROFILES, "ADD", [profile(1, "a@example.com")])


# ---------------------------------------------------------------------- upserts


def test_upserts_go_in_batches_of_500_with_status_if_new_and_every_request_follows_the_contract(sim):
    recording = Recording()
    destination = MailchimpDestination(make_sync("upsert_profiles", **PROFILES), http_transport=recording)
    records = [profile(i, f"c{i}@example.com", **{"merge_fields.RECS": [i, i + 1]}) for i in range(1, 1202)]
    batches = list(destination.batches(Mode.UPSERT_PROFILES, "ADD", records))
    assert [len(batch.records) for batch in batches] == [500, 500, 201]
    outcomes = [o for batch in batches for o in destination.send(batch)]
    assert all(o.status == "acknowledged" for o in outcomes)
    assert outcomes[0].destination_ref == subscriber_hash("c1@example.com")
    assert sim.stats.count("batch_subscribe") == 3
    member = sim.state.member("c7@example.com")
    assert member["status"] == "subscribed"
    assert member["merge_fields"] == {"FNAME": "Name7", "CARTVALUE": 10.5, "RECS": "[7,8]"}
    batch_bodies = [body for method, path, body in recording.requests
                    if method == "POST" and path == f"/3.0/lists/{AUDIENCE}"]
    assert all(body["update_existing"] is True for body in batch_bodies)
    members = [m for body in batch_bodies for m in body["members"]]
    assert all("status" not in m and m["status_if_new"] == "subscribed" for m in members)
    assert recording.problems == []


def test_status_if_new_never_resubscribes_an_unsubscribed_or_cleaned_member(sim):
    sim.state.add_member(AUDIENCE, "gone@example.com", status="unsubscribed")
    sim.state.add_member(AUDIENCE, "bounced@example.com", status="cleaned")
    destination = MailchimpDestination(make_sync("upsert_profiles", **PROFILES))
    outcomes = send_all(destination, Mode.UPSERT_PROFILES, "ADD",
                        [profile(1, "gone@example.com"), profile(2, "bounced@example.com"), profile(3, "new@example.com")])
    assert {o.status for o in outcomes.values()} == {"acknowledged"}
    assert sim.state.member("gone@example.com")["status"] == "unsubscribed"
    assert sim.state.member("gone@example.com")["merge_fields"]["FNAME"] == "Name1"  # updated all the same
    assert sim.state.member("bounced@example.com")["status"] == "cleaned"
    assert sim.state.member("new@example.com")["status"] == "subscribed"
    assert sim.state.compliance_refusals == [] and sim.state.status_changes == []


def test_the_simulator_refuses_to_force_subscribed_onto_an_unsubscribed_member(sim):
    """The rule the destination must never trip: an explicit status on an existing unsubscribed member."""
    sim.state.add_member(AUDIENCE, "gone@example.com", status="unsubscribed")
    with httpx.Client(base_url=sim.base_url, auth=("any", KEY)) as client:
        answer = client.post(f"/3.0/lists/{AUDIENCE}", json={"update_existing": True, "members": [
            {"email_address": "gone@example.com", "status": "subscribed"},
            {"email_address": "fresh@example.com", "status": "subscribed"}]})
        put = client.put(f"/3.0/lists/{AUDIENCE}/members/{subscriber_hash('gone@example.com')}",
                         json={"email_address": "gone@example.com", "status_if_new": "subscribed",
                               "status": "subscribed"})
    assert answer.status_code == 200
    document = answer.json()
    assert document["error_count"] == 1 and document["total_created"] == 1
    assert "compliance state" in document["errors"][0]["error"]
    assert put.status_code == 400 and put.headers["content-type"].startswith("application/problem+json")
    assert put.json()["title"] == "Member In Compliance State"
    assert sim.state.member("gone@example.com")["status"] == "unsubscribed"
    assert [r["operation"] for r in sim.state.compliance_refusals] == ["batch_subscribe", "upsert_member"]


def test_a_compliance_refusal_is_recorded_against_its_key_and_not_retried(sim):
    # archived after unsubscribing: new to the API, but Mailchimp will not subscribe it again
    sim.state.add_member(AUDIENCE, "archived@example.com", status="unsubscribed", archived=True)
    destination = MailchimpDestination(make_sync("upsert_profiles", **PROFILES))
    outcomes = send_all(destination, Mode.UPSERT_PROFILES, "ADD",
                        [profile(1, "ok@example.com"), profile(2, "archived@example.com")])
    assert outcomes["k1"].status == "acknowledged"
    refused = outcomes["k2"]
    assert (refused.status, refused.error_code, refused.retryable) == ("failed", "member_in_compliance_state", False)
    assert "never re-subscribes" in refused.error_message
    assert sim.stats.count("batch_subscribe") == 1, "a compliance refusal is not retried in the run"
    assert sim.state.member("archived@example.com") is None


def test_per_member_errors_are_mapped_back_by_email(sim):
    destination = MailchimpDestination(make_sync("upsert_profiles", **PROFILES))
    outcomes = send_all(destination, Mode.UPSERT_PROFILES, "ADD", [
        profile(1, "a@example.com"),
        profile(2, "b@example.com", CARTVALUE="lots"),  # not a number
        profile(3, "c@example.com", FNAME="x" * 300),  # over 255 characters
        profile(4, "d@example.com"),
    ])
    assert [outcomes[k].status for k in ("k1", "k2", "k3", "k4")] == ["acknowledged", "failed", "failed", "acknowledged"]
    assert "CARTVALUE" in outcomes["k2"].error_message and "number" in outcomes["k2"].error_message
    assert "FNAME" in outcomes["k3"].error_message and not outcomes["k3"].retryable
    assert sim.stats.count("batch_subscribe") == 1


def test_the_same_address_twice_in_a_batch_goes_in_a_second_request(sim):
    destination = MailchimpDestination(make_sync("upsert_profiles", **PROFILES))
    records = [profile(1, "twice@example.com"), profile(2, "other@example.com"),
               profile(3, "twice@example.com", FNAME="Later")]
    outcomes = send_all(destination, Mode.UPSERT_PROFILES, "ADD", records)
    assert all(o.status == "acknowledged" for o in outcomes.values())
    assert sim.stats.count("batch_subscribe") == 2
    assert sim.state.member("twice@example.com")["merge_fields"]["FNAME"] == "Later"


def test_null_policy_skip_keeps_and_clear_empties_a_merge_field(sim):
    sim.state.add_member(AUDIENCE, "a@example.com", merge_fields={"FNAME": "Ada"})
    skip = MailchimpDestination(make_sync("upsert_profiles", **PROFILES))
    send_all(skip, Mode.UPSERT_PROFILES, "CHANGE", [profile(1, "a@example.com", FNAME=None)])
    assert sim.state.member("a@example.com")["merge_fields"]["FNAME"] == "Ada"
    clear = MailchimpDestination(make_sync("upsert_profiles", **PROFILES, null_policy="clear"))
    send_all(clear, Mode.UPSERT_PROFILES, "CHANGE", [profile(1, "a@example.com", FNAME=None)])
    assert sim.state.member("a@example.com")["merge_fields"]["FNAME"] == ""


def test_missing_merge_fields_are_created_once_per_run_even_from_ten_threads(sim):
    destination = MailchimpDestination(make_sync("upsert_profiles", **PROFILES))
    records = [profile(i, f"c{i}@example.com") for i in range(1, 41)]
    batches = [Batch(Mode.UPSERT_PROFILES, "ADD", records[i : i + 4]) for i in range(0, 40, 4)]
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(destination.send, batches))
    assert all(o.status == "acknowledged" for outcomes in results for o in outcomes)
    assert sim.state.merge_field_tags(AUDIENCE) == {"FNAME": "text", "LNAME": "text", "CARTVALUE": "number",
                                                    "RECS": "text"}
    assert sim.stats.count("get_merge_fields") == 1
    assert sim.stats.count("create_merge_field") == 2  # CARTVALUE and RECS; FNAME existed
    assert sim.stats.count("get_list") == 1
    # the next run looks again (someone may have deleted one) and creates nothing
    again = MailchimpDestination(make_sync("upsert_profiles", **PROFILES))
    send_all(again, Mode.UPSERT_PROFILES, "CHANGE", records[:2])
    assert sim.stats.count("get_merge_fields") == 2 and sim.stats.count("create_merge_field") == 2


# ---------------------------------------------------------------------- tags


def membership(seq: int, email: str, tag: str, operation: str = "ADD") -> JournalRecord:
    payload = {"list_id": tag, "email": email} if operation != "REMOVE" else {}
    return JournalRecord(seq, f"c{seq}|{tag}", email, operation, payload)


def test_tags_are_set_active_and_inactive_in_one_call_per_tag_and_never_touch_status(sim):
    sim.state.add_member(AUDIENCE, "gone@example.com", status="unsubscribed")
    recording = Recording()
    sync = make_sync("mirror_lists", segment="segment_key", lists={"vip": "VIP", "lapsing": "Lapsing"})
    destination = MailchimpDestination(sync, http_transport=recording)
    adds = [membership(i, f"c{i}@example.com", "VIP") for i in range(1, 701)]
    adds += [membership(1000, "gone@example.com", "VIP"), membership(1001, "c1@example.com", "Lapsing")]
    batches = list(destination.batches(Mode.MIRROR_LISTS, "ADD", adds))
    assert [(b.group, len(b.records)) for b in batches] == [("VIP", 500), ("VIP", 201), ("Lapsing", 1)]
    outcomes = [o for b in batches for o in destination.send(b)]
    assert all(o.status == "acknowledged" for o in outcomes)
    assert sim.state.tag_members(AUDIENCE, "VIP") == {f"c{i}@example.com" for i in range(1, 701)} | {"gone@example.com"}
    assert sim.state.member("c1@example.com")["tags"] == {"VIP": "active", "Lapsing": "active"}
    assert sim.state.member("gone@example.com")["status"] == "unsubscribed", "tagging never re-subscribes"
    assert sim.stats.count("batch_segment_members") == 3 and sim.stats.count("update_member_tags") == 0
    assert sim.stats.count("get_segments") == 1 and sim.stats.count("create_segment") == 2

    removals = [membership(1, "c1@example.com", "VIP", "REMOVE"), membership(2, "gone@example.com", "VIP", "REMOVE"),
                membership(3, "never@example.com", "VIP", "REMOVE")]
    outcomes = send_all(destination, Mode.MIRROR_LISTS, "REMOVE", removals)
    assert all(o.status == "acknowledged" for o in outcomes.values()), outcomes  # a non-member has no tag: done
    assert sim.state.member("c1@example.com")["tags"] == {"VIP": "inactive", "Lapsing": "active"}
    assert sim.state.member("gone@example.com")["status"] == "unsubscribed"
    assert sim.state.member("never@example.com") is None, "a removal never creates a member"
    assert recording.problems == []
    assert sim.state.compliance_refusals == []


def test_removing_a_tag_that_does_not_exist_sends_nothing(sim):
    destination = MailchimpDestination(make_sync("mirror_lists", segment="s", lists={"vip": "VIP"}))
    outcomes = send_all(destination, Mode.MIRROR_LISTS, "REMOVE", [membership(1, "a@example.com", "VIP", "REMOVE")])
    assert outcomes["c1|VIP"].status == "acknowledged"
    assert sim.stats.count("batch_segment_members") == 0 and sim.stats.count("create_segment") == 0


def test_a_tag_whose_creation_answer_was_lost_is_looked_up_not_failed(sim):
    """The POST that creates a tag reached Mailchimp but its answer was lost (a reset); the transport's
    retry is then refused with "already exists". The tag is there: use it, do not fail the run."""
    sim.faults.add("reset:op=create_segment,next=1,apply=true")
    destination = MailchimpDestination(make_sync("mirror_lists", segment="s", lists={"vip": "VIP"}))
    destination.transport._backoff = lambda state: 0.01
    outcomes = send_all(destination, Mode.MIRROR_LISTS, "ADD", [membership(1, "a@example.com", "VIP")])
    assert outcomes["c1|VIP"].status == "acknowledged"
    assert sim.stats.count("create_segment", 400) == 1, "the retry met the tag the lost request created"
    assert sim.state.tag_members(AUDIENCE, "VIP") == {"a@example.com"}
    assert [t["name"] for t in sim.state.snapshot()["audiences"][0]["tags"]] == ["VIP"]


def test_an_address_that_cannot_be_a_member_is_not_tagged_and_says_why(sim):
    sim.state.add_member(AUDIENCE, "archived@example.com", status="cleaned", archived=True)
    destination = MailchimpDestination(make_sync("mirror_lists", segment="s", lists={"vip": "VIP"}))
    outcomes = send_all(destination, Mode.MIRROR_LISTS, "ADD",
                        [membership(1, "ok@example.com", "VIP"), membership(2, "archived@example.com", "VIP")])
    assert outcomes["c1|VIP"].status == "acknowledged"
    assert outcomes["c2|VIP"].error_code == "member_in_compliance_state" and not outcomes["c2|VIP"].retryable
    assert sim.state.tag_members(AUDIENCE, "VIP") == {"ok@example.com"}


# ---------------------------------------------------------------------- events and deletions


def test_events_are_sent_once_each_and_are_not_idempotent(sim):
    sim.state.add_member(AUDIENCE, "a@example.com")
    sync = make_sync("trigger_events", event={"metric": "cart_abandoned", "unique_id": "event_id", "time": "at"})
    destination = MailchimpDestination(sync)
    assert destination.idempotent(Mode.TRIGGER_EVENTS, "ADD") is False
    assert destination.idempotent(Mode.UPSERT_PROFILES, "ADD") is True
    records = [
        JournalRecord(1, "e1", "a@example.com", "ADD", {"metric": "cart_abandoned", "email": "a@example.com",
                                                         "time": "2026-11-20 10:00:00",
                                                         "properties": {"cart_value": 12.5, "items": [1, 2], "x": None}}),
        JournalRecord(2, "e2", "stranger@example.com", "ADD", {"metric": "cart_abandoned",
                                                                "email": "stranger@example.com", "properties": {}}),
    ]
    outcomes = send_all(destination, Mode.TRIGGER_EVENTS, "ADD", records)
    assert outcomes["e1"].status == "acknowledged"
    assert outcomes["e2"].error_code == "not_a_member" and outcomes["e2"].retryable
    (event,) = sim.state.events()
    assert event["name"] == "cart_abandoned" and event["occurred_at"] == "2026-11-20T10:00:00+00:00"
    assert event["properties"] == {"cart_value": "12.5", "items": "[1,2]"}


def test_an_event_is_not_resent_after_an_answer_was_lost(sim):
    sim.state.add_member(AUDIENCE, "a@example.com")
    sim.faults.add("503:op=create_member_event,next=1,apply=true")  # Mailchimp recorded it, the client got a 503
    destination = MailchimpDestination(make_sync("trigger_events", event={"metric": "cart_abandoned", "unique_id": "i"}))
    record = JournalRecord(1, "e1", "a@example.com", "ADD", {"metric": "cart_abandoned", "email": "a@example.com",
                                                             "properties": {}})
    outcomes = send_all(destination, Mode.TRIGGER_EVENTS, "ADD", [record])
    assert (outcomes["e1"].status, outcomes["e1"].retryable) == ("uncertain", False)  # never resent by a later run
    assert "not resent" in outcomes["e1"].error_message
    assert sim.stats.count("create_member_event") == 1, "a 5xx on an event is not retried"
    assert len(sim.state.events()) == 1 and sim.state.duplicate_events() == 0
    sim.faults.add("reset:op=create_member_event,next=1,apply=true")
    second = JournalRecord(2, "e2", "a@example.com", "ADD", {"metric": "cart_abandoned", "email": "a@example.com",
                                                              "time": "2026-11-21 08:00:00", "properties": {}})
    assert send_all(destination, Mode.TRIGGER_EVENTS, "ADD", [second])["e2"].status == "uncertain"
    sim.faults.add("429:op=create_member_event,next=1,seconds=0")  # surely not recorded: retried
    third = JournalRecord(3, "e3", "a@example.com", "ADD", {"metric": "cart_abandoned", "email": "a@example.com",
                                                             "time": "2026-11-22 08:00:00", "properties": {}})
    assert send_all(destination, Mode.TRIGGER_EVENTS, "ADD", [third])["e3"].status == "acknowledged"
    assert len(sim.state.events()) == 3 and sim.state.duplicate_events() == 0


def test_permanent_deletion_erases_and_the_address_cannot_come_back(sim):
    sim.state.add_member(AUDIENCE, "erase@example.com", tags=("VIP",))
    sim.state.add_member(AUDIENCE, "keep@example.com")
    destination = MailchimpDestination(make_sync("propagate_deletions"))
    outcomes = send_all(destination, Mode.PROPAGATE_DELETIONS, "ADD", [
        JournalRecord(1, "d1", "erase@example.com", "ADD", {"email": "erase@example.com"}),
        JournalRecord(2, "d2", "unknown@example.com", "ADD", {"email": "unknown@example.com"}),
    ])
    assert outcomes["d1"].status == outcomes["d2"].status == "acknowledged"
    assert sim.state.permanently_deleted(AUDIENCE) == {"erase@example.com"}
    assert sim.state.member("erase@example.com") is None and sim.state.member("keep@example.com")
    assert sim.state.tag_members(AUDIENCE, "VIP") == set()
    upsert = MailchimpDestination(make_sync("upsert_profiles", **PROFILES))
    again = send_all(upsert, Mode.UPSERT_PROFILES, "ADD", [profile(1, "erase@example.com")])["k1"]
    assert (again.error_code, again.retryable) == ("permanently_deleted", False)
    assert sim.state.member("erase@example.com") is None


# ---------------------------------------------------------------------- concurrency


def test_never_more_than_ten_requests_at_once_and_the_simulator_refuses_the_eleventh():
    with MailchimpSimulator(port=0, audiences=[AUDIENCE], latency=0.05) as sim:
        destination = MailchimpDestination(make_sync("mirror_lists", segment="s", lists={"vip": "VIP"}))
        destination.transport._client.base_url = sim.base_url
        records = [membership(i, f"c{i}@example.com", "VIP") for i in range(1, 61)]
        batches = [Batch(Mode.MIRROR_LISTS, "ADD", records[i : i + 2], group="VIP") for i in range(0, 60, 2)]
        with ThreadPoolExecutor(20) as pool:  # more threads than Mailchimp allows connections
            results = list(pool.map(destination.send, batches))
        assert all(o.status == "acknowledged" for outcomes in results for o in outcomes)
        stats = sim.connection_stats()
        assert 1 < stats["peak_in_flight"] <= 10, stats  # concurrent, never over the limit
        assert stats["peak_open_connections"] <= 10 and stats["refused"] == 0

        sim.latency = 0.3
        limits = httpx.Limits(max_connections=16)
        with httpx.Client(base_url=sim.base_url, auth=("any", KEY), limits=limits) as client, \
                ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: client.get(f"/3.0/lists/{AUDIENCE}"), range(16)))
    refused = [a for a in answers if a.status_code == 429]
    assert refused and all(a.status_code in (200, 429) for a in answers)
    assert refused[0].headers["content-type"].startswith("application/problem+json")
    assert "10 simultaneous connections" in refused[0].json()["detail"]


# ---------------------------------------------------------------------- faults


def test_transient_faults_are_retried_and_partial_failures_are_seeded(sim, monkeypatch):
    sim.faults.add("503:op=batch_subscribe,next=1")
    destination = MailchimpDestination(make_sync("upsert_profiles", **PROFILES))
    destination.transport._backoff = lambda state: 0.01
    records = [profile(i, f"c{i}@example.com") for i in range(1, 101)]
    outcomes = send_all(destination, Mode.UPSERT_PROFILES, "ADD", records)
    assert all(o.status == "acknowledged" for o in outcomes.values())
    assert sim.stats.count("batch_subscribe", 503) == 1 and sim.stats.count("batch_subscribe", 200) == 1

    def failing_keys() -> set[str]:
        sim.reset()
        sim.faults.add("import-errors:op=batch_subscribe,share=0.2")
        fresh = MailchimpDestination(make_sync("upsert_profiles", **PROFILES))
        result = send_all(fresh, Mode.UPSERT_PROFILES, "ADD", records)
        return {key for key, outcome in result.items() if outcome.status == "failed"}

    first, second = failing_keys(), failing_keys()
    assert first == second and 5 < len(first) < 40
    assert len(sim.state.members(AUDIENCE)) == 100 - len(first)


# ---------------------------------------------------------------------- simulator: contract and admin


def test_the_simulator_validates_requests_with_mailchimps_error_shapes(sim):
    contract = load_contract()
    member = {"email_address": "a@example.com", "status_if_new": "subscribed"}
    with httpx.Client(base_url=sim.base_url, auth=("any", KEY)) as client:
        answers = {
            "too_many": client.post(f"/3.0/lists/{AUDIENCE}", json={"members": [member] * 501}),
            "no_status": client.post(f"/3.0/lists/{AUDIENCE}", json={"members": [{"email_address": "a@b.co"}]}),
            "bad_tag": client.post(f"/3.0/lists/{AUDIENCE}/merge-fields", json={"tag": "lower", "name": "x",
                                                                                "type": "text"}),
            "bad_query": client.get(f"/3.0/lists/{AUDIENCE}/merge-fields", params={"count": 5000}),
            "not_json": client.post(f"/3.0/lists/{AUDIENCE}", content=b"{nope"),
            "no_path": client.get("/3.0/nothing/here"),
            "wrong_method": client.delete(f"/3.0/lists/{AUDIENCE}/merge-fields"),
            "no_audience": client.post("/3.0/lists/other", json={"members": [member]}),
        }
        no_key = httpx.get(f"{sim.base_url}/3.0/ping")
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {"too_many": 400, "no_status": 400, "bad_tag": 400, "bad_query": 400, "not_json": 400,
                        "no_path": 404, "wrong_method": 405, "no_audience": 404}
    assert no_key.status_code == 401 and no_key.json()["title"] == "API Key Missing"
    for answer in [*answers.values(), no_key]:
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert contract.response_problems("problem", answer.json()) == []
    assert answers["too_many"].json()["errors"][0]["field"] == "members"
    assert answers["bad_tag"].json()["errors"][0]["field"] == "tag"
    assert answers["bad_query"].json()["errors"][0]["field"] == "count"
    assert sim.state.members(AUDIENCE) == []


def test_the_batch_answer_has_mailchimps_shape_even_on_partial_failure(sim):
    with httpx.Client(base_url=sim.base_url, auth=("any", KEY)) as client:
        answer = client.post(f"/3.0/lists/{AUDIENCE}", json={"update_existing": True, "members": [
            {"email_address": "a@example.com", "status_if_new": "subscribed", "merge_fields": {"NOPE": "x"}},
            {"email_address": "not-an-email", "status_if_new": "subscribed"},
            {"email_address": "b@example.com", "status_if_new": "subscribed"}]})
        segment = client.post(f"/3.0/lists/{AUDIENCE}/segments", json={"name": "VIP"}).json()
        tagged = client.post(f"/3.0/lists/{AUDIENCE}/segments/{segment['id']}",
                             json={"members_to_add": ["b@example.com", "zz@example.com"]})
    assert answer.status_code == 200
    document = answer.json()
    assert load_contract().response_problems("batch_subscribe", document) == []
    assert (document["total_created"], document["total_updated"], document["error_count"]) == (1, 0, 2)
    assert {e["email_address"]: e["field"] for e in document["errors"]} == {"a@example.com": "NOPE",
                                                                            "not-an-email": "email_address"}
    assert load_contract().response_problems("batch_segment_members", tagged.json()) == []
    assert tagged.json()["total_added"] == 1 and tagged.json()["errors"][0]["email_addresses"] == ["zz@example.com"]


def test_the_member_tags_endpoint_sets_tags_active_and_inactive(sim):
    sim.state.add_member(AUDIENCE, "a@example.com", status="unsubscribed")
    path = f"/3.0/lists/{AUDIENCE}/members/{subscriber_hash('A@Example.com')}/tags"
    with httpx.Client(base_url=sim.base_url, auth=("any", KEY)) as client:
        first = client.post(path, json={"tags": [{"name": "vip", "status": "active"},
                                                 {"name": "lapsing", "status": "active"}]})
        second = client.post(path, json={"tags": [{"name": "lapsing", "status": "inactive"}]})
        invalid = client.post(path, json={"tags": [{"name": "vip", "status": "on"}]})
        unknown = client.post(f"/3.0/lists/{AUDIENCE}/members/{subscriber_hash('x@example.com')}/tags",
                              json={"tags": [{"name": "vip", "status": "active"}]})
        segments = client.get(f"/3.0/lists/{AUDIENCE}/segments", params={"type": "static"}).json()
    assert (first.status_code, second.status_code, invalid.status_code, unknown.status_code) == (204, 204, 400, 404)
    assert sim.state.member("a@example.com")["tags"] == {"vip": "active", "lapsing": "inactive"}
    assert sim.state.member("a@example.com")["status"] == "unsubscribed"
    assert {s["name"]: s["member_count"] for s in segments["segments"]} == {"vip": 1, "lapsing": 0}


def test_admin_endpoints_show_state_and_reset(sim):
    sim.state.add_member(AUDIENCE, "a@example.com", tags=("VIP",))
    sim.faults.add("503:next=1")
    state = httpx.get(f"{sim.base_url}/__simulator/state").json()
    (audience,) = state["state"]["audiences"]
    assert audience["members"][0]["tags"] == {"VIP": "active"}
    assert state["state"]["connections"]["limit"] == 10 and state["faults"][0]["kind"] == "503"
    summary = httpx.get(f"{sim.base_url}/__simulator/state", params={"summary": 1}).json()["state"]
    assert summary["audiences"][0]["members"] == 1
    assert httpx.post(f"{sim.base_url}/__simulator/reset").json() == {"ok": True}
    assert sim.state.members(AUDIENCE) == [] and sim.faults.rules == []


# ---------------------------------------------------------------------- the engine, unchanged, with a small warehouse


@pytest.fixture
def warehouse(tmp_path) -> Iterator[Warehouse]:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema exports")
        con.execute("""create table exports.contacts as select 'k' || i as contact_key, 'c' || i || '@example.com'
                       as email, 'Name' || i as first_name, i * 2.5 as cart_value from range(1, 31) t(i)""")
        con.execute("""create table exports.memberships as select contact_key, email,
                       case when i % 3 = 0 then 'vip' else 'lapsing' end as segment_key, i = 1 as is_holdout
                       from (select *, row_number() over (order by contact_key) as i from exports.contacts)""")
        con.execute("""create table exports.cart_events as select 'ev' || contact_key as event_id, email,
                       timestamp '2026-11-20 10:00:00' as abandoned_at, '[{"sku":"a"}]' as cart_items,
                       1 as cart_item_count, cart_value, false as is_holdout
                       from exports.contacts order by contact_key limit 5""")
        con.execute("create table exports.deletions as select 'del1' as deletion_key, 'c30@example.com' as email")
    with Warehouse.open_duckdb(path) as db:
        yield db


def test_the_engine_runs_every_mode_without_a_special_case(sim, warehouse):
    syncs = load_syncs(PROJECT_DIR / "syncs.mailchimp.yml").syncs
    by_name = {sync.name: sync for sync in syncs}
    for sync in syncs:  # point the example syncs at this test's tables
        source = {"upsert_profiles": "contacts", "mirror_lists": "memberships", "trigger_events": "cart_events",
                  "propagate_deletions": "deletions"}[sync.mode.value]
        by_name[sync.name] = sync.model_copy(update={"source": source, "destination": sync.destination.model_copy(
            update={"settings": {**sync.destination.settings, "list_id": AUDIENCE}})})
    engine = Engine(warehouse, StateStore(warehouse), "exports", make_destination, progress=False)
    profiles, segments, events, deletions = (by_name[n] for n in ("mailchimp_profiles", "mailchimp_segments",
                                                                  "mailchimp_cart_abandoned", "mailchimp_deletions"))
    profiles = profiles.model_copy(update={"fields": {"email": "email", "FNAME": "first_name",
                                                      "CARTVALUE": "cart_value"}})
    results = [engine.run(sync) for sync in (profiles, segments, events, deletions)]
    assert [r.status for r in results] == ["succeeded"] * 4, [r.error for r in results]
    assert len(sim.state.members(AUDIENCE)) == 29 and sim.state.permanently_deleted(AUDIENCE) == {"c30@example.com"}
    assert sim.state.member("c4@example.com")["merge_fields"] == {"FNAME": "Name4", "CARTVALUE": 10.0}
    assert "c1@example.com" not in sim.state.tag_members(AUDIENCE, "lapsing"), "the holdout is never tagged"
    assert len(sim.state.events(AUDIENCE)) == 5
    requests = sim.stats.total
    assert all(engine.run(sync).sent == 0 for sync in (profiles, segments, events))
    assert sim.stats.total == requests, "an unchanged export sends nothing"
    (leaver,) = warehouse.fetchone("select min(email) from exports.memberships where segment_key = 'vip'")
    warehouse.execute(f"delete from exports.memberships where email = '{leaver}'")  # leaves the vip segment
    removed = engine.run(segments)
    assert removed.counts["REMOVE"] == 1 and removed.acknowledged == 1
    assert sim.state.member(leaver)["tags"]["vip"] == "inactive"
    assert sim.state.member(leaver)["status"] == "subscribed"
    assert sim.state.compliance_refusals == [] and sim.state.duplicate_events() == 0


def test_an_event_whose_answer_was_lost_is_uncertain_in_the_state_and_never_resent(sim, warehouse):
    (events,) = [s for s in load_syncs(PROJECT_DIR / "syncs.mailchimp.yml").syncs if s.mode is Mode.TRIGGER_EVENTS]
    events = events.model_copy(update={"source": "cart_events", "destination": events.destination.model_copy(
        update={"settings": {"list_id": AUDIENCE}})})
    for (email,) in warehouse.fetchall("select email from exports.cart_events"):
        sim.state.add_member(AUDIENCE, email)
    sim.faults.add("503:op=create_member_event,next=1,apply=true")
    engine = Engine(warehouse, StateStore(warehouse), "exports", make_destination, progress=False)
    first = engine.run(events)
    assert (first.status, first.acknowledged, first.failed) == ("partial", 4, 1)
    states = dict(warehouse.fetchall("select status, count(*) from activation.sync_state group by 1"))
    assert states == {"synced": 4, "uncertain": 1}
    assert engine.run(events).sent == 0
    assert len(sim.state.events()) == 5 and sim.state.duplicate_events() == 0
