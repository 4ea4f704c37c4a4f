"""The quiet ways to lose a change (issue 19, part B), each through the command line as a user hits it: event syncs
append only, loops in the run order, backfill windows and the watermark, the workspace the state describes, the
snapshot under `nulls: skip`, and mappings whose path no column provides."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from cio_retl.sandbox import Sandbox, serve_sandbox
from tests.integration.conftest import API_KEY, SITE_ID


def cli(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The console script in a child process: what a user's shell sees."""
    full = {name: value for name, value in os.environ.items() if not name.startswith("CUSTOMERIO_")}
    full.update({"CIO_RETL_CONFIG": str(root / "cio_retl.yaml"), "COLUMNS": "200", **(env or {})})
    return subprocess.run([sys.executable, "-m", "cio_retl", *args], capture_output=True, text=True, env=full,
                          timeout=120)


def write(root: Path, syncs: dict[str, dict[str, Any]], sandbox: Sandbox | None = None, *,
          site_id: str = SITE_ID, **extra: Any) -> None:
    destination = {"site_id": site_id, "api_key": API_KEY, "url": sandbox.url if sandbox else "http://127.0.0.1:9"}
    document = {"state": "state", "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}},
                "destination": destination, "syncs": {n: {"warehouse": "wh", **s} for n, s in syncs.items()}, **extra}
    (root / "cio_retl.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def run_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli(root, "run", *args, "--json")
    assert result.stdout, result.stderr
    [report] = json.loads(result.stdout)["syncs"]
    return result.returncode, report


ORDERS = {"table": "orders", "primary_key": "order_id", "type": "track", "event": "Order Placed"}


# ---------------------------------------------------------------- 5. events are immutable


def test_event_syncs_take_append_only(tmp_path: Path, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE orders AS SELECT 'o' || i AS order_id, 'u' || i AS user_id, i * 10 AS amount "
                  "FROM range(1, 4) t(i)")
    write(tmp_path, {"orders": {**ORDERS, "mode": "upsert"}, "views": {
        "table": "orders", "primary_key": "order_id", "type": "page", "mode": "mirror"}})
    refused = cli(tmp_path, "validate")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "syncs.orders: a track sync takes mode 'append' only (its default), not 'upsert'" in refused.stderr
    assert "ignores an edited one" in refused.stderr
    assert "syncs.views: a page sync takes mode 'append' only" in refused.stderr
    assert cli(tmp_path, "run").returncode == 2  # refused when the file is loaded, by every command

    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY) as sandbox:
        write(tmp_path, {"orders": ORDERS}, sandbox)  # no mode: append, the default for events
        assert run_json(tmp_path)[1]["accepted"] == 3
        warehouse_sql("UPDATE orders SET amount = 99 WHERE order_id = 'o1'")
        code, report = run_json(tmp_path)
        assert code == 0 and report["changed"] == 1 and report["operations"] == 0  # an edited event is not re-sent
        assert sandbox.counts()["events"] == 3


# ---------------------------------------------------------------- 6. one order graph


