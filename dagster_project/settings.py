"""Settings of the Dagster layer that the project file has no place for, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

SCHEDULES_RUNNING_ENV = "CIO_RETL_SCHEDULES_RUNNING"
REJECTION_RATE_ENV = "CIO_RETL_REJECTION_RATE_WARN"
POOL_ENV = "CIO_RETL_DAGSTER_POOL"
PARTITION_START_ENV = "CIO_RETL_PARTITION_START"

DEFAULT_REJECTION_RATE = 0.05
DEFAULT_POOL = "customerio"
# A fixed date, not "N days ago": a moving start would make old partitions vanish from the UI day by day.
DEFAULT_PARTITION_START = date(2024, 1, 1)


@dataclass(frozen=True)
class DagsterSettings:
    """What the Dagster definitions need beyond cio_retl.yaml."""

    schedules_running: bool = False
    rejection_rate_warn: float = DEFAULT_REJECTION_RATE
    pool: str = DEFAULT_POOL
    default_partition_start: date = DEFAULT_PARTITION_START

    @classmethod
    def from_env(cls) -> DagsterSettings:
        """Read the CIO_RETL_* variables above (names only hold settings, never secrets)."""
        return cls(
            schedules_running=os.environ.get(SCHEDULES_RUNNING_ENV, "").lower() in ("1", "true", "yes", "running"),
            rejection_rate_warn=float(os.environ.get(REJECTION_RATE_ENV) or DEFAULT_REJECTION_RATE),
            pool=os.environ.get(POOL_ENV) or DEFAULT_POOL,
            default_partition_start=date.fromisoformat(os.environ.get(PARTITION_START_ENV) or
                                                       DEFAULT_PARTITION_START.isoformat()),
        )
