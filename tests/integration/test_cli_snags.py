"""The newcomer's snags of issue 14, each driven through the command line as a user would (a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import typer

from cio_retl.cli.app import app
from cio_retl.sandbox import serve_sandbox
from cio_retl.pipeline.sync import run_sync
from tests.conftest import RecordingDelivery
from tests.integration.conftest import API_KEY, SITE_ID

PEOPLE = "CREATE OR REPLACE TABLE people AS SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email FROM range(1, 6) t(i)"
LONG_NAME = "customer_memberships_from_the_billing_system"


def cli(tmp_path: Path, *args: str, columns: int = 200, **env: str) -> subprocess.CompletedProcess:
    """`cio-retl ARGS` in a child process with the project of tmp_path, as a shell would run it; `columns` wide
    (tests of content read whole lines: temp paths differ in length from one test worker to the next)."""
    environment = {**os.environ, "CIO_RETL_CONFIG": str(tmp_path / "cio_retl.yaml"), **env}
    for var in ("CUSTOMERIO_SITE_ID", "CUSTOMERIO_TRACK_API_KEY", "CUSTOMERIO_REGION", "CUSTOMERIO_TRACK_URL"):
        if var not in env:
            environment.pop(var, None)
    environment["COLUMNS"] = str(columns)
    return subprocess.run([sys.executable, "-m", "cio_retl", *args], capture_output=True, text=True, env=environment,
                          timeout=300)


def test_run_summary_stays_readable_at_80_columns(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project({LONG_NAME: {"table": "people", "primary_key": "user_id", "type": "identify"}})
    for columns in (80, 120):
        done = cli(tmp_path, "run", "--dry-run", columns=columns)
        assert done.returncode == 0, done.stderr
        summary = done.stdout.split(f"{LONG_NAME}: first operations")[0]
        assert "…" not in summary and max(map(len, summary.splitlines())) <= columns, summary
        assert f"{LONG_NAME}: dry run in" in summary  # the whole name, on one line
        for count in ("5 extracted", "5 added", "0 changed", "0 removed", "5: 0 accepted", "0 rejected", "0 pending",
                      "0 requests"):
            assert count in summary, (count, summary)
    wide = cli(tmp_path, "run", "--dry-run", columns=200).stdout
    assert "┃ extracted ┃" in wide and LONG_NAME in wide and "…" not in wide  # wide enough: the table


def test_plan_shows_what_the_mass_delete_guard_found_and_can_go_past_it(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    project = make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify", "mode": "mirror"}})
    run_sync(project, "people", deliver=RecordingDelivery())
    warehouse_sql("DELETE FROM people WHERE user_id <> 'u1'")
    stopped = cli(tmp_path, "plan", "people", columns=200)
    assert stopped.returncode == 1
    assert "would delete 4 of 5 people/objects (80%), more than max_delete_fraction 20%" in stopped.stderr
    assert "cio-retl plan people --allow-mass-delete" in stopped.stderr
    assert "cio-retl plan" in stopped.stdout and "│ people │ failed │         1 │" in stopped.stdout
    allowed = cli(tmp_path, "plan", "people", "--allow-mass-delete", columns=200)
    assert allowed.returncode == 0, allowed.stderr
    assert "cio-retl plan" in allowed.stdout and "cio-retl run" not in allowed.stdout
    assert allowed.stdout.count('"event": "User Deleted"') == 4  # the four deletes, among the first calls
    assert run_sync(project, "people", deliver=RecordingDelivery(), dry_run=True, allow_mass_delete=True).removed == 4


def test_config_errors_come_in_one_pass_with_the_near_names(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project({"people": {"model": "sql/people.sql", "primary_key": "user_id", "type": "identify"}},
                 models={"people.sql": "SELECT * FROM people"})
    file = tmp_path / "cio_retl.yaml"
    file.write_text(file.read_text().replace("warehouse: wh", "warehouse: hw").replace("sql/people.sql", "sql/peple.sql")
                    + "actions:\n  trackEvnt: {enabled: false}\n  createUpdatePerson: {mapping: {emial: x}}\n")
    done = cli(tmp_path, "validate")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    for problem in ("4 problem(s)", "syncs.people.warehouse: no warehouse named 'hw' (did you mean wh?)",
                    "syncs.people.model: file", "peple.sql not found (did you mean sql/people.sql?)",
                    "actions.trackEvnt: no action named 'trackEvnt' (did you mean trackEvent?)",
                    "actions.createUpdatePerson.mapping.emial: createUpdatePerson has no field 'emial' (did you mean email?)"):
        assert problem in done.stderr, (problem, done.stderr)


def test_help_has_no_bool_labels_every_option_is_explained_and_there_is_a_version(tmp_path) -> None:
    for command in ([], ["run"], ["plan"], ["status"], ["rejections"], ["validate"], ["doctor"], ["test-action"],
                    ["sandbox", "serve"]):
        done = cli(tmp_path, *command, "--help", columns=80)
        assert done.returncode == 0 and "<bool>" not in done.stdout and "Usage:" in done.stdout, done.stdout
    assert "--allow-mass-delete" in cli(tmp_path, "plan", "--help").stdout
    version = cli(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"cio-retl {_installed_version()}"

    def undocumented(group: click.Group, prefix: str) -> list[str]:
        found = []
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found += undocumented(command, f"{prefix}{name} ")
            found += [f"{prefix}{name} {p.opts[0]}" for p in command.params if not getattr(p, "help", None)
                      and not isinstance(p, click.Argument)]
        return found

    assert undocumented(typer.main.get_command(app), "") == []


def _installed_version() -> str:
    from importlib.metadata import version

    return version("cio-retl")


def test_doctor_fails_on_a_region_mismatch_even_with_a_url_and_takes_region_in_any_case(
        make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    with serve_sandbox(site_id=SITE_ID, api_key=API_KEY, region="eu") as eu:
        make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify"}},
                     destination={"site_id": SITE_ID, "api_key": API_KEY, "url": eu.url, "region": "us"})
        wrong = cli(tmp_path, "doctor")
        assert wrong.returncode == 1
        assert "the credentials belong to region 'eu', the project says 'us'" in wrong.stdout
        assert "set region: eu" in wrong.stdout
        right = cli(tmp_path, "doctor", CUSTOMERIO_REGION="EU")
        assert right.returncode == 0 and "region 'eu'" in right.stdout, right.stdout


def test_doctor_masks_the_password_of_a_destination_url(make_project, warehouse_sql, tmp_path, sandbox) -> None:
    warehouse_sql(PEOPLE)
    make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify"}},
                 destination={"site_id": SITE_ID, "api_key": API_KEY})
    with_password = sandbox.url.replace("http://", "http://proxyuser:pr0xy-S3CRET@")
    done = cli(tmp_path, "doctor", CUSTOMERIO_TRACK_URL=with_password)
    assert "pr0xy-S3CRET" not in done.stdout + done.stderr and "proxyuser" not in done.stdout
    assert "http://***:***@127.0.0.1:" in done.stdout


def test_validate_and_doctor_point_at_the_models_own_line(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project({"people": {"model": "sql/people.sql", "primary_key": "user_id", "type": "identify"}},
                 models={"people.sql": "SELECT user_id, email\nFROM people\nWHERE"})
    for command in ("validate", "doctor", "run"):
        done = cli(tmp_path, command, columns=200)
        output = done.stdout + done.stderr
        assert done.returncode == 1 and "LINE 3: WHERE" in output and "(model sql/people.sql)" in output, output
        assert "AS model" not in output and "sync 'doctor'" not in output


def test_doctor_names_the_syncs_of_a_warehouse_it_cannot_open(make_project, tmp_path) -> None:
    make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify"},
                  "orders": {"table": "orders", "primary_key": "id", "type": "track", "event": "Order"}})
    done = cli(tmp_path, "doctor", CUSTOMERIO_TRACK_URL="http://127.0.0.1:9")
    assert done.returncode == 1 and "sync 'doctor'" not in done.stdout
    assert "FAIL warehouse wh (duckdb) for people, orders: DuckDB file" in done.stdout, done.stdout


def test_negative_counts_are_usage_errors_not_tracebacks(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify"}})
    for args, option in ((["status", "--runs", "-1"], "--runs"), (["rejections", "people", "--limit", "-5"], "--limit")):
        done = cli(tmp_path, *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert f"Invalid value for '{option}'" in done.stderr, done.stderr


def test_a_null_key_is_shown_as_null_and_a_real_key_null_as_text(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE + "; INSERT INTO people VALUES (NULL, 'nokey@example.com'), ('NULL', 'bad-email')")
    project = make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify"}})
    run_sync(project, "people", deliver=RecordingDelivery(
        reject=lambda op: "email: not a valid email" if op["identifiers"] == {"id": "NULL"} else None))
    listed = cli(tmp_path, "rejections", "people", "--json")
    assert listed.returncode == 0, listed.stderr
    by_key = {row["key"]: row["reason"] for row in json.loads(listed.stdout)}
    assert set(by_key) == {None, "NULL"}
    assert by_key[None].startswith("null primary key") and by_key["NULL"] == "email: not a valid email"
    table = cli(tmp_path, "rejections", "people", columns=200).stdout
    [null_row] = [line for line in table.splitlines() if "null primary key" in line]
    [text_row] = [line for line in table.splitlines() if "not a valid email" in line]
    assert "<null>" in null_row and "│ NULL " in text_row and "<null>" not in text_row


def test_validate_plan_and_test_action_need_no_customer_io_credentials(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE)
    make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify"}},
                 destination={"site_id": "SITE", "api_key": "KEY"})
    file = tmp_path / "cio_retl.yaml"  # as the README writes it, with neither variable set
    file.write_text(file.read_text().replace("SITE", "${CUSTOMERIO_SITE_ID}").replace("KEY", "${CUSTOMERIO_TRACK_API_KEY}"))
    assert cli(tmp_path, "validate").stdout.strip() == "no problems found"
    planned = cli(tmp_path, "plan", "people")
    assert planned.returncode == 0 and '"userId": "u1"' in planned.stdout, planned.stderr
    tested = subprocess.run([sys.executable, "-m", "cio_retl", "test-action", "--event", "-", "--region", "EU"],
                            input='{"type": "identify", "userId": "u1"}', capture_output=True, text=True,
                            env={**os.environ, "CIO_RETL_CONFIG": str(tmp_path / "cio_retl.yaml")}, timeout=120)
    assert tested.returncode == 0 and json.loads(tested.stdout)[0]["url"].startswith("https://track-eu.customer.io")
    assert cli(tmp_path, "status").returncode == 0
    refused = cli(tmp_path, "run")  # a run needs them, and says which
    assert refused.returncode == 2 and "destination.site_id: environment variable CUSTOMERIO_SITE_ID" in refused.stderr


def test_validate_renders_last_sync_time_and_shares_the_run_contract(make_project, warehouse_sql, tmp_path) -> None:
    warehouse_sql(PEOPLE + "; CREATE OR REPLACE TABLE visits AS SELECT 'u1' AS user_id, 'Home' AS name, "
                  "now() AS updated_at")
    make_project({"people": {"model": "sql/people.sql", "primary_key": "user_id", "type": "identify"},
                  "visits": {"table": "visits", "primary_key": "user_id", "type": "page"}},
                 models={"people.sql": "SELECT * FROM people\nWHERE length(user_id) > {{ last_sync_time }}"})
    validated = cli(tmp_path, "validate", columns=200)
    ran = cli(tmp_path, "run", "visits", "--dry-run", columns=200)
    contract = "model table visits lacks column(s) url; it returns user_id, name, updated_at"
    assert validated.returncode == 1 and ran.returncode == 1
    assert validated.stdout.splitlines() == [f"error: syncs.visits: {contract}", "1 error(s), 0 warning(s)"]
    assert contract in ran.stdout
