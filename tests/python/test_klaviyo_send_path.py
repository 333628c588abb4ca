"""The Klaviyo send path: each profile encoded once, job polls, the simulator's compiled body check."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from activation.config import Sync
from activation.contracts.fastcheck import FastValidator
from activation.contracts.klaviyo import load_contract
from activation.contracts.openapi import _FORMATS
from activation.destinations import klaviyo
from activation.destinations.base import JournalRecord
from activation.destinations.klaviyo import LIMITS, KlaviyoDestination
from activation.simulators.klaviyo_state import KlaviyoState
from activation.transport.client import Transport

SYNC = Sync.model_validate(
    {
        "name": "profiles",
        "source": "export_contact_template_variables",
        "key": "contact_key",
        "destination": {"type": "klaviyo", "credentials": {"api_key": "KLAVIYO_API_KEY"}},
        "mode": "upsert_profiles",
        "fields": {"email": "email", "first_name": "first_name", "properties.cart_value": "cart_value"},
    }
)


def records(n: int) -> list[JournalRecord]:
    return [
        JournalRecord(i, f"k{i}", f"c{i}@example.com", "ADD",
                      {"email": f"c{i}@example.com", "first_name": "Zoë \"Z\" ☃", "properties.cart_value": i / 3})
        for i in range(1, n + 1)
    ]


class Klaviyo:
    """A mock Klaviyo: jobs that complete after ``polls_to_complete`` GETs; every request recorded."""

    def __init__(self, polls_to_complete: int = 1, created_status: str = "queued") -> None:
        self.polls_to_complete, self.created_status = polls_to_complete, created_status
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[bytes] = []
        self.polls: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if request.method == "POST":
            self.bodies.append(request.content)
            job = f"job{len(self.bodies)}"
            self.polls[job] = 0
            return httpx.Response(202, json={"data": {"id": job, "attributes": {"status": self.created_status}}})
        job = request.url.path.rsplit("/", 1)[-1]
        self.polls[job] += 1
        status = "complete" if self.polls[job] >= self.polls_to_complete else "processing"
        return httpx.Response(200, json={"data": {"id": job, "attributes": {"status": status, "failed_count": 0}}})


def destination(server: Klaviyo, sync: Sync = SYNC) -> KlaviyoDestination:
    transport = Transport("https://a.klaviyo.test", {}, LIMITS, lifted=True, http_transport=httpx.MockTransport(server))
    return KlaviyoDestination(sync, transport=transport)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The destination's poll sleeps, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(klaviyo.time, "sleep", slept.append)
    return slept


def test_a_job_body_is_the_same_bytes_as_encoding_the_whole_job(sleeps):
    server = Klaviyo()
    dest = destination(server)
    batch_records = records(50)
    (batch,) = list(dest.batches(SYNC.mode, "ADD", batch_records))
    assert [r.seq for r in batch.records] == [r.seq for r in batch_records]
    dest.send(batch)
    expected = klaviyo._dumps(dest._job_body([dest._profile(r) for r in batch_records], None))
    assert server.bodies == [expected]
    # with a list relationship after the profiles (mirror_lists ADD) too
    assert dest._job_bytes(batch_records, "L1", batch.extra[klaviyo.ENCODED]) == klaviyo._dumps(
        dest._job_body([dest._profile(r) for r in batch_records], "L1"))
    # a batch built without encoded profiles (e.g. by hand) still sends the same body
    assert dest._job_bytes(batch_records, None, {}) == expected


def test_each_profile_is_encoded_once_from_packing_to_sending(sleeps, monkeypatch):
    calls: list[int] = []
    original = KlaviyoDestination._profile

    def counting(self: KlaviyoDestination, record: JournalRecord) -> dict[str, Any]:
        calls.append(record.seq)
        return original(self, record)

    monkeypatch.setattr(KlaviyoDestination, "_profile", counting)
    dest = destination(Klaviyo())
    batches = list(dest.batches(SYNC.mode, "ADD", records(25_000)))
    assert len(batches) == 3  # 10,000 profiles a job at most
    for batch in batches:
        assert all(o.status == "acknowledged" for o in dest.send(batch))
    assert sorted(calls) == list(range(1, 25_001))


def test_a_halved_job_sends_each_half_from_the_encoded_profiles(sleeps):
    server = Klaviyo()
    dest = destination(server)
    batch_records = records(10)
    (batch,) = list(dest.batches(SYNC.mode, "ADD", batch_records))
    encoded = batch.extra[klaviyo.ENCODED]
    half = dest._job_bytes(batch_records[:5], None, encoded)
    assert json.loads(half)["data"]["attributes"]["profiles"]["data"] == [dest._profile(r) for r in batch_records[:5]]


def test_the_first_poll_waits_instead_of_asking_at_once(sleeps):
    server = Klaviyo(polls_to_complete=1)
    dest = destination(server)
    (batch,) = list(dest.batches(SYNC.mode, "ADD", records(3)))
    dest.send(batch)
    # one POST, one GET: the 202 already said "queued", so no GET right after it
    assert [method for method, _ in server.requests] == ["POST", "GET"]
    assert sleeps == [klaviyo.POLL_FIRST]


def test_polls_back_off_doubling_up_to_the_maximum(sleeps):
    server = Klaviyo(polls_to_complete=8)
    dest = destination(server)
    (batch,) = list(dest.batches(SYNC.mode, "ADD", records(3)))
    dest.send(batch)
    assert [method for method, _ in server.requests] == ["POST"] + ["GET"] * 8
    assert sleeps == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    assert sleeps[0] == klaviyo.POLL_FIRST and max(sleeps) == klaviyo.POLL_MAX


def test_a_job_complete_when_created_is_not_polled(sleeps):
    server = Klaviyo(created_status="complete")
    dest = destination(server)
    (batch,) = list(dest.batches(SYNC.mode, "ADD", records(3)))
    assert all(o.status == "acknowledged" for o in dest.send(batch))
    assert [method for method, _ in server.requests] == ["POST"] and sleeps == []


# ---------------------------------------------------------------------- the simulator's body check


def _import_body(profiles: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}}


def test_klaviyo_bodies_are_checked_by_a_compiled_validator_that_agrees_with_jsonschema():
    contract = load_contract()
    operation = next(op for op in contract.operations if op.operation_id == "bulk_import_profiles")
    fast = operation.body_validator
    assert isinstance(fast, FastValidator)
    slow = fast.python
    good = _import_body([{"type": "profile", "attributes": {"email": "a@example.com", "properties": {"x": 1}}}])
    bad_type = _import_body([{"type": "profile", "attributes": {"email": 5}}])
    bad_kind = _import_body([{"type": "event", "attributes": {"email": "a@example.com"}}])
    for body in (good, bad_type, bad_kind, {"data": []}, {}):
        assert fast.is_valid(body) == slow.is_valid(body)
        assert [e.message for e in fast.iter_errors(body)] == [e.message for e in slow.iter_errors(body)]
    assert fast.is_valid(good) and not fast.is_valid(bad_type) and not fast.is_valid(bad_kind)


def test_the_compiled_check_applies_the_contracts_date_time_format_and_ignores_the_others():
    schema = {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"},
                                               "mail": {"type": "string", "format": "email"}}}
    fast = FastValidator(schema, python=jsonschema.Draft202012Validator(schema, format_checker=_FORMATS),
                         format_checker=_FORMATS)
    for instance in ({"at": "2026-11-20T12:00:00+00:00"}, {"at": "2026-11-20T12:00:00Z"}, {"at": "yesterday"},
                     {"at": "2026-11-20"}, {"mail": "not an email"}, {"at": 5}):
        assert fast.is_valid(instance) == fast.python.is_valid(instance), instance
    assert not fast.is_valid({"at": "yesterday"})  # checked, as jsonschema with the contract's checker does
    assert fast.is_valid({"mail": "not an email"})  # not checked by the contract's checker: not here either


def test_a_job_created_from_a_handed_over_body_is_not_copied_and_other_callers_still_are():
    state = KlaviyoState()
    profiles = [{"type": "profile", "attributes": {"email": "a@example.com"}}]
    copied = state.create_job(profiles, [])
    owned = state.create_job(profiles, [], owned=True)
    profiles[0]["attributes"]["email"] = "changed@example.com"
    assert copied.payload[0]["attributes"]["email"] == "a@example.com"
    assert owned.payload is profiles


def test_merged_properties_do_not_share_lists_or_maps_with_the_request():
    state = KlaviyoState()
    tags = ["a"]
    profile, _ = state.upsert({"type": "profile", "attributes": {"email": "a@example.com",
                                                                   "properties": {"tags": tags, "n": 1}}})
    tags.append("b")
    assert profile.properties == {"tags": ["a"], "n": 1}


def test_the_first_wait_follows_the_previous_jobs_so_most_jobs_need_one_poll(sleeps):
    server = Klaviyo(polls_to_complete=4)  # the first job: found done by its 4th GET
    dest = destination(server)
    (batch,) = list(dest.batches(SYNC.mode, "ADD", records(3)))
    dest.send(batch)
    assert sleeps == [0.1, 0.2, 0.4, 0.8]  # 1.5 s of waiting
    server.polls_to_complete = 1
    sleeps.clear()
    dest.send(batch)
    assert sleeps == [pytest.approx(klaviyo.POLL_LEARN * 1.5)]  # one GET, a little before the last job's wait
    sleeps.clear()
    dest.send(batch)
    assert sleeps == [pytest.approx(klaviyo.POLL_LEARN ** 2 * 1.5)]  # found at once: the next comes earlier
    sleeps.clear()
    server.polls_to_complete = 2  # a job that needs longer: the doubling waits take over
    dest.send(batch)
    assert sleeps == [pytest.approx(klaviyo.POLL_LEARN ** 3 * 1.5), 0.2]
    assert [method for method, _ in server.requests].count("GET") == 4 + 1 + 1 + 2


def test_the_learned_first_wait_never_falls_below_poll_first(sleeps):
    server = Klaviyo(polls_to_complete=1)
    dest = destination(server)
    (batch,) = list(dest.batches(SYNC.mode, "ADD", records(3)))
    for _ in range(5):
        dest.send(batch)
    assert sleeps == [klaviyo.POLL_FIRST] * 5
