"""cio-retl: keep Customer.io Journeys in step with your warehouse (extract, diff, convert, act, deliver, commit)."""

from cio_retl.project import Project, load_project
from cio_retl.errors import CioRetlError, ConfigError, SyncError

__all__ = ["CioRetlError", "ConfigError", "Project", "SyncError", "load_project"]
__version__ = "0.1.0"
