"""The signed webhook destination and its receiver simulator (fast: no dbt).

The signature is checked by an HMAC written here, apart from the destination's
signer and the simulator's verifier, so a mistake shared by both would fail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

from pathlib import Path

import duckdb
import httpx
import pytest
import requests
import yaml
from click.testing import CliRunner

from activation.cli import main
from activation.config import Mode, Sync, load_syncs
from activation.db import Warehouse
from activation.destinations import make_destination
from activation.destinations.base import Batch, JournalRecord, Outcome
from activation.destinations.webhook import WebhookDestination, idempotency_key
from activation.engine import Engine
from activation.errors import ConfigError
from activation.simulators.webhook import WebhookSimulator
from activation.state import StateStore

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec-test-5f1c"
ENV = "WEBHOOK_TEST_SECRET"
FAST = {"backoff": 0.01, "max_backoff": 0.05}  # transport retry timing for the fault tests


@pytest.fixture(scope="module")
def sim() -> Iterator[WebhookSimulator]:
    with WebhookSimulator(port=0, secret=SECRET, seed=3) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _fresh(request, monkeypatch) -> None:
    monkeypatch.setenv(ENV, SECRET)
    if "sim" in request.fixturenames:
        simulator = request.getfixturevalue("sim")
        simulator.reset()
        simulator.clear_record_errors()


def make_sync(mode: str = "upsert_profiles", base_url: str = "https://crm.example.test", name: str = "crm",
              **settings: Any) -> Sync:
    spec: dict[str, Any] = {
        "name": name,
        "source": "contacts",
        "key": "contact_key",
        "destination": {"type": "webhook", "base_url": base_url, "credentials": {"secret": ENV},
                        "settings": {"path": "/hooks/activation", "rate_limit": "1000/s", **settings}},
        "mode": mode,
    }
    if mode == "upsert_profiles":
        spec["fields"] = {"email": "email", "first_name": "first_name"}
    elif mode == "mirror_lists":
        spec.update(segment="segment_key", lists={"vip": "LstVip", "lapsing": "LstLapsing"})
    elif mode == "trigger_events":
        spec.update(key="event_id", event={"metric": "Cart Abandoned", "unique_id": "event_id", "time": "at"})
    return Sync.model_validate(spec)


def profiles(count: int, start: int = 1, operation: str = "ADD") -> list[JournalRecord]:
    return [JournalRecord(i, f"k{i}", f"c{i}@example.com", operation, {"email": f"c{i}@example.com", "first_name": "Ada"})
            for i in range(start, start + count)]


def send_all(destination: WebhookDestination, mode: Mode, operation: str, records: list[JournalRecord]) -> list[Outcome]:
    return [o for batch in destination.batches(mode, operation, records) for o in destination.send(batch)]


def sign_here(timestamp: str, body: bytes) -> str:
    """An independent implementation of the documented scheme."""
    return "sha256=" + hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


# -- signature -----------------------------------------------------------------------------

def test_signature_is_verifiable_independently_and_each_attempt_is_signed_afresh():
    seen: list[tuple[dict[str, str], bytes, str]] = []  # the transport resends one request object: copy
    now = iter([1_800_000_000.0, 1_800_000_007.0])

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append((dict(request.headers), request.content, str(request.url)))
        return httpx.Response(503 if len(seen) == 1 else 200)

    destination = WebhookDestination(make_sync(), http_transport=httpx.MockTransport(receiver),
                                     clock=lambda: next(now), **FAST)
    outcomes = send_all(destination, Mode.UPSERT_PROFILES, "ADD", profiles(3))
    assert [o.status for o in outcomes] == ["acknowledged"] * 3
    assert [headers["x-timestamp"] for headers, _, _ in seen] == ["1800000000", "1800000007"]
    for headers, content, url in seen:
        assert url == "https://crm.example.test/hooks/activation"
        assert headers["x-signature"] == sign_here(headers["x-timestamp"], content)
    (first, body, _), (retry, again, _) = seen
    assert body == again and first["idempotency-key"] == retry["idempotency-key"]  # only the signature is new
    assert first["x-signature"] != retry["x-signature"]
    document = json.loads(body)
    assert document["sync"] == "crm" and document["mode"] == "upsert_profiles" and document["operation"] == "ADD"
    assert document["batch_id"] == first["idempotency-key"]
    assert document["records"][0] == {"key": "k1", "operation": "ADD",
                                      "payload": {"email": "c1@example.com", "first_name": "Ada"}}


def test_the_receiver_refuses_a_tampered_body_a_stale_timestamp_and_a_wrong_secret(sim):
    body = json.dumps({"sync": "crm", "mode": "propagate_deletions", "operation": "ADD", "batch_id": "b1",
                       "records": [{"key": "d1", "operation": "ADD", "payload": {"email": "x@example.com"}}]}).encode()
    url = sim.base_url + "/anything"

    def post(content: bytes, timestamp: str, signature: str) -> requests.Response:
        return requests.post(url, data=content, timeout=5, headers={
            "X-Timestamp": timestamp, "X-Signature": signature, "Idempotency-Key": "b1",
            "Content-Type": "application/json"})

    now = str(int(time.time()))
    tampered = body.replace(b"x@example.com", b"y@example.com")
    assert post(tampered, now, sign_here(now, body)).status_code == 401
    stale = str(int(time.time()) - 3600)
    refused = post(body, stale, sign_here(stale, body))
    assert refused.status_code == 401 and "stale" in refused.json()["error"]["message"]
    wrong = "sha256=" + hmac.new(b"another", f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    assert post(body, now, wrong).status_code == 401
    assert sim.state.deletions() == []
    assert post(body, now, sign_here(now, body)).status_code == 200
    assert [d["email"] for d in sim.state.deletions()] == ["x@example.com"]


def test_a_refused_signature_stops_the_run_with_a_configuration_error(sim):
    skewed = WebhookDestination(make_sync(base_url=sim.base_url), clock=lambda: time.time() - 3600)
    (batch,) = skewed.batches(Mode.UPSERT_PROFILES, "ADD", profiles(2))
    with pytest.raises(ConfigError, match="clocks"):
        skewed.send(batch)
    assert sim.state.records() == {}


# -- idempotency ---------------------------------------------------------------------------

def test_idempotency_key_is_stable_for_the_same_batch_and_differs_otherwise():
    destination = WebhookDestination(make_sync(), http_transport=httpx.MockTransport(lambda r: httpx.Response(200)))

    def key(records: list[JournalRecord], operation: str = "ADD", dest: WebhookDestination = destination) -> str:
        return dest._batch_id(Mode.UPSERT_PROFILES, operation, records)

    records = profiles(5)
    assert key(records) == key(profiles(5)) == key(list(records))
    changed = records[:4] + [JournalRecord(5, "k5", "c5@example.com", "ADD", {"email": "c5@example.com",
                                                                             "first_name": "Bea"})]
    assert key(changed) != key(records)  # a payload changed
    assert key(records[:4]) != key(records)  # another set of records
    assert key(profiles(5, operation="CHANGE"), "CHANGE") != key(records)
    after_a_delivery = [JournalRecord(r.seq, r.record_key, r.email, r.operation, r.payload, "prev-batch") for r in records]
    assert key(after_a_delivery) != key(records)  # the same payload again in a later run is a new batch
    other_sync = WebhookDestination(make_sync(name="crm_copy"), http_transport=httpx.MockTransport(
        lambda r: httpx.Response(200)))
    assert key(records, dest=other_sync) != key(records)
    assert idempotency_key("s", "m", "ADD", [("k", "ADD", {"a": 1, "b": 2}, None)]) == idempotency_key(
        "s", "m", "ADD", [("k", "ADD", {"b": 2, "a": 1}, None)])  # payload hashed as canonical JSON
    assert len(key(records)) == 64


def test_a_resume_packs_what_is_left_into_the_batches_first_sent():
    destination = WebhookDestination(make_sync(batch_size=4), http_transport=httpx.MockTransport(
        lambda r: httpx.Response(200)))

    def keys(records: list[JournalRecord]) -> list[tuple[list[int], str]]:
        return [([r.seq for r in b.records], destination._batch_id(Mode.UPSERT_PROFILES, "ADD", b.records))
                for b in destination.batches(Mode.UPSERT_PROFILES, "ADD", records)]

    first = keys(profiles(10))
    assert [seqs for seqs, _ in first] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    # batch 2 was committed before the crash; 1 and 3 were sent but not committed: a gap ends a batch
    pending = [r for r in profiles(10) if not 5 <= r.seq <= 8]
    assert keys(pending) == [first[0], first[2]]


def test_a_resent_batch_is_applied_once_by_the_receiver(sim):
    destination = WebhookDestination(make_sync(mode="trigger_events", base_url=sim.base_url))
    events = [JournalRecord(i, f"e{i}", f"c{i}@example.com", "ADD",
                            {"metric": "Cart Abandoned", "email": f"c{i}@example.com", "time": "2026-11-20 12:00:00",
                             "properties": {"cart_value": 10.5}}) for i in range(1, 4)]
    (batch,) = destination.batches(Mode.TRIGGER_EVENTS, "ADD", events)
    first = destination.send(batch)
    again = destination.send(batch)  # as after a crash before the outcome was committed
    assert first == again and {o.status for o in first} == {"acknowledged"}
    assert sim.state.replays == 1
    assert len(sim.state.events("Cart Abandoned")) == 3 and sim.state.duplicate_events == 0
    assert sim.state.events()[0]["time"] == "2026-11-20T12:00:00+00:00"
    assert sim.stats.count("deliver", 200) == 2


# -- answers -------------------------------------------------------------------------------

def test_per_record_errors_are_mapped_to_their_records(sim):
    sim.fail_records({"k3": "unknown customer", "k8": "email bounced"})
    destination = WebhookDestination(make_sync(base_url=sim.base_url, batch_size=4))
    outcomes = {o.seq: o for o in send_all(destination, Mode.UPSERT_PROFILES, "ADD", profiles(10))}
    failed = {seq: (o.error_code, o.error_message, o.retryable) for seq, o in outcomes.items() if o.status != "acknowledged"}
    assert failed == {3: ("rejected", "unknown customer", False), 8: ("rejected", "email bounced", False)}
    assert sorted(sim.state.records()) == sorted(f"k{i}" for i in range(1, 11) if i not in (3, 8))
    assert outcomes[3].destination_ref == outcomes[4].destination_ref  # the batch that carried it


def test_a_bare_2xx_acknowledges_everything_and_listed_results_need_only_the_errors():
    answers = iter([httpx.Response(204), httpx.Response(200, json={"results": [
        {"key": "k5", "status": "error", "error": "locked", "code": "locked", "retryable": True},
        {"key": "k6", "status": "ok"}, {"key": "not-in-batch", "status": "error"}]})])
    destination = WebhookDestination(make_sync(batch_size=3), http_transport=httpx.MockTransport(
        lambda r: next(answers)))
    outcomes = send_all(destination, Mode.UPSERT_PROFILES, "ADD", profiles(6))
    assert [(o.seq, o.status) for o in outcomes if o.status != "acknowledged"] == [(5, "failed")]
    assert (outcomes[4].error_code, outcomes[4].error_message, outcomes[4].retryable) == ("locked", "locked", True)


def test_a_batch_refused_whole_is_halved_until_the_bad_record_is_isolated(sim):
    sim.reject_records(["k37"])
    destination = WebhookDestination(make_sync(base_url=sim.base_url, batch_size=100))
    outcomes = send_all(destination, Mode.UPSERT_PROFILES, "ADD", profiles(100))
    failed = [o for o in outcomes if o.status != "acknowledged"]
    assert [(o.seq, o.error_code) for o in failed] == [(37, "http_400")] and not failed[0].retryable
    records = sim.state.records()
    assert len(records) == 99 and all(entry["deliveries"] == 1 for entry in records.values())
    assert sim.stats.count("deliver") <= 1 + 2 * 7  # about 2*log2(100) extra requests, not one per record


def test_413_splits_too_and_an_oversized_record_is_never_sent():
    sizes: list[int] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)["records"]
        sizes.append(len(records))
        return httpx.Response(413) if len(records) > 2 else httpx.Response(200)

    destination = WebhookDestination(make_sync(max_record_bytes=200), http_transport=httpx.MockTransport(receiver))
    records = profiles(5) + [JournalRecord(6, "k6", "c6@example.com", "ADD", {"email": "c6@example.com",
                                                                              "first_name": "x" * 300})]
    outcomes = {o.seq: o for o in send_all(destination, Mode.UPSERT_PROFILES, "ADD", records)}
    assert all(outcomes[i].status == "acknowledged" for i in range(1, 6))
    assert outcomes[6].error_code == "too_large" and not outcomes[6].retryable
    assert sizes == [5, 2, 3, 1, 2]  # refused batches halved until each fits; the oversized one never sent


def test_faults_are_retried_and_a_timed_out_delivery_is_not_applied_twice(sim):
    sim.faults.add("503:next=2")
    sim.faults.add("reset:next=1")
    sim.faults.add("timeout:next=1,seconds=1.5")  # applied, but the answer comes too late
    destination = WebhookDestination(make_sync(base_url=sim.base_url, batch_size=5, timeout_seconds=0.5), **FAST)
    outcomes = send_all(destination, Mode.UPSERT_PROFILES, "ADD", profiles(10))
    assert {o.status for o in outcomes} == {"acknowledged"}
    records = sim.state.records()
    assert len(records) == 10 and all(entry["deliveries"] == 1 for entry in records.values())
    assert sim.state.replays >= 1  # the retry after the timeout met the stored answer
    assert [(rule["kind"], rule["fired"]) for rule in sim.faults.describe()] == [("503", 2), ("reset", 1), ("timeout", 1)]
    assert destination.transport.stats["deliver"].retries == 4


# -- through the engine --------------------------------------------------------------------

@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema exports")
        con.execute(
            "create table exports.contacts as select 'c' || lpad(i::varchar, 3, '0') as contact_key, "
            "'c' || i || '@example.com' as email, 'Ada' as first_name, "
            "case when i % 2 = 0 then 'vip' else 'lapsing' end as segment_key from range(40) t(i)"
        )
    return Warehouse.open_duckdb(path)


class Crash(BaseException):
    """Stands in for kill -9 between a send and its commit."""


class CrashAfterSend:
    """A webhook destination that dies after the receiver answered batch ``n``."""

    def __init__(self, inner: WebhookDestination, n: int) -> None:
        self.inner, self.n, self.sent = inner, n, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def send(self, batch: Batch) -> list[Outcome]:
        outcomes = self.inner.send(batch)
        self.sent += 1
        if self.sent == self.n:
            raise Crash
        return outcomes


def test_a_crash_after_sending_resends_the_same_batch_and_the_receiver_deduplicates(sim, warehouse):
    sync = make_sync(base_url=sim.base_url, batch_size=10, max_concurrency=1)
    store = StateStore(warehouse)
    with pytest.raises(Crash):
        Engine(warehouse, store, "exports", lambda s: CrashAfterSend(WebhookDestination(s), 2), progress=False).run(sync)
    assert sim.state.summary()["batches"] == 2
    result = Engine(warehouse, store, "exports", make_destination, progress=False).run(sync)
    # batches 1 and 2 came again with the same keys and were not applied again: batch 2 died before its
    # commit, and batch 1's answer was still waiting for the engine's grouped commit (about a second of
    # idempotent answers; engine.COMMIT_SECONDS) when the process died
    assert sim.state.replays == 2
    records = sim.state.records()
    assert len(records) == 40 and all(entry["deliveries"] == 1 for entry in records.values())
    assert warehouse.fetchall("select status, count(*) from activation.sync_state group by 1") == [("synced", 40)]
    assert result.counts["ADD"] == 0 and result.resumed_run_ids


def test_list_membership_added_removed_and_added_again_reaches_the_receiver(sim, warehouse):
    sync = make_sync(mode="mirror_lists", base_url=sim.base_url, batch_size=1)  # one record, one batch: same shape
    engine = Engine(warehouse, StateStore(warehouse), "exports", make_destination, progress=False)
    engine.run(sync)
    assert len(sim.state.list_members("LstVip")) == 20 and len(sim.state.list_members("LstLapsing")) == 20
    warehouse.execute("update exports.contacts set segment_key = 'none' where contact_key = 'c002'")
    removed = engine.run(sync)
    assert removed.counts["REMOVE"] == 1 and "c2@example.com" not in sim.state.list_members("LstVip")
    warehouse.execute("update exports.contacts set segment_key = 'vip' where contact_key = 'c002'")
    engine.run(sync)  # the same record, operation and payload as in the first run: a new key all the same
    assert "c2@example.com" in sim.state.list_members("LstVip") and sim.state.replays == 0


# -- configuration and command line --------------------------------------------------------

def test_settings_are_checked_and_the_target_resolved(monkeypatch):
    with pytest.raises(ConfigError, match="batch_sise"):
        WebhookDestination(make_sync(batch_sise=10))
    with pytest.raises(ConfigError, match="not both"):
        WebhookDestination(make_sync(url="https://crm.example.test/x"))
    spec = make_sync().model_dump()
    spec["destination"].update(base_url=None, base_url_env="WEBHOOK_TEST_URL")
    spec["destination"]["settings"] = {"url": "https://crm.example.test/in/hooks"}
    sync = Sync.model_validate(spec)
    assert (WebhookDestination(sync).base_url, WebhookDestination(sync).path) == ("https://crm.example.test", "/in/hooks")
    monkeypatch.setenv("WEBHOOK_TEST_URL", "http://127.0.0.1:8770")
    assert WebhookDestination(sync).base_url == "http://127.0.0.1:8770"  # rehearsal: same path, local receiver
    monkeypatch.delenv(ENV)
    with pytest.raises(ConfigError, match=ENV):
        WebhookDestination(sync)


def test_the_simulate_webhook_command_documents_itself_and_needs_the_secret(monkeypatch):
    runner = CliRunner()
    shown = runner.invoke(main, ["simulate", "webhook", "--help"])
    assert shown.exit_code == 0 and "--secret-env" in shown.output and "Idempotency-Key" in shown.output
    monkeypatch.delenv("NO_SUCH_SECRET_VAR", raising=False)
    missing = runner.invoke(main, ["simulate", "webhook", "--secret-env", "NO_SUCH_SECRET_VAR", "--port", "0"])
    assert missing.exit_code == 2 and "NO_SUCH_SECRET_VAR" in missing.output


def test_admin_endpoints_set_record_errors_and_show_the_state(sim):
    answer = requests.post(sim.base_url + "/__simulator/record-errors", timeout=5,
                           json={"errors": {"k2": "no such customer"}, "reject": ["k9"]})
    assert answer.json() == {"errors": {"k2": "no such customer"}, "reject": ["k9"]}
    destination = WebhookDestination(make_sync(base_url=sim.base_url))
    send_all(destination, Mode.UPSERT_PROFILES, "ADD", profiles(3))
    state = requests.get(sim.base_url + "/__simulator/state", timeout=5).json()["state"]
    assert sorted(state["records"]["crm"]) == ["k1", "k3"] and state["batches"][0]["errors"] == 1
    assert requests.delete(sim.base_url + "/__simulator/record-errors", timeout=5).json() == {"errors": {}, "reject": []}


def test_the_example_webhook_syncs_file_is_valid_and_reads_existing_export_columns(monkeypatch):
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("WEBHOOK_BASE_URL", raising=False)
    syncs = load_syncs(ROOT / "syncs.webhook.yml").syncs
    assert {sync.mode for sync in syncs} == set(Mode)
    assert not {s.name for s in syncs} & {s.name for s in load_syncs(ROOT / "syncs.yml").syncs}  # state is per name
    for sync in syncs:
        document = yaml.safe_load((ROOT / "models" / "exports" / f"{sync.source}.yml").read_text())
        (model,) = [m for m in document["models"] if m["name"] == sync.source]
        assert set(sync.source_columns()) <= {column["name"] for column in model["columns"]}, sync.name
        destination = make_destination(sync)
        assert (destination.base_url, destination.path) == ("https://crm.internal.example.com", "/hooks/activation")
        destination.close()


def test_the_documented_receiver_snippet_verifies_a_real_request():
    text = (ROOT / "docs" / "destinations" / "webhook.md").read_text()
    (snippet,) = [block for block in text.split("```python\n")[1:] if "def verify(" in block]
    namespace: dict[str, Any] = {}
    exec(snippet.split("```")[0], namespace)  # noqa: S102 - our own documentation
    captured: list[tuple[dict[str, str], bytes]] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        captured.append(({"X-Timestamp": request.headers["X-Timestamp"],
                          "X-Signature": request.headers["X-Signature"]}, request.content))
        return httpx.Response(200)

    destination = WebhookDestination(make_sync(), http_transport=httpx.MockTransport(receiver))
    send_all(destination, Mode.UPSERT_PROFILES, "ADD", profiles(2))
    ((headers, body),) = captured
    verify = namespace["verify"]
    assert verify(SECRET.encode(), headers, body)
    assert not verify(SECRET.encode(), headers, body + b" ")
    assert not verify(b"other", headers, body)
    assert not verify(SECRET.encode(), headers, body, now=int(headers["X-Timestamp"]) + 301)
