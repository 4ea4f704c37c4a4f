"""The tables of a sync's state file, the upgrade of files written by older versions, and when a row is stale."""

from __future__ import annotations

import duckdb

from cio_retl.actions.catalog import ACTIONS
from cio_retl.sqltext import quote_str

STATE_VERSION = 3  # 3: the write-ahead and outcomes in the run log (state/wal.py), not in tables
# What a later delete needs of a row that has left the warehouse (kept in the snapshot and the write-ahead).
IDENTITY_COLUMNS = ("user_id", "email", "anonymous_id", "group_id", "object_type_id")
_IDENTS_DDL = ", ".join(f"{c} VARCHAR" for c in IDENTITY_COLUMNS)
# An operation's id is its row's id times OP_SLOTS plus the action's index in the catalogue (15 actions), so an
# outcome names its row and action without any table of operations.
OP_SLOTS = 16
# The slot past the catalogue: a segment sync's one operation per row (adding or removing a member).
SEGMENT_SLOT, SEGMENT_SLOT_NAME = len(ACTIONS), "segmentMembership"
_SLOT = {slug: index for index, slug in enumerate([*ACTIONS, SEGMENT_SLOT_NAME])}
_ACTION_BY_SLOT = "[" + ", ".join(quote_str(slug) for slug in _SLOT) + "]"
assert len(_SLOT) <= OP_SLOTS, "every action needs a slot of its own in an operation id"


def slot_of(action: str) -> int:
    """The slot of an action (or of SEGMENT_SLOT_NAME) in operation ids."""
    return _SLOT[action]


def op_id_sql(row_id: str, action: str) -> str:
    """SQL of the id of `action`'s operation for the row whose id is the SQL expression `row_id`."""
    return op_id_of_slot_sql(row_id, str(_SLOT[action]))


def op_id_of_slot_sql(row_id: str, slot: str) -> str:
    """SQL of an operation id from SQL expressions of its row id and its slot (e.g. a CASE picking the action)."""
    return f"{row_id} * {OP_SLOTS} + ({slot})"


def action_of_op_sql(op_id: str) -> str:
    """SQL of the action slug an operation id (the SQL expression `op_id`) belongs to."""
    return f"{_ACTION_BY_SLOT}[{op_id} % {OP_SLOTS} + 1]"


def row_of_op_sql(op_id: str) -> str:
    """SQL of the row id an operation id (the SQL expression `op_id`) belongs to."""
    return f"{op_id} // {OP_SLOTS}"


# Fates a row can end a run in. The snapshot holds rows whose fate is settled: `delivered`, or `skipped` (no
# action matched; re-evaluated when the configuration changes). A `rejected` or `pending` row stays out of
# it (or keeps its previous version), so the next run's diff produces it again.
FATES = ("delivered", "rejected", "pending", "skipped", "unchanged")

TABLES = f"""
CREATE TABLE IF NOT EXISTS meta (name VARCHAR PRIMARY KEY, value VARCHAR);
-- What Customer.io holds, as far as we know: one row per key, with the configuration it was settled under.
-- _hash NULL: the row left the model but no action matched its delete (it is still in Customer.io).
-- nulls: the attributes Customer.io holds no value for once the row was accepted, as its operations wrote them
-- (the clear guard compares with them).
CREATE TABLE IF NOT EXISTS snapshot (_key VARCHAR, _hash UBIGINT, {_IDENTS_DDL}, committed_at TIMESTAMPTZ,
    config_hash VARCHAR, fate VARCHAR, reason VARCHAR, run_id VARCHAR, nulls VARCHAR[]);
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

# Columns added since the first release: (table, column, type, how to fill existing rows). Added whenever missing.
_ADDED_COLUMNS = (
    ("snapshot", "config_hash", "VARCHAR", "(SELECT value FROM meta WHERE name = 'config_hash')"),
    ("snapshot", "fate", "VARCHAR", "'delivered'"),
    ("snapshot", "reason", "VARCHAR", None),
    ("snapshot", "run_id", "VARCHAR", None),
    ("snapshot", "nulls", "VARCHAR[]", None),
    ("rejections", "watermark", "BIGINT", None),
    ("runs", "skipped", "BIGINT", None),
    ("runs", "unchanged", "BIGINT", None),
)


def create_or_upgrade(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create missing tables, and bring a state file of an older version up to date; return what it did."""
    con.execute("CREATE TABLE IF NOT EXISTS meta (name VARCHAR PRIMARY KEY, value VARCHAR)")
    version = con.execute("SELECT value FROM meta WHERE name = 'state_version'").fetchall()
    notes = []
    if not version and ("snapshot", "_key") in _columns(con):
        notes = _upgrade_from_1(con)
        for table in ("pending_rows", "outcomes", "ops"):  # every row is sent again: nothing there to settle
            con.execute(f"DROP TABLE IF EXISTS {table}")
    # Version 2 kept the write-ahead in tables (pending_rows, outcomes): state.wal.adopt_version_2 moves what
    # they hold unsettled into the run log, for the next run to settle before anything else.
    con.execute(TABLES)
    existing = _columns(con)
    for table, column, sql_type, fill in _ADDED_COLUMNS:
        if (table, column) not in existing:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
            if fill:
                con.execute(f"UPDATE {table} SET {column} = {fill}")
    con.execute("INSERT OR REPLACE INTO meta VALUES ('state_version', ?)", [str(STATE_VERSION)])
    return notes


def _columns(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    return {(table, column) for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database()").fetchall()}


def _upgrade_from_1(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Version 1 kept md5 text hashes: they are reset (one full resync follows); an interrupted run's leftovers
    are dropped with the old write-ahead tables (its rows are diffed again; events keep their ids)."""
    con.execute("ALTER TABLE snapshot ALTER _hash SET DATA TYPE UBIGINT USING 0::UBIGINT")
    return ["state file upgraded from version 1: row hashes changed, so every row is sent once more"]


def stale_sql(alias: str, config_hash: str, *, append: bool) -> str:
    """SQL: is this snapshot row to be sent again under `config_hash` (`<content>.<triggers>`, see Project)?

    A skipped row, whenever either part changed; a delivered one when the content part changed — except in
    append mode, where a delivered event is never sent again.
    """
    content = config_hash.split(".")[0]
    skipped = f"({alias}.fate = 'skipped' AND {alias}.config_hash IS DISTINCT FROM {quote_str(config_hash)})"
    if append:
        return skipped
    return (f"({skipped} OR ({alias}.fate IS DISTINCT FROM 'skipped' AND "
            f"split_part(coalesce({alias}.config_hash, ''), '.', 1) <> {quote_str(content)}))")
