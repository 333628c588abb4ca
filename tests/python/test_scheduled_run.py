"""activation run (the scheduled run) and activation exposures (lineage).

The runs are real: `activation run` in a subprocess, on a copy of the dbt-built
test warehouse, calling dbt itself, syncing into the Klaviyo simulator and
posting alerts to a local receiver. dbt work is kept small: only the exports'
upstream is built, and every run shares one dbt target directory (partial parse).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from filelock import FileLock

from activation.alerts import failed_share_alerts, membership_change_alerts, payload
from activation.config import Alerts, load_syncs
from activation.simulators.klaviyo import KlaviyoSimulator
from activation.state import StateStore
from activation.db import Warehouse
from dbt_runner import PROJECT_DIR, execute, query, run_dbt

SYNCS = PROJECT_DIR / "syncs.yml"
ACTIVATION = Path(sys.executable).parent / "activation"
SECRET = "pk_test_secret_value"
# the test data ends 2026-11-20 12:00: builds measure from there, and freshness (which
# measures from the real clock) is relaxed, except where a test wants a stale source
DBT_VARS = {"as_of": "2026-11-20 12:00:00", "events_freshness_error_hours": 100000,
            "orders_freshness_error_hours": 100000}


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dbt_target(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("run") / "target"


@pytest.fixture
def warehouse(built_warehouse, tmp_path) -> Path:
    source, _, result = built_warehouse
    result.check()
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(source, copy)
    return copy


@pytest.fixture
def simulator() -> Iterator[KlaviyoSimulator]:
    lists = {list_id: segment for sync in load_syncs(SYNCS).syncs for segment, list_id in sync.lists.items()}
    with KlaviyoSimulator(port=0, seed=5, rate_limits="off", job_delay=0.02, deletion_delay=0.02, lists=lists) as sim:
        yield sim


class Receiver:
    """A local webhook: records every POSTed JSON body, answers `status`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append({"content_type": self.headers.get("Content-Type"), "body": json.loads(body)})
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def run(
    warehouse: Path,
    dbt_target: Path,
    simulator: KlaviyoSimulator,
    receiver: Receiver | None,
    *args: str,
    dbt_vars: dict[str, Any] | None = None,
    webhook: str | None = None,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`activation run` in a subprocess, as a scheduler would start it; its exit and its report."""
    report = warehouse.parent / f"report-{len(list(warehouse.parent.glob('report-*')))}.json"
    env = {**os.environ, "KLAVIYO_BASE_URL": simulator.base_url, "KLAVIYO_API_KEY": SECRET}
    env.pop("ACTIVATION_ALERT_WEBHOOK", None)
    if webhook or receiver:
        env["ACTIVATION_ALERT_WEBHOOK"] = webhook or receiver.url  # type: ignore[union-attr]
    completed = subprocess.run(
        [str(ACTIVATION), "run", "--syncs", str(SYNCS), "--db", str(warehouse), "--report", str(report),
         "--dbt-target-path", str(dbt_target), "--dbt-vars", json.dumps(dbt_vars or DBT_VARS), *args],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert report.is_file(), completed.stdout + completed.stderr
    return completed, json.loads(report.read_text())



def assert_slack_shaped(message: dict[str, Any]) -> None:
    assert message["content_type"] == "application/json"
    body = message["body"]
    assert set(body) == {"text", "blocks"}
    assert isinstance(body["text"], str) and body["text"]
    assert body["blocks"][0]["type"] == "header"
    assert all(block["type"] in {"header", "section", "context"} for block in body["blocks"])
    dump = json.dumps(body)
    assert SECRET not in dump and "secret-token" not in dump, "an alert must never carry a secret"


# -- scheduled runs -------------------------------------------------------------------------
@pytest.mark.dbt
def test_a_failing_upstream_test_stops_the_run_before_anything_is_synced(
    warehouse, dbt_target, simulator, receiver
):
    # an event staged twice, outside the incremental window that the next build recomputes: the
    # corruption survives the rebuild and unique_stg_segment__events_event_id fails, upstream of
    # every export
    execute(warehouse, "insert into staging.stg_segment__events "
                       "select * from staging.stg_segment__events order by received_at limit 1")
    completed, report = run(warehouse, dbt_target, simulator, receiver, "--select", "klaviyo_deletions")
    assert completed.returncode == 6, completed.stdout + completed.stderr
    assert "unique_stg_segment__events_event_id" in completed.stderr
    freshness, build = report["dbt"]
    assert freshness["step"] == "source freshness" and freshness["failed_nodes"] == []
    assert build["step"] == "build" and "--select +export_deletion_requests" in build["command"]
    assert [node["unique_id"].split(".")[2] for node in build["failed_nodes"]] == ["unique_stg_segment__events_event_id"]
    assert build["skipped_nodes"] > 0 and build["duration_seconds"] > 0
    assert report["exit_code"] == 6 and report["syncs"] == []
    assert simulator.stats.total == 0, "nothing may reach the ESP after a failed test"
    assert query(warehouse, "select count(*) from information_schema.tables where table_schema = 'activation'") == [(0,)]
    # the failure alert, posted once, names the failed test
    assert len(receiver.received) == 1
    assert_slack_shaped(receiver.received[0])
    assert "exit 6" in receiver.received[0]["body"]["text"]
    assert "unique_stg_segment__events_event_id" in json.dumps(receiver.received[0]["body"]["blocks"])
    assert report["alerts"][0]["kind"] == "failure" and report["alerts"][0]["delivered"] is True
    assert receiver.url not in json.dumps(report), "the webhook URL is a secret"


@pytest.mark.dbt
def test_overlapping_runs_never_both_sync(warehouse, dbt_target, simulator, receiver):
    lock = FileLock(str(warehouse) + ".run.lock")
    with lock.acquire(timeout=0):  # another run is busy
        completed, report = run(warehouse, dbt_target, simulator, receiver)
        assert completed.returncode == 5, completed.stdout + completed.stderr
        assert "holds" in completed.stderr
        assert report["dbt"] == [] and report["syncs"] == []
        assert simulator.stats.total == 0
        assert receiver.received and "another run holds the lock" in receiver.received[0]["body"]["text"]
        # a webhook that fails is logged, never fatal
        receiver.status = 500
        failing, failing_report = run(warehouse, dbt_target, simulator, receiver)
        assert failing.returncode == 5
        assert failing_report["alerts"][0]["delivered"] is False
        assert "HTTP 500" in failing_report["alerts"][0]["error"]
        dead, dead_report = run(warehouse, dbt_target, simulator, None, webhook="http://127.0.0.1:9/hook")
        assert dead.returncode == 5 and dead_report["alerts"][0]["delivered"] is False
    assert query(warehouse, "select count(*) from information_schema.tables where table_schema = 'activation'") == [(0,)]


@pytest.mark.dbt
def test_a_list_change_far_outside_the_usual_range_alerts_and_the_run_succeeds(
    warehouse, dbt_target, simulator, receiver
):
    # three earlier runs of the list sync changed 4 to 6 memberships each
    with Warehouse.open_duckdb(warehouse) as db:
        store = StateStore(db)
        store.ensure()
        for day, changes in ((17, 4), (18, 6), (19, 5)):
            db.execute(
                f"""insert into {store.table('runs')} (run_id, sync_name, mode, destination, status, dry_run,
                    full_resync, started_at, planned_add, planned_remove)
                    values (?, 'klaviyo_segments', 'mirror_lists', 'klaviyo', 'succeeded', false, false, ?, ?, 1)""",
                [f"earlier-{day}", f"2026-11-{day} 06:00:00", changes - 1],
            )
    completed, report = run(warehouse, dbt_target, simulator, receiver, "--select", "klaviyo_segments")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    freshness, build = report["dbt"]
    assert freshness["warned_nodes"], "the test data is older than warn_after: warned, and the run went on"
    assert build["failed_nodes"] == [] and build["nodes"] > 0
    (entry,) = report["syncs"]
    planned = entry["counts"]["ADD"] + entry["counts"]["REMOVE"]
    assert entry["status"] == "succeeded" and entry["sent"] == planned > 50
    members = query(warehouse, "select count(*) from exports.export_segment_memberships where not is_holdout "
                               "and segment_key in ('cart_abandoner', 'browse_abandoner', 'new_subscriber', 'vip', "
                               "'lapsing', 'churn_risk', 'warm_lead')")[0][0]
    assert sum(len(klist["members"]) for klist in simulator.state.snapshot()["lists"]) == members == planned
    # the alert: planned add + remove far above 3x the median (5) and above min_change (50)
    assert len(receiver.received) == 1
    message = receiver.received[0]
    assert_slack_shaped(message)
    assert "exit 0" in message["body"]["text"]
    sections = [block for block in message["body"]["blocks"] if block["type"] == "section"]
    assert len(sections) == 1 and "membership_change" in sections[0]["text"]["text"]
    assert "klaviyo_segments" in sections[0]["text"]["text"] and "median of 5" in sections[0]["text"]["text"]
    assert [alert["kind"] for alert in report["alerts"]] == ["membership_change"]
    # the rule itself, against the runs now recorded (history 4, 6, 5 and this run's): a usual
    # change does not alert, nor does an unusual one below min_change
    settings = load_syncs(SYNCS).alerts
    syncs = load_syncs(SYNCS).select(["klaviyo_segments"])
    with Warehouse.open_duckdb(warehouse, read_only=True) as db:
        def alerts_for(add: int, remove: int) -> list[str]:
            entry = {"sync_name": "klaviyo_segments", "run_id": "next", "counts": {"ADD": add, "REMOVE": remove}}
            return [a.kind for a in membership_change_alerts(settings, db, StateStore(db), syncs, [entry])]

        # median 5.5 (4, 6, 5 and this run's): 6 is usual; 30 is unusual but below min_change (50)
        assert alerts_for(4, 2) == [] and alerts_for(30, 0) == []
        assert alerts_for(40, 40) == ["membership_change"]


def test_failed_share_alerts_only_above_the_threshold():
    settings = Alerts(failed_share=0.05)
    entries = [{"sync_name": "a", "sent": 100, "failed": 5}, {"sync_name": "b", "sent": 100, "failed": 6},
               {"sync_name": "c", "sent": 0, "failed": 0}]
    alerts = failed_share_alerts(settings, entries)
    assert [(alert.kind, alert.sync_name) for alert in alerts] == [("failed_share", "b")]
    message = payload(alerts, exit_code=1, outcome="partial", report_path="r.json")
    assert "6 of 100 records failed" in message["text"]


# -- lineage --------------------------------------------------------------------------------
def test_the_committed_exposures_are_current_and_a_stale_file_fails_the_check(tmp_path):
    current = subprocess.run([str(ACTIVATION), "exposures", "--syncs", str(SYNCS), "--check"],
                             capture_output=True, text=True, timeout=60)
    assert current.returncode == 0, (
        current.stdout + current.stderr + "\nsyncs.yml changed: run `activation exposures --write` and commit"
    )
    declared = yaml.safe_load(SYNCS.read_text())
    declared["syncs"][0]["owner"] = {"name": "someone else"}
    changed = tmp_path / "syncs.yml"
    changed.write_text(yaml.safe_dump(declared))
    stale = subprocess.run([str(ACTIVATION), "exposures", "--syncs", str(changed), "--check"],
                           capture_output=True, text=True, timeout=60)
    assert stale.returncode == 1 and "stale" in stale.stderr
    exposures = yaml.safe_load(
        subprocess.run([str(ACTIVATION), "exposures", "--syncs", str(changed)], capture_output=True, text=True).stdout
    )["exposures"]
    first = exposures[0]
    assert first["owner"] == {"name": "someone else"} and first["type"] == "application"
    assert first["depends_on"] == [f"ref('{declared['syncs'][0]['source']}')"]
    assert first["config"]["meta"]["destination_type"] == "klaviyo"
    assert "klaviyo" in first["description"] and declared["syncs"][0]["mode"] in first["description"]
    assert [e["name"] for e in exposures] == [s["name"] for s in declared["syncs"]]


@pytest.mark.dbt
def test_an_exposure_selects_exactly_its_export_and_upstream(tmp_path, dbt_target):
    def ls(selector: str) -> set[str]:
        # the runs' target directory and vars: dbt reuses their parse
        result = run_dbt(["ls", "--quiet", "--select", selector, "--resource-type", "model", "source",
                          "--output", "name"], tmp_path / "unused.duckdb", dbt_target.parent, vars_=DBT_VARS).check()
        return {line.strip() for line in result.output.splitlines() if line.strip()}

    by_exposure = ls("+exposure:klaviyo_profiles")
    assert {"export_contact_template_variables", "customer_recommendations", "int_identifiers_stitched",
            "stg_segment__events", "raw.events"} <= by_exposure
    assert "segment_performance_daily" not in by_exposure and "export_segment_memberships" not in by_exposure
    assert by_exposure == ls("+export_contact_template_variables")


# last: its vars differ, so dbt parses the project again
@pytest.mark.dbt
def test_a_source_past_its_freshness_error_stops_the_run_before_dbt_build(warehouse, dbt_target, simulator):
    stale = {**DBT_VARS, "events_freshness_error_hours": 1}
    completed, report = run(warehouse, dbt_target, simulator, None, "--select", "klaviyo_deletions", dbt_vars=stale)
    assert completed.returncode == 6, completed.stdout + completed.stderr
    (freshness,) = report["dbt"]  # no build step
    assert [node["unique_id"] for node in freshness["failed_nodes"]] == ["source.email_personalization.raw.events"]
    assert "error after 1 hour" in freshness["failed_nodes"][0]["message"]
    assert simulator.stats.total == 0
    assert report["alerts"][0]["delivered"] is False  # no webhook configured: logged only
    assert "ACTIVATION_ALERT_WEBHOOK is not set" in completed.stderr  # logged
