"""CustomerIoSync, the one Dagster resource of cio-retl: `run()` runs a sync and yields Dagster's results for it."""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from cio_retl.project import Project, config_path, load_project
from cio_retl.errors import CioRetlError, MassClearError, MassDeleteError
from cio_retl.project.overrides import with_overrides
from cio_retl.project.redact import redact, secret_values
from cio_retl.pipeline.aftermath import Aftermath
from cio_retl.pipeline.report import SyncReport, report_metadata
from cio_retl.pipeline.sync import new_run_id, run_sync
from cio_retl.dagster.checks import evaluate
from cio_retl.dagster.standard_metadata import standard_metadata

SITE_ID_ENV = "CUSTOMERIO_SITE_ID"
API_KEY_ENV = "CUSTOMERIO_TRACK_API_KEY"
WRITE_KEY_ENV = "CUSTOMERIO_WRITE_KEY"
_LAUNCHPAD_HINT = "\n  → in Dagster: Materialize ▾ → Open launchpad, and set {flag}: true"


class SyncRunConfig(dg.Config):
    """Run config of a sync, editable in the Launchpad."""

    full_resync: bool = Field(False, description="Ignore the snapshot and send every row again.")
    dry_run: bool = Field(False, description="Extract, diff and build operations, but send nothing and keep state.")
    allow_mass_delete: bool = Field(False, description="Let a mirror run delete more than max_delete_fraction.")
    allow_clear: bool = Field(False, description="Let a run set an attribute to null for more than "
                              "max_clear_fraction of its rows.")


class CustomerIoSync(dg.ConfigurableResource):
    """Runs the syncs of a cio-retl project file: `yield from customerio.run(context, "people")` in an asset.

    The project file is read when a run starts, with its secrets; the fields below override it per deployment.
    """

    config_path: str | None = Field(None, description="Path of cio_retl.yaml; default: $CIO_RETL_CONFIG, else "
                                    "./cio_retl.yaml (as the CLI).")
    site_id: str | None = Field(None, description=f"Track API Site ID (bind with EnvVar('{SITE_ID_ENV}')).")
    api_key: str | None = Field(None, description=f"Track API key (bind with EnvVar('{API_KEY_ENV}')).")
    write_key: str | None = Field(None, description=f"Data Pipelines write key, for destination api: pipelines "
                                  f"(bind with EnvVar('{WRITE_KEY_ENV}')).")
    region: str | None = Field(None, description="us or eu; default: the project file's.")
    url: str | None = Field(None, description="Base-URL override, e.g. the local sandbox.")
    state: str | None = Field(None, description="State folder; default: `state:` of the project file.")
    warehouses: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Warehouse name → settings merged over its block (e.g. another DuckDB file).")

    @classmethod
    def from_environment(cls, project_file: str | Path | None = None) -> CustomerIoSync:
        """The resource for a project file, binding the destination's secrets as EnvVars when they are set:
        Dagster resolves them when a run starts and shows only the variables' names."""
        bound = {field: dg.EnvVar(var) for field, var in (("site_id", SITE_ID_ENV), ("api_key", API_KEY_ENV),
                                                                 ("write_key", WRITE_KEY_ENV))
                 if var in os.environ}
        path = str(Path(project_file).resolve()) if project_file else None
        return cls(config_path=path, **bound)

    def load_project(self) -> Project:
        """The project file as it is now, secrets resolved, with this resource's overrides."""
        destination = {"site_id": self.site_id, "api_key": self.api_key, "write_key": self.write_key,
                       "region": self.region, "url": self.url}
        return with_overrides(load_project(config_path(self.config_path)), destination=destination,
                              warehouses=self.warehouses, state=self.state)

    def run(self, context: dg.AssetExecutionContext, sync: str | None = None, *,
            config: SyncRunConfig | None = None,
            model_assets: list[dg.AssetKey] | None = None) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
        """Run `sync` (default: the asset key's last part) for the run's partition window, if any.

        Yields a MaterializeResult with the run's counts and the results of the checks the asset declares;
        a dry run yields an AssetObservation instead (nothing was sent, so the asset is not fresher). A failed
        sync raises dagster.Failure with cio-retl's message and the counts so far, secrets masked.
        `model_assets`: the asset(s) the model reads, for column lineage (default: the asset's upstream keys
        outside customerio/).
        """
        sync = sync or context.asset_key.path[-1]
        config = config or SyncRunConfig()
        window = partition_window(context)
        secrets = [key for key in (self.api_key, self.write_key) if key]
        try:
            project = self.load_project()
            secrets = secret_values(project)
            context.log.info(f"sync '{sync}'" + (f" window {window[0]:%Y-%m-%d} → {window[1]:%Y-%m-%d}" if window
                                                 else "") + (" (dry run)" if config.dry_run else ""))
            aftermath = Aftermath(project, sync)
            try:
                report = run_sync(project, sync, full_resync=config.full_resync, dry_run=config.dry_run,
                                  allow_mass_delete=config.allow_mass_delete, allow_clear=config.allow_clear,
                                  window=window, on_finished=aftermath.capture)
            except CioRetlError as exc:
                # Alerts and the sync log of the failed run, as the CLI sends them (also when it never started).
                aftermath.finish(getattr(exc, "report", None) or SyncReport(
                    sync=sync, run_id=new_run_id(), status="failed", dry_run=config.dry_run, error=str(exc)))
                raise
            aftermath.finish(report)
        except CioRetlError as exc:
            flag = {MassDeleteError: "allow_mass_delete", MassClearError: "allow_clear"}.get(type(exc))
            message = str(exc) + (_LAUNCHPAD_HINT.format(flag=flag) if flag else "")
            # from None: the chain would carry the driver's unmasked message into the event log.
            raise _failure(message, getattr(exc, "report", None), window, secrets) from None
        except Exception as exc:  # a bug: keep its traceback for the report, masked, but not its chain
            raise _failure(f"sync '{sync}': unexpected {type(exc).__name__}: {exc}", None, window, secrets,
                           trace="".join(traceback.format_exception(exc))) from None
        values = report_metadata(report, window=window, sample_operations=project.dagster.sample_operations)
        metadata = dagster_metadata(redact(values, secrets))
        if report.dry_run:
            context.log.info(f"dry run of sync '{sync}': nothing was sent and no state changed, so no materialization "
                             "is recorded; the counts are an asset observation")
            yield dg.AssetObservation(asset_key=context.asset_key, metadata=metadata,
                                      partition=context.partition_key if context.has_partition_key else None)
            return
        metadata.update(standard_metadata(project.sync(sync), aftermath.model_columns, report.extracted,
                                          partitioned=window is not None,
                                          upstream=_model_assets(context) if model_assets is None else model_assets))
        declared = context.selected_asset_check_keys  # an asset of your own may declare fewer checks, or none
        checks = [result for result in evaluate(context.asset_key, report, project.dagster.rejection_rate_warn)
                  if dg.AssetCheckKey(context.asset_key, result.check_name) in declared]
        yield dg.MaterializeResult(asset_key=context.asset_key, metadata=metadata, check_results=checks)


