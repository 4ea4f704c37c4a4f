"""`type: segment` syncs through the CLI against the sandbox: members added in requests of at most 1,000 ids,
those who leave the model removed (mirror), a kill mid-delivery loses nothing, a wrong segment id explained."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cio_retl.sandbox import serve_sandbox
from tests.integration.conftest import API_KEY, SITE_ID

ROOT = Path(__file__).resolve().parents[2]
N = 2500
SETUP = f"""
CREATE OR REPLACE TABLE people AS SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, i AS score
  FROM range(1, {N} + 1) t(i);
CREATE OR REPLACE VIEW churn_risk AS SELECT user_id, email FROM people WHERE score <= 2300;
"""


def write_project(tmp_path: Path, url: str, *, segment: dict | None = None, **destination: object) -> Path:
    segment = {"query": "SELECT user_id FROM churn_risk", "primary_key": "user_id", "type": "segment",
               "segment_id": 42, **(segment or {})}  # mode: mirror is the default with user_id
    document = {"state": "state", "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}},
                "destination": {"site_id": SITE_ID, "api_key": API_KEY, "url": url, "requests_per_second": 1000,
                                "max_attempts": 3, "timeout_s": 10, **destination},
                "syncs": {"churn": {"warehouse": "wh", **segment},
                          "people": {"warehouse": "wh", "table": "people", "primary_key": "user_id",
                                     "type": "identify"}}}  # after `churn` in the file: the run order fixes it
    path = tmp_path / "cio_retl.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def cli(config: Path, *args: str, faults: tuple[str, str] | None = None) -> subprocess.CompletedProcess:
    command = ["-m", "tests.faults", *faults] if faults else ["-m", "cio_retl"]
    return subprocess.run([sys.executable, *command, *args, "-c", str(config)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=300)


def members(sandbox, segment_id: int = 42) -> list[str]:
    return sorted(m["person"]["id"] for m in sandbox.dump()["segments"] if m["segment_id"] == segment_id)


def expected(warehouse_sql_path: Path) -> list[str]:
    import duckdb

    con = duckdb.connect(str(warehouse_sql_path), read_only=True)
    try:
        return sorted(key for (key,) in con.execute("SELECT user_id FROM churn_risk").fetchall())
    finally:
        con.close()


def test_segment_sync_adds_members_in_requests_of_1000_and_mirror_removes_those_who_left(
        warehouse_sql, tmp_path, sandbox) -> None:
    warehouse_sql(SETUP)
    config = write_project(tmp_path, sandbox.url)
    first = cli(config, "run", "--json")
    assert first.returncode == 0, first.stderr[-2000:]
    by_sync = {s["sync"]: s for s in json.loads(first.stdout)["syncs"]}
    assert list(by_sync) == ["people", "churn"]  # people exist before they are added
    assert by_sync["churn"]["accepted"] == 2300 and by_sync["churn"]["requests"] == 3
    adds = [r for r in sandbox.log() if r.path == "/api/v1/segments/42/add_customers"]
    assert sorted(r.items for r in adds) == [300, 1000, 1000] and all(r.status == 200 for r in adds)
    assert members(sandbox) == expected(tmp_path / "warehouse.duckdb")

    warehouse_sql("UPDATE people SET score = 9999 WHERE user_id IN ('u1', 'u2', 'u3'); "
                  "UPDATE people SET score = 0 WHERE user_id = 'u2400'")
    second = cli(config, "run", "churn", "--json")
    assert second.returncode == 0, second.stderr[-2000:]
    report = json.loads(second.stdout)["syncs"][0]
    assert (report["added"], report["removed"], report["accepted"]) == (1, 3, 4)
    removes = [r for r in sandbox.log() if r.path == "/api/v1/segments/42/remove_customers"]
    assert [r.items for r in removes] == [3]
    assert members(sandbox) == expected(tmp_path / "warehouse.duckdb") and "u1" not in members(sandbox)

    explained = cli(config, "explain", "churn", "u2400", "--json")
    assert explained.returncode == 0, explained.stderr
    story = json.loads(explained.stdout)
    assert story["state"] == "in_sync" and story["operations"][0]["action"] == "segmentMembership"
    assert story["actions"] == [{"action": "addToSegment", "fired": True, "operation": "u2400", "refused_locally": None,
                                 "endpoint": "/api/v1/segments/42/add_customers?id_type=id"}]


def test_upsert_mode_only_adds(warehouse_sql, tmp_path, sandbox) -> None:
    warehouse_sql(SETUP)
    config = write_project(tmp_path, sandbox.url, segment={"mode": "upsert"})
    assert cli(config, "run").returncode == 0
    warehouse_sql("UPDATE people SET score = 9999 WHERE user_id = 'u1'")
    again = cli(config, "run", "churn", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["syncs"][0]["removed"] == 0
    assert "u1" in members(sandbox) and len(members(sandbox)) == 2300


def test_a_kill_mid_delivery_loses_nothing(warehouse_sql, tmp_path, sandbox) -> None:
    warehouse_sql(SETUP)
    # 200 ids per request, one at a time: the kill after two answers leaves most of the 12 requests unsent
    config = write_project(tmp_path, sandbox.url, max_batch_operations=200, max_concurrency=1)
    assert cli(config, "run", "people").returncode == 0
    killed = cli(config, "run", "churn", "--json", faults=("mid_delivery", "sigkill"))
    assert killed.returncode == -9, killed.stderr[-2000:]  # after two answered requests, before the third
    assert 0 < len(members(sandbox)) < 2300
    rerun = cli(config, "run", "churn", "--json")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    report = json.loads(rerun.stdout)["syncs"][0]
    assert report["pending"] == 0 and report["rejected"] == 0
    assert members(sandbox) == expected(tmp_path / "warehouse.duckdb")
    third = cli(config, "run", "churn", "--json")
    assert json.loads(third.stdout)["syncs"][0]["operations"] == 0  # everything settled: nothing left to send


@pytest.mark.parametrize(("segments", "said"), [({"manual_segments": {7}}, "has no segment 42"),
                                                ({"data_driven_segments": {42}}, "is data-driven")])
def test_a_wrong_segment_fails_the_run_and_says_why(warehouse_sql, tmp_path, segments, said) -> None:
    warehouse_sql(SETUP)
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY, **segments) as running:
        config = write_project(tmp_path, running.url)
        result = cli(config, "run", "--json")
        requests = [r for r in running.log() if "segments" in r.path]
    assert result.returncode == 1
    shown = " ".join((result.stdout + result.stderr).split())  # the summary table wraps long lines
    assert "churn" in shown and said in shown, shown
    assert "data-driven segments cannot be changed through the API" in shown
    assert "Traceback" not in shown and API_KEY not in shown
    assert 1 <= len(requests) <= 3  # refused as a whole: at most the 3 packed requests (in flight), never halved
    churn = next(s for s in json.loads(result.stdout)["syncs"] if s["sync"] == "churn")
    assert churn["status"] == "failed" and churn["pending"] == 2300  # nothing lost: the next run sends them


def test_mirror_needs_user_id_and_type_needs_segment_id(warehouse_sql, tmp_path, sandbox) -> None:
    warehouse_sql(SETUP)
    config = write_project(tmp_path, sandbox.url, segment={"query": "SELECT email FROM churn_risk", "mode": "mirror",
                                                            "primary_key": "email", "segment_id": None})
    result = cli(config, "validate")
    assert result.returncode == 2
    shown = " ".join((result.stdout + result.stderr).split())
    assert "type: segment needs segment_id" in shown, shown
    assert "Customer.io removes people from a manual segment only by id" in shown


@pytest.mark.parametrize(("segments", "status", "said"), [
    ({}, "ok", "a manual segment: it takes members"),
    ({"manual_segments": {7}}, "FAIL", "has no segment 42"),
    ({"data_driven_segments": {42}}, "FAIL", "data-driven segments cannot be changed through the API")])
def test_doctor_checks_the_segment(warehouse_sql, tmp_path, segments, status, said) -> None:
    warehouse_sql(SETUP)
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY, **segments) as running:
        result = cli(write_project(tmp_path, running.url), "doctor")
        assert running.dump()["segments"] == []  # the probe changed nothing
    line = " ".join(next(text for text in result.stdout.splitlines() if "segment 42 of churn" in text).split())
    shown = " ".join(result.stdout.split())
    assert line.startswith(status) and said in shown, shown
    assert result.returncode == (0 if status == "ok" else 1)
