"""The row hash is md5 over a documented canonical encoding: reproduced here in plain Python, not via DuckDB."""

from __future__ import annotations

import hashlib
import math
from datetime import date, datetime, timezone
from decimal import Decimal

import duckdb
import pyarrow as pa

from cio_retl.rowhash import key_sql, row_hash_sql


def py_encode(value, t: pa.DataType) -> str:
    """The canonical encoding of cio_retl.rowhash's docstring, written independently of the SQL."""
    if value is None:
        return "null"
    if pa.types.is_boolean(t):
        return "true" if value else "false"
    if pa.types.is_integer(t) or pa.types.is_decimal(t):
        return str(value)
    if pa.types.is_floating(t):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return "%.17g" % value
    if pa.types.is_string(t):
        return f"{len(value.encode())}:{value}"
    if pa.types.is_date(t):
        return str((value - date(1970, 1, 1)).days)
    if pa.types.is_timestamp(t):
        delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return str(delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds)
    if pa.types.is_list(t):
        return "[" + ",".join(py_encode(v, t.value_type) for v in value) + "]"
    if pa.types.is_struct(t):
        return "{" + ",".join(f"{f.name}=" + py_encode(value[f.name], f.type) for f in t) + "}"
    raise AssertionError(t)


def py_hash(row: dict, schema: pa.Schema) -> str:
    parts = [f"{len(f.name.encode())}:{f.name}=" + py_encode(row[f.name], f.type)
             for f in sorted(schema, key=lambda f: f.name)]
    return hashlib.md5(",".join(parts).encode()).hexdigest()


SCHEMA = pa.schema([
    ("id", pa.int64()), ("name", pa.string()), ("score", pa.float64()), ("active", pa.bool_()),
    ("price", pa.decimal128(10, 2)), ("born", pa.date32()), ("seen_at", pa.timestamp("us", tz="UTC")),
    ("tags", pa.list_(pa.string())), ("address", pa.struct([("city", pa.string()), ("zip", pa.int32())])),
])
ROWS = [
    {"id": 1, "name": "Zoë", "score": 0.1, "active": True, "price": Decimal("12.50"), "born": date(1990, 5, 17),
     "seen_at": datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc), "tags": ["a", "b,c"],
     "address": {"city": "Paris", "zip": 75001}},
    {"id": 2, "name": None, "score": float("nan"), "active": False, "price": None, "born": None, "seen_at": None,
     "tags": [], "address": None},
    {"id": 3, "name": "", "score": float("inf"), "active": None, "price": Decimal("-0.01"), "born": date(1969, 12, 31),
     "seen_at": datetime(1969, 12, 31, 23, 59, 59, tzinfo=timezone.utc), "tags": None,
     "address": {"city": None, "zip": None}},
    {"id": 4, "name": "x", "score": -1e300, "active": True, "price": Decimal("0.00"), "born": date(2000, 2, 29),
     "seen_at": datetime(2000, 2, 29, tzinfo=timezone.utc), "tags": [None, "z"], "address": {"city": "", "zip": 0}},
]


def duckdb_hashes(table: pa.Table) -> list[str]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("t", table)
    return [h for (h,) in con.execute(f"SELECT {row_hash_sql(table.schema)} FROM t ORDER BY id").fetchall()]


def test_sql_hash_equals_the_documented_encoding_computed_in_python() -> None:
    table = pa.Table.from_pylist(ROWS, schema=SCHEMA)
    assert duckdb_hashes(table) == [py_hash(row, SCHEMA) for row in ROWS]


def test_column_order_does_not_matter_but_values_and_names_do() -> None:
    table = pa.Table.from_pylist(ROWS, schema=SCHEMA)
    reordered = table.select(list(reversed(table.column_names)))
    assert duckdb_hashes(reordered) == duckdb_hashes(table)
    renamed = table.rename_columns([("full_name" if c == "name" else c) for c in table.column_names])
    assert duckdb_hashes(renamed)[0] != duckdb_hashes(table)[0]


def test_integer_width_does_not_change_hash_but_int_to_text_does() -> None:
    narrow = pa.table({"id": pa.array([1, 2], pa.int32())})
    wide = pa.table({"id": pa.array([1, 2], pa.int64())})
    text = pa.table({"id": pa.array(["1", "2"])})
    assert duckdb_hashes(narrow) == duckdb_hashes(wide)
    assert duckdb_hashes(text) != duckdb_hashes(wide)


def test_null_and_empty_string_and_text_null_differ() -> None:
    table = pa.table({"id": [1, 2, 3], "v": pa.array([None, "", "null"])})
    assert len(set(duckdb_hashes(table))) == 3


def test_composite_key_is_json_array_of_texts() -> None:
    con = duckdb.connect()
    key = con.execute(f"SELECT {key_sql(['a', 'b'])} FROM (SELECT 'x\"y' AS a, 7 AS b)").fetchone()[0]
    assert key == '["x\\"y","7"]'
