"""run_sync(): finish an interrupted run, then extract → diff → convert → act → deliver → commit."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import duckdb
import pyarrow as pa

from cio_retl.pipeline.commit import OutcomeWriter, Settled, recent_rejections, settle
from cio_retl.project import Project, Sync
from cio_retl.pipeline.convert import build_calls
from cio_retl.pipeline.diff import Diff, compute_diff
from cio_retl.errors import CioRetlError, DeliveryIncompleteError, SyncError
from cio_retl.pipeline.extract import extract, run_model_sql
from cio_retl.pipeline.guards import guard_mass_clear, guard_mass_delete
from cio_retl.pipeline.interruption import interrupted, interruption_cause
from cio_retl.project.incremental import uses_last_sync_time
from cio_retl.pipeline.progress import Progress
from cio_retl.pipeline.report import SyncReport
from cio_retl.pipeline.samples import first_operations, sample_calls, sample_operations
from cio_retl.state import StateStore
from cio_retl.state.wal import OutcomeLog
from cio_retl.warehouse import open_warehouse
from cio_retl.pipeline.writeahead import Operations, plan_operations, write_settled_rows
from cio_retl.pipeline.direct import plan_direct_operations, uses_direct_operations

Deliver = Callable[..., Any]
Window = tuple[datetime, datetime]
CONFIG_PARTS = "config_parts"  # meta: a digest per setting of config_hash, to name what changed
WORKSPACE = "workspace"  # meta: the Customer.io workspace the snapshot describes (Destination.workspace)


def new_run_id() -> str:
    """A sortable, unique run id."""
    return datetime.now(timezone.utc).strftime("r%Y%m%dT%H%M%S-") + secrets.token_hex(3)


def run_sync(project: Project, sync_name: str, *, full_resync: bool = False, dry_run: bool = False,
             allow_mass_delete: bool = False, allow_clear: bool = False, window: Window | None = None,
             progress: bool = False, deliver: Deliver | None = None,
             on_finished: Callable[[duckdb.DuckDBPyConnection, SyncReport], None] | None = None) -> SyncReport:
    """Run one sync end to end and return its report; raise a SyncError (carrying `.report`) if it fails.

    Every row ends the run in one recorded fate (delivered, rejected, pending, skipped, unchanged). A run that
    leaves operations pending after its retries fails, keeping what Customer.io accepted. dry_run extracts,
    diffs and builds operations but sends nothing and changes no state. window limits an event sync to rows
    whose `partition_by` falls in [start, end) and re-sends all of them: `{{ last_sync_time }}` renders as 0
    and the watermark of regular runs (`last_success_started_at`) is left alone. allow_mass_delete and allow_clear
    let a run past the guards (cio_retl/pipeline/guards.py). on_finished(state connection, report) is called
    after a real run is recorded, the state still open (pipeline/aftermath.py reads the run's settled rows).
    """
    sync = project.sync(sync_name)
    report = SyncReport(sync=sync_name, run_id=new_run_id(), dry_run=dry_run, full_resync=full_resync)
    started, clock = datetime.now(timezone.utc), time.monotonic()
    command = "dry-run" if dry_run else "run"
    config_hash = project.config_hash(sync_name)
    with StateStore.open(project.state_location(), sync_name, run_id=report.run_id, command=command,
                         memory_limit=project.memory_limit, lease_s=project.state_lease_s) as state:
        try:
            run = _Run(project, sync_name, sync, state, report, config_hash, window=window,
                       allowed={"mass_delete": allow_mass_delete, "clear": allow_clear},
                       progress=Progress(enabled=progress), deliver=deliver)
            run.run()
            if not dry_run:  # the attribute names sent: ones new next time clear nothing Customer.io holds
                state.set_meta("attribute_columns", json.dumps(run.attribute_names))
                if window is None:  # a backfill's window says nothing about what regular runs have read
                    # The run's start, not its end: rows written while this run extracted are read again next time.
                    state.set_meta("last_success_started_at", str(int(started.timestamp())))
                state.set_meta("config_hash", config_hash)
                state.set_meta(CONFIG_PARTS, json.dumps(project.config_parts(sync_name)))
                if project.destination.workspace:  # a full resync to another workspace ends here
                    state.set_meta(WORKSPACE, project.destination.workspace)
                state.set_meta("hash_probe", state.hash_probe())
        except BaseException as exc:
            cause = interruption_cause(exc)
            if cause is not None:
                raise interrupted(sync_name, cause, report, exc) from None
            if isinstance(exc, CioRetlError):
                report.status, report.error = "failed", str(exc)
                raise _as_sync_error(sync_name, exc, report) from exc
            if not isinstance(exc, Exception):
                raise
            # an unexpected bug: still record the run and name the sync
            report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
            error = SyncError(sync_name, f"unexpected error: {report.error}",
                              hint="this is a bug in cio-retl; please report it with the traceback")
            raise _as_sync_error(sync_name, error, report) from exc
        finally:
            report.duration_s = time.monotonic() - clock
            if not dry_run:
                state.record_run(report, started_at=started, config_hash=config_hash)
                if on_finished is not None:
                    on_finished(state.con, report)
    return report


def _as_sync_error(sync_name: str, exc: CioRetlError, report: SyncReport) -> SyncError:
    error = exc if isinstance(exc, SyncError) else SyncError(sync_name, exc.message, hint=exc.hint)
    error.report = report
    return error


class _Run:
    """The stages of one run, in order; each records its duration and counts in the report."""

    def __init__(self, project: Project, sync_name: str, sync: Sync, state: StateStore, report: SyncReport,
                 config_hash: str, *, window: Window | None, allowed: dict[str, bool], progress: Progress,
                 deliver: Deliver | None) -> None:
        self.project, self.sync_name, self.sync, self.state, self.report = project, sync_name, sync, state, report
        self.con = state.con
        self.config_hash = config_hash
        self.window, self.allowed, self.progress = window, allowed, progress
        self.deliver_fn = deliver
        self.timer = _StageTimer(report)
        self.attribute_names: list[str] = []  # the person/object attributes the operations send (convert)

    def run(self) -> None:
        """The stages in order."""
        report = self.report
        report.warnings.extend(self.state.notes)
        if reason := self.state.hash_change_reason():
            report.full_resync = True
            report.warnings.append(f"{reason}: every row is sent once more (a full resync)")
        if not report.dry_run:
            with self.timer("recover"):
                self.finish_interrupted_run()
        self.check_workspace()
        watermark = self.watermark()
        with self.timer("extract"), self.progress.task("extract", self.sync_name) as advance:
            schema = self.extract(watermark, advance)
        with self.timer("diff"), self.progress.task("diff", self.sync_name):
            self.diff()
        with self.timer("convert"):
            known = json.loads(self.state.get_meta("attribute_columns") or "[]")
            self.attribute_names = build_calls(self.con, self.sync, schema, sync_name=self.sync_name,
                                               overrides=self.project.actions, removed_from=report.extracted,
                                               known=known)
            report.sample_calls = sample_calls(self.con)
            guard_mass_clear(self.con, self.sync_name, self.sync, known, allowed=self.allowed["clear"])
        with self.timer("act"), self.progress.task("operations", self.sync_name):
            operations = self.act(watermark)
        if report.dry_run:
            return
        settled = self.deliver_and_commit(operations, watermark)
        self.fail_if_pending(settled)

    def check_workspace(self) -> None:
        """Stop before extracting when the state describes another Customer.io workspace: its snapshot says what
        *that* workspace holds, so a diff against it would send the new one only what changed. (An empty snapshot
        describes nothing yet: a first run that reached no workspace can be pointed elsewhere.)"""
        current, recorded = self.project.destination.workspace, self.state.get_meta(WORKSPACE)
        if current is None or self.report.dry_run and recorded is None:
            return
        if recorded is None:  # recorded before sending: even a run killed mid-way leaves it
            self.state.set_meta(WORKSPACE, current)
        elif recorded != current and not self.report.full_resync and \
                self.con.execute("SELECT count(*) FROM snapshot").fetchall()[0][0]:
            raise SyncError(self.sync_name, f"the state at {self.project.state_location()} describes Customer.io "
                            f"workspace {recorded}, but the project now sends to {current}; a run would send the new "
                            "workspace only what changed since the last run, so nothing was extracted or sent",
                            hint="to send everything to the new workspace, rerun with --full-resync (the state then "
                                 "describes it); to keep both, give each workspace its own `state:` location")

    # ------------------------------------------------------------ recover

    def finish_interrupted_run(self) -> None:
        """Settle what a run killed mid-way left in the write-ahead; its pending rows are diffed again now."""
        self.settle(self.state.watermark()).record_recovered(self.report)

    def watermark(self) -> int:
        """`{{ last_sync_time }}`: 0 when rows must be re-evaluated under a new configuration (or --full-resync),
        and inside a window: a backfill re-reads every row of its window, however old."""
        if self.window is not None or self.report.full_resync or \
                self.state.stale_rows(self.config_hash, append=self.sync.mode == "append"):
            return 0
        return self.state.watermark()

    # ------------------------------------------------------------ extract, diff

    def extract(self, watermark: int, advance: Callable[[int], None]) -> pa.Schema:
        model, sql = run_model_sql(self.project, self.sync_name, self.sync, watermark, self.window)
        warehouse = open_warehouse(self.sync.warehouse, self.project.warehouses[self.sync.warehouse], self.project.root)
        try:
            extracted = extract(self.con, warehouse, sql, sync_name=self.sync_name, sync=self.sync, model=model,
                                on_rows=advance)
        finally:
            warehouse.close()
        extracted.record(self.report)
        return extracted.schema

    def diff(self) -> Diff:
        diff = compute_diff(self.con, self.sync, config_hash=self.config_hash, resend_all=self.report.full_resync,
                            window=self.window is not None)
        before = json.loads(self.state.get_meta(CONFIG_PARTS) or "{}")
        diff.changed_settings = [setting for setting, digest in self.project.config_parts(self.sync_name).items()
                                 if before and setting != "triggers" and before.get(setting) != digest]
        diff.record(self.report)
        guard_mass_delete(self.sync_name, self.sync, diff, allowed=self.allowed["mass_delete"])
        return diff

    # ------------------------------------------------------------ act

    def settle(self, watermark: int) -> Settled:
        """The commit stage over every unsettled run in the log, then its checkpoint."""
        settled = settle(self.con, self.state.wal, watermark=watermark, history_runs=self.project.history_runs)
        if settled.runs:
            self.state.checkpoints.settled(self.con, self.state.wal.rows_sql(settled.runs))
        return settled

    def act(self, watermark: int) -> Operations:
        """Compile the actions and count their operations; a dry run builds them all, a real run writes the rows
        settled without delivery (the rest are written ahead chunk by chunk while delivering)."""
        report = self.report
        log = None if report.dry_run else self.state.wal.run(self.state.next_run_no())
        if uses_direct_operations(self.project, self.sync):  # a segment sync, or a Data Pipelines destination
            operations = plan_direct_operations(self.con, self.project, sync_name=self.sync_name, sync=self.sync,
                                                run_id=report.run_id, config_hash=self.config_hash, log=log)
        else:
            operations = plan_operations(self.con, sync_name=self.sync_name, sync=self.sync,
                                         overrides=self.project.actions, run_id=report.run_id,
                                         config_hash=self.config_hash, log=log)
        operations.record(report)
        report.rejected = report.contract_violations
        if report.dry_run:
            operations.materialize("plan_ops")
            report.rejected += self.con.execute("SELECT count(*) FROM plan_ops WHERE reason IS NOT NULL").fetchall()[0][0]
            report.sample_operations = sample_operations(self.con, "plan_ops")
            return operations
        whole_model = self.window is None and (watermark == 0 or not uses_last_sync_time(
            self.project.model_sql(self.sync_name)))
        chunk = write_settled_rows(self.con, log, run_id=report.run_id, config_hash=self.config_hash,
                                   watermark=watermark, whole_model=whole_model)
        if chunk is not None:
            self.state.checkpoints.wrote_ahead(self.con, chunk)
        return operations

    # ------------------------------------------------------------ deliver, commit

    def deliver_and_commit(self, operations: Operations, watermark: int) -> Settled:
        """Deliver while writing ahead, then settle — also after a failure, so what was accepted stays committed."""
        deliver = self.deliver_fn
        if deliver is None:
            from cio_retl.delivery import deliver
        writer = OutcomeWriter(OutcomeLog(operations.log), on_group=self.state.checkpoints.committed_outcomes)
        failure: BaseException | None = None
        stats: Any = None
        stream = operations.stream(on_written=lambda chunk: self.state.checkpoints.wrote_ahead(self.con, chunk))
        try:
            with self.timer("deliver"), self.progress.task("deliver", self.sync_name, total=operations.total) as advance, \
                    self.state.delivery_slot(self.project.destination, needed=operations.total > 0):
                stats = deliver(first_operations(stream, self.report), self.project.destination, on_outcomes=writer,
                                sync=self.sync_name, progress=advance)
        except BaseException as exc:  # settle first, then raise it
            failure = exc
        finally:
            stream.close()
            try:
                writer.close()
            except BaseException as exc:
                failure = failure or exc
        with self.timer("commit"), self.progress.task("commit", self.sync_name):
            try:
                settled = self.settle(watermark)
            except BaseException:
                if failure is not None:
                    raise failure from None  # the next run settles it (recover)
                raise
        self.report.record_delivery(stats if stats is not None else getattr(failure, "delivery_stats", None),
                                    writer.groups)
        settled.record(self.report)
        self.report.rejections = recent_rejections(self.con, self.report.run_id)
        self.report.stuck = self.state.stuck_count()
        if failure is not None:
            raise failure
        return settled

    def fail_if_pending(self, settled: Settled) -> None:
        """A run that could not deliver everything fails (exit 1), although what was accepted is committed."""
        if self.report.pending:
            raise DeliveryIncompleteError(self.sync_name, _pending_message(self.report, settled),
                                          hint="nothing is lost: the next run sends them again; check the host, "
                                               "the network, or Customer.io's status if this repeats")

    # ------------------------------------------------------------ helpers


def _pending_message(report: SyncReport, settled: Settled) -> str:
    reasons = "; ".join(f"{n} × {reason}" for reason, n in settled.pending_reasons.items())
    gave_up = (report.delivery or {}).get("gave_up")
    stopped = f" (stopped sending after every request in a row failed: {gave_up})" if gave_up else ""
    return (f"{report.pending} operation(s) still pending after the run's retries{stopped}: {reasons}; "
            f"{report.accepted} accepted operation(s) are committed")


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
