"""What `run` or the Dagster code location would fail on, found by `validate` first: the state folder, Dagster's own
checks of the definitions, and warnings across syncs."""

from __future__ import annotations

from pathlib import Path

from cio_retl.cli.data_checks import project_warnings
from cio_retl.cli.validate import Problem
from cio_retl.project import Project
from cio_retl.state.folder import FOLDER_HINT, folder_problem


def preflight_problems(project: Project, project_file: Path) -> list[Problem]:
    """The state folder (first: a run fails there before anything else), the Dagster definitions, and the
    project-wide warnings."""
    problems = []
    location = project.state_location()
    unwritable = None if isinstance(location, str) else folder_problem(location)
    if unwritable:
        problems.append(Problem("error", "state", f"{unwritable}; {FOLDER_HINT}"))
    refused = dagster_problem(project, project_file)
    if refused:  # a setting only Dagster reads (pool, upstream keys) would take every sync out of its UI
        problems.append(Problem("error", "dagster", f"{refused}; fix that setting in the project file"))
    return problems + [Problem("warning", where, warning) for where, warning in project_warnings(project)]


def dagster_problem(project: Project, project_file: Path) -> str | None:
    """Why Dagster would refuse the definitions built from the project (every sync would vanish from the UI), or
    None. Builds them as the code location does: no secret read, no warehouse queried."""
    try:
        import dagster as dg

        from cio_retl.dagster.build import build_definitions
    except ImportError:  # an install without the Dagster code location
        return None
    try:
        dg.Definitions.validate_loadable(build_definitions(project, project_file))
    except Exception as exc:  # DagsterInvalidDefinitionError and friends: the code location's own words
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"the Dagster code location would not load: {first.rstrip('.')}"
    return None
