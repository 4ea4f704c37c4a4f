"""The row hash: DuckDB's value hash plus a schema fingerprint — what changes it, what does not, and the probe."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import duckdb
import pyarrow as pa

from cio_retl.rowhash import engine_probe_sql, key_sql, row_hash_sql, schema_fingerprint

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


def duckdb_hashes(table: pa.Table) -> list[int]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("t", table)
    return [h for (h,) in con.execute(f"SELECT {row_hash_sql(table.schema)} FROM t ORDER BY id").fetchall()]


def test_every_row_of_every_type_hashes_differently_and_reproducibly() -> None:
    table = pa.Table.from_pylist(ROWS, schema=SCHEMA)
    hashes = duckdb_hashes(table)
    assert len(set(hashes)) == len(ROWS) and all(isinstance(h, int) and 0 <= h < 2 ** 64 for h in hashes)
    assert duckdb_hashes(pa.Table.from_pylist(ROWS, schema=SCHEMA)) == hashes  # a second engine, same values


def test_each_value_change_changes_the_hash() -> None:
    base = pa.Table.from_pylist(ROWS[:1], schema=SCHEMA)
    before = duckdb_hashes(base)[0]
    edits = {"name": "Zoe", "score": 0.1000001, "active": False, "price": Decimal("12.51"), "born": date(1990, 5, 18),
             "seen_at": datetime(2024, 1, 2, 3, 4, 5, 678902, tzinfo=timezone.utc), "tags": ["a", "b", "c"],
             "address": {"city": "Lyon", "zip": 75001}}
    for column, value in edits.items():
        edited = pa.Table.from_pylist([{**ROWS[0], column: value}], schema=SCHEMA)
        assert duckdb_hashes(edited)[0] != before, column


def test_column_order_does_not_matter_but_values_and_names_do() -> None:
    table = pa.Table.from_pylist(ROWS, schema=SCHEMA)
    reordered = table.select(list(reversed(table.column_names)))
    assert duckdb_hashes(reordered) == duckdb_hashes(table)
    renamed = table.rename_columns([("full_name" if c == "name" else c) for c in table.column_names])
    assert duckdb_hashes(renamed)[0] != duckdb_hashes(table)[0]


def test_integer_width_does_not_change_hash_but_int_to_text_or_bool_does() -> None:
    narrow = pa.table({"id": pa.array([1, 2], pa.int32())})
    wide = pa.table({"id": pa.array([1, 2], pa.int64())})
    text = pa.table({"id": pa.array(["1", "2"])})
    flags = pa.table({"id": pa.array([True, False])})
    assert duckdb_hashes(narrow) == duckdb_hashes(wide)
    assert duckdb_hashes(text) != duckdb_hashes(wide)
    assert duckdb_hashes(pa.table({"id": pa.array([1, 0])})) != duckdb_hashes(flags)  # DuckDB hashes true like 1


def test_a_renamed_struct_field_changes_the_hash() -> None:
    before = pa.table({"id": [1], "a": pa.array([{"city": "Paris"}])})
    after = pa.table({"id": [1], "a": pa.array([{"town": "Paris"}])})
    assert schema_fingerprint(before.schema) != schema_fingerprint(after.schema)
    assert duckdb_hashes(before) != duckdb_hashes(after)


def test_null_and_empty_string_and_text_null_differ() -> None:
    table = pa.table({"id": [1, 2, 3], "v": pa.array([None, "", "null"])})
    assert len(set(duckdb_hashes(table))) == 3


def test_the_engine_probe_is_stable_within_this_engine() -> None:
    first, second = duckdb.connect(), duckdb.connect()
    assert first.execute(f"SELECT {engine_probe_sql()}").fetchone() == second.execute(f"SELECT {engine_probe_sql()}").fetchone()


def test_composite_key_is_json_array_of_texts() -> None:
    con = duckdb.connect()
    key = con.execute(f"SELECT {key_sql(['a', 'b'])} FROM (SELECT 'x\"y' AS a, 7 AS b)").fetchone()[0]
    assert key == '["x\\"y","7"]'
