"""Marketing consents (grants at sign-up, later withdrawals) and data-subject deletion
requests; raw.consents and raw.privacy_requests rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from datagen.arrays import MS_PER_DAY, Frame, concat, dictionary, pick_disjoint, timestamps
from datagen.config import injected_count
from datagen.contract import anomaly_is
from datagen.duck import Recipe, sql_list
from datagen.people import email_cases
from datagen.vocab import UNKNOWN_CHANNELS, UNKNOWN_CONSENT_STATUSES

EMAIL_CONSENT_SHARE = 0.7
SMS_CONSENT_SHARE = 0.25
EMAIL_SUBJECT_SHARE = 0.3  # consents recorded against the email address instead of the id
CHECKOUT_SOURCE_SHARE = 0.25
EMAIL_WITHDRAWAL_SHARE = 0.03  # preference-centre withdrawals (unsubscribe links come on top)
SMS_WITHDRAWAL_SHARE = 0.05
PRIVACY_REQUEST_SHARE = 0.002
PRIVACY_EMAIL_SUBJECT_SHARE = 0.4
CHANNELS = ("email", "sms")
STATUSES = ("granted", "withdrawn")
SOURCES = ("signup_form", "checkout", "preference_center", "unsubscribe_link", "support")
SUBJECT_TYPES = ("customer_id", "email")


@dataclass(frozen=True)
class ConsentPlan:
    """Per customer: email consent granted / withdrawn in the preference centre (-1 never),
    how consents are recorded (subject type), and sms consent."""

    email_granted_ms: np.ndarray
    email_withdrawn_ms: np.ndarray
    email_source: np.ndarray  # int8 index into SOURCES
    subject_type: np.ndarray  # int8 index into SUBJECT_TYPES
    sms_granted_ms: np.ndarray
    sms_withdrawn_ms: np.ndarray
    sms_source: np.ndarray


def plan_consents(
    created_ms: np.ndarray, invalid_email: np.ndarray, start_ms: int, end_ms: int, rng: np.random.Generator
) -> ConsentPlan:
    n = len(created_ms)
    source = np.where(rng.random(n) < CHECKOUT_SOURCE_SHARE, 1, 0).astype(np.int8)
    granted_at = np.minimum(end_ms, created_ms + np.where(source == 1, rng.integers(0, MS_PER_DAY, n), 0))
    email = ~invalid_email & (rng.random(n) < EMAIL_CONSENT_SHARE)
    sms = rng.random(n) < SMS_CONSENT_SHARE

    def withdrawals(granted: np.ndarray, share: float) -> np.ndarray:
        earliest = np.maximum(granted, start_ms)
        at = earliest + (rng.random(n) * (end_ms - earliest)).astype(np.int64)
        return np.where((granted >= 0) & (rng.random(n) < share), at, -1)

    email_granted = np.where(email, granted_at, -1)
    sms_granted = np.where(sms, granted_at, -1)
    return ConsentPlan(
        email_granted_ms=email_granted,
        email_withdrawn_ms=withdrawals(email_granted, EMAIL_WITHDRAWAL_SHARE),
        email_source=source,
        subject_type=np.where(rng.random(n) < EMAIL_SUBJECT_SHARE, 1, 0).astype(np.int8),
        sms_granted_ms=sms_granted,
        sms_withdrawn_ms=withdrawals(sms_granted, SMS_WITHDRAWAL_SHARE),
        sms_source=source,
    )


def consent_frame(plan: ConsentPlan, unsubscribed_ms: np.ndarray, case_rate: float, rng: np.random.Generator) -> Frame:
    """Clean consent changes, ordered by time: grants, preference-centre (or support)
    withdrawals and unsubscribe-link withdrawals (``unsubscribed_ms`` per customer, -1 none)."""
    n = len(plan.email_granted_ms)

    def rows(at: np.ndarray, channel: int, status: int, source: np.ndarray) -> Frame:
        who = np.flatnonzero(at >= 0)
        return {
            "customer": who,
            "channel": np.full(len(who), channel, dtype=np.int8),
            "status": np.full(len(who), status, dtype=np.int8),
            "source": source[who].astype(np.int8),
            "occurred_ms": at[who],
        }

    centre = np.full(n, SOURCES.index("preference_center"), dtype=np.int8)
    sms_centre = np.where(rng.random(n) < 0.8, centre, SOURCES.index("support")).astype(np.int8)
    link = np.full(n, SOURCES.index("unsubscribe_link"), dtype=np.int8)
    frame = concat(
        [
            rows(plan.email_granted_ms, 0, 0, plan.email_source),
            rows(plan.sms_granted_ms, 1, 0, plan.sms_source),
            rows(plan.email_withdrawn_ms, 0, 1, centre),
            rows(unsubscribed_ms, 0, 1, link),
            rows(plan.sms_withdrawn_ms, 1, 1, sms_centre),
        ]
    )
    frame = {name: column[np.argsort(frame["occurred_ms"], kind="stable")] for name, column in frame.items()}
    count = len(frame["customer"])
    frame.update(
        {
            "subject_type": plan.subject_type[frame["customer"]],
            "email_case": email_cases(rng, count, case_rate),
            "anomaly": np.zeros(count, dtype=np.int8),
            "variant": np.zeros(count, dtype=np.int8),
        }
    )
    return frame


def consents_table(frame: Frame, email: pa.Array) -> Recipe:
    """raw.consents. Anomalies: 1 missing subject, 2 unknown status, 3 unknown channel."""
    rows = pa.table(
        {
            "hi": frame["id_hi"],
            "lo": frame["id_lo"],
            "customer": frame["customer"],
            "email": dictionary(frame["customer"], email),
            "email_case": frame["email_case"],
            "subject_type": frame["subject_type"],
            "channel": frame["channel"],
            "status": frame["status"],
            "source": frame["source"],
            "occurred_at": timestamps(frame["occurred_ms"]),
            "anomaly": frame["anomaly"],
            "variant": frame["variant"],
        }
    )
    return Recipe(
        "consents",
        f"""
        SELECT
            uuid_text(hi, lo) AS consent_id,
            {sql_list(SUBJECT_TYPES)}[subject_type + 1] AS subject_type,
            CASE WHEN {anomaly_is("consents", "missing_subject")} THEN [NULL, '', '  '][variant + 1]
                 WHEN subject_type = 1 THEN email_variant(email, email_case)
                 ELSE customer_id(customer) END AS subject,
            CASE WHEN {anomaly_is("consents", "unknown_channel")} THEN {sql_list(UNKNOWN_CHANNELS)}[variant + 1]
                 ELSE {sql_list(CHANNELS)}[channel + 1] END AS channel,
            CASE WHEN {anomaly_is("consents", "unknown_consent_status")} THEN {sql_list(UNKNOWN_CONSENT_STATUSES)}[variant + 1]
                 ELSE {sql_list(STATUSES)}[status + 1] END AS status,
            {sql_list(SOURCES)}[source + 1] AS source,
            occurred_at
        FROM dg_rows
        """,
        {"dg_rows": rows},
    )


def privacy_frame(created_ms: np.ndarray, start_ms: int, end_ms: int, rng: np.random.Generator) -> Frame:
    """Deletion requests from PRIVACY_REQUEST_SHARE of customers (at least one)."""
    n = len(created_ms)
    (who,) = pick_disjoint(rng, np.arange(n), [injected_count(PRIVACY_REQUEST_SHARE, n)])
    earliest = np.maximum(created_ms[who], start_ms)
    at = earliest + (rng.random(len(who)) * (end_ms - earliest)).astype(np.int64)
    order = np.argsort(at, kind="stable")
    count = len(who)
    return {
        "customer": who[order],
        "subject_type": np.where(rng.random(count) < PRIVACY_EMAIL_SUBJECT_SHARE, 1, 0).astype(np.int8),
        "requested_ms": at[order],
        "anomaly": np.zeros(count, dtype=np.int8),
        "variant": np.zeros(count, dtype=np.int8),
    }


def privacy_table(frame: Frame, email: pa.Array) -> Recipe:
    """raw.privacy_requests. Anomaly 1 = missing subject."""
    rows = pa.table(
        {
            "hi": frame["id_hi"],
            "lo": frame["id_lo"],
            "customer": frame["customer"],
            "email": dictionary(frame["customer"], email),
            "subject_type": frame["subject_type"],
            "requested_at": timestamps(frame["requested_ms"]),
            "anomaly": frame["anomaly"],
            "variant": frame["variant"],
        }
    )
    return Recipe(
        "privacy_requests",
        f"""
        SELECT
            uuid_text(hi, lo) AS request_id,
            {sql_list(SUBJECT_TYPES)}[subject_type + 1] AS subject_type,
            CASE WHEN {anomaly_is("privacy_requests", "missing_subject")} THEN [NULL, '', '  '][variant + 1]
                 WHEN subject_type = 1 THEN email
                 ELSE customer_id(customer) END AS subject,
            'deletion' AS request_type,
            requested_at
        FROM dg_rows
        """,
        {"dg_rows": rows},
    )
