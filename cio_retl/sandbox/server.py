"""The sandbox's answers: a Customer.io-compatible Track API (and its fault knobs for tests and demos), request by request."""

from __future__ import annotations

import base64
import binascii
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cio_retl.sandbox.extra_apis import PIPELINES_PATHS, SEGMENT_PATH, Pipelines, Segments
from cio_retl.sandbox.store import Store
from cio_retl.sandbox.validate import operation_problem

MAX_BATCH_BYTES = 500_000  # "under 500 KB": the strictest reading, so the client's headroom is really tested
MAX_ENTITY_BYTES = 32 * 1024
BATCH, ENTITY, METRICS, REGION = "/api/v2/batch", "/api/v2/entity", "/api/v1/metrics", "/api/v1/accounts/region"
Rule = Callable[[dict[str, Any]], "str | None"]


@dataclass
class Faults:
    """Failures to inject. Change the fields of a running sandbox's `faults` at any time (they are read per request).

    Counters are per POST request, starting at 1: `rate_limit_every=3` answers 429 to requests 3, 6, 9…
    """

    rate_limit_every: int = 0          # 429 every Nth request…
    retry_after: str | None = "1"      # …with this Retry-After header (seconds or an HTTP date; None: no header)
    error_every: int = 0               # 5xx every Nth request
    error_rate: float = 0.0            # 5xx with this probability
    error_status: int = 503
    delay_s: float = 0.0               # slow responses
    drop_every: int = 0                # close the connection without answering, every Nth request
    drop_rate: float = 0.0             # … or with this probability
    reject: Rule | None = None         # items for which this returns a message are invalid…
    reject_status: int = 207           # …reported per item (207) or by refusing the whole request (400)
    count_only: bool = False           # answer 200 without parsing or storing (throughput runs)
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the sandbox saw it."""

    method: str
    path: str
    status: int | None      # None: the connection was dropped
    size: int
    items: int
    at: float               # time.monotonic() when the answer was decided
    fault: str | None = None
    received: float = 0.0   # time.monotonic() when the request had arrived (what a rate limit counts)


def rule_from_text(text: str) -> Rule:
    """A reject rule from `dotted.path=value` (e.g. `identifiers.id=u3`), for the CLI."""
    path, _, expected = text.partition("=")
    keys = path.strip().split(".")

    def rule(op: dict[str, Any]) -> str | None:
        value: Any = op
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return f"rejected by the sandbox rule {text}" if value is not None and str(value) == expected else None

    return rule


def errors_body(*errors: dict[str, Any]) -> bytes:
    """A Track API error body: {"errors": [...]}."""
    return json.dumps({"errors": list(errors)}).encode()


class Sandbox:
    """The state behind the HTTP server: store, credentials, faults and a log of requests."""

    def __init__(self, db: str = ":memory:", *, site_id: str | None = None, api_key: str | None = None,
                 region: str = "us", faults: Faults | None = None, write_key: str | None = None,
                 manual_segments: set[int] | None = None, data_driven_segments: set[int] | None = None) -> None:
        self.store = Store(db)
        self.segments = Segments(self.store, manual=manual_segments, data_driven=data_driven_segments)
        self.pipelines = Pipelines(self.store, write_key=write_key)
        self.site_id, self.api_key, self.region = site_id, api_key, region
        self.faults = faults or Faults()
        self.url = ""
        self.requests: deque[LoggedRequest] = deque(maxlen=200_000)
        self._counter = 0
        self._lock = threading.Lock()
        self.bytes_received = 0

    def __repr__(self) -> str:
        return f"Sandbox(url={self.url!r}, site_id={self.site_id!r})"

    # ------------------------------------------------------------ inspection

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        return self.store.dump()

    def counts(self) -> dict[str, int]:
        return self.store.counts()

    def log(self, path: str | None = None) -> list[LoggedRequest]:
        """Requests received (optionally only to one path), oldest first."""
        return [r for r in list(self.requests) if path is None or r.path == path]

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------ one request

    def handle(self, method: str, path: str, authorization: str | None, body: bytes,
               received: float | None = None, *, strict: bool = False) -> Reply | None:
        """Answer one request; None means drop the connection without an answer. `strict`: X-Strict-Mode: 1."""
        received = received or time.monotonic()
        path, _, query = path.partition("?")
        pipelines, segment = path in PIPELINES_PATHS, SEGMENT_PATH.match(path)
        # The dump is personal data: the Track API's credentials, like every Track endpoint.
        if not (self.pipelines.authorized(authorization) if pipelines else self._authorized(authorization)):
            return self._logged(method, path, body, received, Reply(401, errors_body({"reason": "unauthorized", "message":
                                "Unauthorized request. Make sure that you provided the right credentials."})))
        if method == "GET" and path == "/_sandbox/dump":  # admin endpoint: what the sandbox holds (not logged)
            return Reply(200, json.dumps(self.dump()).encode())
        if method == "GET" and path == REGION:
            body_out = {"url": self.url, "region": self.region, "environment_id": 1}
            return self._logged(method, path, body, received, Reply(200, json.dumps(body_out).encode()))
        if method != "POST" or not (path in (BATCH, ENTITY, METRICS) or pipelines or segment):
            return self._logged(method, path, body, received,
                                Reply(404, errors_body({"reason": "not_found", "message": path})))
        with self._lock:
            self._counter += 1
            number = self._counter
            self.bytes_received += len(body)
        faults = self.faults
        if faults.delay_s:
            time.sleep(faults.delay_s)
        fault = self._fault(faults, number)
        if fault is not None:
            reply, name = fault
            self.requests.append(LoggedRequest(method, path, reply.status if reply else None, len(body), 0,
                                               time.monotonic(), name, received))
            return reply
        if faults.count_only:
            return self._logged(method, path, body, received, Reply(200, b"{}"))
        if pipelines:
            (status, out), items, dropped = self.pipelines.handle(path, body, strict)
            self.requests.append(LoggedRequest(method, path, status, len(body), items, time.monotonic(), dropped,
                                               received))
            return Reply(status, out)
        if segment:
            params = dict(part.partition("=")[::2] for part in query.split("&") if part)
            (status, out), items = self.segments.handle(int(segment.group(1)), segment.group(2), params, body)
            return self._logged(method, path, body, received, Reply(status, out), items)
        handler = {BATCH: self._batch, ENTITY: self._entity, METRICS: self._metrics}[path]
        reply, items = handler(body)
        return self._logged(method, path, body, received, reply, items)

    def _logged(self, method: str, path: str, body: bytes, received: float, reply: Reply, items: int = 0) -> Reply:
        self.requests.append(LoggedRequest(method, path, reply.status, len(body), items, time.monotonic(),
                                           received=received))
        return reply

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if self.site_id is None and self.api_key is None:
            return bool(user)
        return user == self.site_id and password == self.api_key

    @staticmethod
    def _fault(faults: Faults, number: int) -> tuple[Reply | None, str] | None:
        def hit(every: int, rate: float) -> bool:
            return bool(every and number % every == 0) or bool(rate and faults.rng.random() < rate)

        if hit(faults.drop_every, faults.drop_rate):
            return None, "drop"
        if hit(faults.rate_limit_every, 0.0):
            headers = {"Retry-After": faults.retry_after} if faults.retry_after is not None else {}
            return Reply(429, errors_body({"reason": "rate_limited", "message": "too many requests"}), headers), "429"
        if hit(faults.error_every, faults.error_rate):
            return Reply(faults.error_status, errors_body({"reason": "server_error", "message": "sandbox fault"})), "5xx"
        return None

    def _batch(self, body: bytes) -> tuple[Reply, int]:
        if len(body) >= MAX_BATCH_BYTES:
            return Reply(413, errors_body({"reason": "too_large", "field": "batch",
                                       "message": f"request is {len(body)} bytes; the limit is 500 KB"})), 0
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return Reply(400, errors_body({"reason": "invalid", "field": "body", "message": f"invalid JSON: {exc}"})), 0
        batch = parsed.get("batch") if isinstance(parsed, dict) else None
        if not isinstance(batch, list) or not batch:
            return Reply(400, errors_body({"reason": "required", "field": "batch",
                                       "message": "body must be {\"batch\": [operation, …]} with at least one"})), 0
        errors, valid = [], []
        for index, op in enumerate(batch):
            problem = self._item_problem(op)
            if problem and self.faults.reject_status == 400 and problem[0] == "rule":
                return Reply(400, errors_body({"reason": "invalid", "field": problem[1], "message": problem[2]})), len(batch)
            if problem:
                errors.append({"batch_index": index, "reason": problem[0], "field": problem[1], "message": problem[2]})
            else:
                valid.append(op)
        self.store.apply(valid)
        return (Reply(207, json.dumps({"errors": errors}).encode()) if errors else Reply(200)), len(batch)

    def _item_problem(self, op: Any) -> tuple[str, str, str] | None:
        size = len(json.dumps(op, separators=(",", ":"), ensure_ascii=False).encode())
        problem = operation_problem(op, size)
        if problem is None and self.faults.reject is not None:
            message = self.faults.reject(op)
            if message:
                return ("rule", "", message)
        return problem

    def _entity(self, body: bytes) -> tuple[Reply, int]:
        if len(body) >= MAX_ENTITY_BYTES:
            return Reply(413, errors_body({"reason": "too_large", "message": "an operation must be under 32 KB"})), 0
        try:
            op = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return Reply(400, errors_body({"reason": "invalid", "field": "body", "message": f"invalid JSON: {exc}"})), 0
        problem = self._item_problem(op)
        if problem:
            return Reply(400, errors_body({"reason": problem[0], "field": problem[1], "message": problem[2]})), 1
        self.store.apply([op])
        return Reply(200), 1

    def _metrics(self, body: bytes) -> tuple[Reply, int]:
        try:
            metric = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            metric = None
        if not isinstance(metric, dict) or not metric.get("delivery_id") or not metric.get("metric"):
            return Reply(400, b'{"meta":{"error":"delivery_id and metric are required"}}'), 1
        message = self.faults.reject(metric) if self.faults.reject else None
        if message:
            return Reply(400, json.dumps({"meta": {"error": message}}).encode()), 1
        self.store.apply([{"type": "delivery", "action": "metric", **metric}])
        return Reply(200), 1
