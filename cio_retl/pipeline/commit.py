"""Stage 6, commit: record outcomes in groups while delivering, then settle every row's fate and advance the snapshot."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from cio_retl.delivery.outcomes import as_outcome_table, status_counts
from cio_retl.pipeline.report import Rejection, SyncReport
from cio_retl.sqltext import quote_str
from cio_retl.state import IDENTITY_COLUMNS
from cio_retl.state.schema import action_of_op_sql, row_of_op_sql
from cio_retl.state.wal import OutcomeLog, WriteAheadLog

# A crash re-sends at most what was in flight plus the outcomes not yet committed; the writer keeps the latter
# under max(LAG_BATCHES requests' worth, LAG_FRACTION of what it committed) by holding up delivery when behind.
LAG_BATCHES = 2
LAG_FRACTION = 0.10
# A row settled without delivery: an append-mode change that is not re-sent (reported as skipped).
UNSENT_CHANGE = "unsent_change"
_SETTLED_AS_IS = f"('delivered', 'skipped', '{UNSENT_CHANGE}')"


class OutcomeWriter:
    """Commits delivery outcomes on its own thread in groups: each group is whatever arrived while the previous
    one was being written, so commits are as frequent as the writer can make them (no timer).

    Each group is appended to the run's outcome log and on disk (fsync) before it counts as committed: a killed
    process loses only the outcomes not yet committed, and those operations are simply sent again. If the
    writer falls behind, the caller waits (back-pressure), which bounds that loss.
    """

    def __init__(self, log: OutcomeLog, on_group: Callable[[pa.Table], None] | None = None) -> None:
        self.log = log
        self.on_group = on_group
        self.counts: dict[str, int] = {}
        self.groups = 0
        self._cond = threading.Condition()
        self._waiting: list[pa.Table] = []
        self._received = self._committed = self._largest = 0
        self._closing = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_loop, name="cio-retl-commit", daemon=True)
        self._thread.start()

    def __call__(self, outcomes: pa.Table | list[Any]) -> None:
        """Queue outcomes (a table, or Outcome rows) for the next commit group; wait while too many are uncommitted."""
        table = as_outcome_table(outcomes)
        for status, n in status_counts(table).items():
            self.counts[status] = self.counts.get(status, 0) + n
        with self._cond:
            self._raise_error()
            self._waiting.append(table)
            self._received += table.num_rows
            self._largest = max(self._largest, table.num_rows)
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
        """Commit what was received, stop the thread and close the log — always; then re-raise a write error."""
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
                table = stamped(pa.concat_tables(group))
                if self._error is None:
                    try:
                        self.log.append(table)
                        if self.on_group is not None:
                            self.on_group(table)
                        self.groups += 1
                    except BaseException as exc:  # handed to the caller's thread by __call__ / close
                        self._error = exc
                with self._cond:
                    self._committed += table.num_rows
                    self._cond.notify_all()
        finally:
            self.log.close()


def stamped(outcomes: pa.Table) -> pa.Table:
    """Outcomes with when they were answered."""
    now = pa.scalar(datetime.now(timezone.utc), pa.timestamp("us", tz="UTC"))
    return outcomes.append_column("answered_at", pa.repeat(now, outcomes.num_rows))


@dataclass
class Settled:
    """What settling a run's write-ahead found: rows per fate and operations per final status."""

    fates: dict[str, int] = field(default_factory=dict)       # delivered, rejected, pending, skipped (rows)
    operations: dict[str, int] = field(default_factory=dict)  # accepted, rejected, pending (operations)
    pending_reasons: dict[str, int] = field(default_factory=dict)  # why operations are pending → how many
    skipped_reasons: dict[str, int] = field(default_factory=dict)  # why rows got no operation → how many
    run_ids: list[str] = field(default_factory=list)  # the runs whose rows were settled
    runs: list[int] = field(default_factory=list)  # the run numbers settled

    @property
    def rows(self) -> int:
        return sum(self.fates.values())

    def add(self, other: Settled) -> None:
        """Another run's settling into this one (several interrupted runs are settled in one go)."""
        for mine, theirs in ((self.fates, other.fates), (self.operations, other.operations),
                             (self.pending_reasons, other.pending_reasons), (self.skipped_reasons, other.skipped_reasons)):
            for name, n in theirs.items():
                mine[name] = mine.get(name, 0) + n
        self.run_ids += other.run_ids

    def record(self, report: SyncReport) -> None:
        """This run's operations per final status and rows per fate into its report (also after a failed
        delivery); rows breaking the model contract count as rejected, rows with no fate as unchanged."""
        report.accepted = self.operations.get("accepted", 0)
        report.rejected = report.contract_violations + self.operations.get("rejected", 0)
        report.pending = self.operations.get("pending", 0)
        fates = {fate: self.fates.get(fate, 0) for fate in ("delivered", "rejected", "pending", "skipped")}
        fates["rejected"] += report.contract_violations
        fates["unchanged"] = report.extracted + report.removed - sum(fates.values())
        report.fates, report.skipped, report.unchanged = fates, fates["skipped"], fates["unchanged"]
        for reason, n in self.skipped_reasons.items():
            report.warnings.append(f"{n} row(s) skipped: {reason}")

    def record_recovered(self, report: SyncReport) -> None:
        """The interrupted runs this run finished (every one, with their rows' fates summed), into its report."""
        if self.rows:
            report.recovered = {"runs": len(self.run_ids), "run_ids": self.run_ids, "fates": self.fates}
            fates = ", ".join(f"{n} {fate}" for fate, n in sorted(self.fates.items()))
            runs = "run " if len(self.run_ids) == 1 else f"{len(self.run_ids)} runs "
            report.warnings.append(f"finished interrupted {runs}{', '.join(self.run_ids)}: {fates} "
                                   "(pending rows are sent by this run)")


