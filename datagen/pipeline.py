"""generate(config) -> Dataset: runs the generation steps in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from datagen import email
from datagen.arrays import concat
from datagen.behaviour import Activity, simulate
from datagen.catalog import Catalog, build_catalog, product_frame, product_text, products_table
from datagen.commerce import Commerce, build_commerce, items_table, order_properties, orders_table
from datagen.config import GeneratorConfig
from datagen.consent import consent_frame, consents_table, plan_consents, privacy_frame, privacy_table
from datagen.contract import RAW_TABLES
from datagen.crm import Crm, build_crm, customers_table
from datagen.duck import Assembler, Tables
from datagen.manifest import build_manifest
from datagen.mess import (
    add_event_noise,
    inject_consents,
    inject_customers,
    inject_email_events,
    inject_events,
    inject_items,
    inject_orders,
    inject_privacy,
    inject_products,
)
from datagen.people import People, build_people, device_frame, device_text, person_text
from datagen.streams import Streams
from datagen.tracker import events_table

STAGES: tuple[str, ...] = (
    "catalogue",
    "people",
    "behaviour",
    "crm",
    "orders",
    "consents and email",
    "anomalies",
    "tables",
    "events",
)


@dataclass(frozen=True)
class Dataset:
    """The raw tables (raw contract schema, assembled on first access) and the manifest."""

    tables: Tables
    manifest: dict[str, Any]


def _ignore(_: str) -> None:
    return None


def _info(
    people: People, activity: Activity, commerce: Commerce, crm: Crm, mail: email.EmailActivity, catalog: Catalog
) -> dict[str, int]:
    """Informational counts for the manifest."""
    users = activity.events["user"]
    seen = np.zeros(people.persons, dtype=bool)
    seen[activity.events["person"]] = True
    identified = np.zeros(people.customers, dtype=bool)
    identified[users[users >= 0]] = True
    return {
        "customers": people.customers,
        "customers_signed_up_in_window": int(people.new.sum()),
        "identified_customers": int(identified.sum()),
        "anonymous_only_visitors": int(seen[people.customers :].sum()),
        "devices": people.devices,
        "skewed_devices": int((people.device_skew_ms != 0).sum()),
        "sessions": activity.sessions,
        "human_events": len(users),
        "late_events": activity.late_events,
        "orders": len(commerce.orders["order"]),
        "orders_in_window": len(commerce.window_order),
        "duplicate_crm_persons": crm.duplicate_persons,
        "invalid_crm_emails": int(crm.invalid_email.sum()),
        "email_campaigns": len(mail.campaign_ms),
        "products": catalog.count,
    }


def generate(config: GeneratorConfig, on_stage: Callable[[str], None] | None = None) -> Dataset:
    """Generate all raw tables for ``config``. ``on_stage`` is called with each name of
    STAGES as that stage starts."""
    report = on_stage or _ignore
    streams = Streams(config.seed, config.end_ms)
    rates = config.rates
    start, end = config.start_ms, config.end_ms

    report("catalogue")
    catalog = build_catalog(config.product_count, end, streams.rng("catalog"))

    report("people")
    device_key = streams.key("devices")
    people = build_people(config.customers, config.days, start, end, streams.rng("people"), device_key)

    report("behaviour")
    extra = rates.events_bot_user_agent + rates.events_bot_event_rate + rates.events_duplicates
    activity = simulate(
        config, people, catalog, max(1, round(config.event_target / (1 + extra))), streams.rng("behaviour")
    )

    report("crm")
    created = np.where(people.new, activity.signup_ms, people.signup_ms)
    crm = build_crm(
        people,
        created,
        end,
        rates.noise_duplicate_persons,
        rates.noise_invalid_crm_emails,
        rates.noise_email_case,
        streams.rng("crm"),
    )

    report("orders")
    commerce = build_commerce(
        people,
        catalog,
        activity,
        start,
        end,
        rates.noise_email_case,
        rates.noise_messy_product_ids,
        streams.rng("commerce"),
    )

    report("consents and email")
    plan = plan_consents(created, crm.invalid_email, start, end, streams.rng("consents"))
    mail = email.simulate(plan, people, config.days, start, end, streams.rng("email"))
    consent_ids = streams.ids("consents")
    consents = consent_frame(plan, mail.unsubscribed_ms, rates.noise_email_case, streams.rng("consents.rows"))
    consents["id_hi"], consents["id_lo"] = consent_ids.take(len(consents["customer"]))
    request_ids = streams.ids("privacy_requests")
    privacy = privacy_frame(created, start, end, streams.rng("privacy_requests"))
    privacy["id_hi"], privacy["id_lo"] = request_ids.take(len(privacy["customer"]))
    mail_rows = email.email_frame(mail, people.customers, rates.noise_email_case, streams.rng("email.rows"))
    mail_rows["id_hi"], mail_rows["id_lo"] = streams.ids("email_events").take(len(mail_rows["customer"]))

    report("anomalies")
    products, expect_products = inject_products(product_frame(catalog), rates, end, streams.rng("mess.products"))
    customers, expect_customers = inject_customers(crm.rows, rates, end, streams.rng("mess.customers"))
    orders, expect_orders = inject_orders(commerce.orders, rates, streams.rng("mess.orders"))
    items, expect_items = inject_items(commerce.items, rates, streams.rng("mess.order_items"))
    mail_rows, expect_mail = inject_email_events(mail_rows, rates, streams.rng("mess.email_events"))
    consents, expect_consents = inject_consents(consents, rates, consent_ids, streams.rng("mess.consents"))
    privacy, expect_privacy = inject_privacy(privacy, rates, request_ids, streams.rng("mess.privacy_requests"))
    events = dict(activity.events)
    event_ids = streams.ids("events")
    events["mid_hi"], events["mid_lo"] = event_ids.take(len(events["kind"]))
    add_event_noise(events, rates, streams.rng("noise.events"))
    event_parts, bot_devices, expect_events = inject_events(
        events, rates, catalog, event_ids, people.devices, device_key, start, end, streams.rng("mess.events")
    )

    report("tables")
    with Assembler() as assembler:
        person = person_text(people, assembler)
        email_text = person["email"].combine_chunks()
        devices = concat([device_frame(people), bot_devices])
        device_strings = device_text(devices, assembler)
        product_strings = product_text(catalog, assembler)
        sku = product_strings["sku"].combine_chunks()
        recipes = {
            "products": products_table(products, product_strings),
            "customers": customers_table(customers, person),
            "orders": orders_table(orders, email_text, device_strings["anonymous_id"].combine_chunks()),
            "order_items": items_table(items, sku),
            "email_events": email.email_events_table(mail_rows, email_text, email.campaign_ids(mail, assembler)),
            "consents": consents_table(consents, email_text),
            "privacy_requests": privacy_table(privacy, email_text),
        }
        report("events")
        properties = order_properties(commerce, sku, assembler)
        recipes["events"] = events_table(
            event_parts, devices, device_strings, person, product_strings, properties, people.customers
        )

    info = _info(people, activity, commerce, crm, mail, catalog)
    expectations = {
        "events": expect_events,
        "customers": expect_customers,
        "orders": expect_orders,
        "order_items": expect_items,
        "products": expect_products,
        "email_events": expect_mail,
        "consents": expect_consents,
        "privacy_requests": expect_privacy,
    }
    ordered = {name: recipes[name] for name in RAW_TABLES}
    return Dataset(Tables(ordered), build_manifest(config, expectations, info))
