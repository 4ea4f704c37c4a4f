"""Turn one HTTP response (or transport failure) into a verdict: accept, reject items, split, retry or stop."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal, NamedTuple

import numpy as np
import pyarrow as pa

from cio_retl.delivery.limits import RetryPolicy

Status = Literal["accepted", "rejected", "retryable"]
Action = Literal["accept", "split", "retry", "auth", "fatal"]
RETRY_STATUSES = {408, 425, 429}
SPLIT_STATUSES = {400, 413, 422}


class Outcome(NamedTuple):
    """What happened to one operation (the row form of OUTCOME_SCHEMA; delivery itself hands over tables)."""

    op_id: int
    status: Status
    status_code: int | None
    reason: str | None
    body: str | None = None  # kept for refused operations, to show what was refused


OUTCOME_SCHEMA = pa.schema([("op_id", pa.int64()), ("status", pa.string()), ("status_code", pa.int32()),
                            ("reason", pa.string()), ("body", pa.string())])


def outcome_table(op_ids: np.ndarray | list[int], status: Status, status_code: int | None = None,
                  reasons: list[str | None] | None = None, bodies: pa.Array | list[str | None] | None = None) -> pa.Table:
    """Outcomes of many operations sharing a status, as one table (no Python object per operation)."""
    n = len(op_ids)
    return pa.Table.from_arrays([
        pa.array(op_ids, pa.int64()), pa.array([status] * n, pa.string()),
        pa.array([status_code] * n, pa.int32()), pa.array(reasons if reasons is not None else [None] * n, pa.string()),
        (bodies.cast(pa.string()) if isinstance(bodies, pa.Array) else pa.array(bodies if bodies is not None
                                                                                   else [None] * n, pa.string())),
    ], schema=OUTCOME_SCHEMA)


def as_outcome_table(outcomes: pa.Table | list[Any]) -> pa.Table:
    """Outcomes as a table, whether delivery handed a table or (tests, other deliveries) a list of Outcome rows."""
    if isinstance(outcomes, pa.Table):
        return outcomes
    rows = [Outcome(*o) if not isinstance(o, Outcome) and isinstance(o, tuple) else o for o in outcomes]
    return pa.Table.from_arrays([
        pa.array([o.op_id for o in rows], pa.int64()), pa.array([o.status for o in rows], pa.string()),
        pa.array([o.status_code for o in rows], pa.int32()), pa.array([o.reason for o in rows], pa.string()),
        pa.array([getattr(o, "body", None) for o in rows], pa.string())], schema=OUTCOME_SCHEMA)


def status_counts(outcomes: pa.Table) -> dict[str, int]:
    """How many outcomes of each status."""
    return {item["values"]: item["counts"] for item in outcomes.column("status").value_counts().to_pylist()}


@dataclass(frozen=True)
class Verdict:
    """The classification of one response for a request of `size` operations.

    accept: every item accepted except those in `rejected` (batch index → reason).
    split: the request as a whole was refused; halve it to isolate the bad items (one item: reject it).
    retry: transient; try again after `retry_after` seconds if the server said so.
    auth: the credentials were refused (401/403): stop the run.
    fatal: the destination cannot take this run at all (e.g. 404: wrong URL): stop the run.
    """

    action: Action
    status_code: int | None
    message: str = ""
    rejected: dict[int, str] = field(default_factory=dict)
    retry_after: float | None = None


def classify(status_code: int | None, body: bytes, headers: dict[str, str] | None = None, *, size: int = 1,
             transport_error: str | None = None) -> Verdict:
    """The single place where responses are classified; `status_code` None means no response arrived."""
    if status_code is None:
        return Verdict("retry", None, transport_error or "no response")
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    parsed = parse_body(body)
    message = error_message(parsed) or _short_text(body)
    if status_code in (200, 201, 202, 204, 207):
        return _per_item(status_code, parsed, size, message)
    if status_code in (401, 403):
        return Verdict("auth", status_code, message)
    if status_code in RETRY_STATUSES or status_code >= 500:
        return Verdict("retry", status_code, message or f"HTTP {status_code}",
                       retry_after=parse_retry_after(headers.get("retry-after")))
    if status_code in SPLIT_STATUSES:
        return Verdict("split", status_code, message or f"HTTP {status_code}")
    return Verdict("fatal", status_code, message or f"HTTP {status_code}")


def _per_item(status_code: int, parsed: Any, size: int, message: str) -> Verdict:
    """2xx: items named in `errors[].batch_index` are rejected; errors that name no item force a split."""
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if not errors or not isinstance(errors, list):
        if status_code == 207:  # a multi-status with nothing we can read: do not guess which items failed
            return Verdict("split", status_code, message or "207 without a readable errors list")
        return Verdict("accept", status_code)
    rejected: dict[int, str] = {}
    for error in errors:
        index = error.get("batch_index") if isinstance(error, dict) else None
        if size == 1 and index is None:
            index = 0  # a single operation's error is about that operation
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < size:
            return Verdict("split", status_code, item_reason(error))
        rejected[index] = _join(rejected.get(index), item_reason(error))
    return Verdict("accept", status_code, rejected=rejected)


def _join(previous: str | None, reason: str) -> str:
    return reason if previous is None else f"{previous}; {reason}"


def parse_body(body: bytes) -> Any:
    """JSON of a response body; a body that is itself a JSON string is parsed once more (Customer.io does that)."""
    try:
        parsed = json.loads(body) if body else None
        if isinstance(parsed, str):
            parsed = json.loads(parsed)
        return parsed
    except (ValueError, UnicodeDecodeError):
        return None


def item_reason(error: Any) -> str:
    """'reason (field): message' from one `errors[]` entry, whatever subset of keys it has."""
    if not isinstance(error, dict):
        return str(error)[:500]
    reason, field_, message = error.get("reason"), error.get("field"), error.get("message")
    head = " ".join(str(part) for part in (reason, f"({field_})" if field_ else None) if part)
    text = f"{head}: {message}" if head and message else (head or str(message or "rejected"))
    return text[:500]


def error_message(parsed: Any) -> str:
    """A readable message from the error body shapes Customer.io uses (v2 `errors`, v1 `meta`)."""
    if not isinstance(parsed, dict):
        return ""
    if isinstance(parsed.get("errors"), list) and parsed["errors"]:
        return "; ".join(item_reason(e) for e in parsed["errors"][:5])
    meta = parsed.get("meta")
    if isinstance(meta, dict):
        found = meta.get("errors") or meta.get("error")
        return "; ".join(map(str, found)) if isinstance(found, list) else str(found or "")
    return str(parsed.get("message") or parsed.get("error") or "")


def _short_text(body: bytes) -> str:
    return body[:300].decode("utf-8", "replace").strip()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - (now or datetime.now(timezone.utc))).total_seconds())


def backoff_delay(attempt: int, retry_after: float | None, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Wait before attempt `attempt + 1`: the server's Retry-After (capped) or full-jitter exponential backoff."""
    if retry_after is not None:
        return max(policy.min_delay_s, min(retry_after, policy.max_retry_after_s))
    ceiling = min(policy.max_delay_s, policy.base_delay_s * 2 ** (attempt - 1))
    # Jitter spreads retries of concurrent senders, so they do not hit a recovering server in lockstep.
    return max(policy.min_delay_s, (rng or random).uniform(ceiling / 2, ceiling))
