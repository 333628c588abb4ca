"""Requests per second the Klaviyo simulator serves, rate limits off.

Starts ``activation simulate klaviyo --port 0 --rate-limits off`` in its own
process (as a benchmark or a peer tool would use it), then sends ``--requests``
requests over ``--concurrency`` keep-alive connections from an aiohttp client
on 127.0.0.1, and reports requests per second and latency percentiles. Bounded
by count and by ``--max-seconds``.

    python -m bench.simulator_throughput --operation profile-import --requests 20000
    python -m bench.simulator_throughput --operation get-list --concurrency 16

Operations: ``get-list`` (GET /api/lists/{id}: routing, auth, validation of
headers, a small JSON answer), ``profile-import`` (POST /api/profile-import:
body validation and an upsert, a new profile each request), ``event`` (POST
/api/events). Prints one line of JSON and writes
bench/results/simulator_throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
HEADERS = {
    "Authorization": "Klaviyo-API-Key pk_bench",
    "revision": "2026-07-15",
    "Content-Type": "application/vnd.api+json",
    "Accept": "application/vnd.api+json",
}


def _request(operation: str, index: int, list_id: str) -> tuple[str, str, dict[str, Any] | None]:
    if operation == "get-list":
        return "GET", f"/api/lists/{list_id}", None
    if operation == "profile-import":
        return "POST", "/api/profile-import", {"data": {"type": "profile", "attributes": {
            "email": f"user{index}@example.com", "first_name": "Ada", "properties": {"segment": "vip", "n": index}}}}
    if operation == "event":
        return "POST", "/api/events", {"data": {"type": "event", "attributes": {
            "properties": {"segment": "vip"}, "unique_id": f"e{index}",
            "metric": {"data": {"type": "metric", "attributes": {"name": "Segment Entered"}}},
            "profile": {"data": {"type": "profile", "attributes": {"email": f"user{index % 1000}@example.com"}}}}}}
    raise SystemExit(f"unknown operation {operation!r}: get-list, profile-import or event")


async def _run(base_url: str, operation: str, total: int, concurrency: int, max_seconds: float) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url, headers=HEADERS, connector=connector) as session:
        async with session.post("/api/lists", json={"data": {"type": "list", "attributes": {"name": "bench"}}}) as r:
            list_id = (await r.json(content_type=None))["data"]["id"]
        counter = iter(range(total))
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        deadline = time.perf_counter() + max_seconds

        async def worker() -> None:
            for index in counter:
                if time.perf_counter() > deadline:
                    return
                method, path, body = _request(operation, index, list_id)
                started = time.perf_counter()
                async with session.request(method, path, json=body) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    done = len(latencies)
    return {
        "operation": operation,
        "requests": done,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(done / elapsed, 1),
        "requests_per_minute": round(done / elapsed * 60),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(done * 0.99) - 1] * 1000, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operation", default="get-list", help="get-list, profile-import or event")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-m", "activation", "simulate", "klaviyo", "--port", "0", "--rate-limits", "off"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"http://\S+", line)
        if not match:
            raise SystemExit(f"the simulator did not start: {line!r}")
        result = asyncio.run(_run(match.group(0), args.operation, args.requests, args.concurrency, args.max_seconds))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(json.dumps(result))
    out = ROOT / "bench" / "results" / "simulator_throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
