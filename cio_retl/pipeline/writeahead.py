"""The write-ahead: each row the run must settle, with the number of operations it needs, on disk chunk by chunk
(the run log, state/wal.py) before those operations are built and streamed to delivery."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from cio_retl.actions.apply import CompiledAction, compile_enabled, count_warnings, describe_warning, select_sql
from cio_retl.actions.catalog import ACTIONS
from cio_retl.actions.columns import CallSchema
from cio_retl.pipeline.commit import UNSENT_CHANGE, record_violations
from cio_retl.pipeline.report import SyncReport
from cio_retl.project import ActionOverride, Sync
from cio_retl.pipeline.convert import IDENT_PREFIX
from cio_retl.sqltext import quote_str
from cio_retl.state import IDENTITY_COLUMNS
from cio_retl.state.schema import op_id_sql
from cio_retl.state.wal import RunLog, rows_select

# Rows per chunk: the first is small so delivery starts at once; later ones amortise each statement.
FIRST_CHUNK_ROWS = 16_384
CHUNK_ROWS = 65_536
# The action that handles each call type by default, and each delete call (named in a skipped row's reason).
HANDLER = {"identify": "createUpdatePerson", "group": "createUpdateObject", "track": "trackEvent",
           "page": "trackPageView", "screen": "trackScreenView", "alias": "mergePeople"}
DELETE_HANDLER = {"identify": "deletePerson", "group": "deleteObject or deleteRelationship"}


@dataclass
class CallsTable:
    """One calls view (`calls` or `delete_calls`) with the actions that fire for at least one of its calls."""

    name: str
    actions: list[CompiledAction]
    rows: tuple[int, int, int]  # count, min _seq, max _seq
    skip_reason: str

    def priorities(self) -> list[int]:
        return sorted({item.action.priority for item in self.actions})


@dataclass
class Operations:
    """This run's operations: counts known up front, rows written ahead chunk by chunk, operations streamed."""

    con: duckdb.DuckDBPyConnection
    tables: list[CallsTable]
    run_id: str
    config_hash: str
    log: RunLog | None = None  # the run's log; None for a dry run, which writes nothing
    by_action: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.by_action.values())

    def record(self, report: SyncReport) -> None:
        """The operations planned, per action, and the actions' warnings into the run's report."""
        report.operations_by_action, report.operations = self.by_action, self.total
        report.warnings.extend(self.warnings)

    def stream(self, on_written: Callable[[Path], None] = lambda chunk: None) -> Iterator[pa.RecordBatch]:
        """Operations in delivery order (op_id, priority, endpoint, body, reason), each chunk's rows written ahead
        (on disk, then `on_written` with the chunk's file) before its operations are built. A table whose actions
        span several priorities writes all its rows first, then streams one priority after the other."""
        for table in self.tables:
            chunks = list(_chunks(*table.rows))
            priorities = table.priorities()
            if len(priorities) <= 1:
                for lo, hi in chunks:
                    on_written(self._write_rows(table, lo, hi))
                    yield from self._operations(table, table.actions, lo, hi)
                continue
            for lo, hi in chunks:
                on_written(self._write_rows(table, lo, hi))
            for priority in priorities:
                same = [item for item in table.actions if item.action.priority == priority]
                for lo, hi in chunks:
                    yield from self._operations(table, same, lo, hi)

    def materialize(self, table_name: str) -> None:
        """Every operation into a TEMP table, writing nothing ahead (a dry run)."""
        parts = [self._operations_sql(table, table.actions, lo, hi)
                 for table in self.tables for lo, hi in _chunks(*table.rows) if table.actions]
        select = " UNION ALL ".join(parts) if parts else _EMPTY_OPERATIONS
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table_name} AS {select}")

    def _write_rows(self, table: CallsTable, lo: int, hi: int) -> Path:
        """Write one chunk's rows ahead; return its file."""
        assert self.log is not None, "a dry run writes nothing ahead"
        matches = " + ".join(f"(CASE WHEN {item.trigger_sql} THEN 1 ELSE 0 END)" for item in table.actions) or "0"
        return self.log.write_rows(self.con, rows_select(f"{table.name} WHERE _seq >= {lo} AND _seq < {hi}", {
            **_call_columns(self.run_id, self.config_hash, self.log.run_no), "_change": "_change", "fate": "NULL",
            "reason": quote_str(table.skip_reason), "n_ops": matches}))

    def _operations(self, table: CallsTable, actions: list[CompiledAction], lo: int, hi: int) -> Iterator[pa.RecordBatch]:
        if actions:
            yield from self.con.sql(self._operations_sql(table, actions, lo, hi)).to_arrow_table().to_batches()

    @staticmethod
    def _operations_sql(table: CallsTable, actions: list[CompiledAction], lo: int, hi: int) -> str:
        source = f"(SELECT * FROM {table.name} WHERE _seq >= {lo} AND _seq < {hi})"
        return " UNION ALL ".join(
            f"SELECT {op_id_sql('_seq', item.action.slug)} AS op_id, {item.action.priority} AS priority, "
            f"{quote_str(item.action.endpoint)} AS endpoint, {quote_str(item.action.slug)} AS action, body, reason "
            f"FROM ({select_sql(item, source)})" for item in actions)


