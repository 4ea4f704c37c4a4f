"""Partition windows in each warehouse's own dialect: the rows of [2024-03-02, 2024-03-04) UTC, filtered on a
timestamp, a zoned timestamp with an odd name (a double quote, or a space on BigQuery) and a date column, against
real DuckDB, PostgreSQL, Snowflake (fakesnow) and BigQuery (bqemulator); and `validate` on partition_by."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from cio_retl.project import (BigQueryWarehouse, DuckDBWarehouse, PostgresWarehouse, SnowflakeWarehouse,
                             load_project)
from cio_retl.cli.validate import validate_project
from cio_retl.warehouse import open_warehouse
from cio_retl.warehouse.dialect import quote_identifier, window_sql
from tests.conftest import run_pg
from tests.integration.warehouse_cloud_fixtures import (bigquery_warehouse_config, run_bigquery, run_snowflake,
                                                        snowflake_warehouse_config, write_project)

START, END = datetime(2024, 3, 2, tzinfo=timezone.utc), datetime(2024, 3, 4, tzinfo=timezone.utc)
# id 1 just before the window, 2 on its first instant, 3 on its last second, 4 on its (excluded) end.
NAIVE = ["2024-03-01 23:59:59", "2024-03-02 00:00:00", "2024-03-03 23:59:59", "2024-03-04 00:00:00"]
# The same instants written at +01:00, so a filter that ignored the zone would take the wrong rows.
ZONED = ["2024-03-02 00:59:59+01:00", "2024-03-02 01:00:00+01:00", "2024-03-04 00:59:59+01:00",
         "2024-03-04 01:00:00+01:00"]
DAYS = ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]
QUOTED = 'paid"at'  # a column whose name holds a double quote
INSIDE = [2, 3]


def ids(warehouse, sql: str) -> list[int]:
    try:
        table = pa.Table.from_batches(list(warehouse.stream(sql, sync="events")))
    finally:
        warehouse.close()
    return sorted(table.column("id").to_pylist()) if table.num_rows else []


def windows(make_reader, dialect: str, model: str, columns: list[str]) -> dict[str, list[int]]:
    """Ids in the window, per partition column."""
    return {column: ids(make_reader(), window_sql(dialect, model, column, START, END)) for column in columns}


def rows_sql() -> str:
    """The four rows as text columns naive, zoned and day, for each warehouse to cast to its own types."""
    return " UNION ALL ".join(f"SELECT {i} AS id, '{naive}' AS naive, '{zoned}' AS zoned, '{day}' AS day"
                              for i, (naive, zoned, day) in enumerate(zip(NAIVE, ZONED, DAYS), start=1))


def test_duckdb(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""CREATE TABLE events AS SELECT id, naive::TIMESTAMP AS ordered_at, zoned::TIMESTAMPTZ AS "paid""at",
                    day::DATE AS day FROM ({rows_sql()})""")
    con.close()
    config = DuckDBWarehouse(type="duckdb", path="w.duckdb")
    found = windows(lambda: open_warehouse("wh", config, tmp_path), "duckdb", "SELECT * FROM events -- model\n;",
                    ["ordered_at", QUOTED, "day"])
    assert found == {"ordered_at": INSIDE, QUOTED: INSIDE, "day": INSIDE}


def test_postgres(pg_database: str) -> None:
    run_pg(pg_database, f"""CREATE TABLE events AS SELECT id, naive::timestamp AS ordered_at,
                            zoned::timestamptz AS "paid""at", day::date AS day FROM ({rows_sql()}) AS r""")
    config = PostgresWarehouse(type="postgres", url=pg_database)
    found = windows(lambda: open_warehouse("wh", config, Path(".")), "postgres", "SELECT * FROM events",
                    ["ordered_at", QUOTED, "day"])
    assert found == {"ordered_at": INSIDE, QUOTED: INSIDE, "day": INSIDE}


