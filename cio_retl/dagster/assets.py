"""One Dagster asset per sync (customerio/<sync>), downstream of the asset(s) its model reads; CustomerIoSync runs it."""

# No `from __future__ import annotations`: Dagster reads the asset function's annotations as real types.
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from cio_retl.project import Project, Sync
from cio_retl.project.order import dependencies
from cio_retl.dagster.checks import check_specs
from cio_retl.dagster.resource import CustomerIoSync, SyncRunConfig

GROUP = "reverse_etl"
WAREHOUSE_GROUP = "warehouse"
SYNC_TAG = "cio_retl/sync"  # on each sync asset, and lifted onto every run of it (see run_coordinator.py)
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_]")


def sync_asset_key(sync_name: str) -> dg.AssetKey:
    """customerio/<sync>."""
    return dg.AssetKey(["customerio", sync_name])


def warehouse_asset_key(project: Project, sync_name: str) -> dg.AssetKey:
    """warehouse/<warehouse>/<model>: the model file's stem, the table's name, or the sync's name for a query."""
    sync = project.sync(sync_name)
    model = Path(sync.model).stem if sync.model else (sync.table or sync_name)
    return dg.AssetKey(["warehouse", sync.warehouse, _NOT_A_NAME.sub("_", model)])


def upstream_keys(project: Project, sync_name: str) -> list[dg.AssetKey]:
    """The sync's `upstream` keys (e.g. the dbt model building its table), else its external warehouse asset."""
    keys = project.sync(sync_name).upstream_keys
    if keys is None:
        return [warehouse_asset_key(project, sync_name)]
    return [dg.AssetKey(key) for key in keys]


def warehouse_specs(project: Project) -> list[dg.AssetSpec]:
    """External assets for the models of syncs without `upstream` (Dagster does not materialize them)."""
    specs: dict[dg.AssetKey, dg.AssetSpec] = {}
    for name, sync in project.syncs.items():
        if sync.upstream is not None:
            continue
        key = warehouse_asset_key(project, name)
        kind = project.warehouses[sync.warehouse].type
        specs.setdefault(key, dg.AssetSpec(key, group_name=WAREHOUSE_GROUP, kinds={kind},
                                           description=f"Model read by cio-retl from warehouse '{sync.warehouse}'."))
    return list(specs.values())


def partitions_for(project: Project, sync: Sync) -> dg.DailyPartitionsDefinition | None:
    """Daily partitions for a sync with `partition_by`; from a configured date, never from a warehouse query."""
    if not sync.partition_by:
        return None
    start = sync.partition_start or project.dagster.partition_start
    # end_offset=1: today's partition exists too, so today's events can be re-sent from the UI.
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)


def automation_condition(sync: Sync) -> dg.AutomationCondition | None:
    """`automation: eager | on_missing | on_cron <cron>` as Dagster's condition of the same name (UTC crons)."""
    if not sync.automation:
        return None
    name, _, cron = sync.automation.strip().partition(" ")
    if name == "on_cron":
        return dg.AutomationCondition.on_cron(cron.strip(), cron_timezone="UTC")
    return dg.AutomationCondition.eager() if name == "eager" else dg.AutomationCondition.on_missing()


def freshness_policy(sync: Sync) -> dg.FreshnessPolicy | None:
    """`freshness:` as Dagster's time-window FreshnessPolicy (the asset is overdue after `fail_after`)."""
    if sync.freshness is None:
        return None
    return dg.FreshnessPolicy.time_window(fail_window=sync.freshness.fail_after,
                                          warn_window=sync.freshness.warn_after)


def build_sync_asset(project: Project, sync_name: str) -> dg.AssetsDefinition:
    """The asset of one sync as the project file describes it (CustomerIoSyncComponent builds every one)."""
    return sync_asset(project, sync_name, sync_asset_spec(project, sync_name))


def sync_asset_spec(project: Project, sync_name: str) -> dg.AssetSpec:
    """The spec of one sync's asset: code_version from the model SQL and mappings, deps, partitions' kinds,
    automation, freshness, tags (SYNC_TAG names the sync whatever the key)."""
    sync = project.sync(sync_name)
    return dg.AssetSpec(
        sync_asset_key(sync_name),
        group_name=GROUP,
        # The model it reads, and the syncs that must run first (cio_retl/project/order.py): people before their events.
        deps=[*upstream_keys(project, sync_name), *(sync_asset_key(name) for name in dependencies(project)[sync_name])],
        code_version=project.config_hash(sync_name),
        description=sync.description or _describe(sync),
        metadata=_static_metadata(sync),
        tags={SYNC_TAG: sync_name},
        kinds={"customerio", project.warehouses[sync.warehouse].type},
        automation_condition=automation_condition(sync),
        freshness_policy=freshness_policy(sync),
        skippable=True,  # a dry run records an observation, not a materialization…
    )


RunSync = Callable[[dg.AssetExecutionContext, CustomerIoSync, str, SyncRunConfig],
                   Iterator[dg.MaterializeResult | dg.AssetObservation]]


def _run_with_resource(context: dg.AssetExecutionContext, customerio: CustomerIoSync, sync_name: str,
                       config: SyncRunConfig) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
    yield from customerio.run(context, sync_name, config=config)


def sync_asset(project: Project, sync_name: str, spec: dg.AssetSpec, execute: RunSync = _run_with_resource, *,
               pool: str | None = None, op_tags: dict[str, Any] | None = None) -> dg.AssetsDefinition:
    """The asset of one sync from its spec: checks, pool, partitions; `execute` runs it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # backfill_policy is beta in 1.13 and works as needed
        partitions = partitions_for(project, project.sync(sync_name))

        @dg.multi_asset(
            name=f"customerio__{sync_name}",  # the op, and so the Launchpad's `ops:` key
            specs=[spec],
            check_specs=check_specs(spec.key, project.dagster.rejection_rate_warn),
            can_subset=True,  # …and evaluates no check: outputs, check results included, are optional
            partitions_def=partitions,
            # A range of partitions (a UI backfill) runs as one window, so runs of one sync never overlap.
            backfill_policy=dg.BackfillPolicy.single_run() if partitions else None,
            pool=pool or project.dagster.pool,
            op_tags=op_tags,
        )
        def _sync(context: dg.AssetExecutionContext, config: SyncRunConfig,
                  customerio: CustomerIoSync) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
            yield from execute(context, customerio, sync_name, config)

    return _sync


def _describe(sync: Sync) -> str:
    source = sync.model or sync.table or "an inline query"
    return f"{sync.type} calls ({sync.mode}) from {source} to Customer.io."


def _static_metadata(sync: Sync) -> dict[str, Any]:
    data = {"type": sync.type, "mode": sync.mode, "warehouse": sync.warehouse,
            "primary_key": ", ".join(sync.key_columns)}
    optional = {"model": sync.model, "table": sync.table, "event": sync.event, "schedule": sync.schedule,
                "automation": sync.automation, "partition_by": sync.partition_by}
    return {**data, **{name: value for name, value in optional.items() if value}}
