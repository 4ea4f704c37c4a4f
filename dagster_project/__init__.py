"""Dagster code location of cio-retl: one asset per sync of the project file (see docs/dagster.md).

For assets of your own: `CustomerIoSync` (the resource), `SyncRunConfig` (its Launchpad config), `check_specs`
(the checks it evaluates), `build_definitions` (everything for a project file) and `CustomerIoSyncComponent` (the
same as a Dagster component, `cio_retl.CustomerIoSyncComponent` in a `defs.yaml`).
"""

from dagster_project.build import build_definitions
from dagster_project.checks import check_specs
from dagster_project.component import CustomerIoSyncComponent
from dagster_project.resource import CustomerIoSync, SyncRunConfig

__all__ = ["CustomerIoSync", "CustomerIoSyncComponent", "SyncRunConfig", "build_definitions", "check_specs"]
