"""Run several syncs of a project in dependency order, each to its own report; a failure stops only what depends on it."""

from __future__ import annotations

from typing import Any

from cio_retl.project import Project
from cio_retl.errors import SyncError, SyncInterrupted
from cio_retl.project.order import dependencies, prerequisites, run_order
from cio_retl.pipeline.aftermath import Aftermath
from cio_retl.pipeline.report import SyncReport
from cio_retl.pipeline.sync import new_run_id, run_sync


def run_syncs(project: Project, names: list[str], **options: Any) -> list[SyncReport]:
    """Run the named syncs (all when empty) in dependency order (cio_retl/project/order.py), whatever the order given;
    every sync gets a report, failed ones with their error. A sync whose prerequisite failed is not run (its
    events would reach people Customer.io may not know yet); the next run tries both again."""
    reports: list[SyncReport] = []
    failed: set[str] = set()
    needs = dependencies(project)
    for name in run_order(project, names):
        blocked = sorted(failed & prerequisites(needs, name))
        aftermath = Aftermath(project, name)
        if blocked:
            failed.add(name)
            report = SyncReport(sync=name, run_id=new_run_id(), status="failed", dry_run=bool(options.get("dry_run")),
                                error=str(SyncError(name, f"not run: {', '.join(blocked)} failed, and must run "
                                                    "before it", hint=f"fix {blocked[0]} and run again; both are "
                                                    "retried")))
        else:
            try:
                report = run_sync(project, name, on_finished=aftermath.capture, **options)
            except SyncInterrupted as exc:  # the syncs after it are not started; the caller prints what ran
                aftermath.finish(exc.report)
                exc.reports = [*reports, exc.report]
                raise
            except SyncError as exc:
                report = getattr(exc, "report", None) or SyncReport(sync=name, run_id=new_run_id(),
                                                                    dry_run=bool(options.get("dry_run")))
                report.status, report.error = "failed", str(exc)
                failed.add(name)
        aftermath.finish(report)  # alerts and the sync log; they warn, never change the result
        reports.append(report)
    return reports