def settle(con: duckdb.DuckDBPyConnection, wal: WriteAheadLog, *, watermark: int, history_runs: int = 10) -> Settled:
    """Give every row of the unsettled runs in the log its fate, one run at a time, each in one transaction.

    A row's operations are known by number (`n_ops`) and id (state.schema.op_id_sql): skipped without
    any, rejected if one was refused, delivered if all were accepted, else pending. Delivered and skipped rows
    enter the snapshot with the configuration they were built under; rejected rows go to `rejections`
    (attempts + 1) and pending rows keep their previous snapshot entry, so the next diff produces both again.
    This is also how a run interrupted at any point is finished: its write-ahead and committed outcomes are
    all that is needed. The logs of the last `history_runs` runs are kept (for `explain`).
    """
    settled, runs = Settled(), []
    through = int(_meta(con, "settled_through") or -1)
    for run_no in [run_no for run_no in wal.runs() if run_no > through]:
        if wal.run(run_no).row_files():  # a run that wrote nothing ahead has nothing to settle
            settled.add(_settle_run(con, wal, run_no, watermark))
        con.execute("INSERT OR REPLACE INTO meta VALUES ('settled_through', ?)", [str(run_no)])
        runs.append(run_no)
        through = run_no
    settled.runs = runs
    wal.prune(below=through - history_runs + 1)
    return settled


def _meta(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    rows = con.execute("SELECT value FROM meta WHERE name = ?", [name]).fetchall()
    return rows[0][0] if rows else None


def _settle_run(con: duckdb.DuckDBPyConnection, wal: WriteAheadLog, run_no: int, watermark: int) -> Settled:
    con.execute(f"CREATE OR REPLACE TEMP VIEW run_rows AS {wal.rows_sql([run_no])}")  # read once, by _fates
    con.register("run_outcomes", wal.run(run_no).outcomes())
    con.execute("BEGIN TRANSACTION")
    try:
        run_id = con.execute("SELECT any_value(run_id) FROM run_rows").fetchall()[0][0]
        _fates(con)
        settled = _summary(con, run_id)
        _advance_snapshot(con)
        _record_rejections(con, watermark)
        con.execute("INSERT OR REPLACE INTO meta VALUES ('settled_through', ?)", [str(run_no)])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("run_outcomes")
    return settled


def _fates(con: duckdb.DuckDBPyConnection) -> None:
    """TEMP `settled`: each write-ahead row with its fate and how many of its operations were answered how."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE settled AS
        SELECT r.* EXCLUDE (fate), coalesce(k.accepted, 0) AS accepted, coalesce(k.rejected, 0) AS rejected,
               CASE WHEN r.fate IS NOT NULL THEN r.fate WHEN r.n_ops = 0 THEN 'skipped'
                    WHEN k.rejected > 0 THEN 'rejected' WHEN k.accepted = r.n_ops THEN 'delivered'
                    ELSE 'pending' END AS fate
          FROM run_rows r LEFT JOIN (
               SELECT {row_of_op_sql('op_id')} AS row_id, count(*) FILTER (status = 'accepted') AS accepted,
                      count(*) FILTER (status = 'rejected') AS rejected
                 FROM run_outcomes GROUP BY 1) k ON r.row_id = k.row_id""")


