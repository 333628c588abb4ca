"""People: CRM customers and anonymous-only visitors, their devices and tastes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pyarrow as pa

from datagen.arrays import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, Frame, categorical, ragged, uuid_parts
from datagen.duck import Assembler, sql_list
from datagen.vocab import (
    CATEGORIES,
    CITIES,
    DESKTOP_USER_AGENTS,
    DEVICE_KIND_WEIGHTS,
    EMAIL_DOMAIN_WEIGHTS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    MOBILE_USER_AGENTS,
    TABLET_USER_AGENTS,
)

ANONYMOUS_SHARE = 0.2  # of all visitors, never identify and have no CRM record
NEW_CUSTOMER_SHARE_PER_DAY = 0.003  # of customers signing up inside the window, per day
HISTORY_SIGNUP_MEAN_DAYS = 400
MAX_SIGNUP_AGE_DAYS = 1825
MISSING_BIRTH_DATE_SHARE = 0.07
SKEWED_DEVICE_SHARE = 0.10
LOCAL_OFFSET_SHARE = 0.45  # devices writing local time with a UTC offset instead of Z
IPV6_SHARE = 0.25
AFFINITY_ALPHA = 0.6
DEVICES_PER_CUSTOMER = (0.55, 0.33, 0.12)  # 1, 2, 3 devices
DEVICES_PER_VISITOR = (0.85, 0.15)
IPV4_NETWORKS = ("192.0.2.", "198.51.100.", "203.0.113.")  # documentation ranges


class Buyer(IntEnum):
    """Purchase history profile of a customer (orders before the window)."""

    NONE = 0
    ONE_TIME = 1
    OCCASIONAL = 2
    LOYAL = 3
    LAPSED = 4


BUYER_WEIGHTS = (0.35, 0.30, 0.17, 0.08, 0.10)
BUYER_CART_RATE = (0.08, 0.10, 0.13, 0.22, 0.05)  # share of sessions that add to cart
BUYER_ACTIVITY = (1.0, 1.0, 1.1, 1.6, 0.4)
VISITOR_CART_RATE = 0.06
VISITOR_ACTIVITY = 0.6


@dataclass(frozen=True)
class People:
    """Persons 0 .. customers-1 are CRM customers, the rest anonymous-only visitors.
    Devices of a person are contiguous: device_first[p] .. device_first[p] + device_count[p]."""

    customers: int
    first_name: np.ndarray  # int16 index into FIRST_NAMES, per person
    last_name: np.ndarray  # int16 index into LAST_NAMES
    city: np.ndarray  # int16 index into CITIES
    domain: np.ndarray  # int8 index into EMAIL_DOMAINS
    affinity: np.ndarray  # float32 (persons, categories), cumulative category preference
    activity: np.ndarray  # float64 relative session rate
    cart_rate: np.ndarray  # float64 share of sessions adding to cart
    buyer: np.ndarray  # int8 Buyer, per customer
    new: np.ndarray  # bool per customer: signs up inside the window
    signup_ms: np.ndarray  # int64 per customer: sign-up before the window (-1 for new customers)
    birth_day: np.ndarray  # int32 per customer: days since 1970-01-01, -1 = unknown
    device_first: np.ndarray  # int64 per person
    device_count: np.ndarray  # int64 per person
    device_owner: np.ndarray  # int64 per device
    device_agent: np.ndarray  # int16 index into BROWSER_USER_AGENTS
    device_skew_ms: np.ndarray  # int64 client clock error (0 for most devices)
    device_offset_min: np.ndarray  # int16 UTC offset the client writes (0 with Z)
    device_local: np.ndarray  # bool: writes +HH:MM instead of Z
    device_ip: np.ndarray  # int32 (devices, 4): network (3 = IPv6), host / IPv6 groups
    device_hi: np.ndarray  # uint64 anonymous id halves
    device_lo: np.ndarray

    @property
    def persons(self) -> int:
        return len(self.first_name)

    @property
    def devices(self) -> int:
        return len(self.device_owner)


def visitors_for(customers: int) -> int:
    return round(customers * ANONYMOUS_SHARE / (1 - ANONYMOUS_SHARE))


def build_people(
    customers: int, days: int, start_ms: int, end_ms: int, rng: np.random.Generator, id_key: int
) -> People:
    persons = customers + visitors_for(customers)
    is_customer = np.arange(persons) < customers
    buyer = categorical(rng, BUYER_WEIGHTS, customers).astype(np.int8)
    activity = rng.lognormal(0.0, 0.9, persons)
    activity *= np.where(
        is_customer, np.asarray(BUYER_ACTIVITY)[np.pad(buyer, (0, persons - customers))], VISITOR_ACTIVITY
    )
    cart_base = np.where(
        is_customer, np.asarray(BUYER_CART_RATE)[np.pad(buyer, (0, persons - customers))], VISITOR_CART_RATE
    )
    cart_rate = np.minimum(0.6, cart_base * rng.lognormal(0.0, 0.3, persons))

    new = rng.random(customers) < min(0.5, NEW_CUSTOMER_SHARE_PER_DAY * days)
    age_days = np.minimum(rng.exponential(HISTORY_SIGNUP_MEAN_DAYS, customers), MAX_SIGNUP_AGE_DAYS)
    signup = start_ms - (age_days * MS_PER_DAY).astype(np.int64) - rng.integers(MS_PER_MINUTE, MS_PER_DAY, customers)
    signup = np.where(new, -1, signup)

    age_years = rng.uniform(18.0, 76.0, customers)
    birth = ((end_ms / MS_PER_DAY) - age_years * 365.25).astype(np.int32)
    birth = np.where(rng.random(customers) < MISSING_BIRTH_DATE_SHARE, -1, birth)

    per_customer = categorical(rng, DEVICES_PER_CUSTOMER, customers) + 1
    per_visitor = categorical(rng, DEVICES_PER_VISITOR, persons - customers) + 1
    device_count = np.concatenate([per_customer, per_visitor])
    owner, _ = ragged(device_count)
    devices = len(owner)
    device_first = np.zeros(persons, dtype=np.int64)
    np.cumsum(device_count[:-1], out=device_first[1:])

    city = categorical(rng, [c.weight for c in CITIES], persons).astype(np.int16)
    kind = categorical(rng, DEVICE_KIND_WEIGHTS, devices)
    kind_sizes = np.array([len(DESKTOP_USER_AGENTS), len(MOBILE_USER_AGENTS), len(TABLET_USER_AGENTS)])
    kind_start = np.concatenate([[0], np.cumsum(kind_sizes)[:-1]])
    agent = (kind_start[kind] + (rng.random(devices) * kind_sizes[kind]).astype(np.int64)).astype(np.int16)

    skew_magnitude = np.exp(rng.uniform(np.log(2 * MS_PER_MINUTE), np.log(5 * MS_PER_HOUR), devices))
    skew_sign = np.where(rng.random(devices) < 0.5, -1, 1)
    skew = np.where(rng.random(devices) < SKEWED_DEVICE_SHARE, skew_sign * skew_magnitude, 0).astype(np.int64)
    local = rng.random(devices) < LOCAL_OFFSET_SHARE
    offset = np.where(local, np.array([c.offset_minutes for c in CITIES])[city[owner]], 0).astype(np.int16)

    ip = np.empty((devices, 4), dtype=np.int32)
    ip[:, 0] = np.where(rng.random(devices) < IPV6_SHARE, 3, rng.integers(0, 3, devices))
    ip[:, 1] = rng.integers(1, 255, devices)
    ip[:, 2:] = rng.integers(0, 65536, (devices, 2))
    hi, lo = uuid_parts(rng, 0, devices, id_key)

    affinity = np.cumsum(rng.dirichlet(np.full(len(CATEGORIES), AFFINITY_ALPHA), persons), axis=1).astype(np.float32)
    affinity[:, -1] = 1.0
    return People(
        customers=customers,
        first_name=rng.integers(0, len(FIRST_NAMES), persons).astype(np.int16),
        last_name=rng.integers(0, len(LAST_NAMES), persons).astype(np.int16),
        city=city,
        domain=categorical(rng, EMAIL_DOMAIN_WEIGHTS, persons).astype(np.int8),
        affinity=affinity,
        activity=activity,
        cart_rate=cart_rate,
        buyer=buyer,
        new=new,
        signup_ms=signup,
        birth_day=birth,
        device_first=device_first,
        device_count=device_count,
        device_owner=owner,
        device_agent=agent,
        device_skew_ms=skew,
        device_offset_min=offset,
        device_local=local,
        device_ip=ip,
        device_hi=hi,
        device_lo=lo,
    )


def email_cases(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """How each of ``n`` emails is typed (see the email_variant SQL macro): 0 as is, or with
    ``rate`` 1 capitalised, 2 upper-case, 3 space-padded."""
    return np.where(rng.random(n) < rate, rng.integers(1, 4, n), 0).astype(np.int8)


def preferred_category(people: People, person: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A category per row, drawn from the person's category affinity."""
    u = rng.random(len(person)).astype(np.float32)
    category = np.zeros(len(person), dtype=np.int8)
    for k in range(people.affinity.shape[1] - 1):
        category += u > people.affinity[person, k]
    return category


