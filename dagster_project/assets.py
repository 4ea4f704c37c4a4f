"""One Dagster asset per sync (customerio/<sync>) that calls run_sync() and returns its SyncReport as metadata."""

# No `from __future__ import annotations`: Dagster reads the asset function's annotations as real types.
import json
import re
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, SecretStr

from cio_retl.config import Project, Sync
from cio_retl.errors import CioRetlError
from cio_retl.report import SyncReport
from cio_retl.sync import run_sync
from dagster_project.checks import check_specs, evaluate
from dagster_project.resources import CustomerIoResource, ProjectResource, StateStoreResource, WarehousesResource
from dagster_project.settings import DagsterSettings

GROUP = "reverse_etl"
WAREHOUSE_GROUP = "warehouse"
MAX_REJECTION_ROWS = 50
MAX_SAMPLE_OPERATIONS = 5
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_]")


class SyncRunConfig(dg.Config):
    """Run config of a sync, editable in the Launchpad."""

    full_resync: bool = Field(False, description="Ignore the snapshot and send every row again.")
    dry_run: bool = Field(False, description="Extract, diff and build operations, but send nothing and keep state.")
    allow_mass_delete: bool = Field(False, description="Let a mirror run delete more than max_delete_fraction.")


def sync_asset_key(sync_name: str) -> dg.AssetKey:
    """customerio/<sync>."""
    return dg.AssetKey(["customerio", sync_name])


def warehouse_asset_key(project: Project, sync_name: str) -> dg.AssetKey:
    """warehouse/<warehouse>/<model>: the model file's stem, the table's name, or the sync's name for a query."""
    sync = project.sync(sync_name)
    model = Path(sync.model).stem if sync.model else (sync.table or sync_name)
    return dg.AssetKey(["warehouse", sync.warehouse, _NOT_A_NAME.sub("_", model)])


def warehouse_specs(project: Project) -> list[dg.AssetSpec]:
    """External assets for the warehouse models (Dagster does not materialize them; they give the lineage)."""
    specs: dict[dg.AssetKey, dg.AssetSpec] = {}
    for name, sync in project.syncs.items():
        key = warehouse_asset_key(project, name)
        kind = project.warehouses[sync.warehouse].type
        specs.setdefault(key, dg.AssetSpec(key, group_name=WAREHOUSE_GROUP, kinds={kind},
                                           description=f"Model read by cio-retl from warehouse '{sync.warehouse}'."))
    return list(specs.values())


def partitions_for(sync: Sync, settings: DagsterSettings) -> dg.DailyPartitionsDefinition | None:
    """Daily partitions for a sync with `partition_by`; from a configured date, never from a warehouse query."""
    if not sync.partition_by:
        return None
    start = sync.partition_start or settings.default_partition_start
    # end_offset=1: today's partition exists too, so today's events can be re-sent from the UI.
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)


def build_sync_asset(project: Project, sync_name: str, settings: DagsterSettings) -> dg.AssetsDefinition:
    """The asset of one sync: deps on its warehouse model, code_version from the model SQL and mappings."""
    sync = project.sync(sync_name)
    key = sync_asset_key(sync_name)
    partitions = partitions_for(sync, settings)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # backfill_policy is beta in 1.13 and works as needed
        return _sync_asset(project, sync_name, sync, key, partitions, settings)


def _sync_asset(project: Project, sync_name: str, sync: Sync, key: dg.AssetKey,
                partitions: dg.DailyPartitionsDefinition | None, settings: DagsterSettings) -> dg.AssetsDefinition:
    @dg.asset(
        key=key,
        group_name=GROUP,
        deps=[warehouse_asset_key(project, sync_name)],
        code_version=project.config_hash(sync_name),
        description=sync.description or _describe(sync),
        metadata=_static_metadata(sync),
        kinds={"customerio", project.warehouses[sync.warehouse].type},
        partitions_def=partitions,
        # A range of partitions (a UI backfill) runs as one window, so runs of one sync never overlap.
        backfill_policy=dg.BackfillPolicy.single_run() if partitions else None,
        check_specs=check_specs(key, settings.rejection_rate_warn),
        pool=settings.pool,
    )
    def _sync(context: dg.AssetExecutionContext, config: SyncRunConfig, project_file: ProjectResource,
              warehouses: WarehousesResource, customerio: CustomerIoResource,
              state_store: StateStoreResource) -> Iterator[dg.MaterializeResult]:
        window = partition_window(context)
        secrets = _secrets(project) + [customerio.api_key or ""]
        try:
            loaded = state_store.apply(customerio.apply(warehouses.apply(project_file.load())))
            context.log.info(f"sync '{sync_name}'" + (f" window {window[0]:%Y-%m-%d} → {window[1]:%Y-%m-%d}"
                                                      if window else ""))
            report = run_sync(loaded, sync_name, full_resync=config.full_resync, dry_run=config.dry_run,
                              allow_mass_delete=config.allow_mass_delete, window=window)
        except CioRetlError as exc:
            # The library's message names the sync, the key and what to do; show that, not a traceback.
            failed = getattr(exc, "report", None)
            raise dg.Failure(description=_scrub(str(exc), secrets),
                             metadata=_scrubbed(report_metadata(failed), secrets) if failed else None) from exc
        yield dg.MaterializeResult(
            metadata=_scrubbed(report_metadata(report, window), secrets + _secrets(loaded)),
            check_results=evaluate(key, report, settings.rejection_rate_warn),
        )

    return _sync


