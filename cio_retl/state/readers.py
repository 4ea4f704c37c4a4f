"""What the read commands see while a run holds a sync: a copy of the state as the run found it, and who runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb

READERS = ".readers"  # inside the state folder: one copy per sync, replaced at the start of each run


def reader_copy(state_dir: Path, sync: str) -> Path:
    """Where the copy of a sync's last settled state is kept for readers during a run."""
    return state_dir / READERS / f"{sync}.duckdb"


def publish_reader_copy(con: duckdb.DuckDBPyConnection, path: Path, sync: str) -> None:
    """Copy the state file, as this run found it and before it changes anything, for readers (DuckDB lets no other
    process open a file one process writes). Atomic: a reader opens the old copy or the new one."""
    con.execute("CHECKPOINT")  # everything in the file itself, nothing in DuckDB's own log
    target = reader_copy(path.parent, sync)
    target.parent.mkdir(exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    # In a child process: closing any descriptor of the file in this one would drop DuckDB's POSIX lock on it.
    subprocess.run(["cp", "--reflink=auto", str(path), str(partial)], check=True, capture_output=True)
    os.replace(partial, target)


def held_by(state_dir: Path, sync: str) -> str:
    """Who holds the sync's lock, as its holder wrote it: `run <run id>, pid N on host, since <UTC time>`."""
    try:
        return (state_dir / f"{sync}.lock").read_text().strip() or "an unknown process"
    except OSError:
        return "an unknown process"


def real_state_file(path: Path) -> Path:
    """The sync's own state file for a file that may be its reader copy (whose run log is the real one's)."""
    return path.parent.parent / path.name if path.parent.name == READERS else path
