"""The CRM: one record per customer (plus duplicate records of a few people and a few
records with junk emails); raw.customers rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from datagen.arrays import MS_PER_DAY, MS_PER_HOUR, Frame, concat, dictionary, pick_disjoint, take, timestamps
from datagen.config import injected_count
from datagen.contract import anomaly_is
from datagen.duck import Recipe, sql_list
from datagen.people import People, email_cases
from datagen.vocab import CITIES, CRM_INVALID_EMAILS


@dataclass(frozen=True)
class Crm:
    """Clean CRM rows; ``invalid_email`` marks customers whose record holds a junk email."""

    rows: Frame
    invalid_email: np.ndarray  # bool per customer
    duplicate_persons: int


def build_crm(
    people: People,
    created_ms: np.ndarray,
    end_ms: int,
    duplicate_rate: float,
    invalid_rate: float,
    case_rate: float,
    rng: np.random.Generator,
) -> Crm:
    """One row per customer; plus a second record (new id, same person, email typed
    differently) for ``duplicate_rate`` of customers; ``invalid_rate`` get a junk email."""
    n = people.customers
    customer = np.arange(n, dtype=np.int64)
    spread = rng.random(n) ** 2
    updated = created_ms + (spread * (end_ms - created_ms)).astype(np.int64)
    base: Frame = {
        "customer": customer,
        "person": customer,
        "email_case": email_cases(rng, n, case_rate),
        "email_invalid": np.full(n, -1, dtype=np.int8),  # index into CRM_INVALID_EMAILS, -1 = valid
        "country_lower": rng.random(n) < case_rate,
        "birth_day": people.birth_day,
        "city": people.city[:n],
        "created_ms": created_ms,
        "updated_ms": updated,
        "anomaly": np.zeros(n, dtype=np.int8),
        "variant": np.zeros(n, dtype=np.int8),
    }
    twins, junk = pick_disjoint(rng, customer, [injected_count(duplicate_rate, n), injected_count(invalid_rate, n)])
    base["email_invalid"][junk] = rng.integers(0, len(CRM_INVALID_EMAILS), len(junk))
    second = take(base, twins)
    second["customer"] = n + np.arange(len(twins), dtype=np.int64)
    second["email_case"] = email_cases(rng, len(twins), 1.0)
    second["created_ms"] = np.minimum(
        end_ms, second["created_ms"] + rng.integers(MS_PER_HOUR, 365 * MS_PER_DAY, len(twins))
    )
    second["updated_ms"] = second["created_ms"]
    invalid = np.zeros(n, dtype=bool)
    invalid[junk] = True
    return Crm(rows=concat([base, second]), invalid_email=invalid, duplicate_persons=len(twins))


def customers_table(frame: Frame, person: pa.Table) -> Recipe:
    """raw.customers. Anomaly 1 = missing customer id."""
    rows = pa.table(
        {
            "customer": frame["customer"],
            "email": dictionary(frame["person"], person["email"].combine_chunks()),
            "email_case": frame["email_case"],
            "email_invalid": frame["email_invalid"],
            "first_name": dictionary(frame["person"], person["first_name"].combine_chunks()),
            "last_name": dictionary(frame["person"], person["last_name"].combine_chunks()),
            "birth_day": pa.array(frame["birth_day"], mask=frame["birth_day"] < 0),
            "city": frame["city"],
            "country_lower": frame["country_lower"],
            "created_at": timestamps(frame["created_ms"]),
            "updated_at": timestamps(frame["updated_ms"]),
            "anomaly": frame["anomaly"],
            "variant": frame["variant"],
        }
    )
    return Recipe(
        "customers",
        f"""
        SELECT
            CASE WHEN {anomaly_is("customers", "missing_customer_id")} THEN [NULL, '', '  '][variant + 1] ELSE customer_id(customer) END AS customer_id,
            CASE WHEN email_invalid >= 0 THEN {sql_list(CRM_INVALID_EMAILS)}[email_invalid + 1]
                 ELSE email_variant(email, email_case) END AS email,
            first_name,
            last_name,
            strftime(DATE '1970-01-01' + birth_day, '%Y-%m-%d') AS birth_date,
            {sql_list([c.name for c in CITIES])}[city + 1] AS city,
            CASE WHEN country_lower THEN lower(country) ELSE country END AS country,
            created_at,
            updated_at
        FROM (SELECT *, {sql_list([c.country for c in CITIES])}[city + 1] AS country FROM dg_rows)
        """,
        {"dg_rows": rows},
    )
