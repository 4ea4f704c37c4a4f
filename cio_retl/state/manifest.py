"""The manifest of a sync's state on object storage: the Parquet parts of each table, written by compare-and-swap.

Layout under `<state URL>/<sync>/`:
    manifest.json                         this file: the one object whose write commits a checkpoint
    lease.json                            who runs the sync now (state/lease.py)
    parts/g<generation>-<table>-<run>.parquet
                                          snapshot base and deltas, rejections, runs
    wal/<run>/rows/<seq>.parquet          the write-ahead of a run that has not settled yet, one object per chunk
    wal/<run>/outcomes/<seq>.parquet      its delivery outcomes, one object per commit group
"""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, Field

from cio_retl.errors import StateError
from cio_retl.state.objectstore import Bucket, Version

FORMAT = 2  # 2: the write-ahead in chunks, no table of operations


class WriteAhead(BaseModel):
    """A run's write-ahead, durable chunk by chunk before those rows' operations are sent; its outcomes are listed
    from `wal/<run>/outcomes/`."""

    run_id: str
    run_no: int = 0
    row_parts: list[str] = Field(default_factory=list)
    rows: int = 0


class Manifest(BaseModel):
    """The parts that make up a sync's state at one generation."""

    format: int = FORMAT
    sync: str
    generation: int = 0
    written_by: str | None = None
    written_at: str | None = None
    meta: dict[str, str] = Field(default_factory=dict)
    snapshot_base: str | None = None
    snapshot_rows: int = 0                      # rows in the base
    snapshot_deltas: list[str] = Field(default_factory=list)   # applied in order over the base
    delta_rows: int = 0
    rejections: str | None = None
    rejections_digest: str | None = None
    runs: list[str] = Field(default_factory=list)
    write_ahead: WriteAhead | None = None

    def parts(self) -> set[str]:
        """Every part this manifest refers to (the rest of `parts/` and `wal/` is garbage)."""
        named = [self.snapshot_base, self.rejections, *self.snapshot_deltas, *self.runs]
        if self.write_ahead:
            named += self.write_ahead.row_parts
        return {part for part in named if part}


class ManifestFile:
    """Reads the manifest once, then commits new generations only over the version it last saw."""

    def __init__(self, bucket: Bucket, sync: str) -> None:
        self.bucket, self.sync = bucket, sync
        self.path = f"{sync}/manifest.json"
        self.version: Version | None = None

    def load(self) -> Manifest:
        found = self.bucket.read(self.path)
        if found is None:
            return Manifest(sync=self.sync)
        data, self.version = found
        try:
            manifest = Manifest.model_validate_json(data)
        except ValueError as exc:
            raise StateError(self.sync, f"{self.bucket.url}/{self.path} is not a cio-retl manifest: {exc}",
                             hint="restore it from the bucket's versioning, or delete the sync's prefix to start over "
                                  "(the next run then sends every row again)") from exc
        if manifest.format > FORMAT:
            raise StateError(self.sync, f"{self.bucket.url}/{self.path} was written by a newer cio-retl "
                             f"(format {manifest.format})", hint="upgrade cio-retl on this machine")
        return manifest

    def commit(self, manifest: Manifest, run_id: str) -> Manifest:
        """Write the next generation, only if nobody wrote one since we read ours (the lease's fence)."""
        nxt = manifest.model_copy(update={"generation": manifest.generation + 1, "written_by": run_id,
                                          "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        data = nxt.model_dump_json(indent=1).encode()
        version = (self.bucket.create(self.path, data) if self.version is None
                   else self.bucket.replace(self.path, data, self.version))
        if version is None:
            raise StateError(self.sync, f"the state at {self.bucket.url}/{self.sync} was changed by another run "
                             "while this one held the lease",
                             hint="this run's lease lapsed and another run took over; nothing is lost: that run "
                                  "finishes what this one left")
        self.version = version
        return nxt
