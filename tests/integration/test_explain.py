"""`cio-retl explain` as a user runs it: every state a row can be in, from the CLI, against the sandbox over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cio_retl.sandbox import Faults
from tests.integration.conftest import API_KEY, SITE_ID

PEOPLE = """
CREATE OR REPLACE TABLE people AS
SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, 'free' AS plan FROM range(1, 6) t(i)
"""
KEYS = ("sync", "key", "state", "verdict", "source", "snapshot", "workspace", "actions", "operations", "notes")


@pytest.fixture
def project(tmp_path, warehouse_sql, sandbox, monkeypatch):
    """A project whose Track API key comes from the environment, as in production."""
    warehouse_sql(PEOPLE)
    (tmp_path / "cio_retl.yaml").write_text(yaml.safe_dump({
        "state": "state", "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}},
        "destination": {"site_id": SITE_ID, "api_key": "${CUSTOMERIO_TRACK_API_KEY}", "url": sandbox.url,
                        "max_attempts": 1},
        "syncs": {"people": {"warehouse": "wh", "table": "people", "primary_key": "user_id", "type": "identify"}},
        "actions": {"createUpdatePerson": {"trigger": 'type = "identify" and traits.plan != "vip"'}},
    }, sort_keys=False))
    # A rule of the sandbox: the person u2 is refused, as Customer.io refuses an invalid value.
    sandbox.faults.reject = lambda op: "invalid: email is not valid" if op["identifiers"] == {"id": "u2"} else None
    return tmp_path


def cli(root: Path, *args: str, key: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMERIO_")}
    if key:
        env["CUSTOMERIO_TRACK_API_KEY"] = API_KEY
    return subprocess.run([sys.executable, "-m", "cio_retl", *args, "-c", str(root / "cio_retl.yaml")],
                          capture_output=True, text=True, env=env, timeout=300)


def explain(root: Path, *key: str) -> dict:
    """`explain --json` without Customer.io credentials."""
    done = cli(root, "explain", "people", *key, "--json", key=False)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert tuple(found) == KEYS
    return found


def state_bytes(root: Path) -> bytes:
    return (root / "state" / "people.duckdb").read_bytes()


def test_explain_every_state_of_a_row(project, warehouse_sql, sandbox) -> None:
    assert cli(project, "run").returncode == 0
    delivered = explain(project, "u1")
    assert delivered["state"] == "in_sync" and "in sync" in delivered["verdict"]
    assert delivered["source"]["email"] == "p1@example.com"
    assert delivered["snapshot"]["fate"] == "delivered" and delivered["snapshot"]["config_current"]
    [fired] = [a for a in delivered["actions"] if a["fired"]]
    assert fired["action"] == "createUpdatePerson" and fired["operation"]["identifiers"] == {"id": "u1"}
    track = next(a for a in delivered["actions"] if a["action"] == "trackEvent")
    assert track["fired"] is False and 'type = "track"' in track["false"] and '"identify"' in track["because"]
    # Accepted within a batch Customer.io answered 207, because u2 of the same batch was refused.
    assert [(op["action"], op["status"], op["status_code"]) for op in delivered["operations"]] == [
        ("createUpdatePerson", "accepted", 207)]

    rejected = explain(project, "u2")
    assert rejected["state"] == "rejected"
    assert "HTTP 207" in rejected["verdict"] and "invalid: email is not valid" in rejected["verdict"]
    assert rejected["operations"][0]["status"] == "rejected" and rejected["operations"][0]["body"]["identifiers"] == {
        "id": "u2"}

    missing = explain(project, "nobody")
    assert missing["state"] == "not_found" and missing["source"] is None and missing["snapshot"] is None

    # A row changed in the warehouse since it was accepted, and one no action matches (the trigger skips vips).
    warehouse_sql("UPDATE people SET plan = 'team' WHERE user_id = 'u3'; "
                  "INSERT INTO people VALUES ('u7', 'p7@example.com', 'vip')")
    before = state_bytes(project)
    changed = explain(project, "u3")
    assert changed["state"] == "out_of_sync" and "changed in the warehouse" in changed["verdict"]
    assert changed["source"]["plan"] == "team" and "createUpdatePerson" in changed["verdict"]
    assert state_bytes(project) == before  # explain changes no state
    assert cli(project, "run").returncode == 0
    skipped = explain(project, "u7")
    assert skipped["state"] == "skipped" and 'traits.plan != "vip"' in skipped["verdict"]
    person = next(a for a in skipped["actions"] if a["action"] == "createUpdatePerson")
    assert person["fired"] is False and person["because"] == 'traits.plan is "vip"'

    # A dropped connection leaves a row pending.
    warehouse_sql("UPDATE people SET plan = 'team' WHERE user_id = 'u4'")
    sandbox.faults = Faults(drop_every=1)
    assert cli(project, "run").returncode == 1
    pending = explain(project, "u4")
    assert pending["state"] == "pending" and "next run sends it again" in pending["verdict"]
    assert "RemoteProtocolError" in pending["operations"][0]["reason"] or "ReadError" in pending["operations"][0]["reason"]


def test_explain_reads_the_key_as_a_parameter_and_checks_its_arity(project) -> None:
    assert cli(project, "run").returncode == 0
    odd = explain(project, "u1' OR '1'='1")  # a quote in a key value is a value, not SQL
    assert odd["state"] == "not_found"
    wrong = cli(project, "explain", "people", "u1", "extra", key=False)
    assert wrong.returncode == 2 and "give 1 value(s), not 2" in wrong.stderr


def test_explain_prints_a_readable_verdict(project) -> None:
    assert cli(project, "run").returncode == 0
    done = cli(project, "explain", "people", "u1", key=False)
    assert done.returncode == 0 and "people u1: in_sync" in done.stdout and "createUpdatePerson: fires →" in done.stdout
