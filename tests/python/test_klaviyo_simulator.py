"""The Klaviyo contract checks and the Klaviyo simulator: validation, state, rate limits, faults, admin API.

Every answer the tests receive goes through ``Api``, which checks that a 2xx
body matches the contract's response schema and that an error has Klaviyo's
error shape, so the simulator's responses are held to the contract throughout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from activation.cli import main
from activation.contracts import klaviyo as contract_module
from activation.contracts.filters import FilterError, allowed_filters, evaluate, parse_filter
from activation.contracts.klaviyo import (
    CONTRACT_FILES,
    REPO_COPY,
    SHARED_COPY,
    contract_dir,
    load_contract,
    validate_request,
    validate_response,
)
from activation.errors import ConfigError
from activation.simulators.faults import FaultInjector, FaultRule
from activation.simulators.klaviyo import KlaviyoSimulator
from activation.simulators.ratelimit import FixedWindowLimiter, Window, parse_windows
from bench.simproc import default_sigint

HEADERS = {
    "Authorization": "Klaviyo-API-Key pk_test",
    "revision": "2026-07-15",
    "Content-Type": "application/vnd.api+json",
    "Accept": "application/vnd.api+json",
}
ERROR_KEYS = {"id", "status", "code", "title", "detail", "source"}


class Api:
    """A requests session against the simulator that checks every answer against the contract."""

    def __init__(self, sim: KlaviyoSimulator, headers: dict[str, str] | None = None) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.headers.update(HEADERS if headers is None else headers)

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None, check: bool = True,
             **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else self.sim.base_url + path
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = self.session.request(method, url, data=data, **kwargs)
        if check:
            _check_answer(method, url, response)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.call("PATCH", path, body, **kwargs)

    def delete(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, body, **kwargs)


def _check_answer(method: str, url: str, response: requests.Response) -> None:
    if 200 <= response.status_code < 300:
        body = response.content or None
        problems = validate_response(method, url, response.status_code, body)
        assert problems == [], f"{method} {url} -> {response.status_code} breaks the contract: {problems}"
        if body:
            assert response.headers["Content-Type"].startswith("application/vnd.api+json")
    elif response.status_code != 0:
        errors = response.json()["errors"]
        assert errors, response.text
        for error in errors:
            assert set(error) - {"meta"} == ERROR_KEYS, error
            assert error["status"] == response.status_code
            assert set(error["source"]) <= {"pointer", "parameter"} and error["source"], error


class FakeClock:
    """A settable clock for exact rate-limit windows."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------- request bodies


def profile(email: str | None = None, **attributes: Any) -> dict[str, Any]:
    if email is not None:
        attributes["email"] = email
    return {"type": "profile", "attributes": attributes}


def profile_import(email: str | None = None, **attributes: Any) -> dict[str, Any]:
    return {"data": profile(email, **attributes)}


def bulk_job(profiles: list[dict[str, Any]], list_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}
    if list_ids:
        data["relationships"] = {"lists": {"data": [{"type": "list", "id": i} for i in list_ids]}}
    return {"data": data}


def event(email: str, metric: str = "Segment Entered", unique_id: str | None = None, **extra: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "properties": {"segment": "vip"},
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "profile": {"data": profile(email)},
        **extra,
    }
    if unique_id is not None:
        attributes["unique_id"] = unique_id
    return {"data": {"type": "event", "attributes": attributes}}


def members(*ids: str) -> dict[str, Any]:
    return {"data": [{"type": "profile", "id": i} for i in ids]}


