"""Every warehouse reads a model file that ends in a line comment and a semicolon (as model files often do)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from cio_retl.project import BigQueryWarehouse, PostgresWarehouse, SnowflakeWarehouse
from cio_retl.warehouse import open_warehouse
from tests.conftest import run_pg
from tests.integration.warehouse_cloud_fixtures import bigquery_warehouse_config, snowflake_warehouse_config

MODEL = "SELECT 1 AS id, 'a' AS name\n-- one row for the test\n;\n"


def _read(warehouse) -> tuple[list[str], list[dict]]:
    try:
        schema = warehouse.schema(MODEL, sync="s")
        rows = pa.Table.from_batches(list(warehouse.stream(MODEL.rstrip().rstrip(";"), sync="s"))).to_pylist()
    finally:
        warehouse.close()
    return schema.names, rows


def test_postgres_copy_and_cursor(pg_database: str) -> None:
    run_pg(pg_database, "SELECT 1")
    for read_with in ("copy", "cursor"):
        config = PostgresWarehouse(type="postgres", url=pg_database, read_with=read_with)
        assert _read(open_warehouse("pg", config, Path("."))) == (["id", "name"], [{"id": 1, "name": "a"}])


def test_snowflake(snowflake_server: dict) -> None:
    config = SnowflakeWarehouse.model_validate(snowflake_warehouse_config(snowflake_server, "MODEL_SQL_DB"))
    assert _read(open_warehouse("sf", config, Path("."))) == (["id", "name"], [{"id": 1, "name": "a"}])


def test_bigquery(bigquery_endpoint: str) -> None:
    config = BigQueryWarehouse.model_validate(bigquery_warehouse_config(bigquery_endpoint))
    assert _read(open_warehouse("bq", config, Path("."))) == (["id", "name"], [{"id": 1, "name": "a"}])
