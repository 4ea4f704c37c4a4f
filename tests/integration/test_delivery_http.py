"""deliver() over real HTTP against the sandbox: every outcome, retries, rate limits, ordering, secrets."""

from __future__ import annotations

import base64
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cio_retl.delivery import TokenBucket, deliver
from cio_retl.delivery.client import redirect_allowed
from cio_retl.errors import DestinationAuthError, DestinationError
from tests.integration.conftest import API_KEY, FAST, Collected, destination_for, identify, ops_batches


def run(batches, destination, **kwargs):
    collected = Collected()
    stats = deliver(batches, destination, on_outcomes=collected, sync="people", policy=FAST, **kwargs)
    return collected, stats


def test_all_accepted_on_callers_thread_and_stored(sandbox, destination) -> None:
    got, stats = run(ops_batches([identify(i) for i in range(3000)], chunk=700), destination)
    assert len(got.by_status("accepted")) == 3000 and sorted(o.op_id for o in got) == list(range(1, 3001))
    assert got.threads == {threading.get_ident()}
    assert sandbox.counts()["people"] == 3000
    assert stats.requests == len(sandbox.log("/api/v2/batch")) and stats.retries == 0
    assert stats.bytes_sent == sum(r.size for r in sandbox.log("/api/v2/batch"))


def test_207_one_bad_row_in_1000(sandbox, destination) -> None:
    ops = [identify(i) for i in range(1000)]
    ops[417] = {"type": "person", "action": "identify", "identifiers": {"id": "u417", "email": "x@y.co"}}
    got, _ = run(ops_batches(ops), destination)
    [bad] = got.by_status("rejected")
    assert bad.op_id == 418 and bad.status_code == 207
    assert "identifiers" in bad.reason and "exactly one" in bad.reason
    assert len(got.by_status("accepted")) == 999
    assert sandbox.counts()["people"] == 999


def test_400_splits_to_isolate_the_bad_items(sandbox, destination) -> None:
    sandbox.faults.reject = lambda op: "poison" if op.get("identifiers", {}).get("id") in ("u37", "u80") else None
    sandbox.faults.reject_status = 400
    got, stats = run(ops_batches([identify(i) for i in range(100)]), destination)
    assert sorted(o.op_id for o in got.by_status("rejected")) == [38, 81]
    assert all(o.status_code == 400 and "poison" in o.reason for o in got.by_status("rejected"))
    assert len(got.by_status("accepted")) == 98 and sandbox.counts()["people"] == 98
    assert stats.splits >= 2


def test_401_stops_with_a_hint_and_never_shows_the_key(sandbox, caplog) -> None:
    wrong = destination_for(sandbox, api_key="an-app-api-key-LEAK")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DestinationAuthError) as caught:
        run(ops_batches([identify(i) for i in range(10)]), wrong)
    text = str(caught.value)
    assert "401" in text and "Track API key" in text and "Site ID" in text and "App API key" in text
    assert "region 'us'" in text
    assert sandbox.log("/api/v1/accounts/region"), "the region of the credentials was asked"
    leaks = ["an-app-api-key-LEAK", base64.b64encode(f"{wrong.site_id}:an-app-api-key-LEAK".encode()).decode()]
    for where in (text, repr(caught.value), caplog.text, repr(wrong), str(wrong.model_dump())):
        assert not any(leak in where for leak in leaks)


def test_429_retry_after_is_honoured_and_lowers_the_rate(sandbox, destination) -> None:
    sandbox.faults.rate_limit_every = 2
    sandbox.faults.retry_after = "1"
    bucket = TokenBucket(destination.requests_per_second)
    two_requests = ops_batches([identify(i) for i in range(4)], priority=[0, 0, 1, 1])
    got, stats = run(two_requests, destination.model_copy(update={"max_attempts": 4}), bucket=bucket)
    assert len(got.by_status("accepted")) == 4
    log = sandbox.log("/api/v2/batch")
    limited = next(i for i, r in enumerate(log) if r.status == 429)
    waited = log[limited + 1].at - log[limited].at
    assert waited >= 0.95, f"retried {waited:.3f}s after a 429 with Retry-After: 1"
    assert stats.rate_limited == 1 and bucket.limited == 1 and stats.retries == 1


