"""The code location of workspace.yaml: Definitions from the CLI's project file ($CIO_RETL_CONFIG or ./cio_retl.yaml)."""

from cio_retl.project import config_path, load_project
from cio_retl.dagster.build import build_definitions

# Secrets stay unread here: each run loads the project again, with them (CustomerIoSync.load_project).
defs = build_definitions(load_project(credentials="none"), config_path())
