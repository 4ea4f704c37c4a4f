"""Opening a DuckDB connection with the settings every cio-retl connection needs."""

from __future__ import annotations

import duckdb

from cio_retl.stopping import interruptible


def connect(database: str = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never draws its progress bar (which goes to stdout, into `--json` output)."""
    con = duckdb.connect(database, read_only=read_only)
    con.execute("SET enable_progress_bar = false")
    interruptible(con)
    return con
