"""The raw contract (models/staging/_raw__sources.yml) as code: tables, columns, types,
and the staging quarantine reasons per table in priority order (first match wins)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import pyarrow as pa

Columns = tuple[tuple[str, str], ...]

RAW_TABLES: Final[dict[str, Columns]] = {
    "events": (
        ("message_id", "varchar"),
        ("type", "varchar"),
        ("event", "varchar"),
        ("anonymous_id", "varchar"),
        ("user_id", "varchar"),
        ("timestamp", "varchar"),
        ("sent_at", "varchar"),
        ("received_at", "timestamp"),
        ("properties", "varchar"),
        ("traits", "varchar"),
        ("context", "varchar"),
    ),
    "customers": (
        ("customer_id", "varchar"),
        ("email", "varchar"),
        ("first_name", "varchar"),
        ("last_name", "varchar"),
        ("birth_date", "varchar"),
        ("city", "varchar"),
        ("country", "varchar"),
        ("created_at", "timestamp"),
        ("updated_at", "timestamp"),
    ),
    "orders": (
        ("order_id", "varchar"),
        ("customer_id", "varchar"),
        ("email", "varchar"),
        ("anonymous_id", "varchar"),
        ("status", "varchar"),
        ("currency", "varchar"),
        ("total_amount", "decimal(18,2)"),
        ("discount_amount", "decimal(18,2)"),
        ("shipping_amount", "decimal(18,2)"),
        ("created_at", "timestamp"),
        ("updated_at", "timestamp"),
    ),
    "order_items": (
        ("order_id", "varchar"),
        ("line_number", "integer"),
        ("product_id", "varchar"),
        ("quantity", "integer"),
        ("unit_price", "decimal(18,2)"),
    ),
    "products": (
        ("product_id", "varchar"),
        ("name", "varchar"),
        ("category", "varchar"),
        ("price", "decimal(18,2)"),
        ("currency", "varchar"),
        ("image_url", "varchar"),
        ("product_url", "varchar"),
        ("stock_quantity", "integer"),
        ("updated_at", "timestamp"),
    ),
    "email_events": (
        ("event_id", "varchar"),
        ("email", "varchar"),
        ("campaign_id", "varchar"),
        ("event_type", "varchar"),
        ("occurred_at", "timestamp"),
        ("url", "varchar"),
        ("bounce_type", "varchar"),
    ),
    "consents": (
        ("consent_id", "varchar"),
        ("subject_type", "varchar"),
        ("subject", "varchar"),
        ("channel", "varchar"),
        ("status", "varchar"),
        ("source", "varchar"),
        ("occurred_at", "timestamp"),
    ),
    "privacy_requests": (
        ("request_id", "varchar"),
        ("subject_type", "varchar"),
        ("subject", "varchar"),
        ("request_type", "varchar"),
        ("requested_at", "timestamp"),
    ),
}

# Staging quarantine reasons in priority order, per raw table.
QUARANTINE_REASONS: Final[dict[str, tuple[str, ...]]] = {
    "events": (
        "missing_message_id",
        "unknown_message_type",
        "malformed_json",
        "invalid_timestamp",
        "timestamp_in_future",
        "timestamp_too_old",
        "missing_identifier",
        "unknown_event_name",
        "bot_user_agent",
        "bot_event_rate",
    ),
    "customers": ("missing_customer_id",),
    "orders": ("missing_order_id", "negative_total", "unknown_order_status", "missing_buyer"),
    "order_items": ("missing_order_id", "missing_product_id", "invalid_quantity", "negative_unit_price"),
    "products": ("missing_product_id", "negative_price"),
    "email_events": ("missing_event_id", "unknown_email_event_type", "invalid_email"),
    "consents": ("missing_subject", "unknown_consent_status", "unknown_channel"),
    "privacy_requests": ("missing_subject",),
}


def anomaly_is(table: str, reason: str) -> str:
    """SQL condition on the ``anomaly`` marker column: the row was injected to be
    quarantined for ``reason`` (markers are 1-based positions in QUARANTINE_REASONS)."""
    return f"anomaly = {QUARANTINE_REASONS[table].index(reason) + 1}"


_ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "varchar": pa.string(),
    "timestamp": pa.timestamp("us"),
    "decimal(18,2)": pa.decimal128(18, 2),
    "integer": pa.int32(),
}


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema a raw table must have."""
    return pa.schema([pa.field(name, _ARROW_TYPES[kind]) for name, kind in RAW_TABLES[table]])


def ddl_columns(table: str, compression: Mapping[str, str] | None = None) -> str:
    """Column list for CREATE TABLE, e.g. ``"message_id" VARCHAR, ...``; ``compression``
    names a DuckDB storage compression for some columns (the type is unchanged)."""
    storage = compression or {}
    return ", ".join(
        f'"{name}" {kind.upper()}' + (f" USING COMPRESSION {storage[name]}" if name in storage else "")
        for name, kind in RAW_TABLES[table]
    )


def contract_select(table: str, relation_sql: str) -> str:
    """SELECT of exactly the contract columns of ``table``, cast to their types, from a
    subquery."""
    columns = ", ".join(f'CAST("{name}" AS {kind.upper()}) AS "{name}"' for name, kind in RAW_TABLES[table])
    return f"SELECT {columns} FROM ({relation_sql})"
