"""PostgreSQL / Redshift warehouse: SQLAlchemy 2 + psycopg 3, a server-side cursor streamed into Arrow batches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from cio_retl.config import PostgresWarehouse
from cio_retl.errors import WarehouseError
from cio_retl.warehouse.types import normalize_batch, normalize_schema

# Type OIDs (pg_type) → Arrow types. Anything not listed is read as text.
_SCALARS: dict[int, pa.DataType] = {
    16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 26: pa.int64(), 700: pa.float32(),
    701: pa.float64(), 25: pa.string(), 1043: pa.string(), 1042: pa.string(), 19: pa.string(), 2950: pa.string(),
    1082: pa.date32(), 1083: pa.time64("us"), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"),
    17: pa.binary(), 114: pa.json_(), 3802: pa.json_(),
}
_ARRAYS: dict[int, int] = {1000: 16, 1005: 21, 1007: 23, 1016: 20, 1021: 700, 1022: 701, 1009: 25, 1015: 1043,
                           1014: 1042, 1182: 1082, 1115: 1114, 1185: 1184, 2951: 2950}
_NUMERIC = 1700


def arrow_type(type_code: int, precision: int | None, scale: int | None) -> pa.DataType:
    """The Arrow type of a result column, from its type OID (and numeric precision/scale)."""
    if type_code == _NUMERIC:
        # numeric(p, s) keeps its exact decimal type; unconstrained numeric has no bound, so it stays exact as text.
        return pa.decimal128(precision, scale or 0) if precision and precision <= 38 else pa.string()
    if type_code in _ARRAYS:
        return pa.list_(_SCALARS.get(_ARRAYS[type_code], pa.string()))
    return _SCALARS.get(type_code, pa.string())


def _column(values: list[Any], arrow: pa.DataType) -> pa.Array:
    if arrow == pa.json_():
        text = [None if v is None else json.dumps(v, separators=(",", ":"), sort_keys=True) for v in values]
        return pa.array(text, type=pa.string()).cast(pa.json_())
    if arrow == pa.string():
        values = [v if v is None or isinstance(v, str) else str(v) for v in values]
    return pa.array(values, type=arrow)


class PostgresReader:
    """Streams a model's rows from PostgreSQL (or Redshift) through a named, server-side cursor."""

    def __init__(self, name: str, config: PostgresWarehouse, root: Path) -> None:
        self.name = name
        self.config = config
        self._engine: Any = None

    def __repr__(self) -> str:
        return f"PostgresReader(name={self.name!r})"  # never the URL: it holds the password

    def _connect(self, sync: str) -> Any:
        from sqlalchemy import create_engine

        if self._engine is None:
            url = self.config.url.get_secret_value()
            self._engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
        try:
            connection = self._engine.raw_connection()
        except Exception as exc:  # SQLAlchemy wraps every driver error; the message may quote the URL
            raise _translate(sync, self, exc, "cannot connect") from None
        driver = connection.driver_connection
        with driver.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
            if self.config.schema_:
                cursor.execute("SELECT set_config('search_path', %s, false)", [self.config.schema_])
        return connection

    def stream(self, sql: str, *, sync: str) -> Iterator[pa.RecordBatch]:
        connection = self._connect(sync)
        try:
            driver = connection.driver_connection
            with driver.cursor(name="cio_retl_model") as cursor:  # named: rows stay on the server until fetched
                try:
                    cursor.execute(sql)
                    rows = cursor.fetchmany(self.config.batch_size)
                except Exception as exc:
                    # psycopg sends DECLARE "name" CURSOR FOR <sql>: positions count from DECLARE.
                    sent = f'DECLARE "cio_retl_model" CURSOR FOR {sql}'
                    raise _translate(sync, self, exc, "query failed", sql=sent) from None
                schema = self._schema(cursor.description)
                while rows:
                    yield normalize_batch(self._batch(rows, schema))
                    rows = cursor.fetchmany(self.config.batch_size)
        finally:
            connection.close()

    def schema(self, sql: str, *, sync: str) -> pa.Schema:
        connection = self._connect(sync)
        try:
            with connection.driver_connection.cursor() as cursor:
                try:
                    statement = f"SELECT * FROM ({sql}) AS model LIMIT 0"
                    cursor.execute(statement)
                except Exception as exc:
                    raise _translate(sync, self, exc, "query failed", sql=statement) from None
                schema = self._schema(cursor.description)
        finally:
            connection.close()
        return normalize_schema(schema)

    def check(self) -> None:
        connection = self._connect("doctor")
        try:
            with connection.driver_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        finally:
            connection.close()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @staticmethod
    def _schema(description: Any) -> pa.Schema:
        return pa.schema([pa.field(c.name, arrow_type(c.type_code, c.precision, c.scale)) for c in description])

    @staticmethod
    def _batch(rows: list[tuple], schema: pa.Schema) -> pa.RecordBatch:
        columns = list(zip(*rows))  # column-wise in C; each column converts to Arrow in one call
        return pa.RecordBatch.from_arrays([_column(list(values), f.type) for values, f in zip(columns, schema)],
                                          schema=schema)


def _translate(sync: str, reader: PostgresReader, exc: Exception, what: str, sql: str = "") -> WarehouseError:
    """One driver error → one WarehouseError with a hint; the password never appears."""
    original = getattr(exc, "orig", None) or exc
    message = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    position = getattr(getattr(original, "diag", None), "statement_position", None)
    if position and sql:  # `sql` is the statement as sent; its prefix before the model has no line breaks
        message += f" at line {sql[:int(position)].count(chr(10)) + 1}"
    password = reader.config.url.get_secret_value().partition("://")[2].partition("@")[0].partition(":")[2]
    if password:
        message = message.replace(password, "***")
    state = getattr(original, "sqlstate", None) or ""
    hint = {"28P01": "check the user and password in warehouses.<name>.url",
            "28000": "check the user and password in warehouses.<name>.url",
            "42P01": "the model reads a table that does not exist: check its name and the `schema` setting",
            "42703": "the model names a column that does not exist",
            "42601": "fix the SQL syntax of the model",
            "3D000": "the database in the URL does not exist"}.get(state)
    if hint is None and what == "cannot connect":
        hint = "check host, port and database in warehouses.<name>.url, and that the server accepts connections"
    return WarehouseError(sync, reader.name, f"{what}: {message}", hint=hint or "fix the model SQL and rerun")
