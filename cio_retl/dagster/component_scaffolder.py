"""`dg scaffold defs cio_retl.CustomerIoSyncComponent <path>`: a defs.yaml pointing at the project file it finds."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster.components.component_scaffolding import scaffold_component
from pydantic import BaseModel, Field

from cio_retl.project import CONFIG_ENV, DEFAULT_CONFIG


class CustomerIoSyncScaffoldParams(BaseModel):
    """Options of `dg scaffold defs cio_retl.CustomerIoSyncComponent`."""

    project_file: str | None = Field(None, description="The cio_retl.yaml to use (default: the nearest one above "
                                     f"the new folder, else ${CONFIG_ENV}).")


class CustomerIoSyncScaffolder(dg.Scaffolder[CustomerIoSyncScaffoldParams]):
    """Writes `defs.yaml` with `project_file` relative to its own folder, so the project can move as a whole."""

    @classmethod
    def get_scaffold_params(cls) -> type[CustomerIoSyncScaffoldParams]:
        return CustomerIoSyncScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[CustomerIoSyncScaffoldParams]) -> None:
        target = Path(request.target_path).resolve()
        found = find_project_file(request.params.project_file if request.params else None, target,
                                  Path(request.project_root).resolve() if request.project_root else None)
        scaffold_component(request, {"project_file": os.path.relpath(found, target)})


def find_project_file(given: str | None, target: Path, project_root: Path | None) -> Path:
    """The file given (relative to the current folder), else the nearest cio_retl.yaml from the target folder up
    to the project root and its parent, else $CIO_RETL_CONFIG, else <project root>/cio_retl.yaml (to create)."""
    if given:
        return Path(given).resolve()
    top = project_root.parent if project_root else target.parent
    for folder in [target, *target.parents]:
        if (folder / DEFAULT_CONFIG).is_file():
            return folder / DEFAULT_CONFIG
        if folder == top:
            break
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).resolve()
    return (project_root or target) / DEFAULT_CONFIG
