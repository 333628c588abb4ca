"""Generator configuration: sizes, time window, seed and anomaly rates, validated."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from datagen.contract import QUARANTINE_REASONS

MIN_CUSTOMERS: Final = 20
MAX_CUSTOMERS: Final = 10_000_000
MAX_DAYS: Final = 730
MAX_PRODUCTS: Final = 999_999
EVENTS_PER_CUSTOMER_PER_30_DAYS: Final = 10
MAX_EVENTS_PER_CUSTOMER_PER_DAY: Final = 20
MAX_TABLE_MESS: Final = 0.5


def default_end_time() -> datetime:
    """Now, UTC, truncated to the second (naive)."""
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)


@dataclass(frozen=True)
class MessConfig:
    """Anomaly rates, each a share of the clean rows of its table (bots: of human events).

    Quarantine and duplicate rates are named ``<table>_<reason>`` / ``<table>_duplicates``.
    Any positive rate injects at least one row, so every reason is exercised even in tiny
    runs. The ``noise_*`` rates add mess that staging normalises (not quarantined).
    """

    events_missing_message_id: float = 0.005
    events_unknown_message_type: float = 0.005
    events_malformed_json: float = 0.005
    events_invalid_timestamp: float = 0.005
    events_timestamp_in_future: float = 0.005
    events_timestamp_too_old: float = 0.005
    events_missing_identifier: float = 0.005
    events_unknown_event_name: float = 0.005
    events_bot_user_agent: float = 0.01
    events_bot_event_rate: float = 0.01
    events_duplicates: float = 0.02
    customers_missing_customer_id: float = 0.003
    customers_duplicates: float = 0.01
    orders_missing_order_id: float = 0.003
    orders_negative_total: float = 0.003
    orders_unknown_order_status: float = 0.003
    orders_missing_buyer: float = 0.003
    # share of cancelled / refunded orders first delivered as completed, then re-delivered
    orders_duplicates: float = 0.5
    order_items_missing_order_id: float = 0.002
    order_items_missing_product_id: float = 0.002
    order_items_invalid_quantity: float = 0.002
    order_items_negative_unit_price: float = 0.002
    order_items_duplicates: float = 0.005
    products_missing_product_id: float = 0.005
    products_negative_price: float = 0.005
    products_duplicates: float = 0.02
    email_events_missing_event_id: float = 0.002
    email_events_unknown_email_event_type: float = 0.002
    email_events_invalid_email: float = 0.002
    email_events_duplicates: float = 0.01
    consents_missing_subject: float = 0.003
    consents_unknown_consent_status: float = 0.003
    consents_unknown_channel: float = 0.003
    consents_duplicates: float = 0.005
    privacy_requests_missing_subject: float = 0.05
    privacy_requests_duplicates: float = 0.05
    # normalised by staging, never quarantined
    noise_event_name_aliases: float = 0.03  # of track events
    noise_messy_product_ids: float = 0.03  # 'sku-000123', ' SKU-000123 ' in events and order lines
    noise_email_case: float = 0.08  # mixed-case / padded emails in traits, CRM, orders, ESP, consents
    noise_duplicate_persons: float = 0.005  # second CRM record for one person
    noise_invalid_crm_emails: float = 0.005  # 'n/a', 'john@', '' in the CRM

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
                raise ValueError(f"mess rate {f.name} must be a number between 0 and 1 (got {value!r})")

    def scaled(self, factor: float) -> MessConfig:
        """All rates multiplied by ``factor``, each capped at 1."""
        return MessConfig(**{f.name: min(1.0, getattr(self, f.name) * factor) for f in dataclasses.fields(self)})

    def rate(self, table: str, kind: str) -> float:
        return float(getattr(self, f"{table}_{kind}"))

    def table_total(self, table: str) -> float:
        kinds = (*QUARANTINE_REASONS[table], "duplicates")
        if table == "orders":  # orders_duplicates is a share of cancelled / refunded orders
            kinds = QUARANTINE_REASONS[table]
        return sum(self.rate(table, kind) for kind in kinds)


def injected_count(rate: float, rows: int) -> int:
    """Rows to inject for a rate: round(rate * rows), at least 1 when rate and rows > 0."""
    if rate <= 0 or rows <= 0:
        return 0
    return min(rows, max(1, round(rate * rows)))


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. Same config => byte-identical tables.

    ``end_time`` is naive UTC (an aware datetime is converted); events fall in
    [end_time - days, end_time]. ``products`` defaults to max(50, customers // 500), capped
    at 5000; ``events`` (a target for the total event count) defaults to about 10 per
    customer per 30 days. ``mess`` rates are multiplied by ``mess_scale`` (0 = clean data).
    """

    customers: int = 2000
    days: int = 30
    end_time: datetime = field(default_factory=default_end_time)
    seed: int = 42
    products: int | None = None
    events: int | None = None
    mess: MessConfig = field(default_factory=MessConfig)
    mess_scale: float = 1.0

    def __post_init__(self) -> None:
        _check_int("customers", self.customers, MIN_CUSTOMERS, MAX_CUSTOMERS, "--customers")
        _check_int("days", self.days, 1, MAX_DAYS, "--days")
        _check_int("seed", self.seed, 0, 2**63 - 1, "--seed")
        if self.products is not None:
            _check_int("products", self.products, 10, MAX_PRODUCTS, "--products")
        if not isinstance(self.end_time, datetime):
            raise ValueError(
                f"end_time must be a datetime (got {self.end_time!r}); pass --end-time 2026-11-22T12:00:00"
            )
        end = self.end_time
        if end.tzinfo is not None:
            end = end.astimezone(UTC).replace(tzinfo=None)
        if not 2000 <= end.year <= 2100:
            raise ValueError(
                f"end_time {end.isoformat()} is outside 2000-2100; pass --end-time like 2026-11-22T12:00:00"
            )
        object.__setattr__(self, "end_time", end)
        if not isinstance(self.mess_scale, int | float) or isinstance(self.mess_scale, bool) or self.mess_scale < 0:
            raise ValueError(
                f"mess_scale must be a number >= 0 (got {self.mess_scale!r}); use --mess-scale 0 for clean data"
            )
        if not isinstance(self.mess, MessConfig):
            raise ValueError("mess must be a MessConfig")
        rates = self.mess.scaled(self.mess_scale)
        for table in QUARANTINE_REASONS:
            total = rates.table_total(table)
            if total > MAX_TABLE_MESS:
                raise ValueError(
                    f"--mess-scale {self.mess_scale} makes {total:.0%} of {table} rows anomalous "
                    f"(max {MAX_TABLE_MESS:.0%}); lower --mess-scale"
                )
        if self.events is not None:
            most = self.customers * self.days * MAX_EVENTS_PER_CUSTOMER_PER_DAY
            _check_int(
                "events",
                self.events,
                1,
                most,
                f"--events in that range (at most {MAX_EVENTS_PER_CUSTOMER_PER_DAY} per customer per day), "
                "or raise --customers / --days",
            )

    @property
    def product_count(self) -> int:
        if self.products is not None:
            return self.products
        return min(5000, max(50, self.customers // 500))

    @property
    def event_target(self) -> int:
        if self.events is not None:
            return self.events
        return max(1, round(self.customers * EVENTS_PER_CUSTOMER_PER_30_DAYS * self.days / 30))

    @property
    def rates(self) -> MessConfig:
        """Effective anomaly rates (mess * mess_scale)."""
        return self.mess.scaled(self.mess_scale)

    @property
    def end_ms(self) -> int:
        return _epoch_ms(self.end_time)

    @property
    def start_ms(self) -> int:
        return self.end_ms - self.days * 86_400_000

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for the manifest)."""
        return {
            "customers": self.customers,
            "days": self.days,
            "end_time": self.end_time.isoformat(),
            "seed": self.seed,
            "products": self.product_count,
            "events_target": self.event_target,
            "mess_scale": self.mess_scale,
            "mess": dataclasses.asdict(self.mess),
        }


def _epoch_ms(value: datetime) -> int:
    return (value - datetime(1970, 1, 1)) // timedelta(milliseconds=1)


def _check_int(name: str, value: object, low: int, high: int, option: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(
            f"{name} must be an integer from {low:,} to {high:,} (got {value!r}); pass {option} in that range"
        )
