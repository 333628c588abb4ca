"""Where a sync's peak memory comes from: RSS sampled per phase of one `Engine.run`.

A thread samples this process's VmRSS (/proc/self/status) every --interval seconds; the phase
in which each sample falls is the warehouse statement running (its first words), or the
engine step around it (page read, JSON decoding, batch building, sending). Prints, per phase in
order of first appearance, the RSS when it began, its peak and when it ended, and DuckDB's own
accounting (`duckdb_memory()`, summed) at the end of the plan and of the sync.

Run it against a warehouse that already holds the export (e.g. bench.sync_requests's work file,
kept with --keep) and a running simulator, as bench.sync_child is run:

    python -m bench.sync_memory --syncs FILE --db WAREHOUSE.duckdb --sync NAME [--interval 0.01]

It measures; it changes nothing of what the sync does (the wrappers only name phases).
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activation.config import load_syncs
from activation.db import Warehouse
from activation.destinations import make_destination
from activation.engine import Engine
from activation.state import StateStore
from bench.procstatus import status_mb


def rss_mb() -> float:
    return status_mb("VmRSS")


@dataclass
class Phase:
    name: str
    start_mb: float
    peak_mb: float
    end_mb: float = 0.0
    seconds: float = 0.0
    calls: int = 0


@dataclass
class Sampler:
    interval: float
    phases: dict[str, Phase] = field(default_factory=dict)
    current: list[str] = field(default_factory=lambda: ["setup"])
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.phases["setup"] = Phase("setup", rss_mb(), rss_mb())
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            phase = self.phases.get(self.current[-1])
            if phase:
                phase.peak_mb = max(phase.peak_mb, rss_mb())

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        now = rss_mb()
        entry = self.phases.setdefault(name, Phase(name, now, now))
        entry.calls += 1
        self.current.append(name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.current.pop()
            entry.seconds += time.perf_counter() - started
            entry.end_mb = rss_mb()
            entry.peak_mb = max(entry.peak_mb, entry.end_mb)


def label(sql: str) -> str:
    """A short name for a statement: its first words and the table it creates or inserts into."""
    text = re.sub(r"\s+", " ", sql).strip()
    created = re.match(r"create or replace temp table \"?([a-z]+)_", text, re.I)
    if created:
        return f"sql: create temp {created.group(1)}"
    inserted = re.match(r"insert into (\S+)", text, re.I)
    if inserted:
        return f"sql: insert {inserted.group(1).split('.')[-1].strip(chr(34))}"
    if " from " in text and "journal" in text and "seq >" in text:
        return "sql: read page"
    return "sql: " + " ".join(text.split(" ")[:3])[:40]


def instrument(warehouse: Warehouse, engine: Engine, sampler: Sampler) -> None:
    def wrap(obj: Any, name: str, namer: Callable[..., str]) -> None:
        original = getattr(obj, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with sampler.phase(namer(*args, **kwargs)):
                return original(*args, **kwargs)

        setattr(obj, name, wrapper)

    for method in ("execute", "fetchall", "fetchone"):
        wrap(warehouse, method, lambda sql, *a, **k: label(sql))
    wrap(warehouse, "create_temp_table", lambda name, *a, **k: f"sql: create temp {name.split('_')[0]}")
    wrap(engine.planner, "plan", lambda *a, **k: "plan (other)")
    original_pending = engine._pending

    def pending(run_id: str) -> Iterator[Any]:
        iterator = original_pending(run_id)
        while True:
            with sampler.phase("page read + decode"):
                group = next(iterator, None)
            if group is None:
                return
            yield group

    engine._pending = pending  # type: ignore[method-assign]
    wrap(engine, "_send_pending", lambda *a, **k: "send (other)")
    wrap(engine, "_commit", lambda *a, **k: "commit outcomes")
    wrap(engine, "_merge_outcomes", lambda *a, **k: "merge outcomes")
    wrap(engine, "_apply_state", lambda *a, **k: "apply state")


def duckdb_memory_mb(warehouse: Warehouse) -> float | None:
    if warehouse.dialect.name != "duckdb":
        return None
    row = warehouse.fetchone("select sum(memory_usage_bytes) from duckdb_memory()")
    return round((row[0] or 0) / 2**20, 1) if row else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--syncs", type=Path, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--sync", required=True)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    syncs = load_syncs(args.syncs)
    sync = next(s for s in syncs.syncs if s.name == args.sync)
    sampler = Sampler(args.interval)
    sampler.thread.start()
    with Warehouse.open(args.db) as warehouse:
        engine = Engine(warehouse, StateStore(warehouse, syncs.state_schema), syncs.exports_schema, make_destination,
                        progress=False)
        settings = warehouse.fetchall(
            "select name, value from duckdb_settings() where name in ('memory_limit', 'threads', "
            "'preserve_insertion_order', 'allocator_flush_threshold', 'allocator_background_threads')"
        ) if warehouse.dialect.name == "duckdb" else []
        instrument(warehouse, engine, sampler)
        result = engine.run(sync)
        with sampler.phase("after run"):
            after = duckdb_memory_mb(warehouse)
    sampler.stop.set()
    sampler.thread.join()
    phases = list(sampler.phases.values())
    print(f"settings: {dict(settings)}")
    print(f"{'phase':<38}{'calls':>7}{'seconds':>9}{'start MB':>10}{'peak MB':>9}{'end MB':>9}")
    for p in phases:
        print(f"{p.name:<38}{p.calls:>7}{p.seconds:>9.2f}{p.start_mb:>10.0f}{p.peak_mb:>9.0f}{p.end_mb:>9.0f}")
    print(f"VmHWM {status_mb('VmHWM'):.0f} MB; duckdb_memory() after the run {after} MB; "
          f"acknowledged {result.acknowledged:,}, requests {result.requests:,}")
    if args.out:
        args.out.write_text(json.dumps({"settings": dict(settings), "phases": [vars(p) for p in phases],
                                        "vm_hwm_mb": status_mb("VmHWM"), "duckdb_memory_after_mb": after,
                                        "result": result.as_dict()}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
