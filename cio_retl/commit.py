"""Stage 6, commit: record outcomes in groups while delivering, then settle every row's fate and advance the snapshot."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from cio_retl.report import Rejection
from cio_retl.state import IDENTITY_COLUMNS

OUTCOME_SCHEMA = pa.schema([("op_id", pa.int64()), ("status", pa.string()), ("status_code", pa.int32()),
                            ("reason", pa.string())])
# A crash re-sends at most what was in flight plus the outcomes not yet committed; the writer keeps the latter
# under max(LAG_BATCHES requests' worth, LAG_FRACTION of what it committed) by holding up delivery when behind.
LAG_BATCHES = 2
LAG_FRACTION = 0.10
# Rows no action matched and append-mode changes that are not re-sent; both are settled without delivery.
UNSENT_CHANGE = "unsent_change"


class OutcomeWriter:
    """Commits delivery outcomes on its own thread in groups: each group is whatever arrived while the previous
    one was being written, so commits are as frequent as the writer can make them (no timer).

    Each group is one appended batch of rows in `outcomes`, committed: a killed process loses only the outcomes
    not yet committed, and those operations are simply sent again. If the writer falls behind, the caller
    waits (back-pressure), which bounds that loss.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection,
                 on_group: Callable[[pa.Table], None] | None = None) -> None:
        self.on_group = on_group
        self.counts = {"accepted": 0, "rejected": 0, "retryable": 0}
        self.groups = 0
        self._cursor = con.cursor()  # a connection of its own: DuckDB connections are not shared across threads
        self._cond = threading.Condition()
        self._waiting: list[Any] = []
        self._received = self._committed = self._largest = 0
        self._closing = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_loop, name="cio-retl-commit", daemon=True)
        self._thread.start()

    def __call__(self, outcomes: Sequence[Any]) -> None:
        """Queue outcomes for the next commit group; wait while too many are uncommitted."""
        for outcome in outcomes:
            self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        with self._cond:
            self._raise_error()
            self._waiting.extend(outcomes)
            self._received += len(outcomes)
            self._largest = max(self._largest, len(outcomes))
            self._cond.notify_all()
            while self._received - self._committed > self._max_lag() and self._error is None:
                self._cond.wait()
            self._raise_error()

    @property
    def uncommitted(self) -> int:
        return self._received - self._committed

    def _max_lag(self) -> int:
        return max(LAG_BATCHES * self._largest, int(LAG_FRACTION * self._committed))

    def close(self) -> None:
        """Commit what was received, stop the thread and close its cursor — always; then re-raise a write error."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _write_loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._waiting and not self._closing:
                        self._cond.wait()
                    group, self._waiting = self._waiting, []
                if not group:
                    return  # closing, and everything is committed
                if self._error is None:
                    try:
                        table = append_outcomes(self._cursor, group)
                        if self.on_group is not None:
                            self.on_group(table)
                        self.groups += 1
                    except BaseException as exc:  # handed to the caller's thread by __call__ / close
                        self._error = exc
                with self._cond:
                    self._committed += len(group)
                    self._cond.notify_all()
        finally:
            self._cursor.close()


def append_outcomes(con: duckdb.DuckDBPyConnection, outcomes: Sequence[Any]) -> pa.Table:
    """Append (op_id, status, status_code, reason) rows to `outcomes` in one committed statement; return them."""
    table = pa.Table.from_arrays([pa.array([o.op_id for o in outcomes], pa.int64()),
                                  pa.array([o.status for o in outcomes], pa.string()),
                                  pa.array([o.status_code for o in outcomes], pa.int32()),
                                  pa.array([o.reason for o in outcomes], pa.string())], schema=OUTCOME_SCHEMA)
    con.register("outcome_group", table)
    try:
        con.execute("INSERT INTO outcomes SELECT * FROM outcome_group")
    finally:
        con.unregister("outcome_group")
    return table


@dataclass
class Settled:
    """What settling a run's write-ahead found: rows per fate and operations per final status."""

    fates: dict[str, int] = field(default_factory=dict)       # delivered, rejected, pending, skipped (rows)
    operations: dict[str, int] = field(default_factory=dict)  # accepted, rejected, pending (operations)
    pending_reasons: dict[str, int] = field(default_factory=dict)  # why operations are pending → how many
    skipped_reasons: dict[str, int] = field(default_factory=dict)  # why rows got no operation → how many
    run_id: str | None = None

    @property
    def rows(self) -> int:
        return sum(self.fates.values())