def deletion(**identifier: str) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "profile", "attributes": {}}
    if "id" in identifier:
        data["id"] = identifier.pop("id")
    data["attributes"].update(identifier)
    return {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": data}}}}


def subscription(kind: str, emails: list[str], list_id: str | None = None) -> dict[str, Any]:
    consent = "SUBSCRIBED" if kind == "create" else "UNSUBSCRIBED"
    data: dict[str, Any] = {
        "type": f"profile-subscription-bulk-{kind}-job",
        "attributes": {"profiles": {"data": [
            {"type": "profile",
             "attributes": {"email": e, "subscriptions": {"email": {"marketing": {"consent": consent}}}}}
            for e in emails]}},
    }
    if list_id:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


def new_list(name: str = "VIP") -> dict[str, Any]:
    return {"data": {"type": "list", "attributes": {"name": name}}}


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server():
    with KlaviyoSimulator(port=0, seed=1, job_delay=0.05, deletion_delay=0.05) as simulator:
        yield simulator


@pytest.fixture
def sim(server: KlaviyoSimulator) -> KlaviyoSimulator:
    server.reset()
    server.set_rate_limits("production", 1.0)
    return server


@pytest.fixture
def api(sim: KlaviyoSimulator) -> Api:
    return Api(sim)


def make_list(api: Api, name: str = "VIP") -> str:
    response = api.post("/api/lists", new_list(name))
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


def upsert(api: Api, email: str, **attributes: Any) -> str:
    response = api.post("/api/profile-import", profile_import(email, **attributes))
    assert response.status_code in (200, 201), response.text
    return response.json()["data"]["id"]


def wait_for_job(api: Api, job_id: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        attributes = api.get(f"/api/profile-bulk-import-jobs/{job_id}").json()["data"]["attributes"]
        if attributes["status"] == "complete" or time.monotonic() > deadline:
            return attributes
        time.sleep(0.02)


def follow_pages(api: Api, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url: str | None = path
    while url:
        page = api.get(url).json()
        items += page["data"]
        url = page["links"].get("next")
    return items


# ---------------------------------------------------------------------- the contract files


def test_the_repository_copy_is_the_default_contract(monkeypatch):
    monkeypatch.delenv("KLAVIYO_CONTRACT_DIR", raising=False)
    assert contract_dir() == REPO_COPY
    assert (REPO_COPY / "LICENSE").read_text().startswith("MIT License")


def test_the_environment_variable_overrides_the_contract_directory(monkeypatch, tmp_path):
    for name in CONTRACT_FILES:
        shutil.copy(REPO_COPY / name, tmp_path / name)
    monkeypatch.setenv("KLAVIYO_CONTRACT_DIR", str(tmp_path))
    assert contract_dir() == tmp_path
    monkeypatch.setenv("KLAVIYO_CONTRACT_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="KLAVIYO_CONTRACT_DIR"):
        contract_dir()


def test_the_shared_contract_is_used_when_the_repository_copy_is_missing(monkeypatch, tmp_path):
    monkeypatch.delenv("KLAVIYO_CONTRACT_DIR", raising=False)
    monkeypatch.setattr(contract_module, "REPO_COPY", tmp_path / "nowhere")
    monkeypatch.setattr(contract_module, "SHARED_COPY", REPO_COPY)
    assert contract_module.contract_dir() == REPO_COPY
    monkeypatch.setattr(contract_module, "SHARED_COPY", tmp_path / "nowhere either")
    with pytest.raises(ConfigError, match="restore contracts/klaviyo"):
        contract_module.contract_dir()


@pytest.mark.skipif(not SHARED_COPY.is_dir(), reason="no shared/ beside the repository")
def test_the_repository_copy_matches_the_shared_contract():
    for name in (*CONTRACT_FILES, "LICENSE"):
        assert (REPO_COPY / name).read_bytes() == (SHARED_COPY / name).read_bytes(), f"{name} drifted"


def test_rate_limits_are_read_from_the_contract():
    limits = load_contract().rate_limits()
    assert limits["bulk_import_profiles"] == {"burst": "10/s", "steady": "150/m"}
    assert limits["create_event"] == {"burst": "350/s", "steady": "3500/m"}
    assert limits["request_profile_deletion"] == {"burst": "3/s", "steady": "60/m"}
    assert parse_windows(limits["create_list"]) == (
        Window("burst", 10, 1), Window("steady", 150, 60), Window("daily", 150, 86400))


# ---------------------------------------------------------------------- validate_request

VALID = {
    "profile-import": ("POST", "/api/profile-import", profile_import("ada@example.com", first_name="Ada",
                                                                     properties={"vip": True}, last_name=None)),
    "create profile": ("POST", "/api/profiles", profile_import("ada@example.com")),
    "update profile": ("PATCH", "/api/profiles/01SIM1", {"data": {"type": "profile", "id": "01SIM1",
                                                                  "attributes": {"first_name": None}}}),
    "get profiles": ("GET", '/api/profiles?filter=equals(email,"ada@example.com")&page[size]=100', None),
    "get profiles any": ("GET", '/api/profiles?filter=any(email,["a@x.com","b@x.com"])', None),
    "get profile": ("GET", "/api/profiles/01SIM1?additional-fields[profile]=subscriptions", None),
    "bulk import": ("POST", "/api/profile-bulk-import-jobs", bulk_job([profile("a@x.com"), profile("b@x.com")],
                                                                      ("SL0001",))),
    "bulk job": ("GET", "/api/profile-bulk-import-jobs/JOB1", None),
    "import errors": ("GET", "/api/profile-bulk-import-jobs/JOB1/import-errors?page[size]=50", None),
    "job profiles": ("GET", "/api/profile-bulk-import-jobs/JOB1/relationships/profiles", None),
    "create list": ("POST", "/api/lists", new_list()),
    "add to list": ("POST", "/api/lists/SL0001/relationships/profiles", members("p1", "p2")),
    "remove from list": ("DELETE", "/api/lists/SL0001/relationships/profiles", members("p1")),
    "list members": ("GET", "/api/lists/SL0001/relationships/profiles?page[size]=100", None),
    "event": ("POST", "/api/events", event("ada@example.com", unique_id="sync-1", time="2026-11-20T12:00:00Z")),
    "deletion": ("POST", "/api/data-privacy-deletion-jobs", deletion(email="ada@example.com")),
    "subscribe": ("POST", "/api/profile-subscription-bulk-create-jobs", subscription("create", ["a@x.com"])),
    "unsubscribe": ("POST", "/api/profile-subscription-bulk-delete-jobs", subscription("delete", ["a@x.com"])),
}


@pytest.mark.parametrize("name", list(VALID))
def test_a_valid_request_of_each_kind_passes(name):
    method, path, body = VALID[name]
    assert validate_request(method, path, HEADERS, body) == []
    assert validate_request(method, "https://a.klaviyo.com" + path, HEADERS, json.dumps(body) if body else None) == []


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "expected"),
    [
        ("POST", "/api/profile-import", HEADERS, {"data": {"type": "profiles", "attributes": {}}},
         "/data/type: 'profiles' is not one of ['profile']"),
        ("POST", "/api/profile-import", HEADERS, {"data": {"type": "profile", "attributes": {"email": 5}}},
         "/data/attributes/email: 5 is not of type 'string', 'null'"),
        ("POST", "/api/profile-import", {k: v for k, v in HEADERS.items() if k != "revision"},
         profile_import("a@x.com"), "Missing required header 'revision'"),
        ("POST", "/api/profile-import", {**HEADERS, "revision": "2023-02-22"}, profile_import("a@x.com"),
         "revision 2026-07-15"),
        ("POST", "/api/profile-import", {k: v for k, v in HEADERS.items() if k != "Authorization"},
         profile_import("a@x.com"), "401 not_authenticated"),
        ("POST", "/api/profile-import", {**HEADERS, "Authorization": "Bearer pk_x"}, profile_import("a@x.com"),
         "401 not_authenticated"),
        ("POST", "/api/profile-import", {**HEADERS, "Content-Type": "application/json"}, profile_import("a@x.com"),
         "415 unsupported_media_type"),
        ("POST", "/api/profile-import", HEADERS, b"{not json", "400 parse_error"),
        ("POST", "/api/profile-import", HEADERS, None, "The request body is required"),
        ("GET", "/api/profiles?page[size]=101", HEADERS, None, "101 is greater than the maximum of 100"),
        ("GET", "/api/profiles?pagesize=10", HEADERS, None, "'pagesize' is not a valid query parameter"),
        ("GET", '/api/profiles?filter=equals(first_name,"Ada")', HEADERS, None, "filtering on 'first_name'"),
        ("GET", '/api/profiles?filter=contains(email,"x")', HEADERS, None, "operator 'contains' is not allowed"),
        ("GET", "/api/profiles?filter=equals(email,ada)", HEADERS, None, "quote strings"),
        ("GET", "/api/profiles?fields[profile]=email,shoe_size", HEADERS, None, "'shoe_size' is not one of"),
        ("GET", "/api/unknown", HEADERS, None, "404 not_found"),
        ("PUT", "/api/profiles", HEADERS, None, "405 method_not_allowed"),
        ("PATCH", "/api/profiles/A", HEADERS, {"data": {"type": "profile", "id": "B", "attributes": {}}},
         "must equal the profile id in the path"),
        ("POST", "/api/data-privacy-deletion-jobs", HEADERS, deletion(email="a@x.com", phone_number="+15005550006"),
         "exactly one identifier"),
        ("POST", "/api/data-privacy-deletion-jobs", HEADERS, deletion(), "exactly one identifier"),
        ("POST", "/api/events", HEADERS, event("a@x.com", time="yesterday"), "is not a 'date-time'"),
        ("POST", "/api/lists", HEADERS, {"data": {"type": "list", "attributes": {}}}, "'name' is a required property"),
    ],
)
def test_an_invalid_request_is_reported(method, path, headers, body, expected):
    problems = validate_request(method, path, headers, body)
    assert any(expected in problem for problem in problems), problems


def test_batch_limits_stated_in_prose_are_enforced():
    too_many = bulk_job([profile(f"u{i}@x.com") for i in range(10_001)])
    assert validate_request("POST", "/api/profile-bulk-import-jobs", HEADERS, too_many) == [
        "400 invalid: /data/attributes/profiles/data: 10,001 entries; bulk_import_profiles accepts at most "
        "10,000 per request. Split the batch."]
    assert validate_request("POST", "/api/profile-bulk-import-jobs", HEADERS,
                            bulk_job([profile(f"u{i}@x.com") for i in range(10_000)])) == []
    assert "1,001 entries" in validate_request("POST", "/api/lists/L/relationships/profiles", HEADERS,
                                               members(*[f"p{i}" for i in range(1001)]))[0]
    assert "101 entries" in validate_request("POST", "/api/profile-subscription-bulk-delete-jobs", HEADERS,
                                             subscription("delete", [f"u{i}@x.com" for i in range(101)]))[0]
    big_profile = profile("big@x.com", properties={"blob": "x" * 100_001})
    assert "/data/attributes/profiles/data/1: This entry is 100,079 bytes" in validate_request(
        "POST", "/api/profile-bulk-import-jobs", HEADERS, bulk_job([profile("a@x.com"), big_profile]))[0]
    five_mb = bulk_job([profile(f"u{i}@x.com", properties={"pad": "x" * 600}) for i in range(8_000)])
    assert validate_request("POST", "/api/profile-bulk-import-jobs", HEADERS, five_mb)[0].startswith(
        "413 payload_too_large")
    assert "100,000 bytes" in validate_request("POST", "/api/profile-import", HEADERS,
                                               profile_import("a@x.com", properties={"blob": "x" * 100_000}))[0]


def test_the_simulator_accepts_application_json_like_klaviyo_but_the_strict_check_does_not():
    headers = {**HEADERS, "Content-Type": "application/json; charset=utf-8"}
    body = profile_import("a@x.com")
    assert validate_request("POST", "/api/profile-import", headers, body, strict_media_type=False) == []
    assert validate_request("POST", "/api/profile-import", headers, body)[0].startswith("415")


def test_filters_parse_check_and_evaluate():
    expression = parse_filter('and(equals(email,"Ada@Example.com"),greater-than(created,2026-01-01T00:00:00Z))')
    record = {"email": "ada@example.com", "created": "2026-02-01T00:00:00+00:00"}
    assert evaluate(expression, record.get)
    assert not evaluate(parse_filter('any(email,["bob@x.com"])'), record.get)
    assert evaluate(parse_filter("equals(email,'ada@example.com'),has(created)"), record.get)
    with pytest.raises(FilterError, match="expected"):
        parse_filter('equals(email,"a"')
    with pytest.raises(FilterError, match="unknown operator"):
        parse_filter('matches(email,"a")')
    allowed = allowed_filters("Allowed field(s)/operator(s):<br>`id`: `any`, `equals`<br>`created`: `greater-than`")
    assert allowed == {"id": {"any", "equals"}, "created": {"greater-than"}}


# ---------------------------------------------------------------------- the simulator validates


def test_invalid_requests_get_klaviyos_error_shape(sim, api):
    response = api.post("/api/profile-import", {"data": {"type": "profile", "attributes": {"email": 5}}})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["code"] == "invalid" and error["title"] == "Invalid input."
    assert error["source"] == {"pointer": "/data/attributes/email"}

    no_revision = Api(sim, {k: v for k, v in HEADERS.items() if k != "revision"})
    response = no_revision.post("/api/profile-import", profile_import("a@x.com"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"parameter": "revision"}

    response = api.post("/api/profile-bulk-import-jobs", bulk_job([profile(f"u{i}@x.com") for i in range(10_001)]))
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"pointer": "/data/attributes/profiles/data"}

    list_id = make_list(api)
    response = api.post(f"/api/lists/{list_id}/relationships/profiles", members(*[f"p{i}" for i in range(1001)]))
    assert response.status_code == 400 and "at most 1,000" in response.json()["errors"][0]["detail"]

    response = api.post("/api/profile-bulk-import-jobs", raw=b"{" + b" " * 5_000_001 + b"}")
    assert response.status_code == 413 and response.json()["errors"][0]["code"] == "payload_too_large"

    assert Api(sim, {**HEADERS, "Authorization": ""}).get("/api/lists").status_code == 401
    assert Api(sim, {**HEADERS, "Authorization": "Klaviyo-API-Key"}).get("/api/lists").status_code == 401
    assert api.get("/api/does-not-exist").status_code == 404
    assert api.call("PUT", "/api/lists").status_code == 405
    assert api.get("/api/push-tokens").status_code == 501
    assert sim.state.profile_count() == 0 and sim.state.jobs() == []


def test_a_port_in_use_is_a_configuration_error(sim):
    with pytest.raises(ConfigError, match="choose another --port"):
        KlaviyoSimulator(port=sim.port).start()


def test_a_configured_api_key_is_required():
    with KlaviyoSimulator(port=0, api_key="pk_right") as sim:
        assert Api(sim).get("/api/lists").status_code == 401
        assert Api(sim, {**HEADERS, "Authorization": "Klaviyo-API-Key pk_right"}).get("/api/lists").status_code == 200


# ---------------------------------------------------------------------- profiles


def test_profile_import_creates_then_updates_and_merges(sim, api):
    response = api.post("/api/profile-import", profile_import(
        "Ada@Example.com", first_name="Ada", last_name="Lovelace", external_id="c-1",
        location={"city": "London", "country": "UK"}, properties={"segment": "vip", "score": 3}))
    assert response.status_code == 201
    profile_id = response.json()["data"]["id"]
    assert response.json()["data"]["attributes"]["email"] == "Ada@Example.com"

    response = api.post("/api/profile-import", profile_import(
        "ada@example.com", last_name=None, location={"city": None}, properties={"score": None, "tier": "gold"}))
    assert response.status_code == 200 and response.json()["data"]["id"] == profile_id

    stored = sim.state.profile_by_email("ADA@example.com")
    assert stored["first_name"] == "Ada"  # omitted: unchanged
    assert stored["last_name"] is None  # null: cleared
    assert stored["location"] == {"country": "UK"}
    assert stored["properties"] == {"segment": "vip", "tier": "gold"}
    assert stored["external_id"] == "c-1"

    # found by external_id alone; properties: null clears every custom property
    response = api.post("/api/profile-import", {"data": {"type": "profile", "attributes": {
        "external_id": "c-1", "properties": None}}})
    assert response.status_code == 200 and response.json()["data"]["id"] == profile_id
    assert sim.state.profile(profile_id)["properties"] == {}
    assert sim.state.profile_count() == 1


def test_patch_properties_unset_and_append(sim, api):
    profile_id = upsert(api, "a@x.com", properties={"tags": ["a"], "old": 1})
    response = api.post("/api/profile-import", {"data": {
        "type": "profile", "attributes": {"email": "a@x.com"},
        "meta": {"patch_properties": {"unset": "old", "append": {"tags": "b"}}}}})
    assert response.status_code == 200
    assert sim.state.profile(profile_id)["properties"] == {"tags": ["a", "b"]}


def test_create_profile_conflicts_with_an_existing_email(sim, api):
    profile_id = upsert(api, "ada@example.com")
    response = api.post("/api/profiles", profile_import("ADA@example.com", first_name="Other"))
    assert response.status_code == 409
    [error] = response.json()["errors"]
    assert error["code"] == "duplicate_profile"
    assert error["meta"] == {"duplicate_profile_id": profile_id}
    assert api.post("/api/profiles", profile_import("new@example.com")).status_code == 201


def test_identifiers_of_two_profiles_conflict(sim, api):
    upsert(api, "a@x.com", external_id="A")
    upsert(api, "b@x.com", external_id="B")
    response = api.post("/api/profile-import", profile_import("a@x.com", external_id="B"))
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "duplicate_profile"


def test_patch_updates_by_id_and_checks_the_email(sim, api):
    profile_id = upsert(api, "a@x.com", first_name="A")
    body = {"data": {"type": "profile", "id": profile_id, "attributes": {"first_name": None, "title": "Dr"}}}
    response = api.patch(f"/api/profiles/{profile_id}", body)
    assert response.status_code == 200
    assert sim.state.profile(profile_id)["first_name"] is None and sim.state.profile(profile_id)["title"] == "Dr"
    missing = {"data": {"type": "profile", "id": "01SIMNOPE", "attributes": {}}}
    assert api.patch("/api/profiles/01SIMNOPE", missing).status_code == 404
    response = api.post("/api/profile-import", profile_import("not-an-email"))
    assert response.status_code == 400 and response.json()["errors"][0]["source"] == {
        "pointer": "/data/attributes/email"}


def test_get_profiles_by_email_filter_and_pages(sim, api):
    ids = [upsert(api, f"user{i}@example.com") for i in range(25)]
    response = api.get("/api/profiles", params={"filter": 'equals(email,"USER3@example.com")'})
    assert [p["id"] for p in response.json()["data"]] == [ids[3]]
    response = api.get("/api/profiles", params={"filter": 'any(email,["user1@example.com","user2@example.com"])'})
    assert sorted(p["id"] for p in response.json()["data"]) == sorted(ids[1:3])
    assert api.get("/api/profiles", params={"filter": 'equals(email,"nobody@example.com")'}).json()["data"] == []
    first = api.get("/api/profiles", params={"page[size]": "10"}).json()
    assert len(first["data"]) == 10 and "next" in first["links"] and "prev" not in first["links"]
    assert [p["id"] for p in follow_pages(api, "/api/profiles?page[size]=10")] == ids
    assert api.get(f"/api/profiles/{ids[0]}").json()["data"]["attributes"]["email"] == "user0@example.com"
    assert api.get("/api/profiles/01SIMNOPE").status_code == 404
    assert api.get("/api/profiles", params={"page[cursor]": "garbage"}).status_code == 400


# ---------------------------------------------------------------------- bulk import jobs


def test_a_bulk_import_job_runs_in_the_background_and_reports_import_errors(sim, api):
    list_id = make_list(api)
    existing = upsert(api, "u0@x.com", first_name="Keep")
    profiles = [profile(f"u{i}@x.com", properties={"n": i}) for i in range(30)]
    profiles[7] = profile("not-an-email")
    profiles[12] = profile("+1 bad phone", phone_number="12")
    profiles[12]["attributes"].pop("email")
    response = api.post("/api/profile-bulk-import-jobs", bulk_job(profiles, (list_id,)))
    assert response.status_code == 202
    job = response.json()["data"]
    assert job["attributes"]["status"] == "queued" and job["attributes"]["total_count"] == 30

    attributes = wait_for_job(api, job["id"])
    assert attributes["status"] == "complete"
    assert (attributes["completed_count"], attributes["failed_count"]) == (28, 2)
    assert attributes["started_at"] and attributes["completed_at"]

    errors = follow_pages(api, f"/api/profile-bulk-import-jobs/{job['id']}/import-errors?page[size]=1")
    assert [e["attributes"]["source"]["pointer"] for e in errors] == [
        "/data/attributes/profiles/data/7/attributes/email",
        "/data/attributes/profiles/data/12/attributes/phone_number"]
    assert errors[0]["attributes"]["original_payload"] == profile("not-an-email")

    ids = [p["id"] for p in follow_pages(api, f"/api/profile-bulk-import-jobs/{job['id']}/relationships/profiles")]
    assert len(ids) == 28 and ids[0] == existing
    full = follow_pages(api, f"/api/profile-bulk-import-jobs/{job['id']}/profiles?page[size]=100")
    assert {p["attributes"]["email"] for p in full} == {f"u{i}@x.com" for i in range(30) if i not in (7, 12)}
    assert sim.state.profile_by_email("u0@x.com")["first_name"] == "Keep"  # merged, not replaced
    assert sim.state.list_members(list_id) == ids
    assert api.get(f"/api/profile-bulk-import-jobs/{job['id']}/relationships/lists").json()["data"] == [
        {"type": "list", "id": list_id}]
    assert [j["id"] for j in api.get("/api/profile-bulk-import-jobs",
                                     params={"filter": 'equals(status,"complete")'}).json()["data"]] == [job["id"]]
    assert api.get("/api/profile-bulk-import-jobs/JOBNOPE").status_code == 404


def test_a_bulk_import_job_with_an_unknown_list_is_refused(sim, api):
    response = api.post("/api/profile-bulk-import-jobs", bulk_job([profile("a@x.com")], ("NOPE",)))
    assert response.status_code == 404
    assert response.json()["errors"][0]["source"] == {"pointer": "/data/relationships/lists/data/0/id"}


def test_a_ten_thousand_profile_job_is_accepted(sim, api):
    response = api.post("/api/profile-bulk-import-jobs", bulk_job([profile(f"u{i}@x.com") for i in range(10_000)]))
    assert response.status_code == 202
    assert wait_for_job(api, response.json()["data"]["id"])["completed_count"] == 10_000
    assert sim.state.profile_count() == 10_000


# ---------------------------------------------------------------------- lists


def test_list_membership_add_and_remove(sim, api):
    list_id = make_list(api, "Winback")
    assert api.get(f"/api/lists/{list_id}").json()["data"]["attributes"]["name"] == "Winback"
    assert [k["id"] for k in api.get("/api/lists", params={"filter": 'equals(name,"Winback")'}).json()["data"]] == [
        list_id]
    ids = [upsert(api, f"m{i}@x.com") for i in range(5)]
    subscribed = api.post("/api/profile-subscription-bulk-create-jobs", subscription("create", ["m0@x.com"]))
    assert subscribed.status_code == 202

    assert api.post(f"/api/lists/{list_id}/relationships/profiles", members(*ids)).status_code == 204
    assert api.post(f"/api/lists/{list_id}/relationships/profiles", members(ids[0])).status_code == 204
    assert sim.state.list_members(list_id) == ids
    assert api.delete(f"/api/lists/{list_id}/relationships/profiles", members(ids[0], ids[1])).status_code == 204
    assert sim.state.list_members(list_id) == ids[2:]
    assert sim.state.profile(ids[0])["consent"] == "SUBSCRIBED"  # removal leaves consent alone
    assert [p["id"] for p in follow_pages(api, f"/api/lists/{list_id}/relationships/profiles?page[size]=2")] == ids[2:]
    assert sim.state.list_member_emails(list_id) == ["m2@x.com", "m3@x.com", "m4@x.com"]

    response = api.post(f"/api/lists/{list_id}/relationships/profiles", members(ids[0], "01SIMNOPE"))
    assert response.status_code == 404
    assert response.json()["errors"][0]["source"] == {"pointer": "/data/1/id"}
    assert ids[0] not in sim.state.list_members(list_id)  # all or nothing
    assert api.post("/api/lists/NOPE/relationships/profiles", members(ids[0])).status_code == 404
    assert [k["id"] for k in api.get(f"/api/profiles/{ids[2]}/relationships/lists").json()["data"]] == [list_id]


# ---------------------------------------------------------------------- events


def test_an_event_with_a_repeated_unique_id_is_counted_once(sim, api):
    for _ in range(3):
        assert api.post("/api/events", event("a@x.com", unique_id="sync-42")).status_code == 202
    assert api.post("/api/events", event("a@x.com", unique_id="sync-43")).status_code == 202
    assert api.post("/api/events", event("b@x.com", unique_id="sync-42")).status_code == 202
    assert api.post("/api/events", event("a@x.com", metric="Other", unique_id="sync-42")).status_code == 202
    assert len(sim.state.events("Segment Entered")) == 3
    assert sim.state.duplicate_events == 2
    assert sim.state.duplicates()[0]["unique_id"] == "sync-42"
    assert sim.state.profile_by_email("b@x.com") is not None  # events create profiles


def test_an_event_without_unique_id_is_deduplicated_on_its_second(sim, api):
    moment = "2026-11-20T12:00:00.250000+00:00"
    api.post("/api/events", event("a@x.com", time=moment))
    api.post("/api/events", event("a@x.com", time="2026-11-20T12:00:00.900000+00:00"))
    api.post("/api/events", event("a@x.com", time="2026-11-20T12:00:01+00:00"))
    assert len(sim.state.events()) == 2 and sim.state.duplicate_events == 1


def test_an_event_needs_a_profile_identifier(sim, api):
    body = event("a@x.com")
    body["data"]["attributes"]["profile"]["data"]["attributes"] = {"first_name": "Anon"}
    response = api.post("/api/events", body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"pointer": "/data/attributes/profile/data"}


# ---------------------------------------------------------------------- deletion and consent


def test_a_deletion_request_removes_the_profile_shortly_after(sim, api):
    list_id = make_list(api)
    profile_id = upsert(api, "gone@x.com")
    keep = upsert(api, "kept@x.com")
    api.post(f"/api/lists/{list_id}/relationships/profiles", members(profile_id, keep))
    api.post("/api/events", event("gone@x.com", unique_id="e1"))
    assert api.post("/api/data-privacy-deletion-jobs", deletion(email="GONE@x.com")).status_code == 202
    assert sim.state.deletion_requests()[0]["status"] == "queued"
    assert sim.wait_idle(5)
    assert sim.state.profile_by_email("gone@x.com") is None
    assert sim.state.list_members(list_id) == [keep]
    assert sim.state.events() == []
    [request] = sim.state.deletion_requests()
    assert request["status"] == "complete" and request["deleted_profile_ids"] == [profile_id]
    assert api.get(f"/api/profiles/{profile_id}").status_code == 404

    response = api.post("/api/data-privacy-deletion-jobs", deletion(email="kept@x.com", id=keep))
    assert response.status_code == 400 and "exactly one identifier" in response.json()["errors"][0]["detail"]
    assert api.post("/api/data-privacy-deletion-jobs", deletion(id=keep)).status_code == 202
    assert sim.wait_idle(5) and sim.state.profile_count() == 0


def test_subscription_calls_are_recorded(sim, api):
    list_id = make_list(api)
    upsert(api, "a@x.com")
    assert sim.state.subscription_calls() == []
    api.post("/api/profile-subscription-bulk-create-jobs", subscription("create", ["a@x.com", "new@x.com"], list_id))
    assert sim.state.profile_by_email("new@x.com")["consent"] == "SUBSCRIBED"
    assert sorted(sim.state.list_member_emails(list_id)) == ["a@x.com", "new@x.com"]
    assert sim.state.subscription_calls("unsubscribe") == []

    api.post("/api/profile-subscription-bulk-delete-jobs", subscription("delete", ["a@x.com"]))
    [call] = sim.state.subscription_calls("unsubscribe")
    assert call["profiles"] == [{"id": None, "email": "a@x.com", "phone_number": None}] and call["list_id"] is None
    assert sim.state.profile_by_email("a@x.com")["consent"] == "UNSUBSCRIBED"
    response = api.get(f"/api/profiles/{sim.state.profile_by_email('a@x.com')['id']}",
                       params={"additional-fields[profile]": "subscriptions"})
    assert response.json()["data"]["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "UNSUBSCRIBED"


# ---------------------------------------------------------------------- rate limits


def test_exceeding_the_burst_window_answers_429_with_retry_after():
    clock = FakeClock(1_000.25)
    with KlaviyoSimulator(port=0, clock=clock) as sim:
        api = Api(sim)
        statuses = [api.post("/api/data-privacy-deletion-jobs", deletion(email=f"u{i}@x.com")).status_code
                    for i in range(4)]
        assert statuses == [202, 202, 202, 429]
        throttled = api.post("/api/data-privacy-deletion-jobs", deletion(email="u@x.com"))
        assert throttled.headers["Retry-After"] == "1"
        [error] = throttled.json()["errors"]
        assert error["code"] == "throttled" and error["status"] == 429
        assert "RateLimit-Limit" not in throttled.headers

        assert api.get("/api/lists").status_code == 200  # another operation has its own budget
        clock.now = 1_001.0  # the next second: the burst window is free again
        ok = api.post("/api/data-privacy-deletion-jobs", deletion(email="v@x.com"))
        assert ok.status_code == 202
        assert ok.headers["RateLimit-Limit"] == "60"  # the steady window, as Klaviyo reports it
        assert ok.headers["RateLimit-Remaining"] == "56"
        assert ok.headers["RateLimit-Reset"] == "19"  # seconds to the end of the minute (1020)
        assert len(sim.state.deletion_requests()) == 4  # refused requests changed nothing


def test_exceeding_the_steady_window_waits_for_the_next_minute():
    clock = FakeClock(960.0)
    with KlaviyoSimulator(port=0, clock=clock) as sim:
        api = Api(sim)
        for second in range(20):
            clock.now = 960.0 + second
            for i in range(3):
                assert api.post("/api/data-privacy-deletion-jobs", deletion(email=f"u{i}@x.com")).status_code == 202
        clock.now = 980.5
        throttled = api.post("/api/data-privacy-deletion-jobs", deletion(email="late@x.com"))
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "40"
        clock.now = 1_020.0
        assert api.post("/api/data-privacy-deletion-jobs", deletion(email="late@x.com")).status_code == 202


def test_requests_under_the_limit_are_never_throttled_and_off_lifts_limits(sim, api):
    for i in range(3):
        response = api.post("/api/profile-bulk-import-jobs", bulk_job([profile(f"u{i}@x.com")]))
        assert response.status_code == 202
    sim.set_rate_limits("off")
    statuses = {api.post("/api/data-privacy-deletion-jobs", deletion(email=f"u{i}@x.com")).status_code
                for i in range(20)}
    assert statuses == {202}
    assert "RateLimit-Limit" not in api.get("/api/lists").headers
    assert sim.stats.count("request_profile_deletion", 429) == 0


def test_a_scale_factor_tightens_the_limits():
    clock = FakeClock(5_000.0)
    with KlaviyoSimulator(port=0, clock=clock, rate_limit_scale=0.2) as sim:
        api = Api(sim)
        statuses = [api.post("/api/profile-bulk-import-jobs", bulk_job([profile("a@x.com")])).status_code
                    for _ in range(3)]
        assert statuses == [202, 202, 429]  # 10/s x 0.2 = 2/s


def test_the_limiter_counts_per_key_in_fixed_windows():
    clock = FakeClock(10.9)
    limiter = FixedWindowLimiter({"op": (Window("burst", 2, 1), Window("steady", 3, 60))}, clock=clock)
    assert [limiter.hit("op").allowed for _ in range(3)] == [True, True, False]
    clock.now = 11.0
    decision = limiter.hit("op")
    assert decision.allowed and decision.remaining == 0 and decision.reset == 49
    refused = limiter.hit("op")
    assert not refused.allowed and refused.retry_after == 49
    assert limiter.hit("other").allowed and limiter.hit("other").limit is None
    with pytest.raises(ConfigError, match="unknown rate-limit mode"):
        limiter.configure("fast")
    with pytest.raises(ConfigError, match="N/s"):
        parse_windows({"burst": "ten per second"})


# ---------------------------------------------------------------------- faults


def test_5xx_faults_answer_with_error_bodies(sim, api):
    for kind in ("500", "502", "503"):
        sim.faults.add(f"{kind}:op=get_lists,next=1")
        response = api.get("/api/lists")
        assert response.status_code == int(kind)
        assert response.json()["errors"][0]["status"] == int(kind)
    assert api.get("/api/lists").status_code == 200
    assert sim.stats.by_operation()["get_lists"]["faults"] == {"500": 1, "502": 1, "503": 1}


def test_a_429_storm_lasts_for_its_duration(sim, api):
    storm = sim.faults.add("429:op=create_event,for=30")
    response = api.post("/api/events", event("a@x.com", unique_id="1"))
    assert response.status_code == 429 and int(response.headers["Retry-After"]) in (29, 30)
    assert response.json()["errors"][0]["code"] == "throttled"
    assert api.get("/api/lists").status_code == 200  # other operations unaffected
    storm.added_at -= 30  # as if the storm began 30 seconds ago: it is over
    assert api.post("/api/events", event("a@x.com", unique_id="1")).status_code == 202
    assert len(sim.state.events()) == 1


def test_a_timeout_holds_the_answer_but_applies_the_request(sim, api):
    sim.faults.add("timeout:op=create_or_update_profile,next=1,seconds=1.0")
    with pytest.raises(requests.Timeout):
        api.post("/api/profile-import", profile_import("slow@x.com"), timeout=0.2)
    assert sim.state.profile_by_email("slow@x.com") is not None  # the ESP did the work
    started = time.monotonic()
    assert api.post("/api/profile-import", profile_import("fast@x.com")).status_code == 201
    assert time.monotonic() - started < 0.8  # only the one request was held

    sim.faults.add("timeout:op=create_or_update_profile,next=1,seconds=0.3,apply=false")
    response = api.post("/api/profile-import", profile_import("late@x.com"), timeout=2)
    assert response.status_code == 201  # held, then answered normally


def test_a_request_held_across_a_reset_is_not_counted_after_it(sim, api):
    """A held answer finishes after the next test's reset: it must not count there (it did, and
    test_admin_endpoints_query_and_steer_the_simulator saw two profile imports instead of one)."""
    sim.faults.add("timeout:op=create_or_update_profile,next=1,seconds=0.5")
    with pytest.raises(requests.Timeout):
        api.post("/api/profile-import", profile_import("slow@x.com"), timeout=0.1)
    sim.reset()
    time.sleep(0.8)  # the held answer is sent and recorded meanwhile
    assert sim.stats.total == 0
    assert api.post("/api/profile-import", profile_import("fast@x.com")).status_code == 201
    assert sim.stats.count("create_or_update_profile", 201) == 1


def test_a_connection_reset_sends_nothing(sim, api):
    sim.faults.add("reset:op=create_or_update_profile,next=1")
    with pytest.raises(requests.ConnectionError):
        api.post("/api/profile-import", profile_import("lost@x.com"))
    assert sim.state.profile_by_email("lost@x.com") is None
    sim.faults.add("reset:op=create_or_update_profile,next=1,apply=true")
    with pytest.raises(requests.ConnectionError):
        api.post("/api/profile-import", profile_import("applied@x.com"))
    assert sim.state.profile_by_email("applied@x.com") is not None
    assert api.post("/api/profile-import", profile_import("fine@x.com")).status_code == 201
    assert sim.stats.count("create_or_update_profile", 0) == 2


def test_partial_import_errors_are_visible_at_import_errors(sim, api):
    sim.faults.add("import-errors:share=0.3,next=1")
    response = api.post("/api/profile-bulk-import-jobs", bulk_job([profile(f"u{i}@x.com") for i in range(100)]))
    attributes = wait_for_job(api, response.json()["data"]["id"])
    assert 10 < attributes["failed_count"] < 50
    assert attributes["completed_count"] + attributes["failed_count"] == 100
    errors = follow_pages(api, f"/api/profile-bulk-import-jobs/{response.json()['data']['id']}/import-errors"
                               "?page[size]=100")
    assert len(errors) == attributes["failed_count"]
    failed = {e["attributes"]["original_payload"]["attributes"]["email"] for e in errors}
    assert all(sim.state.profile_by_email(email) is None for email in failed)
    assert sim.state.profile_count() == attributes["completed_count"]
    second = api.post("/api/profile-bulk-import-jobs", bulk_job([profile("x@x.com")]))
    assert wait_for_job(api, second.json()["data"]["id"])["failed_count"] == 0  # the rule is spent


def _statuses_with_seed(seed: int) -> list[int]:
    with KlaviyoSimulator(port=0, seed=seed, faults=["503:p=0.3"], rate_limits="off") as sim:
        api = Api(sim)
        return [api.get("/api/lists").status_code for _ in range(40)]


def test_faults_are_deterministic_for_a_seed():
    first = _statuses_with_seed(7)
    assert first == _statuses_with_seed(7)
    assert 503 in first and 200 in first
    assert first != _statuses_with_seed(8)


def test_fault_injector_draws_per_rule_and_spends_next():
    injector = FaultInjector(seed=3, rules=["500:op=a,next=2", "429:op=b,p=0.5"])
    assert [getattr(injector.for_request("a"), "kind", None) for _ in range(3)] == ["500", "500", None]
    draws = [injector.for_request("b") is not None for _ in range(20)]
    again = FaultInjector(seed=3, rules=["500:op=a,next=2", "429:op=b,p=0.5"])
    assert draws == [again.for_request("b") is not None for _ in range(20)]
    with pytest.raises(ConfigError, match="unknown fault kind"):
        FaultRule.parse("418")
    with pytest.raises(ConfigError, match="not key=value"):
        FaultRule.parse("503:often")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        FaultRule.parse("503:p=2")
    assert FaultRule.parse("timeout:op=x,seconds=2").describe() == {
        "kind": "timeout", "op": "x", "seconds": 2.0, "apply": True, "fired": 0}


# ---------------------------------------------------------------------- admin endpoints


def test_admin_endpoints_query_and_steer_the_simulator(sim, api):
    admin = requests.Session()
    base = sim.base_url + "/__simulator"
    upsert(api, "a@x.com", first_name="Ada")
    assert admin.get(base + "/health").json()["ok"] is True

    state = admin.get(base + "/state").json()
    assert [p["email"] for p in state["state"]["profiles"]] == ["a@x.com"]
    assert state["requests"]["by_operation"]["create_or_update_profile"]["statuses"] == {"201": 1}
    assert state["rate_limits"]["mode"] == "production"
    assert admin.get(base + "/stats").json()["total"] == 1
    summary = admin.get(base + "/state", params={"summary": "1"}).json()["state"]
    assert summary["profiles"] == 1 and summary["revisions"] == {"2026-07-15": 1}

    response = admin.post(base + "/faults", json={"faults": ["503:op=get_lists,next=1", {"kind": "500", "op": "x"}]})
    assert [f["kind"] for f in response.json()["faults"]] == ["503", "500"]
    assert api.get("/api/lists").status_code == 503
    assert admin.get(base + "/faults").json()["faults"][0]["fired"] == 1
    assert admin.post(base + "/faults", json={"faults": ["nonsense"]}).status_code == 400
    assert admin.delete(base + "/faults").json() == {"faults": []}

    assert admin.post(base + "/rate-limits", json={"mode": "off"}).json()["mode"] == "off"
    assert sim.limiter.mode == "off"
    assert admin.post(base + "/rate-limits", json={"mode": "turbo"}).status_code == 400
    assert admin.post(base + "/rate-limits", json={"mode": "production", "scale": 0.5}).json()["scale"] == 0.5

    assert admin.post(base + "/reset").json() == {"ok": True}
    assert sim.state.profile_count() == 0 and sim.stats.total == 0
    assert admin.get(base + "/state").json()["state"]["profiles"] == []


def test_reset_restores_the_start_up_faults_with_fresh_seeds():
    with KlaviyoSimulator(port=0, seed=5, faults=["503:p=0.5"], rate_limits="off") as sim:
        api = Api(sim)
        before = [api.get("/api/lists").status_code for _ in range(10)]
        sim.faults.clear()
        sim.reset()
        assert [api.get("/api/lists").status_code for _ in range(10)] == before


# ---------------------------------------------------------------------- every answer follows the contract


def test_answers_of_every_implemented_operation_follow_the_contract(sim, api):
    list_id = make_list(api)
    profile_id = upsert(api, "a@x.com", phone_number="+15005550006", location={"latitude": 51.5})
    job_id = api.post("/api/profile-bulk-import-jobs", bulk_job([profile("b@x.com")], (list_id,))).json()["data"]["id"]
    wait_for_job(api, job_id)
    calls = [
        ("GET", f"/api/profiles/{profile_id}?additional-fields[profile]=subscriptions", None, 200),
        ("GET", f"/api/profiles/{profile_id}/lists", None, 200),
        ("GET", f"/api/profile-bulk-import-jobs/{job_id}?include=lists", None, 200),
        ("GET", f"/api/profile-bulk-import-jobs/{job_id}/lists", None, 200),
        ("GET", "/api/profile-bulk-import-jobs", None, 200),
        ("GET", "/api/lists", None, 200),
        ("GET", f"/api/lists/{list_id}/profiles", None, 200),
        ("PATCH", f"/api/lists/{list_id}", {"data": {"type": "list", "id": list_id, "attributes": {"name": "X"}}},
         200),
        ("POST", "/api/events", event("a@x.com", value=9.5, value_currency="EUR"), 202),
        ("DELETE", f"/api/lists/{list_id}", None, 204),
    ]
    for method, path, body, status in calls:
        assert api.call(method, path, body).status_code == status, (method, path)


def test_a_drt_style_client_pinned_to_an_older_revision_works_with_any_revision():
    """drt posts to /api/profiles/ with application/json and revision 2024-10-15, then PATCHes on 409."""
    headers = {**HEADERS, "revision": "2024-10-15", "Content-Type": "application/json", "Accept": "application/json"}
    with KlaviyoSimulator(port=0, any_revision=True) as sim:
        api = Api(sim, headers)
        body = profile_import("ada@example.com", properties={"ltv": 120})
        created = api.post("/api/profiles/", body)
        assert created.status_code == 201
        conflict = api.post("/api/profiles/", body)
        assert conflict.status_code == 409
        profile_id = conflict.json()["errors"][0]["meta"]["duplicate_profile_id"]
        patch = {"data": {"type": "profile", "id": profile_id, "attributes": {"email": "ada@example.com",
                                                                              "properties": {"ltv": 130}}}}
        assert api.patch(f"/api/profiles/{profile_id}/", patch).status_code == 200
        list_id = api.post("/api/lists/", new_list()).json()["data"]["id"]
        assert api.post(f"/api/lists/{list_id}/relationships/profiles/", members(profile_id)).status_code == 204
        assert api.post("/api/events/", event("ada@example.com", unique_id="row-1")).status_code == 202
        assert sim.state.profile_by_email("ada@example.com")["properties"] == {"ltv": 130}
        assert sim.revisions == {"2024-10-15": 6}
        assert Api(sim, {**headers, "revision": "latest"}).get("/api/lists/").status_code == 400
    with KlaviyoSimulator(port=0) as strict:
        response = Api(strict, headers).post("/api/profiles/", profile_import("ada@example.com"))
        assert response.status_code == 400 and "revision 2026-07-15" in response.json()["errors"][0]["detail"]


# ---------------------------------------------------------------------- command line


def test_simulate_help_documents_faults_and_admin_endpoints():
    result = CliRunner().invoke(main, ["simulate", "klaviyo", "--help"])
    assert result.exit_code == 0
    for text in ("--rate-limits", "import-errors", "/__simulator/state", "Retry-After", "--seed"):
        assert text in result.output
    result = CliRunner().invoke(main, ["simulate", "klaviyo", "--fault", "teapot"])
    assert result.exit_code == 2 and "unknown fault kind" in result.output


def _signal_masks(pid: int) -> str:
    """The signal masks of a process and of each of its threads, from /proc."""
    lines = []
    for status in [Path(f"/proc/{pid}/status"), *sorted(Path(f"/proc/{pid}/task").glob("*/status"))]:
        fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        lines.append(f"{status.parent.name}: " + " ".join(
            f"{name}={fields.get(name, '?').strip()}" for name in ("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
        ))
    return "\n".join(lines)


def test_simulate_runs_until_interrupted():
    process = subprocess.Popen(
        [sys.executable, "-m", "activation", "simulate", "klaviyo", "--port", "0", "--seed", "3",
         "--fault", "503:op=get_lists,next=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
        # faulthandler: a SIGABRT makes the process print every thread's stack before dying
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
        # Ctrl-C as a terminal delivers it, even if this test run ignores SIGINT (started as a
        # background job of a non-interactive shell, it does, and so would the simulator)
        preexec_fn=default_sigint,  # noqa: PLW1509 (only sigaction in the child: no lock to deadlock on)
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        base_url = re.search(r"http://[\d.]+:\d+", first).group(0)
        assert requests.get(base_url + "/api/lists", headers=HEADERS).status_code == 503
        assert requests.get(base_url + "/api/lists", headers=HEADERS).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            # Show the signal masks (is SIGINT blocked, ignored, pending?) and where each
            # thread was. This is how the inherited ignored SIGINT above was found: SigIgn
            # had 0x2 set in the simulator and in the pytest worker that started it.
            masks = _signal_masks(process.pid)
            process.send_signal(signal.SIGABRT)
            out, err = process.communicate(timeout=10)
            pytest.fail(f"the simulator did not stop within 10 s of Ctrl-C; SIGINT is 0x2 in these "
                        f"masks:\n{masks}\nthis test process: {_signal_masks(os.getpid())}\n"
                        f"its threads:\n{err}\n{out}")
    assert process.returncode == 0, err
    assert "Klaviyo simulator stopped." in out
