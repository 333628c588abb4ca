"""Browsing behaviour: sessions on devices, the events inside them, sign-ups and logins,
cart and checkout funnels, client clocks and delivery delays. All numeric (numpy)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import IntEnum

import numpy as np

from datagen.arrays import (
    MS_PER_DAY,
    MS_PER_HOUR,
    MS_PER_MINUTE,
    MS_PER_SECOND,
    Frame,
    categorical,
    group_cumsum,
    offsets,
    ragged,
    schedule,
)
from datagen.catalog import Catalog
from datagen.config import GeneratorConfig
from datagen.people import People, preferred_category
from datagen.vocab import CAMPAIGNS, REFERRERS, SIGN_METHODS


class Kind(IntEnum):
    """What an event is. Pages and identify are their own message types, the rest are tracks."""

    PAGE_HOME = 0
    PAGE_CATEGORY = 1
    PAGE_PRODUCT = 2
    PAGE_PRICING = 3
    PRODUCT_LIST_VIEWED = 4
    PRODUCT_VIEWED = 5
    PRODUCTS_SEARCHED = 6
    WISHLIST_ADDED = 7
    PRODUCT_ADDED = 8
    PRODUCT_REMOVED = 9
    CART_VIEWED = 10
    CHECKOUT_STARTED = 11
    ORDER_COMPLETED = 12
    SIGNED_UP = 13
    SIGNED_IN = 14
    IDENTIFY = 15


FIRST_TRACK_KIND = Kind.PRODUCT_LIST_VIEWED
FUNNEL_KINDS = (Kind.PRODUCT_ADDED, Kind.PRODUCT_REMOVED, Kind.CART_VIEWED, Kind.CHECKOUT_STARTED, Kind.ORDER_COMPLETED)
LAST_TRACK_KIND = Kind.SIGNED_IN
LANDING_WEIGHTS = (0.35, 0.30, 0.30, 0.05)  # home, category, product, pricing page
BROWSE_WEIGHTS = (0.04, 0.13, 0.16, 0.03, 0.12, 0.32, 0.12, 0.08)  # kinds 0 .. 7
MEAN_BROWSE_EVENTS = 3.7
MAX_BROWSE_EVENTS = 30
LINE_WEIGHTS = (0.6, 0.25, 0.1, 0.05)  # 1 .. 4 order lines
QUANTITY_WEIGHTS = (0.82, 0.14, 0.04)  # 1 .. 3 units
REMOVE_SHARE = 0.15  # carts where one more product is added, then removed
CHECKOUT_SHARE = 0.5  # of carts
PURCHASE_SHARE = 0.65  # of checkouts
MIN_GAP_MS = 6 * MS_PER_SECOND  # at most 10 actions per minute in a session
MAX_GAP_MS = 300 * MS_PER_SECOND
SESSION_TIMEOUT_MS = 30 * MS_PER_MINUTE
AUTH_SLACK_MS = 3 * MS_PER_SECOND  # identify + Signed Up / In may follow the last action
LATENCY_MEAN_MS = 500  # client to server delivery
MAX_LATENCY_MS = 30 * MS_PER_SECOND
DEVICE_CHOICE = (0.6, 0.28, 0.12)  # which of a person's devices a session uses
KNOWN_FIRST_DEVICE_SHARE = 0.85  # devices of earlier customers already logged in at window start
KNOWN_OTHER_DEVICE_SHARE = 0.7
LOGGED_OUT_SHARE = 0.1  # sessions on a known device that stay anonymous
LATE_SESSION_SHARE = 0.02  # sessions delivered hours later (offline sync)
LATE_MIN_MS = MS_PER_HOUR
LATE_MAX_MS = 72 * MS_PER_HOUR
TRACKER_SESSION_ID_SHARE = 0.5
CAMPAIGN_SHARE = 0.3
DIRECT_SHARE = 0.35  # of sessions without campaign: no referrer
# Relative traffic per UTC hour (European evenings peak).
# fmt: off
HOURLY_TRAFFIC = (
    0.25, 0.15, 0.1, 0.08, 0.1, 0.2, 0.4, 0.7, 0.9, 1.0, 1.0, 1.05,
    1.1, 1.05, 1.0, 1.0, 1.1, 1.25, 1.4, 1.5, 1.45, 1.2, 0.8, 0.45,
)
# fmt: on
WEEKEND_TRAFFIC = 1.15


@dataclass(frozen=True)
class Activity:
    """Human events (one row per delivered message, in session order) and the orders they
    placed. ``events`` columns: session, person, device, kind, time_ms (true event time),
    received_ms (server time), user (customer index, -1 anonymous), category, product,
    quantity, price_cents, term, method, value_cents, cart_size, order (-1 or index into
    ``orders``), campaign, referrer (-1 none), session_id_ms (-1 none), landing."""

    events: Frame
    orders: Frame  # person, device, user, created_ms
    lines: Frame  # order, line, product, quantity, price_cents
    sessions: int
    signup_ms: np.ndarray  # int64 per customer: sign-up (identify) time inside the window, -1 before
    late_events: int


def expected_actions(cart_rate: np.ndarray) -> np.ndarray:
    """Expected action events per session (landing, browsing, funnel) by cart rate."""
    lines = sum((i + 1) * w for i, w in enumerate(LINE_WEIGHTS))
    funnel = lines + 2 * REMOVE_SHARE + 1 + CHECKOUT_SHARE * (1 + PURCHASE_SHARE)
    return 1 + MEAN_BROWSE_EVENTS + cart_rate * funnel


def session_rates(people: People, human_events: int) -> np.ndarray:
    """Expected regular sessions per person so that all human events (regular sessions,
    sign-up sessions, identify + Signed In pairs of logins) total about ``human_events``."""
    customers = people.customers
    per_rate = float((people.activity * expected_actions(people.cart_rate)).sum())
    new_person = np.zeros(people.persons, dtype=bool)
    new_person[:customers] = people.new
    signup_events = float((expected_actions(people.cart_rate[new_person]) + 2).sum())
    owner = people.device_owner
    index = np.arange(people.devices) - people.device_first[owner]
    choice = np.asarray(DEVICE_CHOICE)
    remainder = 1 - np.concatenate([[0.0], np.cumsum(choice)])[index]
    share = np.where(index == people.device_count[owner] - 1, remainder, choice[np.minimum(index, len(choice) - 1)])
    known = np.where(index == 0, KNOWN_FIRST_DEVICE_SHARE, KNOWN_OTHER_DEVICE_SHARE)
    # devices that will log in once used: unknown devices of earlier customers, and (for
    # about half of their sessions, those after sign-up) other devices of new customers
    login = np.where(new_person[owner], np.where(index > 0, 0.5, 0.0), np.where(owner < customers, 1 - known, 0.0))
    activity = people.activity[owner] * share
    rate = max(0.0, human_events - signup_events) / per_rate
    for _ in range(5):
        logins = 2 * float((login * -np.expm1(-rate * activity)).sum())
        rate = max(0.0, human_events - signup_events - logins) / per_rate
    return rate * people.activity


def session_times(rng: np.random.Generator, count: int, start_ms: int, end_ms: int) -> np.ndarray:
    """Session start times in [start_ms, end_ms), denser in the evening, at weekends and
    towards the end of the window."""
    first = start_ms // MS_PER_HOUR * MS_PER_HOUR
    low = np.maximum(np.arange(first, end_ms, MS_PER_HOUR, dtype=np.int64), start_ms)
    high = np.minimum(low // MS_PER_HOUR * MS_PER_HOUR + MS_PER_HOUR, end_ms)
    hour = (low // MS_PER_HOUR) % 24
    weekday = (low // MS_PER_DAY + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    growth = 0.9 + 0.2 * (low - start_ms) / max(1, end_ms - start_ms)
    weight = np.asarray(HOURLY_TRAFFIC)[hour] * np.where(weekday >= 5, WEEKEND_TRAFFIC, 1.0) * growth
    weight *= (high - low) / MS_PER_HOUR
    bucket = categorical(rng, weight, count)
    times: np.ndarray = low[bucket] + (rng.random(count) * (high - low)[bucket]).astype(np.int64)
    return times


@dataclass(frozen=True)
class Sessions:
    """Per session, sorted by (device, start): who, where, when, and the funnel reached."""

    person: np.ndarray
    device: np.ndarray
    signup: np.ndarray  # bool: the new customer's sign-up session
    start: np.ndarray  # ms; drawn by _sessions, final once _actions has scheduled the sessions
    duration: np.ndarray  # ms, including AUTH_SLACK_MS
    browse: np.ndarray  # browsing events after the landing page
    n_lines: np.ndarray  # order lines in the cart (0 without cart)
    removed: np.ndarray  # bool: one more product added, then removed
    cart: np.ndarray  # bool
    checkout: np.ndarray  # bool
    purchase: np.ndarray  # bool
    n_actions: np.ndarray  # landing + browsing + funnel events

    @property
    def count(self) -> int:
        return len(self.person)


@dataclass(frozen=True)
class Actions:
    """Per action event (landing page, browsing, funnel), in session order."""

    session: np.ndarray
    position: np.ndarray  # within the session
    time_ms: np.ndarray
    kind: np.ndarray
    category: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    price_cents: np.ndarray
    line: np.ndarray  # order line number of a Product Added that stays in the cart, else 0


@dataclass(frozen=True)
class Identity:
    """Per session: auth (0 none, 1 sign-up, 2 login) with identify after action
    ``auth_after``, and whether the whole session carries the user id."""

    auth: np.ndarray
    auth_after: np.ndarray
    identified: np.ndarray


def _sessions(
    people: People, human_events: int, start_ms: int, end_ms: int, rng: np.random.Generator
) -> tuple[Sessions, np.ndarray]:
    """Sessions per person (new customers get one more: their sign-up session) on their
    devices, sorted by (device, drawn start), with their funnels; and the gap before each
    action (ragged by n_actions, 0 for the first), 6-300 s."""
    regular = rng.poisson(session_rates(people, human_events))
    person = np.concatenate([np.repeat(np.arange(people.persons), regular), np.flatnonzero(people.new)])
    signup = np.zeros(len(person), dtype=bool)
    signup[int(regular.sum()) :] = True
    choice = np.minimum(categorical(rng, DEVICE_CHOICE, len(person)), people.device_count[person] - 1)
    device = people.device_first[person] + np.where(signup, 0, choice)
    raw_start = session_times(rng, len(person), start_ms, end_ms)
    window = end_ms - start_ms
    order = np.argsort(device * (window + 1) + (raw_start - start_ms), kind="stable")
    person, signup, device, raw_start = person[order], signup[order], device[order], raw_start[order]
    n = len(person)

    browse = np.minimum(rng.geometric(1 / MEAN_BROWSE_EVENTS, n), MAX_BROWSE_EVENTS)
    cart = rng.random(n) < people.cart_rate[person]
    checkout = cart & (rng.random(n) < CHECKOUT_SHARE)
    purchase = checkout & (rng.random(n) < PURCHASE_SHARE)
    n_lines = np.where(cart, categorical(rng, LINE_WEIGHTS, n) + 1, 0)
    removed = cart & (rng.random(n) < REMOVE_SHARE)
    n_actions = 1 + browse + n_lines + 2 * removed + cart + checkout + purchase
    owner, position = ragged(n_actions)
    gap = np.exp(rng.normal(np.log(30 * MS_PER_SECOND), 0.9, len(owner)))
    gap = np.where(position == 0, 0, np.clip(gap, MIN_GAP_MS, MAX_GAP_MS)).astype(np.int64)
    duration = np.bincount(owner, weights=gap, minlength=n).astype(np.int64) + AUTH_SLACK_MS

    # a device's sessions (30 minutes apart) must fit into half the window so they can be
    # scheduled without overlaps: drop the latest regular sessions of extremely busy devices
    step = duration + SESSION_TIMEOUT_MS
    reserved = np.bincount(device[signup], weights=step[signup], minlength=people.devices).astype(np.int64)
    used = reserved[device] + group_cumsum(np.where(signup, 0, step), device)
    keep = signup | (used <= window // 2)
    sessions = Sessions(
        person=person,
        device=device,
        signup=signup,
        start=raw_start,
        duration=duration,
        browse=browse,
        n_lines=n_lines,
        removed=removed,
        cart=cart,
        checkout=checkout,
        purchase=purchase,
        n_actions=n_actions,
    )
    if keep.all():
        return sessions, gap
    kept = Sessions(**{f.name: getattr(sessions, f.name)[keep] for f in fields(Sessions)})
    return kept, gap[keep[owner]]


def _actions(
    sessions: Sessions,
    gap: np.ndarray,
    people: People,
    catalog: Catalog,
    start_ms: int,
    end_ms: int,
    rng: np.random.Generator,
) -> tuple[Sessions, Actions]:
    """Action events of each session (landing page, browsing, then the funnel) and their
    times; sessions get their final, non-overlapping start."""
    n = sessions.count
    owner, position = ragged(sessions.n_actions)
    elapsed = group_cumsum(gap, owner)
    raw_start = np.minimum(sessions.start, end_ms - sessions.duration)
    start = schedule(sessions.device, raw_start, sessions.duration, SESSION_TIMEOUT_MS, start_ms, end_ms)
    sessions = replace(sessions, start=start)

    segments = np.stack(
        [
            np.ones(n, dtype=np.int64),
            sessions.browse,
            sessions.n_lines + sessions.removed,
            sessions.removed,
            sessions.cart,
            sessions.checkout,
            sessions.purchase,
        ],
        axis=1,
    )
    codes = np.array([-1, -2, *FUNNEL_KINDS], dtype=np.int8)
    kind = np.repeat(np.tile(codes, n), segments.ravel())
    kind[offsets(sessions.n_actions)] = categorical(rng, LANDING_WEIGHTS, n)
    browsing = np.flatnonzero(kind == -2)
    kind[browsing] = categorical(rng, BROWSE_WEIGHTS, len(browsing))

    category = preferred_category(people, sessions.person[owner], rng)
    product = catalog.sample(rng, category).astype(np.int32)
    quantity = (categorical(rng, QUANTITY_WEIGHTS, len(owner)) + 1).astype(np.int8)
    removals = np.flatnonzero(kind == Kind.PRODUCT_REMOVED)  # removes the product added just before
    product[removals] = product[removals - 1]
    quantity[removals] = quantity[removals - 1]
    category = np.where(kind >= Kind.PRODUCT_ADDED, catalog.category[product], category).astype(np.int8)
    adds = np.flatnonzero(kind == Kind.PRODUCT_ADDED)
    add_number = position[adds] - sessions.browse[owner[adds]]
    line = np.zeros(len(owner), dtype=np.int64)
    line[adds] = np.where(add_number <= sessions.n_lines[owner[adds]], add_number, 0)
    return sessions, Actions(
        session=owner,
        position=position,
        time_ms=start[owner] + elapsed,
        kind=kind,
        category=category,
        product=product,
        quantity=quantity,
        price_cents=catalog.price_cents[product].astype(np.int64),
        line=line,
    )


def _identity(sessions: Sessions, people: People, rng: np.random.Generator) -> Identity:
    """Sign-up and login sessions carry identify; later sessions on a known device carry
    the user id unless logged out; visitors and customers before sign-up stay anonymous."""
    person, device = sessions.person, sessions.device
    is_customer = person < people.customers
    is_new = np.zeros(sessions.count, dtype=bool)
    is_new[is_customer] = people.new[person[is_customer]]
    signup_start = np.full(people.persons, np.iinfo(np.int64).max)
    signup_start[person[sessions.signup]] = sessions.start[sessions.signup]
    after = is_customer & (~is_new | (sessions.start >= signup_start[person]))
    first_device = people.device_first[person] == device
    known_share = np.where(first_device, KNOWN_FIRST_DEVICE_SHARE, KNOWN_OTHER_DEVICE_SHARE)
    known_at_start = (rng.random(people.devices)[device] < known_share) & ~is_new
    earlier_after = group_cumsum(after.astype(np.int64), device) - after
    login = after & ~sessions.signup & ~known_at_start & (earlier_after == 0)
    auth = np.where(sessions.signup, 1, np.where(login, 2, 0)).astype(np.int8)
    logged_out = rng.random(sessions.count) < LOGGED_OUT_SHARE
    return Identity(
        auth=auth,
        auth_after=(rng.random(sessions.count) * (1 + sessions.browse)).astype(np.int64),
        identified=after & (auth == 0) & (known_at_start | (earlier_after > 0)) & ~logged_out,
    )


def simulate(
    config: GeneratorConfig, people: People, catalog: Catalog, human_events: int, rng: np.random.Generator
) -> Activity:
    """Sessions and events of all people over the window, about ``human_events`` in total."""
    start_ms, end_ms = config.start_ms, config.end_ms
    sessions, gap = _sessions(people, human_events, start_ms, end_ms, rng)
    sessions, actions = _actions(sessions, gap, people, catalog, start_ms, end_ms, rng)
    identity = _identity(sessions, people, rng)
    n_sessions = sessions.count
    owner, position = actions.session, actions.position

    # lay out all events: the actions, plus identify and Signed Up / Signed In after action j
    has_auth = identity.auth > 0
    after_auth = has_auth[owner] & (position > identity.auth_after[owner])
    n_events = sessions.n_actions + 2 * has_auth
    first_event = offsets(n_events)
    total = int(n_events.sum())
    act_at = first_event[owner] + position + 2 * after_auth
    auth_sessions = np.flatnonzero(has_auth)
    identify_at = first_event[auth_sessions] + identity.auth_after[auth_sessions] + 1
    sign_at = identify_at + 1
    anchor = offsets(sessions.n_actions)[auth_sessions] + identity.auth_after[auth_sessions]
    identify_time = actions.time_ms[anchor] + rng.integers(300, 1500, len(auth_sessions))
    sign_time = identify_time + rng.integers(200, 900, len(auth_sessions))
    auth_person = sessions.person[auth_sessions]
    sign_kind = np.where(identity.auth[auth_sessions] == 1, Kind.SIGNED_UP, Kind.SIGNED_IN).astype(np.int8)

    def spread(action_values: np.ndarray, identify_value: np.ndarray | int, sign_value: np.ndarray | int) -> np.ndarray:
        out = np.empty(total, dtype=action_values.dtype)
        out[act_at] = action_values
        out[identify_at] = identify_value
        out[sign_at] = sign_value
        return out

    def on_rows(rows: np.ndarray, values: np.ndarray, fill: int, dtype: type[np.generic]) -> np.ndarray:
        out = np.full(total, fill, dtype=dtype)
        out[rows] = values
        return out

    session = np.repeat(np.arange(n_sessions), n_events)
    time_ms = spread(actions.time_ms, identify_time, sign_time)
    kind = spread(actions.kind, Kind.IDENTIFY, sign_kind)
    act_user = np.where(identity.identified[owner] | after_auth, sessions.person[owner], -1)
    user = spread(act_user, auth_person, auth_person)

    # delivery: a few sessions arrive hours later (offline sync), the rest within seconds
    room = end_ms - (sessions.start + sessions.duration)
    late = (room >= LATE_MIN_MS) & (rng.random(n_sessions) < LATE_SESSION_SHARE)
    delay = np.where(late, LATE_MIN_MS + rng.random(n_sessions) * (np.minimum(room, LATE_MAX_MS) - LATE_MIN_MS), 0)
    latency = np.minimum(30 + rng.exponential(LATENCY_MEAN_MS, total), MAX_LATENCY_MS)
    received = np.minimum(time_ms + (delay.astype(np.int64)[session] + latency.astype(np.int64)), end_ms)

    campaign = np.where(rng.random(n_sessions) < CAMPAIGN_SHARE, rng.integers(0, len(CAMPAIGNS), n_sessions), -1)
    direct = (campaign < 0) & (rng.random(n_sessions) < DIRECT_SHARE)
    referrer = np.where(direct, -1, rng.integers(0, len(REFERRERS), n_sessions))
    session_id = np.where(rng.random(n_sessions) < TRACKER_SESSION_ID_SHARE, sessions.start, -1)
    in_cart = actions.line > 0
    subtotal = np.bincount(
        owner[in_cart], weights=(actions.price_cents * actions.quantity)[in_cart], minlength=n_sessions
    ).astype(np.int64)
    purchases = np.flatnonzero(sessions.purchase)
    order_of_session = np.full(n_sessions, -1, dtype=np.int64)
    order_of_session[purchases] = np.arange(len(purchases))
    order_events = np.flatnonzero(kind == Kind.ORDER_COMPLETED)
    checkouts = np.flatnonzero(kind == Kind.CHECKOUT_STARTED)
    carts = np.flatnonzero(kind == Kind.CART_VIEWED)
    searches = np.flatnonzero(kind == Kind.PRODUCTS_SEARCHED)
    events: Frame = {
        "person": sessions.person[session],
        "device": sessions.device[session],
        "kind": kind,
        "time_ms": time_ms,
        "received_ms": received,
        "user": user,
        "category": spread(actions.category, -1, -1),
        "product": spread(actions.product, -1, -1),
        "quantity": spread(actions.quantity, 0, 0),
        "price_cents": spread(actions.price_cents, 0, 0),
        "term": on_rows(searches, rng.integers(0, 4, len(searches)), 0, np.int8),
        "method": on_rows(sign_at, rng.integers(0, len(SIGN_METHODS), len(sign_at)), 0, np.int8),
        "value_cents": on_rows(checkouts, subtotal[session[checkouts]], 0, np.int64),
        "cart_size": on_rows(carts, sessions.n_lines[session[carts]], 0, np.int8),
        "order": on_rows(order_events, order_of_session[session[order_events]], -1, np.int64),
        "campaign": on_rows(first_event, campaign, -1, np.int16),
        "referrer": on_rows(first_event, referrer, -1, np.int16),
        "session_id_ms": session_id[session],
        "landing": on_rows(first_event, np.ones(n_sessions), 0, np.bool_),
    }
    line_rows = np.flatnonzero(in_cart & sessions.purchase[owner])
    signup_ms = np.full(people.customers, -1, dtype=np.int64)
    signups = identity.auth[auth_sessions] == 1
    signup_ms[auth_person[signups]] = identify_time[signups]
    return Activity(
        events=events,
        orders={
            "person": sessions.person[purchases],
            "device": sessions.device[purchases],
            "user": user[order_events],
            "created_ms": time_ms[order_events],
        },
        lines={
            "order": order_of_session[owner[line_rows]],
            "line": actions.line[line_rows].astype(np.int32),
            "product": actions.product[line_rows],
            "quantity": actions.quantity[line_rows].astype(np.int32),
            "price_cents": actions.price_cents[line_rows],
        },
        sessions=n_sessions,
        signup_ms=signup_ms,
        late_events=int(n_events[late].sum()),
    )
