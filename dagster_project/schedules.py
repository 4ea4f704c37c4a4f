"""Schedules from each sync's `schedule` cron (none without one), stopped or running per CIO_RETL_SCHEDULES_RUNNING."""

from __future__ import annotations

import dagster as dg

from cio_retl.config import Project
from dagster_project.jobs import SYNC_TAG, sync_job_name
from dagster_project.settings import DagsterSettings


def build_schedules(project: Project, jobs: dict[str, dg.UnresolvedAssetJobDefinition],
                    settings: DagsterSettings) -> list[dg.ScheduleDefinition]:
    """A schedule per sync with a cron; a partitioned sync's scheduled run is an ordinary incremental run."""
    status = dg.DefaultScheduleStatus.RUNNING if settings.schedules_running else dg.DefaultScheduleStatus.STOPPED
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
