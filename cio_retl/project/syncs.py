"""`syncs:` — one SQL model, one warehouse, one call type, one mode each; rules across a sync's fields."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cio_retl.project.base import ProjectModel
from cio_retl.project.cron import cron_problem
from cio_retl.project.freshness import Freshness

CallType = Literal["identify", "group", "track", "page", "screen", "alias", "segment"]
# A segment sync's member column (its primary key) and the `id_type` Customer.io's segment endpoints take for it.
SEGMENT_MEMBER_ID_TYPES = {"user_id": "id", "email": "email", "cio_id": "cio_id"}
SyncMode = Literal["upsert", "mirror", "append"]
EVENT_TYPES = ("track", "page", "screen")


def default_mode(spec: dict[str, Any]) -> str:
    """A sync's mode when the file sets none: append for events (immutable once sent: Customer.io keeps the first
    event of an id), mirror for a segment keyed by user_id (the one member column Customer.io can remove by),
    upsert for the rest."""
    kind = spec.get("type")
    if kind in EVENT_TYPES:
        return "append"
    return "mirror" if kind == "segment" and spec.get("primary_key") == "user_id" else "upsert"


class Sync(ProjectModel):
    """One SQL model, one warehouse, one call type, one mode."""

    warehouse: str = Field(description="Name of a warehouse under `warehouses`.")
    model: str | None = Field(None, description="SQL file under sql/, relative to the project file.")
    query: str | None = Field(None, description="Inline SELECT (instead of model).")
    table: str | None = Field(None, description="A table or view to read whole (instead of model).")
    primary_key: str | list[str] = Field(description="Column(s) that identify a row.")
    type: CallType = Field(description="Segment-spec call each row becomes, or `segment`: each row is a member of "
                           "the manual segment `segment_id`.")
    segment_id: int | None = Field(None, ge=1, description="The manual segment a `type: segment` sync fills (the "
                                   "number in the segment's URL in Customer.io).")
    mode: SyncMode = Field(None, validate_default=False,  # type: ignore[assignment]  # filled in by _mode_by_type
                           description="upsert: send adds/changes; mirror: also deletes; append: adds only. Default: "
                           "append for track, page and screen syncs (the only mode they take), mirror for a segment "
                           "sync keyed by user_id (members who leave are removed), upsert for the others.")
    event: str | None = Field(None, description="Event name for track syncs whose model has no `event` column.")
    schedule: str | None = Field(None, description="Cron schedule for Dagster, e.g. '0 * * * *'.")
    partition_by: str | None = Field(None, description="Timestamp column for daily partitions (track syncs).")
    partition_start: date | None = Field(None, description="First daily partition (with partition_by).")
    max_delete_fraction: float = Field(0.2, ge=0, le=1, description="Mirror runs deleting more of the snapshot fail.")
    convert_timestamps: bool = Field(True, description="Send timestamp attributes as Unix seconds.")
    nulls: Literal["clear", "skip"] = Field("clear", description="A NULL attribute: clear sends null (Customer.io "
                                            "clears it), skip leaves it out of the operation.")
    max_clear_fraction: float = Field(0.2, ge=0, le=1, description="A run that would set one attribute to null "
                                      "for more of the rows it sends (where it was set) fails; --allow-clear.")
    after: list[str] = Field(default_factory=list, description="Syncs this one runs after, beyond the built-in "
                             "order (objects and people, then relationships, then events).")
    description: str | None = Field(None, description="Shown in Dagster and `status`.")
    upstream: str | list[str] | list[list[str]] | None = Field(
        None, description="Dagster asset key(s) the model reads, e.g. the dbt model that builds its table: "
        "`analytics/dim_users`, `[analytics, dim_users]` (one key), or a list of keys `[[dim_users], [dim_orders]]`; "
        "`[]` for none. Default: an external asset `warehouse/<warehouse>/<model>`.")
    automation: str | None = Field(
        None, description="Dagster Declarative Automation instead of `schedule`: `eager` (after an upstream "
        "asset updates), `on_missing`, or `on_cron <cron>` (e.g. `on_cron 0 6 * * *`: after the tick, once "
        "the upstream has updated).")
    freshness: Freshness | None = Field(None, description="`{fail_after: 26h, warn_after: 25h}`: Dagster's "
                                       "FreshnessPolicy on the sync's asset (durations in d, h, m, s).")

    @field_validator("primary_key")
    @classmethod
    def _key_not_empty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and (not value or len(set(value)) != len(value)):
            raise ValueError("must be one column or a non-empty list of distinct columns")
        return value

    @model_validator(mode="before")
    @classmethod
    def _mode_by_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("mode") is None:
            data = {**data, "mode": default_mode(data)}
        return data

    @model_validator(mode="after")
    def _one_source_and_sane_mode(self) -> Sync:
        problems = sync_rule_problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("schedule")
    @classmethod
    def _schedule_is_a_cron(cls, value: str | None) -> str | None:
        problem = cron_problem(value) if value else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("upstream")
    @classmethod
    def _upstream_keys_well_formed(cls, value: str | list[Any] | None) -> str | list[Any] | None:
        for key in _upstream_keys(value) or []:
            if not key or not all(isinstance(part, str) and part for part in key):
                raise ValueError("asset keys must be non-empty names, e.g. analytics/dim_users or "
                                 "[analytics, dim_users]")
        return value

    @property
    def upstream_keys(self) -> list[list[str]] | None:
        """The upstream asset keys as lists of path parts; None when `upstream` is not set."""
        return _upstream_keys(self.upstream)

    @property
    def key_columns(self) -> list[str]:
        """The primary key as a list of column names."""
        return [self.primary_key] if isinstance(self.primary_key, str) else list(self.primary_key)


def _upstream_keys(value: str | list[Any] | None) -> list[list[str]] | None:
    """'a/b' → [[a, b]]; [a, b] → [[a, b]] (one key as its path); [[a, b], [c]] → itself."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value.split("/")]
    if value and all(isinstance(part, str) for part in value):
        return [list(value)]
    return [part.split("/") if isinstance(part, str) else list(part) for part in value]


