"""Null safety and run order (issue 10): the clear guard, `nulls: skip`, and people before their events."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest

from cio_retl.delivery import deliver
from cio_retl.errors import MassClearError
from cio_retl.project.order import dependencies, run_order
from cio_retl.pipeline.runner import run_syncs
from cio_retl.pipeline.sync import run_sync
from tests.conftest import RecordingDelivery
from tests.integration.conftest import API_KEY, FAST, SITE_ID

PEOPLE = """
CREATE OR REPLACE TABLE people AS
SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, 'Ann' || i AS first_name, 'free' AS plan
  FROM range(1, 41) t(i)
"""
SYNC = {"people": {"table": "people", "primary_key": "user_id", "type": "identify"}}
fast_deliver = functools.partial(deliver, policy=FAST)


def cli(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cio_retl", *args, "-c", str(tmp_path / "cio_retl.yaml")],
                          capture_output=True, text=True, env=dict(os.environ), timeout=300)


def test_an_email_column_gone_null_fails_before_sending_then_allow_clear_sends_the_nulls(
        make_project, warehouse_sql, sandbox, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project(SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url})
    assert cli(tmp_path, "run").returncode == 0
    requests_before = len(sandbox.log("/api/v2/batch"))
    warehouse_sql("UPDATE people SET email = NULL")  # a broken join
    refused = cli(tmp_path, "run", "--json")
    assert refused.returncode == 1
    [summary] = json.loads(refused.stdout)["syncs"]
    assert summary["status"] == "failed" and summary["operations"] == 0
    assert "would clear email for 40 of them (100%)" in summary["error"] and "--allow-clear" in summary["error"]
    assert len(sandbox.log("/api/v2/batch")) == requests_before  # nothing was sent
    assert all(p["attributes"]["email"] for p in sandbox.dump()["people"])
    allowed = cli(tmp_path, "run", "--allow-clear", "--json")
    assert allowed.returncode == 0, allowed.stdout
    assert all(p["attributes"].get("email") is None for p in sandbox.dump()["people"])


def test_nulls_skip_sends_the_other_attributes_only(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE)
    run_sync(make_project(SYNC), "people", deliver=RecordingDelivery())
    warehouse_sql("UPDATE people SET email = NULL, plan = 'pro'")
    skipping = make_project({"people": {**SYNC["people"], "nulls": "skip"}})
    delivery = RecordingDelivery()
    report = run_sync(skipping, "people", deliver=delivery)
    assert report.accepted == 40
    assert all("email" not in op["attributes"] and op["attributes"]["plan"] == "pro" for op in delivery.sent)


def test_a_few_cleared_rows_or_new_columns_do_not_trip_the_guard(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(SYNC)
    run_sync(project, "people", deliver=RecordingDelivery())
    warehouse_sql("UPDATE people SET email = NULL WHERE user_id IN ('u1', 'u2'); "
                  "ALTER TABLE people ADD COLUMN nickname VARCHAR")  # two real clears, and a column that is all NULL
    delivery = RecordingDelivery()
    report = run_sync(project, "people", deliver=delivery)
    assert report.accepted == 40
    assert sorted(op["identifiers"]["id"] for op in delivery.sent if op["attributes"]["email"] is None) == ["u1", "u2"]


def test_the_guard_counts_only_values_customer_io_holds(make_project, warehouse_sql) -> None:
    warehouse_sql(PEOPLE + "; UPDATE people SET plan = NULL")
    project = make_project(SYNC)
    run_sync(project, "people", deliver=RecordingDelivery())
    warehouse_sql("UPDATE people SET first_name = 'Bob'")  # plan stays NULL: nothing is newly cleared
    assert run_sync(project, "people", deliver=RecordingDelivery()).accepted == 40
    warehouse_sql("UPDATE people SET first_name = NULL")
    with pytest.raises(MassClearError, match="would clear first_name for 40 of them"):
        run_sync(project, "people", deliver=RecordingDelivery())


ORDERED_SYNCS = {  # listed in the worst order on purpose
    "orders": {"table": "orders", "primary_key": "order_id", "type": "track", "event": "Order Placed"},
    "memberships": {"table": "memberships", "primary_key": ["user_id", "group_id"], "type": "group"},
    "people": {"table": "people", "primary_key": "user_id", "type": "identify"},
    "accounts": {"table": "accounts", "primary_key": "group_id", "type": "group"},
}


def test_people_are_identified_before_their_events_whatever_the_file_order(make_project, warehouse_sql, sandbox,
                                                                           tmp_path) -> None:
    warehouse_sql(PEOPLE + """;
        CREATE TABLE orders AS SELECT 'o' || i AS order_id, 'u' || (1 + i % 40) AS user_id FROM range(200) t(i);
        CREATE TABLE accounts AS SELECT 'a' || i AS group_id, 'Acme ' || i AS name FROM range(5) t(i);
        CREATE TABLE memberships AS SELECT 'u' || i AS user_id, 'a' || (i % 5) AS group_id FROM range(1, 41) t(i)""")
    project = make_project(ORDERED_SYNCS, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url})
    assert run_order(project) == ["people", "accounts", "memberships", "orders"]
    assert dependencies(project)["orders"] == ["memberships"]
    done = cli(tmp_path, "run", "orders", "people", "--json")  # named in the wrong order, too
    assert done.returncode == 0, done.stdout
    assert [s["sync"] for s in json.loads(done.stdout)["syncs"]] == ["people", "orders"]
    events = sandbox.dump()["events"]
    assert len(events) == 200 and all(event["person_known"] for event in events)  # each event found its person


def test_a_sync_whose_prerequisite_failed_is_not_run(make_project, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE orders AS SELECT 'o1' AS order_id, 'u1' AS user_id")
    project = make_project({"people": {"query": "SELECT * FROM missing_table", "primary_key": "user_id",
                                       "type": "identify"},
                            "orders": {"table": "orders", "primary_key": "order_id", "type": "track", "event": "E"}})
    reports = {r.sync: r for r in run_syncs(project, [], deliver=RecordingDelivery())}
    assert reports["people"].status == "failed" and reports["orders"].status == "failed"
    assert "not run: people failed, and must run before it" in reports["orders"].error


def test_after_names_syncs_and_a_circle_is_a_config_error(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    project = make_project({"a": {"table": "people", "primary_key": "user_id", "type": "identify", "after": ["b"]},
                            "b": {"table": "people", "primary_key": "user_id", "type": "identify"}})
    assert run_order(project) == ["b", "a"]
    with pytest.raises(Exception) as caught:
        make_project({"a": {"table": "people", "primary_key": "user_id", "type": "identify", "after": ["b"]},
                      "b": {"table": "people", "primary_key": "user_id", "type": "identify", "after": ["a", "c"]}})
    message = str(caught.value)
    assert "syncs.b.after: no sync named 'c'" in message and "goes round in a circle" in message
