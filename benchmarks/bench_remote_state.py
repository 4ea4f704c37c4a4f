"""What state on object storage costs, against a real S3 API (moto's server, in its own process, on loopback).

1. End to end: a first run and an incremental run (1% changed, 0.5% added, 0.5% removed) of an N-row identify sync
   with `state:` a local folder, then with `state: s3://…`; delivery is an in-process sink that accepts every
   operation (as in bench_sync.py), so the difference is the state's: restore, the write-ahead upload, one object
   per commit group, the snapshot delta, the run's history.
2. Checkpoints of a large state (--snapshot-rows, e.g. 10,000,000): each checkpoint's bytes and seconds on a
   synthetic snapshot — a full snapshot base, a write-ahead of 1% of it, commit groups, the delta it settles, and
   the restore a new machine does.

Run on a quiet machine, in a fresh process:
    .venv/bin/python benchmarks/bench_remote_state.py --rows 1000000 [--snapshot-rows 10000000]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_sync import accept_all, build_warehouse, mutate, peak_rss_mb  # noqa: E402
from cio_retl.pipeline.commit import settle, stamped  # noqa: E402
from cio_retl.project import load_project  # noqa: E402
from cio_retl.delivery.outcomes import Outcome, as_outcome_table  # noqa: E402
from cio_retl.state.objectstore import Bucket  # noqa: E402
from cio_retl.state.remote import RemoteState  # noqa: E402
from cio_retl.state.schema import OP_SLOTS  # noqa: E402
from cio_retl.state.store import connect_file  # noqa: E402
from cio_retl.pipeline.sync import run_sync  # noqa: E402
from cio_retl.state.wal import OutcomeLog  # noqa: E402
from tests.s3_server import moto_server  # noqa: E402


class Checkpoints(logging.Handler):
    """Sums the checkpoint log lines of state/remote.py: count, bytes and seconds per checkpoint."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().count("checkpoint"):
            _, name, size, seconds = record.args
            entry = self.totals[name]
            entry[0], entry[1], entry[2] = entry[0] + 1, entry[1] + size, entry[2] + seconds

    def take(self) -> str:
        text = ", ".join(f"{name} {n:.0f}× {size / 1e6:.1f} MB {seconds:.2f} s"
                         for name, (n, size, seconds) in self.totals.items())
        self.totals.clear()
        return text or "none"


def end_to_end(rows: int, s3_url: str) -> None:
    handler = Checkpoints()
    logger = logging.getLogger("cio_retl.state.remote")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    folder = Path(tempfile.mkdtemp(prefix="cio_retl_bench_remote_"))
    build_warehouse(folder / "pristine.duckdb", rows)
    for label, state in (("local folder", str(folder / "state")), ("s3 (moto)", s3_url)):
        shutil.copy(folder / "pristine.duckdb", folder / "warehouse.duckdb")
        (folder / "cio_retl.yaml").write_text(yaml.safe_dump({
            "state": state, "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}},
            "destination": {"site_id": "bench", "api_key": "bench"},
            "syncs": {"people": {"warehouse": "wh", "table": "people", "primary_key": "user_id", "type": "identify",
                                 "mode": "mirror"}}}))
        project = load_project(folder / "cio_retl.yaml")
        for run in ("first run", "incremental run"):
            if run == "incremental run":
                mutate(folder / "warehouse.duckdb", rows)
            start = time.perf_counter()
            report = run_sync(project, "people", deliver=accept_all)
            wall = time.perf_counter() - start
            print(f"{label}, {run}: {rows:,} rows, wall {wall:.2f} s, operations {report.operations:,}, "
                  f"commit groups {report.commit_groups}, stages {report.stage_seconds}")
            print(f"  checkpoints: {handler.take()}")
    shutil.rmtree(folder, ignore_errors=True)


SNAPSHOT_SQL = """
INSERT INTO snapshot BY NAME
SELECT 'u' || i AS _key, hash(i) AS _hash, 'u' || i AS user_id, 'p' || i || '@example.com' AS email,
       now() AS committed_at, '0123456789abcdef.fedcba9876543210' AS config_hash, 'delivered' AS fate,
       'r20260101T000000-abcdef' AS run_id
  FROM range({rows}) t(i)"""
