"""A failure at every stage boundary — as an exception, and as a SIGKILL of a `cio-retl run` process — then a
rerun with the fault cleared: the sandbox ends equal to the warehouse, no event twice, every row counted once.

The scenario: people (identify, mirror) and orders (track, append) are synced once; then 300 people change,
100 are deleted, 200 are added, 1,200 orders are added and 10 orders are edited. The faulty run hits one
sync at one point (tests/faults.py); the rerun finishes the job.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from cio_retl.delivery import deliver
from cio_retl.errors import SyncError
from cio_retl.pipeline.sync import run_sync
from tests.faults import POINTS, injected
from tests.integration.conftest import API_KEY, FAST, SITE_ID

ROOT = Path(__file__).resolve().parents[2]
N = 2500
SETUP = f"""
CREATE OR REPLACE TABLE people AS SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, 'free' AS plan,
       i AS seats FROM range(1, {N} + 1) t(i);
CREATE OR REPLACE TABLE orders AS SELECT 'o' || i AS order_id, 'u' || (1 + i % {N}) AS user_id, i * 10 AS amount
  FROM range(1, {N} + 1) t(i);
"""
CHANGES = f"""
UPDATE people SET plan = 'pro' WHERE seats % 8 = 0 AND seats <= 2400;                              -- 300 changed
DELETE FROM people WHERE seats > 2400;                                                             -- 100 removed
INSERT INTO people SELECT 'n' || i, 'n' || i || '@example.com', 'team', i FROM range(1, 201) t(i);  -- 200 added
INSERT INTO orders SELECT 'o' || i, 'u1', i FROM range({N} + 1, {N} + 1201) t(i);                   -- 1,200 added
UPDATE orders SET amount = -1 WHERE order_id IN ('o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7', 'o8', 'o9', 'o10');
"""
PEOPLE_CHANGES, NEW_ORDERS, EDITED_ORDERS = 600, 1200, 10
SYNCS = {"people": {"table": "people", "primary_key": "user_id", "type": "identify", "mode": "mirror"},
         "orders": {"table": "orders", "primary_key": "order_id", "type": "track", "mode": "append",
                    "event": "Order Placed"}}
fast_deliver = functools.partial(deliver, policy=FAST)


@pytest.fixture
def scenario(make_project, warehouse_sql, sandbox, tmp_path):
    warehouse_sql(SETUP)
    project = make_project(SYNCS, warehouse={"batch_size": 500}, destination={
        "site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url, "requests_per_second": 1000, "max_attempts": 3,
        "max_batch_operations": 300})  # several requests per run, so a fault can land between them
    for name in SYNCS:
        run_sync(project, name, deliver=fast_deliver)
    warehouse_sql(CHANGES)
    return project


def assert_sandbox_equals_warehouse(sandbox, tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    people = dict(con.execute("SELECT user_id, plan FROM people").fetchall())
    # Deleting a person deletes their activity in Customer.io: the events of orders whose person is gone, too.
    orders = {key for (key,) in con.execute("SELECT order_id FROM orders SEMI JOIN people USING (user_id)").fetchall()}
    con.close()
    state = sandbox.dump()
    assert {p["id"]: p["attributes"]["plan"] for p in state["people"]} == people
    per_order = Counter(event["attributes"]["order_id"] for event in state["events"])
    assert set(per_order) == orders and max(per_order.values()) == 1  # nothing missing, no event twice


def delivered(report) -> int:
    return report.fates.get("delivered", 0) + report.recovered.get("fates", {}).get("delivered", 0)


def finish_and_check(project, sandbox, tmp_path, target: str, faulty_delivered: int) -> None:
    """The rerun with the fault cleared, then the checks every case shares."""
    reports = {name: run_sync(project, name, deliver=fast_deliver) for name in SYNCS}
    for report in reports.values():
        assert report.status == "success" and report.pending == 0
        assert sum(report.fates.values()) == report.extracted + report.removed
    assert_sandbox_equals_warehouse(sandbox, tmp_path)
    # Each change is delivered exactly once over the faulty run and the rerun (counts, not just the end state).
    expected = {"people": PEOPLE_CHANGES, "orders": NEW_ORDERS}
    others = {name: 0 for name in SYNCS}
    others[target] = faulty_delivered
    for name, report in reports.items():
        assert delivered(report) + others[name] == expected[name], (name, report.fates, report.recovered)
    for name in SYNCS:  # and a third run has nothing left to do
        again = run_sync(project, name, deliver=fast_deliver)
        assert again.operations == 0 and again.fates["unchanged"] == again.extracted


CASES = [(point, target) for point in POINTS for target in SYNCS]


@pytest.mark.parametrize(("point", "target"), CASES, ids=[f"{p}-{t}" for p, t in CASES])
def test_exception_at_a_stage_boundary(scenario, sandbox, tmp_path, point: str, target: str) -> None:
    with injected(point, "exception") as fault, pytest.raises(SyncError, match="injected fault") as caught:
        run_sync(scenario, target, deliver=fast_deliver)
    assert fault.fired
    failed = caught.value.report
    assert failed.status == "failed"
    finish_and_check(scenario, sandbox, tmp_path, target, faulty_delivered=delivered(failed))


KILL_CASES = [(point, "orders" if i % 2 else "people") for i, point in enumerate(POINTS)]


@pytest.mark.parametrize(("point", "target"), KILL_CASES, ids=[f"{p}-{t}" for p, t in KILL_CASES])
def test_sigkill_at_a_stage_boundary(scenario, sandbox, tmp_path, point: str, target: str) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.faults", point, "sigkill", "run", target, "--json",
                           "-c", str(tmp_path / "cio_retl.yaml")], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]  # killed where the fault was placed, not before
    finish_and_check(scenario, sandbox, tmp_path, target, faulty_delivered=0)