def test_retry_after_as_http_date(sandbox, destination) -> None:
    from email.utils import formatdate

    sandbox.faults.rate_limit_every = 1
    sandbox.faults.retry_after = formatdate(time.time() + 2, usegmt=True)
    started = time.monotonic()
    got, stats = run(ops_batches([identify(1)]), destination.model_copy(update={"max_attempts": 2}))
    assert got.by_status("retryable") and stats.retries == 1
    assert time.monotonic() - started >= 0.9  # an HTTP date one to two seconds ahead


def test_5xx_retried_then_success(sandbox, destination) -> None:
    sandbox.faults.error_every = 2
    got, stats = run(ops_batches([identify(i) for i in range(2500)], chunk=1000), destination)
    assert len(got.by_status("accepted")) == 2500 and stats.retries >= 1


def test_5xx_every_time_leaves_rows_retryable(sandbox, destination) -> None:
    sandbox.faults.error_rate = 1.0
    got, stats = run(ops_batches([identify(i) for i in range(20)]), destination)
    assert len(got.by_status("retryable")) == 20
    assert all(o.status_code == 503 and "3 attempt" in o.reason for o in got)
    assert stats.requests == 3 and sandbox.counts()["people"] == 0


def test_dropped_connections_retried_then_retryable(sandbox, destination) -> None:
    sandbox.faults.drop_every = 2
    got, stats = run(ops_batches([identify(i) for i in range(2500)], chunk=1000), destination)
    assert len(got.by_status("accepted")) == 2500 and stats.retries >= 1
    sandbox.faults.drop_every, sandbox.faults.drop_rate = 0, 1.0
    got, _ = run(ops_batches([identify(i) for i in range(5)]), destination)
    assert [o.status for o in got] == ["retryable"] * 5 and got[0].status_code is None


def test_timeouts_are_retried(sandbox) -> None:
    sandbox.faults.delay_s = 0.5
    got, stats = run(ops_batches([identify(1)]), destination_for(sandbox, timeout_s=0.1, max_attempts=2))
    assert got[0].status == "retryable" and "Timeout" in got[0].reason and stats.requests == 2


def test_each_priority_finishes_before_the_next_starts(sandbox, destination) -> None:
    seen: list[str] = []
    sandbox.faults.reject = lambda op: seen.append(op["action"]) or None
    ops = ([{"type": "object", "action": "identify", "identifiers": {"object_type_id": "1", "object_id": f"o{i}"}}
            for i in range(300)] + [identify(i) for i in range(300)]
           + [{"type": "person", "action": "event", "identifiers": {"id": f"u{i}"}, "name": "done"} for i in range(300)])
    priorities = [0] * 300 + [1] * 300 + [3] * 300
    got, _ = run(ops_batches(ops, priority=priorities, chunk=128), destination.model_copy(update={"max_concurrency": 8}))
    assert len(got.by_status("accepted")) == 900
    assert seen == ["identify"] * 600 + ["event"] * 300
    assert sandbox.counts()["objects"] == 300 and sandbox.counts()["people"] == 300


def test_metrics_go_one_per_request(sandbox, destination) -> None:
    metrics = [f'{{"delivery_id":"d{i}","metric":"opened","timestamp":1700000000}}' for i in range(3)]
    got, stats = run(ops_batches([identify(1), *metrics], priority=[1, 3, 3, 3],
                                 endpoint=["batch", "metrics", "metrics", "metrics"]), destination)
    assert len(got.by_status("accepted")) == 4 and stats.requests == 4
    assert len(sandbox.log("/api/v1/metrics")) == 3 and sandbox.counts()["metrics"] == 3


