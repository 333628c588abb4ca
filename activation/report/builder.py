"""Build the segment report: read the warehouse (read-only), draw the charts, render one HTML file.

The file is self-contained: inline CSS, charts as inline SVG, no script, no
font, image or stylesheet loaded from anywhere, so it opens offline and can be
mailed or attached to a ticket as is.

Sources (all optional: a missing table gives that chart an empty state that
says what to run, never an error):

* ``marts.segment_sizes_daily``   segment sizes over time; entries and exits per day
* ``marts.customer_rfm`` (+ ``seeds.rfm_segment_map`` for the names of empty cells)  the RFM grid
* ``marts.sessions``              the product-view-to-order funnel
* ``<state schema>.runs``         sync history (``activation.runs``)
* ``marts.customers``, ``marts.orders``, ``marts.segment_memberships``  key numbers

as_of is the build's (``computed_as_of`` of the marts); the window is the
``days`` UTC dates ending on as_of's date, which is partial.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import jinja2
from markupsafe import Markup

from activation.db import require_duckdb
from activation.errors import ConfigError
from activation.report import charts
from activation.report.model import (
    FUNNEL_STEPS,
    Empty,
    FlowDay,
    FlowsData,
    FunnelData,
    KeyNumber,
    ReportData,
    RfmData,
    Run,
    Series,
    SizesData,
    SyncData,
)

TEMPLATE_DIR = Path(__file__).parent / "templates"
DEFAULT_DAYS = 30
DEFAULT_TOP = 8
MAX_RUNS = 40
BUILD_HINT = "build the warehouse (`make demo`, or `dbt build`)"

T = TypeVar("T")


@dataclass(frozen=True)
class Chart:
    """One section of the page: a chart (or its empty state) and its data table."""

    key: str
    title: str
    caption: str
    svg: Markup | None
    empty: str | None
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


class Reader:
    """Read-only queries that tolerate missing schemas and tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def has_table(self, schema: str, table: str) -> bool:
        row = self.con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()
        return bool(row and row[0])

    def all(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(parameters)).fetchall()

    def one(self, sql: str, parameters: Sequence[Any] = ()) -> tuple[Any, ...]:
        row = self.con.execute(sql, list(parameters)).fetchone()
        assert row is not None
        return row


def _guard(name: str, read: Callable[[], T | Empty]) -> T | Empty:
    """`read()`, or an empty state naming the table when the warehouse cannot answer."""
    try:
        return read()
    except duckdb.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return Empty(f"Cannot read {name} ({first_line}); it may predate this report: {BUILD_HINT}.")


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# --- reading -----------------------------------------------------------------------------------------


def _as_of(db: Reader, generated_at: datetime) -> tuple[datetime, str]:
    for schema, table, column in (
        ("marts", "segment_sizes_daily", "computed_as_of"),
        ("marts", "segment_memberships", "computed_as_of"),
        ("marts", "customer_rfm", "computed_as_of"),
        ("marts", "sessions", "session_start"),
    ):
        if db.has_table(schema, table):
            try:
                value = db.one(f"select max({column}) from {schema}.{table}")[0]
            except duckdb.Error:
                continue
            if value is not None:
                return value, f"{schema}.{table}.{column}" if column == "computed_as_of" else "latest session"
    return generated_at.replace(tzinfo=None), "generation time (no built marts found)"


def read_sizes(db: Reader, start: date, end: date, top: int) -> SizesData | Empty:
    if not db.has_table("marts", "segment_sizes_daily"):
        return Empty(f"No segment sizes: marts.segment_sizes_daily is not in this warehouse; {BUILD_HINT}.")
    rows = db.all(
        "select segment_key, date_day, members from marts.segment_sizes_daily "
        "where date_day between ? and ? order by segment_key, date_day",
        [start, end],
    )
    if not rows:
        return Empty(
            f"No segment sizes between {start} and {end}: marts.segment_sizes_daily has no rows in the window "
            "(it starts with the first build that wrote segment_membership_history; `make history` replays a week)."
        )
    values: dict[str, dict[date, int]] = {}
    for key, day, members in rows:
        values.setdefault(key, {})[day] = int(members)
    latest = {key: days[max(days)] for key, days in values.items()}
    ranked = sorted(values, key=lambda key: (-latest[key], key))
    chosen = ranked[:top]
    dates = sorted({day for key in chosen for day in values[key]})
    return SizesData(
        dates=dates,
        series=[Series(key, values[key], latest[key]) for key in chosen],
        other_segments=len(ranked) - len(chosen),
    )


