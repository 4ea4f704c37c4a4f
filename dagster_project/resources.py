"""ConfigurableResources over cio_retl: the project file, its warehouses, the Customer.io destination, the state store."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from pydantic import Field, SecretStr

from cio_retl.config import Project, load_project

SITE_ID_ENV = "CUSTOMERIO_SITE_ID"
API_KEY_ENV = "CUSTOMERIO_TRACK_API_KEY"


class ProjectResource(dg.ConfigurableResource):
    """The project file the CLI uses; read when a run starts, so a run sees the file as it is then."""

    config_path: str = Field(description="Path of cio_retl.yaml (absolute, or relative to the working directory).")

    def load(self) -> Project:
        """The validated project (raises cio_retl ConfigError listing every problem)."""
        return load_project(self.config_path)


class WarehousesResource(dg.ConfigurableResource):
    """The project's warehouse connections, with per-deployment overrides (e.g. another DuckDB file in staging)."""

    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Warehouse name → settings merged over its block in cio_retl.yaml.")

    def apply(self, project: Project) -> Project:
        """The project with the overrides merged in and validated again."""
        if not self.overrides:
            return project
        # Python-mode model_dump keeps SecretStr objects, so secrets survive the round trip unmasked and unlogged.
        data = project.model_dump(by_alias=True, exclude={"root"})
        for name, settings in self.overrides.items():
            data["warehouses"][name] = {**data["warehouses"].get(name, {}), **settings}
        return Project.model_validate({**data, "root": project.root})


class CustomerIoResource(dg.ConfigurableResource):
    """The Customer.io workspace; secrets come from the environment at run time (dagster.EnvVar), never the UI."""

    site_id: str | None = Field(None, description=f"Track API Site ID (bind with EnvVar('{SITE_ID_ENV}')).")
    api_key: str | None = Field(None, description=f"Track API key (bind with EnvVar('{API_KEY_ENV}')).")
    region: str | None = Field(None, description="us or eu; default: the project file's.")
    url: str | None = Field(None, description="Base-URL override, e.g. the local sandbox.")

    @classmethod
    def from_environment(cls) -> CustomerIoResource:
        """Bind the secrets as EnvVars when they are set, without reading their values (only their names)."""
        bound = {field: dg.EnvVar(var) for field, var in (("site_id", SITE_ID_ENV), ("api_key", API_KEY_ENV))
                 if var in os.environ}
        return cls(**bound)

    def apply(self, project: Project) -> Project:
        """The project with the non-empty settings of this resource over its `destination` block."""
        updates: dict[str, Any] = {key: value for key, value in
                                   (("site_id", self.site_id), ("region", self.region), ("url", self.url)) if value}
        if self.api_key:
            updates["api_key"] = SecretStr(self.api_key)
        if not updates:
            return project
        destination = project.destination.model_validate({**project.destination.model_dump(), **updates})
        return project.model_copy(update={"destination": destination})


class StateStoreResource(dg.ConfigurableResource):
    """Where each sync keeps its snapshot, ops log, rejections and run history (one DuckDB file per sync)."""

    folder: str | None = Field(None, description="State folder; default: `state:` of the project file.")

    def apply(self, project: Project) -> Project:
        """The project with the state folder overridden, if set."""
        return project.model_copy(update={"state": self.folder}) if self.folder else project

