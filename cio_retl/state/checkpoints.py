"""The hooks where a run makes its progress durable beyond the local DuckDB file (no-ops for a local folder)."""

from __future__ import annotations

import duckdb
import pyarrow as pa


class Checkpoints:
    """Where a run makes its progress durable beyond the local DuckDB file; nothing to do for a local folder.

    A state on object storage overrides these: each chunk of the write-ahead once written, each commit group of
    outcomes (called on the outcome writer's thread), and the snapshot after the commit stage.
    """

    def wrote_ahead(self, con: duckdb.DuckDBPyConnection, rows: str) -> None:
        """A chunk of the write-ahead was committed: `rows` is a SQL condition on `pending_rows` naming exactly it."""

    def committed_outcomes(self, group: pa.Table) -> None:
        """One commit group of outcomes (the columns of the `outcomes` table) was appended to it."""

    def settled(self, con: duckdb.DuckDBPyConnection) -> None:
        """The commit stage settled the write-ahead: the snapshot and rejections moved."""
