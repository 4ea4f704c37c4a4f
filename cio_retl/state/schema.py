"""The tables of a sync's state file, and the upgrades that bring a file written by an older version up to date."""

from __future__ import annotations

import duckdb

# What a later delete needs of a row that has left the warehouse (kept in the snapshot and the write-ahead).
IDENTITY_COLUMNS = ("user_id", "email", "anonymous_id", "group_id", "object_type_id")
_IDENTS_DDL = ", ".join(f"{c} VARCHAR" for c in IDENTITY_COLUMNS)

# Fates a row can end a run in. The snapshot holds rows whose fate is settled: `delivered`, or `skipped` (no
# action matched; re-evaluated when the configuration changes). A `rejected` or `pending` row stays out of
# it (or keeps its previous version), so the next run's diff produces it again.
FATES = ("delivered", "rejected", "pending", "skipped", "unchanged")

TABLES = f"""
CREATE TABLE IF NOT EXISTS meta (name VARCHAR PRIMARY KEY, value VARCHAR);
-- What Customer.io holds, as far as we know: one row per key, with the configuration it was settled under.
-- _hash NULL: the row left the model but no action matched its delete (it is still in Customer.io).
CREATE TABLE IF NOT EXISTS snapshot (_key VARCHAR, _hash VARCHAR, {_IDENTS_DDL}, committed_at TIMESTAMPTZ,
    config_hash VARCHAR, fate VARCHAR, reason VARCHAR, run_id VARCHAR);
-- The write-ahead of the current run: every row it must settle, written in one transaction with its operations.
-- fate is set in advance for rows that need no delivery (an append-mode change that is not re-sent).
CREATE TABLE IF NOT EXISTS pending_rows (_key VARCHAR, _hash VARCHAR, _change VARCHAR, {_IDENTS_DDL}, run_id VARCHAR,
    config_hash VARCHAR, fate VARCHAR, reason VARCHAR);
CREATE TABLE IF NOT EXISTS ops (op_id BIGINT, _key VARCHAR, _hash VARCHAR, _change VARCHAR, action VARCHAR,
    priority INTEGER, endpoint VARCHAR, body VARCHAR, status VARCHAR, status_code INTEGER, reason VARCHAR);
-- Delivery outcomes, appended in commit groups while the run delivers (never an UPDATE of ops).
CREATE TABLE IF NOT EXISTS outcomes (op_id BIGINT, status VARCHAR, status_code INTEGER, reason VARCHAR);
-- Rows refused by Customer.io or a local check; `watermark` is the {{{{ last_sync_time }}}} the row was first
-- read with, so an incremental model reads it again until it is delivered or stuck.
CREATE TABLE IF NOT EXISTS rejections (_key VARCHAR, action VARCHAR, status_code INTEGER, reason VARCHAR,
    body VARCHAR, run_id VARCHAR, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ, attempts INTEGER, watermark BIGINT);
CREATE TABLE IF NOT EXISTS runs (run_id VARCHAR, sync VARCHAR, status VARCHAR, dry_run BOOLEAN,
    full_resync BOOLEAN, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, config_hash VARCHAR,
    extracted BIGINT, added BIGINT, changed BIGINT, removed BIGINT, operations BIGINT, accepted BIGINT,
    rejected BIGINT, pending BIGINT, requests BIGINT, duration_s DOUBLE, error VARCHAR, report JSON,
    skipped BIGINT, unchanged BIGINT);
"""

# Columns added since the first release: (table, column, type, how to fill existing rows).
_ADDED_COLUMNS = (
    ("snapshot", "config_hash", "VARCHAR", "(SELECT value FROM meta WHERE name = 'config_hash')"),
    ("snapshot", "fate", "VARCHAR", "'delivered'"),
    ("snapshot", "reason", "VARCHAR", None),
    ("snapshot", "run_id", "VARCHAR", None),
    ("pending_rows", "config_hash", "VARCHAR", "(SELECT value FROM meta WHERE name = 'config_hash')"),
    ("pending_rows", "fate", "VARCHAR", None),
    ("pending_rows", "reason", "VARCHAR", None),
    ("rejections", "watermark", "BIGINT", None),
    ("runs", "skipped", "BIGINT", None),
    ("runs", "unchanged", "BIGINT", None),
)


def create_or_upgrade(con: duckdb.DuckDBPyConnection) -> None:
    """Create missing tables, and add the columns a state file from an older version lacks (in place)."""
    con.execute(TABLES)
    existing = {(table, column) for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database()").fetchall()}
    for table, column, sql_type, fill in _ADDED_COLUMNS:
        if (table, column) not in existing:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
            if fill:
                con.execute(f"UPDATE {table} SET {column} = {fill}")


def stale_sql(alias: str, config_hash: str, *, append: bool) -> str:
    """SQL: is this snapshot row to be sent again under `config_hash` (`<content>.<triggers>`, see Project)?

    A skipped row, whenever either part changed; a delivered one when the content part changed — except in
    append mode, where a delivered event is never sent again.
    """
    content = config_hash.split(".")[0]
    skipped = f"({alias}.fate = 'skipped' AND {alias}.config_hash IS DISTINCT FROM {_text(config_hash)})"
    if append:
        return skipped
    return (f"({skipped} OR ({alias}.fate IS DISTINCT FROM 'skipped' AND "
            f"split_part(coalesce({alias}.config_hash, ''), '.', 1) <> {_text(content)}))")


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
