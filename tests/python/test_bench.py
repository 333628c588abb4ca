"""Smoke tests of the benchmark scripts' building blocks (the benchmarks themselves run outside `make test`)."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from activation.config import Mode, load_syncs
from activation.simulators.rehearsal import SYNCS_FILES
from bench import floor, peer_drt, simproc, sync_requests


@pytest.mark.dbt
def test_floor_engine_build_reproduces_the_dbt_built_row_counts(built_warehouse, tmp_path):
    """The compiled SQL of every model, run by DuckDB alone in DAG order, gives dbt's row count for each model."""
    warehouse, work, _ = built_warehouse
    manifest = json.loads((work / "target" / "manifest.json").read_text())
    models = floor.models_in_dag_order(manifest)
    position = {node["unique_id"]: i for i, node in enumerate(models)}
    for node in models:
        for parent in node["depends_on"]["nodes"]:
            assert position.get(parent, -1) < position[node["unique_id"]], (parent, node["unique_id"])
    copy = tmp_path / floor.WAREHOUSE  # the same file name: compiled SQL names the catalog "warehouse"
    shutil.copy(warehouse, copy)
    built = floor.engine_build(copy, models)
    assert set(built["per_model"]) == {node["name"] for node in models}
    assert floor.row_counts(copy, models) == floor.row_counts(warehouse, models)


def test_floor_materializes_views_as_views_and_everything_else_as_tables():
    node = {"compiled_code": "select 1 as x -- trailing comment;\n", "relation_name": '"w"."s"."m"',
            "config": {"materialized": "incremental"}}
    assert floor.statement(node) == 'create or replace table "w"."s"."m" as (\nselect 1 as x -- trailing comment\n)'
    assert floor.statement({**node, "config": {"materialized": "view"}}).startswith('create or replace view "w"."s"."m"')


def test_peer_drt_project_selects_the_columns_activation_sends(tmp_path):
    sync = next(s for s in load_syncs(SYNCS_FILES["klaviyo"]).syncs if s.mode is Mode.UPSERT_PROFILES)
    sql = peer_drt.drt_model_sql(sync.fields)
    assert sql.startswith('select "email", "contact_key" as "external_id", "first_name", "last_viewed_product_id"')
    project, home = peer_drt.write_drt_project(tmp_path, tmp_path / "export.duckdb", sql, rps=0, batch_size=100)
    definition = yaml.safe_load((project / "syncs" / "klaviyo_profiles.yml").read_text())
    assert definition["model"] == sql and definition["destination"]["type"] == "klaviyo"
    assert definition["sync"]["rate_limit"] == {"requests_per_second": 0}
    assert yaml.safe_load((home / ".drt" / "profiles.yml").read_text())["bench"]["type"] == "duckdb"


def test_peer_drt_counts_requests_per_pass_and_the_time_production_limits_imply():
    before = {"create_profile": {"requests": 10, "bytes_in": 100, "statuses": {"201": 10}}}
    after = {"create_profile": {"requests": 25, "bytes_in": 300, "statuses": {"201": 10, "409": 15}},
             "update_profile": {"requests": 15, "bytes_in": 150, "statuses": {"200": 15}}}
    sent = peer_drt.delta(before, after)
    assert sent == {"create_profile": {"requests": 15, "bytes_in": 200, "statuses": {"409": 15}},
                    "update_profile": {"requests": 15, "bytes_in": 150, "statuses": {"200": 15}}}
    rates = peer_drt.steady_rates()
    assert rates["create_profile"] == pytest.approx(750 / 60) and rates["bulk_import_profiles"] == pytest.approx(150 / 60)
    assert peer_drt.steady_seconds({"create_profile": {"requests": 1500}}, rates) == pytest.approx(120)


def test_sync_requests_minimum_and_the_time_production_limits_impose():
    # Braze: 75 objects per request; bytes far below 4 MB
    assert sync_requests.minimum_requests("braze", 10_000, 10_000 * 900) == 134
    # Klaviyo: 10,000 profiles or 5 MB per request; 1.4 KB profiles make bytes decide
    assert sync_requests.minimum_requests("klaviyo", 10_000, 14_000_000) == 3
    # webhook at 20/s and 600/m: 1,200 requests need one full minute window beyond the first
    assert sync_requests.limit_imposed_seconds("webhook", {"deliver": {"requests": 1_200}}) == 60
    assert sync_requests.limit_imposed_seconds("webhook", {"deliver": {"requests": 600}}) == 29  # 20/s decides
    assert sync_requests.limit_imposed_seconds("mailchimp", {"batch_subscribe": {"requests": 2_000}}) == 0


