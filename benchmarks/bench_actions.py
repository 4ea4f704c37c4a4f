"""Benchmark building operations (plan_operations, then every operation into a table, as a dry run does): a 10-column identify sync, a track sync and an identify sync with a JSON column whose
every row holds ISO dates in objects and lists (the slow path of JSON timestamp conversion), in operations per second."""

from __future__ import annotations

import argparse
import time

import duckdb

from cio_retl.pipeline.writeahead import plan_operations
from cio_retl.project import Sync

IDENTIFY = """
CREATE OR REPLACE TABLE calls AS SELECT i::VARCHAR AS _key, md5(i::VARCHAR) AS _hash, 'added' AS _change,
  i::BIGINT AS _seq, 'identify' AS type, NULL::VARCHAR AS event, NULL::VARCHAR AS name, 'user-' || i AS userId,
  NULL::VARCHAR AS anonymousId, NULL::VARCHAR AS groupId, NULL::VARCHAR AS previousId, NULL::VARCHAR AS messageId,
  TIMESTAMPTZ '2024-01-01' + INTERVAL (i) SECOND AS timestamp,
  {'email': 'u' || i || '@example.com', 'first_name': 'First' || i, 'last_name': 'Last' || i, 'plan': 'pro',
   'age': i % 90, 'score': i * 1.5::DOUBLE, 'created_at': TIMESTAMP '2020-01-01' + INTERVAL (i) SECOND,
   'active': i % 2 = 0} AS traits
FROM range({n}) t(i)
"""
TRACK = """
CREATE OR REPLACE TABLE calls AS SELECT i::VARCHAR AS _key, md5(i::VARCHAR) AS _hash, 'added' AS _change,
  i::BIGINT AS _seq, 'track' AS type, 'Order Completed' AS event, 'user-' || (i % 1000) AS userId,
  TIMESTAMPTZ '2024-01-01' + INTERVAL (i) SECOND AS timestamp,
  {'order_id': 'o' || i, 'total': i * 0.5::DOUBLE, 'currency': 'EUR', 'items': i % 7, 'coupon': NULL::VARCHAR,
   'ordered_at': '2024-01-02T03:04:05Z', 'channel': 'web', 'country': 'FR'} AS properties
FROM range({n}) t(i)
"""

IDENTIFY_JSON = """
CREATE OR REPLACE TABLE calls AS SELECT i::VARCHAR AS _key, md5(i::VARCHAR) AS _hash, 'added' AS _change,
  i::BIGINT AS _seq, 'identify' AS type, 'user-' || i AS userId, NULL::VARCHAR AS anonymousId,
  {'email': 'u' || i || '@example.com', 'meta': ('{"tier": "gold", "since": "2018-06-10T21:49:44Z", "n": ' || i ||
   ', "nested": {"at": "2024-01-02", "dates": ["2024-01-02", {"q": "2024-01-03"}]}, "digits": "1704164645"}')::JSON}
  AS traits
FROM range({n}) t(i)
"""


SYNC = Sync(warehouse="w", query="SELECT 1", primary_key="k", type="identify")


def measure(name: str, ddl: str, n: int, repeat: int) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(ddl.replace("{n}", str(n)))
    best = float("inf")
    for _ in range(repeat):
        con.execute("CREATE OR REPLACE TEMP VIEW delete_calls AS SELECT * FROM calls WHERE FALSE")
        start = time.perf_counter()
        summary = plan_operations(con, sync_name="bench", sync=SYNC, overrides={}, run_id="r", config_hash="c")
        summary.materialize("ops")
        best = min(best, time.perf_counter() - start)
    assert summary.total == n, summary
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(f"{name}: {n:,} operations in {best:.3f} s (best of {repeat}) = {n / best:,.0f} ops/s; threads={threads}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    measure("identify, 10 columns (user_id, timestamp, 8 traits)", IDENTIFY, args.rows, args.repeat)
    measure("track, 10 columns (user_id, event, timestamp, 8 properties)", TRACK, args.rows, args.repeat)
    measure("identify, a JSON column with dates in objects and lists in every row", IDENTIFY_JSON, args.rows, args.repeat)


if __name__ == "__main__":
    main()
