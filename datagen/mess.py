"""Anomaly injection and the exact staging outcome it implies.

Every injected anomaly lands on its own, otherwise clean row (a mutated row, or a mutated
copy of a clean row for dimension-like tables), so each triggers exactly the named
staging reason and no earlier one. Rows are marked with ``anomaly`` (1-based position of
the reason in contract.QUARANTINE_REASONS) and a ``variant``; numeric changes happen
here, string changes in each table's SQL. Duplicates are copies staging must collapse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datagen.arrays import (
    MS_PER_DAY,
    MS_PER_MINUTE,
    MS_PER_SECOND,
    Frame,
    concat,
    group_cumsum,
    pick_disjoint,
    ragged,
    take,
    uuid_parts,
)
from datagen.behaviour import FIRST_TRACK_KIND, LAST_TRACK_KIND, Kind
from datagen.catalog import Catalog
from datagen.config import MessConfig, injected_count
from datagen.contract import QUARANTINE_REASONS
from datagen.people import email_cases
from datagen.streams import IdStream
from datagen.vocab import (
    BOT_USER_AGENTS,
    BROWSER_USER_AGENTS,
    CATEGORIES,
    ESP_INVALID_EMAILS,
    INVALID_TIMESTAMPS,
    TRACK_NAMES,
    UNKNOWN_CHANNELS,
    UNKNOWN_CONSENT_STATUSES,
    UNKNOWN_EMAIL_EVENT_TYPES,
    UNKNOWN_EVENT_NAMES,
    UNKNOWN_MESSAGE_TYPES,
    UNKNOWN_ORDER_STATUSES,
)

BLANK_VARIANTS = 3  # NULL, '', '  '
CRAWLER_EVENTS = 400  # page views per crawler
RATE_BOT_MINUTES = 5  # whole minutes per rate bot
FAR_MIN_MS = 400 * MS_PER_DAY  # timestamp_in_future / _too_old: the client timestamp is off
FAR_MAX_MS = 2000 * MS_PER_DAY  # by 400 .. 2000 days
MAX_REDELIVERY_DELAY_MS = 10 * MS_PER_MINUTE
# Number of variants of each marked anomaly (see the table SQL for what they are).
ORDER_VARIANTS = {
    "missing_order_id": BLANK_VARIANTS,
    "negative_total": 1,
    "unknown_order_status": len(UNKNOWN_ORDER_STATUSES),
    "missing_buyer": BLANK_VARIANTS,
}
ORDER_ITEM_VARIANTS = {
    "missing_order_id": BLANK_VARIANTS,
    "missing_product_id": BLANK_VARIANTS,
    "invalid_quantity": 3,  # NULL, 0, -1
    "negative_unit_price": 1,
}
PRODUCT_VARIANTS = {"missing_product_id": BLANK_VARIANTS, "negative_price": 1}
CONSENT_VARIANTS = {
    "missing_subject": BLANK_VARIANTS,
    "unknown_consent_status": len(UNKNOWN_CONSENT_STATUSES),
    "unknown_channel": len(UNKNOWN_CHANNELS),
}
EMAIL_EVENT_VARIANTS = {
    "missing_event_id": BLANK_VARIANTS,
    "unknown_email_event_type": len(UNKNOWN_EMAIL_EVENT_TYPES),
    "invalid_email": len(ESP_INVALID_EMAILS),
}
# Events: bot_user_agent and bot_event_rate are extra rows from bots instead.
EVENT_VARIANTS = {
    "missing_message_id": BLANK_VARIANTS,
    "unknown_message_type": len(UNKNOWN_MESSAGE_TYPES),
    "malformed_json": 2,  # context truncated, or properties / traits truncated
    "invalid_timestamp": 1 + len(INVALID_TIMESTAMPS),  # NULL or unparseable text
    "timestamp_in_future": 1,
    "timestamp_too_old": 1,
    "missing_identifier": 3,  # anonymous_id and user_id NULL or blank
    "unknown_event_name": len(UNKNOWN_EVENT_NAMES),
}
# Event columns whose "none" value is -1 (the others default to 0).
EVENT_MINUS_ONE = ("person", "user", "category", "product", "order", "campaign", "referrer", "session_id_ms")


@dataclass(frozen=True)
class Expectation:
    """What staging must make of a raw table."""

    raw_rows: int
    duplicate_rows: int
    quarantined: dict[str, int]

    @property
    def staged_rows(self) -> int:
        return self.raw_rows - self.duplicate_rows - sum(self.quarantined.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "raw_rows": self.raw_rows,
            "expected_staged_rows": self.staged_rows,
            "expected_duplicate_rows": self.duplicate_rows,
            "expected_quarantined_rows": dict(self.quarantined),
        }


def _rows(frame: Frame) -> int:
    return len(frame["anomaly"])


def _counts(rates: MessConfig, table: str, rows: int) -> list[int]:
    return [injected_count(rates.rate(table, reason), rows) for reason in QUARANTINE_REASONS[table]]


def _mark(
    frame: Frame, table: str, picks: Mapping[str, np.ndarray], variants: Mapping[str, int], rng: np.random.Generator
) -> None:
    """Mark the rows picked for each reason with its marker and a random variant below
    ``variants[reason]`` (on fresh copies of the marker columns, so callers' arrays stay
    untouched)."""
    frame["anomaly"] = frame["anomaly"].copy()
    frame["variant"] = frame["variant"].copy()
    for reason, rows in picks.items():
        frame["anomaly"][rows] = QUARANTINE_REASONS[table].index(reason) + 1
        frame["variant"][rows] = rng.integers(0, variants[reason], len(rows))


def _picks(table: str, rows: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Rows picked per reason, from picks listed in QUARANTINE_REASONS order."""
    return dict(zip(QUARANTINE_REASONS[table], rows, strict=True))


