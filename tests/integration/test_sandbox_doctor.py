"""`cio-retl doctor` against the sandbox: good credentials, wrong key, wrong region, unreachable host."""

from __future__ import annotations

import subprocess
import sys

from cio_retl.cli.doctor import run_checks
from cio_retl.sandbox import serve_sandbox
from tests.integration.conftest import API_KEY, SITE_ID

SYNC = {"people": {"table": "users", "primary_key": "user_id", "type": "identify"}}


def statuses(results):
    return [(r.name.split()[0], r.status) for r in results]


def test_doctor_all_good_then_wrong_key(sandbox, make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql("CREATE TABLE users AS SELECT 1 AS user_id")
    make_project(SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url})
    results = run_checks(tmp_path / "cio_retl.yaml")
    assert statuses(results) == [("project", "ok"), ("state", "ok"), ("warehouse", "ok"), ("model", "ok"), ("Customer.io", "ok")]
    make_project(SYNC, destination={"site_id": SITE_ID, "api_key": "app-key-LEAK", "url": sandbox.url})
    done = subprocess.run([sys.executable, "-m", "cio_retl", "doctor", "-c", str(tmp_path / "cio_retl.yaml")],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "Track API key" in done.stdout and "App API key" in done.stdout
    assert "app-key-LEAK" not in done.stdout + done.stderr


def test_doctor_wrong_region_and_unreachable(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql("CREATE TABLE users AS SELECT 1 AS user_id")
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY, region="eu") as eu:
        make_project(SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": eu.url, "region": "us"})
        [*_, region] = run_checks(tmp_path / "cio_retl.yaml")
        assert region.status == "fail" and "region 'eu'" in region.detail and region.hint == "set region: eu"
        url = eu.url
    make_project(SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": url})
    [*_, unreachable] = run_checks(tmp_path / "cio_retl.yaml")
    assert unreachable.status == "fail" and "cannot reach" in unreachable.detail


def test_doctor_reports_a_broken_project_file(tmp_path) -> None:
    (tmp_path / "cio_retl.yaml").write_text("warehouses: {}\nsyncs: {x: {warehouse: nope}}\n")
    [result] = run_checks(tmp_path / "cio_retl.yaml")
    assert result.name == "project file" and result.status == "fail" and "problem" in result.detail


def test_doctor_runs_each_model_with_limit_0_and_checks_its_columns(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql("CREATE TABLE users AS SELECT 1 AS id")
    make_project({"people": {"table": "users", "primary_key": "id", "type": "identify"},
                  "gone": {"table": "missing", "primary_key": "id", "type": "identify"}})
    results = {r.name: r for r in run_checks(tmp_path / "cio_retl.yaml")}
    assert results["model of people"].status == "fail"
    assert "lacks column(s) user_id or email or anonymous_id" in results["model of people"].detail
    assert results["model of gone"].status == "fail" and "missing" in results["model of gone"].detail
