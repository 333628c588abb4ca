"""`activation report`: one self-contained HTML file with the segment charts.

Fast: every test builds a tiny DuckDB with only the tables the report reads
(tests/python/report_warehouse.py); no dbt build. The HTML is parsed into a
small tree to count what each chart drew. test_report_browser.py checks that a
real browser draws it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from activation.cli import main
from activation.report import build_report
from activation.report.charts import nice_scale, strip_common_prefix
from report_warehouse import (
    AS_OF,
    EVIL,
    EVIL_RFM,
    EVIL_SYNC,
    FUNNEL,
    RFM_COUNTS,
    RFM_NAMES,
    RUNS,
    SEGMENTS,
    make_report_warehouse,
    sizes_rows,
    window_days,
)

CHARTS = ("segment-sizes", "segment-flows", "rfm", "funnel", "sync-history")
GENERATED = datetime(2026, 11, 21, 9, 30, 0)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


# --- a small DOM ---------------------------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    text: str = ""

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def walk(self):
        for child in self.children:
            yield child
            yield from child.walk()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        return [
            node for node in self.walk()
            if (tag is None or node.tag == tag)
            and (cls is None or set(cls.split()) <= node.classes)
            and all(node.attrs.get(name.replace("_", "-")) == value for name, value in attrs.items())
        ]

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, cls, **attrs)
        assert len(found) == 1, f"expected one {tag}.{cls} {attrs}, found {len(found)}"
        return found[0]

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {name: value or "" for name, value in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, {name: value or "" for name, value in attrs}, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        assert node is not self.root, f"unbalanced </{tag}>"
        self.current = node.parent

    def handle_data(self, data):
        self.current.text += data  # text between children is kept on the parent, in order


def parse(html_text: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html_text)
    builder.close()
    assert builder.current is builder.root, f"unclosed <{builder.current.tag}>"
    return builder.root


def chart(doc: Node, key: str) -> Node:
    return doc.one(data_chart=key)


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared and read-only: tests that change data build their own."""
    return make_report_warehouse(tmp_path_factory.mktemp("report") / "tiny.duckdb")


def report_html(db: Path, **options) -> str:
    return build_report(db, generated_at=GENERATED, **options)[1]


@pytest.fixture(scope="module")
def html(warehouse: Path) -> str:
    return report_html(warehouse)


@pytest.fixture(scope="module")
def doc(html: str) -> Node:
    return parse(html)


# --- self-contained -------------------------------------------------------------------------------


def test_the_report_loads_nothing_from_anywhere(html: str, doc: Node) -> None:
    for node in doc.walk():
        for name, value in node.attrs.items():
            if name in {"src", "href", "srcset", "xlink:href", "data", "action", "poster", "background"}:
                raise AssertionError(f"<{node.tag} {name}={value!r}> loads a resource")
    assert not doc.find_all("script"), "no script at all (inline or not)"
    assert not doc.find_all("link"), "no stylesheet or font link"
    for tag in ("img", "iframe", "object", "embed", "image", "use", "video", "audio", "base"):
        assert not doc.find_all(tag), f"<{tag}> would load something"
    styles = " ".join(node.all_text() for node in doc.find_all("style"))
    styles += " ".join(node.attrs.get("style", "") for node in doc.walk())
    assert "url(" not in styles and "@import" not in styles and "@font-face" not in styles
    assert not re.search(r"https?://", html), "no URL anywhere in the file"
    assert not re.search(r"<script\b[^>]*\bsrc", html, re.I)
    assert not re.search(r"<link\b[^>]*rel=.?stylesheet", html, re.I)
    assert html.startswith("<!DOCTYPE html>")
    assert doc.one("meta", charset="utf-8")


def test_every_chart_is_drawn_with_title_description_and_axis_titles(doc: Node) -> None:
    sections = doc.find_all("section", cls="chart")
    assert [section.attrs["data-chart"] for section in sections] == list(CHARTS)
    for key in CHARTS:
        section = chart(doc, key)
        assert section.attrs["data-state"] == "drawn"
        svg = section.one("svg")
        assert svg.attrs["role"] == "img"
        first, second = svg.children[:2]
        assert (first.tag, second.tag) == ("title", "desc"), key
        assert first.text.strip() and len(second.text) > 40, key
        assert svg.attrs["aria-labelledby"] == f"{first.attrs['id']} {second.attrs['id']}"
        assert len(doc.find_all(id=first.attrs["id"])) == 1, "ids are unique in the page"
        assert len(svg.find_all("text", cls="axis-title")) == 2, f"{key}: an x and a y axis title"
        assert section.one("h2").text.strip()
        assert section.find_all("table"), f"{key}: a data table for screen readers and copying"


