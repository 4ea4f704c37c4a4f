"""The sandbox as a Customer.io stand-in: auth, limits and status codes, and what operations do to its tables."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cio_retl.sandbox import Faults, serve_sandbox
from tests.integration.conftest import API_KEY, SITE_ID

ULID_A = "01J0ABCDEFGHJKMNPQRSTVWXYZ"
OBJECT = {"object_type_id": "1", "object_id": "acme"}


@pytest.fixture
def http(sandbox):
    with httpx.Client(base_url=sandbox.url, auth=(SITE_ID, API_KEY), timeout=10) as client:
        yield client


def batch(http, *ops):
    return http.post("/api/v2/batch", json={"batch": list(ops)})


def person(action, ident=None, **fields):
    return {"type": "person", "action": action, "identifiers": ident or {"id": "42"}, **fields}


def test_auth_region_and_request_errors(sandbox, http) -> None:
    assert httpx.post(sandbox.url + "/api/v2/batch", json={"batch": []}).status_code == 401
    assert httpx.post(sandbox.url + "/api/v2/batch", auth=(SITE_ID, "wrong"), json={"batch": []}).status_code == 401
    assert http.get("/api/v1/accounts/region").json() == {"url": sandbox.url, "region": "us", "environment_id": 1}
    assert http.post("/api/v2/batch", content=b"{not json").status_code == 400
    assert http.post("/api/v2/batch", json={"ops": []}).status_code == 400
    too_big = {"batch": [person("identify", attributes={"pad": "x" * 900})] * 600}
    assert http.post("/api/v2/batch", json=too_big).status_code == 413
    assert http.post("/api/v2/entity", json=person("event")).status_code == 400  # no name
    assert http.post("/api/v2/entity", json=person("identify", attributes={"a": 1})).status_code == 200
    assert http.post("/api/v2/nope", json={}).status_code == 404


def test_207_names_the_invalid_items(http) -> None:
    response = batch(http, person("identify"), person("event", id="not-a-ulid", name="x"),
                     person("identify", {"id": "1", "email": "a@b.co"}), {"type": "person", "action": "fly"},
                     person("add_device", device={"token": "t", "platform": "windows"}),
                     person("identify", attributes={"created_at": 1704067200000}),
                     person("identify", attributes={"long": "y" * 1001}))
    assert response.status_code == 207
    errors = {e["batch_index"]: e for e in response.json()["errors"]}
    assert sorted(errors) == [1, 2, 3, 4, 6]
    assert errors[1]["field"] == "id" and errors[4]["field"] == "device.platform"
    assert "1000 bytes" in errors[6]["message"]


def test_identify_merges_attributes_update_only_and_identifiers(sandbox, http) -> None:
    batch(http, person("identify", attributes={"plan": "pro", "seats": 3, "email": "Ann@Example.com"}))
    batch(http, person("identify", attributes={"plan": None, "team": "a"}),
          person("identify", {"email": "ann@example.com"}, attributes={"city": "Oslo"}),
          person("identify", {"id": "nobody"}, attributes={"_update": True, "x": 1}),
          person("identify", {"anonymous_id": "anon-1"}, attributes={"seen": True}))
    people = sandbox.dump()["people"]
    ann = next(p for p in people if p["id"] == "42")
    assert ann["email"] == "Ann@Example.com"
    assert ann["attributes"] == {"seats": 3, "email": "Ann@Example.com", "team": "a", "city": "Oslo"}
    assert not any(p["id"] == "nobody" for p in people)
    assert any(p["anonymous_id"] == "anon-1" for p in people) and len(people) == 2
    batch(http, person("identify", {"cio_id": ann["cio_id"]}, attributes={"via": "cio"}))
    assert next(p for p in sandbox.dump()["people"] if p["id"] == "42")["attributes"]["via"] == "cio"


def test_events_are_deduplicated_by_id(sandbox, http) -> None:
    event = person("event", name="purchase", id=ULID_A, timestamp=1704164645, attributes={"price": 23.45})
    batch(http, person("identify"), event, event)
    batch(http, event, person("event", name="purchase", timestamp=1704164645),
          person("page", name="/pricing"), person("screen", name="Home"))
    events = sandbox.dump()["events"]
    assert [(e["type"], e["name"], e["id"]) for e in events] == [
        ("event", "purchase", ULID_A), ("event", "purchase", None), ("page", "/pricing", None), ("screen", "Home", None)]
    assert events[0]["person"] == {"id": "42"} and events[0]["attributes"] == {"price": 23.45}


def test_objects_relationships_and_object_delete(sandbox, http) -> None:
    batch(http, {"type": "object", "action": "identify", "identifiers": OBJECT, "attributes": {"name": "Acme", "tier": "a"},
                 "cio_relationships": [{"identifiers": {"id": "42"}, "relationship_attributes": {"role": "admin"}}]},
          person("identify", {"id": "7"}, cio_relationships=[{"identifiers": OBJECT}]),
          {"type": "object", "action": "identify", "identifiers": OBJECT, "attributes": {"tier": ""}})
    state = sandbox.dump()
    assert state["objects"] == [{**OBJECT, "attributes": {"name": "Acme"}}]
    assert sorted((r["person"]["id"], json.dumps(r["attributes"])) for r in state["relationships"]) == [
        ("42", '{"role": "admin"}'), ("7", "{}")]
    batch(http, {"type": "object", "action": "delete_relationships", "identifiers": OBJECT,
                 "cio_relationships": [{"identifiers": {"id": "7"}}]})
    assert [r["person"]["id"] for r in sandbox.dump()["relationships"]] == ["42"]
    batch(http, {"type": "object", "action": "delete", "identifiers": OBJECT})
    state = sandbox.dump()
    assert state["objects"] == [] and state["relationships"] == [] and len(state["people"]) == 2


def test_devices_suppression_merge_and_delete(sandbox, http) -> None:
    batch(http, person("add_device", device={"token": "tok", "platform": "ios", "last_used": 1700000000,
                                             "attributes": {"app_version": "1.2"}}),
          person("identify", {"id": "old"}, attributes={"plan": "free", "legacy": True}),
          person("identify", attributes={"plan": "pro"}),
          {"type": "person", "action": "merge", "primary": {"id": "42"}, "secondary": {"id": "old"}})
    state = sandbox.dump()
    assert [p["id"] for p in state["people"]] == ["42"]
    assert state["people"][0]["attributes"] == {"plan": "pro", "legacy": True}
    assert state["devices"][0]["token"] == "tok" and state["devices"][0]["attributes"] == {"app_version": "1.2"}
    batch(http, person("delete_device", device={"token": "tok"}))
    assert sandbox.dump()["devices"] == []

    batch(http, person("identify", {"email": "s@x.co"}), person("suppress", {"email": "s@x.co"}),
          person("identify", {"email": "S@x.co"}, attributes={"back": True}))
    state = sandbox.dump()
    assert state["suppressed"] == [{"kind": "email", "value": "s@x.co"}]
    assert not any(p["email"] for p in state["people"])  # a suppressed identifier cannot be re-created
    batch(http, person("unsuppress", {"email": "s@x.co"}), person("identify", {"email": "s@x.co"}))
    assert sandbox.dump()["suppressed"] == [] and len(sandbox.dump()["people"]) == 2

    batch(http, person("delete"))
    assert [p["email"] for p in sandbox.dump()["people"]] == ["s@x.co"]


def test_faults_count_only_and_request_log(sandbox, http) -> None:
    sandbox.faults = Faults(rate_limit_every=2, retry_after="7", error_every=3, error_status=502)
    codes = [batch(http, person("identify")).status_code for _ in range(4)]
    assert codes == [200, 429, 502, 429]
    sandbox.faults = Faults(count_only=True)
    assert http.post("/api/v2/batch", content=b"anything at all").status_code == 200
    assert [r.fault for r in sandbox.log("/api/v2/batch")][:4] == [None, "429", "5xx", "429"]
    sandbox.faults = Faults(drop_every=1)
    with pytest.raises(httpx.RemoteProtocolError):
        batch(http, person("identify"))


def test_serve_and_dump_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.duckdb"
    server = subprocess.Popen([sys.executable, "-m", "cio_retl", "sandbox", "serve", "--port", "0", "--db", str(db),
                               "--site-id", "s", "--api-key", "k"], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        url = line.split("listening on ")[1].split()[0]
        auth = "Basic " + base64.b64encode(b"s:k").decode()
        response = httpx.post(url + "/api/v2/batch", headers={"Authorization": auth},
                              json={"batch": [person("identify", attributes={"a": 1})]})
        assert response.status_code == 200
        # What the sandbox holds needs the Track API's credentials, like the Track API itself.
        assert httpx.get(url + "/_sandbox/dump").status_code == 401
        assert httpx.get(url + "/_sandbox/dump", auth=("s", "wrong")).status_code == 401
        env = {name: value for name, value in os.environ.items() if not name.startswith("CUSTOMERIO_")}
        refused = subprocess.run([sys.executable, "-m", "cio_retl", "sandbox", "dump", "--url", url],
                                 capture_output=True, text=True, env=env)
        assert refused.returncode == 2 and "--site-id and --api-key" in refused.stderr and not refused.stdout
        live = subprocess.run([sys.executable, "-m", "cio_retl", "sandbox", "dump", "--url", url, "--site-id", "s",
                               "--api-key", "k"], capture_output=True, text=True, check=True, env=env)
        assert json.loads(live.stdout)["people"][0]["id"] == "42"
        from_env = subprocess.run([sys.executable, "-m", "cio_retl", "sandbox", "dump", "--url", url], check=True,
                                  capture_output=True, text=True,
                                  env={**env, "CUSTOMERIO_SITE_ID": "s", "CUSTOMERIO_TRACK_API_KEY": "k"})
        assert json.loads(from_env.stdout)["people"][0]["id"] == "42"
    finally:
        server.terminate()
        server.wait(timeout=10)
    dumped = subprocess.run([sys.executable, "-m", "cio_retl", "sandbox", "dump", "--db", str(db)],
                            capture_output=True, text=True, check=True)
    state = json.loads(dumped.stdout)
    assert set(state) == {"people", "objects", "relationships", "devices", "events", "suppressed", "segments",
                          "ignored"}
    assert state["people"][0]["attributes"] == {"a": 1}


def test_in_process_sandbox_on_a_file(tmp_path: Path) -> None:
    with serve_sandbox(str(tmp_path / "s.duckdb")) as sandbox:
        assert httpx.post(sandbox.url + "/api/v2/batch", auth=("any", "thing"),
                          json={"batch": [person("identify")]}).status_code == 200
    with serve_sandbox(str(tmp_path / "s.duckdb")) as again:
        assert again.counts()["people"] == 1
