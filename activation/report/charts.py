"""Inline SVG charts for the segment report, drawn in Python (no JavaScript, no library).

Every chart is one ``<svg role="img">`` whose first children are ``<title>`` and
``<desc>`` (referenced by ``aria-labelledby``), with axis titles, and marks that a
test can count:

=================  ===========================================================
chart              marks
=================  ===========================================================
segment sizes      ``path.series`` per segment (and ``circle.point`` per day)
segment flows      ``rect.bar.entered`` and ``rect.bar.exited`` per day
rfm                ``rect.cell`` per R x F cell (always 25)
funnel             ``rect.bar`` per step (always 4)
sync history       ``g.run`` per run holding ``rect.bar`` sent / failed / unchanged
=================  ===========================================================

A value of 0 still gets its mark (of zero height or width), so the number of
marks follows from the data alone. All text comes through `esc`: segment, sync
and destination names may contain markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import date

from markupsafe import Markup

from activation.report.model import FlowsData, FunnelData, RfmData, SizesData, SyncData

# matplotlib's category10: distinct on white, and tolerable for most colour-vision deficiencies
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
ENTERED, EXITED = "#2a9d8f", "#e76f51"
SENT, FAILED, UNCHANGED = "#2a9d8f", "#d62728", "#b8c0cc"
FONT = 12


def esc(value: object) -> str:
    """Text or attribute value, HTML/SVG-escaped (quotes included)."""
    return html.escape(str(value), quote=True)


def num(value: float | int) -> str:
    """An integer with thousands separators; other numbers with one decimal."""
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def strip_common_prefix(names: Sequence[str]) -> tuple[str, list[str]]:
    """("klaviyo_", ["profiles", "segments"]) for ["klaviyo_profiles", "klaviyo_segments"]: the shared
    prefix up to its last "_", "-" or "." and what is left of each name (nothing stripped for one name)."""
    if len(set(names)) < 2:
        return "", list(names)
    common = names[0]
    for name in names[1:]:
        while not name.startswith(common):
            common = common[:-1]
    cut = max(common.rfind(sep) for sep in "_-.") + 1
    if cut <= 0 or any(len(name) == cut for name in names):
        return "", list(names)
    return names[0][:cut], [name[cut:] for name in names]


def nice_scale(maximum: float, ticks: int = 5) -> tuple[int, list[int]]:
    """An integer axis from 0 covering `maximum`: (top, tick values), steps of 1, 2 or 5 x 10^k."""
    if maximum <= 0:
        return 1, [0, 1]
    raw = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(int(step), 1)
    top = math.ceil(maximum / step) * step
    return top, list(range(0, top + 1, step))


def _svg_open(chart: str, width: int, height: int, title: str, desc: str) -> list[str]:
    return [
        f'<svg class="chart-svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{chart}-title {chart}-desc" '
        f'font-size="{FONT}">',
        f'<title id="{chart}-title">{esc(title)}</title>',
        f'<desc id="{chart}-desc">{esc(desc)}</desc>',
    ]


def _y_axis(parts: list[str], left: int, top: int, width: int, height: int, scale_top: int,
            ticks: Sequence[int], label: str, zero_y: float | None = None, negative: bool = False) -> None:
    """Horizontal grid lines with tick labels, and the rotated axis title."""
    base = top + height if zero_y is None else zero_y
    span = height if zero_y is None else (zero_y - top)
    values = list(ticks) + ([-t for t in ticks if t] if negative else [])
    parts.append('<g class="axis y-axis">')
    for value in sorted(values):
        y = base - span * value / scale_top
        parts.append(f'<line class="grid" x1="{left}" x2="{left + width}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{num(abs(value))}</text>')
    mid = top + height / 2
    parts.append(
        f'<text class="axis-title" transform="translate(14 {mid:.1f}) rotate(-90)" text-anchor="middle">'
        f"{esc(label)}</text>"
    )
    parts.append("</g>")


def _x_title(parts: list[str], x: float, y: float, label: str) -> None:
    parts.append(f'<text class="axis-title" x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{esc(label)}</text>')


def _date_label(day: date) -> str:
    return day.strftime("%b %d").replace(" 0", " ")


def _tick_every(count: int, room: int) -> int:
    return max(1, math.ceil(count / max(room, 1)))


# --- segment sizes over time ------------------------------------------------------------------


def segment_sizes(data: SizesData) -> Markup:
    width, height = 820, 340
    left, right, top, bottom = 64, 230, 16, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    dates = data.dates
    scale_top, ticks = nice_scale(max((v for s in data.series for v in s.values.values()), default=0))
    latest = ", ".join(f"{s.key} {num(s.latest)}" for s in data.series)
    others = f"; {data.other_segments} smaller segments not shown" if data.other_segments else ""
    desc = (
        f"Line chart of members per day, {_date_label(dates[0])} to {_date_label(dates[-1])}, "
        f"for the {len(data.series)} largest segments on {dates[-1].isoformat()}: {latest}{others}."
    )
    parts = _svg_open("segment-sizes", width, height, "Segment sizes over time", desc)
    _y_axis(parts, left, top, plot_w, plot_h, scale_top, ticks, "Members")

    def x_of(day: date) -> float:
        if len(dates) == 1:
            return left + plot_w / 2
        return left + plot_w * (day - dates[0]).days / (dates[-1] - dates[0]).days

    def y_of(value: int) -> float:
        return top + plot_h - plot_h * value / scale_top

    every = _tick_every(len(dates), plot_w // 70)
    parts.append('<g class="axis x-axis">')
    for index, day in enumerate(dates):
        if index % every == 0:
            x = x_of(day)
            parts.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}"/>')
            parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 17}" text-anchor="middle">{_date_label(day)}</text>')
    parts.append("</g>")
    _x_title(parts, left + plot_w / 2, height - 8, "Date (UTC; the last day is partial, counted at as_of)")

    for index, series in enumerate(data.series):
        color = PALETTE[index % len(PALETTE)]
        points = [(day, series.values[day]) for day in dates if day in series.values]
        path, previous = [], None
        for day, value in points:
            command = "L" if previous is not None and (day - previous).days == 1 else "M"
            path.append(f"{command}{x_of(day):.1f},{y_of(value):.1f}")
            previous = day
        parts.append(f'<g class="segment" data-series="{esc(series.key)}">')
        parts.append(
            f'<path class="series" d="{" ".join(path)}" fill="none" stroke="{color}" stroke-width="2">'
            f"<title>{esc(series.key)}</title></path>"
        )
        for day, value in points:
            parts.append(
                f'<circle class="point" cx="{x_of(day):.1f}" cy="{y_of(value):.1f}" r="2.5" fill="{color}">'
                f"<title>{esc(series.key)}, {day.isoformat()}: {num(value)} members</title></circle>"
            )
        parts.append("</g>")

    legend_x = left + plot_w + 18
    parts.append('<g class="legend">')
    for index, series in enumerate(data.series):
        y = top + 8 + index * 20
        color = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<g class="legend-item"><title>{esc(series.key)}: {num(series.latest)}</title>'
            f'<rect x="{legend_x}" y="{y - 8}" width="12" height="12" fill="{color}"/>'
            f'<text x="{legend_x + 18}" y="{y + 2}">{esc(short(series.key, 20))} ({num(series.latest)})</text></g>'
        )
    parts.append("</g></svg>")
    return Markup("\n".join(parts))


# --- entered / exited per day -------------------------------------------------------------------


def segment_flows(data: FlowsData) -> Markup:
    width, height = 820, 340
    left, right, top, bottom = 64, 150, 40, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    days = data.days
    clipped = data.history_start if data.history_start in {d.day for d in days} and len(days) > 1 else None
    scaled = [d.entered for d in days if d.day != clipped] + [d.exited for d in days]
    scale_top, ticks = nice_scale(max(scaled, default=0))
    if clipped is not None and max(d.entered for d in days if d.day == clipped) <= scale_top:
        clipped = None  # the first day fits the scale: nothing to cut
    half = plot_h / 2
    zero_y = top + half
    total_in, total_out = sum(d.entered for d in days), sum(d.exited for d in days)
    note = (
        f" The membership history starts on {clipped.isoformat()}: everyone in a segment that day counts as "
        "entered, so that bar is cut at the top and its value printed." if clipped else ""
    )
    desc = (
        f"Bar chart of segment entries (up) and exits (down) per day over all segments, "
        f"{_date_label(days[0].day)} to {_date_label(days[-1].day)}: {num(total_in)} entered, "
        f"{num(total_out)} exited.{note}"
    )
    parts = _svg_open("segment-flows", width, height, "Segment entries and exits per day", desc)
    _y_axis(parts, left, top, plot_w, plot_h, scale_top, ticks, "Entered (up) / exited (down)",
            zero_y=zero_y, negative=True)
    parts.append(f'<line class="zero" x1="{left}" x2="{left + plot_w}" y1="{zero_y}" y2="{zero_y}"/>')
    slot = plot_w / len(days)
    bar_w = max(min(slot * 0.7, 40), 2)
    every = _tick_every(len(days), plot_w // 60)
    for index, day in enumerate(days):
        x = left + slot * index + (slot - bar_w) / 2
        cut = day.day == clipped
        up = half if cut else half * day.entered / scale_top
        down = half * day.exited / scale_top
        label = day.day.isoformat()
        parts.append(f'<g class="day" data-date="{label}">')
        parts.append(
            f'<rect class="bar entered{" clipped" if cut else ""}" x="{x:.1f}" y="{zero_y - up:.1f}" '
            f'width="{bar_w:.1f}" height="{up:.1f}" fill="{ENTERED}" data-value="{day.entered}">'
            f"<title>{label}: {num(day.entered)} entered</title></rect>"
        )
        parts.append(
            f'<rect class="bar exited" x="{x:.1f}" y="{zero_y:.1f}" width="{bar_w:.1f}" height="{down:.1f}" '
            f'fill="{EXITED}" data-value="{day.exited}"><title>{label}: {num(day.exited)} exited</title></rect>'
        )
        if cut:
            parts.append(
                f'<path class="cut" d="M{x - 2:.1f},{top + 6} l{bar_w / 2 + 2:.1f},-5 l{bar_w / 2 + 2:.1f},5" '
                'fill="none" stroke="#fff" stroke-width="3"/>'
                f'<text class="bar-label" x="{x + bar_w / 2:.1f}" y="{top - 12}" text-anchor="middle">'
                f"{num(day.entered)} (history starts)</text>"
            )
        if index % every == 0:
            parts.append(
                f'<text class="x-tick" x="{x + bar_w / 2:.1f}" y="{top + plot_h + 17}" text-anchor="middle">'
                f"{_date_label(day.day)}</text>"
            )
        parts.append("</g>")
    _x_title(parts, left + plot_w / 2, height - 8, "Date (UTC)")
    legend_x = left + plot_w + 18
    for index, (name, color) in enumerate((("entered", ENTERED), ("exited", EXITED))):
        y = top + 12 + index * 20
        parts.append(
            f'<g class="legend-item"><rect x="{legend_x}" y="{y - 9}" width="12" height="12" fill="{color}"/>'
            f'<text x="{legend_x + 18}" y="{y + 1}">{name}</text></g>'
        )
    parts.append("</svg>")
    return Markup("\n".join(parts))


# --- RFM grid -------------------------------------------------------------------------------------


def _heat(share: float) -> str:
    """White-ish blue to dark blue."""
    low, high = (238, 243, 251), (23, 64, 128)
    r, g, b = (round(lo + (hi - lo) * share) for lo, hi in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def rfm_grid(data: RfmData) -> Markup:
    cell_w, cell_h = 132, 64
    left, top = 74, 12
    width, height = left + 5 * cell_w + 16, top + 5 * cell_h + 56
    biggest = max(data.counts.values(), default=0)
    ranked = sorted(((count, r, f) for (r, f), count in data.counts.items() if count), reverse=True)[:3]
    top_cells = "; ".join(
        f"R{r} F{f} {data.names.get((r, f)) or 'unnamed'}: {num(count)}" for count, r, f in ranked
    )
    by_segment: dict[str, int] = {}
    for key, count in data.counts.items():
        name = data.names.get(key) or "unnamed"
        by_segment[name] = by_segment.get(name, 0) + count
    segments = ", ".join(f"{name} {num(count)}" for name, count in sorted(by_segment.items(), key=lambda i: -i[1]))
    desc = (
        f"Heatmap of {num(data.total)} scored customers by recency score (rows, 5 = most recent at the top) and "
        f"frequency score (columns, 5 = most orders at the right); darker cells hold more customers. "
        f"Largest cells: {top_cells or 'none'}. Per named segment: {segments}."
    )
    parts = _svg_open("rfm", width, height, "RFM grid: customers per recency and frequency score", desc)
    for row, r in enumerate(range(5, 0, -1)):
        y = top + row * cell_h
        parts.append(f'<text class="tick" x="{left - 10}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="end">{r}</text>')
        for col, f in enumerate(range(1, 6)):
            x = left + col * cell_w
            count = data.counts.get((r, f), 0)
            name = data.names.get((r, f)) or ""
            share = count / biggest if biggest else 0
            fill = _heat(share)
            ink = "#ffffff" if share > 0.5 else "#1b2430"
            parts.append(
                f'<g class="rfm-cell" data-r="{r}" data-f="{f}">'
                f'<rect class="cell" x="{x}" y="{y}" width="{cell_w}" height="{cell_h}" fill="{fill}" '
                f'data-r="{r}" data-f="{f}" data-count="{count}" data-segment="{esc(name)}">'
                f"<title>R{r} F{f} {esc(name or 'unnamed')}: {num(count)} customers "
                f"({pct(count, data.total)})</title></rect>"
                f'<text x="{x + cell_w / 2}" y="{y + 28}" text-anchor="middle" fill="{ink}" '
                f'font-size="16" font-weight="600">{num(count)}</text>'
                f'<text x="{x + cell_w / 2}" y="{y + 46}" text-anchor="middle" fill="{ink}" font-size="11">'
                f"{esc(short(name, 19))}</text></g>"
            )
    # boundaries between differently named neighbours
    for row, r in enumerate(range(5, 0, -1)):
        for col, f in enumerate(range(1, 6)):
            x, y = left + col * cell_w, top + row * cell_h
            if f < 5 and data.names.get((r, f)) != data.names.get((r, f + 1)):
                parts.append(f'<line class="boundary" x1="{x + cell_w}" x2="{x + cell_w}" y1="{y}" y2="{y + cell_h}"/>')
            if r > 1 and data.names.get((r, f)) != data.names.get((r - 1, f)):
                parts.append(f'<line class="boundary" x1="{x}" x2="{x + cell_w}" y1="{y + cell_h}" y2="{y + cell_h}"/>')
    parts.append(
        f'<rect class="frame" x="{left}" y="{top}" width="{5 * cell_w}" height="{5 * cell_h}" fill="none"/>'
    )
    for col, f in enumerate(range(1, 6)):
        parts.append(
            f'<text class="tick" x="{left + col * cell_w + cell_w / 2}" y="{top + 5 * cell_h + 18}" '
            f'text-anchor="middle">{f}</text>'
        )
    _x_title(parts, left + 5 * cell_w / 2, height - 10, "Frequency score F (1 = fewest orders, 5 = most)")
    parts.append(
        f'<text class="axis-title" transform="translate(22 {top + 5 * cell_h / 2}) rotate(-90)" '
        'text-anchor="middle">Recency score R (5 = most recent)</text>'
    )
    parts.append("</svg>")
    return Markup("\n".join(parts))


# --- funnel ---------------------------------------------------------------------------------------


def funnel(data: FunnelData) -> Markup:
    width = 820
    left, right, top, row_h, bar_h = 190, 230, 12, 52, 34
    plot_w = width - left - right
    height = top + row_h * len(data.steps) + 52
    first = data.steps[0][1]
    scale_top, ticks = nice_scale(first)
    summary = "; ".join(
        f"{label}: {num(count)}" + (f" ({pct(count, data.steps[i - 1][1])} of the step before)" if i else "")
        for i, (label, count) in enumerate(data.steps)
    )
    desc = (
        f"Horizontal bar chart of sessions in the report window reaching each step, each step counting only "
        f"sessions that also reached every step before it. {summary}."
    )
    parts = _svg_open("funnel", width, height, "Funnel: product view to order", desc)
    plot_bottom = top + row_h * len(data.steps)
    parts.append('<g class="axis x-axis">')
    for value in ticks:
        x = left + plot_w * value / scale_top
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{plot_bottom}"/>')
        parts.append(f'<text x="{x:.1f}" y="{plot_bottom + 16}" text-anchor="middle">{num(value)}</text>')
    parts.append("</g>")
    for index, (label, count) in enumerate(data.steps):
        y = top + index * row_h + (row_h - bar_h) / 2
        bar = plot_w * count / scale_top
        previous = data.steps[index - 1][1] if index else count
        rates = f"{pct(count, previous)} of previous, {pct(count, first)} of first" if index else "100%"
        parts.append(
            f'<g class="step" data-step="{index + 1}">'
            f'<text class="step-label" x="{left - 10}" y="{y + bar_h / 2 + 4:.1f}" text-anchor="end">'
            f"{index + 1}. {esc(label)}</text>"
            f'<rect class="bar" x="{left}" y="{y:.1f}" width="{bar:.1f}" height="{bar_h}" fill="#3d6fb6" '
            f'opacity="{1 - 0.15 * index:.2f}" data-value="{count}">'
            f"<title>{esc(label)}: {num(count)} sessions ({rates})</title></rect>"
            f'<text class="bar-label" x="{left + bar + 8:.1f}" y="{y + bar_h / 2 + 4:.1f}">{num(count)}'
            f'{f" ({pct(count, previous)})" if index else ""}</text></g>'
        )
    parts.append(
        f'<text class="axis-title" transform="translate(14 {top + row_h * len(data.steps) / 2}) rotate(-90)" '
        'text-anchor="middle">Step</text>'
    )
    _x_title(parts, left + plot_w / 2, height - 10, "Sessions (percentage: share of the step before)")
    parts.append("</svg>")
    return Markup("\n".join(parts))


# --- sync history ---------------------------------------------------------------------------------


def sync_history(data: SyncData) -> Markup:
    runs = data.runs
    width = 820
    few = len(runs) <= 10  # few runs: horizontal two-line tick labels; many: rotated, time and short name
    left, right, top, bottom = (64 if few else 96), 190, 20, (70 if few else 150)
    plot_w = width - left - right
    height = 250 + bottom
    plot_h = height - top - bottom
    totals = [run.sent_ok + run.failed + run.unchanged for run in runs]
    scale_top, ticks = nice_scale(max(totals, default=0))
    sent = sum(run.sent for run in runs)
    failed = sum(run.failed for run in runs)
    statuses: dict[str, int] = {}
    for run in runs:
        statuses[run.status] = statuses.get(run.status, 0) + 1
    status_text = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    desc = (
        f"Stacked bar chart of the records of each of the {len(runs)} most recent sync runs, oldest first: "
        f"sent and acknowledged, sent and failed, unchanged (not sent). In total {num(sent)} sent, "
        f"{num(failed)} failed; runs: {status_text}."
    )
    parts = _svg_open("sync-history", width, height, "Sync history: records per run", desc)
    _y_axis(parts, left, top, plot_w, plot_h, scale_top, ticks, "Records")
    slot = plot_w / len(runs)
    bar_w = max(min(slot * 0.7, 36), 2)
    every = 1 if few else _tick_every(len(runs), plot_w // 16)
    base = top + plot_h
    prefix, tick_names = strip_common_prefix([run.sync_name for run in runs])
    for index, run in enumerate(runs):
        x = left + slot * index + (slot - bar_w) / 2
        label = f"{run.started_at:%m-%d %H:%M} {tick_names[index]}"
        parts.append(
            f'<g class="run" data-run-id="{esc(run.run_id)}" data-status="{esc(run.status)}">'
            f"<title>{esc(run.sync_name)} ({esc(run.destination)}, {esc(run.mode)}), "
            f"{run.started_at:%Y-%m-%d %H:%M:%S} UTC: {esc(run.status)}{' (dry run)' if run.dry_run else ''}; "
            f"{num(run.sent)} sent, {num(run.failed)} failed, {num(run.unchanged)} unchanged</title>"
        )
        y = base
        for kind, value, color in (
            ("sent", run.sent_ok, SENT), ("failed", run.failed, FAILED), ("unchanged", run.unchanged, UNCHANGED)
        ):
            h = plot_h * value / scale_top
            y -= h
            parts.append(
                f'<rect class="bar {kind}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{color}" data-value="{value}"/>'
            )
        if few:
            parts.append(
                f'<text class="bar-label" x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                f'font-size="10">{num(run.sent_ok + run.failed + run.unchanged)}</text>'
            )
            y -= 12
        if run.status != "succeeded":
            parts.append(
                f'<text class="status-mark" x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">'
                f"{esc(run.status)}</text>"
            )
        if few:
            fits = max(int(slot / 6), 4)
            parts.append(
                f'<text class="x-tick" x="{x + bar_w / 2:.1f}" y="{base + 16}" text-anchor="middle" font-size="10">'
                f"{esc(short(tick_names[index], fits))}</text>"
                f'<text class="x-tick" x="{x + bar_w / 2:.1f}" y="{base + 30}" text-anchor="middle" font-size="10">'
                f"{run.started_at:%m-%d %H:%M}</text>"
            )
        elif index % every == 0:
            parts.append(
                f'<text class="x-tick" transform="translate({x + bar_w / 2 + 4:.1f} {base + 10}) rotate(-60)" '
                f'text-anchor="end" font-size="10">{esc(short(label, 22))}</text>'
            )
        parts.append("</g>")
    shared = f"; sync names without {prefix}" if prefix else ""
    _x_title(parts, left + plot_w / 2, height - 6, f"Run (sync and start time UTC{shared}), oldest to newest")
    legend_x = left + plot_w + 18
    for index, (name, color) in enumerate(
        (("sent, acknowledged", SENT), ("sent, failed", FAILED), ("unchanged (not sent)", UNCHANGED))
    ):
        y = top + 12 + index * 20
        parts.append(
            f'<g class="legend-item"><rect x="{legend_x}" y="{y - 9}" width="12" height="12" fill="{color}"/>'
            f'<text x="{legend_x + 18}" y="{y + 1}">{name}</text></g>'
        )
    parts.append("</svg>")
    return Markup("\n".join(parts))
