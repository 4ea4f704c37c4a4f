"""A JSON column (DuckDB JSON, PostgreSQL jsonb, Snowflake VARIANT, BigQuery JSON) through run_sync to the sandbox over
HTTP: ISO-8601 strings inside its objects arrive as Unix seconds, a date inside a list and a digit string unchanged."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from cio_retl.project import load_project
from cio_retl.delivery import deliver
from cio_retl.pipeline.sync import run_sync
from tests.conftest import RecordingDelivery, run_pg
from tests.integration.conftest import API_KEY, FAST, SITE_ID
from tests.integration.warehouse_cloud_fixtures import (bigquery_warehouse_config, run_bigquery, run_snowflake,
                                                        snowflake_warehouse_config)

META = {"tier": "gold", "since": "2018-06-10T21:49:44Z", "nested": {"at": "2024-01-02T03:04:05+02:00", "n": 1},
        "dates": ["2024-01-02", {"in_list": "2024-01-02"}], "digits": "1704164645"}
SENT = {"tier": "gold", "since": 1528667384, "nested": {"at": 1704157445, "n": 1},
        "dates": ["2024-01-02", {"in_list": "2024-01-02"}], "digits": "1704164645"}
TEXT = json.dumps(META)
fast_deliver = functools.partial(deliver, policy=FAST)


def duckdb_table(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[dict[str, Any], str]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute(f"CREATE TABLE people AS SELECT 'u1' AS user_id, 'a@b.co' AS email, '{TEXT}'::JSON AS meta")
    con.close()
    return {"type": "duckdb", "path": "warehouse.duckdb"}, "people"


def postgres_table(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[dict[str, Any], str]:
    url = request.getfixturevalue("pg_database")
    run_pg(url, f"CREATE TABLE people (user_id text, email text, meta jsonb); "
                f"INSERT INTO people VALUES ('u1', 'a@b.co', '{TEXT}')")
    return {"type": "postgres", "url": url}, "people"


def snowflake_table(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[dict[str, Any], str]:
    server = request.getfixturevalue("snowflake_server")
    run_snowflake(server, "JSON_DB", "CREATE OR REPLACE TABLE people (user_id varchar, email varchar, meta variant); "
                                     f"INSERT INTO people SELECT 'u1', 'a@b.co', PARSE_JSON('{TEXT}')")
    return snowflake_warehouse_config(server, "JSON_DB"), "people"


def bigquery_table(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[dict[str, Any], str]:
    endpoint = request.getfixturevalue("bigquery_endpoint")
    run_bigquery(endpoint, "CREATE SCHEMA IF NOT EXISTS json_ds; DROP TABLE IF EXISTS json_ds.people; "
                           f"CREATE TABLE json_ds.people AS SELECT 'u1' AS user_id, 'a@b.co' AS email, JSON '{TEXT}' AS meta")
    return bigquery_warehouse_config(endpoint), "json_ds.people"


WAREHOUSES = {"duckdb": duckdb_table, "postgres": postgres_table, "snowflake": snowflake_table,
              "bigquery": bigquery_table}


@pytest.mark.parametrize("warehouse", list(WAREHOUSES))
def test_json_column_timestamps_reach_customerio_as_seconds(warehouse: str, tmp_path: Path, sandbox: Any,
                                                            request: pytest.FixtureRequest) -> None:
    config, table = WAREHOUSES[warehouse](tmp_path, request)
    (tmp_path / "cio_retl.yaml").write_text(yaml.safe_dump({
        "state": "state", "warehouses": {"wh": config},
        "destination": {"site_id": SITE_ID, "api_key": API_KEY, "url": sandbox.url, "max_attempts": 3},
        "syncs": {"people": {"warehouse": "wh", "table": table, "primary_key": "user_id", "type": "identify"}}}))
    report = run_sync(load_project(tmp_path / "cio_retl.yaml"), "people", deliver=fast_deliver)
    assert (report.operations, report.accepted, report.rejected) == (1, 1, 0)
    [person] = sandbox.dump()["people"]
    attributes = person["attributes"] if isinstance(person["attributes"], dict) else json.loads(person["attributes"])
    assert person["id"] == "u1" and attributes["email"] == "a@b.co"
    assert attributes["meta"] == SENT


def test_duckdb_map_column_values_convert_like_struct_fields(make_project, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE people AS SELECT 'u1' AS user_id, MAP {'since': '2018-06-10T21:49:44Z', "
                  "'digits': '1704164645', 'text': 'gold'} AS m, MAP {'at': TIMESTAMP '2024-01-02 03:04:05'} AS t")
    project = make_project({"people": {"table": "people", "primary_key": "user_id", "type": "identify"}})
    delivery = RecordingDelivery()
    run_sync(project, "people", deliver=delivery)
    [op] = delivery.sent
    assert op["attributes"] == {"m": {"since": 1528667384, "digits": "1704164645", "text": "gold"},
                                "t": {"at": 1704164645}}
