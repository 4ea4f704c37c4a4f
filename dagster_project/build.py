"""build_definitions(): a project's assets, checks, jobs, schedules, sensors and resource as one dagster.Definitions."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from cio_retl.project import Project
from dagster_project.assets import build_sync_asset, warehouse_specs
from dagster_project.jobs import build_sync_job
from dagster_project.resource import CustomerIoSync
from dagster_project.schedules import build_automation_sensors, build_schedules

RESOURCE_KEY = "customerio"


def build_definitions(project: Project, project_file: Path) -> dg.Definitions:
    """Everything Dagster shows for a project; reads no secret and queries no warehouse.

    Load `project` with `load_project(..., credentials="none")`: each run reads the file again, with them.
    """
    jobs = {name: build_sync_job(name) for name in project.syncs}
    return dg.Definitions(
        assets=[*warehouse_specs(project), *(build_sync_asset(project, name) for name in project.syncs)],
        jobs=list(jobs.values()),
        schedules=build_schedules(project, jobs),
        sensors=build_automation_sensors(project),
        resources={RESOURCE_KEY: CustomerIoSync.from_environment(project_file)},
        # One run usually materializes one sync; in-process saves a subprocess per step (~15 s a run), and a
        # run of several syncs sends them one after another, within the workspace's rate budget.
        executor=dg.in_process_executor,
    )
