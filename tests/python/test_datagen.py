"""Tests of the sample-data generator (datagen): determinism, the raw contract, the
manifest, realistic timestamps, and an independent SQL implementation of the staging
rules that must reproduce the manifest's numbers."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from datagen import GeneratorConfig, MessConfig, generate, write_duckdb, write_files
from datagen.cli import main
from datagen.contract import QUARANTINE_REASONS, RAW_TABLES
from datagen.pipeline import Dataset
from datagen.vocab import BOT_USER_AGENTS, BROWSER_USER_AGENTS, TRACK_NAMES, UNKNOWN_EVENT_NAMES

ROOT = Path(__file__).resolve().parents[2]
SOURCES_YML = ROOT / "models" / "staging" / "_raw__sources.yml"
EVENT_NAME_MAP = ROOT / "seeds" / "event_name_map.csv"
BOT_PATTERNS = ROOT / "seeds" / "bot_user_agent_patterns.csv"
END = datetime(2026, 11, 22, 12, 0, 0)
SMALL = GeneratorConfig(customers=600, days=14, end_time=END, seed=7)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(SMALL)


@pytest.fixture(scope="module")
def con(dataset: Dataset) -> duckdb.DuckDBPyConnection:
    return _connect(dataset)


def _connect(dataset: Dataset) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(":memory:")
    connection.execute("SET TimeZone = 'UTC'").fetchall()
    for name, table in dataset.tables.items():
        connection.register(name, table)
    connection.execute(f"CREATE TABLE event_name_map AS SELECT * FROM read_csv('{EVENT_NAME_MAP}')").fetchall()
    connection.execute(f"CREATE TABLE bot_patterns AS SELECT * FROM read_csv('{BOT_PATTERNS}')").fetchall()
    return connection


def _rows(connection: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return connection.execute(sql).fetchall()


# --- an independent implementation of the staging rules (first matching reason wins) ---

EVENT_RULES = """
WITH parsed AS (
    SELECT *,
        try_cast("timestamp" AS TIMESTAMPTZ) AS ts,
        try_cast(sent_at AS TIMESTAMPTZ) AS sent,
        coalesce(nullif(trim(anonymous_id), ''), nullif(trim(user_id), '')) AS identifier
    FROM events
), corrected AS (
    SELECT *,
        CASE WHEN sent IS NOT NULL THEN epoch_ms(received_at) - (epoch_ms(sent) - epoch_ms(ts)) ELSE epoch_ms(ts) END
            AS corrected_ms,
        lower(json_extract_string(CASE WHEN json_valid(context) THEN context END, '$.userAgent')) AS ua
    FROM parsed
), ruled AS (
    SELECT *,
        CASE
            WHEN message_id IS NULL OR trim(message_id) = '' THEN 'missing_message_id'
            WHEN coalesce(lower(trim(type)), '') NOT IN ('track', 'page', 'identify', 'screen') THEN 'unknown_message_type'
            WHEN (properties IS NOT NULL AND NOT json_valid(properties))
              OR (traits IS NOT NULL AND NOT json_valid(traits))
              OR (context IS NOT NULL AND NOT json_valid(context)) THEN 'malformed_json'
            WHEN ts IS NULL THEN 'invalid_timestamp'
            WHEN corrected_ms > epoch_ms(received_at) + 60 * 60000::BIGINT THEN 'timestamp_in_future'
            WHEN corrected_ms < epoch_ms(received_at) - 30 * 86400000::BIGINT THEN 'timestamp_too_old'
            WHEN identifier IS NULL THEN 'missing_identifier'
            WHEN lower(trim(type)) = 'track'
             AND coalesce(lower(trim(event)), '') NOT IN (SELECT source_event_name FROM event_name_map)
                THEN 'unknown_event_name'
            WHEN EXISTS (SELECT 1 FROM bot_patterns p WHERE contains(ua, p.pattern)) THEN 'bot_user_agent'
        END AS early_reason
    FROM corrected
), rates AS (
    SELECT identifier, date_trunc('minute', received_at) AS minute
    FROM ruled
    WHERE early_reason IS NULL  -- {rate_scope}
    GROUP BY ALL
    HAVING count(DISTINCT message_id) > 40
)
SELECT coalesce(early_reason, CASE WHEN r.identifier IS NOT NULL THEN 'bot_event_rate' END) AS reason,
       message_id, received_at, ruled.identifier, date_trunc('minute', received_at) AS minute, corrected_ms
