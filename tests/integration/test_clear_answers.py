"""Every path ends in one clear message (issue 20): each snag driven through the command line in a child process."""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from cio_retl.sandbox import serve_sandbox
from cio_retl.sandbox.server import Faults, rule_from_text
from tests.integration.conftest import API_KEY, SITE_ID
from tests.integration.test_cli_snags import PEOPLE, cli

IDENTIFY = {"people": {"table": "people", "primary_key": "user_id", "type": "identify"}}


def _edit(tmp_path: Path, **top: object) -> None:
    """Set top-level settings of the project file written by make_project."""
    file = tmp_path / "cio_retl.yaml"
    document = yaml.safe_load(file.read_text())
    document.update(top)
    file.write_text(yaml.safe_dump(document, sort_keys=False))


def _no_traceback(*done) -> None:
    for d in done:
        assert "Traceback" not in d.stdout + d.stderr, d.stdout + d.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_memory_limit_is_checked_when_the_project_loads(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project(IDENTIFY)
    for value, message in (("lots", "memory_limit: must be auto or a size such as 512MB or 2GB, not 'lots'"),
                           ("-1GB", "memory_limit: must be auto or a size such as 512MB or 2GB, not '-1GB'"),
                           ("1MB", "memory_limit: 1MB is too little for DuckDB: give at least 64MB (or auto)")):
        _edit(tmp_path, memory_limit=value)
        checked, ran = cli(tmp_path, "validate"), cli(tmp_path, "run", "--json")
        _no_traceback(checked, ran)
        assert checked.returncode == 2 and message in checked.stderr, checked.stderr
        assert ran.returncode == 2 and message in json.loads(ran.stdout)["error"]  # still one JSON object
        assert json.loads(ran.stdout)["syncs"] == []
    _edit(tmp_path, memory_limit="512MB")
    assert cli(tmp_path, "run", "--dry-run").returncode == 0


def test_a_state_folder_that_cannot_be_written_is_named_by_validate_doctor_run_and_plan(
        make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project(IDENTIFY)
    (tmp_path / "a-file").write_text("")
    fix = "set `state:` to a folder this user can write (it is created if missing), or fix its permissions"
    for state, problem in ((str(tmp_path / "a-file" / "state"), f"{tmp_path / 'a-file'} is a file, not a folder"),
                           (str(tmp_path / "a-file"), f"{tmp_path / 'a-file'} is a file, not a folder"),
                           ("/proc/cio-retl-state", "state folder /proc/cio-retl-state cannot be written")):
        _edit(tmp_path, state=state)
        checked, doctor = cli(tmp_path, "validate", columns=500), cli(tmp_path, "doctor", columns=500)
        ran, planned = cli(tmp_path, "run", "people", columns=500), cli(tmp_path, "plan", "people", columns=500)
        _no_traceback(checked, doctor, ran, planned)
        assert checked.returncode == 1 and "error: state: " in checked.stdout and problem in checked.stdout
        assert fix in checked.stdout
        assert doctor.returncode == 1 and f"FAIL state {state}: " in doctor.stdout and problem in doctor.stdout
        assert ran.returncode == 1 and "people: sync 'people': " in ran.stdout and problem in ran.stdout
        assert fix in ran.stdout
        assert planned.returncode == 1 and problem in planned.stderr and fix in planned.stderr


def test_an_invalid_cron_is_caught_when_the_project_loads(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project({"people": IDENTIFY["people"], "leads": IDENTIFY["people"]})
    document = yaml.safe_load((tmp_path / "cio_retl.yaml").read_text())
    document["syncs"]["people"]["schedule"] = "every day at 6"
    document["syncs"]["leads"]["automation"] = "on_cron 61 6 * * *"
    (tmp_path / "cio_retl.yaml").write_text(yaml.safe_dump(document))
    checked = cli(tmp_path, "validate")
    _no_traceback(checked)
    assert checked.returncode == 2
    assert ("syncs.people.schedule: 'every day at 6' is not a cron Dagster can run: five fields, minute hour "
            "day-of-month month day-of-week, e.g. '0 * * * *' (hourly)") in checked.stderr
    assert "syncs.leads: automation: '61 6 * * *' is not a cron Dagster can run" in checked.stderr


def test_sandbox_serve_on_a_busy_port_and_dump_of_a_stopped_sandbox(tmp_path) -> None:
    with serve_sandbox() as running:
        port = running.url.rsplit(":", 1)[1]
        busy = cli(tmp_path, "sandbox", "serve", "--port", port, "--db", str(tmp_path / "sandbox.duckdb"))
    _no_traceback(busy)
    assert busy.returncode == 1
    assert f"error: the sandbox cannot listen on 127.0.0.1:{port}: Address already in use" in busy.stderr
    assert "pick another with --port (--port 0 takes a free one)" in busy.stderr
    assert not list(tmp_path.glob("sandbox.duckdb*"))  # no stray database file
    url = f"http://127.0.0.1:{_free_port()}"
    stopped = cli(tmp_path, "sandbox", "dump", "--url", url)
    _no_traceback(stopped)
    assert stopped.returncode == 1 and f"error: no sandbox answered at {url}" in stopped.stderr
    assert "start one with `cio-retl sandbox serve`" in stopped.stderr


def test_yaml_numbers_actions_and_short_secrets(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project(IDENTIFY)
    file = tmp_path / "cio_retl.yaml"
    good = file.read_text()
    file.write_text(good.replace("syncs:", "syncs: {oops: [\nbroken:"))
    broken = cli(tmp_path, "validate")
    _no_traceback(broken)
    assert broken.returncode == 2 and "<unicode string>" not in broken.stderr
    assert f"error: {file}, line " in broken.stderr and "is not valid YAML" in broken.stderr

    file.write_text(good)
    _edit(tmp_path, destination={"site_id": 123456, "api_key": "k" * 20})
    number = cli(tmp_path, "validate")
    assert number.returncode == 2
    assert 'destination.site_id: must be text (got 123456): YAML read a number; put it in quotes (site_id: "123456")' \
        in number.stderr

    file.write_text(good)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"type": "identify", "userId": "u1"}))
    typo = cli(tmp_path, "test-action", "--event", str(event), "--action", "createUpdatPerson")
    assert typo.returncode == 1
    assert json.loads(typo.stdout) == {"error": "no action named 'createUpdatPerson' (did you mean createUpdatePerson?)"}

    # A one-letter password: masked where it stands alone, never inside "port" or "password".
    _edit(tmp_path, destination={"site_id": "s", "api_key": "k" * 20},
          warehouses={"pg": {"type": "postgres", "url": f"postgresql+psycopg://u:p@127.0.0.1:{_free_port()}/db"}})
    document = yaml.safe_load(file.read_text())
    document["syncs"]["people"]["warehouse"] = "pg"
    file.write_text(yaml.safe_dump(document))
    doctor = cli(tmp_path, "doctor")
    line = next(line for line in doctor.stdout.splitlines() if line.startswith("FAIL warehouse pg"))
    assert "port" in line and "***ort" not in line, line


def test_status_and_rejections_are_whole_at_80_columns(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql("CREATE OR REPLACE TABLE people AS SELECT 'account-' || i || '-of-the-billing-system' AS user_id, "
                  "'p' || i || '@example.com' AS email FROM range(1, 4) t(i)")
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY,
                       faults=Faults(reject=rule_from_text("identifiers.id=account-2-of-the-billing-system"))) as box:
        make_project({"customer_memberships_from_the_billing_system": IDENTIFY["people"]},
                     destination={"site_id": SITE_ID, "api_key": API_KEY, "url": box.url})
        assert cli(tmp_path, "run").returncode == 0
    for command in (["status"], ["rejections", "customer_memberships_from_the_billing_system"]):
        done = cli(tmp_path, *command, columns=80)
        assert done.returncode == 0, done.stderr
        assert "…" not in done.stdout and max(map(len, done.stdout.splitlines())) <= 80, done.stdout
        assert "customer_memberships_from_the_billing_system" in done.stdout or command[0] == "rejections"
    words = " ".join(done.stdout.split())
    assert "account-2-of-the-billing-system rejected createUpdatePerson" in words
    assert "reason: rule: rejected by the sandbox rule identifiers.id=account-2-of-the-billing-system" in words
    wide = cli(tmp_path, "rejections", "customer_memberships_from_the_billing_system", columns=200)
    assert "┃ key" in wide.stdout and "account-2-of-the-billing-system" in wide.stdout  # wide enough: the table


def test_the_counts_add_up(make_project, warehouse_sql, tmp_path, sandbox) -> None:
    # lead 1 is sent, 2 and 3 have no identifier (refused locally), a NULL key and a duplicated key are not sent.
    warehouse_sql("CREATE OR REPLACE TABLE leads AS SELECT * FROM (VALUES (1, 'a@x.com'), (2, NULL), (3, NULL), "
                  "(NULL, 'n@x.com'), (5, 'd@x.com'), (5, 'e@x.com')) t(lead_id, email)")
    make_project({"leads": {"table": "leads", "primary_key": "lead_id", "type": "identify"}},
                 destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url})
    done = cli(tmp_path, "run", columns=80)
    assert done.returncode == 0, done.stderr
    assert "6 extracted, 3 added, 0 changed, 0 removed, 0 skipped, 3 not sent" in done.stdout
    assert "operations 3: 1 accepted, 2 rejected, 0 pending" in done.stdout
    warehouse_sql("UPDATE leads SET email = 'b@x.com' WHERE lead_id = 2")
    [counts] = json.loads(cli(tmp_path, "run", "--json").stdout)["syncs"]
    assert (counts["operations"], counts["accepted"], counts["rejected"], counts["not_sent"]) == (2, 1, 4, 3)
    assert counts["accepted"] + counts["rejected"] + counts["pending"] == counts["operations"] + counts["not_sent"]