def person_text(people: People, assembler: Assembler) -> pa.Table:
    """Per person: email (clean, lower-case), first_name, last_name, customer_id (null for
    visitors)."""
    frame = pa.table(
        {
            "person": np.arange(people.persons, dtype=np.int64),
            "first": people.first_name,
            "last": people.last_name,
            "domain": people.domain,
        }
    )
    return assembler.query(
        f"""
        SELECT
            lower(first_name) || '.' || lower(last_name) || (person + 1) || '@'
                || {sql_list(EMAIL_DOMAINS)}[domain + 1] AS email,
            first_name,
            last_name,
            CASE WHEN person < {people.customers} THEN customer_id(person) END AS customer_id
        FROM (
            SELECT person, domain,
                   {sql_list(FIRST_NAMES)}[first + 1] AS first_name,
                   {sql_list(LAST_NAMES)}[last + 1] AS last_name
            FROM frame
        )
        """,
        frame=frame,
    )


def device_frame(people: People) -> Frame:
    """Per device: user agent, clock (skew, UTC offset), ip parts and anonymous id halves."""
    return {
        "agent": people.device_agent,
        "skew_ms": people.device_skew_ms,
        "offset_min": people.device_offset_min,
        "local": people.device_local,
        "net": people.device_ip[:, 0],
        "host": people.device_ip[:, 1],
        "g1": people.device_ip[:, 2],
        "g2": people.device_ip[:, 3],
        "hi": people.device_hi,
        "lo": people.device_lo,
    }


def device_text(devices: Frame, assembler: Assembler) -> pa.Table:
    """Per device: anonymous_id (uuid-like) and ip."""
    frame = pa.table({name: devices[name] for name in ("hi", "lo", "net", "host", "g1", "g2")})
    return assembler.query(
        f"""
        SELECT
            uuid_text(hi, lo) AS anonymous_id,
            CASE WHEN net < 3 THEN {sql_list(IPV4_NETWORKS)}[net + 1] || host
                 ELSE printf('2001:db8:%x:%x::%x', g1, g2, host) END AS ip
        FROM frame
        """,
        frame=frame,
    )
