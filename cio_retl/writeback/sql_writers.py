"""Sync-log writers for the warehouses spoken to in SQL through their own clients: DuckDB, PostgreSQL, Snowflake."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from cio_retl import engine
from cio_retl.project import DuckDBWarehouse, PostgresWarehouse, SnowflakeWarehouse
from cio_retl.writeback.tables import AGE_COLUMN, TABLES, create_sql

INSERT_CHUNK = 1000  # rows per executemany: the Snowflake connector turns one into a multi-row INSERT


class SqlWriter:
    """Create the schema and tables, append rows, delete rows past retention: one transaction-free pass."""

    dialect = ""
    placeholder = "%s"

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        raise NotImplementedError

    def insert(self, qualified: str, rows: pa.Table) -> None:
        """Append rows, a chunk at a time (never all of a large changelog as Python objects at once)."""
        marks = ", ".join(self.placeholder for _ in rows.column_names)
        sql = f"INSERT INTO {qualified} ({', '.join(rows.column_names)}) VALUES ({marks})"
        for batch in rows.to_batches(max_chunksize=INSERT_CHUNK):
            self.executemany(sql, _tuples(batch))

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def write(self, schema: str, tables: dict[str, pa.Table], cutoff: datetime) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for table in TABLES:
            qualified = f"{schema}.{table}"
            self.execute(create_sql(self.dialect, qualified, table))
            self.execute(f"DELETE FROM {qualified} WHERE {AGE_COLUMN[table]} < {self.placeholder}", [cutoff])
            if tables[table].num_rows:
                self.insert(qualified, tables[table])


def _tuples(batch: pa.RecordBatch) -> list[tuple[Any, ...]]:
    return list(zip(*(column.to_pylist() for column in batch.columns)))


class DuckDBWriter(SqlWriter):
    dialect, placeholder = "duckdb", "?"

    def __init__(self, config: DuckDBWarehouse, root: Path) -> None:
        if config.path == ":memory:":
            raise ValueError("an in-memory DuckDB warehouse keeps nothing: name a file warehouse")
        self.con = engine.connect(str((root / config.path).resolve()))

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        self.con.execute(sql, params or [])

    def insert(self, qualified: str, rows: pa.Table) -> None:
        self.con.register("writeback_rows", rows)  # DuckDB reads the Arrow table as it is, no Python rows
        try:
            self.con.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM writeback_rows")
        finally:
            self.con.unregister("writeback_rows")

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self.con.executemany(sql, rows)

    def close(self) -> None:
        self.con.close()


class PostgresWriter(SqlWriter):
    dialect = "postgres"

    def __init__(self, config: PostgresWarehouse) -> None:
        import psycopg

        from cio_retl.warehouse.postgres import engine_url

        url = engine_url(config.url.get_secret_value()).replace("postgresql+psycopg://", "postgresql://", 1)
        self.con = psycopg.connect(url, autocommit=True)

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        self.con.execute(sql, params)

    def insert(self, qualified: str, rows: pa.Table) -> None:
        statement = f"COPY {qualified} ({', '.join(rows.column_names)}) FROM STDIN"
        with self.con.cursor() as cursor, cursor.copy(statement) as copy:
            for batch in rows.to_batches(max_chunksize=10_000):
                for row in _tuples(batch):
                    copy.write_row(row)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self.con.cursor() as cursor:
            cursor.executemany(sql, rows)

    def close(self) -> None:
        self.con.close()


class SnowflakeWriter(SqlWriter):
    dialect = "snowflake"

    def __init__(self, name: str, config: SnowflakeWarehouse, root: Path) -> None:
        from cio_retl.warehouse.snowflake import SnowflakeReader

        # The reader's own connection: the same credentials, key file and error translation as the extract.
        self.con = SnowflakeReader(name, config, root)._connect("writeback")

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        with self.con.cursor() as cursor:
            cursor.execute(sql, params)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self.con.cursor() as cursor:
            cursor.executemany(sql, rows)

    def close(self) -> None:
        self.con.close()
