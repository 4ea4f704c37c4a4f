"""PostgreSQL / Redshift warehouse: SQLAlchemy 2 + psycopg 3, COPY … TO STDOUT parsed into Arrow batches."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg.postgres
import pyarrow as pa

from cio_retl.project import PostgresWarehouse
from cio_retl.errors import WarehouseError
from cio_retl.warehouse.dialect import quote_identifier
from cio_retl.warehouse.sql import as_subquery, limit_zero
from cio_retl.warehouse.types import normalize_batch, normalize_schema, number_json
from cio_retl.project.redact import mask_secret

# Type OIDs (pg_type) → Arrow types. Anything not listed is read as text.
_SCALARS: dict[int, pa.DataType] = {
    16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 26: pa.int64(), 700: pa.float32(),
    701: pa.float64(), 1082: pa.date32(), 1083: pa.time64("us"), 1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"), 114: pa.json_(), 3802: pa.json_(),
}
# Every built-in array type (numeric[], interval[], … as well as text[] and int[]): all travel as JSON.
_ARRAY_OIDS = frozenset(info.array_oid for info in psycopg.postgres.types if info.array_oid)
_NUMERIC, _TIMESTAMP, _TIMESTAMPTZ, _BYTEA = 1700, 1114, 1184, 17
# json, jsonb, interval, timetz: psycopg's Python values would not print back alike (timetz would lose its offset)
_TEXT_ON_SERVER = {114, 3802, 1186, 1266}
_ISO = """'YYYY-MM-DD"T"HH24:MI:SS.US'"""
BYTES_PER_ROW_GUESS = 100  # turns batch_size (rows) into the CSV reader's block size (bytes)


def arrow_type(type_code: int, precision: int | None, scale: int | None) -> pa.DataType:
    """The Arrow type of a result column, from its type OID (and numeric precision/scale).

    numeric(p, s) is a decimal (types.py maps it); numeric without a declared precision (what sum(), avg()
    and arithmetic return) has no fixed scale, so it is read as text and sent as an exact JSON number.
    Arrays travel as JSON arrays, bytea as hex text.
    """
    if type_code == _NUMERIC:
        return pa.decimal128(precision, scale or 0) if precision and precision <= 38 else pa.json_()
    if type_code in _ARRAY_OIDS:
        return pa.json_()
    return _SCALARS.get(type_code, pa.string())


def _copy_expression(name: str, type_code: int) -> str:
    """How COPY writes a column so that pyarrow's CSV reader parses it exactly."""
    column = quote_identifier("postgres", name)
    if type_code == _TIMESTAMPTZ:
        return f"to_char({column} AT TIME ZONE 'UTC', {_ISO})"
    if type_code == _TIMESTAMP:
        return f"to_char({column}, {_ISO})"
    if type_code in _ARRAY_OIDS:
        return f"to_json({column})::text"
    if type_code == _BYTEA:
        return f"encode({column}, 'hex')"
    return column


def _cursor_statement(sql: str, description: Any) -> str:
    """The model as the cursor runs it: columns whose Python values would not read back as COPY writes them
    (arrays, json/jsonb, interval, numeric without precision) are turned into the server's own text first.

    Redshift has none of those types, so there the model runs exactly as written.
    """
    expressions = [_cursor_expression(c.name, c.type_code, c.precision) for c in description]
    if all(expression is None for expression in expressions):
        return sql
    columns = ", ".join(expression or quote_identifier("postgres", c.name)
                        for expression, c in zip(expressions, description))
    return f"SELECT {columns} FROM {as_subquery(sql)}"


def _cursor_expression(name: str, type_code: int, precision: int | None) -> str | None:
    column = quote_identifier("postgres", name)
    if type_code in _ARRAY_OIDS:
        return f"to_json({column})::text AS {column}"
    if type_code in _TEXT_ON_SERVER or (type_code == _NUMERIC and not precision):
        return f"{column}::text AS {column}"
    return None


