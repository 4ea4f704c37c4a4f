"""run_sync() through real HTTP against the sandbox: rejections, auth, faults then rerun, and a SIGKILL crash."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from cio_retl.delivery import deliver
from cio_retl.errors import DeliveryIncompleteError, DestinationAuthError
from cio_retl.sandbox import Faults
from cio_retl.pipeline.sync import run_sync
from tests.integration.conftest import API_KEY, FAST, SITE_ID

USERS = """
CREATE OR REPLACE TABLE users AS
SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, ['free', 'pro'][1 + i % 2] AS plan, i AS seats
  FROM range(1, {n} + 1) t(i);
CREATE OR REPLACE TABLE orders AS
SELECT 'o' || i AS order_id, 'u' || (1 + i % {n}) AS user_id, i * 10 AS amount,
       TIMESTAMP '2024-01-01 00:00:00' + to_minutes(i) AS created_at
  FROM range(1, {n} + 1) t(i);
"""
SYNCS = {"people": {"table": "users", "primary_key": "user_id", "type": "identify"},
         "orders": {"table": "orders", "primary_key": "order_id", "type": "track", "event": "Order Placed"}}
fast_deliver = functools.partial(deliver, policy=FAST)


@pytest.fixture
def project_for(make_project, warehouse_sql, sandbox):
    def make(n: int, **destination):
        warehouse_sql(USERS.replace("{n}", str(n)))
        settings = {"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url, "requests_per_second": 1000,
                    "max_attempts": 3, **destination}
        return make_project(SYNCS, destination=settings)
    return make


def person_ids(sandbox) -> list[str]:
    return sorted(p["id"] for p in sandbox.dump()["people"])


def test_207_one_bad_row_in_1000_committed_recorded_then_retried(sandbox, project_for) -> None:
    project = project_for(1000)
    sandbox.faults.reject = lambda op: "Attribute value too long" if op["identifiers"].get("id") == "u417" else None
    report = run_sync(project, "people", deliver=fast_deliver)
    assert (report.accepted, report.rejected, report.pending) == (999, 1, 0)
    [rejection] = report.rejections
    assert rejection.key == "u417" and rejection.status_code == 207 and "Attribute value too long" in rejection.reason
    assert len(person_ids(sandbox)) == 999
    sandbox.faults.reject = None
    again = run_sync(project, "people", deliver=fast_deliver)
    assert (again.operations, again.accepted, again.rejected) == (1, 1, 0)
    assert len(person_ids(sandbox)) == 1000
    assert run_sync(project, "people", deliver=fast_deliver).requests == 0


def test_401_stops_the_run_with_the_hint_and_no_key_in_output(sandbox, project_for, tmp_path) -> None:
    project = project_for(5, api_key="wrong-key-LEAK-123")
    with pytest.raises(DestinationAuthError) as caught:  # the delivery's own error, raised as it is
        run_sync(project, "people", deliver=fast_deliver)
    assert type(caught.value) is DestinationAuthError and caught.value.sync == "people"
    assert caught.value.report.status == "failed" and caught.value.report.accepted == 0
    assert "HTTP 401" in caught.value.message and "Track API key" in caught.value.hint and "Site ID" in caught.value.hint
    done = subprocess.run([sys.executable, "-m", "cio_retl", "run", "people", "-c", str(tmp_path / "cio_retl.yaml")],
                          capture_output=True, text=True)
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Track API key" in output
    assert "wrong-key-LEAK-123" not in output and "LEAK" not in output
    assert sandbox.counts()["people"] == 0


def test_faults_leave_rows_pending_then_a_rerun_sends_exactly_what_is_missing(sandbox, project_for) -> None:
    project = project_for(3000)
    run_sync(project, "people", deliver=fast_deliver)
    sandbox.faults = Faults(error_every=2, drop_every=3)  # every other request 5xx, every third dropped
    one_attempt = project.model_copy(update={"destination": project.destination.model_copy(update={"max_attempts": 1})})
    with pytest.raises(DeliveryIncompleteError, match=r"still pending .*HTTP 503 .*from 127\.0\.0\.1") as caught:
        run_sync(one_attempt, "orders", deliver=fast_deliver)
    report = caught.value.report
    assert report.status == "failed" and report.pending > 0 and report.accepted + report.pending == 3000
    first_ids = {e["id"] for e in sandbox.dump()["events"]}
    sandbox.faults = Faults()
    rerun = run_sync(project, "orders", deliver=fast_deliver)
    assert rerun.accepted == report.pending and rerun.pending == 0
    events = sandbox.dump()["events"]
    assert len(events) == 3000 and len({e["id"] for e in events}) == 3000
    assert first_ids <= {e["id"] for e in events}  # event ids are stable across runs
    assert run_sync(project, "orders", deliver=fast_deliver).operations == 0


def test_sigkill_mid_delivery_then_rerun_matches_the_warehouse(sandbox, project_for, tmp_path) -> None:
    n = 20_000
    project = project_for(n, requests_per_second=20, max_concurrency=2, max_batch_operations=1000)  # 40 requests
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    config = str(tmp_path / "cio_retl.yaml")
    child = subprocess.Popen([sys.executable, "-m", "cio_retl", "run", "people", "orders", "-c", config], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while len(sandbox.log("/api/v2/batch")) < 12 and child.poll() is None:  # no deadline: a busy machine is slow
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    sent_before = len(sandbox.log("/api/v2/batch"))
    assert sent_before > 0 and sandbox.counts()["events"] < n  # killed in the middle of sending

    fast = project.model_copy(update={"destination": project.destination.model_copy(
        update={"requests_per_second": 1000, "max_concurrency": 8})})
    for sync in ("people", "orders"):
        run_sync(fast, sync, deliver=fast_deliver)
    state = sandbox.dump()
    assert person_ids(sandbox) == sorted(f"u{i}" for i in range(1, n + 1))
    events = Counter(e["attributes"]["order_id"] for e in state["events"])
    assert len(events) == n and max(events.values()) == 1  # nothing missing, nothing twice
    assert all(run_sync(fast, sync, deliver=fast_deliver).operations == 0 for sync in ("people", "orders"))
