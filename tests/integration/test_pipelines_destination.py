"""`destination: {api: pipelines}` through the CLI against the sandbox: the demo project lands exactly as through the
Track API (people, objects, relationships, events, and mirror deletes), size limits are checked before sending,
a refused write key is explained, and a kill mid-delivery loses nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import yaml

from cio_retl.cli.demo_data import build_example_warehouse
from cio_retl.sandbox import serve_sandbox
from tests.integration.conftest import API_KEY, SITE_ID

ROOT = Path(__file__).resolve().parents[2]
WRITE_KEY = "cdp-write-SECRET-4c3b2a"
MIRROR_CHANGES = """
DELETE FROM people WHERE user_id IN ('u00007', 'u00008');
DELETE FROM memberships WHERE user_id = 'u00009';
DELETE FROM accounts WHERE account_id = 'acc-050';
UPDATE people SET plan = 'enterprise' WHERE user_id = 'u00010';
"""


def demo_project(folder: Path, destination: dict[str, Any]) -> Path:
    """The repository's example project (its models and syncs) in `folder`, sending to `destination`."""
    shutil.copytree(ROOT / "sql", folder / "sql")
    build_example_warehouse(folder / "data" / "warehouse.duckdb")
    document = yaml.safe_load((ROOT / "cio_retl.yaml").read_text())
    document["destination"] = {"requests_per_second": 1000, "max_attempts": 3, "timeout_s": 10, **destination}
    path = folder / "cio_retl.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def cli(config: Path, *args: str, faults: tuple[str, str] | None = None) -> subprocess.CompletedProcess:
    command = ["-m", "tests.faults", *faults] if faults else ["-m", "cio_retl"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMERIO_")}
    return subprocess.run([sys.executable, *command, *args, "-c", str(config)], cwd=ROOT, capture_output=True,
                          text=True, env={**env, "PYTHONUNBUFFERED": "1"}, timeout=600)


def holdings(sandbox) -> dict[str, list[Any]]:
    """What the sandbox holds, without its own random cio_ids."""
    dump = sandbox.dump()
    for person in dump["people"]:
        person.pop("cio_id")
    for relationship in dump["relationships"]:
        relationship["person"].pop("cio_id")
    # in a stable order: requests run concurrently, so the order things arrived in is not part of what is held
    return {name: sorted(rows, key=lambda row: json.dumps(row, sort_keys=True, default=str))
            if isinstance(rows, list) else rows for name, rows in dump.items()}


def run_both_ways(tmp_path: Path, changes: str | None = None) -> tuple[dict, dict]:
    results = []
    for api in ("track", "pipelines"):
        with serve_sandbox(site_id=SITE_ID, api_key=API_KEY, write_key=WRITE_KEY) as sandbox:
            destination = ({"site_id": SITE_ID, "api_key": API_KEY} if api == "track" else
                           {"api": "pipelines", "write_key": WRITE_KEY})
            config = demo_project(tmp_path / api, {**destination, "url": sandbox.url})
            first = cli(config, "run", "--json")
            assert first.returncode == 0, first.stderr[-2000:]
            if changes:
                con = duckdb.connect(str(tmp_path / api / "data" / "warehouse.duckdb"))
                con.execute(changes)
                con.close()
                second = cli(config, "run", "--json")
                assert second.returncode == 0, second.stderr[-2000:]
                removed = {s["sync"]: s["removed"] for s in json.loads(second.stdout)["syncs"]}
                assert removed == {"accounts": 1, "people": 2, "memberships": 1, "orders": 0}, removed
            paths = {r.path for r in sandbox.log()}
            assert paths == ({"/v1/batch"} if api == "pipelines" else {"/api/v2/batch"}), paths
            results.append(holdings(sandbox))
    return results[0], results[1]


def test_a_pipelines_run_of_the_demo_leaves_what_a_track_api_run_leaves(tmp_path) -> None:
    track, pipelines = run_both_ways(tmp_path)
    counts = {name: len(rows) for name, rows in pipelines.items()}
    assert counts["people"] == 1000 and counts["objects"] == 50 and counts["relationships"] == 1100
    assert counts["events"] == 5000
    for table in ("people", "objects", "relationships", "events"):
        assert pipelines[table] == track[table], table


def test_mirror_deletes_go_as_the_semantic_events_and_land_alike(tmp_path) -> None:
    track, pipelines = run_both_ways(tmp_path, MIRROR_CHANGES)
    ids = {p["id"] for p in pipelines["people"]}
    assert "u00007" not in ids and "u00010" in ids
    assert "acc-050" not in {o["object_id"] for o in pipelines["objects"]}
    for table in ("people", "objects", "relationships", "events"):
        assert pipelines[table] == track[table], table


@pytest.fixture
def pipelines_sandbox():
    with serve_sandbox(write_key=WRITE_KEY) as running:
        yield running


def small_project(tmp_path: Path, url: str, **destination: Any) -> Path:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("CREATE TABLE people AS SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, "
                "CASE WHEN i = 3 THEN repeat('x', 40000) ELSE 'short' END AS bio FROM range(1, 3001) t(i)")
    con.close()
    document = {"state": "state", "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}},
                "destination": {"api": "pipelines", "write_key": WRITE_KEY, "url": url, "requests_per_second": 1000,
                                "max_attempts": 3, "timeout_s": 10, **destination},
                "syncs": {"people": {"warehouse": "wh", "table": "people", "primary_key": "user_id",
                                     "type": "identify", "mode": "mirror"}}}
    path = tmp_path / "cio_retl.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_an_oversized_call_is_rejected_locally_with_its_reason(tmp_path, pipelines_sandbox) -> None:
    config = small_project(tmp_path, pipelines_sandbox.url)
    result = cli(config, "run", "--json")
    assert result.returncode == 0, result.stderr[-2000:]  # a rejection is a recorded fate, not a failed run
    report = json.loads(result.stdout)["syncs"][0]
    assert (report["accepted"], report["rejected"], report["pending"]) == (2999, 1, 0)
    rejections = cli(config, "rejections", "people", "--json")
    rows = json.loads(rejections.stdout)
    assert [row["key"] for row in rows] == ["u3"] and rows[0]["status_code"] is None
    assert rows[0]["fate"] == "rejected" and rows[0]["action"] == "createUpdatePerson"
    assert "bytes; Customer.io accepts at most 32,768 bytes per call" in rows[0]["reason"]
    assert "answers 200 to a larger one and never processes it" in rows[0]["reason"]
    story = json.loads(cli(config, "explain", "people", "u3", "--json").stdout)
    assert story["state"] == "rejected" and "32,768 bytes per call" in story["verdict"]
    assert story["actions"][0]["action"] == "Data Pipelines /v1/batch"
    log = pipelines_sandbox.log("/v1/batch")
    assert all(r.fault is None and r.size < 500 * 1024 for r in log)  # nothing the API would silently drop
    assert sum(r.items for r in log) == 2999
    assert {p["id"] for p in pipelines_sandbox.dump()["people"]} == {f"u{i}" for i in range(1, 3001)} - {"u3"}


def test_the_sandbox_drops_what_customer_io_drops(pipelines_sandbox) -> None:
    auth = (WRITE_KEY, "")
    big = {"batch": [{"type": "identify", "userId": "big", "traits": {"bio": "x" * 40000}}]}
    dropped = httpx.post(pipelines_sandbox.url + "/v1/batch", json=big, auth=auth)
    assert dropped.status_code == 200 and pipelines_sandbox.log("/v1/batch")[-1].fault == "dropped: call too large"
    strict = httpx.post(pipelines_sandbox.url + "/v1/batch", json=big, auth=auth, headers={"X-Strict-Mode": "1"})
    assert strict.status_code == 400
    assert pipelines_sandbox.dump()["people"] == []
    assert httpx.post(pipelines_sandbox.url + "/v1/batch", json=big, auth=("wrong", "")).status_code == 401


def test_a_refused_write_key_is_explained_without_the_key(tmp_path, pipelines_sandbox) -> None:
    config = small_project(tmp_path, pipelines_sandbox.url, write_key="not-the-key")
    result = cli(config, "run")
    assert result.returncode == 1
    shown = " ".join((result.stdout + result.stderr).split())
    assert "Data Pipelines refused the write key with HTTP 401" in shown and "HTTP API source" in shown, shown
    assert "not-the-key" not in shown and "Traceback" not in shown


def test_a_kill_mid_delivery_loses_nothing(tmp_path, pipelines_sandbox) -> None:
    # 400 calls per request, one request at a time: the kill after two answers leaves most of them unsent
    config = small_project(tmp_path, pipelines_sandbox.url, max_batch_operations=400, max_concurrency=1)
    killed = cli(config, "run", "--json", faults=("mid_delivery", "sigkill"))
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert 0 < len(pipelines_sandbox.dump()["people"]) < 2999
    rerun = cli(config, "run", "--json")
    report = json.loads(rerun.stdout)["syncs"][0]
    assert rerun.returncode == 0 and report["pending"] == 0
    assert len(pipelines_sandbox.dump()["people"]) == 2999


def test_validate_says_action_mappings_do_not_apply_and_segments_need_the_track_api(tmp_path, pipelines_sandbox) -> None:
    config = small_project(tmp_path, pipelines_sandbox.url)
    document = yaml.safe_load(config.read_text())
    document["actions"] = {"createUpdatePerson": {"mapping": {"custom_attributes": {"@path": "$.traits"}}}}
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    shown = " ".join(cli(config, "validate").stdout.split())
    assert "do not apply with destination api: pipelines" in shown, shown
    document["syncs"]["vip"] = {"warehouse": "wh", "query": "SELECT user_id FROM people", "primary_key": "user_id",
                                "type": "segment", "segment_id": 5}
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    result = cli(config, "validate")
    assert result.returncode == 2 and "segment syncs need the Track API" in " ".join(result.stderr.split())


@pytest.mark.parametrize(("key", "ok"), [(WRITE_KEY, True), ("not-the-key", False)])
def test_doctor_checks_the_write_key(tmp_path, pipelines_sandbox, key: str, ok: bool) -> None:
    result = cli(small_project(tmp_path, pipelines_sandbox.url, write_key=key), "doctor")
    shown = " ".join(result.stdout.split())
    assert ("Data Pipelines write key accepted" in shown) is ok, shown
    assert ("refused the write key with HTTP 401" in shown) is not ok
    assert result.returncode == (0 if ok else 1) and "not-the-key" not in shown
    assert pipelines_sandbox.dump()["people"] == []  # the probe sends no call