AUTOMATION = re.compile(r"^(eager|on_missing|on_cron\s+\S+(\s+\S+){4})$")


def sync_rule_problems(spec: dict[str, Any]) -> list[str]:
    """Rules across a sync's fields; run on raw dicts too, so they are reported beside field errors."""
    problems = []
    sources = [name for name in ("model", "query", "table") if spec.get(name)]
    if len(sources) != 1:
        problems.append(f"set exactly one of model, query, table (found {', '.join(sources) or 'none'})")
    kind = spec.get("type")
    mode = spec.get("mode") or default_mode(spec)
    if kind in EVENT_TYPES and mode != "append":
        problems.append(f"a {kind} sync takes mode 'append' only (its default), not '{mode}': Customer.io keeps the "
                        "first event sent under an id and ignores an edited one, so a changed event row is never "
                        "re-sent; remove `mode` (to send a corrected event, give it a new primary key)")
    elif mode == "mirror" and kind not in ("identify", "group", "segment"):
        problems.append(f"mode 'mirror' needs type identify, group or segment (deletes exist only for those), "
                        f"not {kind}")
    problems += _segment_problems(spec)
    if spec.get("partition_by") and kind not in EVENT_TYPES:
        problems.append("partition_by is for event syncs (track, page, screen)")
    return problems + _automation_problems(spec)


def _segment_problems(spec: dict[str, Any]) -> list[str]:
    kind, mode, key = spec.get("type"), spec.get("mode") or default_mode(spec), spec.get("primary_key")
    if kind != "segment":
        return ["segment_id is only for type: segment"] if spec.get("segment_id") is not None else []
    problems = []
    if spec.get("segment_id") is None:
        problems.append("type: segment needs segment_id: the manual segment's number (in its URL in Customer.io)")
    if mode not in ("upsert", "mirror"):
        problems.append(f"a segment sync's mode is mirror (add and remove members) or upsert (add only), not {mode}")
    if key not in SEGMENT_MEMBER_ID_TYPES:
        problems.append(f"a segment sync's primary_key is its member column: user_id, email or cio_id, not {key!r}")
    elif mode == "mirror" and key != "user_id":
        problems.append(f"mode: mirror needs primary_key: user_id: Customer.io removes people from a manual segment "
                        f"only by id, so members keyed by {key} could be added but never removed; use mode: upsert")
    return problems


def _automation_problems(spec: dict[str, Any]) -> list[str]:
    automation = spec.get("automation")
    if automation is None:
        return []
    if not isinstance(automation, str) or not AUTOMATION.match(automation.strip()):
        return [f"automation must be 'eager', 'on_missing' or 'on_cron <cron>' (five cron fields, e.g. "
                f"'on_cron 0 6 * * *'), not {automation!r}"]
    problems = []
    cron = automation.strip().split(None, 1)[1] if automation.strip().startswith("on_cron") else None
    if cron and cron_problem(cron):
        problems.append(f"automation: {cron_problem(cron)}")
    if spec.get("schedule"):
        problems.append("set either schedule (a cron job) or automation (Declarative Automation), not both")
    if spec.get("partition_by"):
        problems.append("automation would run only the latest day of a partitioned sync: use schedule (its runs "
                        "are incremental) and backfills, or drop partition_by")
    return problems
