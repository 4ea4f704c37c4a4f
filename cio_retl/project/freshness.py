"""`freshness:` of a sync — how recent its last successful run must be; Dagster makes it a FreshnessPolicy."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import Field, field_validator, model_validator

from cio_retl.project.base import ProjectModel

_PART = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(value: Any) -> Any:
    """`90m`, `6h`, `1d12h` (days, hours, minutes, seconds) as a timedelta; other values are left to pydantic."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower().replace(" ", "")
    if not text or _PART.sub("", text):
        raise ValueError(f"'{value}' is not a duration: write e.g. 90m, 6h, 1d or 1d12h")
    total = timedelta()
    for number, unit in _PART.findall(text):
        total += timedelta(**{_UNITS[unit]: int(number)})
    return total


class Freshness(ProjectModel):
    """The sync's asset is overdue (failing) when its last materialization is older than `fail_after`."""

    fail_after: timedelta = Field(description="Overdue after this long without a successful run, e.g. 26h.")
    warn_after: timedelta | None = Field(None, description="Warn after this long (shorter than fail_after).")

    @field_validator("fail_after", "warn_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @model_validator(mode="after")
    def _warn_before_fail(self) -> Freshness:
        if self.fail_after <= timedelta(0):
            raise ValueError("fail_after must be positive")
        if self.warn_after is not None and not timedelta(0) < self.warn_after < self.fail_after:
            raise ValueError("warn_after must be positive and shorter than fail_after")
        return self