def test_a_loop_through_the_built_in_order_is_refused_naming_its_syncs(tmp_path: Path, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE people AS SELECT 'u1' AS user_id; CREATE TABLE orders AS SELECT 'o1' AS order_id, "
                  "'u1' AS user_id")
    # people waits for orders (after:), but events run after people: a circle no order can satisfy.
    write(tmp_path, {"people": {"table": "people", "primary_key": "user_id", "type": "identify", "after": ["orders"]},
                     "orders": ORDERS})
    for command in (["validate"], ["run"], ["run", "orders"]):
        result = cli(tmp_path, *command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr and "CycleError" not in result.stderr
        assert "the run order goes round in a circle (people → orders → people)" in result.stderr
        assert "people runs after orders (after:)" in result.stderr
        assert "orders runs after people (objects and people run before events)" in result.stderr


# ---------------------------------------------------------------- 2. backfill windows leave the watermark alone


def test_cli_window_backfill_resends_the_window_and_keeps_the_watermark(tmp_path: Path, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE orders AS SELECT 'o' || i AS order_id, 'u1' AS user_id, "
                  "TIMESTAMP '2024-03-01 08:00:00' + to_hours(i * 10) AS ordered_at, "
                  "TIMESTAMPTZ '2020-01-01 00:00:00+00' AS loaded_at FROM range(0, 12) t(i)")
    model = "SELECT * EXCLUDE (loaded_at) FROM orders WHERE loaded_at >= to_timestamp({{ last_sync_time }})"
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY) as sandbox:
        write(tmp_path, {"orders": {**{k: v for k, v in ORDERS.items() if k != "table"}, "query": model,
                                    "partition_by": "ordered_at"}}, sandbox)
        assert run_json(tmp_path)[1]["accepted"] == 12
        warehouse_sql("INSERT INTO orders VALUES ('o99', 'u1', TIMESTAMP '2024-03-05 12:00:00', now())")

        code, report = run_json(tmp_path, "orders", "--window", "2024-03-02..2024-03-04")
        assert code == 0 and report["extracted"] == 5 and report["accepted"] == 5  # o2..o6, loaded long ago
        code, report = run_json(tmp_path, "orders")
        assert code == 0 and report["added"] == 1 and report["accepted"] == 1  # the new order is still seen

        bad = cli(tmp_path, "run", "orders", "--window", "2024-03-04..2024-03-02")
        assert bad.returncode == 2 and "ends before it starts" in bad.stderr
        assert "--window needs the syncs to backfill" in cli(tmp_path, "run", "--window", "2024-03-02..2024-03-04").stderr


# ---------------------------------------------------------------- 3. the state records its workspace


def test_a_run_against_another_workspace_stops_and_says_what_to_do(tmp_path: Path, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE people AS SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email "
                  "FROM range(1, 4) t(i)")
    people = {"people": {"table": "people", "primary_key": "user_id", "type": "identify"}}
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY) as staging, \
            serve_sandbox(site_id="prod-site", api_key=API_KEY) as production:
        write(tmp_path, people, staging)
        assert run_json(tmp_path)[1]["accepted"] == 3
        status = cli(tmp_path, "status")
        assert f"people: the state describes Customer.io workspace {staging.url} site id {SITE_ID}" in status.stdout
        assert API_KEY not in status.stdout

        write(tmp_path, people, production, site_id="prod-site")  # the same project, another workspace
        result = cli(tmp_path, "run")
        assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
        text = " ".join((result.stdout + result.stderr).split())
        assert f"describes Customer.io workspace {staging.url} site id {SITE_ID}" in text
        assert f"now sends to {production.url} site id prod-site" in text
        assert "--full-resync" in text and "`state:`" in text and API_KEY not in text
        assert production.log() == []  # stopped before extracting: nothing sent
        explain = json.loads(cli(tmp_path, "explain", "people", "u1", "--json").stdout)
        assert explain["workspace"] == f"{staging.url} site id {SITE_ID}"

        code, report = run_json(tmp_path, "--full-resync")
        assert code == 0 and report["accepted"] == 3 and production.counts()["people"] == 3
        assert run_json(tmp_path)[1]["operations"] == 0  # the state now describes production
        assert f"{production.url} site id prod-site" in cli(tmp_path, "status").stdout


# ---------------------------------------------------------------- 4. the snapshot holds what Customer.io was sent


def test_unsent_nulls_under_skip_keep_the_clear_guard_true_after_switching_to_clear(tmp_path: Path,
                                                                                   warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE people AS SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, "
                  "'pro' AS plan FROM range(1, 21) t(i)")
    people = {"table": "people", "primary_key": "user_id", "type": "identify"}
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY) as sandbox:
        write(tmp_path, {"people": {**people, "nulls": "skip"}}, sandbox)
        assert run_json(tmp_path)[1]["accepted"] == 20
        # A broken join: every plan NULL. Under skip nothing clears it (and every person still holds 'pro').
        warehouse_sql("UPDATE people SET plan = NULL, email = replace(email, '@', '+1@')")
        assert run_json(tmp_path)[1]["accepted"] == 20
        assert {p["attributes"]["plan"] for p in sandbox.dump()["people"]} == {"pro"}

        write(tmp_path, {"people": {**people, "nulls": "clear"}}, sandbox)  # now NULLs would clear
        result = cli(tmp_path, "run")
        text = " ".join(result.stdout.split() + result.stderr.split())
        assert result.returncode == 1 and "would clear plan for 20 of them" in text, text
        assert {p["attributes"]["plan"] for p in sandbox.dump()["people"]} == {"pro"}  # nothing was wiped

        warehouse_sql("UPDATE people SET plan = 'pro'")  # the join fixed: the resync goes ahead and names why
        result = cli(tmp_path, "run")
        text = " ".join(result.stdout.split())
        assert result.returncode == 0, result.stderr
        assert "`nulls` changed since 20 row(s) were sent: sending them again (full resync)" in text
        assert "model SQL" not in text


