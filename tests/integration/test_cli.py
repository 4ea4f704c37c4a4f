"""The `cio-retl` command line: run --json, exit codes, plan, status and rejections on a real DuckDB project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from cio_retl.cli import app as cli_app
from cio_retl.cli.app import app
from cio_retl.pipeline.sync import run_sync
from tests.conftest import RecordingDelivery

PEOPLE = "CREATE TABLE people AS SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email FROM range(1, 6) t(i)"
SYNCS = {"people": {"table": "people", "primary_key": "user_id", "type": "identify", "mode": "mirror"},
         "broken": {"query": "SELECT * FROM missing_table", "primary_key": "user_id", "type": "identify"}}


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed console script in a child process, so stdout is exactly what a user's shell sees."""
    env = {**os.environ, "CIO_RETL_CONFIG": str(tmp_path / "cio_retl.yaml")}
    return subprocess.run([sys.executable, "-m", "cio_retl", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_run_json_prints_one_object_and_exit_code_1_when_a_sync_fails(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project(SYNCS)
    result = cli(tmp_path, "run", "--dry-run", "--json")
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)  # the whole of stdout is one JSON document
    by_sync = {s["sync"]: s for s in document["syncs"]}
    assert by_sync["people"]["status"] == "success" and by_sync["people"]["added"] == 5
    assert by_sync["people"]["operations"] == 5 and by_sync["people"]["error"] is None
    assert set(by_sync["people"]) == {"sync", "status", "extracted", "added", "changed", "removed", "operations",
                                      "accepted", "rejected", "pending", "skipped", "requests", "duration_s", "error",
                                      "not_sent"}
    assert by_sync["broken"]["status"] == "failed"
    assert "sync 'broken'" in by_sync["broken"]["error"] and "missing_table" in by_sync["broken"]["error"]
    only_people = cli(tmp_path, "run", "people", "--dry-run", "--json")
    assert only_people.returncode == 0 and [s["sync"] for s in json.loads(only_people.stdout)["syncs"]] == ["people"]


def test_configuration_errors_exit_2(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project(SYNCS)
    assert cli(tmp_path, "run", "nosuchsync").returncode == 2
    (tmp_path / "cio_retl.yaml").write_text("warehouses: {}\nsyncs: {x: {type: nope}}\n")
    result = cli(tmp_path, "run")
    assert result.returncode == 2
    assert "syncs.x.type: must be" in result.stderr and "syncs.x.warehouse: is required" in result.stderr


def test_plan_shows_calls_and_operations_and_changes_nothing(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(SYNCS)
    result = CliRunner().invoke(app, ["plan", "people", "--config", str(tmp_path / "cio_retl.yaml")])
    assert result.exit_code == 0, result.output
    assert '"userId": "u1"' in result.output  # a call
    assert '"action": "identify"' in result.output and '"id": "u1"' in result.output  # an operation
    assert run_sync(project, "people", deliver=RecordingDelivery()).added == 5  # plan left no snapshot


def test_status_and_rejections(make_project, warehouse_sql, tmp_path, monkeypatch) -> None:
    # The consoles take their width when the module is imported: make it wide whatever the environment was then.
    monkeypatch.setattr(cli_app, "out", Console(width=200))
    monkeypatch.setattr(cli_app, "err", Console(stderr=True, width=200))
    warehouse_sql(PEOPLE)
    project = make_project(SYNCS)
    config = ["--config", str(tmp_path / "cio_retl.yaml")]
    assert "never run" in CliRunner().invoke(app, ["status", *config]).output
    run_sync(project, "people", deliver=RecordingDelivery(
        reject=lambda op: "invalid: email" if op["identifiers"] == {"id": "u2"} else None))
    status = CliRunner().invoke(app, ["status", *config])
    assert "people" in status.output and "success" in status.output
    result = CliRunner().invoke(app, ["rejections", "people", "--json", *config])
    [rejection] = json.loads(result.stdout)
    assert rejection["key"] == "u2" and rejection["reason"] == "invalid: email" and rejection["attempts"] == 1


def test_run_dry_run_shows_operations(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project({"people": SYNCS["people"]})
    result = CliRunner().invoke(app, ["run", "--dry-run", "--config", str(tmp_path / "cio_retl.yaml")])
    assert result.exit_code == 0, result.output
    assert "people: first operations" in result.output and '"action": "identify"' in result.output


def test_the_demo_a_second_time_sends_nothing(tmp_path) -> None:
    """The README's promise: `make demo` twice, and the second run finds nothing to send (its sandbox is the same
    workspace, on the same port, as the first run's)."""
    repo = Path(__file__).resolve().parents[2]
    shutil.copy(repo / "cio_retl.yaml", tmp_path / "cio_retl.yaml")
    shutil.copytree(repo / "sql", tmp_path / "sql")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CUSTOMERIO_")}
    env["COLUMNS"] = "80"  # the summary as a block per sync: one line of row counts, one of operations
    runs = [subprocess.run([sys.executable, "-m", "cio_retl", "demo"], capture_output=True, text=True, cwd=tmp_path,
                           env=env, timeout=300) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[1].stdout + runs[1].stderr
    first, second = runs[0].stdout, runs[1].stdout
    assert "5000 extracted, 5000 added" in first and "5000 accepted" in first, first
    assert second.count("0 added, 0 changed, 0 removed") == 4 and second.count(" 0 requests") == 4, second
