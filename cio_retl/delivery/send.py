"""deliver(): send packed requests concurrently under the rate limit, retry, split, and report outcomes."""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pyarrow as pa

from cio_retl.project import Destination
from cio_retl.delivery.batching import Request, pack
from cio_retl.delivery.budget import run_share
from cio_retl.delivery.client import TrackClient, TransportFailure, auth_failure, fetch_region
from cio_retl.delivery.endpoints import endpoint_for
from cio_retl.delivery.limits import DEFAULT_POLICY, RetryPolicy
from cio_retl.delivery.refusals import pipelines_auth_failure, whole_request_refused
from cio_retl.delivery.outcomes import Verdict, backoff_delay, classify, outcome_table, status_counts
from cio_retl.delivery.ratelimit import TokenBucket
from cio_retl.errors import DestinationAuthError, DestinationError

log = logging.getLogger(__name__)
OnOutcomes = Callable[[pa.Table], None]  # a table of OUTCOME_SCHEMA per request
# Requests packed ahead of the senders: enough to keep every connection busy while the caller's thread
# is writing outcomes, few enough to bound memory (each holds up to MAX_BATCH_BODY_BYTES of operations).
PREFETCH_PER_CONNECTION = 2
# A run stops sending after this many requests in a row ran out of attempts with nothing accepted between
# them (at least max_concurrency): the host is unreachable or refuses everything, and the rest would only
# take as long to fail. What is left stays pending, and the run fails saying why.
GIVE_UP_AFTER = 3


@dataclass
class DeliveryStats:
    """What delivering one run cost: requests, retries, bytes, time and rate limiting."""

    operations: int = 0
    accepted: int = 0
    rejected: int = 0
    retryable: int = 0
    requests: int = 0
    retries: int = 0
    splits: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0
    rate_limited: int = 0      # 429 answers
    rate_wait_s: float = 0.0   # time requests waited for the token bucket
    backoff_wait_s: float = 0.0
    final_rate: float = 0.0    # the bucket's rate at the end (below the configured one after 429s)
    unsent_causes: dict[str, int] = field(default_factory=dict)  # why requests ran out of attempts → how many
    gave_up: str | None = None  # set when the run stopped sending early (see GIVE_UP_AFTER)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def add(self, **deltas: float) -> None:
        """Add to counters from any sender thread."""
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def note_unsent(self, cause: str) -> None:
        """A request ran out of attempts for this reason (e.g. "HTTP 503 from track.customer.io")."""
        with self._lock:
            self.unsent_causes[cause] = self.unsent_causes.get(cause, 0) + 1

    @property
    def main_cause(self) -> str | None:
        """The most frequent reason requests ran out of attempts."""
        return max(self.unsent_causes, key=self.unsent_causes.__getitem__) if self.unsent_causes else None

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every field, and the private lock cannot be copied.
        data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        return {**data, "requests_per_second": round(self.requests_per_second, 1)}


