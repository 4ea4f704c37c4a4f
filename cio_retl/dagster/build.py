"""build_definitions(): a project's assets, checks, jobs, schedules, sensors and resource, through the component."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from cio_retl.project import Project
from cio_retl.dagster.component import RESOURCE_KEY, CustomerIoSyncComponent

__all__ = ["RESOURCE_KEY", "build_definitions"]


def build_definitions(project: Project, project_file: Path) -> dg.Definitions:
    """Everything Dagster shows for a project (every sync, as CustomerIoSyncComponent builds it); reads no secret
    and queries no warehouse.

    Load `project` with `load_project(..., credentials="none")`: each run reads the file again, with them.
    """
    return CustomerIoSyncComponent(project_file=str(project_file)).build_definitions(project, project_file)
