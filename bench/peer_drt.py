"""The peer: drt's Klaviyo destination and activation syncing the same N profiles into the Klaviyo simulator.

drt (drt-core, https://github.com/drt-hub/drt) is an open-source reverse-ETL
tool with a Klaviyo destination that upserts one profile at a time:
POST /api/profiles/ (201 for a new email; 409 with meta.duplicate_profile_id
for an existing one, then PATCH /api/profiles/{id}/), plus, when a list_id
is configured, POST /api/lists/{id}/relationships/profiles/ per profile.
activation's upsert_profiles sync (syncs.yml: klaviyo_profiles) sends bulk
import jobs of up to 10,000 profiles and polls them.

One run of this script, for the same N export rows (a synthetic
export_contact_template_variables of N contacts, built as
bench/sync_requests.py builds it from a dbt-built warehouse):

* activation: the klaviyo_profiles sync in a child process (bench/sync_child.py,
  the Engine as `activation sync` runs it) into a Klaviyo simulator running in
  its own process (bench/simproc.py: `activation simulate klaviyo`);
* drt: `drt run` of a generated drt project (drt_project.yml, a DuckDB profile
  in a private HOME, one sync whose model selects the same columns) in its
  OWN virtualenv (bench/.venv-drt, created on first use: pip install
  drt-core[duckdb]==1.2.1), with drt's Klaviyo base URL constant pointed at
  another simulator process by bench/drt_runner.py; drt's code is not copied
  here.

So both clients are processes of their own, and neither shares a process with
the simulator it sends to. After each pass the simulator's profile count is
checked and a sample of 200 profiles is read back through its API (after the
pass's requests were counted).

Passes (--passes, default initial,changed): ``initial`` into an empty
account (every profile new); ``changed`` after every row changed (cart_value
+ 1): every profile exists; ``unchanged``: the same rows again. Requests are
counted by the simulator per operation and status.

Rate limits (--rate-limits): ``off`` (default; both tools as fast as they
go, a measure of the client) or ``production`` (Klaviyo's limits per
endpoint: profiles 75/s burst, 750/min steady; bulk import 10/s, 150/min).
drt paces by sync.rate_limit (requests_per_second per row, default 10);
this script sets 0 (no pacing) with limits off and --drt-rps (default 12,
just under 750/min) with production limits. For each pass the table also
gives the time Klaviyo's steady limits need for the requests sent: max over
endpoints of requests / steady rate (what a long run cannot beat; a run of a
few minutes can, by up to one minute window's allowance, e.g. 750 profile
requests, since the windows are fixed).

    python -m bench.peer_drt --profiles 100000
    python -m bench.peer_drt --profiles 10000 --template warehouse.duckdb
    python -m bench.peer_drt --profiles 300 --rate-limits production

Prints a table and writes bench/results/peer_drt.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
import httpx
import yaml

from activation.config import Mode, load_syncs
from activation.contracts.klaviyo import load_contract
from activation.simulators.ratelimit import parse_windows
from activation.simulators.rehearsal import SYNCS_FILES
from bench.simproc import SimulatorProcess, delta
from bench.sync_requests import build_export, run_child, syncs_file_for

ROOT = Path(__file__).resolve().parents[1]
DRT_VERSION = "1.2.1"
DRT_VENV = ROOT / "bench" / ".venv-drt"
RUNNER = ROOT / "bench" / "drt_runner.py"
EXPORT = "exports.export_contact_template_variables"
PASSES = ("initial", "changed", "unchanged")
TOOLS = ("activation", "drt")
CHANGE = f"update {EXPORT} set cart_value = cart_value + 1"


# ---------------------------------------------------------------------- drt's virtualenv


def ensure_drt_venv(venv: Path) -> Path:
    """drt's own virtualenv with drt-core[duckdb]==DRT_VERSION and our duckdb version; its python."""
    python = venv / "bin" / "python"
    duckdb_version = version("duckdb")  # the same file format as the warehouse we hand it
    probe = [str(python), "-c", "import drt, duckdb; print(drt.__version__, duckdb.__version__)"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.split() == [DRT_VERSION, duckdb_version]:
            return python
    print(f"installing drt-core[duckdb]=={DRT_VERSION} into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                f"drt-core[duckdb]=={DRT_VERSION}", f"duckdb=={duckdb_version}"],
                               capture_output=True, text=True)
    if installed.returncode != 0:
        raise SystemExit(f"pip install of drt-core failed:\n{installed.stdout[-3000:]}{installed.stderr[-3000:]}")
    subprocess.run(probe, check=True, capture_output=True)
    return python


# ---------------------------------------------------------------------- the drt project


def drt_model_sql(fields: dict[str, str]) -> str:
    """The columns activation's sync sends, named as it names them; drt sends every non-email column as a property."""
    columns = []
    for field, column in fields.items():
        name = field.removeprefix("properties.")
        columns.append(f'"{column}"' if name == column else f'"{column}" as "{name}"')
    return f"select {', '.join(columns)} from {EXPORT} order by contact_key"


def write_drt_project(root: Path, source: Path, sql: str, rps: float, batch_size: int) -> tuple[Path, Path]:
    """A drt project (drt_project.yml, syncs/klaviyo_profiles.yml) and a HOME holding ~/.drt/profiles.yml."""
    home, project = root / "home", root / "project"
    (home / ".drt").mkdir(parents=True)
    (project / "syncs").mkdir(parents=True)
    (home / ".drt" / "profiles.yml").write_text(yaml.safe_dump({"bench": {"type": "duckdb", "database": str(source)}}))
    (project / "drt_project.yml").write_text(yaml.safe_dump({"name": "bench", "profile": "bench"}))
    sync = {
        "name": "klaviyo_profiles",
        "description": "activation's klaviyo_profiles columns, upserted by drt",
        "model": sql,
        "destination": {"type": "klaviyo", "api_key_env": "KLAVIYO_API_KEY", "email_field": "email"},
        "sync": {"mode": "full", "batch_size": batch_size, "on_error": "skip",
                 "rate_limit": {"requests_per_second": rps}},
    }
    (project / "syncs" / "klaviyo_profiles.yml").write_text(yaml.safe_dump(sync, sort_keys=False))
    return project, home


def run_drt(python: Path, project: Path, home: Path, base_url: str, out: Path, timeout: float) -> dict[str, Any]:
    env = {**os.environ, "HOME": str(home), "DO_NOT_TRACK": "1", "DRT_TELEMETRY": "0",
           "KLAVIYO_API_KEY": "pk_bench_not_a_secret"}
    started = time.perf_counter()
    completed = subprocess.run(
        [str(python), str(RUNNER), "--project-dir", str(project), "--base-url", base_url, "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    process_seconds = time.perf_counter() - started
    if not out.exists():
        raise SystemExit(f"drt runner failed ({completed.returncode}):\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}")
    runner = json.loads(out.read_text())
    try:
        report = json.loads(completed.stdout[completed.stdout.index("{"):])
        sync = report["syncs"][0]
    except (ValueError, KeyError, IndexError):
        raise SystemExit(f"unexpected drt output:\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}") from None
    return {"seconds": runner["seconds"], "process_seconds": process_seconds, "exit_code": runner["exit_code"],
            "synced": sync.get("rows_synced", 0), "failed": sync.get("rows_failed", 0), "status": sync.get("status"),
            "drt_version": runner["drt_version"]}


# ---------------------------------------------------------------------- simulator bookkeeping


def steady_rates() -> dict[str, float]:
    """operationId -> Klaviyo's steady (longest-window) limit in requests per second, from the contract."""
    rates = {}
    for op, spec in load_contract().rate_limits().items():
        if spec:
            longest = parse_windows(spec)[-1]
            rates[op] = longest.limit / longest.seconds
    return rates


def steady_seconds(operations: dict[str, dict[str, int]], rates: dict[str, float]) -> float:
    return max((entry["requests"] / rates[op] for op, entry in operations.items() if op in rates), default=0.0)


def verify(simulator: SimulatorProcess, db: Path, profiles: int, sample: int = 200) -> str | None:
    """None if the account holds `profiles` profiles and a sample carries the export's cart_value; else the problem.

    The sample is read through the simulator's API (GET /api/profiles?filter=equals(email,...)), after the
    pass's requests were counted."""
    count = simulator.profiles()
    if count != profiles:
        return f"{count:,} profiles in the simulator, expected {profiles:,}"
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(f"select email, cart_value from {EXPORT} using sample {sample} rows (reservoir, 7)").fetchall()
    headers = {"Authorization": "Klaviyo-API-Key pk_bench_not_a_secret", "revision": "2026-07-15",
               "Accept": "application/vnd.api+json"}
    with httpx.Client(base_url=simulator.base_url, headers=headers, timeout=60) as client:
        for email, cart_value in rows:
            found = client.get("/api/profiles", params={"filter": f'equals(email,"{email}")'}).json().get("data") or []
            got = found[0]["attributes"].get("properties", {}).get("cart_value") if found else None
            if not found or got is None or float(got) != float(cart_value):
                return f"{email}: cart_value {got!r} in the simulator, {cart_value} in the export"
    return None


# ---------------------------------------------------------------------- the two tools


def activation_passes(db: Path, work: Path, passes: list[str], rate_limits: str, profiles: int,
                      profile_dir: Path | None = None) -> list[dict[str, Any]]:
    """activation's klaviyo_profiles sync, each pass an `activation sync`-like child process (bench/sync_child.py),
    into a Klaviyo simulator process. With limits off, activation's own pacing is lifted too (drt's is 0).
    ``profile_dir``: a cProfile of each pass's sync is written there (activation_PASS.prof)."""
    syncs_file = syncs_file_for("klaviyo", rate_limits, work)
    syncs = load_syncs(syncs_file)
    sync = next(s for s in syncs.syncs if s.mode is Mode.UPSERT_PROFILES and s.destination.type == "klaviyo")
    results = []
    with SimulatorProcess("klaviyo", limits=rate_limits) as simulator:
        env = simulator.sync_env(syncs)
        for index, name in enumerate(passes):
            if name == "changed":
                with duckdb.connect(str(db)) as con:
                    con.execute(CHANGE)
            before, simulator_cpu = simulator.stats(), simulator.cpu_seconds()
            child = run_child(syncs_file, db, sync.name, env, 0, work / f"activation_{index}.json",
                              profile=profile_dir / f"activation_{name}.prof" if profile_dir else None)
            result = child["result"]
            results.append({"pass": name, "tool": "activation", "seconds": child["sync_seconds"],
                            "cpu_seconds": child["sync_cpu_seconds"],
                            "simulator_cpu_seconds": simulator.cpu_seconds() - simulator_cpu,
                            "process_seconds": child["child_wall_seconds"],
                            "peak_rss_mb": child["child_peak_rss_mb"],
                            "synced": result["acknowledged"], "failed": result["failed"], "status": result["status"],
                            "operations": delta(before, simulator.stats()),
                            "check": verify(simulator, db, profiles)})
            print(f"activation {name}: {child['sync_seconds']:.1f} s wall, {child['sync_cpu_seconds']:.1f} s CPU; "
                  f"simulator {results[-1]['simulator_cpu_seconds']:.1f} s CPU", file=sys.stderr)
        results[-1]["simulator_peak_rss_mb"] = simulator.peak_rss_mb()
    return results


def drt_passes(python: Path, db: Path, work: Path, sql: str, passes: list[str], rate_limits: str, rps: float,
               batch_size: int, profiles: int, timeout: float) -> list[dict[str, Any]]:
    project, home = write_drt_project(work / "drt", db, sql, rps, batch_size)
    results = []
    with SimulatorProcess("klaviyo", limits=rate_limits, extra_args=("--any-revision",)) as simulator:
        for index, name in enumerate(passes):
            if name == "changed":
                with duckdb.connect(str(db)) as con:
                    con.execute(CHANGE)
            before, simulator_cpu = simulator.stats(), simulator.cpu_seconds()
            run = run_drt(python, project, home, simulator.base_url, work / f"drt_{index}.json", timeout)
            results.append({"pass": name, "tool": "drt", **run,
                            "simulator_cpu_seconds": simulator.cpu_seconds() - simulator_cpu,
                            "operations": delta(before, simulator.stats()),
                            "check": verify(simulator, db, profiles)})
            print(f"drt {name}: {run['seconds']:.1f} s ({run['synced']:,} synced, {run['failed']:,} failed)",
                  file=sys.stderr)
        revisions = simulator.summary().get("revisions", {})
        results[-1]["simulator_peak_rss_mb"] = simulator.peak_rss_mb()
    for result in results:
        result["revisions_seen"] = revisions
    return results


# ---------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--template", type=Path, default=ROOT / "warehouse.duckdb",
                        help="a dbt-built warehouse whose export rows are repeated (default: make demo's)")
    parser.add_argument("--rate-limits", choices=["off", "production"], default="off")
    parser.add_argument("--passes", default="initial,changed",
                        help="comma-separated: initial (first), then changed and/or unchanged (default initial,changed)")
    parser.add_argument("--drt-rps", type=float, default=None,
                        help="drt's sync.rate_limit.requests_per_second (default: 0 = no pacing with limits off, "
                             "12 with production limits)")
    parser.add_argument("--drt-batch-size", type=int, default=100, help="drt's sync.batch_size (drt's default 100)")
    parser.add_argument("--drt-venv", type=Path, default=DRT_VENV)
    parser.add_argument("--timeout", type=float, default=None, help="seconds one drt pass may take (default: derived)")
    parser.add_argument("--tools", default="activation,drt",
                        help="comma-separated tools to run: activation and/or drt (default both; ratios need both)")
    parser.add_argument("--profile-dir", type=Path, default=None,
                        help="write a cProfile of each activation pass here (activation_PASS.prof)")
    args = parser.parse_args(argv)

    passes = [p.strip() for p in args.passes.split(",") if p.strip()]
    if not passes or passes[0] != "initial" or any(p not in PASSES for p in passes):
        parser.error(f"--passes: start with initial, then any of {', '.join(PASSES[1:])}")
    if not args.template.exists():
        raise SystemExit(f"{args.template} does not exist: run `make demo` (or dbt build) first, or pass --template")
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if not tools or any(t not in TOOLS for t in tools):
        parser.error(f"--tools: any of {', '.join(TOOLS)}")
    rps = args.drt_rps if args.drt_rps is not None else (0.0 if args.rate_limits == "off" else 12.0)
    timeout = args.timeout or (3600.0 if rps <= 0 else 2 * args.profiles / rps * 1.5 + 600)

    python = ensure_drt_venv(args.drt_venv) if "drt" in tools else None
    syncs = load_syncs(SYNCS_FILES["klaviyo"])
    sync = next(s for s in syncs.syncs if s.mode is Mode.UPSERT_PROFILES and s.destination.type == "klaviyo")
    sql = drt_model_sql(sync.fields)
    rates = steady_rates()

    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_peer_drt_")))
        source = work / "export.duckdb"
        build_export(args.template, source, args.profiles)
        with duckdb.connect(str(source), read_only=True) as con:
            rows = con.execute(f"select count(*) from {EXPORT}").fetchone()[0]
        if rows != args.profiles:
            raise SystemExit(f"the export has {rows:,} rows, not {args.profiles:,}")
        # not "activation.duckdb": a catalog named like the state schema makes "activation.x" ambiguous
        act_db, drt_db = work / "export_activation.duckdb", work / "export_drt.duckdb"
        shutil.copy(source, act_db)
        shutil.copy(source, drt_db)
        results = []
        if "activation" in tools:
            if args.profile_dir:
                args.profile_dir.mkdir(parents=True, exist_ok=True)
            results += activation_passes(act_db, work, passes, args.rate_limits, args.profiles, args.profile_dir)
        if python is not None:
            results += drt_passes(python, drt_db, work, sql, passes, args.rate_limits, rps, args.drt_batch_size,
                                  args.profiles, timeout)

    for r in results:
        r["requests"] = sum(entry["requests"] for entry in r["operations"].values())
        r["bytes_sent"] = sum(entry["bytes_in"] for entry in r["operations"].values())
        r["requests_per_profile"] = r["requests"] / args.profiles
        r["profiles_per_second"] = args.profiles / r["seconds"] if r["seconds"] else None
        r["seconds_at_steady_production_rate"] = steady_seconds(r["operations"], rates)

    ratios = {}
    for name in passes if len(tools) == len(TOOLS) else []:
        act = next(r for r in results if r["tool"] == "activation" and r["pass"] == name)
        peer = next(r for r in results if r["tool"] == "drt" and r["pass"] == name)
        ratios[name] = {
            "requests_drt_over_activation": peer["requests"] / act["requests"] if act["requests"] else None,
            "seconds_drt_over_activation": peer["seconds"] / act["seconds"] if act["seconds"] else None,
        }

    print(f"\n{args.profiles:,} profiles, simulator rate limits {args.rate_limits}; drt {DRT_VERSION} "
          f"(sync.rate_limit {rps:g} rows/s{' = no pacing' if rps <= 0 else ''}, batch_size {args.drt_batch_size})")
    header = (f"{'pass':<10}{'tool':<12}{'requests':>10}{'req/profile':>12}{'wall s':>9}{'cpu s':>7}{'sim cpu s':>10}"
              f"{'profiles/s':>11}"
              f"{'steady s':>10}  requests by operation (status)")
    print(header)
    for r in results:
        ops = "; ".join(f"{op} " + ", ".join(f"{n:,}x{s}" for s, n in sorted(e["statuses"].items()))
                        for op, e in sorted(r["operations"].items()))
        pps = f"{r['profiles_per_second']:,.0f}" if r["profiles_per_second"] else "-"
        cpu = f"{r['cpu_seconds']:.1f}" if r.get("cpu_seconds") is not None else "-"
        print(f"{r['pass']:<10}{r['tool']:<12}{r['requests']:>10,}{r['requests_per_profile']:>12.4f}"
              f"{r['seconds']:>9.1f}{cpu:>7}{r['simulator_cpu_seconds']:>10.1f}{pps:>11}"
              f"{r['seconds_at_steady_production_rate']:>10,.0f}  {ops}")
    for name, ratio in ratios.items():
        req = ratio["requests_drt_over_activation"]
        sec = ratio["seconds_drt_over_activation"]
        print(f"{name}: drt / activation: requests {f'{req:,.0f}x' if req else 'n/a (activation sent none)'}, "
              f"wall time {f'{sec:,.1f}x' if sec else 'n/a'}")
    problems = [f"{r['tool']} {r['pass']}: {r['check']}" for r in results if r["check"]]
    problems += [f"{r['tool']} {r['pass']}: {r['failed']:,} failed" for r in results if r["failed"]]
    for problem in problems:
        print(f"PROBLEM {problem}")
    if not problems:
        print(f"checked: after every pass each simulator holds {args.profiles:,} profiles, "
              "and a sample of 200 carries the export's cart_value")
    if args.rate_limits == "off":
        print("steady s: the time production limits imply, requests / Klaviyo's steady rate per endpoint "
              "(profiles 750/min, bulk import 150/min), max over endpoints;\ndrt's default sync.rate_limit "
              f"(10 rows/s) would take {args.profiles / 10:,.0f} s per pass")

    out = ROOT / "bench" / "results" / "peer_drt.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "profiles": args.profiles, "rate_limits": args.rate_limits, "passes": passes,
        "drt": {"version": DRT_VERSION, "rate_limit_rows_per_second": rps, "batch_size": args.drt_batch_size,
                "model_sql": sql},
        "results": results, "ratios": ratios,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }, indent=2, default=str) + "\n")
    print(f"written {out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
