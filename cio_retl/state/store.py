"""The state store: one locked DuckDB file per sync, its metadata and run history, and the reads `status` and `rejections` need."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from cio_retl import engine
from cio_retl.errors import StateError, SyncError
from cio_retl.rowhash import engine_probe_sql, probe_change_reason
from cio_retl.state.checkpoints import Checkpoints
from cio_retl.state.folder import FOLDER_HINT, ensure_folder
from cio_retl.state.lock import sync_lock
from cio_retl.state.readers import publish_reader_copy
from cio_retl.project.state_location import is_remote
from cio_retl.state.remote import open_remote
from cio_retl.state.schema import create_or_upgrade, stale_sql
from cio_retl.state.slots import delivery_slot, workspace_key
from cio_retl.state.wal import adopt_version_2, wal_of

if TYPE_CHECKING:
    from cio_retl.project import Destination

STUCK_AFTER_ATTEMPTS = 5
DEFAULT_LEASE_S = 60.0
# memory_limit: auto — the floor, plus this much per snapshot row (the diff joins the stage with the snapshot),
# up to a quarter of the machine's memory or the ceiling.
AUTO_MEMORY_FLOOR_MB = 192
AUTO_MEMORY_PER_ROW = 13  # 10M rows: 316MB, the diff and the extract's stage in memory, RSS ≈ 560 MB
AUTO_MEMORY_CEILING_MB = 1024


def auto_memory_limit(snapshot_rows: int) -> str:
    """DuckDB's memory_limit for a sync whose snapshot has this many rows (`memory_limit: auto`)."""
    quarter_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4 // 2**20
    wanted_mb = AUTO_MEMORY_FLOOR_MB + snapshot_rows * AUTO_MEMORY_PER_ROW // 2**20
    return f"{max(AUTO_MEMORY_FLOOR_MB, min(wanted_mb, AUTO_MEMORY_CEILING_MB, quarter_mb))}MB"


@contextmanager
def connect_file(sync: str, memory_limit: str, path: Path,
             temp_dir: Path) -> Iterator[tuple[duckdb.DuckDBPyConnection, list[str]]]:
    """Open a sync's DuckDB file with the session settings every run uses, its tables created or upgraded (and
    what the upgrade did)."""
    try:
        con = engine.connect(str(path))
    except duckdb.Error as exc:
        raise SyncError(sync, f"cannot open state file {path}: {exc}",
                        hint="is another tool holding the file open? close it and retry") from exc
    try:
        con.execute("SET TimeZone = 'UTC'")
        # Bounded memory: large extracts and operation logs spill to disk instead of growing RSS.
        con.execute("SET memory_limit = ?", [f"{AUTO_MEMORY_FLOOR_MB}MB" if memory_limit == "auto" else memory_limit])
        con.execute(f"SET temp_directory = '{temp_dir}'")
        yield con, create_or_upgrade(con) + adopt_version_2(con, wal_of(path))
    finally:
        con.close()


def state_file(state_dir: Path, sync: str) -> Path:
    """The DuckDB file of one sync's state."""
    return state_dir / f"{sync}.duckdb"


class StateStore:
    """An open state of one sync, locked (a folder) or leased (object storage). Use `StateStore.open(...)`."""

    def __init__(self, sync: str, con: duckdb.DuckDBPyConnection, path: Path,
                 checkpoints: Checkpoints | None = None, *, location: Path | str | None = None,
                 run_id: str = "", lease_s: float = DEFAULT_LEASE_S) -> None:
        self.sync = sync
        self.con = con
        self.path = path
        self.checkpoints = checkpoints or Checkpoints()
        self.notes: list[str] = []  # what opening the file did (an upgrade from an older version)
        self.location = location if location is not None else path.parent
        self.run_id, self.lease_s = run_id, lease_s
        self.wal = wal_of(path)  # the run log beside the DuckDB file (state/wal.py)

    @classmethod
    @contextmanager
    def open(cls, location: Path | str, sync: str, *, run_id: str, command: str = "run",
             memory_limit: str = "auto", lease_s: float = DEFAULT_LEASE_S) -> Iterator[StateStore]:
        """Take the sync's lock or lease (or fail at once naming the holder), then open its state.

        `location` is a folder (a locked DuckDB file in it) or an s3://, gs://, az:// URL (a leased working copy
        in a temporary folder, made durable at each checkpoint; see state/remote.py).
        """
        options = {"location": location, "run_id": run_id, "lease_s": lease_s}
        if is_remote(location):
            with open_remote(str(location), sync, run_id=run_id, command=command, lease_s=lease_s,
                             connect=partial(connect_file, sync, memory_limit)) as (con, path, checkpoints):
                store = cls(sync, con, path, checkpoints, **options)
                store.size_memory(memory_limit)
                yield store
            return
        state_dir = Path(location)
        problem = ensure_folder(state_dir)
        if problem:
            raise StateError(sync, problem, hint=FOLDER_HINT)
        with sync_lock(state_dir / f"{sync}.lock", sync, run_id=run_id, command=command):
            path = state_file(state_dir, sync)
            orphan_log = not path.exists() and wal_of(path).folder.exists()
            with connect_file(sync, memory_limit, path, state_dir / "tmp") as (con, notes):
                store = cls(sync, con, path, **options)
                store.notes.extend(notes)
                store.size_memory(memory_limit)
                if orphan_log:  # the state file was deleted to forget the sync: its runs go with it
                    shutil.rmtree(store.wal.folder)
                    store.notes.append(f"removed the run log {store.wal.folder} of a deleted state file")
                publish_reader_copy(con, path, sync)
                yield store

    @contextmanager
    def delivery_slot(self, destination: Destination, *, needed: bool = True) -> Iterator[None]:
        """Hold one of the workspace's `concurrent_runs` delivery slots while sending (none when nothing is sent)."""
        if not needed:
            yield
            return
        with delivery_slot(self.location, workspace_key(destination.base_url, destination.site_id),
                           destination.concurrent_runs, sync=self.sync, run_id=self.run_id, lease_s=self.lease_s):
            yield

    def size_memory(self, memory_limit: str) -> None:
        """With `memory_limit: auto`, size DuckDB's memory to the snapshot (known once the state is open)."""
        if memory_limit == "auto":
            rows = self.con.execute("SELECT count(*) FROM snapshot").fetchall()[0][0]
            self.con.execute("SET memory_limit = ?", [auto_memory_limit(rows)])

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
        """Number a new run (its write-ahead rows and outcomes carry it), committed at once; above every number
        the state holds (a restored write-ahead may be newer than the metadata that came with it)."""
        held = max(self.wal.runs(), default=0)
        run_no = max(int(self.get_meta("run_no") or 0), int(self.get_meta("settled_through") or 0), held) + 1
        self.set_meta("run_no", str(run_no))
        return run_no

    def hash_change_reason(self) -> str | None:
        """Why this engine hashes rows differently from the one that wrote the snapshot (a DuckDB upgrade, a new
        row encoding), or None when it hashes them alike."""
        stored = self.get_meta("hash_probe")
        return probe_change_reason(stored) if stored is not None and stored != self.hash_probe() else None

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
