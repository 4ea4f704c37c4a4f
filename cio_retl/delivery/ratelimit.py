"""A token bucket shared by every sender of a run: holds the request rate, pauses all on 429, then recovers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def default_burst(rate: float) -> float:
    """A small burst lets the first requests of a run leave together without exceeding the rate for long."""
    return max(1.0, min(rate / 10, 10.0))


class TokenBucket:
    """Reservation-style token bucket (GCRA): `reserve()` books the next slot and says how long to wait for it.

    Thread-safe, and independent of any event loop, so senders in several threads or loops can share one.
    A 429 halves the rate (down to `min_rate`) and, with Retry-After, holds every sender until then; each
    success afterwards wins back a little of the configured rate (additive increase).
    """

    def __init__(self, rate: float, *, burst: float | None = None, min_rate: float = 1.0,
                 recovery: float = 0.01, clock: Callable[[], float] = time.monotonic) -> None:
        self.configured = float(rate)
        self.rate = float(rate)
        self.min_rate = min(min_rate, self.configured)
        self.burst = burst if burst is not None else default_burst(self.configured)
        self.recovery = recovery
        self.clock = clock
        self._tat = 0.0  # theoretical arrival time of the next request at the current rate
        self._lock = threading.Lock()
        self.limited = 0  # how many 429s lowered the rate
        self.waited_s = 0.0

    def reserve(self) -> float:
        """Book one request; return the seconds to wait before sending it (0 when a token is free)."""
        with self._lock:
            now = self.clock()
            interval = 1.0 / self.rate
            tat = max(self._tat, now)
            start = max(now, tat - (self.burst - 1) * interval)
            self._tat = tat + interval
            wait = start - now
            self.waited_s += wait
            return wait

    def penalize(self, retry_after: float | None = None) -> None:
        """A 429: halve the rate and, if the server said how long, hold every sender for that long."""
        with self._lock:
            self.limited += 1
            self.rate = max(self.min_rate, self.rate / 2)
            if retry_after:
                self._tat = max(self._tat, self.clock() + retry_after)

    def reward(self) -> None:
        """A request went through: win back a little of the configured rate."""
        if self.rate < self.configured:
            with self._lock:
                self.rate = min(self.configured, self.rate + self.configured * self.recovery)
