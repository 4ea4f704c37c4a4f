"""`explain`'s key lookup in each warehouse's dialect: the model re-run for one key, the values bound as query
parameters — never spliced into the SQL — against DuckDB, PostgreSQL, Snowflake (fakesnow), BigQuery (bqemulator)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from cio_retl.project import BigQueryWarehouse, DuckDBWarehouse, PostgresWarehouse, SnowflakeWarehouse
from cio_retl.warehouse import open_warehouse
from cio_retl.warehouse.dialect import key_filter_sql
from tests.conftest import run_pg
from tests.integration.warehouse_cloud_fixtures import (bigquery_warehouse_config, run_bigquery, run_snowflake,
                                                        snowflake_warehouse_config)

# Keys a careless splice would break or widen; the second column is an integer, compared as text.
ROWS = [("o'1", 1, "first"), ("o%", 2, "second"), ("x' OR '1'='1", 3, "third"), ("o'1", 4, "fourth")]


def rows_sql(bigquery: bool = False) -> str:
    """The rows as a SELECT; a quote inside a BigQuery string is backslash-escaped, elsewhere doubled."""
    def text(value: str) -> str:
        return "'" + value.replace("'", "\\'" if bigquery else "''") + "'"
    return " UNION ALL ".join(f"SELECT {text(k)} AS order_id, {n} AS line, {text(note)} AS note" for k, n, note in ROWS)


def lookup(make, dialect: str, model: str) -> dict[tuple[str, str], list[str]]:
    """The notes found for each (order_id, line) asked for."""
    found = {}
    for key in (("o'1", "4"), ("o%", "2"), ("x' OR '1'='1", "3"), ("o'1", "99")):
        warehouse = make()
        try:
            batches = list(warehouse.stream(key_filter_sql(dialect, model, ["order_id", "line"]), sync="orders",
                                            params=list(key)))
        finally:
            warehouse.close()
        found[key] = sorted(pa.Table.from_batches(batches).column("note").to_pylist()) if batches else []
    return found


EXPECTED = {("o'1", "4"): ["fourth"], ("o%", "2"): ["second"], ("x' OR '1'='1", "3"): ["third"], ("o'1", "99"): []}
MODEL = "SELECT * FROM orders WHERE note NOT LIKE 'zz%' -- a percent sign in the model\n"


def test_duckdb(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(f"CREATE TABLE orders AS {rows_sql()}")
    con.close()
    config = DuckDBWarehouse(type="duckdb", path="w.duckdb")
    assert lookup(lambda: open_warehouse("wh", config, tmp_path), "duckdb", MODEL) == EXPECTED


def test_postgres(pg_database: str) -> None:
    run_pg(pg_database, f"CREATE TABLE orders AS {rows_sql()}")
    for read_with in ("copy", "cursor"):
        config = PostgresWarehouse(type="postgres", url=pg_database, read_with=read_with)
        assert lookup(lambda: open_warehouse("wh", config, Path(".")), "postgres", MODEL) == EXPECTED


def test_snowflake(snowflake_server: dict) -> None:
    run_snowflake(snowflake_server, "LOOKUP_DB", f"CREATE OR REPLACE TABLE orders AS {rows_sql()}")
    config = SnowflakeWarehouse.model_validate(snowflake_warehouse_config(snowflake_server, "LOOKUP_DB"))
    assert lookup(lambda: open_warehouse("wh", config, Path(".")), "snowflake", MODEL) == EXPECTED


def test_bigquery(bigquery_endpoint: str) -> None:
    run_bigquery(bigquery_endpoint, f"""CREATE SCHEMA IF NOT EXISTS lookup_ds;
        CREATE OR REPLACE TABLE lookup_ds.orders AS {rows_sql(bigquery=True)}""")
    config = BigQueryWarehouse.model_validate(bigquery_warehouse_config(bigquery_endpoint))
    assert lookup(lambda: open_warehouse("wh", config, Path(".")), "bigquery",
                  MODEL.replace("FROM orders", "FROM lookup_ds.orders")) == EXPECTED