class _Sender:
    """Runs on the sender threads: one request's attempts, retries and splits."""

    def __init__(self, destination: Destination, sync: str, bucket: TokenBucket, policy: RetryPolicy,
                 results: queue.SimpleQueue, stats: DeliveryStats) -> None:
        self.destination = destination
        self.sync = sync
        self.bucket = bucket
        self.policy = policy
        self.results = results
        self.stats = stats
        self.client = TrackClient(destination, connections=destination.max_concurrency)
        self.stopping = threading.Event()
        self._exhausted_in_a_row = 0
        self._breaker = threading.Lock()

    def deliver(self, request: Request) -> None:
        """Send one request until it has a final answer; put its outcomes on the results queue."""
        verdict = self._attempts(request)
        if verdict is None:  # the run is stopping: these rows stay pending
            return
        if verdict.action == "split" and len(request) > 1:
            self.stats.add(splits=1)
            for half in request.halves():
                self.deliver(half)
            return
        self._count_towards_giving_up(verdict)
        self.results.put(self._outcomes(request, verdict))

    def _count_towards_giving_up(self, verdict: Verdict) -> None:
        if verdict.action != "retry":
            with self._breaker:
                self._exhausted_in_a_row = 0
            return
        cause = self.cause(verdict)
        self.stats.note_unsent(cause)
        with self._breaker:
            self._exhausted_in_a_row += 1
            if self._exhausted_in_a_row >= max(GIVE_UP_AFTER, self.destination.max_concurrency):
                self.stats.gave_up = cause
                self.stopping.set()

    def cause(self, verdict: Verdict) -> str:
        """Why a request was not delivered, with the host: `HTTP 503 (…) from track.customer.io`."""
        host = urlsplit(self.client.base_url).netloc.rpartition("@")[2]
        what = f"HTTP {verdict.status_code}" if verdict.status_code else "no response"
        detail = (verdict.message or "")[:200]
        return f"{what} ({detail}) from {host}" if detail and detail != what else f"{what} from {host}"

    def _outcomes(self, request: Request, verdict: Verdict) -> pa.Table:
        code = verdict.status_code
        if verdict.action == "accept":
            if not verdict.rejected:
                return outcome_table(request.op_ids, "accepted", code)
            refused = np.zeros(len(request), bool)
            refused[list(verdict.rejected)] = True
            bad = np.flatnonzero(refused)
            return pa.concat_tables([
                outcome_table(request.op_ids[~refused], "accepted", code),
                outcome_table(request.op_ids[bad], "rejected", code, [verdict.rejected[i] for i in bad.tolist()],
                              request.bodies.take(pa.array(bad)))])
        if verdict.action == "split":  # one operation left: it is the bad one
            return outcome_table(request.op_ids[:1], "rejected", code, [verdict.message or f"HTTP {code}"],
                                 request.bodies.slice(0, 1))
        reason = f"not delivered after {self.destination.max_attempts} attempt(s): {self.cause(verdict)}"
        return outcome_table(request.op_ids, "retryable", code, [reason] * len(request))

    def _attempts(self, request: Request) -> Verdict | None:
        endpoint = endpoint_for(request.endpoint)
        path = endpoint.path
        body = request.body
        for attempt in range(1, self.destination.max_attempts + 1):
            wait = self.bucket.reserve()
            if (wait > 0 and self.stopping.wait(wait)) or self.stopping.is_set():
                return None
            verdict = self._send_once(path, body, len(request))
            if verdict.action == "auth":
                raise self._auth_error(verdict)
            if verdict.action == "fatal" or (verdict.action == "split" and not endpoint.splittable):
                if not endpoint.splittable:  # e.g. a segment that does not exist or is data-driven
                    message, hint = whole_request_refused(endpoint, verdict.status_code, verdict.message)
                    raise DestinationError(self.sync, message, hint=hint)
                raise DestinationError(self.sync, f"Customer.io answered HTTP {verdict.status_code} at "
                                       f"{self.client.base_url}{path}: {verdict.message}",
                                       hint="check destination.url / region; the rows stay pending")
            if verdict.action != "retry":
                self.bucket.reward()
                return verdict
            if verdict.status_code == 429:
                self.stats.add(rate_limited=1)
                self.bucket.penalize(verdict.retry_after)
            if attempt == self.destination.max_attempts:
                return verdict
            delay = backoff_delay(attempt, verdict.retry_after, self.policy)
            log.info("sync %s: %s, retrying in %.2fs (attempt %d of %d)", self.sync,
                     verdict.message or verdict.status_code, delay, attempt + 1, self.destination.max_attempts)
            self.stats.add(retries=1, backoff_wait_s=delay)
            if self.stopping.wait(delay):
                return None
        raise AssertionError("unreachable")

    def _send_once(self, path: str, body: bytes, size: int) -> Verdict:
        self.stats.add(requests=1, bytes_sent=len(body))
        try:
            reply = self.client.post(path, body)
        except TransportFailure as exc:
            return classify(None, b"", size=size, transport_error=str(exc))
        return classify(reply.status_code, reply.body, reply.headers, size=size)

    def _auth_error(self, verdict: Verdict) -> DestinationAuthError:
        if self.destination.api == "pipelines":  # no region lookup there: the write key alone is the credential
            message, hint = pipelines_auth_failure(self.destination, verdict.status_code or 401)
            return DestinationAuthError(self.sync, message, hint=hint)
        answer = fetch_region(self.destination)
        message, hint = auth_failure(self.destination, verdict.status_code or 401, answer)
        return DestinationAuthError(self.sync, message, hint=hint)


