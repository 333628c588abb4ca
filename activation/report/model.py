"""What the segment report shows: plain data read from the warehouse, before drawing.

Each chart's data is either its dataclass or an `Empty` saying why there is
nothing to draw (a missing table, no rows in the window) and what to run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Empty:
    """A chart with nothing to draw, and why."""

    message: str


@dataclass(frozen=True)
class Series:
    key: str
    values: dict[date, int]
    latest: int


@dataclass(frozen=True)
class SizesData:
    """Members per day of the largest segments (segment_sizes_daily)."""

    dates: list[date]
    series: list[Series]
    other_segments: int


@dataclass(frozen=True)
class FlowDay:
    day: date
    entered: int
    exited: int


@dataclass(frozen=True)
class FlowsData:
    """Entries and exits per day over all segments (segment_sizes_daily)."""

    days: list[FlowDay]
    # the first day of the whole membership history: its entries are the initial members
    history_start: date | None


@dataclass(frozen=True)
class RfmData:
    """Customers per (r_score, f_score) and the named segment of each cell."""

    counts: dict[tuple[int, int], int]
    names: dict[tuple[int, int], str]
    total: int


FUNNEL_STEPS = ("Viewed a product", "Added to cart", "Started checkout", "Purchased")


@dataclass(frozen=True)
class FunnelData:
    """Sessions per funnel step; each step counts sessions that reached every earlier step too."""

    steps: list[tuple[str, int]]


@dataclass(frozen=True)
class Run:
    run_id: str
    sync_name: str
    mode: str
    destination: str
    status: str
    dry_run: bool
    started_at: datetime
    sent: int
    failed: int
    unchanged: int

    @property
    def sent_ok(self) -> int:
        return max(self.sent - self.failed, 0)


@dataclass(frozen=True)
class SyncData:
    """The most recent runs in the window, oldest first (activation.runs)."""

    runs: list[Run]
    runs_in_window: int


@dataclass(frozen=True)
class KeyNumber:
    label: str
    value: str
    note: str = ""


@dataclass
class ReportData:
    database: str
    as_of: datetime
    as_of_source: str
    generated_at: datetime
    days: int
    window_start: date
    window_end: date
    key_numbers: list[KeyNumber] = field(default_factory=list)
    sizes: SizesData | Empty = Empty("not read")
    flows: FlowsData | Empty = Empty("not read")
    rfm: RfmData | Empty = Empty("not read")
    funnel: FunnelData | Empty = Empty("not read")
    syncs: SyncData | Empty = Empty("not read")
