"""The response classification as one table: status, body, headers → verdict."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import pytest

from cio_retl.delivery.limits import RetryPolicy
from cio_retl.delivery.outcomes import backoff_delay, classify, parse_body, parse_retry_after

E207 = json.dumps({"errors": [{"batch_index": 1, "reason": "required", "field": "name", "message": "Name is required"}]})
TWO_ON_ONE = json.dumps({"errors": [{"batch_index": 0, "reason": "invalid", "message": "a"},
                                    {"batch_index": 0, "reason": "invalid", "message": "b"}]})

CASES = [
    # status, body, headers, size, → action, rejected indices, retry_after
    (200, "{}", {}, 3, "accept", {}, None),
    (200, "", {}, 3, "accept", {}, None),
    (200, json.dumps({"errors": [{"batch_index": 2, "reason": "invalid", "message": "bad"}]}), {}, 3,
     "accept", {2: "invalid: bad"}, None),
    (207, E207, {}, 3, "accept", {1: "required (name): Name is required"}, None),
    (207, json.dumps(E207), {}, 3, "accept", {1: "required (name): Name is required"}, None),  # JSON in a string
    (207, TWO_ON_ONE, {}, 2, "accept", {0: "invalid: a; invalid: b"}, None),
    (207, "not json", {}, 3, "split", {}, None),
    (207, json.dumps({"errors": [{"batch_index": 9, "message": "x"}]}), {}, 3, "split", {}, None),
    (200, json.dumps({"errors": [{"reason": "invalid", "message": "whole"}]}), {}, 1, "accept", {0: "invalid: whole"}, None),
    (400, json.dumps({"errors": [{"reason": "invalid", "field": "batch", "message": "bad"}]}), {}, 5, "split", {}, None),
    (413, "", {}, 5, "split", {}, None),
    (401, "", {}, 5, "auth", {}, None),
    (403, "{}", {}, 5, "auth", {}, None),
    (404, "not found", {}, 5, "fatal", {}, None),
    (408, "", {}, 5, "retry", {}, None),
    (429, "", {"Retry-After": "3"}, 5, "retry", {}, 3.0),
    (429, "", {}, 5, "retry", {}, None),
    (500, "", {}, 5, "retry", {}, None),
    (502, "", {"retry-after": "0"}, 5, "retry", {}, 0.0),
    (503, "", {}, 5, "retry", {}, None),
    (None, "", {}, 5, "retry", {}, None),  # timeout / dropped connection
]


@pytest.mark.parametrize(("status", "body", "headers", "size", "action", "rejected", "retry_after"), CASES)
def test_classify(status, body, headers, size, action, rejected, retry_after) -> None:
    verdict = classify(status, body.encode(), headers, size=size, transport_error="ReadError: dropped")
    assert verdict.action == action
    assert verdict.rejected == rejected
    assert verdict.retry_after == retry_after
    assert verdict.status_code == status


def test_messages_keep_the_servers_words() -> None:
    assert "Name is required" in classify(400, E207.encode(), size=1).message
    assert classify(400, b'{"meta":{"error":"identifier is required"}}', size=1).message == "identifier is required"
    assert classify(None, b"", transport_error="ConnectError: refused").message == "ConnectError: refused"


def test_parse_body_twice_when_it_is_a_string() -> None:
    assert parse_body(json.dumps(json.dumps({"a": 1})).encode()) == {"a": 1}
    assert parse_body(b"<html>") is None


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_backoff_is_capped_jittered_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay_s=1, max_delay_s=8, max_retry_after_s=60)
    rng = random.Random(1)
    assert backoff_delay(1, 5.0, policy, rng) == 5.0
    assert backoff_delay(1, 3600.0, policy, rng) == 60.0
    delays = [backoff_delay(attempt, None, policy, rng) for attempt in range(1, 8)]
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and all(4 <= d <= 8 for d in delays[3:])
