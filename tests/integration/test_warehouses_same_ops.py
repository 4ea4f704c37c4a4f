"""The same logical table through DuckDB, PostgreSQL, Snowflake (fakesnow) and BigQuery (bqemulator) gives the
same Customer.io operations: every warehouse maps its types to one set before the diff."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import yaml

from cio_retl.project import load_project
from cio_retl.pipeline.sync import run_sync
from tests.conftest import RecordingDelivery, run_pg
from tests.integration.warehouse_cloud_fixtures import (bigquery_warehouse_config, run_bigquery, run_snowflake,
                                                        snowflake_warehouse_config)

ROWS = [
    "('u1', 3, 12.50, 0.25, TRUE, 'Zoë', DATE '1990-05-17', TIMESTAMP '2024-01-02 03:04:05', 'gold')",
    "('u2', NULL, NULL, NULL, NULL, NULL, NULL, TIMESTAMP '2024-02-03 04:05:06', NULL)",
]
COLUMNS = "user_id, seats, price, ratio, active, name, born, seen_at, tier"


def make_tables(tmp_path: Path, pg_database: str, snowflake_server: dict, bigquery_endpoint: str) -> dict:
    values = ", ".join(ROWS)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("CREATE TABLE people (user_id VARCHAR, seats INTEGER, price DECIMAL(10, 2), ratio DOUBLE, "
                f"active BOOLEAN, name VARCHAR, born DATE, seen_at TIMESTAMP, tier VARCHAR); INSERT INTO people VALUES {values}")
    con.close()
    run_pg(pg_database, "CREATE TABLE people (user_id text, seats integer, price numeric(10, 2), ratio double precision, "
                        f"active boolean, name text, born date, seen_at timestamp, tier text); INSERT INTO people VALUES {values}")
    run_snowflake(snowflake_server, "SAME_DB", "CREATE TABLE people (user_id varchar, seats int, price number(10, 2), "
                  "ratio float, active boolean, name varchar, born date, seen_at timestamp_ntz, tier varchar);"
                  f"INSERT INTO people ({COLUMNS}) VALUES {values}")
    run_bigquery(bigquery_endpoint, "CREATE SCHEMA IF NOT EXISTS same_ds; CREATE TABLE same_ds.people (user_id STRING, "
                 "seats INT64, price NUMERIC, ratio FLOAT64, active BOOL, name STRING, born DATE, seen_at DATETIME, "
                 f"tier STRING); INSERT INTO same_ds.people VALUES {values.replace('TIMESTAMP', 'DATETIME')}")
    return {"duckdb": ({"type": "duckdb", "path": "warehouse.duckdb"}, "people"),
            "postgres": ({"type": "postgres", "url": pg_database}, "people"),
            "snowflake": (snowflake_warehouse_config(snowflake_server, "SAME_DB"), "people"),
            "bigquery": (bigquery_warehouse_config(bigquery_endpoint), "same_ds.people")}


def test_every_warehouse_sends_the_same_operations(tmp_path: Path, pg_database: str, snowflake_server: dict,
                                                   bigquery_endpoint: str) -> None:
    warehouses = make_tables(tmp_path, pg_database, snowflake_server, bigquery_endpoint)
    # JSON built in the model from a text column, so each warehouse's own JSON type is exercised the same way.
    json_expr = {"duckdb": "json_object('tier', tier)", "postgres": "jsonb_build_object('tier', tier)",
                 "snowflake": "object_construct_keep_null('tier', tier)", "bigquery": "JSON_OBJECT('tier', tier)"}
    sent = {}
    for name, (config, table) in warehouses.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({
            "state": f"state_{name}", "warehouses": {"wh": config}, "destination": {"site_id": "s", "api_key": "k"},
            "syncs": {"people": {"warehouse": "wh", "primary_key": "user_id", "type": "identify",
                                 "query": f"SELECT {COLUMNS.replace('tier', json_expr[name] + ' AS attrs')} FROM {table}"}}}))
        delivery = RecordingDelivery()
        report = run_sync(load_project(tmp_path / f"{name}.yaml"), "people", deliver=delivery)
        assert report.added == 2, name
        sent[name] = sorted(delivery.sent, key=lambda op: op["identifiers"]["id"])
    u1 = sent["duckdb"][0]["attributes"]
    assert u1["price"] == 12.5 and u1["born"] == 642902400 and u1["seen_at"] == 1704164645
    assert u1["attrs"] == {"tier": "gold"} and u1["active"] is True and u1["name"] == "Zoë"
    for name in ("postgres", "snowflake", "bigquery"):
        assert json.dumps(sent[name], sort_keys=True) == json.dumps(sent["duckdb"], sort_keys=True), name
