"""The hooks where a run makes its progress durable beyond the local DuckDB file (no-ops for a local folder)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa


class Checkpoints:
    """Where a run makes its progress durable beyond the local DuckDB file; nothing to do for a local folder.

    A state on object storage overrides these: each chunk of the write-ahead once written, each commit group of
    outcomes (called on the outcome writer's thread), and the snapshot after the commit stage.
    """

    def wrote_ahead(self, con: duckdb.DuckDBPyConnection, chunk: Path) -> None:
        """A chunk of the write-ahead is on disk: the Parquet file `chunk` of the run log (state/wal.py)."""

    def committed_outcomes(self, group: pa.Table) -> None:
        """One commit group of outcomes (wal.OUTCOME_COLUMNS) was appended to the run's outcome log."""

    def settled(self, con: duckdb.DuckDBPyConnection, rows_sql: str) -> None:
        """The commit stage settled the runs whose write-ahead rows `rows_sql` selects: snapshot and rejections moved."""