def _model_assets(context: dg.AssetExecutionContext) -> list[dg.AssetKey]:
    """The assets the sync's model reads: the asset's upstream keys, less the syncs it runs after (customerio/…)."""
    spec = next((spec for spec in context.assets_def.specs if spec.key == context.asset_key), None)
    return [dep.asset_key for dep in (spec.deps if spec else []) if dep.asset_key.path[0] != "customerio"]


def partition_window(context: dg.AssetExecutionContext) -> tuple[datetime, datetime] | None:
    """[start, end) of the run's partition or partition range (a backfill); None for an unpartitioned run."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    return window.start, window.end


def _failure(message: str, report: SyncReport | None, window: tuple[datetime, datetime] | None,
             secrets: list[str], trace: str | None = None) -> dg.Failure:
    """cio-retl's message (it names the sync and what to do) and the failed run's counts, secrets masked."""
    values: dict[str, Any] = report_metadata(report, window=window) if report is not None else {}
    if trace:
        values["traceback"] = trace
    return dg.Failure(description=redact(message, secrets), metadata=dagster_metadata(redact(values, secrets)),
                      allow_retries=False)


def dagster_metadata(values: dict[str, Any]) -> dict[str, dg.MetadataValue]:
    """cio-retl's plain metadata as Dagster values: numbers plot over runs, rejections are a table."""
    metadata: dict[str, dg.MetadataValue] = {}
    for name, value in values.items():
        metadata[name] = _value(name, value)
    return metadata


def _value(name: str, value: Any) -> dg.MetadataValue:
    if name == "rejections":
        return rejections_table(value)
    if name == "warnings":
        return dg.MetadataValue.md("\n".join(f"- {line}" for line in value))
    if name == "traceback":
        return dg.MetadataValue.md(f"```\n{value}\n```")
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    if isinstance(value, str):
        return dg.MetadataValue.text(value)
    return dg.MetadataValue.json(value)


def rejections_table(rows: list[dict[str, Any]]) -> dg.TableMetadataValue:
    """The run's rejections (the first ones; `cio-retl rejections <sync>` lists all) as a table."""
    schema = dg.TableSchema(columns=[
        dg.TableColumn("key", "string"), dg.TableColumn("action", "string"), dg.TableColumn("reason", "string"),
        dg.TableColumn("status_code", "int"), dg.TableColumn("attempts", "int"),
        dg.TableColumn("explain", "string", description="The command that shows this row's whole story.")])
    return dg.MetadataValue.table(records=[dg.TableRecord(row) for row in rows], schema=schema)