FROM ruled
LEFT JOIN rates r ON r.identifier = ruled.identifier AND r.minute = date_trunc('minute', ruled.received_at)
"""

TABLE_RULES = {
    "customers": (
        """CASE WHEN customer_id IS NULL OR trim(customer_id) = '' THEN 'missing_customer_id' END""",
        "trim(customer_id)",
        "updated_at DESC",
    ),
    "orders": (
        """CASE WHEN order_id IS NULL OR trim(order_id) = '' THEN 'missing_order_id'
                WHEN total_amount < 0 THEN 'negative_total'
                WHEN coalesce(lower(trim(status)), '') NOT IN ('completed', 'cancelled', 'refunded') THEN 'unknown_order_status'
                WHEN coalesce(trim(customer_id), '') = '' AND coalesce(trim(email), '') = ''
                 AND coalesce(trim(anonymous_id), '') = '' THEN 'missing_buyer' END""",
        "trim(order_id)",
        "updated_at DESC",
    ),
    "order_items": (
        """CASE WHEN order_id IS NULL OR trim(order_id) = '' THEN 'missing_order_id'
                WHEN product_id IS NULL OR trim(product_id) = '' THEN 'missing_product_id'
                WHEN quantity IS NULL OR quantity <= 0 THEN 'invalid_quantity'
                WHEN unit_price < 0 THEN 'negative_unit_price' END""",
        "trim(order_id), line_number",
        "1",
    ),
    "products": (
        """CASE WHEN product_id IS NULL OR trim(product_id) = '' THEN 'missing_product_id'
                WHEN price < 0 THEN 'negative_price' END""",
        "upper(trim(product_id))",
        "updated_at DESC",
    ),
    "email_events": (
        """CASE WHEN event_id IS NULL OR trim(event_id) = '' THEN 'missing_event_id'
                WHEN coalesce(lower(trim(event_type)), '') NOT IN
                     ('delivered', 'opened', 'clicked', 'bounced', 'unsubscribed', 'spam_complaint')
                    THEN 'unknown_email_event_type'
                WHEN NOT coalesce(regexp_matches(lower(trim(email)), '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'), false)
                    THEN 'invalid_email' END""",
        "trim(event_id)",
        "occurred_at",
    ),
    "consents": (
        """CASE WHEN subject IS NULL OR trim(subject) = '' THEN 'missing_subject'
                WHEN coalesce(lower(trim(status)), '') NOT IN ('granted', 'withdrawn') THEN 'unknown_consent_status'
                WHEN coalesce(lower(trim(channel)), '') NOT IN ('email', 'sms') THEN 'unknown_channel' END""",
        "trim(consent_id)",
        "occurred_at",
    ),
    "privacy_requests": (
        """CASE WHEN subject IS NULL OR trim(subject) = '' THEN 'missing_subject' END""",
        "trim(request_id)",
        "requested_at",
    ),
}


def _outcome(
    connection: duckdb.DuckDBPyConnection, table: str, ruled_sql: str, key: str, keep_first: str
) -> dict[str, Any]:
    """Counts per reason, duplicates and staged rows of a ruled relation (column reason)."""
    rows = _rows(
        connection,
        f"""
        WITH ruled AS ({ruled_sql}),
        ranked AS (
            SELECT reason, row_number() OVER (PARTITION BY {key} ORDER BY {keep_first}) AS rank
            FROM ruled WHERE reason IS NULL
        )
        SELECT reason, count(*) FROM ruled WHERE reason IS NOT NULL GROUP BY reason
        UNION ALL SELECT 'duplicates', count(*) FILTER (WHERE rank > 1) FROM ranked
        UNION ALL SELECT 'staged', count(*) FILTER (WHERE rank = 1) FROM ranked
    """,
    )
    counts = dict(rows)
    quarantined = {reason: counts.get(reason, 0) for reason in QUARANTINE_REASONS[table]}
    unexpected = set(counts) - set(quarantined) - {"duplicates", "staged"}
    assert not unexpected, f"{table}: unexpected reasons {unexpected}"
    return {
        "expected_staged_rows": counts["staged"],
        "expected_duplicate_rows": counts["duplicates"],
        "expected_quarantined_rows": quarantined,
    }


def staging_outcome(connection: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    outcome = {"events": _outcome(connection, "events", EVENT_RULES, "message_id", "received_at")}
    for table, (reason, key, keep_first) in TABLE_RULES.items():
        outcome[table] = _outcome(connection, table, f"SELECT *, {reason} AS reason FROM {table}", key, keep_first)
    return outcome


def _expected(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        table: {key: value for key, value in numbers.items() if key != "raw_rows"}
        for table, numbers in manifest["tables"].items()
    }


# --- tests -----------------------------------------------------------------------------


def test_same_seed_gives_identical_tables(dataset: Dataset) -> None:
    again = generate(SMALL)
    for name, table in dataset.tables.items():
        assert table.equals(again.tables[name]), name
    assert again.manifest == dataset.manifest


def test_different_seed_gives_different_tables(dataset: Dataset) -> None:
    other = generate(GeneratorConfig(customers=600, days=14, end_time=END, seed=8))
    for name in ("events", "customers", "orders", "email_events"):
        assert not other.tables[name].equals(dataset.tables[name]), name


def test_schema_matches_raw_contract(dataset: Dataset, tmp_path: Path) -> None:
    sources = yaml.safe_load(SOURCES_YML.read_text())["sources"][0]["tables"]
    contract = {t["name"]: [(c["name"], c["data_type"]) for c in t["columns"]] for t in sources}
    assert contract == {name: list(columns) for name, columns in RAW_TABLES.items()}
    db = tmp_path / "w.duckdb"
    write_duckdb(dataset, db, schema="landing")
    with duckdb.connect(str(db), read_only=True) as connection:
        for name, columns in contract.items():
            found = connection.execute(
                "SELECT column_name, lower(replace(data_type, ' ', '')) FROM information_schema.columns "
                "WHERE table_schema = 'landing' AND table_name = ? ORDER BY ordinal_position",
                [name],
            ).fetchall()
            assert found == columns, name
            count = connection.execute(f"SELECT count(*) FROM landing.{name}").fetchone()
            assert count == (dataset.tables[name].num_rows,)
    assert json.loads((tmp_path / "manifest.json").read_text()) == dataset.manifest


def test_warehouse_holds_exactly_the_assembled_tables(tmp_path: Path) -> None:
    """write_duckdb runs the recipes straight into the warehouse; the result equals the
    Arrow tables assembled in memory."""
    fresh = generate(GeneratorConfig(customers=200, days=5, end_time=END, seed=9))
    db = tmp_path / "fresh.duckdb"
    write_duckdb(fresh, db)
    with duckdb.connect(str(db), read_only=True) as connection:
        for name in RAW_TABLES:
            assert fresh.tables.assembled(name) is None
            written = connection.sql(f"SELECT * FROM raw.{name}").to_arrow_table()
            assert written.equals(fresh.tables[name]), name


def test_a_dataset_without_events_is_written_with_an_empty_events_table(tmp_path: Path) -> None:
    """20 customers over 2 days with seed 2 happen to browse nothing: raw.events is written
    empty, with the contract's columns, instead of failing (it did, building the events)."""
    quiet = generate(GeneratorConfig(customers=20, days=2, end_time=END, seed=2))
    db = tmp_path / "quiet.duckdb"
    write_duckdb(quiet, db)
    with duckdb.connect(str(db), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM raw.events").fetchone() == (0,)
        columns = connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' "
            "AND table_name = 'events' ORDER BY ordinal_position"
        ).fetchall()
        assert [name for (name,) in columns] == [name for name, _ in RAW_TABLES["events"]]
        assert connection.execute("SELECT count(*) FROM raw.customers").fetchone()[0] >= 20
    assert quiet.manifest["tables"]["events"]["raw_rows"] == 0
    assert staging_outcome(_connect(quiet)) == _expected(quiet.manifest)