def test_partial_batches_carry_over_record_batches(sandbox, destination) -> None:
    got, stats = run(ops_batches([identify(i) for i in range(60)], chunk=1), destination)
    assert len(got) == 60 and stats.requests == 1  # 60 one-row record batches, one request


class BookedBucket(TokenBucket):
    """The real token bucket, keeping the send time it booked for each request (its own accounting)."""

    def __init__(self, rate: float) -> None:
        self.now = 0.0
        super().__init__(rate, clock=self._clock)
        self.slots: list[float] = []

    def _clock(self) -> float:
        self.now = time.monotonic()
        return self.now

    def reserve(self) -> float:
        wait = super().reserve()
        self.slots.append(self.now + wait)
        return wait


def test_request_rate_is_limited(sandbox) -> None:
    """No upper bound on time (a busy machine is slow, never too fast): the bucket's bookings and lower bounds."""
    metrics = [f'{{"delivery_id":"d{i}","metric":"opened"}}' for i in range(41)]
    bucket = BookedBucket(40)
    started = time.monotonic()
    got, stats = run(ops_batches(metrics, endpoint="metrics"), destination_for(sandbox, requests_per_second=40),
                     bucket=bucket)
    elapsed = time.monotonic() - started
    assert stats.requests == 41 and len(got.by_status("accepted")) == 41
    assert len(bucket.slots) == 41 and bucket.burst == 4
    slots = sorted(bucket.slots)
    for i, first in enumerate(slots):  # any k+burst consecutive requests span at least k intervals of 1/40 s
        for j in range(i + 1, len(slots)):
            assert slots[j] - first >= (j - i - (bucket.burst - 1)) / 40 - 1e-9, (i, j)
    assert slots[-1] - slots[0] >= 37 / 40 - 1e-9  # 41 requests after a burst of 4: 37 intervals
    assert elapsed >= 37 / 40 - 0.01  # and the senders waited for their slots
    assert stats.rate_wait_s == pytest.approx(bucket.waited_s) and stats.rate_wait_s > 0


def test_fatal_404_and_redirects_only_to_customer_io(sandbox) -> None:
    with pytest.raises(DestinationError, match="404"):
        run(ops_batches([identify(1)]), destination_for(sandbox, url=sandbox.url + "/wrong"))
    assert redirect_allowed("https://track-eu.customer.io/api/v2/batch", "https://track.customer.io")
    assert not redirect_allowed("https://evil.example/api/v2/batch", "https://track.customer.io")
    assert not redirect_allowed("http://track-eu.customer.io/api/v2/batch", "https://track.customer.io")
    assert not redirect_allowed("https://customer.io.evil.example/x", "https://track.customer.io")

    class Redirect(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(307)
            self.send_header("Location", "https://collector.example.net/api/v2/batch")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(DestinationError, match="not a customer.io host"):
            run(ops_batches([identify(1)]), destination_for(sandbox, url=f"http://127.0.0.1:{server.server_port}"))
    finally:
        server.shutdown()
        server.server_close()


def test_outcomes_received_before_an_auth_error_are_still_reported(sandbox, destination) -> None:
    calls = {"n": 0}

    def flip(op):
        calls["n"] += 1
        return None

    sandbox.faults.reject = flip
    got = Collected()
    batches = ops_batches([identify(i) for i in range(2000)], priority=[0] * 1000 + [1] * 1000)

    def on_outcomes(outcomes):
        got(outcomes)
        sandbox.api_key = "rotated"  # the key is revoked after the first priority

    with pytest.raises(DestinationAuthError):
        deliver(batches, destination, on_outcomes=on_outcomes, sync="s", policy=FAST)
    assert len(got.by_status("accepted")) == 1000


def test_the_key_never_appears_in_reprs(destination) -> None:
    from cio_retl.delivery.client import TrackClient

    client = TrackClient(destination, connections=1)
    assert API_KEY not in repr(client) and API_KEY not in repr(destination)