def _expect(table: str, frame: Frame, duplicates: int, quarantined: Sequence[int]) -> Expectation:
    """Expectation for ``frame`` given duplicates and quarantined rows per reason, in order."""
    reasons = QUARANTINE_REASONS[table]
    return Expectation(_rows(frame), duplicates, dict(zip(reasons, quarantined, strict=True)))


def _later(rng: np.random.Generator, updated: np.ndarray, end_ms: int, most: int) -> np.ndarray:
    """A time strictly after ``updated`` (>= 1 minute), at most ``most`` later and <= end."""
    room = np.minimum(end_ms - updated, most) - MS_PER_MINUTE
    later: np.ndarray = updated + MS_PER_MINUTE + (rng.random(len(updated)) * room).astype(np.int64)
    return later


def _copies_with_anomalies(
    table: str, frame: Frame, rates: MessConfig, variants: Mapping[str, int], rng: np.random.Generator
) -> list[Frame]:
    """Marked copies of distinct clean rows, one group per reason (dimension-like tables)."""
    sources = _picks(table, pick_disjoint(rng, np.arange(_rows(frame)), _counts(rates, table, _rows(frame))))
    copies = []
    for reason, rows in sources.items():
        copy = take(frame, rows)
        _mark(copy, table, {reason: np.arange(len(rows))}, variants, rng)
        copies.append(copy)
    return copies


def inject_products(
    frame: Frame, rates: MessConfig, end_ms: int, rng: np.random.Generator
) -> tuple[Frame, Expectation]:
    """Re-delivered versions (id lower-cased or padded, later updated_at) and mutated copies."""
    n = _rows(frame)
    eligible = np.flatnonzero(frame["updated_ms"] <= end_ms - 2 * MS_PER_MINUTE)
    (again,) = pick_disjoint(rng, eligible, [injected_count(rates.products_duplicates, n)])
    newer = take(frame, again)
    newer["id_style"] = rng.integers(1, 3, len(again)).astype(np.int8)
    newer["updated_ms"] = _later(rng, newer["updated_ms"], end_ms, 30 * MS_PER_DAY)
    newer["stock"] = rng.integers(0, 500, len(again)).astype(np.int32)
    copies = _copies_with_anomalies("products", frame, rates, PRODUCT_VARIANTS, rng)
    result = concat([frame, newer, *copies])
    return result, _expect("products", result, len(again), [_rows(c) for c in copies])


