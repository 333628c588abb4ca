"""The floor: the same models built by DuckDB alone, without dbt, against `dbt run`.

What a build costs when only the engine works: the project is compiled once
(`dbt compile --full-refresh`, same vars and as_of as the timed runs), then the
compiled SQL of every model is executed in ONE DuckDB connection in DAG order
(topological order of the manifest's depends_on), each materialized as
`create or replace table <relation> as (<compiled sql>)` (the view as a view).
Incremental models are built as full-refresh tables (their compiled SQL is
the full-refresh branch). No dbt process runs meanwhile. The engine does
nothing dbt does around the SQL: no on-run-start hook, no contract DDL
(dbt creates an enforced-contract table with declared column types and
inserts into it), no temp relation and rename, no metadata queries.

Against it, on a fresh copy of the same seeded warehouse: `dbt run
--full-refresh` of the same models (wall time of the process), and dbt's
fixed costs on their own: `dbt parse --no-partial-parse` (a cold parse), and
`dbt run --empty --full-refresh` (every model, every ref and source limited to
zero rows: dbt's per-model machinery with almost no data).

Row counts of every model of both builds are compared; mismatches are
printed (and the exit status is 1).

    python -m bench.floor --db /tmp/bench20k.duckdb --generate --customers 20000 --runs 3
    python -m bench.floor --db /tmp/bench1m.duckdb --runs 3

--db holds the raw schema (python -m datagen generate). Prints a table and
writes bench/results/floor.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[1]
DBT = Path(sys.executable).parent / "dbt"
AS_OF = "2026-11-20 12:00:00"
END_TIME = "2026-11-20T12:00:00"  # datagen --end-time matching AS_OF
# the file name of every warehouse copy: dbt-duckdb names the catalog after the file's stem and the
# compiled SQL names relations "warehouse"."schema"."name", so both builds use a file of this name
WAREHOUSE = "warehouse.duckdb"


def dbt(args: list[str], warehouse: Path, work: Path) -> float:
    """Run dbt against `warehouse`, return wall seconds; fail loudly on a non-zero exit."""
    env = {**os.environ, "WAREHOUSE_PATH": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [
        str(DBT), *args, "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
        "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{completed.stdout[-4000:]}{completed.stderr[-2000:]}")
    return elapsed


def models_in_dag_order(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every model node of the manifest, parents before children (ties by unique_id, so the order is stable)."""
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    graph = {uid: sorted(p for p in node["depends_on"]["nodes"] if p in models) for uid, node in models.items()}
    sorter = TopologicalSorter(graph)
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return [models[uid] for uid in order]


def statement(node: dict[str, Any]) -> str:
    """The DDL that materializes one model from its compiled SQL."""
    sql = node["compiled_code"].strip().rstrip(";").strip()
    kind = "view" if node["config"]["materialized"] == "view" else "table"
    # the newline before ')' keeps a trailing line comment of the model from swallowing it
    return f"create or replace {kind} {node['relation_name']} as (\n{sql}\n)"


def engine_build(warehouse: Path, models: list[dict[str, Any]]) -> dict[str, Any]:
    """Execute every model's compiled SQL in one connection; wall (connect to close) and per-model seconds."""
    per_model: dict[str, float] = {}
    started = time.perf_counter()
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("set TimeZone = 'UTC'")  # as profiles.yml's settings (icu loads on first use)
        if os.environ.get("DUCKDB_MEMORY_LIMIT"):  # as the session_settings hook sets it for dbt
            con.execute("set memory_limit = ?", [os.environ["DUCKDB_MEMORY_LIMIT"].strip()])
        for schema in sorted({(n["database"], n["schema"]) for n in models}):
            con.execute(f'create schema if not exists "{schema[0]}"."{schema[1]}"')
        for node in models:
            ddl = statement(node)
            t0 = time.perf_counter()
            try:
                con.execute(ddl)
            except duckdb.Error as error:
                raise SystemExit(f"engine build failed at {node['unique_id']}: {error}") from None
            per_model[node["name"]] = time.perf_counter() - t0
    finally:
        con.close()  # includes the checkpoint, as dbt's connection close does
    return {"wall": time.perf_counter() - started, "sum": sum(per_model.values()), "per_model": per_model}