def test_segment_sizes_draws_the_largest_segments(doc: Node) -> None:
    svg = chart(doc, "segment-sizes").one("svg")
    series = svg.find_all("path", cls="series")
    assert len(series) == 8  # --top default
    shown = [group.attrs["data-series"] for group in svg.find_all("g", cls="segment")]
    assert shown[0] == EVIL, "the largest first"
    assert shown[1:] == [f"segment_{index:02d}" for index in range(10, 3, -1)]
    assert len(svg.find_all("circle", cls="point")) == 8 * 5
    for path in series:
        assert path.attrs["d"].startswith("M") and path.attrs["d"].count("L") == 4
    assert "4 smaller segments" in chart(doc, "segment-sizes").one("p", cls="caption").text


def test_entries_and_exits_one_bar_each_per_day(doc: Node) -> None:
    svg = chart(doc, "segment-flows").one("svg")
    entered = svg.find_all("rect", cls="bar entered")
    exited = svg.find_all("rect", cls="bar exited")
    assert len(entered) == len(exited) == 5
    rows = sizes_rows()
    for day_index, rect in enumerate(entered):
        day = window_days(30)[day_index]
        assert int(rect.attrs["data-value"]) == sum(row[4] for row in rows if row[2] == day)
    assert [int(rect.attrs["data-value"]) for rect in exited] == [0] + [2 * len(SEGMENTS)] * 4
    # the first day of the history counts every member as entered: cut at the top, value printed
    clipped = svg.find_all("rect", cls="bar entered clipped")
    assert len(clipped) == 1 and clipped[0] is entered[0]
    assert "(history starts)" in svg.all_text()


def test_rfm_grid_has_25_cells_labelled_with_segments(doc: Node) -> None:
    svg = chart(doc, "rfm").one("svg")
    cells = svg.find_all("rect", cls="cell")
    assert len(cells) == 25
    seen = {(int(c.attrs["data-r"]), int(c.attrs["data-f"])): c for c in cells}
    assert set(seen) == {(r, f) for r in range(1, 6) for f in range(1, 6)}
    for key, cell in seen.items():
        assert int(cell.attrs["data-count"]) == RFM_COUNTS.get(key, 0)
        assert cell.attrs["data-segment"] == RFM_NAMES[key], "empty cells are named from the seed too"
    # the darkest cell is the fullest
    fills = {key: cell.attrs["fill"] for key, cell in seen.items()}
    assert min(fills.values()) == fills[(1, 1)]
    assert "Lost" in svg.all_text() and "Promising" in svg.all_text()


def test_funnel_counts_nested_steps_in_the_window(doc: Node) -> None:
    svg = chart(doc, "funnel").one("svg")
    bars = svg.find_all("rect", cls="bar")
    assert [int(bar.attrs["data-value"]) for bar in bars] == FUNNEL
    widths = [float(bar.attrs["width"]) for bar in bars]
    assert widths == sorted(widths, reverse=True) and widths[-1] > 0
    assert "60.0%" in svg.all_text()  # 6 of 10


def test_sync_history_one_stack_per_run(doc: Node) -> None:
    svg = chart(doc, "sync-history").one("svg")
    runs = svg.find_all("g", cls="run")
    assert len(runs) == len(RUNS)
    assert len(svg.find_all("rect", cls="bar")) == 3 * len(RUNS)
    partial = runs[1]
    assert partial.attrs["data-status"] == "partial"
    values = {kind: int(partial.one("rect", cls=f"bar {kind}").attrs["data-value"])
              for kind in ("sent", "failed", "unchanged")}
    assert values == {"sent": 33, "failed": 7, "unchanged": 80}
    assert "partial" in partial.all_text() and "dry_run" in runs[2].all_text()