# ---------------------------------------------------------------- 7. a path no column provides leaves the attribute out


def test_a_misspelled_mapping_path_is_an_error_and_never_wipes_the_attribute(tmp_path: Path, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE people AS SELECT 'u' || i AS user_id, 'N' || i AS first_name FROM range(1, 21) t(i)")
    people = {"people": {"table": "people", "primary_key": "user_id", "type": "identify"}}
    good = {"createUpdatePerson": {"mapping": {"custom_attributes": {"name": {"@path": "$.traits.first_name"}}}}}
    typo = {"createUpdatePerson": {"mapping": {"custom_attributes": {"name": {"@path": "$.traits.firstName"},
                                                                     "plan": None}}}}
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY) as sandbox:
        write(tmp_path, people, sandbox, actions=good)
        assert run_json(tmp_path)[1]["accepted"] == 20
        assert {p["attributes"]["name"] for p in sandbox.dump()["people"]} == {f"N{i}" for i in range(1, 21)}

        write(tmp_path, people, sandbox, actions=typo)
        checked = cli(tmp_path, "validate")
        text = " ".join(checked.stdout.split() + checked.stderr.split())
        assert checked.returncode != 0 and "error: actions.createUpdatePerson.mapping.custom_attributes.name" in text
        assert "did you mean $.traits.first_name?" in text and "optional_paths" in text
        code, report = run_json(tmp_path)  # the mapping changed: every row is sent again…
        assert code == 0 and report["accepted"] == 20
        # …without the attribute the path names: nobody's name was wiped (a literal null is still sent as null)
        assert {p["attributes"]["name"] for p in sandbox.dump()["people"]} == {f"N{i}" for i in range(1, 21)}

        typo["createUpdatePerson"]["optional_paths"] = ["$.traits.firstName"]
        write(tmp_path, people, sandbox, actions=typo)
        assert "custom_attributes.name" not in cli(tmp_path, "validate").stdout


# ---------------------------------------------------------------- the clear guard judges what the operations send


def test_a_mapping_that_would_null_an_attribute_for_everyone_trips_the_clear_guard(tmp_path: Path,
                                                                                  warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE people AS SELECT 'u' || i AS user_id, 'N' || i AS name, 'pro' AS plan, "
                  "NULL::VARCHAR AS nickname FROM range(1, 21) t(i)")
    people = {"people": {"table": "people", "primary_key": "user_id", "type": "identify"}}
    # `name` read from a column that is NULL for everyone, and a literal null over `plan`: no column is NULL
    # where it was not before, yet every operation would clear both.
    wiping = {"createUpdatePerson": {"mapping": {"custom_attributes": {"name": {"@path": "$.traits.nickname"},
                                                                       "plan": None}}}}
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY) as sandbox:
        write(tmp_path, people, sandbox)
        assert run_json(tmp_path)[1]["accepted"] == 20

        write(tmp_path, people, sandbox, actions=wiping)
        requests = len(sandbox.log("/api/v2/batch"))
        result = cli(tmp_path, "run")
        text = " ".join(result.stdout.split() + result.stderr.split())
        assert result.returncode == 1, text
        assert "would clear name for 20 of them (100%); plan for 20 of them (100%) of the 20 rows it sends" in text
        assert "--allow-clear" in text and "Traceback" not in text
        assert len(sandbox.log("/api/v2/batch")) == requests  # nothing was sent
        assert {(p["attributes"]["name"], p["attributes"]["plan"]) for p in sandbox.dump()["people"]} == \
            {(f"N{i}", "pro") for i in range(1, 21)}

        code, report = run_json(tmp_path, "--allow-clear")
        assert code == 0 and report["accepted"] == 20
        assert all(p["attributes"].get("name") is None and p["attributes"].get("plan") is None
                   for p in sandbox.dump()["people"])
