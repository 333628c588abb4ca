"""raw.events rows as a Segment-style tracker delivers them: message ids, ISO timestamps on
the client clock, JSON properties / traits / context, assembled in DuckDB."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from datagen.arrays import CHUNK_ROWS, Frame, dictionary, timestamps
from datagen.behaviour import Kind
from datagen.contract import anomaly_is
from datagen.duck import Recipe, sql_list
from datagen.vocab import (
    BOT_USER_AGENTS,
    BROWSER_USER_AGENTS,
    CAMPAIGNS,
    CATEGORIES,
    CURRENCY,
    INVALID_TIMESTAMPS,
    REFERRERS,
    SHOP_URL,
    SIGN_METHODS,
    TRACK_NAMES,
    UNKNOWN_EVENT_NAMES,
    UNKNOWN_MESSAGE_TYPES,
)

SHOP_TITLE = "Example Shop"
ALL_USER_AGENTS = BROWSER_USER_AGENTS + BOT_USER_AGENTS
_ALIASES = [alias for aliases in TRACK_NAMES.values() for alias in aliases]
_ALIAS_START = list(itertools.accumulate([len(a) for a in TRACK_NAMES.values()], initial=0))[:-1]
_SEARCHES = [term for c in CATEGORIES for term in c.searches]


def _json(fields: dict[str, str]) -> str:
    """to_json of a struct literal from {key: SQL expression}."""
    return "to_json({" + ", ".join(f"'{key}': {value}" for key, value in fields.items()) + "})"


_CATEGORY = f"{sql_list([c.slug for c in CATEGORIES])}[category_index + 1]"
_PRICE = "cents(price_cents)"
_PRODUCT_ID = "CASE id_style WHEN 1 THEN lower(sku) WHEN 2 THEN ' ' || sku || ' ' ELSE sku END"


def _properties_sql() -> str:
    """Properties JSON per kind (identify has none); each branch only runs on its rows."""
    product = {"product_id": _PRODUCT_ID, "sku": "sku"}
    currency = f"'{CURRENCY}'"
    branches = {
        f"kind <= {Kind.PAGE_PRICING}": _json({"path": "path", "url": "url", "title": "title", "referrer": "referrer"}),
        f"kind = {Kind.PRODUCT_LIST_VIEWED}": _json({"category": _CATEGORY}),
        f"kind = {Kind.PRODUCT_VIEWED}": _json(
            {
                **product,
                "name": "name",
                "category": _CATEGORY,
                "price": _PRICE,
                "currency": currency,
                "url": f"'{SHOP_URL}/p/' || sku",
                "image_url": "image_url",
            }
        ),
        f"kind = {Kind.PRODUCTS_SEARCHED}": _json({"query": f"{sql_list(_SEARCHES)}[category_index * 4 + term + 1]"}),
        f"kind = {Kind.WISHLIST_ADDED}": _json({**product, "name": "name", "category": _CATEGORY, "price": _PRICE}),
        f"kind IN ({Kind.PRODUCT_ADDED}, {Kind.PRODUCT_REMOVED})": _json(
            {
                **product,
                "quantity": "quantity",
                "price": _PRICE,
                "currency": currency,
            }
        ),
        f"kind = {Kind.CART_VIEWED}": _json({"cart_size": "cart_size"}),
        f"kind = {Kind.CHECKOUT_STARTED}": _json({"value": "cents(value_cents)", "currency": currency}),
        f"kind = {Kind.ORDER_COMPLETED}": "order_properties",
        f"kind IN ({Kind.SIGNED_UP}, {Kind.SIGNED_IN})": _json({"method": f"{sql_list(SIGN_METHODS)}[method + 1]"}),
    }
    cases = "\n".join(f"WHEN {condition} THEN ({value})::VARCHAR" for condition, value in branches.items())
    return f"CASE {cases} END"


def _context_sql() -> str:
    """Context JSON; page events carry the page, landing pages the campaign, and sessions
    with a tracker session id carry it. Absent parts are left out rather than null."""
    page = "{'path': path, 'url': url, 'referrer': referrer, 'title': title}"
    campaign = (
        "{"
        + ", ".join(
            f"'{field}': {sql_list([getattr(c, field) for c in CAMPAIGNS])}[campaign + 1]"
            for field in ("source", "medium", "name", "content", "term")
        )
        + "}"
    )
    cases = []
    for is_page, has_campaign, has_session in itertools.product((True, False), repeat=3):
        if has_campaign and not is_page:
            continue
        fields = {"ip": "ip", "userAgent": f"{sql_list(ALL_USER_AGENTS)}[agent + 1]"}
        if has_session:
            fields["sessionId"] = "session_id"
        if is_page:
            fields["page"] = page
        if has_campaign:
            fields["campaign"] = campaign
        condition = " AND ".join(
            [
                f"kind {'<=' if is_page else '>'} {Kind.PAGE_PRICING}",
                f"campaign {'>=' if has_campaign else '<'} 0" if is_page else "TRUE",
                f"session_id IS {'NOT ' if has_session else ''}NULL",
            ]
        )
        cases.append(f"WHEN {condition} THEN {_json(fields)}::VARCHAR")
    return "CASE " + "\n".join(cases) + " END"


def _page_sql() -> str:
    """path, url, title and referrer of page events (NULL for other kinds)."""
    utm = " || ".join(
        f"'{sep}utm_{field}=' || {sql_list([getattr(c, attr) for c in CAMPAIGNS])}[campaign + 1]"
        for sep, field, attr in (("?", "source", "source"), ("&", "medium", "medium"), ("&", "campaign", "name"))
    )
    is_page = f"kind <= {Kind.PAGE_PRICING}"
    return f"""
        SELECT *,
            CASE WHEN {is_page} THEN '{SHOP_URL}' || path || CASE WHEN campaign >= 0 THEN {utm} ELSE '' END END AS url,
            CASE kind WHEN {Kind.PAGE_HOME} THEN '{SHOP_TITLE}'
                      WHEN {Kind.PAGE_CATEGORY} THEN {sql_list([c.title for c in CATEGORIES])}[category_index + 1]
                          || ' | {SHOP_TITLE}'
                      WHEN {Kind.PAGE_PRODUCT} THEN name || ' | {SHOP_TITLE}'
                      WHEN {Kind.PAGE_PRICING} THEN 'Membership and pricing | {SHOP_TITLE}' END AS title,
            CASE WHEN {is_page} THEN CASE WHEN landing THEN {sql_list(REFERRERS)}[referrer_index + 1]
                                          ELSE '{SHOP_URL}/' END END AS referrer
        FROM (
            SELECT *,
                CASE kind WHEN {Kind.PAGE_HOME} THEN '/'
                          WHEN {Kind.PAGE_CATEGORY} THEN '/c/' || {_CATEGORY}
                          WHEN {Kind.PAGE_PRODUCT} THEN '/p/' || sku
                          WHEN {Kind.PAGE_PRICING} THEN '/pricing' END AS path
            FROM dg_rows
        )
    """


def _events_sql() -> str:
    first_track = Kind.PRODUCT_LIST_VIEWED
    name = f"""CASE WHEN kind BETWEEN {first_track} AND {Kind.SIGNED_IN} THEN
            CASE WHEN {anomaly_is("events", "unknown_event_name")} THEN {sql_list(UNKNOWN_EVENT_NAMES)}[variant + 1]
                 WHEN alias > 0 THEN {sql_list(_ALIASES)}[{_ALIAS_START}[kind - {first_track - 1}] + alias]
                 ELSE {sql_list(list(TRACK_NAMES))}[kind - {first_track - 1}] END END"""
    blank = "[NULL, '', '  ']"
    return f"""
    SELECT
        CASE WHEN {anomaly_is("events", "missing_message_id")} THEN {blank}[variant + 1] ELSE uuid_text(mid_hi, mid_lo) END AS message_id,
        CASE WHEN {anomaly_is("events", "unknown_message_type")} THEN {sql_list(UNKNOWN_MESSAGE_TYPES)}[variant + 1]
             WHEN kind <= {Kind.PAGE_PRICING} THEN 'page'
             WHEN kind = {Kind.IDENTIFY} THEN 'identify'
             ELSE 'track' END AS type,
        {name} AS event,
        CASE WHEN {anomaly_is("events", "missing_identifier")} THEN [NULL, '', NULL][variant + 1] ELSE anonymous_id END AS anonymous_id,
        CASE WHEN {anomaly_is("events", "missing_identifier")} THEN [NULL, NULL, '  '][variant + 1] ELSE user_id END AS user_id,
        CASE WHEN {anomaly_is("events", "invalid_timestamp")} THEN [NULL, {sql_list(INVALID_TIMESTAMPS)[1:-1]}][variant + 1]
             ELSE iso_ms(client_ms, offset_min, local) END AS "timestamp",
        iso_ms(sent_ms, offset_min, local) AS sent_at,
        received_at,
        CASE WHEN {anomaly_is("events", "malformed_json")} AND variant = 1 AND properties_json IS NOT NULL
             THEN left(properties_json, length(properties_json) // 2) ELSE properties_json END AS properties,
        CASE WHEN {anomaly_is("events", "malformed_json")} AND variant = 1 AND properties_json IS NULL
             THEN left(traits_json, length(traits_json) // 2) ELSE traits_json END AS traits,
        CASE WHEN {anomaly_is("events", "malformed_json")} AND variant = 0 THEN left(context_json, length(context_json) // 2)
             ELSE context_json END AS context
    FROM (
        SELECT *,
            {_properties_sql()} AS properties_json,
            CASE WHEN kind = {Kind.IDENTIFY} THEN
                to_json({{'email': email_variant(email, email_case), 'first_name': first_name, 'last_name': last_name}})::VARCHAR
            END AS traits_json,
            {_context_sql()} AS context_json
        FROM ({_page_sql()})
    )
    """


def _batch(part: Frame, devices: Frame, dictionaries: dict[str, pa.Array]) -> pa.RecordBatch:
    """The numeric / dictionary-encoded input rows the events SQL reads, for one chunk."""
    kind = part["kind"]
    device = part["device"]
    skew = devices["skew_ms"][device]
    identify = np.where(kind == Kind.IDENTIFY, part["person"], -1)
    product = part["product"]
    columns = {
        "mid_hi": part["mid_hi"],
        "mid_lo": part["mid_lo"],
        "kind": kind,
        "anomaly": part["anomaly"],
        "variant": part["variant"],
        "alias": part["alias"],
        "id_style": part["id_style"],
        "anonymous_id": dictionary(device, dictionaries["anonymous_id"]),
        "user_id": dictionary(part["user"], dictionaries["customer_id"]),
        "agent": devices["agent"][device],
        "ip": dictionary(device, dictionaries["ip"]),
        "client_ms": part["time_ms"] + skew + part["shift_ms"],
        "sent_ms": part["received_ms"] + skew,
        "offset_min": devices["offset_min"][device],
        "local": devices["local"][device],
        "received_at": timestamps(part["received_ms"]),
        "category_index": part["category"],
        "sku": dictionary(product, dictionaries["sku"]),
        "name": dictionary(product, dictionaries["name"]),
        "image_url": dictionary(product, dictionaries["image_url"]),
        "price_cents": part["price_cents"],
        "quantity": part["quantity"],
        "term": part["term"],
        "method": part["method"],
        "value_cents": part["value_cents"],
        "cart_size": part["cart_size"],
        "order_properties": dictionary(part["order"], dictionaries["order_properties"]),
        "landing": part["landing"],
        "referrer_index": part["referrer"],
        "campaign": part["campaign"],
        "session_id": pa.array(part["session_id_ms"], mask=part["session_id_ms"] < 0),
        "email": dictionary(identify, dictionaries["email"]),
        "email_case": part["email_case"],
        "first_name": dictionary(identify, dictionaries["first_name"]),
        "last_name": dictionary(identify, dictionaries["last_name"]),
    }
    return pa.RecordBatch.from_pydict(columns)


def events_table(
    parts: Sequence[Frame],
    devices: Frame,
    device_text: pa.Table,
    person: pa.Table,
    product: pa.Table,
    order_properties: pa.Array,
    customers: int,
) -> Recipe:
    """raw.events from event row parts (humans, copies, bots) and their devices."""
    dictionaries = {
        "anonymous_id": device_text["anonymous_id"].combine_chunks(),
        "ip": device_text["ip"].combine_chunks(),
        "customer_id": person["customer_id"].combine_chunks()[:customers],
        "email": person["email"].combine_chunks(),
        "first_name": person["first_name"].combine_chunks(),
        "last_name": person["last_name"].combine_chunks(),
        "sku": product["sku"].combine_chunks(),
        "name": product["name"].combine_chunks(),
        "image_url": product["image_url"].combine_chunks(),
        "order_properties": order_properties,
    }
    batches = []
    for part in parts:
        for first in range(0, len(part["kind"]), CHUNK_ROWS):
            chunk = {name: column[first : first + CHUNK_ROWS] for name, column in part.items()}
            batches.append(_batch(chunk, devices, dictionaries))
    if not batches:  # no events at all (a tiny dataset): one empty batch carries the column types
        batches.append(_batch({name: column[:0] for name, column in parts[0].items()}, devices, dictionaries))
    return Recipe("events", _events_sql(), {"dg_rows": pa.Table.from_batches(batches)})
