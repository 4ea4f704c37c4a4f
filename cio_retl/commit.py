"""Stage 6, commit: record outcomes, advance the snapshot for fully accepted keys only, keep rejections."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

from cio_retl.report import Rejection
from cio_retl.snapshot import IDENTITY_COLUMNS

OUTCOME_SCHEMA = pa.schema([("op_id", pa.int64()), ("status", pa.string()), ("status_code", pa.int32()),
                            ("reason", pa.string())])


def write_ahead(con: duckdb.DuckDBPyConnection, pending_rows_select: str) -> None:
    """Persist the rows this run must commit before anything is sent (ops are written by the actions)."""
    con.execute(f"INSERT INTO pending_rows {pending_rows_select}")


def checkpoint(con: duckdb.DuckDBPyConnection, *, touched: str | None = None) -> int:
    """Move keys whose operations are all accepted (or that needed none) into the snapshot; return how many.

    `touched` (a table of `_key`s) limits the check to keys that just got outcomes, which keeps checkpoints
    during a long delivery cheap; without it every pending row is considered.
    """
    # Every join below builds its hash table on the small side (touched keys, or the few operations not yet
    # accepted), so a checkpoint stays cheap and within the memory limit even with millions of operations.
    only_touched = "" if touched is None else f"SEMI JOIN {touched} t ON x._key = t._key"
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE done AS
            WITH blocked AS (SELECT DISTINCT x._key FROM ops x {only_touched} WHERE x.status <> 'accepted')
            SELECT x.* FROM pending_rows x {only_touched} ANTI JOIN blocked b ON x._key = b._key""")
        done = con.execute("SELECT count(*) FROM done").fetchall()[0][0]
        if done:
            idents = ", ".join(IDENTITY_COLUMNS)
            con.execute("DELETE FROM snapshot WHERE _key IN (SELECT _key FROM done)")
            con.execute(f"INSERT INTO snapshot SELECT _key, _hash, {idents}, now() FROM done WHERE _change <> 'removed'")
            for table in ("rejections", "ops", "pending_rows"):
                con.execute(f"DELETE FROM {table} WHERE _key IN (SELECT _key FROM done)")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return done


def record_outcomes(con: duckdb.DuckDBPyConnection, outcomes: Sequence[Any]) -> None:
    """Write delivery outcomes (op_id, status, status_code, reason) onto the ops log in one statement.

    Leaves TEMP table `touched` with the keys of those operations, for an incremental checkpoint.
    """
    table = pa.Table.from_arrays([pa.array([o.op_id for o in outcomes], pa.int64()),
                                  pa.array([o.status for o in outcomes], pa.string()),
                                  pa.array([o.status_code for o in outcomes], pa.int32()),
                                  pa.array([o.reason for o in outcomes], pa.string())], schema=OUTCOME_SCHEMA)
    con.register("outcome_batch", table)
    try:
        con.execute("UPDATE ops SET status = b.status, status_code = b.status_code, reason = b.reason "
                    "FROM outcome_batch b WHERE ops.op_id = b.op_id")
        con.execute("CREATE OR REPLACE TEMP TABLE touched AS "
                    "SELECT DISTINCT o._key FROM ops o SEMI JOIN outcome_batch b ON o.op_id = b.op_id")
    finally:
        con.unregister("outcome_batch")


def close_rejections(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Move rejected keys out of the ops log into `rejections` (attempts + 1); the next diff retries them."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE rejected_now AS
            SELECT _key, action, status_code, reason, body FROM ops WHERE status = 'rejected'
            QUALIFY row_number() OVER (PARTITION BY _key, action ORDER BY op_id) = 1""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE rejections_next AS
            SELECT n._key, n.action, n.status_code, n.reason, left(n.body, 2000) AS body, '{run_id}' AS run_id,
                   coalesce(r.first_seen, now()) AS first_seen, now() AS last_seen, coalesce(r.attempts, 0) + 1 AS attempts
              FROM rejected_now n LEFT JOIN rejections r ON r._key = n._key AND r.action = n.action""")
        con.execute("DELETE FROM rejections WHERE (_key, action) IN (SELECT (_key, action) FROM rejections_next)")
        con.execute("INSERT INTO rejections SELECT * FROM rejections_next")
        rejected_keys = "SELECT DISTINCT _key FROM rejected_now"
        con.execute(f"DELETE FROM ops WHERE _key IN ({rejected_keys})")
        con.execute(f"DELETE FROM pending_rows WHERE _key IN ({rejected_keys})")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def recover(con: duckdb.DuckDBPyConnection) -> int:
    """Finish what a crashed run left: commit what was recorded as accepted, then discard the rest.

    The discarded keys never reached the snapshot, so this run's diff produces them again (and event ids
    are derived from the row, so anything that did reach Customer.io is de-duplicated there).
    """
    committed = checkpoint(con)
    con.execute("DELETE FROM ops")
    con.execute("DELETE FROM pending_rows")
    return committed


def recent_rejections(con: duckdb.DuckDBPyConnection, run_id: str, limit: int = 50) -> list[Rejection]:
    """Rejections recorded by this run, for the report."""
    rows = con.execute("SELECT _key, action, status_code, reason, attempts FROM rejections WHERE run_id = ? "
                       "ORDER BY last_seen, _key LIMIT ?", [run_id, limit]).fetchall()
    return [Rejection(key=r[0], action=r[1], status_code=r[2], reason=r[3], attempts=r[4]) for r in rows]


class OutcomeWriter:
    """Takes outcomes as they arrive and writes them, with a checkpoint, every `interval_s` on its own thread.

    The writing happens on a background thread with its own DuckDB cursor, so a checkpoint never holds up
    the requests still to be sent; a bounded queue applies back-pressure if the writer falls behind. A crash
    loses at most the last `interval_s` of outcomes, and those operations are simply sent again.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, interval_s: float = 2.0, max_buffer: int = 50_000) -> None:
        self.interval_s = interval_s
        self.max_buffer = max_buffer
        self.buffer: list[Any] = []
        self.last_submit = time.monotonic()
        self.counts = {"accepted": 0, "rejected": 0, "retryable": 0}
        self._cursor = con.cursor()  # a connection of its own: DuckDB connections are not shared across threads
        self._queue: queue.Queue[list[Any] | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_loop, name="cio-retl-commit", daemon=True)
        self._thread.start()

    def __call__(self, outcomes: Sequence[Any]) -> None:
        self.buffer.extend(outcomes)
        for outcome in outcomes:
            self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if len(self.buffer) >= self.max_buffer or time.monotonic() - self.last_submit >= self.interval_s:
            self._submit()

    def flush(self) -> None:
        """Write everything received so far and stop the writer; re-raise what the writer failed with."""
        self._submit()
        self._queue.put(None)
        self._thread.join()
        self._cursor.close()
        if self._error is not None:
            raise self._error

    def _submit(self) -> None:
        if self._error is not None:
            raise self._error
        if self.buffer:
            self._queue.put(self.buffer)
        self.buffer = []
        self.last_submit = time.monotonic()

    def _write_loop(self) -> None:
        while (outcomes := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain, so the caller never blocks on a full queue
            try:
                record_outcomes(self._cursor, outcomes)
                checkpoint(self._cursor, touched="touched")
            except BaseException as exc:  # handed to the caller's thread by _submit / flush
                self._error = exc