def inject_customers(
    frame: Frame, rates: MessConfig, end_ms: int, rng: np.random.Generator
) -> tuple[Frame, Expectation]:
    """Re-delivered CRM records (later updated_at, maybe moved city) and copies without id."""
    n = _rows(frame)
    eligible = np.flatnonzero(frame["updated_ms"] <= end_ms - 2 * MS_PER_MINUTE)
    (again,) = pick_disjoint(rng, eligible, [injected_count(rates.customers_duplicates, n)])
    newer = take(frame, again)
    newer["updated_ms"] = _later(rng, newer["updated_ms"], end_ms, 60 * MS_PER_DAY)
    moved = rng.random(len(again)) < 0.3
    newer["city"] = np.where(moved, rng.permutation(newer["city"]), newer["city"]).astype(frame["city"].dtype)
    copies = _copies_with_anomalies("customers", frame, rates, {"missing_customer_id": BLANK_VARIANTS}, rng)
    result = concat([frame, newer, *copies])
    return result, _expect("customers", result, len(again), [_rows(c) for c in copies])


def inject_orders(frame: Frame, rates: MessConfig, rng: np.random.Generator) -> tuple[Frame, Expectation]:
    """Cancelled / refunded orders first delivered as completed; anomalies on other orders."""
    frame = dict(frame)
    n = _rows(frame)
    changed = np.flatnonzero(frame["status"] != 0)
    (twice,) = pick_disjoint(rng, changed, [injected_count(rates.orders_duplicates, len(changed))])
    earlier = take(frame, twice)
    earlier["status"][:] = 0
    earlier["updated_ms"] = earlier["created_ms"].copy()
    eligible = frame["total_cents"] > 0
    eligible[twice] = False
    pool = np.flatnonzero(eligible)
    picks = _picks("orders", pick_disjoint(rng, pool, _counts(rates, "orders", n)))
    _mark(frame, "orders", picks, ORDER_VARIANTS, rng)
    result = concat([frame, earlier])
    return result, _expect("orders", result, len(twice), [len(p) for p in picks.values()])


def _inject_with_retries(
    table: str,
    frame: Frame,
    rates: MessConfig,
    duplicate_rate: float,
    variants: Mapping[str, int],
    rng: np.random.Generator,
) -> tuple[Frame, Expectation]:
    """Anomalies on distinct rows, plus exact re-delivered copies of other rows."""
    frame = dict(frame)
    n = _rows(frame)
    *picks, again = pick_disjoint(rng, np.arange(n), [*_counts(rates, table, n), injected_count(duplicate_rate, n)])
    _mark(frame, table, _picks(table, picks), variants, rng)
    result = concat([frame, take(frame, again)])
    return result, _expect(table, result, len(again), [len(p) for p in picks])


def inject_items(frame: Frame, rates: MessConfig, rng: np.random.Generator) -> tuple[Frame, Expectation]:
    """Anomalies on distinct lines; exact re-delivered copies of other lines."""
    return _inject_with_retries("order_items", frame, rates, rates.order_items_duplicates, ORDER_ITEM_VARIANTS, rng)


def inject_email_events(frame: Frame, rates: MessConfig, rng: np.random.Generator) -> tuple[Frame, Expectation]:
    """Anomalies on distinct webhook rows; exact webhook retries of other rows."""
    return _inject_with_retries(
        "email_events", frame, rates, rates.email_events_duplicates, EMAIL_EVENT_VARIANTS, rng
    )


