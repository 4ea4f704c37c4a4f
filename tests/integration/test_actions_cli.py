"""`cio-retl test-action` through the CLI: JSON out, [] when nothing matches, {"error"} and exit 1 on rejection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cio_retl.cli import app


@pytest.fixture(autouse=True)
def no_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CIO_RETL_CONFIG", raising=False)


def run(args: list[str], stdin: str = "") -> tuple[int, object]:
    result = CliRunner().invoke(app, ["test-action", *args], input=stdin)
    return result.exit_code, json.loads(result.stdout)


def test_matching_event_prints_requests(tmp_path: Path) -> None:
    (tmp_path / "e.json").write_text(json.dumps({"type": "track", "event": "Signed Up", "userId": 7}))
    code, out = run(["--event", "e.json", "--region", "eu"])
    assert code == 0 and out[0]["url"] == "https://track-eu.customer.io/api/v2/entity"
    assert out[0]["body"]["identifiers"] == {"id": "7"} and out[0]["body"]["name"] == "Signed Up"


def test_no_match_and_errors() -> None:
    assert run(["--event", "-"], json.dumps({"type": "nothing"})) == (0, [])
    code, out = run(["--event", "-"], json.dumps({"type": "identify", "traits": {}}))
    assert code == 1 and out == {"error": "createUpdatePerson: no identifier: set user_id, email or anonymous_id"}
    code, out = run(["--event", "-"], "not json")
    assert code == 1 and "error" in out


def test_action_with_mapping_file(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps({"id": {"@path": "$.userId"}, "custom_attributes": {"k": 1}}))
    code, out = run(["--event", "-", "--action", "createUpdatePerson", "--mapping", "m.json"],
                    json.dumps({"type": "track", "userId": "u"}))
    assert code == 0 and out[0]["body"]["attributes"] == {"k": 1}
