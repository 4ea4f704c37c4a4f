"""run_sync(): finish a crashed run's leftovers, then extract → diff → convert → act → deliver → commit."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import duckdb
import pyarrow as pa

from cio_retl.actions.apply import build_operations
from cio_retl.commit import OutcomeWriter, checkpoint, close_rejections, recent_rejections, recover, write_ahead
from cio_retl.config import Project, Sync
from cio_retl.convert import build_calls, pending_rows_sql
from cio_retl.diff import apply_mode, compute_diff, drop_violations, guard_mass_delete
from cio_retl.errors import CioRetlError, SyncError
from cio_retl.extract import extract
from cio_retl.incremental import render_model
from cio_retl.progress import Progress
from cio_retl.report import SyncReport
from cio_retl.snapshot import StateStore
from cio_retl.warehouse import open_warehouse
from cio_retl.warehouse.dialect import window_sql

Deliver = Callable[..., Any]
SAMPLE_CALLS = 10
SAMPLE_OPERATIONS = 5


def new_run_id() -> str:
    """A sortable, unique run id."""
    return datetime.now(timezone.utc).strftime("r%Y%m%dT%H%M%S-") + secrets.token_hex(3)


def run_sync(project: Project, sync_name: str, *, full_resync: bool = False, dry_run: bool = False,
             allow_mass_delete: bool = False, window: tuple[datetime, datetime] | None = None,
             progress: bool = False, deliver: Deliver | None = None) -> SyncReport:
    """Run one sync end to end and return its report; raise a SyncError (carrying `.report`) if it fails.

    dry_run extracts, diffs and builds operations but sends nothing and changes no state. window limits a
    track sync to rows whose `partition_by` falls in [start, end) and re-sends all of them.
    """
    sync = project.sync(sync_name)
    report = SyncReport(sync=sync_name, run_id=new_run_id(), dry_run=dry_run, full_resync=full_resync)
    started, clock = datetime.now(timezone.utc), time.monotonic()
    command = "dry-run" if dry_run else "run"
    with StateStore.open(project.state_path(), sync_name, run_id=report.run_id, command=command,
                         memory_limit=project.memory_limit) as state:
        config_hash = project.config_hash(sync_name)
        try:
            _run(project, sync_name, sync, state, report, window=window, allow_mass_delete=allow_mass_delete,
                 config_hash=config_hash, progress=Progress(enabled=progress), deliver=deliver, started=started)
        except CioRetlError as exc:
            report.status, report.error = "failed", str(exc)
            raise _as_sync_error(sync_name, exc, report) from exc
        except Exception as exc:  # an unexpected bug: still record the run and name the sync
            report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
            raise SyncError(sync_name, f"unexpected error: {report.error}",
                            hint="this is a bug in cio-retl; please report it with the traceback") from exc
        finally:
            report.duration_s = time.monotonic() - clock
            if not dry_run:
                state.record_run(report, started_at=started, config_hash=config_hash)
    return report


def _as_sync_error(sync_name: str, exc: CioRetlError, report: SyncReport) -> SyncError:
    error = exc if isinstance(exc, SyncError) else SyncError(sync_name, exc.message, hint=exc.hint)
    error.report = report
    return error


def _run(project: Project, sync_name: str, sync: Sync, state: StateStore, report: SyncReport, *,
         window: tuple[datetime, datetime] | None, allow_mass_delete: bool, config_hash: str, progress: Progress,
         deliver: Deliver | None, started: datetime) -> None:
    con = state.con
    timer = _StageTimer(report)
    if not report.dry_run:
        with timer("recover"):
            recover(con)
    report.full_resync = _needs_full_resync(state, sync, config_hash, report)
    with timer("extract"), progress.task("extract", sync_name) as advance:
        model, sql = _model_sql(project, sync_name, sync, state, window)
        warehouse = open_warehouse(sync.warehouse, project.warehouses[sync.warehouse], project.root)
        try:
            extracted = extract(con, warehouse, sql, sync_name=sync_name, sync=sync, model=model, on_rows=advance)
        finally:
            warehouse.close()
    report.extracted = extracted.rows
    report.contract_violations, report.violation_samples = extracted.violations, extracted.violation_samples
    with timer("diff"):
        diff = compute_diff(con, full_resync=report.full_resync, window=window is not None)
        report.added, report.changed, report.removed = diff.added, diff.changed, diff.removed
        guard_mass_delete(sync_name, sync, diff, allowed=allow_mass_delete)
        report.removed = apply_mode(con, sync, resend=report.full_resync or window is not None)
        drop_violations(con)
    with timer("convert"):
        build_calls(con, sync, extracted.schema)
        report.sample_calls = _sample_calls(con)
    with timer("act"):
        ops_table = _prepare_ops(con, report, extracted.schema)
        _build_ops(con, sync_name, sync, project, ops_table, report)
    if report.dry_run:
        return
    with timer("deliver"):
        _deliver_and_commit(con, project, sync_name, report, progress, deliver)
    report.stuck = state.stuck_count()
    state.set_meta("config_hash", config_hash)
    # The run's start, not its end: rows written while this run extracted are read again next time.
    state.set_meta("last_success_started_at", str(int(started.timestamp())))


def _needs_full_resync(state: StateStore, sync: Sync, config_hash: str, report: SyncReport) -> bool:
    previous = state.get_meta("config_hash")
    if report.full_resync or previous is None or previous == config_hash or sync.mode == "append":
        return report.full_resync
    report.warnings.append("the model SQL, primary key or mappings changed since the last run: full resync")
    return True


def _model_sql(project: Project, sync_name: str, sync: Sync, state: StateStore,
               window: tuple[datetime, datetime] | None) -> tuple[str, str]:
    model = sync.model or ("query" if sync.query else f"table {sync.table}")
    last = int(state.get_meta("last_success_started_at") or 0)
    sql = render_model(project.model_sql(sync_name), last_sync_time=last).strip().rstrip(";")
    if window is not None:
        if not sync.partition_by:
            raise SyncError(sync_name, "a partition window needs `partition_by` on the sync",
                            hint="set partition_by to the event timestamp column")
        # The warehouse's own dialect: its identifier quoting and timestamp literals (BigQuery, Snowflake differ).
        sql = window_sql(project.warehouses[sync.warehouse].type, sql, sync.partition_by, *window)
    return model, sql


def _prepare_ops(con: duckdb.DuckDBPyConnection, report: SyncReport, schema: pa.Schema) -> str:
    """The table operations go to: the persistent log for a real run, a TEMP table for a dry run."""
    if report.dry_run:
        con.execute("CREATE OR REPLACE TEMP TABLE plan_ops AS SELECT * FROM ops WHERE FALSE")
        return "plan_ops"
    write_ahead(con, pending_rows_sql(schema, report.run_id))
    _record_violations(con, report.run_id)
    return "ops"


def _record_violations(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Null and duplicate keys become rejections (action 'model contract'), so they show up and count."""
    con.execute(f"""
        INSERT INTO ops SELECT -row_number() OVER (), _key, NULL, 'added', 'model contract', -1, 'none', NULL,
               'rejected', NULL, reason || ': fix the model so each row has a unique, non-null primary key'
          FROM violations""")


