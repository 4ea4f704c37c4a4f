"""docs/warehouses.md "Type mapping", row by row: each warehouse type → what Customer.io receives, in every
warehouse that has the type (DuckDB, PostgreSQL, Snowflake through fakesnow, BigQuery through bqemulator)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from cio_retl.pipeline.sync import run_sync
from cio_retl.project import load_project
from tests.conftest import RecordingDelivery
from tests.integration.warehouse_cloud_fixtures import bigquery_warehouse_config, run_snowflake, snowflake_warehouse_config

WAREHOUSES = ("duckdb", "postgres", "snowflake", "bigquery")
# column → ({warehouse: SQL expression of the value in that warehouse's type}, what Customer.io receives).
# Numbers are compared as their JSON text ("number:12.5"), so 0.1 must arrive as 0.1, not 0.10000000149011612.
ROWS: dict[str, tuple[dict[str, str], Any]] = {
    "integer": ({"duckdb": "7::INTEGER", "postgres": "7::integer", "snowflake": "7::NUMBER(38, 0)",
                 "bigquery": "CAST(7 AS INT64)"}, 7),
    "small_decimal": ({"duckdb": "12.50::DECIMAL(10, 2)", "postgres": "12.50::numeric(10, 2)",
                       "snowflake": "12.50::NUMBER(10, 2)"}, "number:12.5"),
    "wide_decimal": ({"duckdb": "123456789012345678.1250::DECIMAL(38, 4)", "postgres": "123456789012345678.1250::numeric(38, 4)",
                      "snowflake": "123456789012345678.1250::NUMBER(38, 4)",
                      "bigquery": "NUMERIC '12345678901234567890.125'"}, None),  # exact: checked per warehouse below
    "double": ({"duckdb": "0.1::DOUBLE", "postgres": "0.1::double precision", "snowflake": "0.1::FLOAT",
                "bigquery": "CAST(0.1 AS FLOAT64)"}, "number:0.1"),
    "float32": ({"duckdb": "0.1::FLOAT", "postgres": "0.1::real"}, "number:0.1"),
    "boolean": ({"duckdb": "TRUE", "postgres": "TRUE", "snowflake": "TRUE", "bigquery": "TRUE"}, True),
    "text": ({"duckdb": "'Zoë'", "postgres": "'Zoë'::text", "snowflake": "'Zoë'::VARCHAR", "bigquery": "'Zoë'"}, "Zoë"),
    "date": ({"duckdb": "DATE '1990-05-17'", "postgres": "DATE '1990-05-17'", "snowflake": "'1990-05-17'::DATE",
              "bigquery": "DATE '1990-05-17'"}, 642902400),
    "naive_timestamp": ({"duckdb": "TIMESTAMP '2024-01-02 03:04:05.678901'",
                         "postgres": "TIMESTAMP '2024-01-02 03:04:05.678901'",
                         "snowflake": "'2024-01-02 03:04:05.678901'::TIMESTAMP_NTZ",
                         "bigquery": "DATETIME '2024-01-02 03:04:05.678901'"}, 1704164645),
    "zoned_timestamp": ({"duckdb": "TIMESTAMPTZ '2024-01-02 05:04:05.9+02:00'",
                         "postgres": "TIMESTAMPTZ '2024-01-02 05:04:05.9+02:00'",
                         "snowflake": "'2024-01-02 05:04:05.9 +02:00'::TIMESTAMP_TZ",
                         "bigquery": "TIMESTAMP '2024-01-02 05:04:05.9+02:00'"}, 1704164645),
    "nanosecond_timestamp": ({"duckdb": "TIMESTAMP_NS '2024-01-02 03:04:05.999999999'",
                              "snowflake": "'2024-01-02 03:04:05.999999999'::TIMESTAMP_NTZ(9)"}, 1704164645),
    "time": ({"duckdb": "TIME '03:04:05'", "postgres": "TIME '03:04:05'", "snowflake": "'03:04:05'::TIME",
              "bigquery": "TIME '03:04:05'"}, "03:04:05"),
    "time_with_offset": ({"duckdb": "TIMETZ '03:04:05+05:30'", "postgres": "'03:04:05+05:30'::timetz"},
                         "03:04:05+05:30"),
    "json": ({"duckdb": """'{"tier": "gold"}'::JSON""", "postgres": """'{"tier": "gold"}'::jsonb""",
              "snowflake": """PARSE_JSON('{"tier": "gold"}')""", "bigquery": """JSON '{"tier": "gold"}'"""},
             {"tier": "gold"}),
    "array": ({"duckdb": "['a', 'b']", "postgres": "ARRAY['a', 'b']::text[]", "snowflake": "ARRAY_CONSTRUCT('a', 'b')",
               "bigquery": "['a', 'b']"}, ["a", "b"]),
    "struct": ({"duckdb": "{'city': 'Paris'}", "bigquery": "STRUCT('Paris' AS city)"}, {"city": "Paris"}),
    "map": ({"duckdb": "MAP {'k': 1}"}, {"k": 1}),
    "bytes": ({"duckdb": "'a\\x00'::BLOB", "postgres": "'a'::bytea", "snowflake": "TO_BINARY('6100', 'HEX')",
                "bigquery": "b'a\\x00'"}, None),  # per warehouse: BINARY_TEXT
}
BINARY_TEXT = {"duckdb": "a\\x00", "postgres": "61", "snowflake": "a\\x00", "bigquery": "a\\x00"}  # bytea: hex
SNOWFLAKE_COLUMNS = {"integer": "NUMBER(38, 0)", "small_decimal": "NUMBER(10, 2)", "wide_decimal": "NUMBER(38, 4)",
                     "double": "FLOAT", "boolean": "BOOLEAN", "text": "VARCHAR", "date": "DATE",
                     "naive_timestamp": "TIMESTAMP_NTZ", "zoned_timestamp": "TIMESTAMP_TZ",
                     "nanosecond_timestamp": "TIMESTAMP_NTZ(9)", "time": "TIME", "json": "VARIANT", "array": "ARRAY",
                     "bytes": "BINARY"}
WIDE = {"bigquery": "number:12345678901234567890.125"}  # BigQuery NUMERIC has 29 integer digits at most


def model(warehouse: str) -> str:
    columns = ", ".join(f"{values[warehouse]} AS {name}" for name, (values, _) in ROWS.items() if warehouse in values)
    return f"SELECT 'u1' AS user_id, {columns}"


def received(tmp_path: Path, warehouse: str, config: dict, query: str) -> dict[str, Any]:
    (tmp_path / f"{warehouse}.yaml").write_text(yaml.safe_dump({
        "state": f"state_{warehouse}", "warehouses": {"wh": config}, "destination": {"site_id": "s", "api_key": "k"},
        "syncs": {"people": {"warehouse": "wh", "primary_key": "user_id", "type": "identify", "query": query}}}))
    delivery = RawBodies()
    run_sync(load_project(tmp_path / f"{warehouse}.yaml"), "people", deliver=delivery)
    [body] = delivery.bodies
    # Numbers as their JSON text: what Customer.io parses, digit for digit.
    return json.loads(body, parse_float=lambda text: f"number:{text}")["attributes"]


class RawBodies(RecordingDelivery):
    """Keeps each operation's JSON text as built (the recording delivery parses it, rounding long numbers)."""

    def __call__(self, batches, destination, **kwargs):
        batches = list(batches)
        self.bodies = getattr(self, "bodies", []) + [b for batch in batches for b in batch.column("body").to_pylist()]
        return super().__call__(batches, destination, **kwargs)


