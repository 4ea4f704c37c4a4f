"""`cio-retl test-action` through the CLI: JSON out, why nothing matched, {"error"} and exit 1 on rejection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cio_retl.cli.app import app


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
    code, out = run(["--event", "-"], json.dumps({"type": "nothing"}))
    assert code == 0 and out["requests"] == [] and len(out["no_match"]) == 15
    track = next(item for item in out["no_match"] if item["action"] == "trackEvent")
    assert track["false"] == 'type = "track"' and track["because"] == 'type is "nothing"'
    assert track["explanation"] == 'trackEvent: type = "track" was false (type is "nothing")'
    code, out = run(["--event", "-"], json.dumps({"type": "identify", "traits": {}}))
    assert code == 1 and out == {"error": "createUpdatePerson: no identifier: set user_id, email or anonymous_id"}
    code, out = run(["--event", "-"], "not json")
    assert code == 1 and "error" in out


def test_action_with_mapping_file(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps({"id": {"@path": "$.userId"}, "custom_attributes": {"k": 1},
                                                 "enable_batching": True, "batch_size": 50}))  # as Customer.io's UI has it
    code, out = run(["--event", "-", "--action", "createUpdatePerson", "--mapping", "m.json"],
                    json.dumps({"type": "track", "userId": "u"}))
    assert code == 0 and out[0]["body"]["attributes"] == {"k": 1}


def test_no_match_names_the_false_part_of_an_overridden_trigger_and_disabled_actions(tmp_path: Path) -> None:
    (tmp_path / "cio_retl.yaml").write_text(json.dumps({
        "warehouses": {"wh": {"type": "duckdb", "path": ":memory:"}}, "syncs": {},
        "actions": {"createUpdatePerson": {"trigger": 'type = "identify" and traits.plan = "pro"'},
                    "mergePeople": {"enabled": False}}}))
    code, out = run(["--event", "-"], json.dumps({"type": "identify", "userId": "u1", "traits": {"plan": "free"}}))
    assert code == 0 and out["requests"] == []
    by_action = {item["action"]: item for item in out["no_match"]}
    assert by_action["createUpdatePerson"]["explanation"] == (
        'createUpdatePerson: traits.plan = "pro" was false (traits.plan is "free")')
    assert by_action["mergePeople"] == {"action": "mergePeople", "disabled": True,
                                        "explanation": "mergePeople: disabled (actions.mergePeople.enabled)"}
