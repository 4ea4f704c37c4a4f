"""Customer.io ignores (200) a person update older than the profile's latest: the sandbox does too, and says so;
identify operations carry no timestamp unless mapped, so a resync of rows with old times still changes profiles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import API_KEY, SITE_ID

PEOPLE = ("CREATE OR REPLACE TABLE people AS SELECT 'u1' AS user_id, '{plan}' AS plan, "
          "TIMESTAMP '2020-01-01 00:00:00' AS timestamp")


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CIO_RETL_CONFIG": str(tmp_path / "cio_retl.yaml")}
    return subprocess.run([sys.executable, "-m", "cio_retl", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def plan_of(sandbox) -> str:
    return next(p for p in sandbox.dump()["people"] if p["id"] == "u1")["attributes"]["plan"]


def test_a_resync_of_rows_with_old_timestamps_changes_the_profile(sandbox, make_project, warehouse_sql, tmp_path) -> None:
    destination = {"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url}
    make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify"}}, destination=destination)
    warehouse_sql(PEOPLE.format(plan="free"))
    validate = cli(tmp_path, "validate")
    assert "column timestamp is not sent with the identify operations" in validate.stdout + validate.stderr
    assert cli(tmp_path, "run").returncode == 0
    warehouse_sql(PEOPLE.format(plan="pro"))  # the row's timestamp stays in 2020, older than the profile's update
    assert cli(tmp_path, "run", "--full-resync").returncode == 0
    assert plan_of(sandbox) == "pro" and sandbox.dump()["ignored"] == []


def test_a_mapped_old_timestamp_is_ignored_by_the_sandbox_and_validate_warns(sandbox, make_project, warehouse_sql,
                                                                             tmp_path) -> None:
    destination = {"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url}
    make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify"}}, destination=destination,
                 actions={"createUpdatePerson": {"mapping": {"timestamp": {"@path": "$.timestamp"}}}})
    warehouse_sql(PEOPLE.format(plan="free"))
    validate = cli(tmp_path, "validate")
    assert "actions.createUpdatePerson.mapping.timestamp" in validate.stdout and "resync" in validate.stdout
    assert cli(tmp_path, "run").returncode == 0  # a new profile: created, whatever its timestamp
    warehouse_sql(PEOPLE.format(plan="pro"))
    assert cli(tmp_path, "run").returncode == 0  # answered 200, so cio-retl counts it delivered...
    assert plan_of(sandbox) == "free"  # ...but Customer.io (here the sandbox) ignored it, and says so
    [ignored] = sandbox.dump()["ignored"]
    assert ignored["identifiers"] == {"id": "u1"} and ignored["timestamp"] == 1577836800
    assert "older than the profile's latest update" in ignored["reason"]
