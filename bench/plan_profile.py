"""Per-statement timings of `Planner.plan` at N profiles with a share changed (DuckDB).

Builds the synthetic export the way bench/sync_requests.py does (the template's
export_contact_template_variables repeated with new keys and emails), records
an initial plan of every row as synced (the journal acknowledged, then
`Engine._apply_state`, as a real sync would), changes --changed contacts
(cart_value + 1, as the bench's change pass) and then plans --plans times,
rolled back, timing each SQL statement of the plan (wall and process CPU).

    python -m bench.plan_profile --template /tmp/sb_template.duckdb --profiles 1000000 \
        --syncs syncs.yml --sync klaviyo_profiles --memory-limit 512MB

The prepared warehouse is kept (--work) and reused when it exists with the same
profile count and sync (delete it to rebuild).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from activation.config import load_syncs
from activation.db import MEMORY_LIMIT_ENV, Warehouse
from activation.engine import Engine
from activation.planner import Planner
from activation.state import StateStore
from bench.sync_requests import build_export, change_rows


def prepare(template: Path, db: Path, profiles: int, changed: int, syncs_file: Path, sync_name: str) -> None:
    """The export, every row synced once, then `changed` rows changed."""
    db.unlink(missing_ok=True)
    build_export(template, db, profiles)
    syncs = load_syncs(syncs_file)
    sync = next(s for s in syncs.syncs if s.name == sync_name)
    with Warehouse.open(db) as warehouse:
        store = StateStore(warehouse, syncs.state_schema)
        store.ensure()
        engine = Engine(warehouse, store, syncs.exports_schema, lambda s: None, progress=False)  # type: ignore[arg-type,return-value]
        run_id = "prepare-initial"
        with warehouse.transaction():
            engine.planner.plan(sync, run_id)
        warehouse.execute(f"update {store.table('journal')} set status = 'acknowledged' where run_id = ?", [run_id])
        engine._apply_state(sync, run_id)
    change_rows(db, changed)


@contextmanager
def timed_statements(warehouse: Warehouse, log: list[tuple[str, float, float]]) -> Iterator[None]:
    """Every execute / create_temp_table / fetchall of `warehouse` timed into `log` (label, wall, cpu)."""
    originals = {name: getattr(warehouse, name) for name in ("execute", "create_temp_table", "fetchall")}

    def wrap(name: str) -> Any:
        original = originals[name]

        def timed(*args: Any, **kwargs: Any) -> Any:
            first = args[0]
            label = f"{name} {first}" if name == "create_temp_table" else f"{name} {' '.join(str(first).split())[:70]}"
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                log.append((label, time.perf_counter() - started, time.process_time() - cpu))

        return timed

    for name in originals:
        setattr(warehouse, name, wrap(name))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(warehouse, name, original)


def normalise(label: str) -> str:
    """A label without the run id (temp table names carry it)."""
    for prefix in ("judged_", "plan_", "payload_", "seq_"):
        if f" {prefix}" in label:
            return label.split(f" {prefix}")[0] + f" {prefix}*"
    return label


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--changed", type=int, default=None, help="default 1%% of --profiles")
    parser.add_argument("--syncs", type=Path, default=Path("syncs.yml"))
    parser.add_argument("--sync", default="klaviyo_profiles")
    parser.add_argument("--plans", type=int, default=3)
    parser.add_argument("--memory-limit", default="512MB", help="DuckDB memory_limit of the planning connection")
    parser.add_argument("--work", type=Path, default=Path("/tmp/plan_profile"))
    parser.add_argument("--out", type=Path, help="write the timings as JSON here")
    args = parser.parse_args(argv)
    changed = args.changed if args.changed is not None else max(1, args.profiles // 100)
    args.work.mkdir(parents=True, exist_ok=True)
    base = args.work / f"base_{args.sync}_{args.profiles}.duckdb"
    if not base.exists():
        prepare(args.template, base, args.profiles, changed, args.syncs, args.sync)
    db = args.work / "plan.duckdb"
    shutil.copyfile(base, db)
    if args.memory_limit:
        os.environ[MEMORY_LIMIT_ENV] = args.memory_limit
    syncs = load_syncs(args.syncs)
    sync = next(s for s in syncs.syncs if s.name == args.sync)
    per_plan: list[dict[str, Any]] = []
    with Warehouse.open(db) as warehouse:
        store = StateStore(warehouse, syncs.state_schema)
        store.ensure()
        planner = Planner(warehouse, store, syncs.exports_schema)
        for index in range(args.plans):
            log: list[tuple[str, float, float]] = []
            warehouse.execute("begin transaction")
            started, cpu = time.perf_counter(), time.process_time()
            try:
                with timed_statements(warehouse, log):
                    plan = planner.plan(sync, f"profile{index}")
            finally:
                wall, cpu_used = time.perf_counter() - started, time.process_time() - cpu
                warehouse.execute("rollback")
            per_plan.append({"wall": wall, "cpu": cpu_used, "counts": plan.counts,
                             "statements": [(normalise(label), w, c) for label, w, c in log]})
    print(f"{args.sync}: {args.profiles:,} profiles, {changed:,} changed, counts {per_plan[-1]['counts']}")
    labels = [label for label, _, _ in per_plan[0]["statements"]]
    print(f"{'statement':<90}{'wall s':>8}{'cpu s':>8}  (median of {args.plans})")
    for i, label in enumerate(labels):
        wall = statistics.median(p["statements"][i][1] for p in per_plan)
        cpu = statistics.median(p["statements"][i][2] for p in per_plan)
        print(f"{label[:90]:<90}{wall:>8.3f}{cpu:>8.3f}")
    walls = [p["wall"] for p in per_plan]
    cpus = [p["cpu"] for p in per_plan]
    print(f"plan: wall {statistics.median(walls):.2f} s {[round(w, 2) for w in walls]}, "
          f"cpu {statistics.median(cpus):.2f} s {[round(c, 2) for c in cpus]}")
    if args.out:
        args.out.write_text(json.dumps(per_plan, indent=2))
    db.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
