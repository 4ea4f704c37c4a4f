"""The row hash and row key as DuckDB SQL: one 64-bit hash per row, computed in the engine's parallel scan.

`_hash = hash(<schema fingerprint>, <columns in name order>)`, DuckDB's own value hash (UBIGINT). It is
~20× cheaper than md5 over a canonical text (measured: 0.09 s against 2.7 s for 1M rows of 10 columns),
which is what lets an incremental run of a million rows take about a second. Two things it does not see are
folded into the fingerprint, a constant per schema: column names, and what *kind* of JSON value each column
sends (DuckDB hashes `true` like `1` and ignores struct field names). So:

- a value change changes the hash; NULL, '' and 0 all hash differently;
- a type change that changes the JSON sent (an integer column becoming text, a renamed struct field)
  changes every row's hash; one that does not (INT32 → INT64, TIMESTAMP → TIMESTAMPTZ) changes none.

The engine's hash function is not a documented contract, so the state file keeps a *probe* (the hash of a
fixed row, `engine_probe_sql`); if a DuckDB upgrade changes it, the next run re-sends every row once
(a full resync) instead of trusting hashes it can no longer reproduce.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

from cio_retl.sqltext import quote_ident as quote

__all__ = ["engine_probe_sql", "key_sql", "quote", "row_hash_sql", "schema_fingerprint"]

# A fixed row of every common type: its hash changes exactly when the engine's hash function does.
_PROBE = ("hash(42::UBIGINT, 'cio-retl'::VARCHAR, 1.5::DOUBLE, true, DATE '2024-01-02', "
          "TIMESTAMPTZ '2024-01-02 03:04:05.678901+00', [1, 2]::BIGINT[], {'a': 'b'}, NULL::VARCHAR)")


def engine_probe_sql() -> str:
    """SQL of the probe hash (see the module docstring)."""
    return _PROBE


def json_kind(arrow_type: pa.DataType) -> str:
    """What kind of JSON value a column of this (normalised) type sends, nested types spelled out."""
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type):
        return "float"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return "string"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return f"list<{json_kind(arrow_type.value_type)}>"
    if pa.types.is_struct(arrow_type):
        return "struct<" + ",".join(f"{f.name}:{json_kind(f.type)}" for f in arrow_type) + ">"
    if pa.types.is_map(arrow_type):
        return f"map<{json_kind(arrow_type.key_type)},{json_kind(arrow_type.item_type)}>"
    return str(arrow_type)  # json, binary, decimal and the rest: their own name


def schema_fingerprint(schema: pa.Schema) -> int:
    """64 bits naming the schema's columns and their JSON kinds, independent of column order."""
    text = "\x1f".join(f"{f.name}\x1e{json_kind(f.type)}" for f in sorted(schema, key=lambda f: f.name))
    return int(hashlib.md5(text.encode()).hexdigest()[:16], 16)


def row_hash_sql(schema: pa.Schema) -> str:
    """SQL expression (UBIGINT) of the row hash over the columns of `schema`."""
    columns = "".join(f", {quote(f.name)}" for f in sorted(schema, key=lambda f: f.name))
    return f"hash({schema_fingerprint(schema)}::UBIGINT{columns})"


def key_sql(key_columns: list[str]) -> str:
    """SQL expression of the canonical row key: the column's text, or a JSON array of texts for several."""
    if len(key_columns) == 1:
        return f"CAST({quote(key_columns[0])} AS VARCHAR)"
    items = ", ".join(f"CAST({quote(c)} AS VARCHAR)" for c in key_columns)
    return f"CAST(to_json([{items}]) AS VARCHAR)"

