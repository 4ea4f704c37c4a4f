"""The sync log in the warehouse: sync_runs and sync_changelog written after each run through the warehouse's own
client (DuckDB, PostgreSQL; Snowflake and BigQuery through their emulators), retention, and failure as a warning."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from cio_retl.pipeline.runner import run_syncs
from cio_retl.sandbox import Faults
from tests.integration.conftest import API_KEY, SITE_ID

PEOPLE = ("CREATE OR REPLACE TABLE people AS SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, "
          "CASE WHEN i % 2 = 0 THEN 'pro' END AS plan FROM range(1, 6) t(i)")
PEOPLE_SYNC = {"people": {"table": "people", "primary_key": "user_id", "type": "identify", "mode": "mirror"}}
REJECT_U2 = Faults(reject=lambda op: "invalid: email is not valid" if op["identifiers"] == {"id": "u2"} else None)


def destination(sandbox) -> dict:
    return {"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url, "max_attempts": 2}


def read_duckdb(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def changelog(rows: list[tuple]) -> dict[str, tuple]:
    """key → (op, fate, reason, attributes, values) from rows of SELECT key, op, fate, reason, attributes, values."""
    return {row[0]: (row[1], row[2], row[3], json.loads(row[4]), row[5]) for row in rows}


def test_duckdb_holds_the_run_and_one_changelog_row_per_key_with_its_fate(make_project, warehouse_sql, sandbox,
                                                                         tmp_path: Path) -> None:
    warehouse_sql(PEOPLE)
    sandbox.faults = REJECT_U2
    project = make_project(PEOPLE_SYNC, destination=destination(sandbox), extra={"writeback": {"warehouse": "wh"}})
    [report] = run_syncs(project, [])
    assert report.status == "success" and report.warnings == []
    wh = tmp_path / "warehouse.duckdb"
    [run] = read_duckdb(wh, "SELECT sync, run_id, workspace_host, workspace_site_id, status, error, extracted, added, "
                            "accepted, rejected, started_at <= finished_at FROM cio_retl.sync_runs")
    assert run == ("people", report.run_id, sandbox.url.split("://")[1], SITE_ID, "success", None, 5, 5, 4, 1, True)
    log = changelog(read_duckdb(wh, "SELECT key, op, fate, reason, attributes, attribute_values "
                                    "FROM cio_retl.sync_changelog WHERE run_id = '" + report.run_id + "'"))
    assert sorted(log) == [f"u{i}" for i in range(1, 6)]
    assert log["u1"] == ("add", "delivered", None, ["email", "plan"], None)  # names, never values, by default
    assert log["u2"][:2] == ("add", "rejected") and "invalid: email is not valid" in log["u2"][2]
    [key_json] = read_duckdb(wh, "SELECT key_json FROM cio_retl.sync_changelog WHERE key = 'u3'")[0]
    assert json.loads(key_json) == {"user_id": "u3"}

    # The next run: u2 fixed and re-sent, u5 removed, everyone else unchanged (no changelog rows for them).
    sandbox.faults = Faults()
    warehouse_sql("DELETE FROM people WHERE user_id = 'u5'")
    [second] = run_syncs(project, [], allow_mass_delete=True)  # 1 of 4 is above the guard's 20 %
    assert second.status == "success" and second.warnings == [], second.error
    log = changelog(read_duckdb(wh, "SELECT key, op, fate, reason, attributes, attribute_values "
                                    "FROM cio_retl.sync_changelog WHERE run_id = '" + second.run_id + "'"))
    assert log == {"u2": ("add", "delivered", None, ["email", "plan"], None), "u5": ("remove", "delivered", None, [], None)}
    assert read_duckdb(wh, "SELECT count(*) FROM cio_retl.sync_runs")[0][0] == 2


def test_values_only_when_asked_and_nulls_skipped_are_not_named(make_project, warehouse_sql, sandbox,
                                                                 tmp_path: Path) -> None:
    warehouse_sql(PEOPLE)
    syncs = {"people": {**PEOPLE_SYNC["people"], "nulls": "skip"}}
    project = make_project(syncs, destination=destination(sandbox),
                           extra={"writeback": {"warehouse": "wh", "schema": "audit", "values": True}})
    run_syncs(project, [])
    log = changelog(read_duckdb(tmp_path / "warehouse.duckdb", "SELECT key, op, fate, reason, attributes, "
                                "attribute_values FROM audit.sync_changelog"))
    assert log["u1"][3] == ["email"] and log["u2"][3] == ["email", "plan"]  # u1's plan is NULL, left out
    assert json.loads(log["u2"][4]) == {"email": "p2@example.com", "plan": "pro"}


def test_retention_deletes_rows_older_than_retention_days(make_project, warehouse_sql, sandbox,
                                                          tmp_path: Path) -> None:
    warehouse_sql(PEOPLE)
    project = make_project(PEOPLE_SYNC, destination=destination(sandbox),
                           extra={"writeback": {"warehouse": "wh", "retention_days": 3}})
    [first] = run_syncs(project, [])
    old = datetime.now(timezone.utc) - timedelta(days=4)
    recent = datetime.now(timezone.utc) - timedelta(days=2)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("UPDATE cio_retl.sync_runs SET finished_at = ?", [old])
    con.execute("UPDATE cio_retl.sync_changelog SET logged_at = ? WHERE key <> 'u1'", [old])
    con.execute("UPDATE cio_retl.sync_changelog SET logged_at = ? WHERE key = 'u1'", [recent])
    con.close()
    [second] = run_syncs(project, [])
    wh = tmp_path / "warehouse.duckdb"
    assert read_duckdb(wh, "SELECT run_id FROM cio_retl.sync_runs") == [(second.run_id,)]
    assert read_duckdb(wh, "SELECT key, run_id FROM cio_retl.sync_changelog") == [("u1", first.run_id)]


def test_a_failed_run_is_logged_and_a_writeback_failure_is_only_a_warning(make_project, warehouse_sql, sandbox,
                                                                         tmp_path: Path) -> None:
    warehouse_sql(PEOPLE)
    sandbox.faults = Faults(error_every=1)
    project = make_project(PEOPLE_SYNC, destination=destination(sandbox), extra={"writeback": {"warehouse": "wh"}})
    [failed] = run_syncs(project, [])
    assert failed.status == "failed"
    wh = tmp_path / "warehouse.duckdb"
    [(status, error, pending)] = read_duckdb(wh, "SELECT status, error, pending FROM cio_retl.sync_runs")
    assert status == "failed" and "still pending" in error and pending == 5
    assert {row[0] for row in read_duckdb(wh, "SELECT fate FROM cio_retl.sync_changelog")} == {"pending"}

    sandbox.faults = Faults()
    with socket.socket() as s:  # nothing listens on this port once the socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    unreachable = {"wh": {"type": "duckdb", "path": "warehouse.duckdb"},
                   "logdb": {"type": "postgres", "url": f"postgresql://cio:pg-SECRET-pw@127.0.0.1:{port}/logs"}}
    project = make_project(PEOPLE_SYNC, destination=destination(sandbox),
                           extra={"warehouses": unreachable, "writeback": {"warehouse": "logdb"}})
    [report] = run_syncs(project, [])
    assert report.status == "success" and report.accepted == 5
    [warning] = report.warnings
    assert "sync log not written to warehouse 'logdb'" in warning and "result is unchanged" in warning
    assert "pg-SECRET-pw" not in warning


# ---------------------------------------------------------------- the same through each warehouse's own client


def _postgres(request, tmp_path):
    import psycopg

    from tests.conftest import run_pg

    url = request.getfixturevalue("pg_database")  # starts the session's server (skips off CI without one)

    def read(sql: str) -> list[tuple]:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as con:
            return [tuple(row) for row in con.execute(sql).fetchall()]

    return {"type": "postgres", "url": url}, read, lambda sql: run_pg(url, sql)


def _snowflake(request, tmp_path):
    import snowflake.connector

    from tests.integration.warehouse_cloud_fixtures import snowflake_warehouse_config

    server = request.getfixturevalue("snowflake_server")
    database = "WB_" + "".join(c for c in request.node.name.upper() if c.isalnum())[-20:]

    def run(sql: str) -> list[tuple]:
        con = snowflake.connector.connect(**server, database=database)
        try:
            return list(con.cursor().execute(sql).fetchall() or [])
        finally:
            con.close()

    return snowflake_warehouse_config(server, database, schema="PUBLIC"), run, run


def _bigquery(request, tmp_path):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from tests.integration.warehouse_cloud_fixtures import bigquery_warehouse_config

    endpoint = request.getfixturevalue("bigquery_endpoint")

    def run(sql: str) -> list[tuple]:
        client = bigquery.Client(project="local", credentials=AnonymousCredentials(),
                                 client_options=ClientOptions(api_endpoint=endpoint))
        try:
            return [tuple(row.values()) for row in client.query(sql).result()]
        finally:
            client.close()

    return bigquery_warehouse_config(endpoint), run, run


@pytest.mark.parametrize("kind", ["postgres", "snowflake", "bigquery"])
def test_every_warehouse_holds_the_sync_log_and_applies_retention(kind, request, make_project, warehouse_sql,
                                                                  sandbox, tmp_path: Path) -> None:
    config, read, write = {"postgres": _postgres, "snowflake": _snowflake, "bigquery": _bigquery}[kind](request,
                                                                                                       tmp_path)
    warehouse_sql(PEOPLE)
    sandbox.faults = REJECT_U2
    schema = f"log_{kind}"
    warehouses = {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}, "logs": config}
    project = make_project(PEOPLE_SYNC, destination=destination(sandbox),
                           extra={"warehouses": warehouses, "writeback": {"warehouse": "logs", "schema": schema}})
    [first] = run_syncs(project, [])
    assert first.status == "success" and first.warnings == []
    runs = read(f"SELECT sync, run_id, status, extracted, accepted, rejected FROM {schema}.sync_runs")
    assert runs == [("people", first.run_id, "success", 5, 4, 1)]
    log = {row[0]: row[1:] for row in read(f"SELECT key, op, fate, reason, attributes FROM {schema}.sync_changelog")}
    assert sorted(log) == [f"u{i}" for i in range(1, 6)]
    assert log["u1"] == ("add", "delivered", None, '["email","plan"]')
    assert log["u2"][:2] == ("add", "rejected") and "email is not valid" in log["u2"][2]

    long_ago = (datetime.now(timezone.utc) - timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S")
    write(f"UPDATE {schema}.sync_runs SET finished_at = '{long_ago}' WHERE TRUE")
    write(f"UPDATE {schema}.sync_changelog SET logged_at = '{long_ago}' WHERE TRUE")
    sandbox.faults = Faults()
    [second] = run_syncs(project, [])
    assert second.warnings == []
    assert read(f"SELECT run_id FROM {schema}.sync_runs") == [(second.run_id,)]
    assert read(f"SELECT key, fate FROM {schema}.sync_changelog") == [("u2", "delivered")]


def test_a_composite_key_is_a_json_array_with_its_parts_by_name(make_project, warehouse_sql, sandbox,
                                                                tmp_path: Path) -> None:
    warehouse_sql("CREATE TABLE orders AS SELECT 'o' || i AS order_id, i % 2 AS line, 'u1' AS user_id, i AS amount "
                  "FROM range(1, 4) t(i)")
    syncs = {"orders": {"table": "orders", "primary_key": ["order_id", "line"], "type": "track", "mode": "append",
                        "event": "Order Placed"}}
    project = make_project(syncs, destination=destination(sandbox), extra={"writeback": {"warehouse": "wh"}})
    [report] = run_syncs(project, [])
    assert report.status == "success"
    rows = read_duckdb(tmp_path / "warehouse.duckdb", "SELECT key, key_json, op, fate, attributes "
                                                     "FROM cio_retl.sync_changelog ORDER BY key")
    assert [(json.loads(key), json.loads(parts), op, fate) for key, parts, op, fate, _ in rows] == [
        (["o1", "1"], {"order_id": "o1", "line": "1"}, "add", "delivered"),
        (["o2", "0"], {"order_id": "o2", "line": "0"}, "add", "delivered"),
        (["o3", "1"], {"order_id": "o3", "line": "1"}, "add", "delivered")]
    assert json.loads(rows[0][4]) == ["order_id", "line", "amount"]  # the event's data, by name
