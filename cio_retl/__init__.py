"""cio-retl: keep Customer.io Journeys in step with your warehouse (extract, diff, convert, act, deliver, commit)."""

from cio_retl.project import Project, load_project
from cio_retl.errors import CioRetlError, ConfigError, SyncError

__all__ = ["CioRetlError", "ConfigError", "Project", "SyncError", "load_project"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The Dagster component is registered under this package (entry point dagster_dg_cli.registry_modules), so
    # `dg` finds `cio_retl.CustomerIoSyncComponent`; imported on first use, so the CLI never loads Dagster.
    if name == "CustomerIoSyncComponent":
        from cio_retl.dagster.component import CustomerIoSyncComponent

        return CustomerIoSyncComponent
    raise AttributeError(f"module 'cio_retl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), "CustomerIoSyncComponent"]
