"""Requests sent vs the minimum the batch limits allow, per destination, for N profiles.

A synthetic export of N contacts (rows of the demo warehouse's
export_contact_template_variables, repeated with new keys and emails) is
synced with each destination's profile sync (upsert_profiles, from its
example syncs file) into that destination's simulator with rate limits
lifted. The minimum is computed independently of the destination's own
packing: max(ceil(N / records per request), ceil(payload bytes / bytes per
request)). Requests to the upsert endpoint are compared with it; every other
request (job polls, setup calls) is listed beside it.

    python -m bench.sync_requests --template warehouse.duckdb --profiles 1000000

Prints a table and writes bench/results/sync_requests.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import time
from pathlib import Path

import duckdb

from activation.config import Mode, load_syncs
from activation.db import Warehouse
from activation.destinations import make_destination
from activation.engine import Engine
from activation.simulators.rehearsal import SYNCS_FILES, rehearsal
from activation.state import StateStore

ROOT = Path(__file__).resolve().parents[1]
# the upsert endpoint of each destination (simulator operation names) and its documented limits
UPSERT = {
    "klaviyo": ("bulk_import_profiles", 10_000, 5_000_000),
    "braze": ("users_track", 75, 4_000_000),
    "mailchimp": ("batch_subscribe", 500, 10_000_000),
    "webhook": ("deliver", 500, 1_000_000),
}


def build_export(template: Path, target: Path, profiles: int) -> None:
    with duckdb.connect(str(target)) as con:
        con.execute(f"attach '{template}' as template (read_only)")
        con.execute("create schema exports")
        rows = con.execute("select count(*) from template.exports.export_contact_template_variables").fetchone()[0]
        repeat = math.ceil(profiles / rows)
        con.execute(
            f"""
            create table exports.export_contact_template_variables as
            select * replace (
                md5(cast(r.range as varchar) || '|' || t.contact_key) as contact_key,
                'p' || cast(r.range as varchar) || '.' || t.email as email
            )
            from template.exports.export_contact_template_variables as t, range({repeat}) as r
            limit {profiles}
            """
        )


def payload_bytes(warehouse: Warehouse, fields: dict[str, str]) -> int:
    pairs = [(field, column) for field, column in fields.items()]
    expr = warehouse.dialect.json_object([(f, f'"{c}"') for f, c in pairs])
    return warehouse.fetchone(f"select sum(strlen({expr})) from exports.export_contact_template_variables")[0]


def run(destination: str, template: Path, profiles: int, work: Path) -> dict:
    db = work / f"sync_{destination}.duckdb"
    db.unlink(missing_ok=True)
    build_export(template, db, profiles)
    syncs = load_syncs(SYNCS_FILES[destination])
    sync = next(s for s in syncs.syncs if s.mode is Mode.UPSERT_PROFILES)
    operation, max_records, max_bytes = UPSERT[destination]
    with rehearsal(destination, syncs, rate_limits="off") as (simulator, env):
        os.environ.update(env)
        with Warehouse.open_duckdb(db) as warehouse:
            store = StateStore(warehouse, syncs.state_schema)
            engine = Engine(warehouse, store, syncs.exports_schema, make_destination, progress=False)
            started = time.perf_counter()
            plan = engine.plan_only(sync)
            plan_seconds = time.perf_counter() - started
            body = payload_bytes(warehouse, sync.fields)
            started = time.perf_counter()
            result = engine.run(sync)
            sync_seconds = time.perf_counter() - started
        stats = simulator.stats.by_operation()
    sent = stats.get(operation, {}).get("requests", 0)
    minimum = max(math.ceil(profiles / max_records), math.ceil(body / max_bytes))
    return {
        "destination": destination,
        "profiles": profiles,
        "plan_seconds": round(plan_seconds, 2),
        "sync_seconds": round(sync_seconds, 1),
        "acknowledged": result.acknowledged,
        "failed": result.failed,
        "upsert_requests": sent,
        "minimum": minimum,
        "ratio": round(sent / minimum, 3) if minimum else None,
        "other_requests": {op: entry["requests"] for op, entry in stats.items() if op != operation},
        "payload_bytes": body,
        "planned": plan.counts,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", type=Path, default=ROOT / "warehouse.duckdb", help="a dbt-built warehouse")
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--destinations", nargs="*", default=list(UPSERT))
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "results" / "work_sync")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    results = [run(destination, args.template, args.profiles, args.work) for destination in args.destinations]
    print(f"\n{'destination':<12}{'profiles':>10}{'plan s':>8}{'sync s':>8}{'requests':>10}{'minimum':>9}{'ratio':>7}  other requests")
    for r in results:
        other = ", ".join(f"{op} {n}" for op, n in sorted(r["other_requests"].items()))
        print(f"{r['destination']:<12}{r['profiles']:>10,}{r['plan_seconds']:>8}{r['sync_seconds']:>8}"
              f"{r['upsert_requests']:>10,}{r['minimum']:>9,}{r['ratio']:>7}  {other}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_mb:,.0f} MB")
    out = ROOT / "bench" / "results" / "sync_requests.json"
    out.write_text(json.dumps({"results": results, "peak_rss_mb": peak_mb}, indent=2))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
