"""Incremental models: render `{{ last_sync_time }}` (Unix seconds of the last successful run's start) in model SQL."""

from __future__ import annotations

import re

_LAST_SYNC_TIME = re.compile(r"\{\{\s*last_sync_time\s*\}\}")


def uses_last_sync_time(sql: str) -> bool:
    """True when the model reads only rows changed since the last run."""
    return bool(_LAST_SYNC_TIME.search(sql))


def render_model(sql: str, *, last_sync_time: int) -> str:
    """The model SQL with `{{ last_sync_time }}` replaced by an integer (0 before the first successful run)."""
    return _LAST_SYNC_TIME.sub(str(int(last_sync_time)), sql)
