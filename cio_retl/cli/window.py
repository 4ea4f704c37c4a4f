"""`run --window START..END`: the backfill window of the command line, parsed as the Dagster partition run gets it."""

from __future__ import annotations

from datetime import date, datetime, timezone

from cio_retl.errors import ConfigError
from cio_retl.project import Project

HINT = ("write --window START..END with dates or ISO timestamps (UTC unless they carry an offset), END excluded: "
        "--window 2024-03-02..2024-03-04 re-sends 2 and 3 March")


def parse_window(text: str) -> tuple[datetime, datetime]:
    """[start, end) as UTC datetimes from `START..END`; a date is its midnight UTC, as a daily partition is."""
    start_text, dots, end_text = text.partition("..")
    if not dots or not start_text.strip() or not end_text.strip():
        raise ConfigError(f"--window {text!r} is not START..END", hint=HINT)
    start, end = _instant(start_text.strip(), text), _instant(end_text.strip(), text)
    if end <= start:
        raise ConfigError(f"--window {text!r} ends before it starts (the end is excluded)", hint=HINT)
    return start, end


def _instant(value: str, whole: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--window {whole!r}: {value!r} is not a date or an ISO timestamp", hint=HINT) from None
    if len(value) == 10:  # a bare date
        parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def backfill_window(project: Project, syncs: list[str], text: str) -> tuple[datetime, datetime]:
    """The window of `run SYNC… --window`, for named syncs that each have `partition_by` (a ConfigError if not)."""
    unpartitioned = [name for name in syncs if not project.syncs[name].partition_by]
    if not syncs or unpartitioned:
        raise ConfigError("--window needs the syncs to backfill, each with partition_by"
                          + (f"; {', '.join(unpartitioned)} has none" if unpartitioned else ""),
                          hint="name event syncs with `partition_by: <timestamp column>`, e.g. "
                               "cio-retl run orders --window 2024-03-02..2024-03-04")
    return parse_window(text)
