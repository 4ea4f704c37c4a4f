"""The write-ahead: the rows a run must settle and every operation built for them, made durable in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from cio_retl.actions.apply import build_operations
from cio_retl.actions.catalog import ACTIONS
from cio_retl.commit import UNSENT_CHANGE, record_violations
from cio_retl.config import ActionOverride, Sync
from cio_retl.rowhash import quote
from cio_retl.state import IDENTITY_COLUMNS

# The action that handles each call type by default, and each delete call (named in a skipped row's reason).
HANDLER = {"identify": "createUpdatePerson", "group": "createUpdateObject", "track": "trackEvent",
           "page": "trackPageView", "screen": "trackScreenView", "alias": "mergePeople"}
DELETE_HANDLER = {"identify": "deletePerson", "group": "deleteObject or deleteRelationship"}


@dataclass
class Built:
    """What the write-ahead holds for this run: operations per action, local rejections, warnings."""

    operations_by_action: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    warnings: list[str] = field(default_factory=list)


def write_ahead(con: duckdb.DuckDBPyConnection, *, sync_name: str, sync: Sync, schema: pa.Schema,
                overrides: dict[str, ActionOverride], run_id: str, config_hash: str, watermark: int,
                whole_model: bool) -> Built:
    """Write the rows to settle and all their operations, or nothing: a failure while building (a bad mapping,
    out of memory, a kill) leaves no half-built run behind, so the next run simply diffs those rows again."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"INSERT INTO pending_rows BY NAME {_rows_sql(sync, overrides, schema, run_id, config_hash)}")
        record_violations(con, run_id, watermark, whole_model=whole_model)
        built = build_into(con, "ops", sync_name=sync_name, sync=sync, overrides=overrides)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return built


def build_into(con: duckdb.DuckDBPyConnection, ops_table: str, *, sync_name: str, sync: Sync,
               overrides: dict[str, ActionOverride]) -> Built:
    """Run the calls and the delete calls through the actions into `ops_table` (the ops log, or a dry run's)."""
    built, next_id = Built(), 1
    for calls_table in ("calls", "delete_calls"):
        summary = build_operations(con, sync_name=sync_name, calls_table=calls_table, ops_table=ops_table,
                                   overrides=overrides, convert_timestamps=sync.convert_timestamps,
                                   first_op_id=next_id)
        next_id = summary.next_op_id
        built.warnings.extend(f"{label} ({count} row(s))" for label, count in summary.warnings.items())
    built.operations_by_action = dict(con.execute(
        f"SELECT action, count(*) FROM {ops_table} GROUP BY 1 ORDER BY 1").fetchall())
    built.rejected = con.execute(f"SELECT count(*) FROM {ops_table} WHERE status = 'rejected'").fetchall()[0][0]
    return built


def _rows_sql(sync: Sync, overrides: dict[str, ActionOverride], schema: pa.Schema, run_id: str,
              config_hash: str) -> str:
    """SELECT of every row this run settles: changes and removals (fate decided by delivery), and append-mode
    changes that are not re-sent (fate decided now). `reason` says why, should no action match the row."""
    idents = ", ".join(f"CAST({quote(c)} AS VARCHAR) AS {c}" if c in schema.names else f"NULL::VARCHAR AS {c}"
                       for c in IDENTITY_COLUMNS)
    plain = ", ".join(IDENTITY_COLUMNS)
    common = f"{_text(run_id)} AS run_id, {_text(config_hash)} AS config_hash"
    unsent = _text("append mode sends a row once: a change to it after it was delivered is not re-sent")
    return (f"SELECT _key, _hash, _change, {idents}, {common}, NULL AS fate, "
            f"{_text(skip_reason(sync, overrides))} AS reason FROM changes "
            f"UNION ALL SELECT _key, _hash, 'removed', {plain}, {common}, NULL, "
            f"{_text(skip_reason(sync, overrides, deletes=True))} FROM removed "
            f"UNION ALL SELECT _key, _hash, 'changed', {idents}, {common}, '{UNSENT_CHANGE}', {unsent} FROM unsent")


def skip_reason(sync: Sync, overrides: dict[str, ActionOverride], *, deletes: bool = False) -> str:
    """Why a row gets no operation: the action that handles its call type is disabled, or its trigger was false."""
    what = "delete call" if deletes else f"{sync.type} call"
    handled_by = DELETE_HANDLER.get(sync.type) if deletes else HANDLER[sync.type]
    if handled_by is None:  # only mirror syncs (identify, group) remove anything
        return f"{sync.type} syncs send no deletes"
    handlers = handled_by.split(" or ")
    states = []
    for slug in handlers:
        override = overrides.get(slug)
        if override is not None and not override.enabled:
            states.append(f"{slug} is disabled")
        else:
            trigger = override.trigger if override and override.trigger else ACTIONS[slug].trigger
            states.append(f"{slug}'s trigger {trigger!r} was false")
    return (f"no action matched this {what} ({'; '.join(states)}): fix actions.{handlers[0]} in the project file; "
            f"`cio-retl test-action` shows which part of a trigger is false")


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
