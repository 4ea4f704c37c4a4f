"""Read-only views of a sync's state for the CLI: run history, open rejections, and one row's whole story."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import duckdb

from cio_retl import engine
from cio_retl.project.state_location import is_remote
from cio_retl.state.readers import held_by, reader_copy, real_state_file
from cio_retl.state.remote import read_remote, run_in_progress
from cio_retl.state.schema import action_of_op_sql, row_of_op_sql
from cio_retl.state.store import connect_file, state_file
from cio_retl.state.wal import wal_of


@dataclass(frozen=True)
class StateUnavailable:
    """Why a sync's state cannot be read now."""

    reason: str


@contextmanager
def reading(location: Path | str, sync: str,
            notes: list[str] | None = None) -> Iterator[duckdb.DuckDBPyConnection | StateUnavailable]:
    """A sync's state opened read-only, or why it cannot be read (never run).

    While a run holds the file: the state as that run found it (state/readers.py), and a line in `notes` saying
    which run, since when. On object storage: the last checkpoint, restored into a temporary copy (no lease: a
    run may be going on).
    """
    if is_remote(location):
        holder = run_in_progress(str(location), sync)
        with read_remote(str(location), sync, partial(connect_file, sync, "192MB")) as con:
            if holder and notes is not None and con is not None:
                notes.append(f"{sync}: a run is in progress ({holder}); shown: the state as of its last checkpoint")
            yield StateUnavailable("never run") if con is None else con
        return
    path = state_file(Path(location), sync)
    if not path.exists():
        yield StateUnavailable("never run")
        return
    try:
        con = engine.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        if "lock" not in str(exc).lower():  # not a run holding it: a damaged or foreign file
            yield StateUnavailable(f"cannot read {path}: {str(exc).splitlines()[0]}")
            return
        holder = held_by(Path(location), sync)
        try:
            con = engine.connect(str(reader_copy(Path(location), sync)), read_only=True)
        except duckdb.Error:
            yield StateUnavailable(f"a run is in progress ({holder}); its state can be read when it ends")
            return
        if notes is not None:
            notes.append(f"{sync}: a run is in progress ({holder}); shown: the state as it was when it started")
    try:
        yield con
    finally:
        con.close()


def _read(location: Path | str, sync: str, sql: str, params: list[Any],
          notes: list[str] | None) -> list[tuple] | StateUnavailable:
    with reading(location, sync, notes) as con:
        if isinstance(con, StateUnavailable):
            return con
        try:
            return con.execute(sql, params).fetchall()
        except duckdb.CatalogException:
            return StateUnavailable("never run")


def recent_runs(state_dir: Path | str, sync: str, limit: int,
                notes: list[str] | None = None) -> list[tuple] | StateUnavailable:
    """The last `limit` real runs: finished (UTC), status, counts, error (`notes`: see `reading`)."""
    return _read(state_dir, sync, "SELECT strftime(finished_at, '%Y-%m-%d %H:%M:%S'), status, extracted, added, changed, "
                 "removed, accepted, rejected, pending, coalesce(skipped, 0), error FROM runs WHERE NOT dry_run "
                 "ORDER BY started_at DESC LIMIT ?", [limit], notes)


def recorded_workspace(state_dir: Path | str, sync: str) -> str | None:
    """The Customer.io workspace a sync's state describes (None: never run, or not recorded yet)."""
    rows = _read(state_dir, sync, "SELECT value FROM meta WHERE name = 'workspace'", [], None)
    return rows[0][0] if isinstance(rows, list) and rows else None


REJECTION_FIELDS = ("key", "fate", "action", "status_code", "reason", "attempts", "last_seen")


def open_rejections(state_dir: Path | str, sync: str, limit: int,
                    notes: list[str] | None = None) -> list[tuple] | StateUnavailable:
    """Rows refused (fate `rejected`, most attempts first), then rows no action matched (fate `skipped`)."""
    return _read(state_dir, sync, """
        SELECT _key, fate, action, status_code, reason, attempts, last_seen FROM (
          SELECT _key, 'rejected' AS fate, action, status_code, reason, attempts,
                 strftime(last_seen, '%Y-%m-%d %H:%M:%S') AS last_seen, 0 AS o FROM rejections
          UNION ALL
          SELECT _key, 'skipped', NULL, NULL, reason, NULL, strftime(committed_at, '%Y-%m-%d %H:%M:%S'), 1
            FROM snapshot WHERE fate = 'skipped')
        ORDER BY o, attempts DESC NULLS LAST, last_seen DESC, _key LIMIT ?""", [limit], notes)


def row_story(con: duckdb.DuckDBPyConnection, key: str) -> dict[str, Any]:
    """Everything the state knows of one row: its snapshot entry, open rejections, and its operations in the runs
    the run log keeps (`history_runs`), newest first. The key is a query parameter."""
    snapshot = _dicts(con, "SELECT _hash, committed_at, run_id, fate, reason, config_hash, nulls FROM snapshot "
                           "WHERE _key = ?", [key])
    rejections = _dicts(con, "SELECT action, status_code, reason, body, attempts, first_seen, last_seen, run_id "
                             "FROM rejections WHERE _key IS NOT DISTINCT FROM ? ORDER BY action", [key])
    settled = con.execute("SELECT value FROM meta WHERE name = 'settled_through'").fetchall()
    settled_through = int(settled[0][0]) if settled else -1
    file = Path(con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
                            ).fetchall()[0][0])
    wal = wal_of(real_state_file(file))
    # A reader copy: the runs it settled, not the one going on now.
    runs = [run for run in wal.runs() if file == real_state_file(file) or run <= settled_through]
    con.register("story_outcomes", wal.outcomes(runs))
    try:
        operations = _dicts(con, f"""
            SELECT r.run_no, r.run_id, r._change AS change, r.n_ops, r.fate AS preset_fate, r.reason AS skip_reason,
                   {action_of_op_sql('o.op_id')} AS action, o.status, o.status_code,
                   o.reason AS answer, o.body, o.answered_at, runs.started_at AS run_started_at
              FROM ({wal.rows_sql(runs)}) r
              LEFT JOIN story_outcomes o ON o.run_no = r.run_no AND {row_of_op_sql('o.op_id')} = r.row_id
              LEFT JOIN runs ON runs.run_id = r.run_id
             WHERE r._key = ? ORDER BY r.run_no DESC, o.op_id""", [key])
    finally:
        con.unregister("story_outcomes")
    workspace = con.execute("SELECT value FROM meta WHERE name = 'workspace'").fetchall()
    return {"snapshot": snapshot[0] if snapshot else None, "rejections": rejections, "operations": operations,
            "settled_through": settled_through, "workspace": workspace[0][0] if workspace else None}


def _dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]
