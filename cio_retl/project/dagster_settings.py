"""`dagster:` — how the Dagster code location shows and runs the syncs."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from cio_retl.project.base import ProjectModel


class DagsterSettings(ProjectModel):
    """How the Dagster code location (dagster_project/) shows and runs the syncs."""

    schedules_running: bool = Field(False, description="Create schedules and automation sensors running; "
                                    "false: stopped until turned on in the UI (Automation).")
    rejection_rate_warn: float = Field(0.05, ge=0, le=1, description="The `rejection_rate` check warns above "
                                       "this share of a run's operations rejected.")
    pool: str = Field("customerio", min_length=1, description="Concurrency pool of every sync asset: one per "
                      "Customer.io workspace (see docs/dagster.md, Concurrency).")
    partition_start: date = Field(date(2024, 1, 1), description="First daily partition of syncs with "
                                  "partition_by and no partition_start (a fixed date, so partitions never drift).")
    sample_operations: bool = Field(False, description="Put a run's first operations (people's attributes) "
                                    "into the asset's metadata; off: counts only, no personal data.")