def inject_consents(
    frame: Frame, rates: MessConfig, ids: IdStream, rng: np.random.Generator
) -> tuple[Frame, Expectation]:
    """Mutated copies (new consent ids) of distinct rows; exact copies of others."""
    n = _rows(frame)
    copies = _copies_with_anomalies("consents", frame, rates, CONSENT_VARIANTS, rng)
    for copy in copies:
        copy["id_hi"], copy["id_lo"] = ids.take(_rows(copy))
    (again,) = pick_disjoint(rng, np.arange(n), [injected_count(rates.consents_duplicates, n)])
    result = concat([frame, *copies, take(frame, again)])
    return result, _expect("consents", result, len(again), [_rows(c) for c in copies])


def inject_privacy(
    frame: Frame, rates: MessConfig, ids: IdStream, rng: np.random.Generator
) -> tuple[Frame, Expectation]:
    """Requests without subject (new ids) and exact copies."""
    n = _rows(frame)
    copies = _copies_with_anomalies("privacy_requests", frame, rates, {"missing_subject": BLANK_VARIANTS}, rng)
    for copy in copies:
        copy["id_hi"], copy["id_lo"] = ids.take(_rows(copy))
    (again,) = pick_disjoint(rng, np.arange(n), [injected_count(rates.privacy_requests_duplicates, n)])
    result = concat([frame, *copies, take(frame, again)])
    return result, _expect("privacy_requests", result, len(again), [_rows(c) for c in copies])


# --- events -----------------------------------------------------------------------------

ALIAS_COUNTS = np.array([0] * FIRST_TRACK_KIND + [len(a) for a in TRACK_NAMES.values()] + [0])
PRODUCT_KIND = np.isin(
    np.arange(len(Kind)), [Kind.PRODUCT_VIEWED, Kind.WISHLIST_ADDED, Kind.PRODUCT_ADDED, Kind.PRODUCT_REMOVED]
)


def add_event_noise(frame: Frame, rates: MessConfig, rng: np.random.Generator) -> None:
    """Mess staging normalises: event-name aliases, messy product ids, mixed-case traits."""
    n = len(frame["kind"])
    kind = frame["kind"]
    aliased = (ALIAS_COUNTS[kind] > 0) & (rng.random(n) < rates.noise_event_name_aliases)
    frame["alias"] = np.where(aliased, 1 + (rng.random(n) * ALIAS_COUNTS[kind]).astype(np.int64), 0).astype(np.int8)
    messy = PRODUCT_KIND[kind] & (rng.random(n) < rates.noise_messy_product_ids)
    frame["id_style"] = np.where(messy, rng.integers(1, 3, n), 0).astype(np.int8)
    frame["email_case"] = np.where(kind == Kind.IDENTIFY, email_cases(rng, n, rates.noise_email_case), 0).astype(
        np.int8
    )


def _blank_events(template: Frame, n: int) -> Frame:
    return {
        name: np.full(n, -1 if name in EVENT_MINUS_ONE else 0, dtype=column.dtype) for name, column in template.items()
    }


def _bot_devices(agents: np.ndarray, first: int, device_key: int, rng: np.random.Generator) -> Frame:
    count = len(agents)
    hi, lo = uuid_parts(rng, first, count, device_key)
    return {
        "agent": agents.astype(np.int16),
        "skew_ms": np.zeros(count, dtype=np.int64),
        "offset_min": np.zeros(count, dtype=np.int16),
        "local": np.zeros(count, dtype=bool),
        "net": rng.integers(0, 3, count).astype(np.int32),
        "host": rng.integers(1, 255, count).astype(np.int32),
        "g1": np.zeros(count, dtype=np.int32),
        "g2": np.zeros(count, dtype=np.int32),
        "hi": hi,
        "lo": lo,
    }