def settle(con: duckdb.DuckDBPyConnection, *, watermark: int) -> Settled:
    """Give every row of the write-ahead its fate, in one transaction, and clear the write-ahead.

    delivered (all its operations accepted) and skipped (no operation) rows enter the snapshot with the
    configuration they were built under; rejected rows go to `rejections` (attempts + 1) and pending rows keep
    their previous snapshot entry, so the next diff produces both again. This is also how a run interrupted at
    any point is finished: its write-ahead and the outcomes it committed are all that is needed.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        run_id = (con.execute("SELECT any_value(run_id) FROM pending_rows").fetchall()[0][0])
        _fate_tables(con)
        _advance_snapshot(con)
        _record_rejections(con, watermark)
        settled = Settled(run_id=run_id, fates=dict(con.execute(
            f"SELECT CASE fate WHEN '{UNSENT_CHANGE}' THEN 'skipped' ELSE fate END, count(*) FROM settled GROUP BY 1"
        ).fetchall()), operations=dict(con.execute("SELECT status, count(*) FROM op_final GROUP BY 1").fetchall()),
                          pending_reasons=dict(con.execute(
                              "SELECT coalesce(reason, 'not sent: the run stopped before it'), count(*) FROM op_final "
                              "WHERE status = 'pending' GROUP BY 1 ORDER BY 2 DESC LIMIT 3").fetchall()),
                          skipped_reasons=dict(con.execute(
                              "SELECT reason, count(*) FROM settled WHERE fate = 'skipped' GROUP BY 1 ORDER BY 2 DESC "
                              "LIMIT 3").fetchall()))
        for table in ("pending_rows", "ops", "outcomes"):
            con.execute(f"DELETE FROM {table}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return settled


def _fate_tables(con: duckdb.DuckDBPyConnection) -> None:
    """TEMP `op_final` (each operation's final status) and `settled` (each row with its fate)."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE op_final AS
        SELECT o.op_id, o._key, o.action,
               CASE coalesce(x.status, o.status) WHEN 'accepted' THEN 'accepted' WHEN 'rejected' THEN 'rejected'
                    ELSE 'pending' END AS status,
               x.status_code, coalesce(x.reason, o.reason) AS reason
          FROM ops o LEFT JOIN outcomes x ON o.op_id = x.op_id""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE settled AS
        SELECT r.* EXCLUDE (fate), CASE WHEN r.fate IS NOT NULL THEN r.fate WHEN k._key IS NULL THEN 'skipped'
                    WHEN k.rejected > 0 THEN 'rejected' WHEN k.accepted = k.n THEN 'delivered' ELSE 'pending' END AS fate
          FROM pending_rows r LEFT JOIN (
               SELECT _key, count(*) AS n, count(*) FILTER (status = 'accepted') AS accepted,
                      count(*) FILTER (status = 'rejected') AS rejected
                 FROM op_final GROUP BY _key) k ON r._key = k._key""")


def _advance_snapshot(con: duckdb.DuckDBPyConnection) -> None:
    """Settled rows replace their snapshot entry; a delivered delete removes it."""
    idents = ", ".join(IDENTITY_COLUMNS)
    con.execute(f"DELETE FROM snapshot WHERE _key IN (SELECT _key FROM settled WHERE fate IN "
                f"('delivered', 'skipped', '{UNSENT_CHANGE}'))")
    con.execute(f"""
        INSERT INTO snapshot BY NAME
        SELECT _key, CASE WHEN fate = 'skipped' AND _change = 'removed' THEN NULL ELSE _hash END AS _hash, {idents},
               now() AS committed_at, config_hash,
               CASE fate WHEN 'skipped' THEN 'skipped' ELSE 'delivered' END AS fate,
               CASE fate WHEN 'skipped' THEN reason END AS reason, run_id
          FROM settled
         WHERE fate IN ('skipped', '{UNSENT_CHANGE}') OR (fate = 'delivered' AND _change <> 'removed')""")


def _record_rejections(con: duckdb.DuckDBPyConnection, watermark: int) -> None:
    """Resolved keys leave `rejections`; keys rejected now enter it or count one more attempt."""
    con.execute(f"DELETE FROM rejections WHERE _key IN (SELECT _key FROM settled WHERE fate IN "
                f"('delivered', 'skipped', '{UNSENT_CHANGE}'))")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE rejections_next AS
        WITH now_rejected AS (
            SELECT f._key, f.action, f.status_code, f.reason, left(o.body, 2000) AS body, s.run_id
              FROM op_final f JOIN ops o ON o.op_id = f.op_id JOIN settled s ON s._key = f._key
             WHERE f.status = 'rejected'
            QUALIFY row_number() OVER (PARTITION BY f._key, f.action ORDER BY f.op_id) = 1)
        SELECT n._key, n.action, n.status_code, n.reason, n.body, n.run_id,
               coalesce(r.first_seen, now()) AS first_seen, now() AS last_seen, coalesce(r.attempts, 0) + 1 AS attempts,
               least(coalesce(r.watermark, {int(watermark)}), {int(watermark)}) AS watermark
          FROM now_rejected n LEFT JOIN rejections r ON r._key = n._key AND r.action = n.action""")
    con.execute("DELETE FROM rejections WHERE (_key, action) IN (SELECT (_key, action) FROM rejections_next)")
    con.execute("INSERT INTO rejections BY NAME SELECT * FROM rejections_next")