def read_flows(db: Reader, start: date, end: date) -> FlowsData | Empty:
    if not db.has_table("marts", "segment_sizes_daily"):
        return Empty(f"No entries or exits: marts.segment_sizes_daily is not in this warehouse; {BUILD_HINT}.")
    rows = db.all(
        "select date_day, sum(entered), sum(exited) from marts.segment_sizes_daily "
        "where date_day between ? and ? group by 1 order by 1",
        [start, end],
    )
    if not rows:
        return Empty(f"No segment entries or exits between {start} and {end} (no rows in marts.segment_sizes_daily).")
    history_start = db.one("select min(date_day) from marts.segment_sizes_daily")[0]
    return FlowsData([FlowDay(day, int(entered), int(exited)) for day, entered, exited in rows], history_start)


def read_rfm(db: Reader) -> RfmData | Empty:
    if not db.has_table("marts", "customer_rfm"):
        return Empty(f"No RFM grid: marts.customer_rfm is not in this warehouse; {BUILD_HINT}.")
    names: dict[tuple[int, int], str] = {}
    if db.has_table("seeds", "rfm_segment_map"):
        try:
            names.update(
                {(int(r), int(f)): name for r, f, name in
                 db.all("select r_score, f_score, rfm_segment from seeds.rfm_segment_map") if name is not None}
            )
        except duckdb.Error:
            pass  # the names of empty cells are a nicety; the counts come from customer_rfm
    counts: dict[tuple[int, int], int] = {}
    for r, f, count, name in db.all(
        "select r_score, f_score, count(*), min(rfm_segment) from marts.customer_rfm "
        "where r_score between 1 and 5 and f_score between 1 and 5 group by 1, 2"
    ):
        counts[(int(r), int(f))] = int(count)
        if name is not None:
            names[(int(r), int(f))] = name
    total = sum(counts.values())
    if not total:
        return Empty(
            "No RFM grid: marts.customer_rfm is empty (no customer has a counted order in the RFM lookback)."
        )
    return RfmData(counts=counts, names=names, total=total)


def read_funnel(db: Reader, start: date, end: date, as_of: datetime) -> FunnelData | Empty:
    if not db.has_table("marts", "sessions"):
        return Empty(f"No funnel: marts.sessions is not in this warehouse; {BUILD_HINT}.")
    viewed = "product_views > 0"
    carted = f"{viewed} and add_to_carts > 0"
    checkout = f"{carted} and has_checkout_started"
    bought = f"{checkout} and has_purchased"
    counts = db.one(
        f"select count(*) filter (where {viewed}), count(*) filter (where {carted}), "
        f"count(*) filter (where {checkout}), count(*) filter (where {bought}) "
        "from marts.sessions where session_date between ? and ? and session_start <= ?",
        [start, end, as_of],
    )
    if not counts[0]:
        return Empty(f"No funnel: no session with a product view between {start} and {end}.")
    return FunnelData(list(zip(FUNNEL_STEPS, (int(c) for c in counts), strict=True)))


def read_syncs(db: Reader, schema: str, start: date) -> SyncData | Empty:
    if not db.has_table(schema, "runs"):
        return Empty(
            f"No sync history: this warehouse has no {schema}.runs table. "
            "Activation creates it on the first `activation sync` (or `activation sync --dry-run`)."
        )
    table = f"{_q(schema)}.runs"
    since = datetime.combine(start, datetime.min.time())
    in_window = int(db.one(f"select count(*) from {table} where started_at >= ?", [since])[0])
    if not in_window:
        before = int(db.one(f"select count(*) from {table}")[0])
        return Empty(
            f"No sync run since {start}" + (f" ({before} older runs; raise --days to see them)." if before else
                                            ": no sync has run yet (`activation sync`).")
        )
    rows = db.all(
        "select run_id, sync_name, mode, destination, status, dry_run, started_at, "
        "coalesce(sent, 0), coalesce(failed, 0), coalesce(unchanged, 0) "
        f"from {table} where started_at >= ? order by started_at desc, run_id desc limit ?",
        [since, MAX_RUNS],
    )
    runs = [
        Run(run_id, sync_name, mode, destination, status, bool(dry_run), started_at, int(sent), int(failed),
            int(unchanged))
        for run_id, sync_name, mode, destination, status, dry_run, started_at, sent, failed, unchanged in rows
    ]
    return SyncData(runs=list(reversed(runs)), runs_in_window=in_window)


