"""build_definitions(): a project's assets, checks, jobs, schedules and resources as one dagster.Definitions."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from cio_retl.config import Project
from dagster_project.assets import build_sync_asset, warehouse_specs
from dagster_project.jobs import build_sync_job
from dagster_project.resources import CustomerIoResource, ProjectResource, StateStoreResource, WarehousesResource
from dagster_project.schedules import build_schedules
from dagster_project.settings import DagsterSettings


def build_definitions(project: Project, project_file: Path, settings: DagsterSettings | None = None) -> dg.Definitions:
    """Everything Dagster shows for a project; reads no secret and queries no warehouse."""
    settings = settings or DagsterSettings.from_env()
    jobs = {name: build_sync_job(name) for name in project.syncs}
    return dg.Definitions(
        assets=[*warehouse_specs(project), *(build_sync_asset(project, name, settings) for name in project.syncs)],
        jobs=list(jobs.values()),
        schedules=build_schedules(project, jobs, settings),
        resources={
            "project_file": ProjectResource(config_path=str(project_file.resolve())),
            "warehouses": WarehousesResource(),
            "customerio": CustomerIoResource.from_environment(),
            "state_store": StateStoreResource(),
        },
        # One run usually materializes one sync; in-process saves a subprocess per step (~15 s a run), and a
        # run of several syncs sends them one after another, within the workspace's rate budget.
        executor=dg.in_process_executor,
    )
