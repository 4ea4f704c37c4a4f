"""Delivery throughput against the sandbox in count-only mode (a separate process on loopback).

1. N identify operations (~10 attributes each, synthesized by DuckDB) at the default 100 requests/s:
   throughput as a share of the theoretical ceiling (100 × operations per full batch per second), peak RSS.
2. The same with the rate limit off: requests per second, and client CPU per request.
    .venv/bin/python benchmarks/bench_delivery.py --ops 1000000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cio_retl.project import Destination  # noqa: E402
from cio_retl.delivery import deliver  # noqa: E402
from cio_retl.delivery.batching import Request, pack  # noqa: E402

# ~470 bytes per operation: 10 attributes of realistic sizes, so full batches are full by bytes and by count.
OPS_SQL = """
SELECT i::BIGINT AS op_id, 1::INTEGER AS priority, 'batch' AS endpoint,
       '{"type":"person","action":"identify","identifiers":{"id":"user-' || i || '"},"timestamp":1704164645,'
       || '"attributes":{"email":"user' || i || '@example.com","first_name":"Firstname' || (i % 977) || '",'
       || '"last_name":"Lastname-' || (i % 991) || '","plan":"' || (['free','pro','team','enterprise'])[1 + i % 4]
       || '","seats":' || (i % 50) || ',"country":"NO","city":"Oslo","created_at":' || (1600000000 + i)
       || ',"score":' || (i % 997) || '.25,"company":"Company number ' || (i % 1000) || ' of the benchmark suite",'
       || '"notes":"' || repeat('x', 120) || '"}}' AS body
  FROM range(1, {n} + 1) t(i)
"""


def start_sandbox() -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen([sys.executable, "-m", "cio_retl", "sandbox", "serve", "--port", "0", "--count-only",
                               "--db", ":memory:"], stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    return server, line.split("listening on ")[1].split()[0]


def batches(n: int):
    con = duckdb.connect()
    return con, con.sql(OPS_SQL.replace("{n}", str(n))).to_arrow_reader(50_000)


def ops_per_full_batch(n: int) -> tuple[int, int]:
    con, reader = batches(min(n, 20_000))
    first = next(item for item in pack(reader) if isinstance(item, Request))
    con.close()
    return len(first), len(first.body)


def run(n: int, url: str, rps: float) -> dict[str, float]:
    destination = Destination(site_id="bench", api_key="bench-key", url=url, requests_per_second=rps)
    con, reader = batches(n)
    counted = {"ops": 0}
    cpu, wall = time.process_time(), time.monotonic()
    stats = deliver(reader, destination, on_outcomes=lambda o: counted.__setitem__("ops", counted["ops"] + len(o)),
                    sync="bench")
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    con.close()
    assert counted["ops"] == n and stats.accepted == n, stats
    return {"seconds": wall, "requests": stats.requests, "ops_per_s": n / wall, "requests_per_s": stats.requests / wall,
            "cpu_ms_per_request": 1000 * cpu / stats.requests, "mb_per_s": stats.bytes_sent / wall / 1e6}


def production_cpu_ms(n: int, requests: int) -> float:
    """CPU DuckDB and packing spend per request without any HTTP, to separate it from the client's share."""
    con, reader = batches(n)
    cpu = time.process_time()
    for item in pack(reader):
        if isinstance(item, Request):
            item.body  # noqa: B018 - building the body is part of the cost
    con.close()
    return 1000 * (time.process_time() - cpu) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--rps", type=float, default=100.0)
    args = parser.parse_args()
    server, url = start_sandbox()
    try:
        per_batch, body_bytes = ops_per_full_batch(args.ops)
        ceiling = args.rps * per_batch
        print(f"sandbox {url} (count-only); a full batch holds {per_batch} operations, {body_bytes:,} bytes")
        limited = run(args.ops, url, args.rps)
        print(f"[{args.rps:g} req/s] {args.ops:,} ops in {limited['seconds']:.1f}s: {limited['ops_per_s']:,.0f} ops/s, "
              f"{limited['requests']} requests, {100 * limited['ops_per_s'] / ceiling:.1f}% of the ceiling "
              f"({ceiling:,.0f} ops/s)")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the client process: {rss:.0f} MB")
        free = run(args.ops, url, 1e9)
        print(f"[no rate limit] {free['requests_per_s']:.0f} requests/s, {free['ops_per_s']:,.0f} ops/s, "
              f"{free['mb_per_s']:.0f} MB/s, client CPU {free['cpu_ms_per_request']:.2f} ms per request "
              "(including DuckDB producing the operations)")
        producing = production_cpu_ms(args.ops, free["requests"])
        print(f"  of which DuckDB + packing: {producing:.2f} ms; HTTP, threads and outcomes: "
              f"{free['cpu_ms_per_request'] - producing:.2f} ms per request")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