def partition_window(context: dg.AssetExecutionContext) -> tuple[datetime, datetime] | None:
    """[start, end) of the run's partition or partition range (a backfill); None for an unpartitioned run."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    return window.start, window.end


def report_metadata(report: SyncReport, window: tuple[datetime, datetime] | None = None) -> dict[str, Any]:
    """Counts and timings as numbers (the UI plots them over runs), rejections as a table, samples as JSON."""
    metadata: dict[str, Any] = {
        "dagster/row_count": report.extracted,
        **{name: dg.MetadataValue.int(getattr(report, name)) for name in
           ("extracted", "added", "changed", "removed", "operations", "accepted", "rejected", "pending",
            "requests", "retries", "contract_violations", "stuck")},
        "duration_s": dg.MetadataValue.float(round(report.duration_s, 3)),
        "rows_per_second": dg.MetadataValue.float(float(report.rows_per_second)),
        "dry_run": dg.MetadataValue.bool(report.dry_run),
        "full_resync": dg.MetadataValue.bool(report.full_resync),
        "cio_retl_run_id": dg.MetadataValue.text(report.run_id),
        "operations_by_action": dg.MetadataValue.json(report.operations_by_action),
        "stage_seconds": dg.MetadataValue.json(report.stage_seconds),
        "rejections": rejections_table(report),
        "sample_operations": dg.MetadataValue.json(report.sample_operations[:MAX_SAMPLE_OPERATIONS]),
    }
    if report.delivery:  # rate limiting, bytes, splits: why a run took as long as it did
        metadata["delivery"] = dg.MetadataValue.json(report.delivery)
    if window:
        metadata["window"] = dg.MetadataValue.text(f"{window[0].isoformat()} → {window[1].isoformat()}")
    if report.warnings:
        metadata["warnings"] = dg.MetadataValue.md("\n".join(f"- {warning}" for warning in report.warnings))
    return metadata


def rejections_table(report: SyncReport) -> dg.TableMetadataValue:
    """The run's rejections (first MAX_REJECTION_ROWS) as a table: key, action, reason, status, attempts."""
    schema = dg.TableSchema(columns=[
        dg.TableColumn("key", "string"), dg.TableColumn("action", "string"), dg.TableColumn("reason", "string"),
        dg.TableColumn("status_code", "int"), dg.TableColumn("attempts", "int")])
    records = [dg.TableRecord({"key": r.key, "action": r.action, "reason": r.reason,
                               "status_code": r.status_code if r.status_code is not None else -1,
                               "attempts": r.attempts})
               for r in report.rejections[:MAX_REJECTION_ROWS]]
    return dg.MetadataValue.table(records=records, schema=schema)


def _describe(sync: Sync) -> str:
    source = sync.model or sync.table or "an inline query"
    return f"{sync.type} calls ({sync.mode}) from {source} to Customer.io."


def _static_metadata(sync: Sync) -> dict[str, Any]:
    data = {"type": sync.type, "mode": sync.mode, "warehouse": sync.warehouse,
            "primary_key": ", ".join(sync.key_columns)}
    optional = {"model": sync.model, "table": sync.table, "event": sync.event, "schedule": sync.schedule,
                "partition_by": sync.partition_by}
    return {**data, **{name: value for name, value in optional.items() if value}}


def _secrets(project: Project) -> list[str]:
    """Every secret value in the project (destination key, warehouse passwords/URLs), to scrub from output."""
    found = [project.destination.api_key]
    found += [value for warehouse in project.warehouses.values() for _, value in warehouse
              if isinstance(value, SecretStr)]
    return [secret.get_secret_value() for secret in found if secret.get_secret_value()]


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in filter(None, secrets):
        text = text.replace(secret, "**********")
    return text


def _scrubbed(metadata: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    """Defence in depth: sample bodies and messages come from data, so mask any secret that slipped in."""
    if not any(secrets):
        return metadata
    out = {}
    for name, value in metadata.items():
        if isinstance(value, dg.JsonMetadataValue):
            value = dg.MetadataValue.json(json.loads(_scrub(json.dumps(value.data), secrets)))
        elif isinstance(value, dg.TextMetadataValue):
            value = dg.MetadataValue.text(_scrub(value.text, secrets))
        elif isinstance(value, dg.MarkdownMetadataValue):
            value = dg.MetadataValue.md(_scrub(value.md_str, secrets))
        out[name] = value
    return out
