"""`alerts:`, `writeback:` and a sync's `freshness:` in the project file: validation in our words, secrets unread
where a command needs none, and masked wherever they could show."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cio_retl.errors import ConfigError
from cio_retl.project import load_project
from cio_retl.project.redact import secret_values

BASE = """
warehouses:
  wh: {type: duckdb, path: w.duckdb}
destination: {site_id: s1, api_key: k1}
syncs:
  people: {warehouse: wh, table: people, primary_key: user_id, type: identify%s}
"""
ALERTS = """
alerts:
  webhook: {url: "${HOOK_URL}", secret: "${HOOK_SECRET}"}
  slack: {channel: "#data", token: "${SLACK_TOKEN}"}
writeback: {warehouse: wh, retention_days: 3}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cio_retl.yaml"
    path.write_text(text)
    return path


def test_alert_secrets_are_read_only_by_a_run_and_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HOOK_URL", "HOOK_SECRET", "SLACK_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    file = write(tmp_path, BASE % "" + ALERTS)
    for credentials in ("warehouses", "none"):  # validate, plan, Dagster's definitions: no alert secret needed
        project = load_project(file, credentials=credentials)
        assert project.alerts.slack.token.get_secret_value() == "${SLACK_TOKEN}"
    with pytest.raises(ConfigError) as missing:  # a run needs them, and says which is missing
        load_project(file)
    assert "alerts.webhook.secret: environment variable HOOK_SECRET is not set" in "\n".join(missing.value.problems)

    monkeypatch.setenv("HOOK_URL", "https://hooks.example.com/t0k3n")
    monkeypatch.setenv("HOOK_SECRET", "whsec-123")
    monkeypatch.setenv("SLACK_TOKEN", "xoxb-456")
    project = load_project(file)
    assert {"https://hooks.example.com/t0k3n", "whsec-123", "xoxb-456"} <= set(secret_values(project))
    assert project.alerts.rejection_rate == 0.01 and project.alerts.slack.events == ["sync.failed", "sync.rejections"]
    assert project.writeback.schema_ == "cio_retl" and project.writeback.values is False


@pytest.mark.parametrize(("extra", "message"), [
    ("writeback: {warehouse: nope}", "writeback.warehouse: no warehouse named 'nope'"),
    ("writeback: {warehouse: wh, schema: 'a-b'}", "writeback.schema: must be a plain identifier"),
    ("alerts: {webhook: {url: 'ftp://x', secret: s}}", "alerts.webhook.url: must be an http(s):// URL"),
    ("alerts: {webhook: {url: 'https://x', secret: s, events: [sync.done]}}", "alerts.webhook.events"),
    ("alerts: {rejection_rate: 2}", "alerts.rejection_rate"),
])
def test_mistakes_name_the_setting(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_project(write(tmp_path, BASE % "" + extra + "\n"))
    assert any(message in problem for problem in error.value.problems), error.value.problems


def test_freshness_durations(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, BASE % ", freshness: {fail_after: 1d2h, warn_after: 90m}"))
    freshness = project.syncs["people"].freshness
    assert (freshness.fail_after, freshness.warn_after) == (timedelta(hours=26), timedelta(minutes=90))
    for bad, message in (("{fail_after: 2x}", "'2x' is not a duration"),
                         ("{fail_after: 1h, warn_after: 2h}", "warn_after must be positive and shorter")):
        with pytest.raises(ConfigError) as error:
            load_project(write(tmp_path, BASE % f", freshness: {bad}"))
        assert any(message in problem for problem in error.value.problems), error.value.problems
