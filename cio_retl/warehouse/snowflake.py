"""Snowflake warehouse: snowflake-connector-python, results streamed with fetch_arrow_batches()."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from cio_retl.config import SnowflakeWarehouse
from cio_retl.errors import WarehouseError
from cio_retl.warehouse.types import normalize_batch, normalize_schema

# cursor.description type codes (snowflake.connector.constants.FIELD_TYPES) → Arrow.
_TYPES: dict[int, pa.DataType] = {
    1: pa.float64(), 2: pa.string(), 3: pa.date32(), 4: pa.timestamp("us"), 5: pa.json_(), 6: pa.timestamp("us", tz="UTC"),
    7: pa.timestamp("us", tz="UTC"), 8: pa.timestamp("us"), 9: pa.json_(), 10: pa.json_(), 11: pa.binary(),
    12: pa.time64("us"), 13: pa.bool_(),
}
_FIXED = 0
_LOGIN_FAILED = {250001, 390100, 390144}


def arrow_type(type_code: int, precision: int | None, scale: int | None) -> pa.DataType:
    """The Arrow type of a result column. NUMBER(p, 0) is an integer (Snowflake's INTEGER is NUMBER(38, 0))."""
    if type_code == _FIXED:
        return pa.int64() if not scale else pa.decimal128(precision or 38, scale)
    return _TYPES.get(type_code, pa.string())


def column_name(name: str) -> str:
    """Unquoted identifiers come back upper-case; models name columns in lower case (user_id, not USER_ID)."""
    return name.lower() if name.isupper() else name


class SnowflakeReader:
    """Streams a model's rows from Snowflake through the official connector's Arrow result batches."""

    def __init__(self, name: str, config: SnowflakeWarehouse, root: Path) -> None:
        self.name = name
        self.config = config
        self.root = root
        self._con: Any = None

    def __repr__(self) -> str:
        return f"SnowflakeReader(name={self.name!r}, account={self.config.account!r})"

    def _connect(self, sync: str) -> Any:
        if self._con is None:
            import snowflake.connector  # slow to import: only when a Snowflake sync runs

            try:
                self._con = snowflake.connector.connect(**self._connect_args())
            except Exception as exc:
                raise _translate(sync, self, exc, "cannot connect") from None
        return self._con

    def _connect_args(self) -> dict[str, Any]:
        c = self.config
        args: dict[str, Any] = {"account": c.account, "user": c.user, "warehouse": c.warehouse, "database": c.database,
                                "schema": c.schema_, "role": c.role, "login_timeout": 60, "network_timeout": 300,
                                "session_parameters": {"TIMEZONE": "UTC", "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}}
        if c.password is not None:
            args["password"] = c.password.get_secret_value()
        if c.private_key_path:
            args["private_key"] = _private_key(self.root / c.private_key_path)
        for key in ("host", "port"):
            if getattr(c, key) is not None:
                args[key] = getattr(c, key)
        if c.protocol != "https":
            args["protocol"] = c.protocol
        return {key: value for key, value in args.items() if value is not None}

    def _execute(self, sql: str, sync: str) -> Any:
        cursor = self._connect(sync).cursor()
        try:
            cursor.execute(sql)
        except Exception as exc:
            cursor.close()
            raise _translate(sync, self, exc, "query failed") from None
        return cursor

    def stream(self, sql: str, *, sync: str) -> Iterator[pa.RecordBatch]:
        cursor = self._execute(sql, sync)
        try:
            schema = _schema(cursor.description)
            for table in cursor.fetch_arrow_batches():
                table = table.rename_columns(schema.names)
                for batch in table.cast(schema).to_batches():
                    yield normalize_batch(batch)
        finally:
            cursor.close()

    def schema(self, sql: str, *, sync: str) -> pa.Schema:
        cursor = self._execute(f"SELECT * FROM ({sql}) AS model LIMIT 0", sync)
        try:
            schema = _schema(cursor.description)
        finally:
            cursor.close()
        return normalize_schema(schema)

    def check(self) -> None:
        self._execute("SELECT 1", "doctor").close()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def _schema(description: Any) -> pa.Schema:
    return pa.schema([pa.field(column_name(c.name), arrow_type(c.type_code, c.precision, c.scale)) for c in description])


def _private_key(path: Path) -> bytes:
    """The DER bytes of a PEM private key, as the connector wants them."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _translate(sync: str, reader: SnowflakeReader, exc: Exception, what: str) -> WarehouseError:
    """One connector error → one WarehouseError with a hint; the password never appears."""
    message = (getattr(exc, "msg", None) or str(exc)).strip().splitlines()[0]
    password = reader.config.password.get_secret_value() if reader.config.password else ""
    if password:
        message = message.replace(password, "***")
    errno, sqlstate = getattr(exc, "errno", None), getattr(exc, "sqlstate", None) or ""
    if errno in _LOGIN_FAILED:
        hint = "check user, password (or private_key_path) and account in warehouses.<name>"
    elif sqlstate == "42S02" or errno == 2003:
        hint = "the model reads a table that does not exist or is not visible to the role: check database, schema, role"
    elif sqlstate.startswith("42"):
        hint = "fix the model SQL and rerun"
    elif what == "cannot connect":
        hint = "check account (and host/port when set) and that this machine can reach Snowflake"
    else:
        hint = "fix the model SQL and rerun"
    return WarehouseError(sync, reader.name, f"{what}: {message}", hint=hint)
