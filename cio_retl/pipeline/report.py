"""SyncReport: what one run of one sync did — counts, timings, samples, rejections — for the CLI and Dagster."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal


@dataclass
class Rejection:
    """One row Customer.io (or a local check) refused, with the reason."""

    key: str
    action: str
    status_code: int | None
    reason: str
    attempts: int = 1


@dataclass
class SyncReport:
    """The result of run_sync(); the CLI prints it and Dagster turns it into metadata."""

    sync: str
    run_id: str
    status: Literal["success", "failed", "interrupted"] = "success"
    dry_run: bool = False
    full_resync: bool = False
    extracted: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    contract_violations: int = 0
    violation_samples: list[str] = field(default_factory=list)
    operations: int = 0
    accepted: int = 0      # operations Customer.io accepted
    rejected: int = 0      # operations refused (by Customer.io or a local check) and rows breaking the contract
    pending: int = 0       # operations without an answer after the run's retries (the run fails; sent next run)
    skipped: int = 0       # rows that needed no operation: no action matched, or an append-mode change
    unchanged: int = 0     # rows equal to what Customer.io last accepted
    fates: dict[str, int] = field(default_factory=dict)  # rows per fate: delivered, rejected, pending, skipped, unchanged
    stuck: int = 0
    commit_groups: int = 0
    recovered: dict[str, Any] = field(default_factory=dict)  # an interrupted run this run finished: run_id, fates
    requests: int = 0
    retries: int = 0
    duration_s: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    delivery: dict[str, Any] = field(default_factory=dict)
    operations_by_action: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    sample_calls: list[dict[str, Any]] = field(default_factory=list)
    sample_operations: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def record_delivery(self, stats: Any, commit_groups: int) -> None:
        """Delivery's figures (a `delivery.DeliveryStats`, or None when it failed before returning) into the report."""
        self.commit_groups = commit_groups
        if stats is not None:
            self.requests, self.retries = stats.requests, getattr(stats, "retries", 0)
            self.delivery = stats.as_dict() if hasattr(stats, "as_dict") else {}

    @property
    def rows_per_second(self) -> float:
        """Extracted rows per second of the whole run."""
        return round(self.extracted / self.duration_s, 1) if self.duration_s > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        """The flat fields of `run --json` (one object per sync)."""
        keys = ("sync", "status", "extracted", "added", "changed", "removed", "operations", "accepted",
                "rejected", "pending", "skipped", "requests", "duration_s", "error")
        data = {key: getattr(self, key) for key in keys}
        # rejected = operations refused + rows the model contract kept back (not_sent), so the counts add up:
        # accepted + rejected + pending = operations + not_sent
        data["not_sent"] = self.contract_violations
        data["duration_s"] = round(self.duration_s, 3)
        return data

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-serialisable."""
        data = asdict(self)
        data["rows_per_second"] = self.rows_per_second
        return data


MAX_REJECTION_ROWS = 50
MAX_SAMPLE_OPERATIONS = 5
REJECTION_COLUMNS = ("key", "action", "reason", "status_code", "attempts", "explain")


def explain_command(sync: str, key: str | None) -> str:
    """The command that explains one row: `cio-retl explain SYNC KEY…` (a composite key's values in order)."""
    values: list[str] = []
    if key is not None and key.startswith("["):
        try:
            values = [str(v) for v in json.loads(key)]
        except ValueError:
            values = [key]
    elif key is not None:
        values = [key]
    return " ".join(["cio-retl", "explain", shlex.quote(sync), *map(shlex.quote, values)])


def report_metadata(report: SyncReport, *, window: tuple[datetime, datetime] | None = None,
                    sample_operations: bool = False) -> dict[str, Any]:
    """A run's report as plain metadata values for an orchestrator (Dagster turns them into its types).

    Every integer field of the report is a count (so counts added to SyncReport show up by themselves);
    `rejections` is a list of rows with REJECTION_COLUMNS; `warnings` a list of lines. Row content (people's
    attributes) is included only with `sample_operations`; rejections carry the row's key, never its values.
    """
    counts = {f.name: getattr(report, f.name) for f in fields(report)
              if type(getattr(report, f.name)) is int}  # not bool, a subclass of int
    metadata: dict[str, Any] = {
        **counts,
        "duration_s": round(report.duration_s, 3),
        "rows_per_second": float(report.rows_per_second),
        "dry_run": report.dry_run,
        "full_resync": report.full_resync,
        "cio_retl_run_id": report.run_id,
        "operations_by_action": dict(report.operations_by_action),
        "stage_seconds": dict(report.stage_seconds),
        "rejections": [{"key": r.key, "action": r.action, "reason": r.reason,
                        "status_code": r.status_code if r.status_code is not None else -1, "attempts": r.attempts,
                        "explain": explain_command(report.sync, r.key)}
                       for r in report.rejections[:MAX_REJECTION_ROWS]],
    }
    # delivery: rate limiting, bytes, splits; fates: where each row ended up; recovered: a crashed run finished
    for name in ("delivery", "fates", "recovered"):
        if getattr(report, name, None):
            metadata[name] = dict(getattr(report, name))
    if window:
        metadata["window"] = f"{window[0].isoformat()} → {window[1].isoformat()}"
    if report.warnings:
        metadata["warnings"] = list(report.warnings)
    if report.status != "success":
        metadata["status"] = report.status
    if sample_operations:
        metadata["sample_operations"] = report.sample_operations[:MAX_SAMPLE_OPERATIONS]
    return metadata
