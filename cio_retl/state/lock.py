"""One run per sync at a time: an exclusive flock on the sync's lock file, naming its holder."""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from cio_retl.errors import SyncLockedError


@contextmanager
def sync_lock(path: Path, sync: str, *, run_id: str, command: str) -> Iterator[None]:
    """Hold the lock for the block; fail at once naming the holder. The kernel releases it if the process dies."""
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
