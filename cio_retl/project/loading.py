"""Loading a project file: read, interpolate `${VAR}`, validate, and report every problem at once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cio_retl.errors import ConfigError
from cio_retl.project.checks import reference_problems, setting_location, union_choice
from cio_retl.project.env import SECRET_SETTINGS, Credentials, apply_destination_env, interpolate
from cio_retl.project.order import order_problems
from cio_retl.project.project import REFERENCES_CHECKED, Project
from cio_retl.project.syncs import sync_rule_problems
from cio_retl.suggest import did_you_mean
from cio_retl.validation_messages import describe, shown

DEFAULT_CONFIG = "cio_retl.yaml"
CONFIG_ENV = "CIO_RETL_CONFIG"


def format_validation_error(exc: ValidationError) -> list[str]:
    problems = []
    errors = exc.errors(include_url=False)
    unions: dict[str, tuple[str, str]] = {}  # a plain union's path → what it accepts, the value given
    for error in errors:
        parts = tuple(part for part in error["loc"] if not str(part).startswith(("function-", "tagged-union")))
        choice = union_choice(Project, parts) if parts else None
        if choice is not None:  # one message for the union, in its words, not one per member pydantic tried
            path, accepted, whole = choice
            secret = path.rsplit(".", 1)[-1] in SECRET_SETTINGS
            value = f" (got {shown(error.get('input'))})" if whole and not secret and "input" in error else ""
            if path not in unions or value and not unions[path][1]:
                if path not in unions:
                    problems.append(path)  # a placeholder, filled in below, keeps the errors' order
                unions[path] = (accepted, value)
            continue
        loc, known = setting_location(Project, parts) if parts else ("", [])
        if error["type"] == "extra_forbidden":
            near = did_you_mean(str(parts[-1]), known)
            message = f"unknown setting{near or ' (check the spelling; see the configuration reference in README.md)'}"
        else:  # in our words; a secret's value is never repeated in a message
            message = describe(error, show_value=str(error["loc"][-1] if error["loc"] else "") not in SECRET_SETTINGS)
        problems.append(f"{loc}: {message}" if loc else message)
    return [f"{p}: must be {unions[p][0]}{unions[p][1]}" if p in unions else p for p in problems]


def config_path(path: str | Path | None = None) -> Path:
    """The project file: the argument, else $CIO_RETL_CONFIG, else ./cio_retl.yaml."""
    return Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_project(path: str | Path | None = None, *, credentials: Credentials = "all",
                 resolve_secrets: bool = True) -> Project:
    """Read, interpolate and validate a project file, reporting every problem at once.

    `credentials` says which secrets the caller needs (see `Credentials`); the others stay as written, so a
    command that never talks to Customer.io works without its keys. `resolve_secrets=False` is the older
    spelling of `credentials="none"`.
    """
    credentials = credentials if resolve_secrets else "none"
    file = config_path(path)
    if not file.is_file():
        raise ConfigError(f"project file {file} not found",
                          hint=f"pass --config PATH, set {CONFIG_ENV}, or run from the folder of cio_retl.yaml")
    try:
        raw = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(file, exc), hint="fix the indentation or quoting there; a value with "
                          "': ' or starting with '{', '[', '*' or '&' needs quotes") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{file} must be a mapping with warehouses, destination and syncs")
    problems: list[str] = []
    raw = interpolate(raw, "", problems, credentials=credentials)
    apply_destination_env(raw, credentials=credentials)
    raw["root"] = file.resolve().parent
    project = None
    try:
        project = Project.model_validate(raw, context={REFERENCES_CHECKED: True})
    except ValidationError as exc:
        problems.extend(format_validation_error(exc))
        problems.extend(_raw_sync_problems(raw, problems))
    problems.extend(reference_problems(raw, raw["root"]))
    if project is not None and not problems:  # the order needs every sync's type and key, and `after:` resolved
        problems.extend(order_problems(project))
    if problems:
        raise ConfigError(f"{file} has {len(problems)} problem(s):", problems=problems)
    return project


def _raw_sync_problems(raw: dict[str, Any], already: list[str]) -> list[str]:
    """Cross-field sync rules pydantic skipped because the same sync also had field errors."""
    found = []
    for name, spec in (raw.get("syncs") or {}).items():
        if isinstance(spec, dict):
            found += [f"syncs.{name}: {p}" for p in sync_rule_problems(spec)]
    return [p for p in found if p not in already]


def _yaml_problem(file: Path, exc: yaml.YAMLError) -> str:
    """The parser's complaint with the file's own name and line (PyYAML names the text `<unicode string>`)."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{file}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(file)
    what = " ".join(filter(None, [getattr(exc, "context", None), getattr(exc, "problem", None)])) or str(exc)
    return f"{where} is not valid YAML: {what}"
