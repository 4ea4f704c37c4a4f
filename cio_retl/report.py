"""SyncReport: what one run of one sync did — counts, timings, samples, rejections — for the CLI and Dagster."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
    status: Literal["success", "failed"] = "success"
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

    @property
    def rows_per_second(self) -> float:
        """Extracted rows per second of the whole run."""
        return round(self.extracted / self.duration_s, 1) if self.duration_s > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        """The flat fields of `run --json` (one object per sync)."""
        keys = ("sync", "status", "extracted", "added", "changed", "removed", "operations", "accepted",
                "rejected", "pending", "skipped", "requests", "duration_s", "error")
        data = {key: getattr(self, key) for key in keys}
        data["duration_s"] = round(self.duration_s, 3)
        return data

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-serialisable."""
        data = asdict(self)
        data["rows_per_second"] = self.rows_per_second
        return data
