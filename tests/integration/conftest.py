"""Fixtures for tests over real HTTP: a sandbox on a free loopback port and a destination pointing at it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from cio_retl.project import Destination
from cio_retl.delivery import Outcome, RetryPolicy
from cio_retl.sandbox import Sandbox, serve_sandbox
from tests.integration.warehouse_cloud_fixtures import *  # noqa: F401,F403

SITE_ID = "sandbox-site"
API_KEY = "sk-track-SECRET-9f8e7d"
# Retries in tests: real backoff shape, tiny delays.
FAST = RetryPolicy(base_delay_s=0.01, max_delay_s=0.05, max_retry_after_s=5, min_delay_s=0.0)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY) as running:
        yield running


def destination_for(sandbox: Sandbox, **overrides: Any) -> Destination:
    # A cap of 1,000 operations per request, so a few thousand small test operations make several requests
    # (retries, splits and priorities need more than one); by default bodies are packed by bytes only.
    settings = {"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url, "requests_per_second": 1000,
                "max_attempts": 3, "timeout_s": 5, "max_batch_operations": 1000, **overrides}
    return Destination(**settings)


@pytest.fixture
def destination(sandbox: Sandbox) -> Destination:
    return destination_for(sandbox)


def compact(op: dict[str, Any]) -> str:
    return json.dumps(op, separators=(",", ":"))


def identify(i: int, **attributes: Any) -> dict[str, Any]:
    return {"type": "person", "action": "identify", "identifiers": {"id": f"u{i}"},
            "attributes": {"plan": "pro", "n": i, **attributes}}


def ops_batches(ops: list[dict[str, Any] | str], *, priority: int | list[int] = 1, endpoint: str | list[str] = "batch",
                chunk: int = 5000, first_id: int = 1) -> list[pa.RecordBatch]:
    """Record batches in the delivery contract's shape (op_id, priority, endpoint, body)."""
    n = len(ops)
    priorities = priority if isinstance(priority, list) else [priority] * n
    endpoints = endpoint if isinstance(endpoint, list) else [endpoint] * n
    bodies = [op if isinstance(op, str) else compact(op) for op in ops]
    table = pa.table({"op_id": pa.array(range(first_id, first_id + n), pa.int64()),
                      "priority": pa.array(priorities, pa.int32()), "endpoint": pa.array(endpoints, pa.string()),
                      "body": pa.array(bodies, pa.string())})
    return table.to_batches(max_chunksize=chunk)


class Collected(list):
    """on_outcomes that keeps every outcome, and which thread it was called on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def __call__(self, outcomes: pa.Table) -> None:
        import threading

        self.threads.add(threading.get_ident())
        self.extend(Outcome(**row) for row in outcomes.to_pylist())

    def by_status(self, status: str) -> list[Outcome]:
        return [o for o in self if o.status == status]