_EMPTY_OPERATIONS = ("SELECT NULL::BIGINT AS op_id, NULL::INTEGER AS priority, NULL::VARCHAR AS endpoint, "
                     "NULL::VARCHAR AS action, NULL::VARCHAR AS body, NULL::VARCHAR AS reason WHERE FALSE")


def plan_operations(con: duckdb.DuckDBPyConnection, *, sync_name: str, sync: Sync,
                    overrides: dict[str, ActionOverride], run_id: str, config_hash: str,
                    log: RunLog | None = None) -> Operations:
    """Compile the actions against both calls views and count, in one scan each, the operations they make."""
    tables, by_action, warnings = [], {}, []
    for name, deletes in (("calls", False), ("delete_calls", True)):
        compiled = compile_enabled(CallSchema.of(con.table(name)), sync_name=sync_name, overrides=overrides,
                                   convert_timestamps=sync.convert_timestamps, skip_nulls=sync.nulls == "skip")
        counts_sql = ", ".join(f"count(*) FILTER (WHERE {item.trigger_sql})" for item in compiled)
        *counts, n, low, high = con.execute(
            f"SELECT {counts_sql + ', ' if counts_sql else ''}count(*), min(_seq), max(_seq) FROM {name}").fetchall()[0]
        active = [item for item, count in zip(compiled, counts) if count]
        for item, count in zip(compiled, counts):
            if count:
                by_action[item.action.slug] = by_action.get(item.action.slug, 0) + count
        keys: dict[str, list[str]] = {}
        warnings += [describe_warning(label, count, keys.get(label, []))
                     for label, count in count_warnings(con, active, name, keys).items()]
        tables.append(CallsTable(name, active, (n, low if n else 0, high if n else -1),
                                  skip_reason(sync, overrides, deletes=deletes)))
    return Operations(con, tables, run_id, config_hash, log, dict(sorted(by_action.items())), warnings)


def write_settled_rows(con: duckdb.DuckDBPyConnection, log: RunLog, *, run_id: str, config_hash: str,
                       watermark: int, whole_model: bool) -> Path | None:
    """Rows settled without delivery: key violations (rejections at once) and append-mode changes that are not
    re-sent (written ahead with their fate); return the latter's chunk, if any."""
    record_violations(con, run_id, watermark, whole_model=whole_model)
    if not con.execute("SELECT count(*) FROM unsent_calls").fetchall()[0][0]:
        return None
    reason = quote_str("append mode sends a row once: a change to it after it was delivered is not re-sent")
    return log.write_rows(con, rows_select("unsent_calls", {
        **_call_columns(run_id, config_hash, log.run_no), "_change": "'changed'", "fate": quote_str(UNSENT_CHANGE),
        "reason": reason, "n_ops": "0"}))


def _call_columns(run_id: str, config_hash: str, run_no: int) -> dict[str, str]:
    """The write-ahead columns every row takes from its call and its run."""
    return {"row_id": "_seq", "_key": "_key", "_hash": "_hash", "nulls": "_nulls", "run_id": quote_str(run_id),
            "config_hash": quote_str(config_hash), "run_no": str(run_no),
            **{column: f"{IDENT_PREFIX}{column}" for column in IDENTITY_COLUMNS}}


def _chunks(count: int, low: int, high: int) -> Iterator[tuple[int, int]]:
    """[lo, hi) ranges of _seq holding about CHUNK_ROWS rows each (the first FIRST_CHUNK_ROWS)."""
    if count == 0:
        return
    density = count / (high - low + 1)  # rows per _seq: below 1 when only some stage rows changed
    lo, size = low, FIRST_CHUNK_ROWS
    while lo <= high:
        hi = min(high + 1, lo + max(1, int(size / density)))
        yield lo, hi
        lo, size = hi, CHUNK_ROWS


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
