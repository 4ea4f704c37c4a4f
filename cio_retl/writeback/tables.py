"""The sync log's two tables: their columns in portable kinds, and each warehouse's name for a kind."""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa

Kind = Literal["text", "timestamp", "integer"]
COUNTS = ("extracted", "added", "changed", "removed", "accepted", "rejected", "pending", "skipped", "requests")

SYNC_RUNS: list[tuple[str, Kind]] = [
    ("sync", "text"), ("run_id", "text"), ("workspace_host", "text"), ("workspace_site_id", "text"),
    ("started_at", "timestamp"), ("finished_at", "timestamp"), ("status", "text"), ("error", "text"),
    *((name, "integer") for name in COUNTS)]
SYNC_CHANGELOG: list[tuple[str, Kind]] = [
    ("sync", "text"), ("run_id", "text"), ("logged_at", "timestamp"), ("key", "text"), ("key_json", "text"),
    ("op", "text"), ("fate", "text"), ("reason", "text"), ("attributes", "text"), ("attribute_values", "text")]
TABLES = {"sync_runs": SYNC_RUNS, "sync_changelog": SYNC_CHANGELOG}
AGE_COLUMN = {"sync_runs": "finished_at", "sync_changelog": "logged_at"}  # retention deletes by these

TYPES: dict[str, dict[Kind, str]] = {
    "duckdb": {"text": "VARCHAR", "timestamp": "TIMESTAMPTZ", "integer": "BIGINT"},
    "postgres": {"text": "TEXT", "timestamp": "TIMESTAMPTZ", "integer": "BIGINT"},
    "snowflake": {"text": "VARCHAR", "timestamp": "TIMESTAMP_TZ", "integer": "NUMBER(38, 0)"},
    "bigquery": {"text": "STRING", "timestamp": "TIMESTAMP", "integer": "INT64"},
}


def create_sql(dialect: str, qualified: str, table: str) -> str:
    """CREATE TABLE IF NOT EXISTS for one of the two tables, in a warehouse's types."""
    columns = ", ".join(f"{name} {TYPES[dialect][kind]}" for name, kind in TABLES[table])
    return f"CREATE TABLE IF NOT EXISTS {qualified} ({columns})"


ARROW: dict[Kind, pa.DataType] = {"text": pa.string(), "timestamp": pa.timestamp("us", tz="UTC"),
                                  "integer": pa.int64()}


def arrow_schema(table: str) -> pa.Schema:
    """One of the two tables as Arrow: the shape every writer receives."""
    return pa.schema([(name, ARROW[kind]) for name, kind in TABLES[table]])


def conform(table: str, rows: pa.Table | list[dict[str, Any]] | None) -> pa.Table:
    """Rows (a table with at least these columns, or dicts) in the table's column order and types; none → empty."""
    schema = arrow_schema(table)
    if rows is None:
        return schema.empty_table()
    if isinstance(rows, list):
        return pa.Table.from_pylist(rows, schema=schema)
    return rows.select(schema.names).cast(schema)
