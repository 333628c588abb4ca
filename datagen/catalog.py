"""The product catalogue: categories, prices, stock, popularity; raw.products rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from datagen.arrays import MS_PER_DAY, Frame, categorical, timestamps
from datagen.contract import anomaly_is
from datagen.duck import Assembler, Recipe, sql_list
from datagen.vocab import CATEGORIES, CDN_URL, COLOURS, CURRENCY, SHOP_URL, STYLES

STOCK_OUT_SHARE = 0.10
NOUNS_PER_CATEGORY = len(CATEGORIES[0].nouns)


@dataclass(frozen=True)
class Catalog:
    category: np.ndarray  # int8 category index per product
    price_cents: np.ndarray  # int64
    style: np.ndarray  # int8 index into STYLES
    colour: np.ndarray  # int8 index into COLOURS
    noun: np.ndarray  # int8 index into the category's nouns
    stock: np.ndarray  # int32 units in stock
    updated_ms: np.ndarray  # int64 last change
    _keys: np.ndarray  # category + cumulative popularity within category, ascending
    _by_key: np.ndarray  # product index of each key

    @property
    def count(self) -> int:
        return len(self.category)

    def sample(self, rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
        """A product of each given category, drawn by popularity."""
        position = np.searchsorted(self._keys, category + rng.random(len(category)), side="right")
        return self._by_key[np.minimum(position, len(self._keys) - 1)]


def build_catalog(count: int, end_ms: int, rng: np.random.Generator) -> Catalog:
    """``count`` products; every category gets at least one."""
    n_categories = len(CATEGORIES)
    category = np.concatenate(
        [
            np.arange(n_categories),
            categorical(rng, [c.weight for c in CATEGORIES], count - n_categories),
        ]
    ).astype(np.int8)
    median = np.array([c.median_price for c in CATEGORIES])[category]
    euros = np.maximum(4, np.floor(median * rng.lognormal(0.0, 0.35, count)))
    cents = (euros * 100 + np.where(rng.random(count) < 0.7, 95, 0)).astype(np.int64)
    stock = np.where(rng.random(count) < STOCK_OUT_SHARE, 0, rng.integers(1, 500, count)).astype(np.int32)
    updated = end_ms - rng.integers(MS_PER_DAY, 120 * MS_PER_DAY, count)
    popularity = rng.lognormal(0.0, 1.2, count)
    by_key = np.lexsort((np.arange(count), category))
    cat_sorted = category[by_key].astype(np.int64)
    weight = popularity[by_key]
    cumulative = np.cumsum(weight)
    first = np.searchsorted(cat_sorted, np.arange(n_categories))
    last = np.searchsorted(cat_sorted, np.arange(n_categories), side="right") - 1
    start = np.where(first > 0, cumulative[np.maximum(first - 1, 0)], 0.0)
    total = cumulative[last] - start
    within = (cumulative - start[cat_sorted]) / total[cat_sorted]
    within[last] = 1.0
    return Catalog(
        category=category,
        price_cents=cents,
        style=rng.integers(0, len(STYLES), count).astype(np.int8),
        colour=rng.integers(0, len(COLOURS), count).astype(np.int8),
        noun=rng.integers(0, NOUNS_PER_CATEGORY, count).astype(np.int8),
        stock=stock,
        updated_ms=updated,
        _keys=cat_sorted + within,
        _by_key=by_key,
    )


def product_frame(catalog: Catalog) -> Frame:
    """Numeric rows of raw.products (one per product, clean)."""
    n = catalog.count
    return {
        "product": np.arange(n, dtype=np.int32),
        "price_cents": catalog.price_cents,
        "stock": catalog.stock,
        "updated_ms": catalog.updated_ms,
        "id_style": np.zeros(n, dtype=np.int8),  # 0 clean, 1 lower-case, 2 padded
        "anomaly": np.zeros(n, dtype=np.int8),
        "variant": np.zeros(n, dtype=np.int8),
    }


def product_text(catalog: Catalog, assembler: Assembler) -> pa.Table:
    """Per product (in index order): sku, name, category, url, image_url."""
    frame = pa.table(
        {
            "product": np.arange(catalog.count, dtype=np.int32),
            "category": catalog.category,
            "style": catalog.style,
            "colour": catalog.colour,
            "noun": catalog.noun,
        }
    )
    nouns = [noun for c in CATEGORIES for noun in c.nouns]
    return assembler.query(
        f"""
        SELECT sku, name, category, '{SHOP_URL}/p/' || sku AS url, '{CDN_URL}/' || sku || '.jpg' AS image_url
        FROM (
            SELECT
                printf('SKU-%06d', product + 1) AS sku,
                {sql_list(COLOURS)}[colour + 1] || ' ' || {sql_list(STYLES)}[style + 1] || ' '
                    || {sql_list(nouns)}[category * {NOUNS_PER_CATEGORY} + noun + 1] AS name,
                {sql_list([c.slug for c in CATEGORIES])}[category + 1] AS category
            FROM frame
        )
        """,
        frame=frame,
    )


def products_table(frame: Frame, text: pa.Table) -> Recipe:
    """raw.products from numeric rows (anomaly 1 = missing id, 2 = negative price)."""
    rows = pa.table(
        {
            "sku": text["sku"].take(frame["product"]),
            "name": text["name"].take(frame["product"]),
            "category": text["category"].take(frame["product"]),
            "url": text["url"].take(frame["product"]),
            "image_url": text["image_url"].take(frame["product"]),
            "price_cents": frame["price_cents"],
            "stock": frame["stock"],
            "updated_at": timestamps(frame["updated_ms"]),
            "id_style": frame["id_style"],
            "anomaly": frame["anomaly"],
            "variant": frame["variant"],
        }
    )
    return Recipe(
        "products",
        f"""
        SELECT
            CASE WHEN {anomaly_is("products", "missing_product_id")} THEN [NULL, '', '  '][variant + 1]
                 WHEN id_style = 1 THEN lower(sku)
                 WHEN id_style = 2 THEN ' ' || sku || ' '
                 ELSE sku END AS product_id,
            name,
            category,
            cents(CASE WHEN {anomaly_is("products", "negative_price")} THEN -price_cents ELSE price_cents END) AS price,
            '{CURRENCY}' AS currency,
            image_url,
            url AS product_url,
            stock::INTEGER AS stock_quantity,
            updated_at
        FROM dg_rows
        """,
        {"dg_rows": rows},
    )
