"""Cron expressions as Dagster reads them, checked when the project loads so a bad one never breaks the code location."""

from __future__ import annotations


def cron_problem(expression: str) -> str | None:
    """Why Dagster would refuse this cron (it refuses the whole code location, every sync with it), or None."""
    # Dagster's own parser, imported only for projects that set a cron (importing dagster takes ~1 s).
    from dagster._utils.schedules import is_valid_cron_string

    if is_valid_cron_string(expression.strip()):
        return None
    return (f"'{expression}' is not a cron Dagster can run: five fields, minute hour day-of-month month "
            "day-of-week, e.g. '0 * * * *' (hourly) or '30 6 * * 1-5' (06:30 UTC on weekdays)")