def test_troubleshooting_checks_are_validate_warnings_and_explain_notes(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql("CREATE OR REPLACE TABLE orders AS SELECT 'o' || i AS order_id, 'u' || i AS user_id, "
                  "'1.' || i AS amount, '0' || i || '123' AS coupon_code, 1704164645000 + i AS paid, "
                  "TIMESTAMPTZ '2024-01-02 03:04:05+00' AS \"timestamp\" FROM range(1, 4) t(i)")
    make_project({"orders": {"table": "orders", "primary_key": "order_id", "type": "track",
                             "event": "Order Completed", "mode": "append"}})
    done = cli(tmp_path, "validate", columns=500)
    assert done.returncode == 0, done.stdout  # warnings only
    warnings = done.stdout.splitlines()
    expected = [
        "warning: syncs.orders: column amount holds numbers as text (e.g. '1.1'): Customer.io compares text with text, "
        "so numeric segment conditions (greater than, less than) do not match it; CAST it to a number in the model "
        "(ignore this if it is a code)",
        "warning: syncs.orders: column paid holds values like 1704164645001: Unix milliseconds? Customer.io reads Unix "
        "seconds and would see far-future dates; divide by 1000 in the model",
        "warning: syncs.orders: the newest of 3 sampled events is from 2024-01-02 03:04 UTC, more than 72 hours ago: "
        "Customer.io records older events, but only events less than 72 hours old can trigger campaigns; run the sync "
        "on a schedule so new events go out as they happen",
        "warning: syncs.orders: no identify sync in this project sends the people these events are for: Customer.io "
        "gets events for people it may not know (no attributes to segment on); add an identify sync (cio-retl then "
        "sends people before events), or make sure another source creates them first"]
    for line in expected:
        assert line in warnings, (line, warnings)
    assert not any("coupon_code" in line for line in warnings)  # a code keeps its digits as text
    explained = json.loads(cli(tmp_path, "explain", "orders", "o1", "--json").stdout)
    assert ("this event's timestamp (2024-01-02 03:04 UTC) is more than 72 hours old: Customer.io records it, but it "
            "cannot trigger a campaign; send events as they happen (a schedule) for campaigns to react") \
        in explained["notes"]


def test_progress_on_a_terminal_counts_rows_once_and_shows_diff_and_plan(make_project, warehouse_sql, tmp_path) -> None:
    # A struct column: the model streams through Arrow (not staged in the engine), where rows were counted twice.
    warehouse_sql("CREATE OR REPLACE TABLE people AS SELECT 'u' || i AS user_id, {'plan': 'pro'} AS extra "
                  "FROM range(1, 1001) t(i)")
    make_project(IDENTIFY)
    shown = {}
    for command in ("plan", "run"):
        main, child = pty.openpty()
        env = {**os.environ, "CIO_RETL_CONFIG": str(tmp_path / "cio_retl.yaml"), "COLUMNS": "120"}
        args = [sys.executable, "-m", "cio_retl", command, "people"] + (["--dry-run"] if command == "run" else [])
        done = subprocess.run(args, stdout=subprocess.PIPE, stderr=child, env=env, timeout=300)
        os.close(child)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(main)
        assert done.returncode == 0
        shown[command] = b"".join(chunks).decode(errors="replace")
    assert "people: extract" in shown["run"] and "1000/?" in shown["run"] and "2000/?" not in shown["run"]
    for stage in ("people: diff", "people: operations"):
        assert stage in shown["plan"] and stage in shown["run"], (stage, shown)


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path) -> None:
    # A command with a bug in it, run through the real entry point in a child process.
    program = ("import cio_retl.cli.app as cli\n"
               "from cio_retl.cli.entry import main\n"
               "@cli.app.command('explode')\n"
               "def explode() -> None:\n"
               "    {}['missing']\n"
               "main()\n")
    for args, debug in (([], False), (["--debug"], True)):
        done = subprocess.run([sys.executable, "-c", program, *args, "explode"], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 1
        if debug:
            assert "Traceback (most recent call last)" in done.stderr and "KeyError: 'missing'" in done.stderr
        else:
            assert "Traceback" not in done.stderr
            assert done.stderr.splitlines()[0] == "error: unexpected KeyError: 'missing'"
            assert "run the command again with `cio-retl --debug …` and report the traceback" in " ".join(
                done.stderr.split())


def test_an_unparseable_event_timestamp_names_the_keys_and_the_fix(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql("CREATE OR REPLACE TABLE orders AS SELECT 'o' || i AS order_id, 'u' || i AS user_id, "
                  "CASE WHEN i <= 2 THEN 'yesterday' ELSE '2024-01-02T03:04:05Z' END AS \"timestamp\" "
                  "FROM range(1, 5) t(i)")
    make_project({"orders": {"table": "orders", "primary_key": "order_id", "type": "track", "event": "Paid"}})
    done = cli(tmp_path, "run", "--dry-run", columns=500)
    assert done.returncode == 0, done.stderr
    assert ("orders: trackEvent: unparseable timestamp (left out) (2 row(s), e.g. key o1, o2): Customer.io then uses "
            "the time it receives the call; fix the model's column: a native timestamp, ISO-8601 text like "
            "2024-01-02T03:04:05Z, or Unix seconds") in done.stdout


def test_explain_notes_an_event_for_a_person_no_identify_sync_sent(make_project, warehouse_sql, tmp_path,
                                                                    sandbox) -> None:
    warehouse_sql(PEOPLE + "; CREATE OR REPLACE TABLE orders AS SELECT * FROM (VALUES ('o1', 'u1'), ('o9', 'u9')) "
                  "t(order_id, user_id)")
    make_project({"people": IDENTIFY["people"],
                  "orders": {"table": "orders", "primary_key": "order_id", "type": "track", "event": "Paid"}},
                 destination={"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url})
    assert cli(tmp_path, "run").returncode == 0
    known = json.loads(cli(tmp_path, "explain", "orders", "o1", "--json").stdout)
    unknown = json.loads(cli(tmp_path, "explain", "orders", "o9", "--json").stdout)
    assert not any("has sent person" in note for note in known["notes"])
    assert ("no identify sync (people) has sent person u9: Customer.io gets this event for a person it may not know; "
            "check the user_id, or run the identify sync first (`cio-retl run` orders them)") in unknown["notes"]


def test_validate_catches_settings_that_would_break_the_dagster_code_location(make_project, warehouse_sql,
                                                                              tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project(IDENTIFY)
    _edit(tmp_path, dagster={"pool": "customer io"})
    done = cli(tmp_path, "validate", columns=500)
    _no_traceback(done)
    assert done.returncode == 1
    assert ('error: dagster: the Dagster code location would not load: Pool "customer io" is not a valid pool name. '
            r"It must match the regex ^\S+$; fix that setting in the project file") in done.stdout
    _edit(tmp_path, dagster={"pool": "customerio"})
    assert cli(tmp_path, "validate").stdout.strip() == "no problems found"