def row_counts(warehouse: Path, models: list[dict[str, Any]]) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {n["name"]: con.execute(f"select count(*) from {n['relation_name']}").fetchone()[0] for n in models}


def layer(node: dict[str, Any]) -> str:
    return node["fqn"][1] if len(node["fqn"]) > 2 else "(root)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="DuckDB file holding the raw schema")
    parser.add_argument("--generate", action="store_true", help="generate the raw data into --db first")
    parser.add_argument("--customers", type=int, default=1_000_000, help="with --generate (default 1,000,000)")
    parser.add_argument("--days", type=int, default=30, help="with --generate (default 30)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported (default 3)")
    parser.add_argument("--as-of", default=AS_OF, help=f"as_of of the compile and of every dbt run (default {AS_OF})")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the last engine-built warehouse at this path (for inspection)")
    args = parser.parse_args(argv)

    if args.generate:
        subprocess.run(
            [sys.executable, "-m", "datagen", "generate", "--db", str(args.db), "--customers", str(args.customers),
             "--days", str(args.days), "--end-time", END_TIME, "--quiet"],
            check=True,
        )
    if not args.db.exists():
        raise SystemExit(f"{args.db} does not exist: pass --generate or generate it with python -m datagen")
    with duckdb.connect(str(args.db), read_only=True) as con:
        raw_events = con.execute("select count(*) from raw.events").fetchone()[0]
        raw_customers = con.execute("select count(*) from raw.customers").fetchone()[0]

    vars_ = ["--vars", json.dumps({"as_of": args.as_of})]
    timings: dict[str, list[float]] = {k: [] for k in (
        "engine_wall", "engine_sum", "dbt_run_wall", "dbt_models_sum", "dbt_parse_cold", "dbt_run_empty")}
    engine_models: dict[str, list[float]] = {}
    dbt_models: dict[str, list[float]] = {}
    mismatches: dict[str, dict[str, int]] = {}
    counts_engine: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench_floor_") as tmp:
        work = Path(tmp)
        for sub in ("base", "dbt", "engine", "empty"):
            (work / sub).mkdir()
        base = work / "base" / WAREHOUSE
        shutil.copy(args.db, base)
        dbt(["seed", "--full-refresh"], base, work)
        compile_seconds = dbt(["compile", "--full-refresh", *vars_], base, work)
        manifest = json.loads((work / "target" / "manifest.json").read_text())
        models = models_in_dag_order(manifest)
        incremental = [n["name"] for n in models if n["config"]["materialized"] == "incremental"]
        views = [n["name"] for n in models if n["config"]["materialized"] == "view"]
        print(f"{len(models)} models; incremental models built as full-refresh tables: {', '.join(incremental) or 'none'}"
              f"; views: {', '.join(views) or 'none'}", file=sys.stderr)

        for run in range(args.runs):
            # dbt: a full-refresh run of every model on a fresh copy of the seeded warehouse
            dbt_db = work / "dbt" / WAREHOUSE
            shutil.copy(base, dbt_db)
            timings["dbt_run_wall"].append(dbt(["run", "--full-refresh", *vars_], dbt_db, work))
            results = json.loads((work / "target" / "run_results.json").read_text())["results"]
            timings["dbt_models_sum"].append(sum(r["execution_time"] for r in results))
            for r in results:
                dbt_models.setdefault(r["unique_id"].split(".")[-1], []).append(r["execution_time"])
            counts_dbt = row_counts(dbt_db, models)
            dbt_db.unlink()

            # the engine alone: the compiled SQL in one DuckDB connection, no dbt process
            engine_db = work / "engine" / WAREHOUSE
            shutil.copy(base, engine_db)
            built = engine_build(engine_db, models)
            timings["engine_wall"].append(built["wall"])
            timings["engine_sum"].append(built["sum"])
            for name, seconds in built["per_model"].items():
                engine_models.setdefault(name, []).append(seconds)
            counts_engine = row_counts(engine_db, models)
            if args.keep and run == args.runs - 1:
                shutil.copy(engine_db, args.keep)
            engine_db.unlink()
            for name, n in counts_dbt.items():
                if counts_engine.get(name) != n:
                    mismatches[name] = {"dbt": n, "engine": counts_engine.get(name, -1)}

            # dbt's fixed costs: a cold parse, and an empty run of every model
            timings["dbt_parse_cold"].append(dbt(["parse", "--no-partial-parse", *vars_], base, work))
            empty_db = work / "empty" / WAREHOUSE
            shutil.copy(base, empty_db)
            timings["dbt_run_empty"].append(dbt(["run", "--empty", "--full-refresh", *vars_], empty_db, work))
            empty_db.unlink()
            print(f"run {run + 1}: engine {built['wall']:.1f} s (sum {built['sum']:.1f}), "
                  f"dbt run {timings['dbt_run_wall'][-1]:.1f} s, parse {timings['dbt_parse_cold'][-1]:.1f} s, "
                  f"empty run {timings['dbt_run_empty'][-1]:.1f} s", file=sys.stderr)

    med = {k: statistics.median(v) for k, v in timings.items()}
    ratio = med["dbt_run_wall"] / med["engine_wall"]
    per_model = {
        name: {"engine": statistics.median(engine_models[name]),
               "dbt": statistics.median(dbt_models[name]) if name in dbt_models else None}
        for name in engine_models
    }
    marts = {n["name"]: counts_engine[n["name"]] for n in models if layer(n) in ("marts", "exports")}
    result = {
        "raw_customers": raw_customers,
        "raw_events": raw_events,
        "as_of": args.as_of,
        "runs": args.runs,
        "models": len(models),
        "incremental_models_built_as_full_refresh_tables": incremental,
        "views": views,
        "seconds": timings,
        "median_seconds": med,
        "dbt_compile_seconds": compile_seconds,
        "dbt_over_engine": ratio,
        "dbt_overhead_seconds": med["dbt_run_wall"] - med["engine_wall"],
        "per_model_median_seconds": per_model,
        "mart_and_export_row_counts": marts,
        "row_count_mismatches": mismatches,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__},
    }
    out = ROOT / "bench" / "results" / "floor.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{'raw customers / events':<46}{raw_customers:>12,} / {raw_events:,}")
    print(f"{'models (incremental as full-refresh tables)':<46}{len(models):>12} ({len(incremental)} incremental)")
    print(f"\n{'median of ' + str(args.runs) + ' runs':<46}{'seconds':>12}")
    rows = [
        ("engine only: wall (connect..close)", med["engine_wall"]),
        ("engine only: sum of model statements", med["engine_sum"]),
        ("dbt run --full-refresh: wall", med["dbt_run_wall"]),
        ("dbt run: sum of model execution_time", med["dbt_models_sum"]),
        ("dbt parse --no-partial-parse: wall", med["dbt_parse_cold"]),
        ("dbt run --empty --full-refresh: wall", med["dbt_run_empty"]),
    ]
    for label, value in rows:
        print(f"{label:<46}{value:>12.2f}")
    print(f"{'dbt run wall / engine wall':<46}{ratio:>12.2f}")
    print(f"{'dbt run wall - engine wall':<46}{med['dbt_run_wall'] - med['engine_wall']:>12.2f}")
    print(f"\n{'slowest models (median s)':<46}{'engine':>10}{'dbt':>10}")
    for name, value in sorted(per_model.items(), key=lambda item: -item[1]["engine"])[:10]:
        dbt_s = f"{value['dbt']:.2f}" if value["dbt"] is not None else "-"
        print(f"{name:<46}{value['engine']:>10.2f}{dbt_s:>10}")
    if mismatches:
        print(f"\nROW COUNT MISMATCHES (dbt vs engine), {len(mismatches)} models:")
        for name, pair in sorted(mismatches.items()):
            print(f"  {name}: dbt {pair['dbt']:,}, engine {pair['engine']:,}")
    else:
        print(f"\nrow counts: all {len(models)} models equal in both builds "
              f"({len(marts)} marts and exports, e.g. {', '.join(f'{k} {v:,}' for k, v in list(marts.items())[:3])})")
    print(f"\nwritten to {out}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
