"""After a real run: its alert events sent and its sync log written back — both only warn, never change its result."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from cio_retl.pipeline.changelog import run_changelog
from cio_retl.pipeline.report import SyncReport
from cio_retl.project import Project
from cio_retl.project.redact import redact, secret_values

COUNTS = ("extracted", "added", "changed", "removed", "operations", "accepted", "rejected", "pending", "skipped",
          "unchanged", "requests")
# A safety net for alerts: cio-retl's messages name keys only for row-level problems, and a key may be an email.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
log = logging.getLogger("cio_retl.writeback")


class Aftermath:
    """What follows one run of one sync: create it before the run, call `finish(report)` after, failed or not."""

    def __init__(self, project: Project, sync: str) -> None:
        self.project, self.sync = project, sync
        self.started_at = datetime.now(timezone.utc)
        self.changelog: pa.Table | None = None  # the run's keys and fates, for the writeback
        self.model_columns: list[tuple[str, str]] = []  # (name, type) of what the model returned, for metadata
        self.problems: list[str] = []

    def capture(self, con: duckdb.DuckDBPyConnection, report: SyncReport) -> None:
        """run_sync's on_finished: the model's columns and, for a writeback, the run's per-key fates, read while
        the state is open."""
        self.model_columns = model_columns(con)
        writeback = self.project.writeback
        if writeback is None or report.dry_run:
            return
        try:
            table = run_changelog(con, self.project.sync(self.sync), report.run_id, values=writeback.values)
        except Exception as exc:  # the sync log is a convenience: it never fails the run
            self.problems.append(f"changelog not read: {type(exc).__name__}: {exc}")
            return
        n = table.num_rows
        constants = {"sync": self.sync, "run_id": report.run_id, "logged_at": datetime.now(timezone.utc)}
        table = table.rename_columns([c if c != "values" else "attribute_values" for c in table.column_names])
        for name, value in constants.items():
            table = table.append_column(name, pa.repeat(pa.scalar(value), n))
        self.changelog = table

    def finish(self, report: SyncReport) -> None:
        """Send the run's alerts and write its sync log; problems become warnings in the report (a dry run does
        neither)."""
        if report.dry_run:
            return
        finished_at = datetime.now(timezone.utc)
        secrets = secret_values(self.project)
        if self.project.writeback is not None:
            self._write_back(report, finished_at, secrets)
        if self.project.alerts is not None:
            from cio_retl.alerts import send_alerts  # httpx / slack_sdk only when alerts are configured

            events = alert_events(self.project, report, self.started_at, finished_at, secrets)
            report.warnings.extend(send_alerts(self.project.alerts, events, secrets=secrets))

    def _write_back(self, report: SyncReport, finished_at: datetime, secrets: list[str]) -> None:
        from cio_retl.writeback import write_sync_log  # warehouse clients only when a writeback is configured

        writeback = self.project.writeback
        space = workspace(self.project)
        run = {"sync": report.sync, "run_id": report.run_id, "workspace_host": space["host"],
               "workspace_site_id": space["site_id"], "started_at": self.started_at, "finished_at": finished_at,
               "status": report.status, "error": redact(report.error, secrets) if report.error else None,
               **{name: getattr(report, name) for name in COUNTS if name not in ("operations", "unchanged")}}
        try:
            write_sync_log(self.project, writeback, run, self.changelog)
        except Exception as exc:
            self.problems.append(f"not written to warehouse '{writeback.warehouse}' ({writeback.schema_}): "
                                 f"{type(exc).__name__}: {exc}")
        for problem in self.problems:
            warning = redact(f"sync log {problem} (the sync's result is unchanged; the next run writes its own)",
                             secrets)
            log.warning("sync '%s': %s", report.sync, warning)
            report.warnings.append(warning)


def model_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """The columns (name, DuckDB type) the model returned, from the extract's TEMP `stage`; none if it never ran."""
    try:
        return [(row[0], row[1]) for row in con.execute("DESCRIBE stage").fetchall() if row[0] not in ("_key", "_hash")]
    except duckdb.Error:
        return []


def workspace(project: Project) -> dict[str, str]:
    """The Customer.io workspace a run sent to: its API host (never a URL's credentials) and site id."""
    parts = urlsplit(project.destination.base_url)
    return {"host": parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "",
            "site_id": project.destination.site_id}


def alert_events(project: Project, report: SyncReport, started_at: datetime, finished_at: datetime,
                 secrets: list[str]) -> list[dict[str, Any]]:
    """`sync.completed` or `sync.failed`, plus `sync.rejections` when more than `alerts.rejection_rate` of the rows
    the run tried to send (every fate but unchanged) were rejected. Counts and cio-retl's error only: no row data."""
    fates = {fate: n for fate, n in report.fates.items() if fate != "unchanged"}
    tried, rejected = sum(fates.values()), report.fates.get("rejected", 0)
    error = _EMAIL.sub("<email>", redact(report.error, secrets)) if report.error else None
    base = {"sync": report.sync, "run_id": report.run_id, "workspace": workspace(project), "status": report.status,
            "started_at": started_at.isoformat(), "finished_at": finished_at.isoformat(),
            "duration_s": round(report.duration_s, 3), "counts": {name: getattr(report, name) for name in COUNTS},
            "fates": dict(report.fates), "error": error}
    events = [{"event": "sync.completed" if report.status == "success" else "sync.failed", **base}]
    threshold = project.alerts.rejection_rate if project.alerts else 1.0
    if tried and rejected / tried > threshold:
        events.append({"event": "sync.rejections", **base, "rejected_rows": rejected,
                       "rejection_rate": round(rejected / tried, 4), "threshold": threshold})
    return events
