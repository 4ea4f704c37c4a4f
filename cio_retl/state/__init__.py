"""The state of each sync: snapshot, write-ahead log, outcomes, rejections and run history (one DuckDB file per sync)."""

from cio_retl.state.schema import IDENTITY_COLUMNS
from cio_retl.state.store import StateStore, state_file

__all__ = ["IDENTITY_COLUMNS", "StateStore", "state_file"]