def test_manifest_invariant_and_reasons(dataset: Dataset) -> None:
    tables = dataset.manifest["tables"]
    assert list(tables) == list(RAW_TABLES)
    for name, numbers in tables.items():
        assert list(numbers["expected_quarantined_rows"]) == list(QUARANTINE_REASONS[name])
        total = numbers["expected_staged_rows"] + numbers["expected_duplicate_rows"]
        assert numbers["raw_rows"] == total + sum(numbers["expected_quarantined_rows"].values())
        assert numbers["raw_rows"] == dataset.tables[name].num_rows
        assert all(count > 0 for count in numbers["expected_quarantined_rows"].values()), name
        assert numbers["expected_duplicate_rows"] > 0, name
    info = dataset.manifest["info"]
    for key in (
        "customers",
        "identified_customers",
        "anonymous_only_visitors",
        "orders",
        "skewed_devices",
        "late_events",
        "duplicate_crm_persons",
        "invalid_crm_emails",
    ):
        assert info[key] > 0, key
    json.dumps(dataset.manifest)


def test_manifest_matches_staging_rules(dataset: Dataset, con: duckdb.DuckDBPyConnection) -> None:
    assert staging_outcome(con) == _expected(dataset.manifest)


def test_manifest_matches_staging_rules_with_heavy_mess() -> None:
    heavy = generate(GeneratorConfig(customers=300, days=7, end_time=END, seed=3, mess_scale=4.0))
    assert staging_outcome(_connect(heavy)) == _expected(heavy.manifest)


