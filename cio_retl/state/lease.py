"""Leases on object storage: one holder at a time by conditional writes, renewed by a thread, taken over on expiry."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from cio_retl.errors import StateError
from cio_retl.state.objectstore import Bucket, Version

log = logging.getLogger(__name__)
RENEWALS_PER_TTL = 3  # renew every third of the lease, so two renewals can fail before it lapses


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, and until when (Unix seconds on the holder's clock; 0 once released)."""

    run_id: str
    command: str
    host: str
    pid: int
    since: str
    expires_at: float

    def live(self, now: float) -> bool:
        return self.expires_at > now

    def describe(self) -> str:
        until = datetime.fromtimestamp(self.expires_at, timezone.utc).isoformat(timespec="seconds")
        return f"{self.command} {self.run_id}, pid {self.pid} on {self.host}, since {self.since}, lease until {until}"


class Lease:
    """A lease object at `path`: `acquire()` takes it (or returns the live holder), a thread renews it, `release()`
    gives it up. A holder that stops renewing (crash, partition) loses it when it expires; the next one takes over."""

    def __init__(self, bucket: Bucket, path: str, *, run_id: str, command: str, ttl_s: float) -> None:
        self.bucket, self.path, self.ttl_s = bucket, path, ttl_s
        self.mine = Holder(run_id, command, socket.gethostname(), os.getpid(),
                           datetime.now(timezone.utc).isoformat(timespec="seconds"), 0.0)
        self.version: Version | None = None
        self.expires_at = 0.0
        self.took_over: Holder | None = None  # a crashed holder whose lease had expired
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ taking and giving up

    def acquire(self) -> Holder | None:
        """Take the lease; return None when taken, else the live holder that has it."""
        holder = None
        for _ in range(3):  # a race with another taker: read again and decide again
            current = self.bucket.read(self.path)
            if current is None:
                if self._write(lambda data: self.bucket.create(self.path, data)):
                    return None
                continue
            holder = _parse(current[0])
            if holder is not None and holder.live(time.time()) and holder.run_id != self.mine.run_id:
                return holder
            if self._write(lambda data, seen=current[1]: self.bucket.replace(self.path, data, seen)):
                if holder is not None and holder.run_id != self.mine.run_id and holder.expires_at > 0:
                    self.took_over = holder
                    log.warning("took over the expired lease %s of %s", self.path, holder.describe())
                return None
        return holder

    def start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name=f"cio-retl-lease-{self.path}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop renewing and mark the lease expired (only if it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.version is not None and self.lost is None:
            released = json.dumps(asdict(self.mine) | {"expires_at": 0.0}).encode()
            try:
                self.bucket.replace(self.path, released, self.version)
            except StateError as exc:  # it expires by itself
                log.warning("could not release lease %s: %s", self.path, exc)
        self.version = None

    # ------------------------------------------------------------ holding

    def ensure_held(self) -> None:
        """Raise unless the lease is still ours and unexpired: call before every write it guards."""
        if self.lost is None and time.time() >= self.expires_at:
            self.lost = "it expired before it could be renewed (the object store was unreachable or too slow)"
        if self.lost is not None:
            raise StateError(self.bucket.sync, f"this run lost its lease on the state: {self.lost}",
                             hint="another run may take the sync over; what this run committed is kept, and the "
                                  "next run finishes the rest")

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / RENEWALS_PER_TTL):
            try:
                renewed = self._write(lambda data: self.bucket.replace(self.path, data, self.version))
            except StateError as exc:  # keep trying until the lease runs out
                log.warning("lease renewal failed, retrying: %s", exc)
                continue
            if not renewed:
                current = self.bucket.read(self.path)
                taker = _parse(current[0]) if current else None
                self.lost = f"{taker.describe() if taker else 'another run'} took it over"
                return

    def _write(self, put) -> bool:  # noqa: ANN001 - a create/replace closure
        expires_at = time.time() + self.ttl_s
        data = json.dumps(asdict(self.mine) | {"expires_at": expires_at}).encode()
        version = put(data)
        if version is None:
            return False
        self.version, self.expires_at = version, expires_at
        return True


def live_holder(bucket: Bucket, path: str) -> Holder | None:
    """Who holds the lease at `path` now, if anyone (read only: never takes it)."""
    current = bucket.read(path)
    holder = _parse(current[0]) if current is not None else None
    return holder if holder is not None and holder.live(time.time()) else None


def _parse(data: bytes) -> Holder | None:
    """A lease's holder; None for an unreadable object (treated as expired, and overwritten)."""
    try:
        return Holder(**json.loads(data))
    except (ValueError, TypeError):
        return None
