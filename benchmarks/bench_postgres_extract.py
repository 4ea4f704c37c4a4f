"""Reads N rows from a PostgreSQL server into the diff: rows per second of the extract and peak RSS.

Starts a throwaway server from the installed binaries (tests/pg_server.py), or uses --url. The sync runs as a
dry run — extract, diff, convert and build operations, then stop — so the figures are the warehouse read into
the diff, not a network (benchmarks/bench_sync.py and bench_delivery.py cover delivery):
    .venv/bin/python benchmarks/bench_postgres_extract.py --rows 1000000
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
from cio_retl.config import load_project  # noqa: E402
from cio_retl.sync import run_sync  # noqa: E402
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
    args = parser.parse_args()
    with (contextlib.nullcontext(args.url) if args.url else postgres_server()) as url:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as con:
            con.execute("DROP TABLE IF EXISTS people")
            con.execute(TABLE, {"rows": args.rows})
        folder = Path(tempfile.mkdtemp(prefix="cio_retl_pg_bench_"))
        (folder / "cio_retl.yaml").write_text(yaml.safe_dump({
            "state": "state", "warehouses": {"pg": {"type": "postgres", "url": url}},
            "destination": {"site_id": "bench", "api_key": "bench"},
            "syncs": {"people": {"warehouse": "pg", "table": "people", "primary_key": "user_id", "type": "identify"}}}))
        project = load_project(folder / "cio_retl.yaml")
        start = time.perf_counter()
        report = run_sync(project, "people", dry_run=True)
        wall = time.perf_counter() - start
        extract_s = report.stage_seconds["extract"]
        print(f"{report.extracted:,} rows from PostgreSQL: extract {extract_s:.2f} s = {report.extracted / extract_s:,.0f} "
              f"rows/s; whole run {wall:.2f} s; stages {report.stage_seconds}; peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