def record_violations(con: duckdb.DuckDBPyConnection, run_id: str, watermark: int, *, whole_model: bool) -> None:
    """Null and duplicate keys are rejections (action 'model contract') from the start: nothing is sent for them.

    When the run read the whole model, a contract rejection it did not see again was fixed (or its row left
    the model), so it is resolved; a partial read (a window, an incremental model) resolves only what it saw.
    """
    contract = "action = 'model contract'"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE rejections_next AS
        SELECT v._key, 'model contract' AS action, NULL::INTEGER AS status_code,
               v.reason || ': fix the model so each row has a unique, non-null primary key' AS reason, NULL AS body,
               '{run_id}' AS run_id, coalesce(r.first_seen, now()) AS first_seen, now() AS last_seen,
               coalesce(r.attempts, 0) + 1 AS attempts,
               least(coalesce(r.watermark, {int(watermark)}), {int(watermark)}) AS watermark
          FROM violations v LEFT JOIN rejections r ON r._key IS NOT DISTINCT FROM v._key AND r.{contract}""")
    seen = "EXISTS (SELECT 1 FROM rejections_next n WHERE n._key IS NOT DISTINCT FROM rejections._key)"
    con.execute(f"DELETE FROM rejections WHERE {contract} AND ({seen}{' OR TRUE' if whole_model else ''})")
    con.execute("INSERT INTO rejections BY NAME SELECT * FROM rejections_next")


def recent_rejections(con: duckdb.DuckDBPyConnection, run_id: str, limit: int = 50) -> list[Rejection]:
    """Rejections recorded by this run, for the report."""
    rows = con.execute("SELECT _key, action, status_code, reason, attempts FROM rejections WHERE run_id = ? "
                       "ORDER BY last_seen, _key LIMIT ?", [run_id, limit]).fetchall()
    return [Rejection(key=r[0], action=r[1], status_code=r[2], reason=r[3], attempts=r[4]) for r in rows]
