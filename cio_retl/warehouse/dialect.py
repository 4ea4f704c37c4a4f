"""What differs between the warehouses' SQL: quoting a column name, a partition window's filter, a key lookup."""

from __future__ import annotations

from datetime import datetime, time, timezone
from typing import Literal

from cio_retl.warehouse.snowflake import stored_name
from cio_retl.warehouse.sql import as_subquery

Dialect = Literal["duckdb", "postgres", "snowflake", "bigquery"]


def quote_identifier(dialect: Dialect, name: str) -> str:
    """A column name as the warehouse reads it: double quotes (doubled inside) everywhere but BigQuery, whose
    double-quoted text is a string; there, backticks with backslash escapes. On Snowflake the name is first
    mapped back to how Snowflake stores it (snowflake.stored_name)."""
    if dialect == "bigquery":
        return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"
    if dialect == "snowflake":
        name = stored_name(name)
    return '"' + name.replace('"', '""') + '"'


def timestamp_literal(dialect: Dialect, moment: datetime) -> str:
    """A UTC instant as a literal comparable with the warehouse's timestamp and date columns.

    Sessions run in UTC (every reader sets it), so a zone-less literal means UTC on DuckDB, PostgreSQL and
    Snowflake. BigQuery compares TIMESTAMP, DATETIME and DATE only with their own type, so there the literal
    is an untyped string, which BigQuery coerces to the column's type (a date alone when at midnight, so a
    DATE column compares too).
    """
    utc = moment.astimezone(timezone.utc)
    text = utc.strftime("%Y-%m-%d %H:%M:%S")
    if dialect == "bigquery":
        return "'" + (utc.strftime("%Y-%m-%d") if utc.time() == time(0) else text) + "'"
    if dialect == "snowflake":
        return f"'{text}'::TIMESTAMP_NTZ"
    return f"TIMESTAMP '{text}'"


def window_sql(dialect: Dialect, sql: str, column: str, start: datetime, end: datetime) -> str:
    """The model limited to rows whose `column` falls in [start, end)."""
    quoted = quote_identifier(dialect, column)
    return (f"SELECT * FROM {as_subquery(sql)} WHERE {quoted} >= {timestamp_literal(dialect, start)} "
            f"AND {quoted} < {timestamp_literal(dialect, end)}")


_AS_TEXT = {"duckdb": "CAST({} AS VARCHAR)", "postgres": "CAST({} AS TEXT)", "snowflake": "TO_VARCHAR({})",
            "bigquery": "CAST({} AS STRING)"}


def key_filter_sql(dialect: Dialect, sql: str, columns: list[str]) -> str:
    """The model limited to the rows whose key columns, as text, equal the values bound as query parameters
    (in `columns` order) — never spliced into the SQL. `%` in the model is escaped where the driver's
    placeholder is `%s` (PostgreSQL, Snowflake)."""
    if dialect in ("postgres", "snowflake"):
        sql = sql.replace("%", "%%")
    conditions = " AND ".join(f"{_AS_TEXT[dialect].format(quote_identifier(dialect, c))} = {_placeholder(dialect, i)}"
                              for i, c in enumerate(columns))
    return f"SELECT * FROM {as_subquery(sql)} WHERE {conditions}"


def _placeholder(dialect: Dialect, index: int) -> str:
    return {"duckdb": "?", "bigquery": f"@k{index}"}.get(dialect, "%s")
