"""Alerts over real HTTP: a signed webhook and a Slack-API stand-in on loopback receive a run's events, from the
CLI's run path; failures of the receivers are retried briefly and never change the sync's result."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cio_retl.pipeline.runner import run_syncs
from tests.integration.conftest import API_KEY, SITE_ID
from tests.receiver import Receiver, receiver

SECRET = "whsec-test-5f1e2d"
PEOPLE = ("CREATE OR REPLACE TABLE people AS SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, "
          "'free' AS plan FROM range(1, 11) t(i)")
PEOPLE_SYNC = {"people": {"table": "people", "primary_key": "user_id", "type": "identify", "mode": "mirror"}}


@pytest.fixture
def hook() -> Receiver:
    with receiver() as running:
        yield running


def alerts_block(url: str, **extra) -> dict:
    return {"alerts": {"webhook": {"url": url + "/hooks/cio", "secret": "${WEBHOOK_SECRET}"}, **extra}}


def valid_signature(request) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["x-cio-retl-signature"], expected)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)


def test_a_good_run_sends_sync_completed_signed_with_counts_and_no_personal_data(
        make_project, warehouse_sql, sandbox, hook) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url},
                           extra=alerts_block(hook.url))
    [report] = run_syncs(project, [])
    assert report.status == "success" and report.warnings == []
    [request] = hook.requests
    assert request.path == "/hooks/cio" and valid_signature(request)
    event = request.json()
    assert event["event"] == "sync.completed" and event["sync"] == "people" and event["run_id"] == report.run_id
    assert event["workspace"] == {"host": sandbox.url.split("://")[1], "site_id": SITE_ID}
    assert event["counts"]["extracted"] == 10 and event["counts"]["accepted"] == 10
    assert event["fates"]["delivered"] == 10 and event["error"] is None
    assert b"example.com" not in request.body and API_KEY.encode() not in request.body


def test_an_unreachable_destination_sends_sync_failed_from_the_cli(make_project, warehouse_sql, hook,
                                                                   tmp_path: Path) -> None:
    warehouse_sql(PEOPLE)
    wrong = f"http://127.0.0.1:{closed_port()}"
    make_project(PEOPLE_SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": wrong, "max_attempts": 2},
                 extra=alerts_block(hook.url))
    done = subprocess.run([sys.executable, "-m", "cio_retl", "run", "--json", "-c", str(tmp_path / "cio_retl.yaml")],
                          capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert done.returncode == 1, done.stderr
    [request] = hook.requests
    assert valid_signature(request)
    event = request.json()
    assert event["event"] == "sync.failed" and event["status"] == "failed"
    assert "still pending" in event["error"] and event["counts"]["pending"] == 10
    assert event["run_id"].startswith("r") and event["workspace"]["site_id"] == SITE_ID


def test_rejected_rows_above_the_rate_send_sync_rejections(make_project, warehouse_sql, sandbox, hook) -> None:
    warehouse_sql(PEOPLE + "; INSERT INTO people VALUES (NULL, 'nokey@example.com', 'free')")
    project = make_project(PEOPLE_SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url},
                           extra=alerts_block(hook.url, rejection_rate=0.05))
    [report] = run_syncs(project, [])
    assert report.status == "success" and report.fates["rejected"] == 1
    events = {r.json()["event"]: r.json() for r in hook.requests}
    assert set(events) == {"sync.completed", "sync.rejections"}
    assert all(valid_signature(r) for r in hook.requests)
    rejections = events["sync.rejections"]
    assert rejections["rejected_rows"] == 1 and rejections["rejection_rate"] == round(1 / 11, 4)
    assert rejections["threshold"] == 0.05 and b"nokey" not in hook.requests[1].body


def test_a_webhook_that_fails_briefly_is_retried(make_project, warehouse_sql, sandbox, hook) -> None:
    warehouse_sql(PEOPLE)
    hook.statuses = [503, 502]
    project = make_project(PEOPLE_SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url},
                           extra=alerts_block(hook.url))
    [report] = run_syncs(project, [])
    assert len(hook.requests) == 3 and report.warnings == []
    assert hook.requests[0].body == hook.requests[2].body and valid_signature(hook.requests[2])


def test_a_failing_webhook_is_a_warning_and_the_sync_still_succeeds(make_project, warehouse_sql, sandbox,
                                                                     hook) -> None:
    warehouse_sql(PEOPLE)
    hook.statuses = [500] * 10
    project = make_project(PEOPLE_SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url},
                           extra=alerts_block(hook.url, attempts=2))
    [report] = run_syncs(project, [])
    assert report.status == "success" and report.accepted == 10 and len(hook.requests) == 2
    [warning] = report.warnings
    assert "sync.completed to webhook not sent after 2 tries: the webhook answered HTTP 500" in warning


def test_a_refused_webhook_is_not_retried_and_names_no_secret(make_project, warehouse_sql, sandbox, hook) -> None:
    warehouse_sql(PEOPLE)
    hook.statuses = [401]
    project = make_project(PEOPLE_SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url},
                           extra=alerts_block(hook.url))
    [report] = run_syncs(project, [])
    assert report.status == "success" and len(hook.requests) == 1
    assert "HTTP 401" in report.warnings[0] and SECRET not in report.warnings[0]


def test_slack_gets_failures_through_the_web_api(make_project, warehouse_sql, hook, monkeypatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token-1")
    warehouse_sql(PEOPLE)
    wrong = f"http://127.0.0.1:{closed_port()}"
    slack = {"channel": "#data-alerts", "token": "${SLACK_BOT_TOKEN}", "api_url": hook.url + "/api/"}
    project = make_project(PEOPLE_SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": wrong,
                                                     "max_attempts": 1}, extra={"alerts": {"slack": slack}})
    [report] = run_syncs(project, [])
    assert report.status == "failed" and report.warnings == []
    [request] = hook.requests
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == "Bearer xoxb-test-token-1"
    sent = json.loads(request.body) if request.body.startswith(b"{") else dict(
        pair.split("=", 1) for pair in request.body.decode().split("&"))
    assert sent["channel"] == "#data-alerts"
    assert "sync `people` failed" in sent["text"] and "pending 10" in sent["text"]


def test_slack_skips_completed_runs_by_default(make_project, warehouse_sql, sandbox, hook, monkeypatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token-1")
    warehouse_sql(PEOPLE)
    slack = {"channel": "#data-alerts", "token": "${SLACK_BOT_TOKEN}", "api_url": hook.url + "/api/"}
    project = make_project(PEOPLE_SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url},
                           extra={"alerts": {"slack": slack}})
    [report] = run_syncs(project, [])
    assert report.status == "success" and hook.requests == []


def test_a_dry_run_sends_nothing(make_project, warehouse_sql, sandbox, hook) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC, destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url},
                           extra=alerts_block(hook.url))
    [report] = run_syncs(project, [], dry_run=True)
    assert report.status == "success" and hook.requests == []