def test_bot_event_rate_counts_the_same_over_all_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Whether staging counts per-minute messages over all rows or only rows passing the
    earlier rules, the same rows are over the limit."""
    over_all = EVENT_RULES.replace("WHERE early_reason IS NULL  -- {rate_scope}", "WHERE TRUE")
    ruled_over_clean = f"SELECT count(*) FROM ({EVENT_RULES}) WHERE reason = 'bot_event_rate'"
    ruled_over_all = f"SELECT count(*) FROM ({over_all}) WHERE reason = 'bot_event_rate'"
    assert _rows(con, ruled_over_clean) == _rows(con, ruled_over_all)


def test_mess_scale_zero_is_clean() -> None:
    clean = generate(GeneratorConfig(customers=300, days=7, end_time=END, seed=5, mess_scale=0))
    for name, numbers in clean.manifest["tables"].items():
        assert numbers["expected_duplicate_rows"] == 0, name
        assert set(numbers["expected_quarantined_rows"].values()) == {0}, name
        assert numbers["expected_staged_rows"] == numbers["raw_rows"], name
    connection = _connect(clean)
    outcome = staging_outcome(connection)
    assert outcome == _expected(clean.manifest)
    canonical = ", ".join(f"'{name}'" for name in TRACK_NAMES)
    assert _rows(connection, f"SELECT count(*) FROM events WHERE type = 'track' AND event NOT IN ({canonical})") == [
        (0,)
    ]
    assert _rows(connection, "SELECT count(*) FROM order_items WHERE product_id <> upper(trim(product_id))") == [(0,)]
    assert _rows(connection, "SELECT count(*) FROM customers WHERE email <> lower(trim(email))") == [(0,)]


def test_timestamps_within_window(dataset: Dataset, con: duckdb.DuckDBPyConnection) -> None:
    start = END - timedelta(days=SMALL.days)
    received = _rows(
        con, "SELECT min(received_at), max(received_at), count(*) FILTER (WHERE received_at IS NULL) FROM events"
    )
    assert received[0][0] >= start and received[0][1] <= END and received[0][2] == 0
    corrected = _rows(con, f"SELECT min(corrected_ms), max(corrected_ms) FROM ({EVENT_RULES}) WHERE reason IS NULL")
    assert (
        corrected[0][0] >= start.timestamp() * 1000 - 0
        and corrected[0][1] <= END.replace(tzinfo=None).timestamp() * 1000 + 1
    )
    for table, column in (
        ("email_events", "occurred_at"),
        ("orders", "updated_at"),
        ("customers", "updated_at"),
        ("products", "updated_at"),
        ("consents", "occurred_at"),
        ("privacy_requests", "requested_at"),
    ):
        assert _rows(con, f"SELECT max({column}) <= TIMESTAMP '{END}' FROM {table}") == [(True,)], table
    assert _rows(con, f"SELECT min(occurred_at) >= TIMESTAMP '{start}' FROM email_events") == [(True,)]
    last_day = _rows(con, f"SELECT count(*) FROM events WHERE received_at > TIMESTAMP '{END - timedelta(hours=24)}'")
    assert last_day[0][0] > 0.02 * dataset.tables["events"].num_rows


def test_clean_events_are_human_paced_and_clock_corrected(con: duckdb.DuckDBPyConnection) -> None:
    busiest = _rows(
        con,
        f"""
        SELECT max(n) FROM (
            SELECT identifier, minute, count(DISTINCT message_id) AS n
            FROM ({EVENT_RULES}) WHERE reason IS NULL GROUP BY ALL)
    """,
    )
    assert busiest[0][0] <= 20
    # clock skew: text timestamps of skewed devices differ from received_at by minutes or hours
    skewed = _rows(
        con,
        f"""
        SELECT count(DISTINCT identifier) FROM ({EVENT_RULES}) e JOIN events USING (message_id)
        WHERE reason IS NULL AND abs(epoch_ms(try_cast(events."timestamp" AS TIMESTAMPTZ)) - corrected_ms) > 60000
    """,
    )
    assert skewed[0][0] > 0


def test_orders_match_events_and_add_up(con: duckdb.DuckDBPyConnection) -> None:
    mismatched = _rows(
        con,
        f"""
        WITH completed AS (
            SELECT json_extract_string(properties, '$.order_id') AS order_id, corrected_ms
            FROM ({EVENT_RULES}) e JOIN events USING (message_id)
            WHERE reason IS NULL AND lower(trim(event)) IN ('order completed', 'purchase', 'order complete', 'completed order')
        )
        SELECT count(*) FILTER (WHERE o.order_id IS NULL OR epoch_ms(o.created_at) <> c.corrected_ms), count(*)
        FROM completed c LEFT JOIN orders o USING (order_id)
    """,
    )
    # orders quarantined or mutated by injected anomalies may be missing; all others match exactly
    assert mismatched[0][1] > 0 and mismatched[0][0] <= 0.02 * mismatched[0][1]
    wrong_totals = _rows(
        con,
        """
        WITH lines AS (SELECT order_id, sum(quantity * unit_price) AS subtotal FROM
                       (SELECT DISTINCT * FROM order_items) GROUP BY order_id)
        SELECT count(*) FILTER (WHERE o.total_amount <> l.subtotal - o.discount_amount + o.shipping_amount), count(*)
        FROM orders o JOIN lines l USING (order_id) WHERE o.total_amount >= 0
    """,
    )
    assert wrong_totals[0][1] > 0 and wrong_totals[0][0] <= 0.02 * wrong_totals[0][1]
    statuses = dict(_rows(con, "SELECT status, count(*) FROM orders GROUP BY status"))
    assert statuses["completed"] > 10 * (statuses["cancelled"] + statuses["refunded"])


def test_vocabularies_agree_with_seeds() -> None:
    with EVENT_NAME_MAP.open() as handle:
        accepted = {row["source_event_name"] for row in csv.DictReader(handle)}
    with BOT_PATTERNS.open() as handle:
        patterns = [row["pattern"] for row in csv.DictReader(handle)]
    for name, aliases in TRACK_NAMES.items():
        assert {n.strip().lower() for n in (name, *aliases)} <= accepted, name
    assert not {n.strip().lower() for n in UNKNOWN_EVENT_NAMES} & accepted
    for agent in BROWSER_USER_AGENTS:
        assert not any(p in agent.lower() for p in patterns), agent
    for agent in BOT_USER_AGENTS:
        assert any(p in agent.lower() for p in patterns), agent


def test_events_target_is_met() -> None:
    dataset = generate(GeneratorConfig(customers=500, days=10, end_time=END, events=20_000))
    assert 0.9 * 20_000 <= dataset.tables["events"].num_rows <= 1.1 * 20_000


def test_invalid_config_fails_with_actionable_message() -> None:
    with pytest.raises(ValueError, match="--customers"):
        GeneratorConfig(customers=5)
    with pytest.raises(ValueError, match="--days"):
        GeneratorConfig(days=0)
    with pytest.raises(ValueError, match="--mess-scale"):
        GeneratorConfig(mess_scale=-1)
    with pytest.raises(ValueError, match="lower --mess-scale"):
        GeneratorConfig(mess_scale=500)
    with pytest.raises(ValueError, match="between 0 and 1"):
        MessConfig(events_duplicates=2.0)


def test_files_and_append(dataset: Dataset, tmp_path: Path) -> None:
    for fmt in ("parquet", "ndjson"):
        manifest = write_files(dataset, tmp_path / fmt, fmt=fmt)
        assert manifest == tmp_path / fmt / "manifest.json"
        reader = "read_parquet" if fmt == "parquet" else "read_json_auto"
        with duckdb.connect() as connection:
            for name, table in dataset.tables.items():
                path = tmp_path / fmt / f"{name}.{fmt}"
                assert connection.execute(f"SELECT count(*) FROM {reader}('{path}')").fetchone() == (table.num_rows,)
    db = tmp_path / "a.duckdb"
    write_duckdb(dataset, db)
    write_duckdb(dataset, db, mode="append")
    with duckdb.connect(str(db), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM raw.orders").fetchone() == (
            2 * dataset.tables["orders"].num_rows,
        )


def test_cli_generates_and_reports(tmp_path: Path) -> None:
    runner = CliRunner()
    db = tmp_path / "cli.duckdb"
    result = runner.invoke(
        main,
        [
            "generate",
            "--db",
            str(db),
            "--customers",
            "200",
            "--days",
            "5",
            "--seed",
            "1",
            "--end-time",
            "2026-11-22T12:00:00Z",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "events" in result.output and "manifest:" in result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config"]["end_time"] == "2026-11-22T12:00:00"
    bad = runner.invoke(main, ["generate", "--db", str(db), "--customers", "3"])
    assert bad.exit_code != 0 and "--customers" in bad.output
    bad_time = runner.invoke(main, ["generate", "--end-time", "yesterday"])
    assert bad_time.exit_code != 0 and "ISO-8601" in bad_time.output
    bad_append = runner.invoke(main, ["generate", "--format", "parquet", "--append"])
    assert bad_append.exit_code != 0 and "--append only applies" in bad_append.output
    assert runner.invoke(main, ["generate", "--help"]).exit_code == 0
