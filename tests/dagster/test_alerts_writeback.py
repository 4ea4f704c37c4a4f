"""Dagster runs send the same alerts and write the same sync log as the CLI (one code path: pipeline/aftermath.py)."""

from __future__ import annotations

import hashlib
import hmac
import socket

import duckdb
import yaml

from cio_retl.project import load_project
from cio_retl.dagster.build import build_definitions
from tests.dagster.conftest import KEY_ENV, SECRET_KEY, DagsterProject, sandbox_destination, write_project
from tests.receiver import receiver

SECRET = "whsec-dagster-77"


def build(tmp_path, sandbox, hook_url: str, **destination) -> DagsterProject:
    file = write_project(tmp_path, destination={**sandbox_destination(sandbox), **destination})
    document = yaml.safe_load(file.read_text())
    document["alerts"] = {"webhook": {"url": hook_url, "secret": "${WEBHOOK_SECRET}"}}
    document["writeback"] = {"warehouse": "wh"}
    file.write_text(yaml.safe_dump(document))
    project = load_project(file, credentials="none")
    return DagsterProject(tmp_path, file, project, build_definitions(project, file), sandbox)


def test_a_dagster_run_sends_a_signed_alert_and_writes_the_sync_log(tmp_path, clean_env, sandbox) -> None:
    clean_env.setenv(KEY_ENV, SECRET_KEY)
    clean_env.setenv("WEBHOOK_SECRET", SECRET)
    with receiver() as hook:
        result = build(tmp_path, sandbox, hook.url).materialize("people")
        assert result.success
        [request] = hook.requests
    event = request.json()
    assert event["event"] == "sync.completed" and event["sync"] == "people" and event["counts"]["accepted"] == 10
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-cio-retl-signature"] == expected
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        runs = con.execute("SELECT run_id, status, accepted FROM cio_retl.sync_runs").fetchall()
        fates = con.execute("SELECT fate, count(*) FROM cio_retl.sync_changelog GROUP BY 1").fetchall()
    finally:
        con.close()
    assert runs == [(event["run_id"], "success", 10)] and fates == [("delivered", 10)]


def test_a_failed_dagster_run_sends_sync_failed(tmp_path, clean_env, sandbox) -> None:
    clean_env.setenv(KEY_ENV, SECRET_KEY)
    clean_env.setenv("WEBHOOK_SECRET", SECRET)
    with socket.socket() as s:  # nothing listens here once the socket is closed
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with receiver() as hook:
        result = build(tmp_path, sandbox, hook.url, url=f"http://127.0.0.1:{closed}", max_attempts=1).materialize(
            "people")
        assert not result.success
        [request] = hook.requests
    event = request.json()
    assert event["event"] == "sync.failed" and "still pending" in event["error"] and SECRET_KEY not in event["error"]
