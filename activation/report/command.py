"""``activation report``: write the segment report, one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from activation.cli_common import CONTEXT, ConfigProblem
from activation.db import DEFAULT_WAREHOUSE, default_warehouse_path
from activation.errors import ConfigError
from activation.report.builder import DEFAULT_DAYS, DEFAULT_TOP, build_report, write_report
from activation.report.model import Empty


@click.command("report", context_settings=CONTEXT, short_help="Write a self-contained HTML report of the segments.")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=default_warehouse_path,
    show_default=f"$WAREHOUSE_PATH or ./{DEFAULT_WAREHOUSE}",
    help="DuckDB warehouse to read (opened read-only).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="The HTML file to write (replaced atomically).",
)
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    default=DEFAULT_DAYS,
    show_default=True,
    help="Window in UTC days, ending on as_of's date: segment days, sessions, orders and sync runs in it.",
)
@click.option(
    "--top",
    type=click.IntRange(1, 10),
    default=DEFAULT_TOP,
    show_default=True,
    help="Segments drawn in 'segment sizes over time' (the largest on as_of's date).",
)
@click.option(
    "--state-schema",
    default="activation",
    show_default=True,
    help="Schema of activation's own tables (syncs.yml state_schema), for the sync history.",
)
def report_command(db_path: Path, out: Path, days: int, top: int, state_schema: str) -> None:
    """Write one HTML file with the segment charts: sizes over time, entries and exits per day,
    the RFM grid, the product-view-to-order funnel and the sync history, under a header with
    as_of, the generation time and key numbers.

    The file is self-contained (inline CSS and SVG, no script, nothing loaded from the network):
    open it offline, mail it, attach it. A chart whose table is missing or empty (for example the
    sync history before the first `activation sync`) shows a note saying what to run instead.

    \b
    Examples:
      activation report
      activation report --db warehouse.duckdb --out report.html --days 14

    \b
    Exit codes: 0 written, 2 usage or configuration error (missing or locked warehouse).
    """
    try:
        report, html_text = build_report(db_path, days=days, top=top, state_schema=state_schema)
    except ConfigError as error:
        raise ConfigProblem(str(error)) from None
    write_report(html_text, out)
    sections = {
        "segment sizes": report.sizes,
        "entries/exits": report.flows,
        "RFM grid": report.rfm,
        "funnel": report.funnel,
        "sync history": report.syncs,
    }
    empty = [name for name, data in sections.items() if isinstance(data, Empty)]
    click.echo(
        f"Wrote {out} ({len(html_text.encode()) / 1024:,.0f} KB): as of {report.as_of:%Y-%m-%d %H:%M} UTC, "
        f"{report.days} days ({report.window_start} to {report.window_end}); "
        f"{len(sections) - len(empty)} of {len(sections)} charts drawn"
        + (f", empty: {', '.join(empty)}" if empty else "")
    )