@pytest.fixture
def configs(tmp_path: Path, pg_database: str, snowflake_server: dict, bigquery_endpoint: str) -> dict[str, dict]:
    duckdb.connect(str(tmp_path / "warehouse.duckdb")).close()
    return {"duckdb": {"type": "duckdb", "path": "warehouse.duckdb"}, "postgres": {"type": "postgres", "url": pg_database},
            "snowflake": snowflake_warehouse_config(snowflake_server, "TYPES_DB"),
            "bigquery": bigquery_warehouse_config(bigquery_endpoint)}


def test_each_type_of_the_table_is_received_as_documented(tmp_path: Path, configs: dict[str, dict],
                                                          snowflake_server: dict) -> None:
    failures = []
    for warehouse in WAREHOUSES:
        query = model(warehouse)
        if warehouse == "snowflake":  # fakesnow's server cannot return an ARRAY literal: read it from a table
            columns = ", ".join(f"{name} {kind}" for name, kind in SNOWFLAKE_COLUMNS.items())
            run_snowflake(snowflake_server, "TYPES_DB", f"CREATE TABLE types (user_id VARCHAR, {columns}); "
                                                        f"INSERT INTO types {query}")
            query = "SELECT * FROM types"
        attributes = received(tmp_path, warehouse, configs[warehouse], query)
        for name, (values, expected) in ROWS.items():
            if warehouse not in values:
                assert name not in attributes
                continue
            if name == "wide_decimal":
                expected = WIDE.get(warehouse, "number:123456789012345678.125")
            if name == "bytes":
                expected = BINARY_TEXT[warehouse]
            if attributes[name] != expected:
                failures.append(f"{warehouse} {name}: {attributes[name]!r}, expected {expected!r}")
    assert failures == []


def test_the_documented_table_names_every_tested_row() -> None:
    table = (Path(__file__).parents[2] / "docs" / "warehouses.md").read_text()
    for name in ROWS:
        assert f"`{name}`" in table, f"docs/warehouses.md's type table has no row for {name}"