def _summary(con: duckdb.DuckDBPyConnection, run_id: str | None) -> Settled:
    fates = dict(con.execute(f"SELECT CASE fate WHEN '{UNSENT_CHANGE}' THEN 'skipped' ELSE fate END, count(*) "
                             "FROM settled GROUP BY 1").fetchall())
    total, accepted, rejected = con.execute(
        "SELECT coalesce(sum(n_ops), 0), coalesce(sum(accepted), 0), coalesce(sum(rejected), 0) FROM settled").fetchall()[0]
    retryable = "FROM run_outcomes WHERE status = 'retryable'"
    pending_reasons = dict(con.execute(f"SELECT reason, count(*) {retryable} GROUP BY 1 ORDER BY 2 DESC LIMIT 3").fetchall())
    unanswered = int(total - accepted - rejected) - con.execute(f"SELECT count(*) {retryable}").fetchall()[0][0]
    if unanswered > 0:
        pending_reasons["not sent: the run stopped before them"] = unanswered
    skipped_reasons = dict(con.execute("SELECT reason, count(*) FROM settled WHERE fate = 'skipped' GROUP BY 1 "
                                       "ORDER BY 2 DESC LIMIT 3").fetchall())
    return Settled(fates=fates, run_ids=[run_id] if run_id else [], pending_reasons=pending_reasons,
                   skipped_reasons=skipped_reasons,
                   operations={"accepted": int(accepted), "rejected": int(rejected),
                               "pending": int(total - accepted - rejected)})


def _advance_snapshot(con: duckdb.DuckDBPyConnection) -> None:
    """Settled rows replace their snapshot entry; a delivered delete removes it. Added rows have no entry."""
    idents = ", ".join(IDENTITY_COLUMNS)
    con.execute(f"DELETE FROM snapshot WHERE _key IN (SELECT _key FROM settled WHERE fate IN {_SETTLED_AS_IS} "
                "AND _change <> 'added')")
    con.execute(f"""
        INSERT INTO snapshot BY NAME
        SELECT _key, CASE WHEN fate = 'skipped' AND _change = 'removed' THEN NULL ELSE _hash END AS _hash, {idents},
               now() AS committed_at, config_hash,
               CASE fate WHEN 'skipped' THEN 'skipped' ELSE 'delivered' END AS fate,
               CASE fate WHEN 'skipped' THEN reason END AS reason, run_id, nulls
          FROM settled
         WHERE fate IN ('skipped', '{UNSENT_CHANGE}') OR (fate = 'delivered' AND _change <> 'removed')""")


def _record_rejections(con: duckdb.DuckDBPyConnection, watermark: int) -> None:
    """Resolved keys leave `rejections`; keys rejected now enter it or count one more attempt."""
    if not con.execute("SELECT count(*) FROM rejections").fetchall()[0][0] and \
            not con.execute("SELECT count(*) FROM settled WHERE rejected > 0").fetchall()[0][0]:
        return
    con.execute(f"DELETE FROM rejections WHERE _key IN (SELECT _key FROM settled WHERE fate IN {_SETTLED_AS_IS})")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE rejections_next AS
        WITH now_rejected AS (
            SELECT s._key, {action_of_op_sql('o.op_id')} AS action, o.status_code, o.reason,
                   left(o.body, 2000) AS body, s.run_id
              FROM run_outcomes o JOIN settled s ON s.row_id = {row_of_op_sql('o.op_id')}
             WHERE o.status = 'rejected'
            QUALIFY row_number() OVER (PARTITION BY s._key, action ORDER BY o.op_id) = 1)
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
               {quote_str(run_id)} AS run_id, coalesce(r.first_seen, now()) AS first_seen, now() AS last_seen,
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
