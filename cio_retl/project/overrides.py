"""Deployment settings laid over a project file (another warehouse file, the destination's key, the state folder)."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr, ValidationError

from cio_retl.project.loading import format_validation_error
from cio_retl.project.project import Project
from cio_retl.errors import ConfigError


def with_overrides(project: Project, *, destination: dict[str, Any] | None = None,
                   warehouses: dict[str, dict[str, Any]] | None = None, state: str | None = None) -> Project:
    """The project with the non-empty settings given merged over its own, validated again as a whole.

    `destination` holds fields of the `destination` block (site_id, api_key, region, url); `warehouses`
    maps a warehouse's name to settings merged over its block.
    """
    destination = {key: value for key, value in (destination or {}).items() if value not in (None, "")}
    if not (destination or warehouses or state):
        return project
    # Python-mode model_dump keeps SecretStr objects: secrets survive the round trip, masked and unlogged.
    data = project.model_dump(by_alias=True, exclude={"root"})
    for secret in ("api_key", "write_key"):
        if secret in destination:
            destination[secret] = SecretStr(str(destination[secret]))
    data["destination"] = {**data["destination"], **destination}
    unknown = sorted(set(warehouses or {}) - set(data["warehouses"]))
    if unknown:
        raise ConfigError(f"overrides name unknown warehouse(s) {', '.join(unknown)}",
                          hint=f"the project file has {', '.join(sorted(data['warehouses']))}")
    for name, settings in (warehouses or {}).items():
        data["warehouses"][name] = {**data["warehouses"][name], **settings}
    if state:
        data["state"] = state
    try:
        return Project.model_validate({**data, "root": project.root})
    except ValidationError as exc:
        raise ConfigError("the deployment's overrides do not fit the project file:",
                          problems=format_validation_error(exc)) from None