def _split(total: int, parts: int) -> np.ndarray:
    """Sizes of ``parts`` nearly equal parts of ``total``."""
    return np.diff(np.linspace(0, total, parts + 1).astype(np.int64))


def _crawlers(
    template: Frame,
    events: int,
    catalog: Catalog,
    first_device: int,
    device_key: int,
    start_ms: int,
    end_ms: int,
    rng: np.random.Generator,
) -> tuple[Frame, Frame]:
    """Crawlers (bot user agents) viewing pages at a human pace, 6-60 s apart."""
    bots = -(-events // CRAWLER_EVENTS)
    bot, position = ragged(_split(events, bots))
    gap = np.where(position == 0, 0, rng.integers(6 * MS_PER_SECOND, 60 * MS_PER_SECOND, events))
    elapsed = group_cumsum(gap, bot)
    span = np.bincount(bot, weights=gap, minlength=bots).astype(np.int64) + MS_PER_SECOND
    begin = start_ms + (rng.random(bots) * np.maximum(end_ms - start_ms - span, 0)).astype(np.int64)
    time = begin[bot] + elapsed
    draw = rng.random(events)
    kind = np.select([draw < 0.6, draw < 0.9], [Kind.PAGE_PRODUCT, Kind.PAGE_CATEGORY], Kind.PAGE_HOME)
    product = rng.integers(0, catalog.count, events)
    category = np.where(kind == Kind.PAGE_PRODUCT, catalog.category[product], rng.integers(0, len(CATEGORIES), events))
    rows = _blank_events(template, events)
    rows.update(
        {
            "device": (first_device + bot).astype(rows["device"].dtype),
            "kind": kind.astype(rows["kind"].dtype),
            "time_ms": time,
            "received_ms": np.minimum(time + rng.integers(30, 500, events), end_ms),
            "product": product.astype(rows["product"].dtype),
            "category": category.astype(rows["category"].dtype),
        }
    )
    agents = len(BROWSER_USER_AGENTS) + rng.integers(0, len(BOT_USER_AGENTS), bots)
    return rows, _bot_devices(agents, first_device, device_key, rng)


def _rate_bots(
    template: Frame,
    events: int,
    catalog: Catalog,
    first_device: int,
    device_key: int,
    start_ms: int,
    end_ms: int,
    rng: np.random.Generator,
) -> tuple[Frame, Frame]:
    """Scripts with a browser user agent firing one event per second for whole minutes
    (60 per received_at minute), so every one of their events is in an over-limit minute."""
    minutes = max(1, round(events / 60)) if events else 0
    bots = -(-minutes // RATE_BOT_MINUTES)
    per_bot = _split(minutes, bots)
    first_minute = -(-start_ms // MS_PER_MINUTE)
    last_minute = end_ms // MS_PER_MINUTE - per_bot  # per bot: last start that still fits
    begin = (first_minute + (rng.random(bots) * (last_minute - first_minute + 1)).astype(np.int64)) * MS_PER_MINUTE
    bot, minute = ragged(per_bot)
    second = np.tile(np.arange(60), len(bot))
    bot, minute = np.repeat(bot, 60), np.repeat(minute, 60)
    count = len(bot)
    time = begin[bot] + minute * MS_PER_MINUTE + second * MS_PER_SECOND + rng.integers(0, 700, count)
    product = rng.integers(0, catalog.count, count)
    rows = _blank_events(template, count)
    rows.update(
        {
            "device": (first_device + bot).astype(rows["device"].dtype),
            "kind": np.where(rng.random(count) < 0.5, Kind.PAGE_PRODUCT, Kind.PRODUCT_VIEWED).astype(
                rows["kind"].dtype
            ),
            "time_ms": time,
            "received_ms": time + rng.integers(0, 250, count),
            "product": product.astype(rows["product"].dtype),
            "category": catalog.category[product].astype(rows["category"].dtype),
            "quantity": np.ones(count, dtype=rows["quantity"].dtype),
            "price_cents": catalog.price_cents[product].astype(rows["price_cents"].dtype),
        }
    )
    agents = rng.integers(0, len(BROWSER_USER_AGENTS), bots)
    return rows, _bot_devices(agents, first_device, device_key, rng)


def inject_events(
    frame: Frame,
    rates: MessConfig,
    catalog: Catalog,
    ids: IdStream,
    first_device: int,
    device_key: int,
    start_ms: int,
    end_ms: int,
    rng: np.random.Generator,
) -> tuple[list[Frame], Frame, Expectation]:
    """Mark anomalies on distinct human events, add duplicate deliveries and bot traffic.

    Returns the rows in parts (humans, re-delivered copies, crawlers, rate bots), the bots'
    devices (numbered from ``first_device``) and the expectation."""
    frame = dict(frame)
    n = len(frame["kind"])
    frame["anomaly"] = np.zeros(n, dtype=np.int8)
    frame["variant"] = np.zeros(n, dtype=np.int8)
    counts = dict(zip(QUARANTINE_REASONS["events"], _counts(rates, "events", n), strict=True))
    anywhere = [reason for reason in EVENT_VARIANTS if reason != "unknown_event_name"]
    picks = dict(zip(anywhere, pick_disjoint(rng, np.arange(n), [counts[r] for r in anywhere]), strict=True))
    taken = np.zeros(n, dtype=bool)
    for rows in picks.values():
        taken[rows] = True
    kind = frame["kind"]
    tracks = np.flatnonzero(~taken & (kind >= FIRST_TRACK_KIND) & (kind <= LAST_TRACK_KIND))
    (picks["unknown_event_name"],) = pick_disjoint(rng, tracks, [counts["unknown_event_name"]])
    taken[picks["unknown_event_name"]] = True
    _mark(frame, "events", picks, EVENT_VARIANTS, rng)
    frame["shift_ms"] = np.zeros(n, dtype=np.int64)
    future, old = picks["timestamp_in_future"], picks["timestamp_too_old"]
    frame["shift_ms"][future] = rng.integers(FAR_MIN_MS, FAR_MAX_MS, len(future))
    frame["shift_ms"][old] = -rng.integers(FAR_MIN_MS, FAR_MAX_MS, len(old))

    redeliverable = np.flatnonzero(~taken & (frame["received_ms"] <= end_ms - MS_PER_SECOND))
    (again,) = pick_disjoint(rng, redeliverable, [injected_count(rates.events_duplicates, n)])
    copies = take(frame, again)
    room = np.minimum(end_ms - copies["received_ms"], MAX_REDELIVERY_DELAY_MS) - MS_PER_SECOND
    copies["received_ms"] = copies["received_ms"] + MS_PER_SECOND + (rng.random(len(again)) * room).astype(np.int64)

    crawl_rows, crawl_devices = _crawlers(
        frame, counts["bot_user_agent"], catalog, first_device, device_key, start_ms, end_ms, rng
    )
    rate_rows, rate_devices = _rate_bots(
        frame,
        counts["bot_event_rate"],
        catalog,
        first_device + len(crawl_devices["agent"]),
        device_key,
        start_ms,
        end_ms,
        rng,
    )
    for bot_rows in (crawl_rows, rate_rows):
        bot_rows["mid_hi"], bot_rows["mid_lo"] = ids.take(len(bot_rows["kind"]))
    parts = [frame, copies, crawl_rows, rate_rows]
    quarantined = {reason: len(picks[reason]) for reason in EVENT_VARIANTS}
    quarantined.update(bot_user_agent=len(crawl_rows["kind"]), bot_event_rate=len(rate_rows["kind"]))
    devices = concat([crawl_devices, rate_devices])
    return parts, devices, Expectation(sum(len(p["kind"]) for p in parts), len(again), quarantined)