def read_key_numbers(db: Reader, start: date, end: date, as_of: datetime, schema: str) -> list[KeyNumber]:
    numbers: list[KeyNumber] = []
    num = charts.num

    def attempt(schema_name: str, table: str, add: Callable[[], None]) -> None:
        if db.has_table(schema_name, table):
            try:
                add()
            except duckdb.Error:
                pass

    def customers() -> None:
        total, known = db.one(
            "select count(*), count(*) filter (where has_email_marketing_consent) from marts.customers"
        )
        numbers.append(KeyNumber("Customers", num(total), f"{num(known)} with email marketing consent"))

    def memberships() -> None:
        total, segments, control = db.one(
            "select count(*), count(distinct segment_key), count(*) filter (where is_holdout) "
            "from marts.segment_memberships"
        )
        numbers.append(KeyNumber("Segment memberships", num(total),
                                 f"{num(segments)} segment{'s' if segments != 1 else ''}, {num(control)} in control groups"))

    def sessions() -> None:
        total, bought = db.one(
            "select count(*), count(*) filter (where has_purchased) from marts.sessions "
            "where session_date between ? and ? and session_start <= ?",
            [start, end, as_of],
        )
        numbers.append(KeyNumber("Sessions", num(total), f"{num(bought)} with a purchase ({charts.pct(bought, total)})"))

    def orders() -> None:
        count, revenue, currencies = db.one(
            "select count(*), coalesce(sum(net_revenue), 0), list(distinct currency order by currency) "
            "from marts.orders where is_counted and order_date between ? and ? and ordered_at <= ?",
            [start, end, as_of],
        )
        currencies = [c for c in (currencies or []) if c]
        unit = f" {currencies[0]}" if len(currencies) == 1 else ""
        numbers.append(KeyNumber("Orders", num(count), f"net revenue {float(revenue):,.2f}{unit}"))

    def runs() -> None:
        count, problems = db.one(
            f"select count(*), count(*) filter (where status not in ('succeeded', 'dry_run')) "
            f"from {_q(schema)}.runs where started_at >= ?",
            [datetime.combine(start, datetime.min.time())],
        )
        numbers.append(KeyNumber("Sync runs", num(count), f"{num(problems)} not succeeded"))

    attempt("marts", "customers", customers)
    attempt("marts", "segment_memberships", memberships)
    attempt("marts", "sessions", sessions)
    attempt("marts", "orders", orders)
    attempt(schema, "runs", runs)
    return numbers


def read_report(
    con: duckdb.DuckDBPyConnection,
    *,
    database: str,
    days: int = DEFAULT_DAYS,
    top: int = DEFAULT_TOP,
    state_schema: str = "activation",
    generated_at: datetime | None = None,
) -> ReportData:
    if days < 1:
        raise ConfigError("days must be at least 1")
    if top < 1:
        raise ConfigError("top must be at least 1")
    db = Reader(con)
    generated_at = generated_at or datetime.now(UTC)
    as_of, source = _as_of(db, generated_at)
    end = as_of.date()
    start = end - timedelta(days=days - 1)
    report = ReportData(
        database=database, as_of=as_of, as_of_source=source, generated_at=generated_at, days=days,
        window_start=start, window_end=end,
    )
    report.key_numbers = read_key_numbers(db, start, end, as_of, state_schema)
    report.sizes = _guard("marts.segment_sizes_daily", lambda: read_sizes(db, start, end, top))
    report.flows = _guard("marts.segment_sizes_daily", lambda: read_flows(db, start, end))
    report.rfm = _guard("marts.customer_rfm", lambda: read_rfm(db))
    report.funnel = _guard("marts.sessions", lambda: read_funnel(db, start, end, as_of))
    report.syncs = _guard(f"{state_schema}.runs", lambda: read_syncs(db, state_schema, start))
    return report


# --- drawing ----------------------------------------------------------------------------------------