def test_sync_history_draws_the_40_most_recent_runs(tmp_path: Path) -> None:
    db = make_report_warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(db)) as con:
        con.execute(
            "insert into activation.runs (run_id, sync_name, mode, destination, status, dry_run, full_resync, "
            "started_at, sent, failed, unchanged) select 'more' || i, 'mailchimp_' || i, 'mirror_lists', "
            "'mailchimp', 'succeeded', false, false, ? + i * interval 1 hour, i, 0, 100 from range(50) t(i)",
            [AS_OF],
        )
    section = chart(parse(report_html(db)), "sync-history")
    runs = section.one("svg").find_all("g", cls="run")
    assert len(runs) == 40 and runs[-1].attrs["data-run-id"] == "more49"
    assert "The 40 most recent of 53 runs are drawn." in section.one("p", cls="caption").text
    assert section.one("svg").find_all("text", cls="x-tick"), "rotated tick labels for many runs"


def test_header_has_as_of_generation_time_and_key_numbers(doc: Node) -> None:
    header = doc.one("header")
    assert header.one(data_field="as_of").text == "2026-11-20 12:00:00 UTC"
    assert header.one(data_field="generated_at").text == "2026-11-21 09:30:00 UTC"
    numbers = {kpi.attrs["data-kpi"]: kpi.one("dd").text for kpi in header.find_all(cls="kpi")}
    assert numbers == {"Customers": "30", "Segment memberships": "20", "Sessions": "13", "Orders": "2",
                       "Sync runs": "3"}
    assert "30.50 EUR" in header.all_text()


# --- escaping ----------------------------------------------------------------------------------------


def test_names_with_markup_are_escaped(html: str, doc: Node) -> None:
    for raw in (EVIL, EVIL_SYNC, EVIL_RFM, "<b>friends", "<script>", "<img"):
        assert raw not in html, f"{raw!r} reached the page unescaped"
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&quot;quoted&quot;" in html
    assert not doc.find_all("script") and not doc.find_all("img") and not doc.one("main").find_all("b")
    # ... and they still read as the names, in the chart, its tooltips and the data table
    sizes = chart(doc, "segment-sizes")
    assert sizes.one("g", cls="segment", data_series=EVIL)
    assert EVIL in sizes.one("table").all_text()
    assert EVIL_SYNC in chart(doc, "sync-history").all_text()
    assert EVIL_RFM in chart(doc, "rfm").one("table").all_text()


# --- empty states ------------------------------------------------------------------------------------


def _empty_message(doc: Node, key: str) -> str:
    section = chart(doc, key)
    assert section.attrs["data-state"] == "empty", key
    assert not section.find_all("svg"), f"{key}: nothing drawn"
    return section.one(cls="empty").text


def test_no_activation_schema_gives_an_empty_sync_history(tmp_path: Path) -> None:
    doc = parse(report_html(make_report_warehouse(tmp_path / "w.duckdb", activation=False)))
    assert "activation.runs" in _empty_message(doc, "sync-history")
    assert "activation sync" in _empty_message(doc, "sync-history")
    for key in CHARTS[:-1]:
        assert chart(doc, key).attrs["data-state"] == "drawn"
    assert "Sync runs" not in {kpi.attrs["data-kpi"] for kpi in doc.find_all(cls="kpi")}


def test_no_runs_yet_gives_an_empty_sync_history(tmp_path: Path) -> None:
    doc = parse(report_html(make_report_warehouse(tmp_path / "w.duckdb", runs=False)))
    assert "no sync has run yet" in _empty_message(doc, "sync-history")


def test_runs_only_before_the_window(tmp_path: Path) -> None:
    db = make_report_warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(db)) as con:
        con.execute("update activation.runs set started_at = started_at - interval 90 days")
    doc = parse(report_html(db))
    assert "3 older runs; raise --days" in _empty_message(doc, "sync-history")


