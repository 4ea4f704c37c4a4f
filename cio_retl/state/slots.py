"""Delivery slots: at most `concurrent_runs` runs send to one Customer.io workspace at a time — across syncs, and
across machines when the state is on object storage — so their shares of the rate budget never add up past it."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cio_retl.state.lease import Lease
from cio_retl.state.lock import try_lock, unlock
from cio_retl.project.state_location import is_remote
from cio_retl.state.objectstore import Bucket

log = logging.getLogger(__name__)
POLL_S = 0.5
SLOTS_FOLDER = "workspace-slots"  # not a valid sync name, so it never collides with a sync's state


def workspace_key(base_url: str, site_id: str) -> str:
    """One Customer.io workspace, as its Track API host and site id (neither is secret)."""
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{site_id}".encode()).hexdigest()[:16]


@contextmanager
def delivery_slot(location: Path | str, workspace: str, slots: int, *, sync: str, run_id: str,
                  lease_s: float) -> Iterator[int]:
    """Hold one of the workspace's slots for the block (its number); wait while all are held, naming the holders.

    A slot is a flock in the state folder, or a lease in the bucket (which a crashed holder loses when it expires).
    """
    taker = _RemoteSlots(str(location), workspace, slots, sync, run_id, lease_s) if is_remote(location) else \
        _LocalSlots(Path(location), workspace, slots, sync, run_id)
    announced = False
    while (slot := taker.take()) is None:
        if not announced:
            log.info("sync %s: waiting for one of the %d delivery slot(s) of the workspace (held by %s)", sync, slots,
                     "; ".join(taker.holders))
            announced = True
        time.sleep(POLL_S)
    try:
        yield slot
    finally:
        taker.give_back()


class _LocalSlots:
    def __init__(self, state_dir: Path, workspace: str, slots: int, sync: str, run_id: str) -> None:
        self.folder = state_dir / SLOTS_FOLDER / workspace
        self.folder.mkdir(parents=True, exist_ok=True)
        self.slots, self.holder = slots, f"sync {sync} run {run_id}"
        self.holders: list[str] = []
        self.handle = None

    def take(self) -> int | None:
        self.holders = []
        for slot in range(self.slots):
            handle = try_lock(self.folder / f"slot-{slot}.lock", self.holder)
            if not isinstance(handle, str):
                self.handle = handle
                return slot
            self.holders.append(handle)
        return None

    def give_back(self) -> None:
        if self.handle is not None:
            unlock(self.handle)


class _RemoteSlots:
    def __init__(self, url: str, workspace: str, slots: int, sync: str, run_id: str, lease_s: float) -> None:
        bucket = Bucket(url, sync)
        self.leases = [Lease(bucket, f"{SLOTS_FOLDER}/{workspace}/slot-{slot}.json", run_id=run_id,
                             command=f"sync {sync}", ttl_s=lease_s) for slot in range(slots)]
        self.holders: list[str] = []
        self.held: Lease | None = None

    def take(self) -> int | None:
        self.holders = []
        for slot, lease in enumerate(self.leases):
            holder = lease.acquire()
            if holder is None:
                lease.start_renewing()
                self.held = lease
                return slot
            self.holders.append(holder.describe())
        return None

    def give_back(self) -> None:
        if self.held is not None:
            self.held.release()