def _charts(report: ReportData) -> list[Chart]:
    window = f"{report.window_start} to {report.window_end}"
    sections: list[Chart] = []

    sizes = report.sizes
    caption = (
        f"Members per day ({window}, UTC) of the largest segments on as_of's date, from "
        "marts.segment_sizes_daily. Each point is the size at the end of the day; the last day is counted at as_of."
    )
    if isinstance(sizes, SizesData):
        if sizes.other_segments:
            caption += f" {sizes.other_segments} smaller segments are not drawn (see --top)."
        columns = ["date", *[series.key for series in sizes.series]]
        rows = [[day.isoformat(), *[series.values.get(day, "") for series in sizes.series]] for day in sizes.dates]
        sections.append(Chart("segment-sizes", "Segment sizes over time", caption, charts.segment_sizes(sizes),
                              None, columns, rows))
    else:
        sections.append(Chart("segment-sizes", "Segment sizes over time", caption, None, sizes.message, [], []))

    flows = report.flows
    caption = (
        f"Members who entered (up) and left (down) any segment per day ({window}), summed over all segments, "
        "from marts.segment_sizes_daily. A customer entering two segments counts twice."
    )
    if isinstance(flows, FlowsData):
        rows = [[d.day.isoformat(), d.entered, d.exited, d.entered - d.exited] for d in flows.days]
        sections.append(Chart("segment-flows", "Entries and exits per day", caption, charts.segment_flows(flows),
                              None, ["date", "entered", "exited", "net"], rows))
    else:
        sections.append(Chart("segment-flows", "Entries and exits per day", caption, None, flows.message, [], []))

    rfm = report.rfm
    caption = (
        "Customers with a counted order in the RFM lookback, at as_of, by recency (R) and frequency (F) "
        "quintile score, from marts.customer_rfm; each cell is labelled with its named segment "
        "(seed rfm_segment_map), and lines separate differently named cells."
    )
    if isinstance(rfm, RfmData):
        rows = [
            [r, f, rfm.names.get((r, f), ""), rfm.counts.get((r, f), 0), charts.pct(rfm.counts.get((r, f), 0), rfm.total)]
            for r in range(5, 0, -1) for f in range(1, 6)
        ]
        sections.append(Chart("rfm", "RFM grid", caption, charts.rfm_grid(rfm), None,
                              ["R", "F", "segment", "customers", "share"], rows))
    else:
        sections.append(Chart("rfm", "RFM grid", caption, None, rfm.message, [], []))

    funnel = report.funnel
    caption = (
        f"Sessions started {window} (up to as_of) from marts.sessions: with a product view, then of those with an "
        "add to cart, then a started checkout, then a purchase. Each step counts only sessions that reached every "
        "earlier step in the same session."
    )
    if isinstance(funnel, FunnelData):
        first = funnel.steps[0][1]
        rows = [
            [label, count, charts.pct(count, funnel.steps[i - 1][1]) if i else "", charts.pct(count, first)]
            for i, (label, count) in enumerate(funnel.steps)
        ]
        sections.append(Chart("funnel", "Funnel: product view to order", caption, charts.funnel(funnel), None,
                              ["step", "sessions", "of previous step", "of first step"], rows))
    else:
        sections.append(Chart("funnel", "Funnel: product view to order", caption, None, funnel.message, [], []))

    syncs = report.syncs
    caption = (
        f"Records per sync run started since {report.window_start} (activation.runs), oldest first: sent and "
        "acknowledged, sent and failed (retried next run), unchanged (already in the destination, not sent)."
    )
    if isinstance(syncs, SyncData):
        if syncs.runs_in_window > len(syncs.runs):
            caption += f" The {len(syncs.runs)} most recent of {syncs.runs_in_window} runs are drawn."
        rows = [
            [f"{run.started_at:%Y-%m-%d %H:%M:%S}", run.sync_name, run.destination, run.mode,
             run.status + (" (dry run)" if run.dry_run else ""), run.sent, run.failed, run.unchanged]
            for run in syncs.runs
        ]
        sections.append(Chart("sync-history", "Sync history", caption, charts.sync_history(syncs), None,
                              ["started (UTC)", "sync", "destination", "mode", "status", "sent", "failed",
                               "unchanged"], rows))
    else:
        sections.append(Chart("sync-history", "Sync history", caption, None, syncs.message, [], []))
    return sections


def render_report(report: ReportData) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    template = environment.get_template("report.html.j2")
    return template.render(report=report, charts=_charts(report), num=charts.num)


def build_report(
    db_path: Path,
    *,
    days: int = DEFAULT_DAYS,
    top: int = DEFAULT_TOP,
    state_schema: str = "activation",
    generated_at: datetime | None = None,
) -> tuple[ReportData, str]:
    """Read `db_path` read-only and return the report's data and its HTML."""
    require_duckdb(db_path, "report")
    if not db_path.is_file():
        raise ConfigError(f"warehouse not found: {db_path}; {BUILD_HINT} or point --db at one")
    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error as error:
        raise ConfigError(
            f"cannot open {db_path} read-only ({error}); if dbt or a sync is writing it right now, wait for it"
        ) from None
    try:
        report = read_report(con, database=db_path.name, days=days, top=top, state_schema=state_schema,
                             generated_at=generated_at)
    finally:
        con.close()
    return report, render_report(report)


def write_report(html_text: str, out: Path) -> None:
    """Write atomically: a reader never sees half a report."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    partial.write_text(html_text, encoding="utf-8")
    partial.replace(out)
