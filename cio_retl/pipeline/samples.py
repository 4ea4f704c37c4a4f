"""The first calls and operations of a run, kept as its report's samples (what `plan` and Dagster show)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from cio_retl.pipeline.report import SyncReport

SAMPLE_CALLS = 10
SAMPLE_OPERATIONS = 5


def first_operations(stream: Iterator[pa.RecordBatch], report: SyncReport) -> Iterator[pa.RecordBatch]:
    """The stream, keeping its first operations as the report's samples on the way."""
    for batch in stream:
        if len(report.sample_operations) < SAMPLE_OPERATIONS:
            report.sample_operations += [{"action": action, "body": json.loads(body)} for action, body, reason in zip(
                *(batch.column(c).to_pylist()[:SAMPLE_OPERATIONS] for c in ("action", "body", "reason"))) if not reason]
            report.sample_operations = report.sample_operations[:SAMPLE_OPERATIONS]
        yield batch


def sample_calls(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The run's first calls (and deletes), without their NULL fields."""
    fields = "COLUMNS(lambda c: c = '_key' OR c = '_change' OR NOT starts_with(c, '_'))"
    rows = con.sql(f"SELECT {fields} FROM calls ORDER BY _seq LIMIT {SAMPLE_CALLS}").to_arrow_table()
    extra = con.sql(f"SELECT {fields} FROM delete_calls LIMIT {SAMPLE_CALLS}").to_arrow_table()
    return [_drop_nulls(row) for row in rows.to_pylist() + extra.to_pylist()][:SAMPLE_CALLS]


def sample_operations(con: duckdb.DuckDBPyConnection, table: str) -> list[dict[str, Any]]:
    """The first operations a dry run built into `table` (those a local check did not refuse)."""
    return [{"action": action, "body": json.loads(body)} for action, body in con.execute(
        f"SELECT action, body FROM {table} WHERE reason IS NULL ORDER BY op_id LIMIT {SAMPLE_OPERATIONS}").fetchall()]


def _drop_nulls(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if value is not None}