def test_sync_requests_lifts_the_clients_own_limits_only_when_asked(tmp_path):
    lifted = load_syncs(sync_requests.syncs_file_for("braze", "off", tmp_path))
    assert all(s.destination.settings["lift_rate_limits"] is True for s in lifted.syncs)
    assert sync_requests.syncs_file_for("braze", "production", tmp_path) == SYNCS_FILES["braze"]
    command = simproc.simulator_command("webhook", "production", SYNCS_FILES["webhook"])
    assert command[-4:] == ["--rate-limit", "20/s", "--rate-limit", "600/m"]
    assert "--rate-limit" not in simproc.simulator_command("webhook", "off", SYNCS_FILES["webhook"])


@pytest.mark.dbt
def test_sync_requests_end_to_end_with_the_simulator_in_its_own_process(built_warehouse, tmp_path):
    """300 profiles, then 3 changed, into a webhook receiver process: requests equal the minimum,
    the receiver holds every profile, and the sync's peak memory is measured in its own process."""
    warehouse, _, _ = built_warehouse
    rows = sync_requests.run("webhook", warehouse, 300, 3, tmp_path, "off", 1, ["initial", "change"], None)
    initial, change = rows
    assert (initial["records"], initial["upsert_requests"], initial["minimum"]) == (300, 1, 1)
    assert initial["acknowledged"] == 300 and initial["failed"] == 0 and initial["simulator_profiles"] == 300
    assert change["planned"]["CHANGE"] == 3 and change["planned"]["UNCHANGED"] == 297
    assert (change["records"], change["upsert_requests"], change["acknowledged"]) == (3, 1, 3)
    assert len(change["plan_seconds"]) == 1 and initial["activation_peak_rss_mb"] > 0
    assert initial["simulator_peak_rss_mb"] > 0 and initial["payload_bytes"] > change["payload_bytes"] > 0


@pytest.mark.dbt
def test_sync_requests_on_postgres_copies_the_export_and_times_the_server(built_warehouse, postgres_server, tmp_path):
    """--postgres: the export is copied to PostgreSQL (nulls and values intact), the change pass changes it
    there, the syncs run on it and the child reports the server's CPU time beside its own."""
    warehouse, _, _ = built_warehouse
    url = postgres_server.fresh("exports", "activation").url
    rows = sync_requests.run("webhook", warehouse, 300, 3, tmp_path, "off", 2, ["initial", "change"], None, url)
    initial, change = rows
    assert initial["warehouse"] == change["warehouse"] == "postgres"
    assert (initial["acknowledged"], initial["upsert_requests"], initial["simulator_profiles"]) == (300, 1, 300)
    assert change["planned"]["CHANGE"] == 3 and change["planned"]["UNCHANGED"] == 297
    assert len(change["plan_server_cpu_seconds"]) == 2 and change["sync_server_cpu_seconds"] >= 0


def test_sync_child_peak_memory_is_its_own_not_the_parents():
    """A child inherits its parent's ru_maxrss on Linux; the child's VmHWM is its own peak."""
    import resource
    import subprocess
    import sys

    block = bytearray(512 * 1024 * 1024)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    del block
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 >= 512
    code = ("import resource; from bench.sync_child import own_peak_rss_mb; "
            "print(own_peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    own, inherited = map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                               check=True).stdout.split())
    assert inherited >= 512 and own < 400, (own, inherited)


def test_generator_benchmark_times_each_run_and_counts_the_rows_it_wrote(tmp_path):
    from bench import generator

    run = generator.generate_once(tmp_path / "g.duckdb", customers=200, days=7, seed=3)
    assert run["wall_seconds"] > 0 and run["cpu_seconds"] > 0 and run["peak_rss_mb"] > 0
    counts = generator.row_counts(tmp_path / "g.duckdb")
    assert {"events", "customers", "orders"} <= set(counts)
    assert counts["customers"] >= 200 and counts["events"] > 0
