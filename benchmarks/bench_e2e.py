"""End-to-end figures of issue 11, as a user sees them: `cio-retl run --json` in its own process against a count-only
sandbox in another, on a DuckDB warehouse of N rows × 10 columns; each figure printed next to what it is compared to.

    .venv/bin/python benchmarks/bench_e2e.py [--rows 1000000] [--big-rows 10000000] [--skip-big]

Cases (each a fresh state folder unless said otherwise):
  first sync at 100 req/s     wall time vs the physical ceiling (100 requests/s × operations per 500 KB body)
  first sync, no rate limit   rows/s end to end (goal ≥ 300k rows/s)
  incremental run, 2 % changed, after the first sync above (goal ≤ 1.5 s)
  peak RSS of the first sync  (goal ≤ 512 MB)
  10M rows, incremental 2 %   wall time (goal ≤ 10 s) and peak RSS (goal ≤ 600 MB), after a first sync of 10M
Run it on a quiet machine: the figures are wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "cio_retl"]
BODY_LIMIT = 500_000
WAREHOUSE_SQL = """
CREATE OR REPLACE TABLE people AS
SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, 'first' || (i % 100) AS first_name,
       'last' || (i % 977) AS last_name, (['free', 'pro', 'team'])[i % 3 + 1] AS plan,
       TIMESTAMP '2022-01-01' + to_seconds(i) AS created_at, i % 3 = 0 AS active,
       (i * 1.5)::DOUBLE AS score, i % 50 AS seats, 'US' AS country
  FROM range({rows}) t(i)"""
CHANGE_2_PERCENT = "UPDATE people SET plan = 'changed' WHERE hash(user_id) % 50 = 0"


@dataclass
class Measured:
    wall_s: float
    peak_rss_mb: float
    summary: dict


def duckdb_sql(path: Path, sql: str) -> None:
    """In a child process, so the warehouse's memory is not ours."""
    code = f"import duckdb; c = duckdb.connect({str(path)!r}); c.execute(\"SET memory_limit='1GB'\"); c.execute({sql!r})"
    subprocess.run([sys.executable, "-c", code], check=True)


def start_sandbox() -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen([*CLI, "sandbox", "serve", "--port", "0", "--count-only", "--db", ":memory:",
                               "--site-id", "bench", "--api-key", "bench"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    url = next(word for line in server.stdout for word in line.split() if word.startswith("http://"))
    return server, url.rstrip(".,")


def project(folder: Path, url: str, *, rps: float) -> Path:
    config = folder / "cio_retl.yaml"
    config.write_text(yaml.safe_dump({
        "state": "state", "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}},
        "destination": {"site_id": "bench", "api_key": "bench", "url": url, "requests_per_second": rps},
        "syncs": {"people": {"warehouse": "wh", "table": "people", "primary_key": "user_id", "type": "identify",
                             "mode": "mirror"}}}, sort_keys=False))
    return config


def run(config: Path) -> Measured:
    """`cio-retl run --json` in its own process: wall time as a user sees it, and that process's peak RSS."""
    start = time.perf_counter()
    child = subprocess.Popen([*CLI, "run", "--json", "-c", str(config)], stdout=subprocess.PIPE, cwd=ROOT)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"cio-retl run failed: {out.decode()[-2000:]}")
    [summary] = json.loads(out)["syncs"]
    return Measured(wall, usage.ru_maxrss / 1024, summary)


def ops_per_request(folder: Path) -> float:
    """Operations per request at the 500 KB limit, from the size of this table's operations (a dry run's sample)."""
    plan = subprocess.run([*CLI, "plan", "people", "-c", str(folder / "cio_retl.yaml")], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"}).stdout
    bodies = [json.dumps(item["body"], separators=(",", ":")) for item in _json_after(plan, "First operations")]
    size = sum(len(b.encode()) for b in bodies) / len(bodies)
    return (BODY_LIMIT - 12) / (size + 1)


def _json_after(text: str, heading: str) -> list:
    return json.loads(text.split(heading, 1)[1].strip())


def line(label: str, value: str, compared: str) -> None:
    print(f"{label:<38} {value:>16}   {compared}")


def first_and_incremental(rows: int, url: str, *, rps: float, label: str) -> tuple[Measured, Measured, float]:
    folder = Path(tempfile.mkdtemp(prefix="cio_retl_e2e_"))
    duckdb_sql(folder / "warehouse.duckdb", WAREHOUSE_SQL.format(rows=rows))
    config = project(folder, url, rps=rps)
    per_request = ops_per_request(folder)
    first = run(config)
    duckdb_sql(folder / "warehouse.duckdb", CHANGE_2_PERCENT)
    incremental = run(config)
    print(f"  ({label}: {first.summary['requests']} requests, {rows / max(first.summary['requests'], 1):,.0f} "
          f"operations per request; state in {folder})", flush=True)
    return first, incremental, per_request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--skip-big", action="store_true", help="leave out the 10M-row case")
    args = parser.parse_args()
    server, url = start_sandbox()
    try:
        print(f"cio-retl end to end: {args.rows:,} rows × 10 columns, DuckDB warehouse, count-only sandbox "
              f"(own process), {os.cpu_count()} cores\n")
        limited, _, per_request = first_and_incremental(args.rows, url, rps=100, label="100 req/s")
        ceiling = 100 * per_request
        ceiling_s = args.rows / ceiling
        line("first sync, 100 req/s", f"{limited.wall_s:.2f} s",
             f"{args.rows / limited.wall_s:,.0f} rows/s = {ceiling_s / limited.wall_s:.1%} of the ceiling "
             f"({ceiling:,.0f} rows/s, {ceiling_s:.2f} s; goal ≥ 85 %)")
        line("peak RSS, first sync", f"{limited.peak_rss_mb:.0f} MB", "goal ≤ 512 MB")
        free, incremental, _ = first_and_incremental(args.rows, url, rps=1_000_000, label="no rate limit")
        line("first sync, rate limit off", f"{free.wall_s:.2f} s",
             f"{args.rows / free.wall_s:,.0f} rows/s (goal ≥ 300,000 rows/s, ≤ {args.rows / 300_000:.2f} s)")
        line("incremental run, 2 % changed", f"{incremental.wall_s:.2f} s",
             f"{incremental.summary['changed']:,} changed (goal ≤ 1.5 s)")
        if not args.skip_big:
            _, big, _ = first_and_incremental(args.big_rows, url, rps=1_000_000, label=f"{args.big_rows:,} rows")
            line(f"{args.big_rows:,} rows, incremental 2 %", f"{big.wall_s:.2f} s",
                 f"{big.summary['changed']:,} changed (goal ≤ 10 s)")
            line(f"{args.big_rows:,} rows, peak RSS", f"{big.peak_rss_mb:.0f} MB", "goal ≤ 600 MB")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
