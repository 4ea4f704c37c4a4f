"""Run several syncs of a project one after another, each to its own report; a failed sync does not stop the rest."""

from __future__ import annotations

from typing import Any

from cio_retl.config import Project
from cio_retl.errors import SyncError
from cio_retl.report import SyncReport
from cio_retl.sync import new_run_id, run_sync


def run_syncs(project: Project, names: list[str], **options: Any) -> list[SyncReport]:
    """Run the named syncs (all when empty); every sync gets a report, failed ones with their error."""
    reports = []
    for name in names or list(project.syncs):
        try:
            reports.append(run_sync(project, name, **options))
        except SyncError as exc:
            report = getattr(exc, "report", None) or SyncReport(sync=name, run_id=new_run_id())
            report.status, report.error = "failed", str(exc)
            reports.append(report)
    return reports
