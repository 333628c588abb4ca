"""How much the shared transport costs per request, and how fast records are packed.

Sends ``--requests`` requests with rate limits lifted, each way best of ``--rounds``:

    raw httpx  a bare httpx.Client: the baseline
    engine     Transport.send (limiter, tenacity loop, stats, redaction-ready errors)

both over httpx.MockTransport (no network: the engine's own cost is the
difference) and to a local no-op HTTP server in another process, sequentially
and on ``--concurrency`` threads. Then ``pack`` is timed on ``--records``
records, pre-encoded and with json encoding.

    python -m bench.transport_overhead --requests 10000 --concurrency 8

Prints a table and writes bench/results/transport_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from activation.transport import DestinationLimits, EndpointClass, RateLimit, Transport, pack, run_concurrently

RESULTS = Path(__file__).resolve().parent / "results"
LIMITS = DestinationLimits(
    {"bulk": EndpointClass("bulk", RateLimit.parse("10/s", "150/m"), max_records=10_000, max_bytes=5_000_000)},
    max_concurrency=10,
)
BODY = {"data": {"type": "profile", "attributes": {"email": "ada@example.com", "first_name": "Ada"}}}


class _NoOp(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each response waits ~40 ms for a delayed ACK

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def _serve(port_queue: multiprocessing.Queue) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoOp)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def _rate(count: int, send: object, concurrency: int = 1) -> float:
    """Requests per second for ``count`` calls of ``send`` on ``concurrency`` threads."""
    started = time.perf_counter()
    if concurrency == 1:
        for _ in range(count):
            send()  # type: ignore[operator]
    else:
        run_concurrently((send for _ in range(count)), concurrency)  # type: ignore[misc]
    return count / (time.perf_counter() - started)


def _pair(url: str, mock: httpx.MockTransport | None) -> tuple[httpx.Client, Transport]:
    headers = {"Authorization": "Bearer bench"}
    raw = httpx.Client(base_url=url, headers=headers, transport=mock)
    return raw, Transport(url, headers, LIMITS, lifted=True, http_transport=mock)


def bench_requests(count: int, concurrency: int, rounds: int) -> dict[str, float]:
    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{ports.get(timeout=10)}"
    mock = httpx.MockTransport(lambda request: httpx.Response(202, content=b"{}"))
    results: dict[str, float] = {}
    try:
        for where, pair in (("mock", _pair("http://bench", mock)), ("server", _pair(url, None))):
            raw, transport = pair
            ways = {
                f"raw httpx, {where}": (lambda raw=raw: raw.post("/x", json=BODY), 1),
                f"engine, {where}": (lambda t=transport: t.send("bulk", "POST", "/x", json=BODY), 1),
            }
            if where == "server":
                ways[f"engine, {where}, {concurrency} threads"] = (ways[f"engine, {where}"][0], concurrency)
            for send, threads in ways.values():
                _rate(min(count, 200), send, threads)  # warm up: connections, caches
            for _ in range(rounds):  # interleaved, so drift hits every way alike
                for label, (send, threads) in ways.items():
                    results[label] = max(results.get(label, 0.0), _rate(count, send, threads))
            assert transport.stats["bulk"].retries == 0
            raw.close()
            transport.close()
    finally:
        server.terminate()
        server.join()
    return results


def bench_pack(count: int) -> dict[str, float]:
    profiles = [{"email": f"user{i}@example.com", "first_name": "Ada", "tags": ["vip"] * (i % 7)} for i in range(count)]
    encoded = [json.dumps(profile).encode() for profile in profiles]
    timings = {}
    for label, records, encode in (("pack, pre-encoded", encoded, bytes), ("pack + json.dumps", profiles,
                                   lambda profile: json.dumps(profile).encode())):
        started = time.perf_counter()
        batches = sum(1 for _ in pack(records, 10_000, 5_000_000, encode, on_rejected=print, overhead=100, separator=1))
        timings[label] = count / (time.perf_counter() - started)
        timings[f"{label}: batches"] = batches
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    requests = bench_requests(args.requests, args.concurrency, args.rounds)
    packing = bench_pack(args.records)
    print(f"{'requests (' + str(args.requests) + ')':<32} {'req/s':>10} {'us/req':>8}")
    for label, rate in requests.items():
        print(f"{label:<32} {rate:>10,.0f} {1e6 / rate:>8.0f}")
    overhead = 1e6 / requests["engine, mock"] - 1e6 / requests["raw httpx, mock"]
    print(f"{'engine overhead over raw httpx':<32} {'':>10} {overhead:>8.0f}")
    print(f"\n{'packing (' + str(args.records) + ' records)':<32} {'records/s':>10}")
    for label, value in packing.items():
        print(f"{label:<32} {value:>10,.0f}")
    RESULTS.mkdir(exist_ok=True)
    result = {"args": vars(args), "requests_per_second": requests, "overhead_us": overhead, "packing": packing}
    (RESULTS / "transport_overhead.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
