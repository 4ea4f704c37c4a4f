"""Reads N rows from a PostgreSQL server into the diff: rows per second of the extract and peak RSS.

Starts a throwaway server from the installed binaries (tests/pg_server.py), or uses --url. The sync runs as a
dry run — extract, diff, convert and build operations, then stop — so the figures are the warehouse read into
the diff, not a network (benchmarks/bench_sync.py and bench_delivery.py cover delivery):
    .venv/bin/python benchmarks/bench_postgres_extract.py --rows 1000000
    .venv/bin/python benchmarks/bench_postgres_extract.py --reader-only --read-with cursor   # the warehouse alone
It exits non-zero when peak RSS passes --max-rss-mb (default 512), so it can guard the streaming promise.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_sync import peak_rss_mb  # noqa: E402
from cio_retl.project import load_project  # noqa: E402
from cio_retl.project import PostgresWarehouse  # noqa: E402
from cio_retl.pipeline.sync import run_sync  # noqa: E402
from cio_retl.warehouse import open_warehouse  # noqa: E402
from tests.pg_server import postgres_server  # noqa: E402

TABLE = """
CREATE TABLE people AS
SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, 'first' || (i %% 100) AS first_name,
       'last' || (i %% 977) AS last_name, (ARRAY['free', 'pro', 'team'])[i %% 3 + 1] AS plan,
       timestamptz '2022-01-01' + i * interval '1 second' AS created_at, i %% 3 = 0 AS active,
       (i * 1.5)::float8 AS score, i %% 50 AS seats, 'US'::text AS country
  FROM generate_series(1, %(rows)s) AS i
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", help="SQLAlchemy URL of an existing server (default: start one)")
    parser.add_argument("--read-with", choices=["copy", "cursor"], default="copy")
    parser.add_argument("--reader-only", action="store_true", help="stream from the warehouse and drop the batches")
    parser.add_argument("--max-rss-mb", type=float, default=512)
    args = parser.parse_args()
    with (contextlib.nullcontext(args.url) if args.url else postgres_server()) as url:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as con:
            con.execute("DROP TABLE IF EXISTS people")
            con.execute(TABLE, {"rows": args.rows})
        before = peak_rss_mb()
        if args.reader_only:
            read_only(url, args.read_with)
        else:
            into_the_diff(url, args.read_with)
    peak = peak_rss_mb()
    print(f"peak RSS {peak:.0f} MB (after creating the table: {before:.0f} MB)")
    if peak > args.max_rss_mb:
        sys.exit(f"peak RSS {peak:.0f} MB is over {args.max_rss_mb} MB")


def read_only(url: str, read_with: str) -> None:
    """The warehouse's stream alone, batches dropped as they come: what the reader itself costs."""
    warehouse = open_warehouse("pg", PostgresWarehouse(type="postgres", url=url, read_with=read_with), Path("."))
    start, rows = time.perf_counter(), 0
    for batch in warehouse.stream("SELECT * FROM people", sync="bench"):
        rows += batch.num_rows
    seconds = time.perf_counter() - start
    warehouse.close()
    print(f"{rows:,} rows read ({read_with}) in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")


def into_the_diff(url: str, read_with: str) -> None:
    """A dry run of a sync: extract into the stage, diff, convert, build operations."""
    with tempfile.TemporaryDirectory(prefix="cio_retl_pg_bench_") as name:  # the state files go with it
        dry_run(Path(name), url, read_with)


def dry_run(folder: Path, url: str, read_with: str) -> None:
    (folder / "cio_retl.yaml").write_text(yaml.safe_dump({
        "state": "state", "warehouses": {"pg": {"type": "postgres", "url": url, "read_with": read_with}},
        "destination": {"site_id": "bench", "api_key": "bench"},
        "syncs": {"people": {"warehouse": "pg", "table": "people", "primary_key": "user_id", "type": "identify"}}}))
    project = load_project(folder / "cio_retl.yaml")
    start = time.perf_counter()
    report = run_sync(project, "people", dry_run=True)
    wall = time.perf_counter() - start
    extract_s = report.stage_seconds["extract"]
    print(f"{report.extracted:,} rows from PostgreSQL ({read_with}): extract {extract_s:.2f} s = "
          f"{report.extracted / extract_s:,.0f} rows/s; whole run {wall:.2f} s; stages {report.stage_seconds}")


if __name__ == "__main__":
    main()
