"""Asset checks of a sync, evaluated from its SyncReport: model contract, rejection rate, stuck rows."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from cio_retl.project import DagsterSettings
from cio_retl.pipeline.report import SyncReport

CONTRACT = "model_contract"
REJECTION_RATE = "rejection_rate"
STUCK_ROWS = "stuck_rows"


DEFAULT_REJECTION_RATE = DagsterSettings.model_fields["rejection_rate_warn"].default


def check_specs(asset_key: dg.AssetKey | str | Sequence[str],
                rejection_rate_warn: float = DEFAULT_REJECTION_RATE) -> list[dg.AssetCheckSpec]:
    """The three checks every sync asset declares (they run with each materialization)."""
    asset_key = dg.AssetKey.from_coercible(asset_key)
    return [
        dg.AssetCheckSpec(CONTRACT, asset=asset_key,
                          description="Every model row has a non-null, unique primary key."),
        dg.AssetCheckSpec(REJECTION_RATE, asset=asset_key,
                          description=f"At most {rejection_rate_warn:.1%} of the run's operations were rejected."),
        dg.AssetCheckSpec(STUCK_ROWS, asset=asset_key,
                          description="No row has been rejected 5 times or more (fix the data or the mapping)."),
    ]


def evaluate(asset_key: dg.AssetKey, report: SyncReport, rejection_rate_warn: float) -> list[dg.AssetCheckResult]:
    """The results of the three checks for one run."""
    return [contract_check(asset_key, report), rejection_rate_check(asset_key, report, rejection_rate_warn),
            stuck_rows_check(asset_key, report)]


def contract_check(asset_key: dg.AssetKey, report: SyncReport) -> dg.AssetCheckResult:
    """Null or duplicate keys: those rows are skipped (recorded as rejections), so warn rather than fail."""
    return dg.AssetCheckResult(
        asset_key=asset_key, check_name=CONTRACT, passed=report.contract_violations == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"violations": report.contract_violations,
                  "samples": dg.MetadataValue.json(report.violation_samples[:10])})


def rejection_rate(report: SyncReport) -> float:
    """Rejected operations (including local and contract rejections) over all operations of the run."""
    total = max(report.operations, report.rejected)
    return report.rejected / total if total else 0.0


def rejection_rate_check(asset_key: dg.AssetKey, report: SyncReport, threshold: float) -> dg.AssetCheckResult:
    """Warn when more than `threshold` of the operations were rejected."""
    rate = rejection_rate(report)
    return dg.AssetCheckResult(
        asset_key=asset_key, check_name=REJECTION_RATE, passed=rate <= threshold,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejection_rate": round(rate, 4), "threshold": threshold, "rejected": report.rejected,
                  "operations": report.operations})


def stuck_rows_check(asset_key: dg.AssetKey, report: SyncReport) -> dg.AssetCheckResult:
    """Rows rejected again and again will never get through on their own: an error someone must act on."""
    return dg.AssetCheckResult(
        asset_key=asset_key, check_name=STUCK_ROWS, passed=report.stuck == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"stuck": report.stuck,
                  "see": dg.MetadataValue.text(f"cio-retl rejections {report.sync}")})
