"""An interrupted run (Ctrl-C, SIGTERM, a terminated Dagster run): told apart from an error, and recorded with its counts."""

from __future__ import annotations

from cio_retl.errors import SyncInterrupted
from cio_retl.pipeline.report import SyncReport
from cio_retl.stopping import stop_requested


def interruption_cause(exc: BaseException) -> str | None:
    """What interrupted the run that raised `exc`, or None for an error. DuckDB turns Ctrl-C mid-query into its own
    error, so the signal received decides first."""
    return stop_requested() or (None if isinstance(exc, Exception) else _orchestrator_stop(exc))


def _orchestrator_stop(exc: BaseException) -> str | None:
    """Ctrl-C, or an orchestrator stopping the run (Dagster raises DagsterExecutionInterruptedError in the step)."""
    if isinstance(exc, KeyboardInterrupt):
        return "SIGINT"
    return "termination of the run" if type(exc).__name__ == "DagsterExecutionInterruptedError" else None


def interrupted(sync_name: str, cause: str, report: SyncReport, exc: BaseException) -> BaseException:
    """After delivery stopped and what Customer.io answered settled: the run is recorded as `interrupted`, and every
    operation without an answer (sent or not) counts as pending, so the counts add up."""
    answered = report.accepted + report.rejected - report.contract_violations
    report.pending = max(report.pending, report.operations - answered)
    report.status = "interrupted"
    report.error = (f"interrupted by {cause}: {report.accepted} accepted operation(s) are committed, "
                    f"{report.pending} not sent yet; nothing is lost: the next run finishes it")
    if isinstance(exc, KeyboardInterrupt) or stop_requested():
        return SyncInterrupted(sync_name, cause, report)
    exc.report = report  # type: ignore[attr-defined] # the orchestrator's own exception goes on, with the counts
    return exc