def deliver(batches: Iterable[pa.RecordBatch], destination: Destination, *, on_outcomes: OnOutcomes, sync: str,
            progress: Callable[[int], None] | None = None, policy: RetryPolicy = DEFAULT_POLICY,
            bucket: TokenBucket | None = None) -> DeliveryStats:
    """Deliver pending operations (record batches of op_id, priority, endpoint, body, in priority order).

    Each priority finishes before the next starts. `on_outcomes` and `progress` are called on the caller's
    thread (requests run on `max_concurrency` sender threads), so they may write to DuckDB directly.
    Raises DestinationAuthError on 401/403 and DestinationError when the endpoint cannot take the run at all;
    outcomes received before that have already been reported. The default bucket is this run's share of the
    workspace's budget (delivery/budget.py); `bucket` lets callers pass another.
    """
    stats = DeliveryStats()
    bucket = bucket or run_share(destination)
    results: queue.SimpleQueue = queue.SimpleQueue()
    sender = _Sender(destination, sync, bucket, policy, results, stats)
    pool = concurrent.futures.ThreadPoolExecutor(destination.max_concurrency, thread_name_prefix=f"cio-retl-{sync}")
    pump = _Pump(results, on_outcomes, progress, stats)
    window = destination.max_concurrency * PREFETCH_PER_CONNECTION
    started, waited_before = time.monotonic(), bucket.waited_s
    try:
        priority = None
        for item in pack(batches, max_ops=destination.max_batch_operations):
            if sender.stopping.is_set():  # gave up: what is left stays pending
                break
            if isinstance(item, pa.Table):  # operations rejected locally (a local check, empty or oversize)
                pump.emit(item)
                continue
            if priority is not None and item.priority != priority:
                pump.wait(until=0)  # a priority finishes before the next starts
            priority = item.priority
            pump.wait(until=window - 1)
            pump.started(pool.submit(sender.deliver, item))
        pump.wait(until=0)
    except BaseException as exc:  # Ctrl-C, a fatal answer: the caller still reports what was sent
        exc.delivery_stats = stats  # type: ignore[attr-defined]
        raise
    finally:
        sender.stopping.set()
        pump.abandon()
        pool.shutdown(wait=True, cancel_futures=True)
        sender.client.close()
        stats.seconds = time.monotonic() - started
        stats.rate_wait_s = bucket.waited_s - waited_before
        stats.final_rate = bucket.rate
    return stats


_DONE = object()


class _Pump:
    """The caller's side: tracks requests in flight and hands their outcomes to `on_outcomes` as they come."""

    def __init__(self, results: queue.SimpleQueue, on_outcomes: OnOutcomes, progress: Callable[[int], None] | None,
                 stats: DeliveryStats) -> None:
        self.results = results
        self.on_outcomes = on_outcomes
        self.progress = progress
        self.stats = stats
        self.in_flight: set[concurrent.futures.Future] = set()

    def started(self, future: concurrent.futures.Future) -> None:
        self.in_flight.add(future)
        future.add_done_callback(lambda done: self.results.put((_DONE, done)))

    def wait(self, *, until: int) -> None:
        """Report outcomes until at most `until` requests are in flight; re-raise a request's fatal error."""
        while len(self.in_flight) > until:
            item = self.results.get()
            if isinstance(item, tuple) and item[0] is _DONE:
                self._finished(item[1])
            else:
                self.emit(item)

    def _finished(self, future: concurrent.futures.Future) -> None:
        self.in_flight.discard(future)
        if not future.cancelled() and future.exception() is not None:
            raise future.exception()

    def emit(self, outcomes: pa.Table) -> None:
        self.stats.add(operations=outcomes.num_rows, **status_counts(outcomes))
        self.on_outcomes(outcomes)
        if self.progress:
            self.progress(outcomes.num_rows)

    def abandon(self) -> None:
        """At the end or after an error: cancel what has not started, and report outcomes that already arrived."""
        for future in self.in_flight:
            future.cancel()
        concurrent.futures.wait(self.in_flight, timeout=60)
        while True:
            try:
                item = self.results.get_nowait()
            except queue.Empty:
                return
            if not (isinstance(item, tuple) and item[0] is _DONE):
                self.emit(item)