WRITE_AHEAD_SQL = """
SELECT i AS row_id, 'u' || i AS _key, hash(i + 1) AS _hash, 'changed' AS _change, 'u' || i AS user_id,
       'p' || i || '@example.com' AS email, NULL::VARCHAR AS anonymous_id, NULL::VARCHAR AS group_id,
       NULL::VARCHAR AS object_type_id, 'r-bench' AS run_id, '0123456789abcdef.fedcba9876543210' AS config_hash,
       NULL::VARCHAR AS fate, NULL::VARCHAR AS reason, 1 AS n_ops, []::VARCHAR[] AS nulls, 1 AS run_no
  FROM range(0, {rows}, 100) t(i)"""


def checkpoints(rows: int, s3_url: str, group: int = 1000) -> None:
    """Each checkpoint of a run that changes 1% of a `rows`-row snapshot, then a new machine's restore."""
    folder = Path(tempfile.mkdtemp(prefix="cio_retl_bench_ckpt_"))
    bucket = Bucket(s3_url, "people")
    with connect_file("people", "2GB", folder / "people.duckdb", folder / "tmp") as (con, _):
        con.execute(SNAPSHOT_SQL.format(rows=rows))
        state = RemoteState(bucket, "people", "r-bench", folder, None)
        state.settling.add("r-bench")
        state.settled(con, "SELECT _key FROM snapshot")  # the first settle writes the whole snapshot as the base
        base = state.stats.pop("settled")
        run = state.wal.run(1)
        state.wrote_ahead(con, run.write_rows(con, WRITE_AHEAD_SQL.format(rows=rows)))
        row_ids = [row_id for (row_id,) in con.execute(f"SELECT row_id FROM ({state.wal.rows_sql([1])}) ORDER BY 1"
                                                        ).fetchall()]
        log = OutcomeLog(run)
        for start in range(0, len(row_ids), group):
            ids = [row_id * OP_SLOTS + 1 for row_id in row_ids[start:start + group]]
            outcome_group = stamped(as_outcome_table([Outcome(op_id, "accepted", 200, None) for op_id in ids]))
            log.append(outcome_group)
            state.committed_outcomes(outcome_group)
        log.close()
        started = time.monotonic()
        settle(con, state.wal, watermark=0)
        settle_s = time.monotonic() - started
        state.settled(con, state.wal.rows_sql([1]))  # a delta: the keys of the write-ahead
    fresh = Path(tempfile.mkdtemp(prefix="cio_retl_bench_restore_"))
    with connect_file("people", "2GB", fresh / "people.duckdb", fresh / "tmp") as (con, _):
        restored = RemoteState(bucket, "people", "r-next", fresh, None)
        restored.restore(con, sweep=False)
        assert con.execute("SELECT count(*) FROM snapshot").fetchall()[0][0] == rows
    print(f"checkpoints of a {rows:,}-row snapshot, 1% changed ({len(row_ids):,} operations, groups of {group}):")
    print(f"  settle (local DuckDB, for reference): {settle_s:.2f} s")
    for name, entry in [("settled, a new snapshot base", base), *state.stats.items(), *restored.stats.items()]:
        n = entry["count"]
        per = f", {entry['bytes'] / n / 1e3:.1f} KB and {entry['seconds'] / n * 1e3:.1f} ms each" if n > 1 else ""
        print(f"  {name}: {entry['count']}× {entry['bytes'] / 1e6:.1f} MB in {entry['seconds']:.2f} s{per}")
    print(f"  peak RSS so far {peak_rss_mb():.0f} MB")
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(fresh, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the end-to-end sync (0: skip)")
    parser.add_argument("--snapshot-rows", type=int, default=1_000_000, help="rows of the checkpoint test (0: skip)")
    args = parser.parse_args()
    with moto_server() as s3:
        os.environ.update(s3.env)
        if args.rows:
            end_to_end(args.rows, s3.new_url())
        if args.snapshot_rows:
            checkpoints(args.snapshot_rows, s3.new_url())


if __name__ == "__main__":
    main()
