"""The warehouse protocol: run a SELECT and stream its rows as Arrow record batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import pyarrow as pa


class Warehouse(Protocol):
    """A connection to one warehouse. Implementations translate driver errors into WarehouseError."""

    name: str

    def stream(self, sql: str, *, sync: str, params: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
        """Run `sql` and yield its rows as record batches with normalised types (see types.py); `params` are
        text values bound to the placeholders of dialect.key_filter_sql."""
        ...

    def schema(self, sql: str, *, sync: str) -> pa.Schema:
        """The columns `sql` returns, without reading rows (LIMIT 0)."""
        ...

    def check(self) -> None:
        """Connect and run SELECT 1; raise WarehouseError with a hint if that fails."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
