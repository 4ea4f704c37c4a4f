"""The project file (`cio_retl.yaml`): its models section by section, loading, checks, the model contract and the run order.

The names below are the public surface (`from cio_retl.project import load_project, Project`); modules inside this
package import from the module that defines a name, never from here.
"""

from cio_retl.project.actions import ActionOverride
from cio_retl.project.alerts import Alerts, SlackAlert, WebhookAlert
from cio_retl.project.dagster_settings import DagsterSettings
from cio_retl.project.destination import Destination
from cio_retl.project.env import Credentials
from cio_retl.project.loading import CONFIG_ENV, DEFAULT_CONFIG, config_path, load_project
from cio_retl.project.project import Project
from cio_retl.project.syncs import CallType, Sync, SyncMode
from cio_retl.project.writeback import Writeback
from cio_retl.project.warehouses import (BigQueryWarehouse, DuckDBWarehouse, PostgresWarehouse, SnowflakeWarehouse,
                                         Warehouse)

__all__ = ["CONFIG_ENV", "DEFAULT_CONFIG", "ActionOverride", "Alerts", "BigQueryWarehouse", "CallType",
           "Credentials", "DagsterSettings", "Destination", "DuckDBWarehouse", "PostgresWarehouse", "Project",
           "SlackAlert", "SnowflakeWarehouse", "Sync", "SyncMode", "Warehouse", "WebhookAlert", "Writeback",
           "config_path", "load_project"]
