"""CustomerIoSyncComponent: a project file's syncs as Dagster assets, by Dagster's component conventions (`defs.yaml`)."""

# No `from __future__ import annotations`: Dagster resolves the component's fields from their real types.
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import dagster as dg
from dagster.components.resolved.core_models import OpSpec
from dagster.components.resolved.model import Resolver
from dagster.components.scaffold.scaffold import scaffold_with
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver

from cio_retl.errors import ConfigError
from cio_retl.project import Project, Sync, load_project
from cio_retl.dagster.assets import sync_asset, sync_asset_key, sync_asset_spec, warehouse_specs
from cio_retl.dagster.component_scaffolder import CustomerIoSyncScaffolder
from cio_retl.dagster.jobs import build_sync_job
from cio_retl.dagster.resource import CustomerIoSync, SyncRunConfig
from cio_retl.dagster.schedules import build_automation_sensors, build_schedules

RESOURCE_KEY = "customerio"


@dataclass(frozen=True)
class SyncTranslationData:
    """What a `translation` template sees: `{{ sync }}` (its name) and `{{ props }}` (its settings)."""

    name: str
    sync: Sync


@scaffold_with(CustomerIoSyncScaffolder)
@dataclass
class CustomerIoSyncComponent(dg.Component, dg.Resolvable):
    """The syncs of a cio-retl project file as assets, checks, jobs, schedules and automation sensors.

    `dg scaffold defs cio_retl.CustomerIoSyncComponent syncs` writes a `defs.yaml` using it. Override
    `get_asset_spec` to shape each sync's asset, and `execute` to run something around a sync.
    """

    project_file: Annotated[str, Resolver.default(
        description="The project file (cio_retl.yaml), relative to this defs.yaml's folder or absolute.",
        examples=["../../../../cio_retl.yaml"])] = "cio_retl.yaml"
    syncs: Annotated[list[str] | None, Resolver.default(
        description="The syncs to load (default: all of the project file).", examples=[["people", "orders"]])] = None
    translation: Annotated[
        TranslationFn[SyncTranslationData] | None,
        TranslationFnResolver(template_vars_for_translation_fn=lambda data: {"sync": data.name, "props": data.sync}),
    ] = None
    op: Annotated[OpSpec | None, Resolver.default(
        description="Settings of every sync's op: `pool` (default: the project file's dagster.pool) and `tags`.",
        examples=[{"pool": "customerio", "tags": {"team": "growth"}}])] = None

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        file = Path(self.project_file)
        file = file if file.is_absolute() else (context.path / file)
        # Secrets stay unread here: each run loads the project file again, with them (CustomerIoSync).
        return self.build_definitions(load_project(file, credentials="none"), file.resolve())

    def build_definitions(self, project: Project, project_file: Path) -> dg.Definitions:
        """Everything Dagster shows for the selected syncs of a loaded project; reads no secret."""
        selected = self._selected(project)
        self._check_op()
        specs = {name: self.get_asset_spec(project, name) for name in selected}
        # A translated key also moves the edges from the syncs that run after it.
        moved = {sync_asset_key(name): spec.key for name, spec in specs.items()}
        specs = {name: spec.replace_attributes(deps=[moved.get(dep.asset_key, dep.asset_key) for dep in spec.deps])
                 for name, spec in specs.items()}
        # What each sync's model reads (its deps less the syncs it runs after), for column lineage in execute.
        syncs = {*moved.values(), *(sync_asset_key(name) for name in project.syncs)}
        self.model_assets = {name: [dep.asset_key for dep in spec.deps if dep.asset_key not in syncs]
                             for name, spec in specs.items()}
        op = self.op or OpSpec()
        assets = [sync_asset(project, name, spec, self.execute, pool=op.pool, op_tags=op.tags)
                  for name, spec in specs.items()]
        models = {key for spec in specs.values() for key in (dep.asset_key for dep in spec.deps)}
        chosen = project.model_copy(update={"syncs": {name: project.syncs[name] for name in selected}})
        jobs = {name: build_sync_job(name) for name in selected}
        return dg.Definitions(
            assets=[*(spec for spec in warehouse_specs(chosen) if spec.key in models), *assets],
            jobs=list(jobs.values()),
            schedules=build_schedules(chosen, jobs),
            sensors=build_automation_sensors(chosen),
            resources={RESOURCE_KEY: CustomerIoSync.from_environment(project_file)},
            # One run usually materializes one sync; in-process saves a subprocess per step (~15 s a run), and a
            # run of several syncs sends them one after another, within the workspace's rate budget.
            executor=dg.in_process_executor,
        )

    def get_asset_spec(self, project: Project, sync_name: str) -> dg.AssetSpec:
        """The asset of one sync (customerio/<sync>, see docs/dagster.md), with `translation` applied."""
        spec = sync_asset_spec(project, sync_name)
        if self.translation is None:
            return spec
        return self.translation(spec, SyncTranslationData(sync_name, project.sync(sync_name)))

    def execute(self, context: dg.AssetExecutionContext, customerio: CustomerIoSync, sync_name: str,
                config: SyncRunConfig) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
        """Run one sync: its counts, checks and standard metadata (a dry run yields an observation)."""
        model_assets = getattr(self, "model_assets", {}).get(sync_name)
        yield from customerio.run(context, sync_name, config=config, model_assets=model_assets)

    def _selected(self, project: Project) -> list[str]:
        if self.syncs is None:
            return list(project.syncs)
        unknown = [name for name in self.syncs if name not in project.syncs]
        if unknown:
            raise ConfigError(f"CustomerIoSyncComponent: syncs {', '.join(unknown)} are not in the project file",
                              hint=f"known syncs: {', '.join(project.syncs)}")
        return list(self.syncs)

    def _check_op(self) -> None:
        if self.op is not None and (self.op.name or self.op.backfill_policy or self.op.description):
            raise ConfigError("CustomerIoSyncComponent: op takes pool and tags only",
                              hint="each sync has its own op (customerio__<sync>) and a partitioned sync backfills "
                                   "a range in one run; remove op.name, op.description and op.backfill_policy")
