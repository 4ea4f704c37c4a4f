"""The token bucket: rate, burst, 429 penalty with Retry-After, recovery; on a fake clock."""

from __future__ import annotations

import threading

from cio_retl.delivery.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def send(bucket: TokenBucket, clock: Clock, n: int) -> list[float]:
    """Start times of n requests that each wait for their reservation."""
    starts = []
    for _ in range(n):
        start = clock.now + bucket.reserve()
        starts.append(start)
    return starts


def test_steady_rate_after_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(10, burst=3, clock=clock)
    starts = send(bucket, clock, 13)
    assert starts[:3] == [100.0] * 3
    assert abs(starts[-1] - 101.0) < 1e-9  # 10 more at 10/s
    assert all(abs(b - a - 0.1) < 1e-9 for a, b in zip(starts[3:], starts[4:]))


def test_penalty_halves_rate_holds_everyone_and_recovers() -> None:
    clock = Clock()
    bucket = TokenBucket(100, burst=1, recovery=0.1, clock=clock)
    bucket.penalize(retry_after=2.0)
    assert bucket.rate == 50 and bucket.limited == 1
    assert bucket.reserve() == 2.0  # everyone waits out the Retry-After
    for _ in range(5):
        bucket.reward()
    assert bucket.rate == 100


def test_rate_never_below_minimum() -> None:
    bucket = TokenBucket(4, min_rate=1)
    for _ in range(10):
        bucket.penalize()
    assert bucket.rate == 1


def test_shared_across_threads_holds_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(1000, burst=1, clock=clock)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(250):
            wait = bucket.reserve()
            with lock:
                starts.append(clock.now + wait)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    assert len(set(round(s, 9) for s in starts)) == 1000  # every slot booked once
    assert abs(starts[-1] - starts[0] - 0.999) < 1e-6
