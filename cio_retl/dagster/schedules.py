"""How syncs start by themselves: a schedule per `schedule` cron, an automation sensor per `automation` condition."""

from __future__ import annotations

import dagster as dg

from cio_retl.project import Project
from cio_retl.dagster.assets import SYNC_TAG
from cio_retl.dagster.jobs import sync_job_name


def build_schedules(project: Project, jobs: dict[str, dg.UnresolvedAssetJobDefinition]) -> list[dg.ScheduleDefinition]:
    """A schedule per sync with a cron; a partitioned sync's scheduled run is an ordinary incremental run."""
    status = dg.DefaultScheduleStatus.RUNNING if project.dagster.schedules_running else dg.DefaultScheduleStatus.STOPPED
    return [
        dg.ScheduleDefinition(
            name=f"{sync_job_name(name)}_schedule",
            cron_schedule=sync.schedule,
            job=jobs[name],
            execution_timezone="UTC",
            default_status=status,
            tags={SYNC_TAG: name},
            description=f"cio-retl sync '{name}' on '{sync.schedule}' (UTC).",
        )
        for name, sync in project.syncs.items() if sync.schedule
    ]


def build_automation_sensors(project: Project) -> list[dg.AutomationConditionSensorDefinition]:
    """One sensor per sync with `automation`, so each of its runs holds that sync alone and carries its tag."""
    status = dg.DefaultSensorStatus.RUNNING if project.dagster.schedules_running else dg.DefaultSensorStatus.STOPPED
    return [
        dg.AutomationConditionSensorDefinition(
            f"{name}_automation",
            target=dg.AssetSelection.tag(SYNC_TAG, name),
            run_tags={SYNC_TAG: name},
            default_status=status,
            description=f"Declarative Automation of cio-retl sync '{name}': {sync.automation}.",
        )
        for name, sync in project.syncs.items() if sync.automation
    ]
