"""Customer.io's troubleshooting pages as `validate` warnings: what a model's sample shows will not work as meant."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa

from cio_retl.project import Project, Sync

EVENT_TYPES = ("track", "page", "screen")
CAMPAIGN_WINDOW = timedelta(hours=72)  # only events this recent can trigger campaigns
MS_EPOCH = (946_684_800_000, 4_102_444_800_000)  # 2000-01-01 … 2100-01-01 in milliseconds
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
# Text that is digits on purpose: identifiers and codes keep their leading zeros and are never compared as numbers.
_CODE_NAMES = ("id", "phone", "zip", "postal_code", "postcode", "code", "sku", "iban", "number")


def sample_warnings(sync: Sync, model: pa.Schema, sample: pa.Table | None, *, now: datetime | None = None) -> list[str]:
    """Warnings about one sync's model, from its columns and sampled rows."""
    if sample is None or sample.num_rows == 0:
        return []
    return _numbers_as_text(sync, sample) + _milliseconds_elsewhere(sample) + _old_events(sync, sample, now)


def project_warnings(project: Project) -> list[tuple[str, str]]:
    """(where, warning) across syncs: events for people no identify sync of the project sends."""
    if any(sync.type == "identify" for sync in project.syncs.values()):
        return []
    return [(f"syncs.{name}", "no identify sync in this project sends the people these events are for: Customer.io "
             "gets events for people it may not know (no attributes to segment on); add an identify sync (cio-retl "
             "then sends people before events), or make sure another source creates them first")
            for name, sync in project.syncs.items() if sync.type in EVENT_TYPES]


def unknown_person_note(project: Project, sync: Sync, user_id: object) -> str | None:
    """For `explain`: an event for a person no identify sync of the project has delivered (as far as the state
    knows; while a run goes on, as it found the state)."""
    from cio_retl.state.views import StateUnavailable, reading

    people = [name for name, other in project.syncs.items() if other.type == "identify"]
    if sync.type not in EVENT_TYPES or user_id is None or not people:
        return None
    for name in people:
        with reading(project.state_location(), name) as con:
            if not isinstance(con, StateUnavailable) and con.execute(
                    "SELECT 1 FROM snapshot WHERE user_id = ? AND fate = 'delivered' LIMIT 1", [str(user_id)]
                    ).fetchall():
                return None
    return (f"no identify sync ({', '.join(people)}) has sent person {user_id}: Customer.io gets this event for a "
            "person it may not know; check the user_id, or run the identify sync first (`cio-retl run` orders them)")


def old_event_note(sync: Sync, timestamp: object, *, now: datetime | None = None) -> str | None:
    """For `explain`: an event too old to trigger a campaign."""
    when = _as_datetime(timestamp)
    now = now or datetime.now(timezone.utc)
    if sync.type not in EVENT_TYPES or when is None or now - when <= CAMPAIGN_WINDOW:
        return None
    return (f"this event's timestamp ({when:%Y-%m-%d %H:%M} UTC) is more than 72 hours old: Customer.io records it, "
            "but it cannot trigger a campaign; send events as they happen (a schedule) for campaigns to react")


def _numbers_as_text(sync: Sync, sample: pa.Table) -> list[str]:
    from cio_retl.pipeline.convert import CALL_FIELDS

    found = []
    for name in sample.column_names:
        kind = sample.schema.field(name).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)) or name in CALL_FIELDS[sync.type] \
                or name in sync.key_columns or name.lower().endswith(_CODE_NAMES) or name == "email":
            continue
        values = [v for v in sample.column(name).to_pylist() if v is not None]
        if values and all(_NUMBER.match(v) for v in values):
            found.append(f"column {name} holds numbers as text (e.g. {values[0]!r}): Customer.io compares text with "
                         "text, so numeric segment conditions (greater than, less than) do not match it; CAST it to a "
                         "number in the model (ignore this if it is a code)")
    return found


def _milliseconds_elsewhere(sample: pa.Table) -> list[str]:
    """Integer columns in the millisecond epoch range, whatever their name (`*_at` / `*_time` are checked already)."""
    found = []
    for name in sample.column_names:
        if not pa.types.is_integer(sample.schema.field(name).type) or name.endswith(("_at", "_time")) \
                or name == "timestamp":
            continue
        values = [v for v in sample.column(name).to_pylist() if v is not None]
        if values and all(MS_EPOCH[0] <= v <= MS_EPOCH[1] for v in values):
            found.append(f"column {name} holds values like {values[0]}: Unix milliseconds? Customer.io reads Unix "
                         "seconds and would see far-future dates; divide by 1000 in the model")
    return found


def _old_events(sync: Sync, sample: pa.Table, now: datetime | None) -> list[str]:
    if sync.type not in EVENT_TYPES or "timestamp" not in sample.column_names:
        return []
    times = [t for t in map(_as_datetime, sample.column("timestamp").to_pylist()) if t is not None]
    now = now or datetime.now(timezone.utc)
    if not times or now - max(times) <= CAMPAIGN_WINDOW:
        return []
    return [f"the newest of {sample.num_rows} sampled events is from {max(times):%Y-%m-%d %H:%M} UTC, more than 72 "
            "hours ago: Customer.io records older events, but only events less than 72 hours old can trigger "
            "campaigns; run the sync on a schedule so new events go out as they happen"]


def _as_datetime(value: object) -> datetime | None:
    """A timestamp as the model holds it (native, date, ISO-8601 text, Unix seconds or milliseconds), in UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000 if value > MS_EPOCH[0] else value, timezone.utc)
    if isinstance(value, str):
        try:
            return _as_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None
