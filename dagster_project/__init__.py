"""Dagster code location of cio-retl (`definitions.py`): one asset per sync of the project file, built by the
integration in `cio_retl/dagster/` (see docs/dagster.md).

Its public names, kept here for existing imports; for assets of your own: `CustomerIoSync` (the resource), `SyncRunConfig` (its Launchpad config), `check_specs`
(the checks it evaluates), `build_definitions` (everything for a project file) and `CustomerIoSyncComponent` (the
same as a Dagster component, `cio_retl.CustomerIoSyncComponent` in a `defs.yaml`).
"""

from cio_retl.dagster.build import build_definitions
from cio_retl.dagster.checks import check_specs
from cio_retl.dagster.component import CustomerIoSyncComponent
from cio_retl.dagster.resource import CustomerIoSync, SyncRunConfig

__all__ = ["CustomerIoSync", "CustomerIoSyncComponent", "SyncRunConfig", "build_definitions", "check_specs"]
