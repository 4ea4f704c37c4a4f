"""Snowflake warehouse: snowflake-connector-python, results streamed with fetch_arrow_batches()."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from cio_retl.project import SnowflakeWarehouse
from cio_retl.errors import WarehouseError
from cio_retl.warehouse.sql import limit_zero
from cio_retl.warehouse.types import normalize_batch, normalize_schema
from cio_retl.project.redact import mask_secret

# cursor.description type codes (snowflake.connector.constants.FIELD_TYPES) → Arrow.
_TYPES: dict[int, pa.DataType] = {
    1: pa.float64(), 2: pa.string(), 3: pa.date32(), 4: pa.timestamp("us"), 5: pa.json_(), 6: pa.timestamp("us", tz="UTC"),
    7: pa.timestamp("us", tz="UTC"), 8: pa.timestamp("us"), 9: pa.json_(), 10: pa.json_(), 11: pa.binary(),
    12: pa.time64("us"), 13: pa.bool_(),
}
_FIXED = 0
# 390100 wrong password, 390144 bad JWT (key pair), 390101/390102 user disabled/locked; 250001 is any
# failure to connect, a login failure only when the server said so.
_LOGIN_FAILED = {390100, 390101, 390102, 390144}
# Snowflake: "syntax error line 3 at position 5"; fakesnow (sqlglot): "Line 3, Col: 5".
_LINE = re.compile(r"\bline (\d+)", re.IGNORECASE)
_MAX_MESSAGE = 500


def arrow_type(type_code: int, precision: int | None, scale: int | None) -> pa.DataType:
    """The Arrow type of a result column. NUMBER(p, 0) is an integer (Snowflake's INTEGER is NUMBER(38, 0)); a
    timestamp of more than 6 fractional digits is read in nanoseconds."""
    if type_code == _FIXED:
        return pa.int64() if not scale else pa.decimal128(precision or 38, scale)
    arrow = _TYPES.get(type_code, pa.string())
    if pa.types.is_timestamp(arrow) and scale is not None and scale > 6:
        return pa.timestamp("ns", tz=arrow.tz)  # TIMESTAMP_*(9): read whole, floored to microseconds (types.py)
    return arrow


def column_name(name: str) -> str:
    """Unquoted identifiers come back upper-case; models name columns in lower case (user_id, not USER_ID)."""
    return name.lower() if name.isupper() else name


def stored_name(name: str) -> str:
    """The inverse of column_name: the name Snowflake stores for a column cio-retl calls `name`.

    An all-lower-case name is an unquoted identifier, stored upper-case (ordered_at → ORDERED_AT); a name with
    any upper-case letter was quoted in the model and is stored as written.
    """
    return name.upper() if name.islower() else name


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

            args = self._connect_args(sync)
            try:
                self._con = snowflake.connector.connect(**args)
            except Exception as exc:
                raise _translate(sync, self, exc, "cannot connect") from None
        return self._con

    def _connect_args(self, sync: str) -> dict[str, Any]:
        c = self.config
        args: dict[str, Any] = {"account": c.account, "user": c.user, "warehouse": c.warehouse, "database": c.database,
                                "schema": c.schema_, "role": c.role, "login_timeout": 60, "network_timeout": 300,
                                "session_parameters": {"TIMEZONE": "UTC", "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}}
        if c.password is not None:
            args["password"] = c.password.get_secret_value()
        if c.private_key_path:
            args["private_key"] = _private_key(sync, self.name, self.root / c.private_key_path)
        for key in ("host", "port"):
            if getattr(c, key) is not None:
                args[key] = getattr(c, key)
        if c.protocol != "https":
            args["protocol"] = c.protocol
        return {key: value for key, value in args.items() if value is not None}

    def _execute(self, sql: str, sync: str, params: Sequence[str] = ()) -> Any:
        cursor = self._connect(sync).cursor()
        try:
            cursor.execute(sql, list(params) or None)
        except Exception as exc:
            cursor.close()
            raise _translate(sync, self, exc, "query failed") from None
        return cursor

    def stream(self, sql: str, *, sync: str, params: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
        cursor = self._execute(sql, sync, params)
        try:
            schema = _schema(cursor.description)
            for table in cursor.fetch_arrow_batches():
                yield from _batches(sync, self, table, schema)
        except WarehouseError:
            raise
        except Exception as exc:  # a result chunk failed to download or decode
            raise _translate(sync, self, exc, "reading results failed") from None
        finally:
            cursor.close()

    def schema(self, sql: str, *, sync: str) -> pa.Schema:
        cursor = self._execute(limit_zero(sql), sync)
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


def _batches(sync: str, reader: SnowflakeReader, table: pa.Table, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """One downloaded result chunk as record batches of the description's types."""
    try:
        table = table.rename_columns(schema.names).cast(schema)
    except pa.ArrowInvalid as exc:
        # NUMBER(38, 0) is read as int64; a value beyond it must fail loudly, never wrap or round.
        raise WarehouseError(sync, reader.name, f"reading results failed: {exc}",
                             hint="a column does not fit its type (e.g. a NUMBER beyond 64-bit integers): "
                                  "cast it in the model, e.g. col::VARCHAR") from None
    for batch in table.to_batches():
        yield normalize_batch(batch)


def _schema(description: Any) -> pa.Schema:
    return pa.schema([pa.field(column_name(c.name), arrow_type(c.type_code, c.precision, c.scale)) for c in description])


def _private_key(sync: str, warehouse: str, path: Path) -> bytes:
    """The DER bytes of a PEM private key, as the connector wants them."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:  # the messages name the problem, never the key's bytes
        raise WarehouseError(sync, warehouse, f"cannot read private_key_path {path}: {type(exc).__name__}: {exc}",
                             hint="private_key_path must be an unencrypted PEM private key (PKCS#8, e.g. rsa_key.p8)"
                             ) from None
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _translate(sync: str, reader: SnowflakeReader, exc: Exception, what: str) -> WarehouseError:
    """One connector error → one WarehouseError with a hint; the password never appears."""
    message = _message(getattr(exc, "msg", None) or str(exc) or type(exc).__name__)
    if what == "query failed" and (line := _LINE.search(message)):
        message += f" at line {line.group(1)}"  # the model runs as written, so its lines are the model file's
    password = reader.config.password.get_secret_value() if reader.config.password else ""
    if password:
        message = mask_secret(message, password, "***")
    errno, sqlstate = getattr(exc, "errno", None), getattr(exc, "sqlstate", None) or ""
    if errno in _LOGIN_FAILED or (errno == 250001 and "password" in message.lower()):
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


def _message(text: str) -> str:
    """Snowflake puts the useful part on the second line ("SQL compilation error:\\n syntax error line 3 ...").
    Keep the first paragraph on one line; what follows a blank line is an echo of the rewritten statement."""
    paragraph = text.strip().split("\n\n")[0]
    lines = [line.strip() for line in paragraph.splitlines() if line.strip().strip("^")]
    return " ".join(lines)[:_MAX_MESSAGE]
