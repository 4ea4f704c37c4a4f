"""The state store: one locked DuckDB file per sync, its metadata and run history, and the reads `status` and `rejections` need."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cio_retl.errors import SyncError
from cio_retl.rowhash import engine_probe_sql
from cio_retl.state.lock import sync_lock
from cio_retl.state.schema import create_or_upgrade, stale_sql

STUCK_AFTER_ATTEMPTS = 5


class Checkpoints:
    """Where a run makes its progress durable beyond the local DuckDB file; nothing to do for a local folder.

    A state on object storage overrides these: the write-ahead once written, each commit group of outcomes
    (called on the outcome writer's thread), and the snapshot after the commit stage.
    """

    def wrote_ahead(self, con: duckdb.DuckDBPyConnection) -> None:
        """The write-ahead (rows to settle and their operations) was committed."""

    def committed_outcomes(self, group: pa.Table) -> None:
        """One commit group of outcomes (op_id, status, status_code, reason) was appended to `outcomes`."""

    def settled(self, con: duckdb.DuckDBPyConnection) -> None:
        """The commit stage settled the write-ahead: the snapshot and rejections moved, the write-ahead is empty."""


def state_file(state_dir: Path, sync: str) -> Path:
    """The DuckDB file of one sync's state."""
    return state_dir / f"{sync}.duckdb"


class StateStore:
    """An open, locked state file of one sync. Use `StateStore.open(...)` as a context manager."""

    def __init__(self, sync: str, con: duckdb.DuckDBPyConnection, path: Path,
                 checkpoints: Checkpoints | None = None) -> None:
        self.sync = sync
        self.con = con
        self.path = path
        self.checkpoints = checkpoints or Checkpoints()
        self.notes: list[str] = []  # what opening the file did (an upgrade from an older version)

    @classmethod
    @contextmanager
    def open(cls, state_dir: Path, sync: str, *, run_id: str, command: str = "run",
             memory_limit: str = "192MB") -> Iterator[StateStore]:
        """Take the sync's lock (or fail at once naming the holder), then open its DuckDB file."""
        state_dir.mkdir(parents=True, exist_ok=True)
        with sync_lock(state_dir / f"{sync}.lock", sync, run_id=run_id, command=command):
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
                notes = create_or_upgrade(con)
                store = cls(sync, con, path)
                store.notes.extend(notes)
                yield store
            finally:
                con.close()

    # ---------------------------------------------------------------- meta

    def get_meta(self, name: str) -> str | None:
        rows = self.con.execute("SELECT value FROM meta WHERE name = ?", [name]).fetchall()
        return rows[0][0] if rows else None

    def set_meta(self, name: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [name, value])

    # ---------------------------------------------------------------- what the next run reads

    def stale_rows(self, config_hash: str, *, append: bool) -> int:
        """Snapshot rows a run must re-evaluate because they were settled under another configuration."""
        return self.con.execute(f"SELECT count(*) FROM snapshot sn WHERE {stale_sql('sn', config_hash, append=append)}"
                                ).fetchall()[0][0]

    def next_run_no(self) -> int:
        """Number a new run (its write-ahead rows and outcomes carry it), committed at once."""
        run_no = int(self.get_meta("run_no") or 0) + 1
        self.set_meta("run_no", str(run_no))
        return run_no

    def hash_function_changed(self) -> bool:
        """Does this engine hash rows differently from the one that wrote the snapshot (a DuckDB upgrade)?"""
        stored = self.get_meta("hash_probe")
        return stored is not None and stored != self.hash_probe()

    def hash_probe(self) -> str:
        return str(self.con.execute(f"SELECT {engine_probe_sql()}").fetchall()[0][0])

    def watermark(self) -> int:
        """`{{ last_sync_time }}`: the start of the last successful run, moved back to re-read open rejections.

        A row rejected or left pending must be read again by an incremental model, so the mark never passes
        the mark such a row was first read with — except for stuck rows, which wait for an edit in the model.
        """
        last = int(self.get_meta("last_success_started_at") or 0)
        oldest_open = self.con.execute("SELECT min(watermark) FROM rejections WHERE attempts < ?",
                                       [STUCK_AFTER_ATTEMPTS]).fetchall()[0][0]
        return last if oldest_open is None else min(last, int(oldest_open))

    # ---------------------------------------------------------------- runs

    def record_run(self, report: Any, *, started_at: datetime, config_hash: str) -> None:
        """Append one run to the history (the full report as JSON)."""
        finished = datetime.now(timezone.utc)
        values = {"run_id": report.run_id, "sync": report.sync, "status": report.status, "dry_run": report.dry_run,
                  "full_resync": report.full_resync, "started_at": started_at, "finished_at": finished,
                  "config_hash": config_hash, "duration_s": report.duration_s, "error": report.error,
                  "report": json.dumps(report.to_dict(), default=str),
                  **{name: getattr(report, name) for name in (
                      "extracted", "added", "changed", "removed", "operations", "accepted", "rejected", "pending",
                      "requests", "skipped", "unchanged")}}
        columns = ", ".join(values)
        self.con.execute(f"INSERT INTO runs ({columns}) VALUES ({', '.join('?' for _ in values)})", list(values.values()))

    def stuck_count(self) -> int:
        return self.con.execute("SELECT count(*) FROM rejections WHERE attempts >= ?",
                                [STUCK_AFTER_ATTEMPTS]).fetchall()[0][0]


# -------------------------------------------------------------------- read-only views for the CLI


@dataclass(frozen=True)
class StateUnavailable:
    """Why a sync's state cannot be read now."""

    reason: str


def _read(state_dir: Path, sync: str, sql: str, params: list[Any]) -> list[tuple] | StateUnavailable:
    """Rows from a sync's state file opened read-only, or why it cannot be read (never run, or a run holds it)."""
    path = state_file(state_dir, sync)
    if not path.exists():
        return StateUnavailable("never run")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return StateUnavailable("running now (the state file is locked)")
    try:
        return con.execute(sql, params).fetchall()
    except duckdb.CatalogException:
        return StateUnavailable("never run")
    finally:
        con.close()


def recent_runs(state_dir: Path, sync: str, limit: int) -> list[tuple] | StateUnavailable:
    """The last `limit` real runs: finished (UTC), status, counts, error."""
    return _read(state_dir, sync, "SELECT strftime(finished_at, '%Y-%m-%d %H:%M:%S'), status, extracted, added, changed, "
                 "removed, accepted, rejected, pending, coalesce(skipped, 0), error FROM runs WHERE NOT dry_run "
                 "ORDER BY started_at DESC LIMIT ?", [limit])


REJECTION_FIELDS = ("key", "fate", "action", "status_code", "reason", "attempts", "last_seen")


def open_rejections(state_dir: Path, sync: str, limit: int) -> list[tuple] | StateUnavailable:
    """Rows refused (fate `rejected`, most attempts first), then rows no action matched (fate `skipped`)."""
    return _read(state_dir, sync, """
        SELECT _key, fate, action, status_code, reason, attempts, last_seen FROM (
          SELECT _key, 'rejected' AS fate, action, status_code, reason, attempts,
                 strftime(last_seen, '%Y-%m-%d %H:%M:%S') AS last_seen, 0 AS o FROM rejections
          UNION ALL
          SELECT _key, 'skipped', NULL, NULL, reason, NULL, strftime(committed_at, '%Y-%m-%d %H:%M:%S'), 1
            FROM snapshot WHERE fate = 'skipped')
        ORDER BY o, attempts DESC NULLS LAST, last_seen DESC, _key LIMIT ?""", [limit])
