"""Orders and order lines: purchase history before the window (RFM spread) and one order
per Order Completed event inside it; raw.orders and raw.order_items rows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pyarrow as pa

from datagen.arrays import (
    MS_PER_DAY,
    MS_PER_HOUR,
    MS_PER_MINUTE,
    Frame,
    categorical,
    concat,
    dictionary,
    ragged,
    take,
    timestamps,
)
from datagen.behaviour import LINE_WEIGHTS, QUANTITY_WEIGHTS, Activity
from datagen.catalog import Catalog
from datagen.contract import anomaly_is
from datagen.duck import Assembler, Recipe, sql_list
from datagen.people import Buyer, People, email_cases, preferred_category
from datagen.vocab import CURRENCY, UNKNOWN_ORDER_STATUSES

ORDER_NUMBER_BASE = 100_000_001
HISTORY_DAYS = 730
LAPSED_DAYS = 180  # lapsed buyers' last order is at least this long before the window
STATUS_WEIGHTS = (0.95, 0.03, 0.02)  # completed, cancelled, refunded
STATUSES = ("completed", "cancelled", "refunded")
DISCOUNT_SHARE = 0.2
DISCOUNT_RATE = 0.1
FREE_ORDER_SHARE = 0.003  # fully discounted (valid zero-total orders)
FREE_SHIPPING_FROM_CENTS = 5000
SHIPPING_CENTS = 495
HISTORY_GUEST_SHARE = 0.1
HISTORY_DEVICE_SHARE = 0.4  # historical orders that carry the tracker anonymous id (window orders all do)


class Status(IntEnum):
    COMPLETED = 0
    CANCELLED = 1
    REFUNDED = 2


@dataclass(frozen=True)
class Commerce:
    """Clean order rows sorted by creation (row index = order number - base) and their lines
    sorted by (order, line). ``window_order`` maps Activity.orders to rows of ``orders``."""

    orders: Frame
    items: Frame
    window_order: np.ndarray


def _history_orders(people: People, start_ms: int, rng: np.random.Generator) -> Frame:
    """Orders before the window: one-time, occasional, loyal (regular interval) and lapsed
    buyers, within the last HISTORY_DAYS and after each customer's sign-up."""
    customers = people.customers
    old = ~people.new
    low = np.maximum(people.signup_ms, start_ms - HISTORY_DAYS * MS_PER_DAY)
    span = np.maximum(start_ms - low, MS_PER_HOUR)
    lapsed_span = start_ms - LAPSED_DAYS * MS_PER_DAY - low
    buyer = people.buyer.astype(np.int64)
    buyer = np.where((buyer == Buyer.LAPSED) & (lapsed_span < 30 * MS_PER_DAY), Buyer.ONE_TIME, buyer)
    interval = rng.uniform(20, 60, customers) * MS_PER_DAY
    phase = rng.random(customers) * interval
    count = np.select(
        [buyer == Buyer.ONE_TIME, buyer == Buyer.OCCASIONAL, buyer == Buyer.LOYAL, buyer == Buyer.LAPSED],
        [
            np.ones(customers, dtype=np.int64),
            rng.integers(2, 5, customers),
            np.clip(span // interval, 1, 40).astype(np.int64),
            rng.integers(2, 6, customers),
        ],
        0,
    )
    count = np.where(old, count, 0)
    customer, k = ragged(count)
    u = rng.random(len(customer))
    kind = buyer[customer]
    jitter = rng.normal(0, 2 * MS_PER_DAY, len(customer))
    loyal_time = low[customer] + phase[customer] + k * interval[customer] + jitter
    created = np.select(
        [kind == Buyer.LOYAL, kind == Buyer.LAPSED],
        [loyal_time, low[customer] + u * lapsed_span[customer]],
        low[customer] + u * span[customer],
    )
    created = np.clip(created, low[customer], start_ms - MS_PER_MINUTE).astype(np.int64)
    guest = rng.random(len(customer)) < HISTORY_GUEST_SHARE
    with_device = rng.random(len(customer)) < HISTORY_DEVICE_SHARE
    return {
        "person": customer,
        "customer": np.where(guest, -1, customer),
        "device": np.where(with_device, people.device_first[customer], -1),
        "created_ms": created,
        "win": np.full(len(customer), -1, dtype=np.int64),
    }


def _history_lines(people: People, catalog: Catalog, orders: Frame, rng: np.random.Generator) -> Frame:
    n_lines = categorical(rng, LINE_WEIGHTS, len(orders["person"])) + 1
    order, position = ragged(n_lines)
    category = preferred_category(people, orders["person"][order], rng)
    product = catalog.sample(rng, category).astype(np.int32)
    return {
        "order": order,
        "line": (position + 1).astype(np.int32),
        "product": product,
        "quantity": (categorical(rng, QUANTITY_WEIGHTS, len(order)) + 1).astype(np.int32),
        "price_cents": catalog.price_cents[product].astype(np.int64),
    }


def build_commerce(
    people: People,
    catalog: Catalog,
    activity: Activity,
    start_ms: int,
    end_ms: int,
    email_case_rate: float,
    messy_id_rate: float,
    rng: np.random.Generator,
) -> Commerce:
    history = _history_orders(people, start_ms, rng)
    history_lines = _history_lines(people, catalog, history, rng)
    placed = activity.orders
    n_window = len(placed["person"])
    window: Frame = {
        "person": placed["person"],
        "customer": placed["user"],
        "device": placed["device"],
        "created_ms": placed["created_ms"],
        "win": np.arange(n_window, dtype=np.int64),
    }
    window_lines = dict(activity.lines)
    window_lines["order"] = window_lines["order"] + len(history["person"])
    orders = concat([history, window])
    lines = concat([history_lines, window_lines])

    by_time = np.argsort(orders["created_ms"], kind="stable")
    orders = take(orders, by_time)
    row_of = np.empty(len(by_time), dtype=np.int64)
    row_of[by_time] = np.arange(len(by_time))
    lines["order"] = row_of[lines["order"]]
    lines = take(lines, np.lexsort((lines["line"], lines["order"])))

    n = len(orders["person"])
    subtotal = np.bincount(lines["order"], weights=lines["price_cents"] * lines["quantity"], minlength=n).astype(
        np.int64
    )
    free = rng.random(n) < FREE_ORDER_SHARE
    discount = np.where(
        free, subtotal, np.where(rng.random(n) < DISCOUNT_SHARE, np.round(subtotal * DISCOUNT_RATE), 0)
    ).astype(np.int64)
    shipping = np.where(~free & (subtotal - discount < FREE_SHIPPING_FROM_CENTS), SHIPPING_CENTS, 0).astype(np.int64)
    created = orders["created_ms"]
    status = categorical(rng, STATUS_WEIGHTS, n).astype(np.int8)
    status = np.where(created > end_ms - MS_PER_HOUR, Status.COMPLETED, status).astype(np.int8)
    change = np.select(
        [status == Status.CANCELLED, status == Status.REFUNDED],
        [rng.integers(10 * MS_PER_MINUTE, 2 * MS_PER_DAY, n), rng.integers(3 * MS_PER_DAY, 30 * MS_PER_DAY, n)],
        0,
    )
    orders.update(
        {
            "order": np.arange(n, dtype=np.int64),
            "email_case": email_cases(rng, n, email_case_rate),
            "status": status,
            "subtotal_cents": subtotal,
            "discount_cents": discount,
            "shipping_cents": shipping,
            "total_cents": subtotal - discount + shipping,
            "updated_ms": np.minimum(created + change, end_ms),
            "anomaly": np.zeros(n, dtype=np.int8),
            "variant": np.zeros(n, dtype=np.int8),
        }
    )
    n_lines = len(lines["order"])
    lines.update(
        {
            "id_style": np.where(rng.random(n_lines) < messy_id_rate, rng.integers(1, 3, n_lines), 0).astype(np.int8),
            "anomaly": np.zeros(n_lines, dtype=np.int8),
            "variant": np.zeros(n_lines, dtype=np.int8),
        }
    )
    window_rows = np.flatnonzero(orders["win"] >= 0)
    window_order = np.empty(n_window, dtype=np.int64)
    window_order[orders["win"][window_rows]] = window_rows
    return Commerce(orders=orders, items=lines, window_order=window_order)


def order_properties(commerce: Commerce, sku: pa.Array, assembler: Assembler) -> pa.Array:
    """Order Completed properties JSON for each window order (Activity.orders order)."""
    orders, items = commerce.orders, commerce.items
    in_window = orders["win"][items["order"]] >= 0
    rows = np.flatnonzero(in_window)
    line_frame = pa.table(
        {
            "win": orders["win"][items["order"][rows]],
            "line": items["line"][rows],
            "sku": dictionary(items["product"][rows], sku),
            "quantity": items["quantity"][rows],
            "price_cents": items["price_cents"][rows],
        }
    )
    w = commerce.window_order
    order_frame = pa.table(
        {
            "win": np.arange(len(w), dtype=np.int64),
            "order": orders["order"][w],
            "revenue": orders["subtotal_cents"][w] - orders["discount_cents"][w],
            "shipping": orders["shipping_cents"][w],
            "discount": orders["discount_cents"][w],
            "total": orders["total_cents"][w],
        }
    )
    result = assembler.query(
        f"""
        WITH products AS (
            SELECT win, list({{'product_id': sku, 'quantity': quantity, 'price': cents(price_cents)}} ORDER BY line) AS products
            FROM lines GROUP BY win
        )
        SELECT to_json({{
            'order_id': printf('ORD-%09d', o."order" + {ORDER_NUMBER_BASE}),
            'revenue': cents(o.revenue), 'shipping': cents(o.shipping), 'discount': cents(o.discount),
            'total': cents(o.total),
            'currency': '{CURRENCY}', 'products': p.products
        }})::VARCHAR AS properties
        FROM orders_ o JOIN products p USING (win)
        ORDER BY o.win
        """,
        lines=line_frame,
        orders_=order_frame,
    )
    return result["properties"].combine_chunks()


def orders_table(frame: Frame, email: pa.Array, anonymous_id: pa.Array) -> Recipe:
    """raw.orders. Anomalies: 1 missing id, 2 negative total, 3 unknown status, 4 no buyer."""
    rows = pa.table(
        {
            "order": frame["order"],
            "customer": pa.array(frame["customer"], mask=frame["customer"] < 0),
            "email": dictionary(frame["person"], email),
            "email_case": frame["email_case"],
            "anonymous_id": dictionary(frame["device"], anonymous_id),
            "status": frame["status"],
            "total": frame["total_cents"],
            "discount": frame["discount_cents"],
            "shipping": frame["shipping_cents"],
            "created_at": timestamps(frame["created_ms"]),
            "updated_at": timestamps(frame["updated_ms"]),
            "anomaly": frame["anomaly"],
            "variant": frame["variant"],
        }
    )
    no_buyer = f"CASE WHEN {anomaly_is('orders', 'missing_buyer')} THEN [NULL, '', ' '][variant + 1]"
    return Recipe(
        "orders",
        f"""
        SELECT
            CASE WHEN {anomaly_is("orders", "missing_order_id")} THEN [NULL, '', '  '][variant + 1]
                 ELSE printf('ORD-%09d', "order" + {ORDER_NUMBER_BASE}) END AS order_id,
            {no_buyer} ELSE customer_id(customer) END AS customer_id,
            {no_buyer} ELSE email_variant(email, email_case) END AS email,
            {no_buyer} ELSE anonymous_id END AS anonymous_id,
            CASE WHEN {anomaly_is("orders", "unknown_order_status")} THEN {sql_list(UNKNOWN_ORDER_STATUSES)}[variant + 1]
                 ELSE {sql_list(STATUSES)}[status + 1] END AS status,
            '{CURRENCY}' AS currency,
            cents(CASE WHEN {anomaly_is("orders", "negative_total")} THEN -total ELSE total END) AS total_amount,
            cents(discount) AS discount_amount,
            cents(shipping) AS shipping_amount,
            created_at,
            updated_at
        FROM dg_rows
        """,
        {"dg_rows": rows},
    )


def items_table(frame: Frame, sku: pa.Array) -> Recipe:
    """raw.order_items. Anomalies: 1 missing order id, 2 missing product id, 3 invalid
    quantity, 4 negative unit price."""
    rows = pa.table(
        {
            "order": frame["order"],
            "line": frame["line"],
            "sku": dictionary(frame["product"], sku),
            "id_style": frame["id_style"],
            "quantity": frame["quantity"],
            "price_cents": frame["price_cents"],
            "anomaly": frame["anomaly"],
            "variant": frame["variant"],
        }
    )
    return Recipe(
        "order_items",
        f"""
        SELECT
            CASE WHEN {anomaly_is("order_items", "missing_order_id")} THEN [NULL, '', '  '][variant + 1]
                 ELSE printf('ORD-%09d', "order" + {ORDER_NUMBER_BASE}) END AS order_id,
            line::INTEGER AS line_number,
            CASE WHEN {anomaly_is("order_items", "missing_product_id")} THEN [NULL, '', ' '][variant + 1]
                 WHEN id_style = 1 THEN lower(sku)
                 WHEN id_style = 2 THEN ' ' || sku || ' '
                 ELSE sku END AS product_id,
            CASE WHEN {anomaly_is("order_items", "invalid_quantity")} THEN [NULL, 0, -1][variant + 1] ELSE quantity END::INTEGER AS quantity,
            cents(CASE WHEN {anomaly_is("order_items", "negative_unit_price")} THEN -price_cents ELSE price_cents END) AS unit_price
        FROM dg_rows
        """,
        {"dg_rows": rows},
    )
