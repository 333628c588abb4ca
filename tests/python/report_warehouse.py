"""A tiny DuckDB warehouse with just the tables `activation report` reads (no dbt build).

Shapes follow the marts' contracts (only the columns the report reads) and
activation.state's real ``runs`` table. Names carry markup on purpose: the
report must escape them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from activation.state import TABLES

AS_OF = datetime(2026, 11, 20, 12, 0, 0)
AS_OF_DATE = AS_OF.date()
HISTORY_DAYS = 5  # segment_sizes_daily from 2026-11-16 to 2026-11-20
EVIL = "<script>alert('x')</script>&\"quoted\""
EVIL_SYNC = "<img src=x onerror=alert(1)>_sync"
EVIL_RFM = "Champions & <b>friends</b>"

# 12 segments: the report draws the 8 largest (as_of's date)
SEGMENTS = [f"segment_{index:02d}" for index in range(11)] + [EVIL]

RFM_NAMES = {
    (5, 5): EVIL_RFM, (5, 4): EVIL_RFM, (5, 3): "Potential Loyalist", (5, 2): "Potential Loyalist", (5, 1): "New",
    (4, 5): "Loyal", (4, 4): "Loyal", (4, 3): "Potential Loyalist", (4, 2): "Potential Loyalist", (4, 1): "Promising",
    (3, 5): "Loyal", (3, 4): "Loyal", (3, 3): "Need Attention", (3, 2): "About to Sleep", (3, 1): "About to Sleep",
    (2, 5): "Can't Lose Them", (2, 4): "At Risk", (2, 3): "At Risk", (2, 2): "Hibernating", (2, 1): "Hibernating",
    (1, 5): "Can't Lose Them", (1, 4): "At Risk", (1, 3): "At Risk", (1, 2): "Hibernating", (1, 1): "Lost",
}
# customers per populated cell (the other cells are empty: still drawn, with 0)
RFM_COUNTS = {(5, 5): 3, (5, 4): 2, (4, 1): 7, (3, 3): 1, (1, 1): 9, (2, 4): 4}

# (product_views, add_to_carts, has_checkout_started, has_purchased, days before as_of)
SESSIONS = (
    [(2, 1, True, True, 0)] * 3       # the whole funnel
    + [(1, 1, True, False, 1)]        # checkout, no purchase
    + [(3, 2, False, False, 2)] * 2   # cart, no checkout
    + [(1, 0, False, False, 3)] * 4   # viewed only
    + [(0, 0, True, True, 1)]         # a purchase without a product view: not in the funnel
    + [(0, 0, False, False, 1)] * 2   # no product view
    + [(5, 5, True, True, 60)]        # outside a 30-day window
)
FUNNEL = [10, 6, 4, 3]

# (sync_name, status, dry_run, sent, failed, unchanged, minutes after as_of)
RUNS = [
    ("klaviyo_profiles", "succeeded", False, 120, 0, 0, 10),
    (EVIL_SYNC, "partial", False, 40, 7, 80, 20),
    ("klaviyo_segments", "dry_run", True, 0, 0, 0, 30),
]


def sizes_rows(first_day_entered: int | None = None) -> list[tuple]:
    """(segment_key, family, date_day, members, entered, exited) for every segment and day.

    Segment i has 10 * (i + 1) members on the first day and grows by i a day; the
    markup-named segment is the largest. `first_day_entered` overrides the entries of the
    first day of the history (the initial members)."""
    rows = []
    start = AS_OF_DATE - timedelta(days=HISTORY_DAYS - 1)
    for index, key in enumerate(SEGMENTS):
        base = 1000 if key == EVIL else 10 * (index + 1)
        for offset in range(HISTORY_DAYS):
            day = start + timedelta(days=offset)
            members = base + index * offset
            entered = (first_day_entered or members) if offset == 0 else index + 2
            exited = 0 if offset == 0 else 2
            rows.append((key, key.split("__")[0], day, members, entered, exited))
    return rows


def make_report_warehouse(
    path: Path,
    *,
    activation: bool = True,
    runs: bool = True,
    seed_map: bool = True,
    sizes: list[tuple] | None = None,
) -> Path:
    con = duckdb.connect(str(path))
    con.execute("begin")  # one commit: a few hundred single-row inserts in milliseconds
    try:
        for schema in ("marts", "seeds"):
            con.execute(f"create schema {schema}")
        con.execute(
            "create table marts.segment_sizes_daily (segment_key varchar, segment_family varchar, date_day date, "
            "members bigint, treatment_members bigint, control_members bigint, entered bigint, exited bigint, "
            "is_partial_day boolean, computed_as_of timestamp)"
        )
        for key, family, day, members, entered, exited in sizes if sizes is not None else sizes_rows():
            con.execute(
                "insert into marts.segment_sizes_daily values (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                [key, family, day, members, members, entered, exited, day == AS_OF_DATE, AS_OF],
            )
        con.execute(
            "create table marts.segment_memberships (customer_key varchar, segment_key varchar, "
            "segment_family varchar, holdout_group varchar, is_holdout boolean, qualified_at timestamp, "
            "computed_as_of timestamp)"
        )
        con.execute(
            "insert into marts.segment_memberships select 'c' || i, 'vip', 'vip', "
            "case when i % 10 = 0 then 'control' else 'treatment' end, i % 10 = 0, ?, ? from range(20) t(i)",
            [AS_OF, AS_OF],
        )
        if seed_map:
            con.execute("create table seeds.rfm_segment_map (r_score integer, f_score integer, rfm_segment varchar)")
            con.executemany("insert into seeds.rfm_segment_map values (?, ?, ?)",
                            [(r, f, name) for (r, f), name in RFM_NAMES.items()])
        con.execute(
            "create table marts.customer_rfm (customer_key varchar, rfm_segment varchar, rfm_cell varchar, "
            "r_score integer, f_score integer, m_score integer, computed_as_of timestamp)"
        )
        number = 0
        for (r, f), count in RFM_COUNTS.items():
            for _ in range(count):
                number += 1
                con.execute(
                    "insert into marts.customer_rfm values (?, ?, ?, ?, ?, 3, ?)",
                    [f"k{number}", RFM_NAMES[(r, f)], f"{r}{f}3", r, f, AS_OF],
                )
        con.execute(
            "create table marts.sessions (session_id varchar, session_start timestamp, session_date date, "
            "product_views bigint, add_to_carts bigint, has_checkout_started boolean, has_purchased boolean)"
        )
        for index, (views, carts, checkout, bought, days_before) in enumerate(SESSIONS):
            start = AS_OF - timedelta(days=days_before, hours=1)
            con.execute("insert into marts.sessions values (?, ?, ?, ?, ?, ?, ?)",
                        [f"s{index}", start, start.date(), views, carts, checkout, bought])
        con.execute("create table marts.customers (customer_key varchar, has_email_marketing_consent boolean)")
        con.execute("insert into marts.customers select 'k' || i, i % 2 = 0 from range(30) t(i)")
        con.execute(
            "create table marts.orders (order_id varchar, is_counted boolean, net_revenue decimal(18, 2), "
            "currency varchar, ordered_at timestamp, order_date date)"
        )
        con.execute(
            "insert into marts.orders values ('o1', true, 10.50, 'EUR', ?, ?), ('o2', true, 20.00, 'EUR', ?, ?), "
            "('o3', false, 0, 'EUR', ?, ?)",
            [AS_OF, AS_OF.date()] * 3,
        )
        if activation:
            con.execute("create schema activation")
            con.execute(f"create table activation.runs ({TABLES['runs']})")
            for index, (name, status, dry_run, sent, failed, unchanged, minutes) in enumerate(RUNS if runs else []):
                started = AS_OF + timedelta(minutes=minutes)
                con.execute(
                    "insert into activation.runs (run_id, sync_name, mode, destination, status, dry_run, "
                    "full_resync, started_at, finished_at, sent, acknowledged, failed, unchanged) "
                    "values (?, ?, 'upsert_profiles', 'klaviyo', ?, ?, false, ?, ?, ?, ?, ?, ?)",
                    [f"run{index}", name, status, dry_run, started, started + timedelta(seconds=5), sent,
                     sent - failed, failed, unchanged],
                )
        con.execute("commit")
    finally:
        con.close()
    return path


def window_days(days: int) -> list[date]:
    first = max(AS_OF_DATE - timedelta(days=days - 1), AS_OF_DATE - timedelta(days=HISTORY_DAYS - 1))
    return [first + timedelta(days=offset) for offset in range((AS_OF_DATE - first).days + 1)]
