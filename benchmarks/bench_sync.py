"""Times a first run and an incremental run (1% changed, 0.5% added, 0.5% removed) of an N-row identify sync.

By default delivery is an in-process sink that accepts every operation, so the figures are the cost of
cio-retl itself (extract, hash, diff, convert, act, commit), not of a network. With --sandbox the run
delivers over HTTP to the sandbox in count-only mode (its own process) at the default 100 requests/s.
Run in a fresh process per N:
    .venv/bin/python benchmarks/bench_sync.py --rows 1000000 [--sandbox]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cio_retl.project import load_project  # noqa: E402
from cio_retl.pipeline.sync import run_sync  # noqa: E402


@dataclass
class Outcome:
    op_id: int
    status: str = "accepted"
    status_code: int = 200
    reason: str | None = None


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0


def accept_all(batches, destination, *, on_outcomes, sync, progress=None) -> Stats:
    stats = Stats()
    for batch in batches:
        on_outcomes([Outcome(op_id) for op_id in batch.column("op_id").to_pylist()])
        stats.requests += 1
    return stats


def build_warehouse(path: Path, rows: int) -> None:
    """In a child process, so the warehouse's own memory does not count against the sync's peak RSS."""
    code = f"""import duckdb; duckdb.connect({str(path)!r}).execute({WAREHOUSE_SQL.format(rows=rows)!r})"""
    subprocess.run([sys.executable, "-c", code], check=True)


WAREHOUSE_SQL = """
        CREATE OR REPLACE TABLE people AS
        SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, 'first' || (i % 100) AS first_name,
               'last' || (i % 977) AS last_name, (['free', 'pro', 'team'])[i % 3 + 1] AS plan,
               TIMESTAMP '2022-01-01' + to_seconds(i) AS created_at, i % 3 = 0 AS active,
               (i * 1.5)::DOUBLE AS score, i % 50 AS seats, 'US' AS country
          FROM range({rows}) t(i)"""


NESTED_MODEL = "SELECT *, [plan, country] AS tags, {'plan': plan, 'seats': [seats, seats + 1]} AS account FROM people"


def mutate(path: Path, rows: int) -> None:
    con = duckdb.connect(str(path))
    con.execute("SET memory_limit = '256MB'")
    con.execute("UPDATE people SET plan = 'changed' WHERE hash(user_id) % 100 = 0")           # ~1 %
    con.execute("DELETE FROM people WHERE hash(user_id) % 200 = 1")                            # ~0.5 %
    con.execute(f"INSERT INTO people SELECT 'n' || i, 'n' || i || '@example.com', 'f', 'l', 'free', "
                f"TIMESTAMP '2024-01-01', true, 0.5, 1, 'FR' FROM range({rows // 200}) t(i)")  # 0.5 %
    con.close()


def start_sandbox() -> tuple[subprocess.Popen, str]:
    """A count-only sandbox in its own process (so it does not share our CPU time or RSS)."""
    server = subprocess.Popen([sys.executable, "-m", "cio_retl", "sandbox", "serve", "--port", "0", "--count-only",
                               "--db", ":memory:", "--site-id", "bench", "--api-key", "bench"],
                              stdout=subprocess.PIPE, text=True)
    url = next(word for line in server.stdout for word in line.split() if word.startswith("http://"))
    return server, url.rstrip(".,")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sandbox", action="store_true", help="deliver over HTTP to a count-only sandbox")
    parser.add_argument("--memory-limit", default="192MB", help="the project's memory_limit")
    parser.add_argument("--nested", action="store_true", help="add a list and a struct column (hashed as JSON text)")
    args = parser.parse_args()
    server, url = start_sandbox() if args.sandbox else (None, "")
    folder = Path(tempfile.mkdtemp(prefix="cio_retl_bench_"))
    build_warehouse(folder / "warehouse.duckdb", args.rows)
    (folder / "cio_retl.yaml").write_text(yaml.safe_dump({
        "state": "state", "memory_limit": args.memory_limit,
        "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}},
        "destination": {"site_id": "bench", "api_key": "bench", "url": url},
        "syncs": {"people": {"warehouse": "wh", "primary_key": "user_id", "type": "identify", "mode": "mirror",
                             "query": NESTED_MODEL if args.nested else "SELECT * FROM people"}}}))
    project = load_project(folder / "cio_retl.yaml")
    for label in ("first run", "incremental run"):
        if label == "incremental run":
            mutate(folder / "warehouse.duckdb", args.rows)
        start = time.perf_counter()
        report = run_sync(project, "people", deliver=None if server else accept_all)
        wall = time.perf_counter() - start
        print(f"{label}: {args.rows:,} rows, wall {wall:.2f} s, extracted {report.extracted:,}, added {report.added:,}, "
              f"changed {report.changed:,}, removed {report.removed:,}, operations {report.operations:,}, "
              f"stages {report.stage_seconds}, peak RSS so far {peak_rss_mb():.0f} MB")
        if server and report.requests:
            per_request = report.accepted / report.requests
            deliver_s = report.stage_seconds["deliver"]
            print(f"  delivery: {report.requests:,} requests, {per_request:.0f} ops/request, "
                  f"{report.accepted / deliver_s:,.0f} ops/s = {report.accepted / deliver_s / (100 * per_request):.1%} "
                  f"of the ceiling at 100 req/s")
    if server:
        server.terminate()


if __name__ == "__main__":
    main()
