"""State on object storage: a run restores a local working copy from the manifest's Parquet parts, and makes each
checkpoint durable by uploading parts and committing the manifest (see state/manifest.py for the layout)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from cio_retl.errors import StateError, SyncLockedError
from cio_retl.sqltext import quote_str
from cio_retl.state.checkpoints import Checkpoints
from cio_retl.state.lease import Lease, live_holder
from cio_retl.state.manifest import Manifest, ManifestFile, WriteAhead
from cio_retl.state.objectstore import Bucket
from cio_retl.state.wal import OutcomeLog, wal_of

log = logging.getLogger(__name__)
Connect = Callable[[Path, Path], AbstractContextManager[tuple[duckdb.DuckDBPyConnection, list[str]]]]
# The snapshot is a base plus deltas (one per settled run); it is rewritten whole when the deltas grow past this.
MAX_DELTAS = 16
COMPACT_FRACTION = 0.10
COMPACT_MIN_ROWS = 100_000
MAX_RUN_PARTS = 32
# Where working copies go (default: the system's temporary folder, $TMPDIR): e.g. a pod's emptyDir volume.
WORK_DIR_ENV = "CIO_RETL_WORK_DIR"


class RemoteState(Checkpoints):
    """The checkpoints of one run against object storage, and the restore that starts it."""

    def __init__(self, bucket: Bucket, sync: str, run_id: str, workdir: Path, lease: Lease | None) -> None:
        self.bucket, self.sync, self.run_id, self.lease = bucket, sync, run_id, lease
        self.wal = wal_of(workdir / f"{sync}.duckdb")  # the working copy's run log
        self.file = ManifestFile(bucket, sync)
        self.manifest = Manifest(sync=sync)
        self.staging = workdir / "parts"
        self.staging.mkdir(parents=True, exist_ok=True)
        self.settling: set[str] = set()  # runs whose write-ahead this state holds unsettled (the keys a delta covers)
        self.outcome_parts = 0
        self.stats: dict[str, dict[str, float]] = {}  # checkpoint → count, bytes, seconds (benchmarks, logs)

    # ------------------------------------------------------------ restore

    def restore(self, con: duckdb.DuckDBPyConnection, *, sweep: bool = True) -> None:
        """Fill the empty working copy from the manifest: snapshot, rejections, runs, meta, and an unsettled
        write-ahead with the outcomes it committed (which the run's recovery then settles)."""
        started, size = time.monotonic(), 0
        self.manifest = m = self.file.load()
        if sweep:
            self._sweep()
        con.execute("BEGIN TRANSACTION")
        if m.snapshot_base:
            size += self._load(con, "snapshot", m.snapshot_base)
        for delta in m.snapshot_deltas:
            local, n = self._fetch(delta)
            size += n
            con.execute(f"DELETE FROM snapshot WHERE _key IN (SELECT _touched_key FROM read_parquet('{local}'))")
            con.execute(f"INSERT INTO snapshot BY NAME SELECT * EXCLUDE (_touched_key) FROM read_parquet('{local}') "
                        "WHERE _key IS NOT NULL")
        for table, parts in (("rejections", [m.rejections] if m.rejections else []), ("runs", m.runs)):
            for part in parts:
                size += self._load(con, table, part)
        if m.meta:
            con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(m.meta.items()))
        if m.write_ahead:
            # A manifest of format 2 carries no run number: the run after the last settled one.
            run_no = m.write_ahead.run_no or int(m.meta.get("settled_through") or 0) + 1
            size += self._restore_run(m.write_ahead, run_no)
        con.execute("COMMIT")
        self._count("restore", size, started)

    def _restore_run(self, write_ahead: WriteAhead, run_no: int) -> int:
        """An unsettled run into the local run log: its row chunks, and its outcome groups in order."""
        run, size = self.wal.run(run_no), 0
        for part in write_ahead.row_parts:
            local, n = self._fetch(part)
            run.add_rows(part.rsplit("/", 1)[-1], local)
            size += n
        log = OutcomeLog(run)
        try:
            for part in self.bucket.list(f"{self._wal(write_ahead.run_id)}/outcomes/"):
                local, n = self._fetch(part)
                log.append(pq.read_table(local))
                size += n
        finally:
            log.close()
        self.settling.add(write_ahead.run_id)
        return size

    # ------------------------------------------------------------ the three checkpoints

    def wrote_ahead(self, con: duckdb.DuckDBPyConnection, chunk: Path) -> None:
        """Upload one chunk of the write-ahead (the run log's own file) and name it in the manifest, before its
        operations are sent."""
        started = time.monotonic()
        self._held()
        part = f"{self._wal(self.run_id)}/rows/{chunk.name}"
        size = self.bucket.upload(part, chunk)
        current = self.manifest.write_ahead
        if current is None or current.run_id != self.run_id:
            current = WriteAhead(run_id=self.run_id, run_no=int(chunk.parent.name.removeprefix("run-")))
        rows = con.execute(f"SELECT count(*) FROM read_parquet({quote_str(str(chunk))})").fetchall()[0][0]
        write_ahead = current.model_copy(update={"row_parts": [*current.row_parts, part], "rows": current.rows + rows})
        before = self.manifest
        self._commit({"write_ahead": write_ahead, **self._rejections(con)})
        self._drop(before, [])  # a replaced rejections part
        self.settling.add(self.run_id)
        self._count("wrote_ahead", size, started)

    def committed_outcomes(self, group: pa.Table) -> None:
        """One object per commit group, on the writer's thread, before delivery may go on (the crash bound)."""
        if self.run_id not in self.settling:
            return
        started = time.monotonic()
        self._held()
        sink = pa.BufferOutputStream()
        pq.write_table(group, sink, compression="zstd")
        self.outcome_parts += 1
        path = f"{self._wal(self.run_id)}/outcomes/{self.outcome_parts:08d}.parquet"
        self._count("committed_outcomes", self.bucket.upload(path, sink.getvalue().to_pybytes()), started)

    def settled(self, con: duckdb.DuckDBPyConnection, rows_sql: str) -> None:
        """Upload what the commit stage changed — a snapshot delta (or a new base), rejections — and drop the
        write-ahead from the manifest, in one manifest commit."""
        if not self.settling:
            return
        started = time.monotonic()
        self._held()
        m = self.manifest
        touched = f"(SELECT DISTINCT _key FROM ({rows_sql}))"
        touched_rows = con.execute(f"SELECT count(*) FROM {touched}").fetchall()[0][0]
        if (m.snapshot_base is None or len(m.snapshot_deltas) >= MAX_DELTAS
                or m.delta_rows + touched_rows > max(COMPACT_MIN_ROWS, COMPACT_FRACTION * m.snapshot_rows)):
            part = self._part("snapshot")
            _, size = self._put(con, "SELECT * FROM snapshot", part)
            update: dict[str, Any] = {"snapshot_base": part, "snapshot_deltas": [], "delta_rows": 0,
                                      "snapshot_rows": con.execute("SELECT count(*) FROM snapshot").fetchall()[0][0]}
        else:
            part = self._part("delta")
            # Every key the write-ahead settles, with its snapshot row now, or none: a tombstone.
            _, size = self._put(con, f"SELECT t._key AS _touched_key, s.* FROM {touched} t "
                                "LEFT JOIN snapshot s ON s._key = t._key", part)
            update = {"snapshot_deltas": [*m.snapshot_deltas, part], "delta_rows": m.delta_rows + touched_rows}
        self._commit({**update, "write_ahead": None, **self._rejections(con)})
        self._drop(m, [path for run in self.settling for path in self.bucket.list(f"{self._wal(run)}/")])
        self.settling.clear()
        self._count("settled", size, started)

    def close(self, con: duckdb.DuckDBPyConnection) -> None:
        """At the end of a run: its row in the history, the metadata and the rejections, if they changed."""
        m, update = self.manifest, dict(self._rejections(con))
        meta = dict(con.execute("SELECT name, value FROM meta").fetchall())
        if meta != m.meta:
            update["meta"] = meta
        if con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [self.run_id]).fetchall()[0][0]:
            if len(m.runs) >= MAX_RUN_PARTS:
                part = self._part("runs")
                self._put(con, "SELECT * FROM runs", part)
                update["runs"] = [part]
            else:
                part = self._part("run")
                self._put(con, f"SELECT * FROM runs WHERE run_id = '{self.run_id}'", part)
                update["runs"] = [*m.runs, part]
        if update:
            self._held()
            self._commit(update)
            self._drop(m, [])

    # ------------------------------------------------------------ parts

    def _commit(self, update: dict[str, Any]) -> None:
        self.manifest = self.file.commit(self.manifest.model_copy(update=update), self.run_id)

    def _rejections(self, con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        """A new rejections part when the table differs from the manifest's (an order-free digest of its rows)."""
        digest = str(con.execute("SELECT count(*) || ':' || coalesce(bit_xor(hash(r)), 0) FROM rejections r"
                                 ).fetchall()[0][0])
        if digest == (self.manifest.rejections_digest or "0:0"):
            return {}
        part = self._part("rejections")
        self._put(con, "SELECT * FROM rejections", part)
        return {"rejections": part, "rejections_digest": digest}

    def _part(self, table: str) -> str:
        return f"{self.sync}/parts/g{self.manifest.generation + 1:08d}-{table}-{self.run_id}.parquet"

    def _wal(self, run_id: str) -> str:
        return f"{self.sync}/wal/{run_id}"

    def _local(self, path: str) -> Path:
        return self.staging / path.replace("/", "__")

    def _put(self, con: duckdb.DuckDBPyConnection, sql: str, path: str) -> tuple[Path, int]:
        """Export a query to a local Parquet file and upload it; return the file and its size."""
        local = self._local(path)
        con.execute(f"COPY ({sql}) TO '{local}' (FORMAT parquet, COMPRESSION zstd)")
        return local, self.bucket.upload(path, local)

    def _fetch(self, path: str) -> tuple[Path, int]:
        local = self._local(path)
        return local, self.bucket.download(path, local)

    def _load(self, con: duckdb.DuckDBPyConnection, table: str, path: str) -> int:
        local, size = self._fetch(path)
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet('{local}')")
        return size

    def _drop(self, before: Manifest, extra: list[str]) -> None:
        """Delete parts the new manifest no longer names (after it is committed, so a crash only leaves garbage)."""
        try:
            self.bucket.delete(sorted((before.parts() - self.manifest.parts()) | set(extra)))
        except StateError as exc:  # the next run's sweep deletes them
            log.warning("could not delete obsolete state parts: %s", exc)

    def _sweep(self) -> None:
        """Delete what an interrupted checkpoint left behind (parts never named, write-aheads already settled)."""
        keep = self.manifest.parts()
        live = f"{self._wal(self.manifest.write_ahead.run_id)}/" if self.manifest.write_ahead else None
        garbage = [path for prefix in (f"{self.sync}/parts/", f"{self.sync}/wal/") for path in self.bucket.list(prefix)
                   if path not in keep and not (live and path.startswith(live))]
        self._drop(self.manifest, garbage)

    def _held(self) -> None:
        if self.lease is not None:
            self.lease.ensure_held()

    def _count(self, checkpoint: str, size: int, started: float) -> None:
        entry = self.stats.setdefault(checkpoint, {"count": 0, "bytes": 0, "seconds": 0.0})
        seconds = time.monotonic() - started
        entry["count"] += 1
        entry["bytes"] += size
        entry["seconds"] += seconds
        (log.debug if checkpoint == "committed_outcomes" else log.info)(
            "sync %s: checkpoint %s: %d bytes in %.3f s", self.sync, checkpoint, size, seconds)


@contextmanager
def open_remote(url: str, sync: str, *, run_id: str, command: str, lease_s: float,
                connect: Connect) -> Iterator[tuple[duckdb.DuckDBPyConnection, Path, RemoteState]]:
    """Take the sync's lease, restore a working copy in a temporary folder, and on the way out record the run and
    give the lease back. The folder is deleted: everything that matters is in the object store."""
    bucket = Bucket(url, sync)
    lease = Lease(bucket, f"{sync}/lease.json", run_id=run_id, command=command, ttl_s=lease_s)
    holder = lease.acquire()
    if holder is not None:
        raise SyncLockedError(sync, f"another run holds the lease on {bucket.url}/{sync} ({holder.describe()})",
                              hint="wait for that run to finish; if it crashed, its lease expires by itself and the "
                                   "next run takes over and finishes what it left")
    lease.start_renewing()
    workdir = _workdir(sync)
    try:
        path = workdir / f"{sync}.duckdb"
        with connect(path, workdir / "tmp") as (con, _upgrades):
            state = RemoteState(bucket, sync, run_id, workdir, lease)
            state.restore(con)
            try:
                yield con, path, state
            except BaseException:
                if command != "dry-run":
                    _close_quietly(state, con)  # the failed run's history and rejections are kept too
                raise
            if command != "dry-run":
                state.close(con)
    finally:
        lease.release()
        shutil.rmtree(workdir, ignore_errors=True)


def _workdir(sync: str, kind: str = "") -> Path:
    folder = os.environ.get(WORK_DIR_ENV) or None
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"cio-retl-{sync}-{kind}", dir=folder))


def _close_quietly(state: RemoteState, con: duckdb.DuckDBPyConnection) -> None:
    try:
        state.close(con)
    except Exception as exc:  # never hide the run's own error behind this one
        log.warning("sync %s: could not record the failed run in the object store: %s", state.sync, exc)


def run_in_progress(url: str, sync: str) -> str | None:
    """Who holds the sync's lease now (a run going on), as `run <run id>, pid N on host, since …`, or None."""
    holder = live_holder(Bucket(url, sync), f"{sync}/lease.json")
    return holder.describe() if holder is not None else None


@contextmanager
def read_remote(url: str, sync: str, connect: Connect) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """A read-only working copy of a sync's last checkpoint (no lease); None when the sync never ran."""
    bucket = Bucket(url, sync)
    workdir = _workdir(sync, "read-")
    try:
        state = RemoteState(bucket, sync, "read", workdir, None)
        if bucket.read(state.file.path) is None:
            yield None
            return
        with connect(workdir / f"{sync}.duckdb", workdir / "tmp") as (con, _upgrades):
            state.restore(con, sweep=False)
            yield con
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
