"""What the Klaviyo destination sends: profile payloads (null policy), and split-and-retry of a refused job."""

from __future__ import annotations

import json

import httpx

from activation.config import NullPolicy, Sync
from activation.destinations.base import JournalRecord
from activation.destinations.klaviyo import LIMITS, KlaviyoDestination
from activation.transport.client import Transport

SYNC = Sync.model_validate(
    {
        "name": "profiles",
        "source": "export_contact_template_variables",
        "key": "contact_key",
        "destination": {"type": "klaviyo", "credentials": {"api_key": "KLAVIYO_API_KEY"}},
        "mode": "upsert_profiles",
        "fields": {"email": "email", "first_name": "first_name"},
    }
)


def test_one_bad_profile_in_a_job_is_isolated_by_halving():
    jobs: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            profiles = json.loads(request.content)["data"]["attributes"]["profiles"]["data"]
            if any(p["attributes"]["email"] == "bad@example.com" for p in profiles):
                return httpx.Response(400, json={"errors": [{"code": "invalid", "detail": "The payload is invalid."}]})
            jobs.append(len(profiles))
            return httpx.Response(202, json={"data": {"id": f"job{len(jobs)}"}})
        return httpx.Response(200, json={"data": {"id": "j", "attributes": {"status": "complete", "failed_count": 0}}})

    transport = Transport("https://a.klaviyo.test", {}, LIMITS, lifted=True, http_transport=httpx.MockTransport(handler))
    destination = KlaviyoDestination(SYNC, transport=transport)
    records = [
        JournalRecord(i, f"k{i}", f"c{i}@example.com", "ADD", {"email": f"c{i}@example.com", "first_name": "A"})
        for i in range(1000)
    ]
    records[617] = JournalRecord(617, "k617", "bad@example.com", "ADD", {"email": "bad@example.com"})
    (batch,) = list(destination.batches(SYNC.mode, "ADD", records))
    outcomes = destination.send(batch)
    failed = [o for o in outcomes if o.status != "acknowledged"]
    assert [o.seq for o in failed] == [617]
    assert failed[0].error_code == "http_400" and "invalid" in failed[0].error_message
    assert sum(jobs) == 999  # every good profile imported exactly once
    assert len(jobs) <= 2 * 10  # about log2(1000) halvings, not one request per profile


def test_null_policy_skip_leaves_fields_out_and_clear_sends_null():
    record = JournalRecord(
        1, "k1", "a@example.com", "CHANGE",
        {"email": "a@example.com", "first_name": None, "properties.cart_value": None, "properties.vip": True},
    )
    transport = Transport("https://a.klaviyo.test", {}, LIMITS, lifted=True, http_transport=httpx.MockTransport(
        lambda request: httpx.Response(500)))
    skip = KlaviyoDestination(SYNC, transport=transport)._profile(record)
    assert skip == {"type": "profile", "attributes": {"email": "a@example.com", "properties": {"vip": True}}}
    clearing = SYNC.model_copy(update={"null_policy": NullPolicy.CLEAR})
    clear = KlaviyoDestination(clearing, transport=transport)._profile(record)
    assert clear["attributes"]["first_name"] is None
    assert clear["attributes"]["properties"] == {"cart_value": None, "vip": True}
