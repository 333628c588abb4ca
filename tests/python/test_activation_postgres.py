"""activation on a PostgreSQL warehouse: configuration, secrets, dialect pieces, cross-engine payloads.

The reliability suite (convergence, changed-only, consent, crash-resume,
deletions and the engine tests) runs on PostgreSQL too: see
test_activation_sync.py, ids ``postgres``. This file covers what that suite
does not: how a user points activation at PostgreSQL, that a password never
leaks, the SQL fragments that differ between engines, and that both engines
plan the same payloads from the same exports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from activation.config import load_syncs
import yaml

from activation.db import DUCKDB, POSTGRES, PostgresWarehouse, Warehouse, _to_pyformat, redact
from activation.errors import ConfigError
from activation.planner import EMAIL_PATTERN, Planner
from activation.state import StateStore
from dbt_runner import PROJECT_DIR, execute
from destinations import HARNESSES
from warehouses import PostgresTarget, copy_schema, query

ACTIVATION = Path(sys.executable).parent / "activation"
SECRET = "s3cr3t-Pa55"


def activation(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACTIVATION), *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


# ---------------------------------------------------------------------------------------------
# no server needed
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select ? , ?", "select %s , %s"),
        ("select '?', \"a?\" from t where x = ?", "select '?', \"a?\" from t where x = %s"),
        ("select 'it''s ?' || ?", "select 'it''s ?' || %s"),
        ("select x like 'a%' and y = ?", "select x like 'a%%' and y = %s"),
        ("select 5 % ? -- what ? %\n, ?", "select 5 %% %s -- what ? %%\n, %s"),
    ],
)
def test_placeholders_become_psycopg_style_outside_literals(sql, expected):
    assert _to_pyformat(sql) == expected


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        (f"postgresql://bob:{SECRET}@db.example.com:5432/shop", SECRET),
        (f"cannot open postgres://bob:{SECRET}@h/d now", SECRET),
        (f"host=h password={SECRET} dbname=d", SECRET),
        (f"postgresql://bob@h/d?sslmode=require&password={SECRET}", SECRET),
        (f"password='{SECRET} with space'", SECRET),
    ],
)
def test_redact_hides_passwords_in_urls_and_settings(text, leak):
    redacted = redact(text)
    assert leak not in redacted and "***" in redacted
    assert redact("postgresql://bob@h:5432/d") == "postgresql://bob@h:5432/d"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://bob:{SECRET}@127.0.0.1:1/shop",
        f"postgres://bob:{SECRET}@127.0.0.1:1/shop",
        f"postgresql://bob@127.0.0.1:1/shop?password={SECRET}",
    ],
)
def test_a_url_with_a_password_is_refused_and_never_echoed(url):
    with pytest.raises(ConfigError) as raised:
        Warehouse.open(url)
    message = str(raised.value)
    assert SECRET not in message
    assert "PGPASSWORD" in message and "~/.pgpass" in message


def test_every_command_refuses_a_password_url_without_printing_it(tmp_path):
    url = f"postgresql://bob:{SECRET}@127.0.0.1:1/shop"
    report = tmp_path / "report.json"
    for args in (
        ["sync", "--warehouse", url, "--output", "json"],
        ["plan", "--warehouse", url],
        ["status", "--warehouse", url],
        ["sync", "--db", url],
        ["run", "--warehouse", url, "--report", str(report), "--dbt-target-path", str(tmp_path / "target")],
    ):
        completed = activation(*args, "--syncs", str(PROJECT_DIR / "syncs.yml"))
        assert completed.returncode == 2, (args, completed.stdout, completed.stderr)
        assert SECRET not in completed.stdout + completed.stderr, args
        assert "PGPASSWORD" in completed.stdout + completed.stderr, args
    assert report.is_file() and SECRET not in report.read_text()
    # the environment variable is read the same way
    completed = activation("sync", "--syncs", str(PROJECT_DIR / "syncs.yml"), env={"ACTIVATION_WAREHOUSE": url})
    assert completed.returncode == 2 and SECRET not in completed.stdout + completed.stderr


def test_an_unreachable_server_fails_fast_naming_the_fix():
    completed = activation("sync", "--syncs", str(PROJECT_DIR / "syncs.yml"),
                           "--warehouse", "postgresql://nobody@127.0.0.1:1/shop")
    assert completed.returncode == 2
    assert "cannot connect to PostgreSQL warehouse postgresql://nobody@127.0.0.1:1/shop" in completed.stderr
    assert "is the server running" in completed.stderr


def test_a_malformed_url_is_a_configuration_error():
    with pytest.raises(ConfigError, match="is not valid"):
        Warehouse.open("postgresql://h/d?no_such_option=1")


@pytest.mark.parametrize("command", ["preview", "report"])
def test_duckdb_only_commands_say_so_for_a_postgres_url(command, tmp_path):
    url = f"postgresql://bob:{SECRET}@127.0.0.1:1/shop"
    args = ["preview", "cart_reminder", "--customer", "x", "--db", url] if command == "preview" \
        else ["report", "--db", url, "--out", str(tmp_path / "r.html")]
    completed = activation(*args)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert f"`activation {command}` reads a DuckDB warehouse only" in completed.stderr
    assert SECRET not in completed.stdout + completed.stderr


def test_dialect_fragments():
    assert POSTGRES.regexp_full_match("email", "a+") == "(email ~ '^(?:a+)$')"
    assert POSTGRES.regexp_full_match("email", "^a$") == "(email ~ '^a$')"
    assert DUCKDB.regexp_full_match("email", "it's") == "regexp_full_match(email, 'it''s')"
    assert POSTGRES.json_scalar('"t"', "timestamp without time zone") == 'cast("t" as text)'
    assert POSTGRES.json_scalar('"n"', "numeric") == '"n"'
    assert DUCKDB.json_scalar('"t"', "TIMESTAMP") == '"t"'
    assert POSTGRES.first_sorted("k", 3) == '(array_agg(k order by (k) collate "C"))[1:3]'
    assert DUCKDB.first_sorted("k", 3) == "min(k, 3)"
    assert DUCKDB.values_hash(["a", '"b"']) == 'cast(hash(a, "b") as varchar)'
    assert POSTGRES.values_hash(["a", '"b"']) == 'cast(hashtextextended(cast(row(a, "b") as text), 0) as text)'


# ---------------------------------------------------------------------------------------------
# on the test server
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def pg(postgres_server) -> PostgresTarget:
    return postgres_server.fresh("exports", "activation", "scratch")


def test_session_settings_pin_text_output(pg):
    with Warehouse.open(pg.url) as warehouse:
        assert isinstance(warehouse, PostgresWarehouse)
        assert warehouse.fetchone("show time zone") == ("UTC",)
        assert warehouse.fetchone("show datestyle") == ("ISO, MDY",)
        fractional = warehouse.fetchone("select cast(timestamp '2026-11-20 09:00:00.5' as text)")
        assert fractional == ("2026-11-20 09:00:00.5",)
        assert warehouse.fetchone("select ?, ? || 'x'", [1, "a"]) == (1, "ax")
        assert warehouse.label == pg.url


def test_read_only_sessions_cannot_write(pg):
    with Warehouse.open(pg.url, read_only=True) as warehouse, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        warehouse.execute("create table scratch_t (x int)")


def test_email_pattern_matches_the_same_addresses_on_both_engines(pg):
    emails = ["a@b.co", "A.B+tag@sub.example.org", "no-at-sign", "two@@ats.com", "sp ace@x.com", "tab\t@x.com",
              "trail@x.com\n", "@x.com", "a@b", "a@b.", "a@.b", "ü@exämple.de", "a@b.c.d", ""]
    duck = duckdb.connect()
    expected = [duck.execute(f"select {DUCKDB.regexp_full_match('?', EMAIL_PATTERN)}", [e]).fetchone()[0]
                for e in emails]
    with Warehouse.open(pg.url) as warehouse:
        got = [warehouse.fetchone(f"select {POSTGRES.regexp_full_match('cast(? as text)', EMAIL_PATTERN)}", [e])[0]
               for e in emails]
    assert got == expected
    assert expected[:2] == [True, True] and not any(expected[2:4])


def test_values_hash_and_first_sorted_agree_in_meaning_on_both_engines(pg):
    """The change hash tells apart what a payload tells apart (null vs empty, where a separator
    falls), gives equal values equal hashes, and both engines sample keys in byte order."""
    pairs = [(None, "x"), ("", "x"), ("x", None), ("x", ""), ("a,b", "c"), ("a", "b,c"), ('a"', "b"),
             ("a", '"b'), ("x", "x")]
    keys = ["b", "B", "a", "A", "é", "Z", "aa"]
    duck = duckdb.connect()
    with Warehouse.open(pg.url) as warehouse:
        for dialect, fetch in ((DUCKDB, lambda sql, p: duck.execute(sql, p).fetchone()[0]),
                               (POSTGRES, lambda sql, p: warehouse.fetchone(sql, p)[0])):
            hashed = [fetch(f"select {dialect.values_hash(['cast(? as varchar)', 'cast(? as varchar)'])}", list(pair))
                      for pair in pairs]
            assert len(set(hashed)) == len(pairs), dialect.name
            assert all(isinstance(value, str) for value in hashed)
            again = fetch(f"select {dialect.values_hash(['cast(? as varchar)', 'cast(? as varchar)'])}", ["a,b", "c"])
            assert again == hashed[4], dialect.name
            values = ", ".join(f"(cast(? as varchar))" for _ in keys)
            sample = fetch(f"select {dialect.first_sorted('k', 3)} from (values {values}) as t(k)", keys)
            assert list(sample) == ["A", "B", "Z"], dialect.name


def test_temp_rows_load_a_batch_inside_a_transaction_and_vanish_after(pg):
    columns = (("seq", "bigint"), ("status", "varchar"), ("retryable", "boolean"))
    rows = [(1, "acknowledged", None), (2, "it's 100% \\ done\t", True), (3, None, False)]
    with Warehouse.open(pg.url) as warehouse:
        with warehouse.transaction(), warehouse.temp_rows("batch_outcomes", columns, rows):
            assert warehouse.fetchall("select seq, status, retryable from batch_outcomes order by seq") == rows
        assert not warehouse.fetchone("select to_regclass('pg_temp.batch_outcomes')")[0]
        with pytest.raises(RuntimeError), warehouse.transaction(), warehouse.temp_rows("batch_outcomes", columns, rows):
            raise RuntimeError("a failure inside the batch's transaction")
        assert not warehouse.fetchone("select to_regclass('pg_temp.batch_outcomes')")[0]


def test_one_process_per_sync(pg):
    with Warehouse.open(pg.url) as first, Warehouse.open(pg.url) as second:
        with first.exclusive("activation sync activation.profiles"):
            with pytest.raises(ConfigError, match="another activation process holds the lock"):
                with second.exclusive("activation sync activation.profiles"):
                    pass
            with second.exclusive("activation sync activation.other"):
                pass
        with second.exclusive("activation sync activation.profiles"):
            pass


def test_a_scheduled_run_finding_the_lock_held_does_nothing(pg, tmp_path):
    """`activation run` on PostgreSQL: the advisory lock is held by another run: exit 5, no dbt step."""
    report = tmp_path / "report.json"
    with Warehouse.open(pg.url) as holder, holder.exclusive("activation run"):
        completed = activation("run", "--warehouse", pg.url, "--syncs", str(PROJECT_DIR / "syncs.yml"),
                               "--report", str(report), "--dbt-target-path", str(tmp_path / "target"))
    assert completed.returncode == 5, completed.stdout + completed.stderr
    written = json.loads(report.read_text())
    assert written["dbt"] == [] and written["syncs"] == []
    assert written["lock"] == f"advisory lock 'activation run' on {pg.url}"


def _plan_everything(warehouse: Warehouse, syncs_files: list[Path]) -> dict[str, Any]:
    """Every sync of every syncs file planned from an empty state: per record its operation, email
    and payload (parsed), and the rejections. Rolled back: nothing is kept."""
    planned: dict[str, Any] = {}
    for syncs_file in syncs_files:
        syncs = load_syncs(syncs_file)
        store = StateStore(warehouse, syncs.state_schema)
        store.ensure()
        planner = Planner(warehouse, store, syncs.exports_schema)
        for sync in syncs.syncs:
            run_id = f"cmp-{sync.name}"
            warehouse.execute("begin transaction")
            try:
                planner.plan(sync, run_id)
                records = warehouse.fetchall(
                    f"select record_key, email, operation, payload from {store.table('journal')} where run_id = ?",
                    [run_id])
                rejections = warehouse.fetchall(
                    f"select record_key, reason from {store.table('rejections')} where run_id = ?", [run_id])
            finally:
                warehouse.execute("rollback")
            planned[f"{syncs_file.name}:{sync.name}"] = {
                "records": {key: (email, operation, json.loads(payload)) for key, email, operation, payload in records},
                "rejections": sorted(rejections, key=str),
            }
    return planned


def test_both_engines_plan_the_same_payloads_from_the_same_exports(built_warehouse, tmp_path, pg):
    """Payload text differs in spacing (and 12.5 vs 12.50); parsed, every payload is the same, so every
    destination is sent the same requests. Hashes compare payloads of one engine only."""
    source, _, result = built_warehouse
    result.check()
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(source, copy)
    execute(
        copy,
        """
        insert into exports.export_cart_abandonment_events
        select md5(contact_key || '|cmp'), contact_key, email, cart_items, cart_item_count, cart_value, false,
            timestamp '2026-11-20 09:00:00.25', timestamp '2026-11-20 10:00:00.5'
        from exports.export_contact_template_variables order by contact_key limit 3;
        -- rows every engine must reject alike
        insert into exports.export_contact_template_variables
        select * replace ('Bad Email' as email, 'k-bad' as contact_key)
        from exports.export_contact_template_variables order by contact_key limit 1;
        insert into exports.export_contact_template_variables
        select * replace ('k-dup' as contact_key) from exports.export_contact_template_variables
        order by contact_key limit 2;
        """,
    )
    copy_schema(copy, pg, "exports")
    # the shipped mappings, and one mapping timestamps as values (engines write those differently)
    declared = yaml.safe_load((PROJECT_DIR / "syncs.yml").read_text())
    for entry in declared["syncs"]:
        if entry["mode"] == "upsert_profiles":
            entry["fields"]["properties.computed_as_of"] = "computed_as_of"
        if entry["mode"] == "trigger_events":
            entry["event"]["properties"]["changed_at"] = "last_cart_change_at"
    timestamps = tmp_path / "syncs.timestamps.yml"
    timestamps.write_text(yaml.safe_dump(declared))
    files = [harness.syncs_file for harness in HARNESSES.values()] + [timestamps]
    with Warehouse.open(copy) as duck, Warehouse.open(pg.url) as postgres:
        on_duckdb, on_postgres = _plan_everything(duck, files), _plan_everything(postgres, files)
    assert on_duckdb.keys() == on_postgres.keys()
    for name in on_duckdb:
        assert on_duckdb[name]["records"], f"{name}: nothing planned, the comparison proves nothing"
        assert on_postgres[name] == on_duckdb[name], name
    assert {reason for name in on_duckdb for _, reason in on_duckdb[name]["rejections"]} >= {
        "invalid_email", "duplicate_key"}
    events = [payload for name, planned in on_postgres.items() if name.startswith("syncs.timestamps")
              for _, _, payload in planned["records"].values() if "metric" in payload]
    assert len(events) == 3 and {event["time"] for event in events} == {"2026-11-20 10:00:00.5"}
    assert {event["properties"]["changed_at"] for event in events} == {"2026-11-20 09:00:00.25"}
    assert query(pg, "select count(*) from activation.journal") == [(0,)], "planning was rolled back"


def test_a_database_without_exports_fails_naming_the_build(pg):
    status = activation("status", "--warehouse", pg.url, "--syncs", str(PROJECT_DIR / "syncs.yml"))
    assert status.returncode == 0 and "no runs yet" in status.stdout, status.stdout + status.stderr
    expected = (f"source exports.export_contact_template_variables does not exist in {pg.url} (or this role has "
                "no privilege on it); build it: dbt build --select +export_contact_template_variables")
    unused = {"KLAVIYO_API_KEY": "pk_unused", "KLAVIYO_BASE_URL": "http://127.0.0.1:9"}  # nothing is sent
    for command in ("plan", "sync"):
        completed = activation(command, "--warehouse", pg.url, "--syncs", str(PROJECT_DIR / "syncs.yml"),
                               "--select", "klaviyo_profiles", env=unused)
        assert completed.returncode == 2, completed.stdout + completed.stderr
        assert expected in completed.stderr, command
