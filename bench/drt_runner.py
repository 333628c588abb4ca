"""Run `drt run` with drt's Klaviyo destination pointed at a local simulator.

Executed by bench/peer_drt.py with the python of drt's OWN virtualenv
(bench/.venv-drt), never imported by the project: it needs only drt-core.

drt's Klaviyo destination (drt/destinations/klaviyo.py in drt-core 1.2.1)
builds every URL from the module constant ``_BASE`` ("https://a.klaviyo.com/api")
and has no setting for it, so this script sets that constant to the
simulator's ``/api`` before invoking drt's own command line in-process:

    bench/.venv-drt/bin/python bench/drt_runner.py --project-dir DIR --base-url http://127.0.0.1:PORT \\
        --out result.json [-- extra `drt run` arguments]

It checks the constant exists (a drt release that renames it fails loudly
rather than syncing into the real Klaviyo), runs ``drt run --output json``
from the project directory, and writes {"seconds", "exit_code", "drt_version",
"base"} to --out; drt's own JSON output goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project-dir", required=True)
    parser.add_argument("--base-url", required=True, help="the simulator's address, e.g. http://127.0.0.1:8765")
    parser.add_argument("--out", required=True)
    args, extra = parser.parse_known_args()
    if extra[:1] == ["--"]:
        extra = extra[1:]

    import drt
    import drt.destinations.klaviyo as klaviyo

    if not isinstance(getattr(klaviyo, "_BASE", None), str):
        raise SystemExit(f"drt {drt.__version__}: drt.destinations.klaviyo._BASE not found; update bench/drt_runner.py")
    if not args.base_url.startswith(("http://127.", "http://localhost")):
        raise SystemExit(f"refusing a non-local base URL {args.base_url!r}")
    klaviyo._BASE = args.base_url.rstrip("/") + "/api"

    from drt.cli.main import app

    os.chdir(args.project_dir)
    started = time.perf_counter()
    code = 0
    try:
        app(["run", "--output", "json", *extra], prog_name="drt")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    seconds = time.perf_counter() - started
    with open(args.out, "w") as handle:
        json.dump({"seconds": seconds, "exit_code": code, "drt_version": drt.__version__, "base": klaviyo._BASE}, handle)
    return code


if __name__ == "__main__":
    sys.exit(main())
