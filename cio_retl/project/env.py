"""The environment in a project file: `${VAR}` interpolation, CUSTOMERIO_* overrides, and which credentials are read."""

from __future__ import annotations

import os
import re
from typing import Any, Literal

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Credentials = Literal["all", "warehouses", "none"]
"""Which credentials a command reads. `all`: run, doctor. `warehouses`: validate, plan, explain (they query the
models, never Customer.io). `none`: test-action, status, rejections and Dagster's definitions."""
SECRET_SETTINGS = {"api_key", "password", "url", "private_key_path", "credentials_path", "write_key", "secret",
                   "token"}
DESTINATION_CREDENTIALS = {"destination.site_id": "CUSTOMERIO_SITE_ID", "destination.api_key": "CUSTOMERIO_TRACK_API_KEY",
                           "destination.url": "CUSTOMERIO_TRACK_URL", "destination.write_key": "CUSTOMERIO_WRITE_KEY"}


def _unread(path: str, credentials: Credentials) -> bool:
    """Whether a setting's `${VAR}` stays as written (not read) for a command needing these credentials."""
    if credentials == "all":
        return False
    if path.startswith("alerts.") and path.rsplit(".", 1)[-1] in SECRET_SETTINGS:
        return True  # only a real run (credentials "all") sends alerts
    return path in DESTINATION_CREDENTIALS or (credentials == "none" and path.rsplit(".", 1)[-1] in SECRET_SETTINGS)


def interpolate(node: Any, path: str, problems: list[str], *, credentials: Credentials = "all") -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of the YAML tree.

    Credentials a command does not need are left as written, so nothing reads their values and a missing
    variable is no error (`validate` needs no Customer.io key; Dagster loads definitions without any secret).
    """
    if isinstance(node, dict):
        return {key: interpolate(value, f"{path}.{key}" if path else str(key), problems, credentials=credentials)
                for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, f"{path}[{i}]", problems, credentials=credentials) for i, value in enumerate(node)]
    if not isinstance(node, str) or _unread(path, credentials):
        return node

    def substitute(match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(2)
        if var in os.environ:
            return os.environ[var]
        if default is not None:
            return default
        problems.append(f"{path}: environment variable {var} is not set (or write ${{{var}:-default}})")
        return ""

    return _ENV_REF.sub(substitute, node)


def apply_destination_env(raw: dict[str, Any], *, credentials: Credentials = "all") -> None:
    """CUSTOMERIO_* environment variables override the destination block (credentials only when needed)."""
    overrides = {var: path.split(".")[1] for path, var in DESTINATION_CREDENTIALS.items() if not _unread(path, credentials)}
    overrides["CUSTOMERIO_REGION"] = "region"
    destination = raw.setdefault("destination", {}) or {}
    raw["destination"] = destination
    for var, field in overrides.items():
        if os.environ.get(var) and isinstance(destination, dict):
            destination[field] = os.environ[var]