def _csv_type(arrow: pa.DataType) -> pa.DataType:
    """What the CSV reader parses a column as (timestamps naive, JSON and numeric as text; restored afterwards)."""
    if pa.types.is_timestamp(arrow):
        return pa.timestamp("us")
    return pa.string() if arrow == pa.json_() else arrow


class _CopyStream(io.RawIOBase):
    """A readable file over psycopg's COPY chunks, for pyarrow's streaming CSV reader."""

    def __init__(self, chunks: Iterator[Any]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(bytes(chunk))
        size = min(len(target), len(self._pending))
        target[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


URL_HINT = "write it as postgresql+psycopg://user:password@host:5432/database (percent-encode @ : / in the password)"


def engine_url(url: str) -> str:
    """postgres:// and postgresql:// URLs get psycopg 3 as their driver (SQLAlchemy would pick psycopg2)."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


def _passwords(url: str) -> list[str]:
    """The URL's password as written and percent-decoded: neither may reach a message."""
    from urllib.parse import unquote

    written = url.partition("://")[2].rpartition("@")[0].partition(":")[2]
    return sorted({text for text in (written, unquote(written)) if text}, key=len, reverse=True)


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
            url = engine_url(self.config.url.get_secret_value())
            try:
                self._engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
            except Exception as exc:  # a malformed URL: SQLAlchemy's message may quote it, so only its kind is kept
                raise WarehouseError(sync, self.name, f"cannot connect: warehouses.{self.name}.url is not a usable "
                                     f"PostgreSQL URL ({type(exc).__name__})", hint=URL_HINT) from None
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

    def stream(self, sql: str, *, sync: str, params: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
        """COPY the model's result out as CSV and parse it with pyarrow: no Python objects per row."""
        connection = self._connect(sync)
        try:
            driver = connection.driver_connection
            description = self._describe(driver, sql, sync, params)
            schema = self._schema(description)
            read = self._read_copy if self.config.read_with == "copy" else self._read_cursor
            try:
                for batch in read(driver, sql, description, schema, params):
                    yield normalize_batch(batch)
            except Exception as exc:
                raise _translate(sync, self, exc, "query failed") from None
        finally:
            connection.close()

    def _read_copy(self, driver: Any, sql: str, description: Any, schema: pa.Schema,
                   params: Sequence[str]) -> Iterator[pa.RecordBatch]:
        columns = ", ".join(_copy_expression(c.name, c.type_code) for c in description)
        statement = f"COPY (SELECT {columns} FROM {as_subquery(sql)}) TO STDOUT (FORMAT csv)"
        with driver.cursor() as cursor, cursor.copy(statement, list(params) or None) as copy:
            chunks = iter(copy)
            first = next(chunks, None)
            if first is None:  # no rows: pyarrow's reader refuses an empty file
                return
            for batch in self._csv_reader(itertools.chain([first], chunks), schema):
                yield _restore_types(batch, schema, description)

    def _read_cursor(self, driver: Any, sql: str, description: Any, schema: pa.Schema,
                     params: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """For servers without COPY TO STDOUT (Redshift): a named cursor, converted column by column."""
        with driver.cursor(name="cio_retl_model") as cursor:  # named: rows stay on the server until fetched
            cursor.execute(_cursor_statement(sql, description), list(params) or None)
            while rows := cursor.fetchmany(self.config.batch_size):
                columns = list(zip(*rows))  # column-wise in C; each column converts to Arrow in one call
                yield pa.RecordBatch.from_arrays([_cursor_column(list(values), field, c.type_code)
                                                  for values, field, c in zip(columns, schema, description)],
                                                 schema=schema)

    def _describe(self, driver: Any, sql: str, sync: str, params: Sequence[str] = ()) -> Any:
        """The result's columns and types, from the model run with LIMIT 0."""
        statement = limit_zero(sql)
        with driver.cursor() as cursor:
            try:
                cursor.execute(statement, list(params) or None)
            except Exception as exc:
                raise _translate(sync, self, exc, "query failed", sql=statement) from None
            return cursor.description

    def _csv_reader(self, chunks: Iterator[Any], schema: pa.Schema) -> Any:
        import pyarrow.csv as csv

        source = io.BufferedReader(_CopyStream(chunks), buffer_size=1 << 20)
        options = csv.ConvertOptions(column_types={f.name: _csv_type(f.type) for f in schema}, null_values=[""],
                                     strings_can_be_null=True, quoted_strings_can_be_null=False,
                                     true_values=["t"], false_values=["f"])
        block = min(max(self.config.batch_size * BYTES_PER_ROW_GUESS, 1 << 20), 64 << 20)
        read = csv.ReadOptions(column_names=schema.names, block_size=block)
        return csv.open_csv(source, read_options=read, convert_options=options)

    def schema(self, sql: str, *, sync: str) -> pa.Schema:
        connection = self._connect(sync)
        try:
            schema = self._schema(self._describe(connection.driver_connection, sql, sync))
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



def _cursor_column(values: list[Any], field: pa.Field, type_code: int) -> pa.Array:
    """Python values from the cursor → Arrow, as the COPY path would give them (JSON text, hex bytea)."""
    arrow = field.type
    if type_code == _NUMERIC and arrow == pa.json_():  # Decimal objects: exact text, as COPY writes it
        return number_json(pa.array([None if v is None else str(v) for v in values], type=pa.string()))
    if arrow == pa.json_():
        text = [None if v is None else v if isinstance(v, str) else json.dumps(v, default=str) for v in values]
        return pa.array(text, type=pa.string()).cast(pa.json_())
    if type_code == _BYTEA:
        return pa.array([None if v is None else bytes(v).hex() for v in values], type=pa.string())
    if arrow == pa.string():
        return pa.array([v if v is None or isinstance(v, str) else str(v) for v in values], type=pa.string())
    return pa.array(values, type=arrow)


def _restore_types(batch: pa.RecordBatch, schema: pa.Schema, description: Any) -> pa.RecordBatch:
    """Give back what CSV cannot carry: the UTC zone of timestamptz, the JSON type (numeric: an exact number)."""
    columns = [column if column.type == field.type
               else number_json(column) if c.type_code == _NUMERIC
               else column.cast(field.type)
               for column, field, c in zip(batch.columns, schema, description)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _translate(sync: str, reader: PostgresReader, exc: Exception, what: str, sql: str = "") -> WarehouseError:
    """One driver error → one WarehouseError with a hint; the password never appears."""
    original = getattr(exc, "orig", None) or exc
    message = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    position = getattr(getattr(original, "diag", None), "statement_position", None)
    if position and sql:  # `sql` is the statement as sent; its prefix before the model has no line breaks
        message += f" at line {sql[:int(position)].count(chr(10)) + 1}"
    for secret in _passwords(reader.config.url.get_secret_value()):
        message = mask_secret(message, secret, "***")
    state = getattr(original, "sqlstate", None) or _connect_state(message)
    hint = {"28P01": "check the user and password in warehouses.<name>.url",
            "28000": "check the user and password in warehouses.<name>.url",
            "42P01": "the model reads a table that does not exist: check its name and the `schema` setting",
            "42703": "the model names a column that does not exist",
            "42601": "fix the SQL syntax of the model",
            "3D000": "the database in the URL does not exist"}.get(state)
    if hint is None and what == "cannot connect":
        hint = "check host, port and database in warehouses.<name>.url, and that the server accepts connections"
    return WarehouseError(sync, reader.name, f"{what}: {message}", hint=hint or "fix the model SQL and rerun")


# libpq reports a refused login as text without a SQLSTATE: these phrases stand for one.
_CONNECT_STATES = {"password authentication failed": "28P01", "no password supplied": "28P01",
                   "role \"": "28000", "no pg_hba.conf entry": "28000", "database \"": "3D000"}


def _connect_state(message: str) -> str:
    """The SQLSTATE a connection failure's message stands for, or ''."""
    return next((state for phrase, state in _CONNECT_STATES.items() if phrase in message), "")
