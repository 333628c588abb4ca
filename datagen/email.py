"""ESP activity: twice-weekly campaigns to customers with email consent, and the webhook
events they cause (delivered, bounced, opened, clicked, unsubscribed, spam_complaint);
raw.email_events rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from datagen.arrays import (
    MS_PER_DAY,
    MS_PER_HOUR,
    MS_PER_MINUTE,
    MS_PER_SECOND,
    Frame,
    concat,
    dictionary,
    timestamps,
)
from datagen.consent import ConsentPlan
from datagen.contract import anomaly_is
from datagen.duck import Assembler, Recipe, sql_list
from datagen.people import People, email_cases, preferred_category
from datagen.vocab import CATEGORIES, ESP_INVALID_EMAILS, SHOP_URL, UNKNOWN_EMAIL_EVENT_TYPES

CAMPAIGNS_PER_WEEK = 2
THEMES = ("weekly_edit", "new_in", "sale", "restock", "style_guide")
SEND_HOUR_MS = 8 * MS_PER_HOUR  # campaigns go out from 08:00 UTC ...
SEND_SPREAD_MS = 2 * MS_PER_HOUR  # ... throttled over two hours
BOUNCE_SHARE = 0.02
HARD_BOUNCE_SHARE = 0.3
OPEN_SHARE = 0.25  # of delivered
CLICK_SHARE = 0.2  # of opened (5% of delivered)
UNSUBSCRIBE_SHARE = 0.003
SPAM_SHARE = 0.0005
EVENT_TYPES = ("delivered", "opened", "clicked", "bounced", "unsubscribed", "spam_complaint")
DELIVERED, OPENED, CLICKED, BOUNCED, UNSUBSCRIBED, SPAM = range(6)
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class EmailActivity:
    """ESP webhook events (columns customer, campaign, type, occurred_ms, category, hard)
    and, per customer, when they used an unsubscribe link (-1 never)."""

    events: Frame
    campaign_ms: np.ndarray
    campaign_theme: np.ndarray
    unsubscribed_ms: np.ndarray


def campaign_times(days: int, start_ms: int, end_ms: int, rng: np.random.Generator) -> np.ndarray:
    count = max(1, round(days * CAMPAIGNS_PER_WEEK / 7))
    middle = start_ms + ((np.arange(count) + 0.5) * (end_ms - start_ms) / count).astype(np.int64)
    morning = middle // MS_PER_DAY * MS_PER_DAY + SEND_HOUR_MS + rng.integers(0, MS_PER_HOUR, count)
    return np.where((morning >= start_ms) & (morning <= end_ms), morning, middle)


def simulate(
    plan: ConsentPlan, people: People, days: int, start_ms: int, end_ms: int, rng: np.random.Generator
) -> EmailActivity:
    """Send each campaign to everyone subscribed at send time; hard bounces, unsubscribes
    and spam complaints stop later sends. Events after ``end_ms`` have not happened yet."""
    times = campaign_times(days, start_ms, end_ms, rng)
    granted = plan.email_granted_ms
    cutoff = np.where(plan.email_withdrawn_ms >= 0, plan.email_withdrawn_ms, NEVER)
    opted_out = np.zeros(len(granted), dtype=bool)
    unsubscribed = np.full(len(granted), -1, dtype=np.int64)
    parts: list[Frame] = []
    for campaign, at in enumerate(times):
        audience = np.flatnonzero((granted >= 0) & (granted <= at) & (cutoff > at))
        m = len(audience)
        sent = at + rng.integers(0, SEND_SPREAD_MS, m)
        bounced = rng.random(m) < BOUNCE_SHARE
        hard = bounced & (rng.random(m) < HARD_BOUNCE_SHARE)
        arrived = sent + rng.integers(MS_PER_SECOND, MS_PER_MINUTE, m)
        delivered = ~bounced
        opened = delivered & (rng.random(m) < OPEN_SHARE)
        open_at = arrived + rng.exponential(5 * MS_PER_HOUR, m).astype(np.int64)
        clicked = opened & (rng.random(m) < CLICK_SHARE)
        click_at = open_at + rng.integers(5 * MS_PER_SECOND, 20 * MS_PER_MINUTE, m)
        may_leave = delivered & ~opted_out[audience]
        leave_at = arrived + rng.exponential(8 * MS_PER_HOUR, m).astype(np.int64)
        in_time = (leave_at <= end_ms) & (leave_at < cutoff[audience])
        unsubscribe = may_leave & in_time & (rng.random(m) < UNSUBSCRIBE_SHARE)
        spam = may_leave & in_time & ~unsubscribe & (rng.random(m) < SPAM_SHARE)

        unsubscribed[audience[unsubscribe]] = leave_at[unsubscribe]
        cutoff[audience[unsubscribe | spam]] = leave_at[unsubscribe | spam]
        cutoff[audience[hard]] = sent[hard]
        opted_out[audience[unsubscribe | spam]] = True
        for kind, mask, when in (
            (DELIVERED, delivered, arrived),
            (BOUNCED, bounced, arrived),
            (OPENED, opened, open_at),
            (CLICKED, clicked, click_at),
            (UNSUBSCRIBED, unsubscribe, leave_at),
            (SPAM, spam, leave_at),
        ):
            rows = np.flatnonzero(mask & (when <= end_ms))
            parts.append(
                {
                    "customer": audience[rows],
                    "campaign": np.full(len(rows), campaign, dtype=np.int16),
                    "type": np.full(len(rows), kind, dtype=np.int8),
                    "occurred_ms": when[rows],
                    "hard": hard[rows],
                }
            )
    events = concat(parts)
    events["category"] = preferred_category(people, events["customer"], rng)
    return EmailActivity(
        events=events,
        campaign_ms=times,
        campaign_theme=rng.integers(0, len(THEMES), len(times)).astype(np.int8),
        unsubscribed_ms=unsubscribed,
    )


def email_frame(activity: EmailActivity, customers: int, case_rate: float, rng: np.random.Generator) -> Frame:
    """Clean webhook rows; the ESP keeps each address as imported (some mixed-case)."""
    frame = dict(activity.events)
    count = len(frame["customer"])
    case = email_cases(rng, customers, case_rate)
    frame.update(
        {
            "email_case": case[frame["customer"]],
            "anomaly": np.zeros(count, dtype=np.int8),
            "variant": np.zeros(count, dtype=np.int8),
        }
    )
    return frame


def campaign_ids(activity: EmailActivity, assembler: Assembler) -> pa.Array:
    frame = pa.table({"sent_at": timestamps(activity.campaign_ms), "theme": activity.campaign_theme})
    result = assembler.query(
        f"SELECT 'CMP-' || strftime(sent_at, '%Y%m%d') || '-' || {sql_list(THEMES)}[theme + 1] AS id FROM frame",
        frame=frame,
    )
    return result["id"].combine_chunks()


def email_events_table(frame: Frame, email: pa.Array, campaigns: pa.Array) -> Recipe:
    """raw.email_events. Anomalies: 1 missing event id, 2 unknown type, 3 invalid email."""
    rows = pa.table(
        {
            "hi": frame["id_hi"],
            "lo": frame["id_lo"],
            "email": dictionary(frame["customer"], email),
            "email_case": frame["email_case"],
            "campaign_id": dictionary(frame["campaign"], campaigns),
            "type": frame["type"],
            "occurred_at": timestamps(frame["occurred_ms"]),
            "category": frame["category"],
            "hard": frame["hard"],
            "anomaly": frame["anomaly"],
            "variant": frame["variant"],
        }
    )
    return Recipe(
        "email_events",
        f"""
        SELECT
            CASE WHEN {anomaly_is("email_events", "missing_event_id")} THEN [NULL, '', '  '][variant + 1] ELSE uuid_text(hi, lo) END AS event_id,
            CASE WHEN {anomaly_is("email_events", "invalid_email")} THEN {sql_list(ESP_INVALID_EMAILS)}[variant + 1]
                 ELSE email_variant(email, email_case) END AS email,
            campaign_id,
            CASE WHEN {anomaly_is("email_events", "unknown_email_event_type")} THEN {sql_list(UNKNOWN_EMAIL_EVENT_TYPES)}[variant + 1]
                 ELSE {sql_list(EVENT_TYPES)}[type + 1] END AS event_type,
            occurred_at,
            CASE WHEN type = {CLICKED} THEN '{SHOP_URL}/c/' || {sql_list([c.slug for c in CATEGORIES])}[category + 1]
                 || '?utm_source=newsletter&utm_medium=email&utm_campaign=' || campaign_id END AS url,
            CASE WHEN type = {BOUNCED} THEN CASE WHEN hard THEN 'hard' ELSE 'soft' END END AS bounce_type
        FROM dg_rows
        """,
        {"dg_rows": rows},
    )