def test_snowflake(snowflake_server: dict) -> None:
    # Unquoted names are stored upper-case and read back lower-case: `ordered_at` is ORDERED_AT, and the odd
    # column, all upper-case, is read as paid"at; the window must name them as Snowflake stores them.
    run_snowflake(snowflake_server, "WINDOW_DB", f"""CREATE OR REPLACE TABLE events AS SELECT id,
        naive::TIMESTAMP_NTZ AS ordered_at, zoned::TIMESTAMP_TZ AS "PAID""AT", day::DATE AS day
        FROM ({rows_sql()})""")
    config = SnowflakeWarehouse.model_validate(snowflake_warehouse_config(snowflake_server, "WINDOW_DB"))
    found = windows(lambda: open_warehouse("wh", config, Path(".")), "snowflake", "SELECT * FROM events",
                    ["ordered_at", QUOTED, "day"])
    assert found == {"ordered_at": INSIDE, QUOTED: INSIDE, "day": INSIDE}


def test_bigquery(bigquery_endpoint: str) -> None:
    # A double-quoted name would be a string literal here: columns are quoted with backticks. BigQuery
    # compares TIMESTAMP, DATETIME and DATE only with their own type, so all three are exercised.
    run_bigquery(bigquery_endpoint, f"""CREATE SCHEMA IF NOT EXISTS window_ds;
        CREATE OR REPLACE TABLE window_ds.events AS SELECT id, CAST(zoned AS TIMESTAMP) AS ordered_at,
        CAST(naive AS DATETIME) AS `paid at`, CAST(day AS DATE) AS day FROM ({rows_sql()})""")
    config = BigQueryWarehouse.model_validate(bigquery_warehouse_config(bigquery_endpoint))
    found = windows(lambda: open_warehouse("wh", config, Path(".")), "bigquery", "SELECT * FROM window_ds.events",
                    ["ordered_at", "paid at", "day"])
    assert found == {"ordered_at": INSIDE, "paid at": INSIDE, "day": INSIDE}


@pytest.mark.parametrize(("dialect", "name", "quoted"), [
    ("duckdb", 'a"b', '"a""b"'), ("postgres", "Ordered At", '"Ordered At"'),
    ("snowflake", "ordered_at", '"ORDERED_AT"'), ("snowflake", "OrderedAt", '"OrderedAt"'),
    ("snowflake", 'paid"at', '"PAID""AT"'), ("bigquery", "ordered_at", "`ordered_at`"),
    ("bigquery", "a`b\\c", "`a\\`b\\\\c`"),
])
def test_one_quoting_rule_per_dialect(dialect: str, name: str, quoted: str) -> None:
    assert quote_identifier(dialect, name) == quoted


def test_validate_wants_a_timestamp_or_date_partition_column(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE TABLE events AS SELECT 'u1' AS user_id, 'o1' AS order_id, "
                "TIMESTAMP '2024-03-02' AS ordered_at, DATE '2024-03-02' AS day, '2024-03-02' AS day_text")
    con.close()
    event = {"query": "SELECT * FROM events", "primary_key": "order_id", "type": "track", "event": "Order"}
    write_project(tmp_path, {"type": "duckdb", "path": "w.duckdb"}, {
        "by_time": {**event, "partition_by": "ordered_at"}, "by_day": {**event, "partition_by": "day"},
        "by_text": {**event, "partition_by": "day_text"}, "by_nothing": {**event, "partition_by": "shipped_at"}})
    problems = {p.where: p for p in validate_project(load_project(tmp_path / "cio_retl.yaml"))}
    assert set(problems) == {"syncs.by_text.partition_by", "syncs.by_nothing"}
    assert problems["syncs.by_text.partition_by"].severity == "error"
    assert "'day_text' is a string column" in problems["syncs.by_text.partition_by"].message
    assert "timestamp or date" in problems["syncs.by_text.partition_by"].message
    assert "shipped_at (partition_by)" in problems["syncs.by_nothing"].message  # the model contract's own check