def _build_ops(con: duckdb.DuckDBPyConnection, sync_name: str, sync: Sync, project: Project, ops_table: str,
               report: SyncReport) -> None:
    next_id = 1
    for calls_table in ("calls", "delete_calls"):
        summary = build_operations(con, sync_name=sync_name, calls_table=calls_table, ops_table=ops_table,
                                   overrides=project.actions, convert_timestamps=sync.convert_timestamps,
                                   first_op_id=next_id)
        next_id = summary.next_op_id
        report.warnings.extend(f"{label} ({count} row(s))" for label, count in summary.warnings.items())
    counts = con.execute(f"SELECT action, count(*) FROM {ops_table} WHERE op_id > 0 GROUP BY 1 ORDER BY 1").fetchall()
    report.operations_by_action = dict(counts)
    report.operations = sum(report.operations_by_action.values())
    report.rejected = con.execute(f"SELECT count(*) FROM {ops_table} WHERE status = 'rejected'").fetchall()[0][0]
    report.sample_operations = [
        {"action": action, "body": json.loads(body)} for action, body in con.execute(
            f"SELECT action, body FROM {ops_table} WHERE status = 'pending' ORDER BY op_id LIMIT {SAMPLE_OPERATIONS}"
        ).fetchall()]


def _pending_batches(con: duckdb.DuckDBPyConnection) -> Iterator[pa.RecordBatch]:
    """Pending operations in delivery order, streamed from a second cursor (the first one writes outcomes)."""
    reader_con = con.cursor()
    try:
        priorities = [p for (p,) in reader_con.execute(
            "SELECT DISTINCT priority FROM ops WHERE status = 'pending' ORDER BY 1").fetchall()]
        for priority in priorities:
            # ops are inserted in op_id order and DuckDB preserves insertion order, so no sort is needed.
            reader = reader_con.sql("SELECT op_id, priority, endpoint, body FROM ops "
                                    f"WHERE status = 'pending' AND priority = {int(priority)}").to_arrow_reader(5000)
            yield from reader
    finally:
        reader_con.close()


def _deliver_and_commit(con: duckdb.DuckDBPyConnection, project: Project, sync_name: str, report: SyncReport,
                        progress: Progress, deliver: Deliver | None) -> None:
    if deliver is None:
        from cio_retl.delivery import deliver
    writer = OutcomeWriter(con)
    total = con.execute("SELECT count(*) FROM ops WHERE status = 'pending'").fetchall()[0][0]
    try:
        with progress.task("deliver", sync_name, total=total) as advance:
            stats = deliver(_pending_batches(con), project.destination, on_outcomes=writer, sync=sync_name,
                            progress=advance)
    finally:
        writer.flush()
    report.requests, report.retries = stats.requests, getattr(stats, "retries", 0)
    report.delivery = stats.as_dict() if hasattr(stats, "as_dict") else {}
    report.accepted = writer.counts.get("accepted", 0)
    report.rejected += writer.counts.get("rejected", 0)
    close_rejections(con, report.run_id)
    checkpoint(con)
    report.pending = con.execute("SELECT count(*) FROM ops WHERE status IN ('pending', 'retryable')").fetchall()[0][0]
    report.rejections = recent_rejections(con, report.run_id)


def _sample_calls(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows = con.sql(f"SELECT * EXCLUDE (_hash, _seq) FROM calls ORDER BY _seq LIMIT {SAMPLE_CALLS}").to_arrow_table()
    extra = con.sql(f"SELECT * EXCLUDE (_hash, _seq) FROM delete_calls LIMIT {SAMPLE_CALLS}").to_arrow_table()
    return [_drop_nulls(row) for row in rows.to_pylist() + extra.to_pylist()][:SAMPLE_CALLS]


def _drop_nulls(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if value is not None}


class _StageTimer:
    """Records how long each stage took into the report."""

    def __init__(self, report: SyncReport) -> None:
        self.report = report

    def __call__(self, stage: str) -> _StageTimer:
        self.stage = stage
        return self

    def __enter__(self) -> None:
        self.start = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.report.stage_seconds[self.stage] = round(time.monotonic() - self.start, 3)
