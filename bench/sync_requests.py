"""Requests sent vs the minimum the batch limits allow, plan time, sync time and peak memory, per destination.

For each destination (--destinations), a synthetic export of N contacts
(rows of a dbt-built warehouse's export_contact_template_variables, repeated
with new keys and emails) is synced by that destination's profile sync
(upsert_profiles, from its example syncs file) into its simulator:

* the simulator runs in its OWN process (`activation simulate KIND`,
  bench/simproc.py): its state (every profile) and CPU are not the sync's;
  requests are counted by its /__simulator/stats endpoint;
* each sync runs in a child process (bench/sync_child.py): it plans --plans
  times (timed, rolled back), then syncs once; the child's peak RSS
  (VmHWM of the child, read by the child itself: getrusage's ru_maxrss
  would include this process's peak, inherited through fork) is activation's alone, and the
  simulator's (VmHWM from /proc) is reported apart.

Passes: ``initial`` (empty account, N ADDs), then ``change``: --changed
contacts (default 1% of N; the first by contact_key) get cart_value + 1 in
the export, and the sync runs again (N - changed are UNCHANGED).

The minimum for a pass is computed independently of the destination's
packing, from the documented limits of its upsert endpoint (UPSERT below):
max(ceil(records / records per request), ceil(bytes / bytes per request)),
where bytes is the sum over the records sent of their payload (the mapped
fields as compact JSON, a dotted field nested under its prefix, null fields
left out as null_policy: skip leaves them out), plus what the ESP's format
requires per record (Klaviyo's JSON:API wrapper; RECORD_ENVELOPE). Requests
to the upsert endpoint are compared with it; every other request (job polls,
setup calls) is listed beside it.

``--limits off`` (default) lifts the rate limits on both sides (the
simulator's and the client's own pacing, `lift_rate_limits: true` in a copy
of the syncs file): the engine's own speed. ``--limits production`` keeps
them (see bench/simproc.py for each destination's), and the table adds the
time the limits impose for the requests sent (limit_seconds, see
`limit_imposed_seconds`).

    python -m bench.sync_requests --template warehouse.duckdb --profiles 1000000
    python -m bench.sync_requests --profiles 200000 --limits production --passes initial
    python -m bench.sync_requests --profiles 1000000 --destinations webhook \
        --postgres postgresql://postgres@127.0.0.1:54330/warehouse --label pg

``--postgres URL`` runs the syncs on a PostgreSQL warehouse instead: the synthetic export is copied
there (schema exports, replaced; the syncs' state schema dropped first), the change pass updates it
there too, and the child reports the server's CPU time beside its own (bench/sync_child.py).

Prints a table and writes bench/results/sync_requests[_LABEL].json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import yaml

from activation.config import Mode, NullPolicy, Sync, load_syncs
from activation.simulators.rehearsal import SYNCS_FILES
from bench.simproc import SimulatorProcess, delta

ROOT = Path(__file__).resolve().parents[1]
EXPORT = "exports.export_contact_template_variables"
# the upsert endpoint of each destination (simulator operation names) and its documented limits per request
UPSERT = {
    "klaviyo": ("bulk_import_profiles", 10_000, 5_000_000),
    "braze": ("users_track", 75, 4_000_000),
    "mailchimp": ("batch_subscribe", 500, 10_000_000),
    "webhook": ("deliver", 500, 1_000_000),
}
# bytes every record costs in the ESP's documented request format beyond its fields: Klaviyo's JSON:API wraps
# each profile as {"type":"profile","attributes":{...}} (31 bytes) and separates them with a comma
RECORD_ENVELOPE = {"klaviyo": len('{"type":"profile","attributes":}') + 1, "braze": 0, "mailchimp": 0, "webhook": 0}
# production rate limits per simulator operation, as windows (seconds, requests); Mailchimp has none (10 connections)
PRODUCTION_WINDOWS: dict[str, dict[str, list[tuple[float, int]]]] = {
    "klaviyo": {"bulk_import_profiles": [(1, 10), (60, 150)], "get_bulk_import_profiles_job": [(1, 10), (60, 150)]},
    "braze": {"users_track": [(3, 3000)]},
    "mailchimp": {},
    "webhook": {"deliver": [(1, 20), (60, 600)]},
}


def build_export(template: Path, target: Path, profiles: int) -> None:
    with duckdb.connect(str(target)) as con:
        con.execute(f"attach '{template}' as template (read_only)")
        con.execute("create schema exports")
        rows = con.execute(f"select count(*) from template.{EXPORT}").fetchone()[0]
        repeat = math.ceil(profiles / rows)
        con.execute(
            f"""
            create table {EXPORT} as
            select * replace (
                md5(cast(r.range as varchar) || '|' || t.contact_key) as contact_key,
                'p' || cast(r.range as varchar) || '.' || t.email as email
            )
            from template.{EXPORT} as t, range({repeat}) as r
            limit {profiles}
            """
        )


def change_rows(db: Path, count: int) -> None:
    """cart_value + 1 (a null becomes 1) for the first `count` contacts by key; their keys in main.bench_changed."""
    with duckdb.connect(str(db)) as con:
        con.execute(f"create or replace table main.bench_changed as select contact_key from {EXPORT} "
                    f"order by contact_key limit {count}")
        con.execute(f"update {EXPORT} set cart_value = coalesce(cart_value, 0) + 1 "
                    "where contact_key in (select contact_key from main.bench_changed)")


def payload_bytes(db: Path, sync: Sync, only_changed: bool = False) -> int:
    """Sum over the records of their mapped fields as compact JSON: a dotted field nested under its prefix
    (Klaviyo's properties.x goes in {"properties": {"x": ...}}), null fields left out when the sync's
    null_policy is skip. Computed here from the export, not from what the destination sent; no request
    envelope is counted, so the minimum it gives is a lower bound."""
    from activation.db import Dialect, quote
    from activation.planner import json_columns

    as_json = json_columns(sync.source)
    dialect = Dialect()

    def value(column: str) -> str:
        return dialect.json_value(quote(column)) if column in as_json else quote(column)

    top: list[tuple[str, str]] = []
    nested: dict[str, list[tuple[str, str]]] = {}
    for field, column in sync.fields.items():
        prefix, dot, name = field.partition(".")
        if dot:
            if prefix not in nested:
                nested[prefix] = []
                top.append((prefix, ""))  # placeholder, filled below in field order
            nested[prefix].append((name, value(column)))
        else:
            top.append((field, value(column)))
    pairs = [(key, f"json({dialect.json_object(nested[key])})" if key in nested else expr) for key, expr in top]
    expr = f"strlen({dialect.json_object(pairs)})"
    if sync.null_policy is NullPolicy.SKIP:  # each null field takes '"name":null' and one comma
        expr += " - (" + " + ".join(
            f"case when {quote(column)} is null then {len(json.dumps(field.rpartition('.')[2])) + 6} else 0 end"
            for field, column in sync.fields.items()) + ")"
    where = "where contact_key in (select contact_key from main.bench_changed)" if only_changed else ""
    with duckdb.connect(str(db), read_only=True) as con:
        return int(con.execute(f"select coalesce(sum({expr}), 0) from {EXPORT} {where}").fetchone()[0])


def minimum_requests(destination: str, records: int, body_bytes: int) -> int:
    _, max_records, max_bytes = UPSERT[destination]
    return max(math.ceil(records / max_records), math.ceil(body_bytes / max_bytes))


def limit_imposed_seconds(destination: str, operations: dict[str, dict[str, Any]]) -> float:
    """The least time the production rate limits allow for these requests: for each limited operation and
    window (seconds, limit), (ceil(requests / limit) - 1) * seconds (the first window's allowance is
    immediate); the max over operations and windows. Mailchimp (no rate limit) gives 0."""
    worst = 0.0
    for op, windows in PRODUCTION_WINDOWS[destination].items():
        requests = operations.get(op, {}).get("requests", 0)
        for seconds, limit in windows:
            if requests:
                worst = max(worst, (math.ceil(requests / limit) - 1) * seconds)
    return worst


def syncs_file_for(destination: str, limits: str, work: Path) -> Path:
    """The example syncs file; with limits off, a copy whose destinations set lift_rate_limits: true."""
    source = SYNCS_FILES[destination]
    if limits == "production" or destination == "mailchimp":  # Mailchimp's client has no rate limit to lift
        return source
    document = yaml.safe_load(source.read_text())
    for sync in document["syncs"]:
        sync["destination"].setdefault("settings", {})["lift_rate_limits"] = True
    target = work / f"syncs.{destination}.lifted.yml"
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    return target


POSTGRES_TYPES = {"VARCHAR": "text", "BOOLEAN": "boolean", "INTEGER": "integer", "BIGINT": "bigint",
                  "DOUBLE": "double precision", "DATE": "date", "TIMESTAMP": "timestamp"}


def load_postgres(db: Path, url: str, state_schema: str, work: Path) -> None:
    """The synthetic export into PostgreSQL (schema exports replaced; `state_schema` dropped), via CSV and COPY."""
    import psycopg

    csv = work / "export.csv"
    with duckdb.connect(str(db), read_only=True) as con:
        columns = con.execute("select column_name, data_type from information_schema.columns where table_schema = "
                              "'exports' and table_name = 'export_contact_template_variables' "
                              "order by ordinal_position").fetchall()
        con.execute(f"copy {EXPORT} to '{csv}' (header false, quote '\"', force_quote *)")
    definition = ", ".join(
        f'"{name}" {data_type.replace("DECIMAL", "numeric") if data_type.startswith("DECIMAL") else POSTGRES_TYPES[data_type]}'
        for name, data_type in columns)
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute(f'drop schema if exists "{state_schema}" cascade')
        pg.execute("drop schema if exists exports cascade")
        pg.execute("create schema exports")
        pg.execute(f"create table {EXPORT} ({definition})")
        with pg.cursor() as cursor, cursor.copy(f"copy {EXPORT} from stdin (format csv)") as copy, csv.open("rb") as f:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        pg.execute(f"analyze {EXPORT}")
        loaded = pg.execute(f"select count(*), count(cart_value) from {EXPORT}").fetchone()
    with duckdb.connect(str(db), read_only=True) as con:
        expected = con.execute(f"select count(*), count(cart_value) from {EXPORT}").fetchone()
    csv.unlink()
    if tuple(loaded or ()) != tuple(expected or ()):
        raise SystemExit(f"PostgreSQL holds {loaded} (rows, cart values), DuckDB {expected}")


def change_rows_postgres(url: str, count: int) -> None:
    """change_rows on the PostgreSQL copy (the same first `count` keys: byte order, as DuckDB sorts)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute(f"update {EXPORT} set cart_value = coalesce(cart_value, 0) + 1 where contact_key in "
                   f'(select contact_key from {EXPORT} order by contact_key collate "C" limit {int(count)})')
        pg.execute(f"analyze {EXPORT}")


def run_child(syncs_file: Path, db: Path | str, sync: str, env: dict[str, str], plans: int, out: Path,
              profile: Path | None = None) -> dict[str, Any]:
    """bench.sync_child in a new process; its result, with its own peak RSS (VmHWM, see sync_child)."""
    command = [sys.executable, "-m", "bench.sync_child", "--syncs", str(syncs_file), "--db", str(db), "--sync", sync,
               "--plans", str(plans), "--out", str(out)]
    if profile:
        command += ["--profile", str(profile)]
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0 or not out.exists():
        raise SystemExit(f"the sync child failed with exit code {process.returncode} (command: {' '.join(command)})")
    result = json.loads(out.read_text())
    result["child_peak_rss_mb"] = result["peak_rss_mb"]
    result["child_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["child_wall_seconds"] = wall
    return result


def run(destination: str, template: Path, profiles: int, changed: int, work: Path, limits: str, plans: int,
        passes: list[str], profile_dir: Path | None, postgres: str | None = None) -> list[dict[str, Any]]:
    db = work / f"sync_{destination}.duckdb"
    db.unlink(missing_ok=True)
    build_export(template, db, profiles)
    syncs_file = syncs_file_for(destination, limits, work)
    syncs = load_syncs(syncs_file)
    warehouse: Path | str = db
    if postgres:
        load_postgres(db, postgres, syncs.state_schema, work)
        warehouse = postgres
    sync = next(s for s in syncs.syncs if s.mode is Mode.UPSERT_PROFILES)
    operation = UPSERT[destination][0]
    rows = []
    with SimulatorProcess(destination, limits=limits, syncs_file=SYNCS_FILES[destination]) as simulator:
        env = simulator.sync_env(syncs)
        for name in passes:
            if name == "change":
                change_rows(db, changed)
                if postgres:
                    change_rows_postgres(postgres, changed)
            records = profiles if name == "initial" else changed
            body = payload_bytes(db, sync, only_changed=name == "change") + RECORD_ENVELOPE[destination] * records
            before = simulator.stats()
            profile = profile_dir / f"{destination}_{name}.prof" if profile_dir else None
            child = run_child(syncs_file, warehouse, sync.name, env, plans if name == "change" else min(plans, 1),
                              work / f"child_{destination}_{name}.json", profile)
            sent = delta(before, simulator.stats())
            requests = sent.get(operation, {}).get("requests", 0)
            minimum = minimum_requests(destination, records, body)
            result = child.get("result", {})
            rows.append({
                "destination": destination, "pass": name, "profiles": profiles, "records": records,
                "limits": limits,
                "plan_seconds": child["plan_seconds"],
                "plan_seconds_median": statistics.median(child["plan_seconds"]) if child["plan_seconds"] else None,
                "plan_cpu_seconds": child["plan_cpu_seconds"],
                "plan_cpu_seconds_median": statistics.median(child["plan_cpu_seconds"]) if child["plan_cpu_seconds"] else None,
                "sync_cpu_seconds": child.get("sync_cpu_seconds"),
                "warehouse": "postgres" if postgres else "duckdb",
                "plan_server_cpu_seconds": child.get("plan_server_cpu_seconds"),
                "sync_server_cpu_seconds": child.get("sync_server_cpu_seconds"),
                "planned": child.get("planned"),
                "sync_seconds": child.get("sync_seconds"),
                "acknowledged": result.get("acknowledged"), "failed": result.get("failed"),
                "upsert_requests": requests, "minimum": minimum,
                "ratio": round(requests / minimum, 3) if minimum else None,
                "upsert_bytes_sent": sent.get(operation, {}).get("bytes_in", 0),
                "payload_bytes": body,
                "other_requests": {op: e["requests"] for op, e in sent.items() if op != operation},
                "statuses": {op: e["statuses"] for op, e in sent.items()},
                "limit_seconds": limit_imposed_seconds(destination, sent) if limits == "production" else None,
                "activation_peak_rss_mb": round(child["child_peak_rss_mb"], 1),
                "records_per_second": records / child["sync_seconds"] if child.get("sync_seconds") else None,
            })
        held = simulator.profiles()
        simulator_rss = simulator.peak_rss_mb()
    for row in rows:
        row["simulator_profiles"] = held
        row["simulator_peak_rss_mb"] = round(simulator_rss, 1)
    db.unlink(missing_ok=True)
    return rows


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"\n{'destination':<12}{'pass':<8}{'records':>10}{'requests':>9}{'minimum':>8}{'ratio':>7}{'plan s':>8}"
          f"{'sync s':>8}{'rec/s':>9}{'limit s':>8}{'act MB':>8}{'sim MB':>8}  other requests")
    for r in results:
        other = ", ".join(f"{op} {n:,}" for op, n in sorted(r["other_requests"].items())) or "none"
        limit = f"{r['limit_seconds']:.0f}" if r["limit_seconds"] is not None else "-"
        rate = f"{r['records_per_second']:,.0f}" if r["records_per_second"] else "-"
        plan = f"{r['plan_seconds_median']:.2f}" if r["plan_seconds_median"] is not None else "-"
        print(f"{r['destination']:<12}{r['pass']:<8}{r['records']:>10,}{r['upsert_requests']:>9,}{r['minimum']:>8,}"
              f"{r['ratio']:>7}{plan:>8}{r['sync_seconds']:>8.1f}{rate:>9}{limit:>8}"
              f"{r['activation_peak_rss_mb']:>8,.0f}{r['simulator_peak_rss_mb']:>8,.0f}  {other}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", type=Path, default=ROOT / "warehouse.duckdb", help="a dbt-built warehouse")
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=None, help="contacts changed for the change pass (default 1%%)")
    parser.add_argument("--destinations", nargs="*", default=list(UPSERT), choices=list(UPSERT))
    parser.add_argument("--passes", default="initial,change", help="initial, or initial,change (default)")
    parser.add_argument("--limits", choices=["off", "production"], default="off")
    parser.add_argument("--plans", type=int, default=3,
                        help="timed plans before the change pass's sync (median reported); the initial pass plans once")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_sync_requests"),
                        help="where the synthetic warehouses go (large at 1M profiles)")
    parser.add_argument("--profile-dir", type=Path, help="write a cProfile of each sync here")
    parser.add_argument("--label", default="", help="suffix of the results file (sync_requests_LABEL.json)")
    parser.add_argument("--postgres", metavar="URL", help="sync on this PostgreSQL warehouse (no password in it)")
    parser.add_argument("--duckdb-memory-limit", default="",
                        help="$ACTIVATION_DUCKDB_MEMORY_LIMIT for the sync (e.g. 512MB; default: DuckDB's own)")
    args = parser.parse_args(argv)
    passes = [p.strip() for p in args.passes.split(",") if p.strip()]
    if passes not in (["initial"], ["initial", "change"]):
        parser.error("--passes: initial, or initial,change")
    if not args.template.exists():
        raise SystemExit(f"{args.template} does not exist: run `make demo` (or dbt build) first, or pass --template")
    changed = args.changed if args.changed is not None else max(1, args.profiles // 100)
    if args.duckdb_memory_limit:
        os.environ["ACTIVATION_DUCKDB_MEMORY_LIMIT"] = args.duckdb_memory_limit
    args.work.mkdir(parents=True, exist_ok=True)
    if args.profile_dir:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    for destination in args.destinations:
        results += run(destination, args.template, args.profiles, changed, args.work, args.limits, args.plans,
                       passes, args.profile_dir, args.postgres)
        print_table(results[-len(passes):])
    print(f"\nall: {args.profiles:,} profiles, limits {args.limits}")
    print_table(results)
    problems = [f"{r['destination']}: the simulator holds {r['simulator_profiles']:,} profiles"
                for r in results if r["pass"] == "initial" and r["simulator_profiles"] != r["profiles"]]
    problems += [f"{r['destination']} {r['pass']}: {r['failed']:,} failed" for r in results if r["failed"]]
    for problem in problems:
        print(f"PROBLEM {problem}")
    out = ROOT / "bench" / "results" / f"sync_requests{'_' + args.label if args.label else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"results": results, "duckdb_memory_limit": args.duckdb_memory_limit or None,
                               "machine": {"cpus": os.cpu_count(),
                                                               "python": platform.python_version()}}, indent=2) + "\n")
    print(f"written {out}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