def test_an_empty_warehouse_gives_a_page_of_empty_states(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    report, html_text = build_report(db, generated_at=GENERATED)
    doc = parse(html_text)
    for key in CHARTS:
        message = _empty_message(doc, key)
        assert "make demo" in message or "activation sync" in message, message
    assert report.as_of_source.startswith("generation time")
    assert not doc.find_all(cls="kpi")


def test_empty_tables_and_old_shapes(tmp_path: Path) -> None:
    db = make_report_warehouse(tmp_path / "w.duckdb", sizes=[])
    with duckdb.connect(str(db)) as con:
        con.execute("delete from marts.customer_rfm")
        con.execute("update marts.sessions set product_views = 0")
    doc = parse(report_html(db))
    assert "no rows in the window" in _empty_message(doc, "segment-sizes")
    assert "No segment entries" in _empty_message(doc, "segment-flows")
    assert "is empty" in _empty_message(doc, "rfm")
    assert "no session with a product view" in _empty_message(doc, "funnel")
    assert chart(doc, "sync-history").attrs["data-state"] == "drawn"

    with duckdb.connect(str(db)) as con:  # a mart from before a column existed: a note, not a crash
        con.execute("alter table marts.sessions drop column has_checkout_started")
    assert "Cannot read marts.sessions" in _empty_message(parse(report_html(db)), "funnel")


def test_rfm_names_come_from_customer_rfm_without_the_seed(tmp_path: Path) -> None:
    doc = parse(report_html(make_report_warehouse(tmp_path / "w.duckdb", seed_map=False)))
    cells = {(c.attrs["data-r"], c.attrs["data-f"]): c.attrs["data-segment"]
             for c in chart(doc, "rfm").find_all("rect", cls="cell")}
    assert len(cells) == 25
    assert cells[("1", "1")] == "Lost" and cells[("1", "2")] == ""


# --- window, top, command --------------------------------------------------------------------------


def test_days_and_top_narrow_what_is_drawn(warehouse: Path) -> None:
    doc = parse(report_html(warehouse, days=2, top=3))
    assert len(chart(doc, "segment-sizes").find_all("path", cls="series")) == 3
    assert len(chart(doc, "segment-sizes").find_all("circle", cls="point")) == 3 * 2
    flows = chart(doc, "segment-flows")
    assert len(flows.find_all("rect", cls="bar")) == 2 * 2
    assert not flows.find_all(cls="clipped"), "the history's first day is outside the window"
    funnel = [int(bar.attrs["data-value"]) for bar in chart(doc, "funnel").find_all("rect", cls="bar")]
    assert funnel == [4, 4, 4, 3]  # sessions of the last 2 days only
    assert "9 smaller segments" in chart(doc, "segment-sizes").one("p", cls="caption").text


def test_report_command_writes_the_file(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(main, ["report", "--db", str(warehouse), "--out", str(out), "--days", "7"])
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.output and "5 of 5 charts drawn" in result.output
    doc = parse(out.read_text(encoding="utf-8"))
    assert len(doc.find_all(cls="chart")) == 5
    assert not list(out.parent.glob(".*.tmp")), "no partial file left behind"


def test_report_command_names_empty_charts(tmp_path: Path) -> None:
    db = make_report_warehouse(tmp_path / "w.duckdb", activation=False)
    result = CliRunner().invoke(main, ["report", "--db", str(db), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert "4 of 5 charts drawn, empty: sync history" in result.output


def test_report_command_missing_warehouse_is_a_configuration_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "nope.duckdb"),
                                       "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert "warehouse not found" in result.output and "make demo" in result.output
    assert not (tmp_path / "r.html").exists()


def test_report_command_rejects_bad_options(warehouse: Path) -> None:
    assert CliRunner().invoke(main, ["report", "--db", str(warehouse), "--days", "0"]).exit_code == 2
    assert CliRunner().invoke(main, ["report", "--db", str(warehouse), "--top", "11"]).exit_code == 2


def test_the_report_is_deterministic(warehouse: Path) -> None:
    assert report_html(warehouse) == report_html(warehouse)


# --- helpers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maximum", "top", "ticks"),
    [(0, 1, [0, 1]), (3, 3, [0, 1, 2, 3]), (7, 8, [0, 2, 4, 6, 8]), (632, 800, [0, 200, 400, 600, 800]),
     (1339, 1500, [0, 500, 1000, 1500])],
)
def test_nice_scale(maximum: int, top: int, ticks: list[int]) -> None:
    assert nice_scale(maximum) == (top, ticks)


def test_strip_common_prefix() -> None:
    assert strip_common_prefix(["klaviyo_profiles", "klaviyo_segments", "klaviyo_profiles"]) == (
        "klaviyo_", ["profiles", "segments", "profiles"])
    assert strip_common_prefix(["a_b", "a_b"]) == ("", ["a_b", "a_b"])
    assert strip_common_prefix(["klaviyo_x", "mailchimp_x"]) == ("", ["klaviyo_x", "mailchimp_x"])
    assert strip_common_prefix(["sync", "sync_2"]) == ("", ["sync", "sync_2"])


def test_as_of_comes_from_the_marts(warehouse: Path) -> None:
    report, _ = build_report(warehouse, generated_at=GENERATED)
    assert report.as_of == AS_OF
    assert report.as_of_source == "marts.segment_sizes_daily.computed_as_of"
