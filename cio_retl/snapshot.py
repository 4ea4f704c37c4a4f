"""The state store: one DuckDB file and one lock file per sync (snapshot, ops log, rejections, run history)."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import duckdb

from cio_retl.errors import SyncError, SyncLockedError

IDENTITY_COLUMNS = ("user_id", "email", "anonymous_id", "group_id", "object_type_id")
STUCK_AFTER_ATTEMPTS = 5

_IDENTS_DDL = ", ".join(f"{c} VARCHAR" for c in IDENTITY_COLUMNS)
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (name VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS snapshot (_key VARCHAR, _hash VARCHAR, {_IDENTS_DDL}, committed_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS pending_rows (_key VARCHAR, _hash VARCHAR, _change VARCHAR, {_IDENTS_DDL}, run_id VARCHAR);
CREATE TABLE IF NOT EXISTS ops (op_id BIGINT, _key VARCHAR, _hash VARCHAR, _change VARCHAR, action VARCHAR,
    priority INTEGER, endpoint VARCHAR, body VARCHAR, status VARCHAR, status_code INTEGER, reason VARCHAR);
CREATE TABLE IF NOT EXISTS rejections (_key VARCHAR, action VARCHAR, status_code INTEGER, reason VARCHAR,
    body VARCHAR, run_id VARCHAR, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ, attempts INTEGER);
CREATE TABLE IF NOT EXISTS runs (run_id VARCHAR, sync VARCHAR, status VARCHAR, dry_run BOOLEAN,
    full_resync BOOLEAN, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, config_hash VARCHAR,
    extracted BIGINT, added BIGINT, changed BIGINT, removed BIGINT, operations BIGINT, accepted BIGINT,
    rejected BIGINT, pending BIGINT, requests BIGINT, duration_s DOUBLE, error VARCHAR, report JSON);
"""


def state_file(state_dir: Path, sync: str) -> Path:
    """The DuckDB file of one sync's state."""
    return state_dir / f"{sync}.duckdb"


class StateStore:
    """An open, locked state file of one sync. Use `StateStore.open(...)` as a context manager."""

    def __init__(self, sync: str, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.sync = sync
        self.con = con
        self.path = path

    @classmethod
    @contextmanager
    def open(cls, state_dir: Path, sync: str, *, run_id: str, command: str = "run",
             memory_limit: str = "192MB") -> Iterator[StateStore]:
        """Take the sync's lock (or fail at once naming the holder), then open its DuckDB file."""
        state_dir.mkdir(parents=True, exist_ok=True)
        with _sync_lock(state_dir / f"{sync}.lock", sync, run_id=run_id, command=command):
            path = state_file(state_dir, sync)
            try:
                con = duckdb.connect(str(path))
            except duckdb.Error as exc:
                raise SyncError(sync, f"cannot open state file {path}: {exc}",
                                hint="is another tool holding the file open? close it and retry") from exc
            try:
                con.execute("SET TimeZone = 'UTC'")
                # Bounded memory: large extracts and operation logs spill to disk instead of growing RSS.
                con.execute("SET memory_limit = ?", [memory_limit])
                con.execute(f"SET temp_directory = '{state_dir / 'tmp'}'")
                con.execute(SCHEMA)
                yield cls(sync, con, path)
            finally:
                con.close()

    # ---------------------------------------------------------------- meta

    def get_meta(self, name: str) -> str | None:
        rows = self.con.execute("SELECT value FROM meta WHERE name = ?", [name]).fetchall()
        return rows[0][0] if rows else None

    def set_meta(self, name: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [name, value])

    def count(self, table: str, where: str = "TRUE") -> int:
        return self.con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchall()[0][0]

    # ---------------------------------------------------------------- runs

    def record_run(self, report: Any, *, started_at: datetime, config_hash: str) -> None:
        """Append one run to the history (the full report as JSON)."""
        finished = datetime.now(timezone.utc)
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [report.run_id, report.sync, report.status, report.dry_run, report.full_resync, started_at, finished,
             config_hash, report.extracted, report.added, report.changed, report.removed, report.operations,
             report.accepted, report.rejected, report.pending, report.requests, report.duration_s, report.error,
             json.dumps(report.to_dict(), default=str)])

    def stuck_count(self) -> int:
        return self.count("rejections", f"attempts >= {STUCK_AFTER_ATTEMPTS}")


@contextmanager
def _sync_lock(path: Path, sync: str, *, run_id: str, command: str) -> Iterator[None]:
    """An exclusive flock on the sync's lock file; the kernel releases it if the process dies."""
    handle: IO[str] = open(path, "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "an unknown process"
        handle.close()
        raise SyncLockedError(sync, f"another run holds the lock ({holder})",
                              hint="wait for that run to finish; the lock is released as soon as its process ends")
    try:
        handle.seek(0)
        handle.truncate()
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        handle.write(f"{command} {run_id}, pid {os.getpid()} on {socket.gethostname()}, since {started}")
        handle.flush()
        yield
    finally:
        handle.seek(0)
        handle.truncate()
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()
