"""Would the Dagster code location load this project? Checked by `validate`, so a bad setting never empties the UI."""

from __future__ import annotations

from pathlib import Path

from cio_retl.project import Project


def dagster_problem(project: Project, project_file: Path) -> str | None:
    """Why Dagster would refuse the definitions built from the project (every sync would vanish from the UI), or
    None. Builds them as the code location does: no secret read, no warehouse queried."""
    try:
        import dagster as dg

        from dagster_project.build import build_definitions
    except ImportError:  # an install without the Dagster code location
        return None
    try:
        dg.Definitions.validate_loadable(build_definitions(project, project_file))
    except Exception as exc:  # DagsterInvalidDefinitionError and friends: the code location's own words
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"the Dagster code location would not load: {first.rstrip('.')}"
    return None
