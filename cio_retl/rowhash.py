"""The row hash: an md5 digest over a documented canonical text encoding, built as DuckDB SQL.

DuckDB's own `hash()` may change between releases, which would make every row look changed after an
upgrade. So a row's hash is `md5(canonical_text)`, where the canonical text is defined here and does not
depend on any engine-internal hash or float formatting:

- columns are taken in name order; each is written `<byte length of name>:<name>=<value>` and joined by `,`
- NULL → `null`; booleans → `true` / `false`; integers → decimal digits; decimals → their fixed-scale text
- floats → `printf('%.17g')` (C formatting, the same in Python), `NaN`, `Infinity`, `-Infinity`
- strings, JSON text → `<byte length>:<bytes>`; binary → `x` + hex
- dates → days since 1970-01-01; timestamps → microseconds since the epoch (UTC)
- lists → `[` elements joined by `,` `]`; structs → `{` `name=value` joined by `,` `}`

The hash covers exactly what a row would send: a type change that changes the JSON sent (an integer
column becoming text) changes the hash; a change that does not (INT32 → INT64) leaves it alone.
"""

from __future__ import annotations

import pyarrow as pa


def quote(name: str) -> str:
    """A SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def canonical_value_sql(expr: str, arrow_type: pa.DataType, depth: int = 0) -> str:
    """SQL text expression encoding one value of `arrow_type` canonically (never NULL)."""
    return f"coalesce(({_encode(expr, arrow_type, depth)}), 'null')"


def _encode(expr: str, t: pa.DataType, depth: int) -> str:
    if pa.types.is_boolean(t):
        return f"CASE WHEN {expr} THEN 'true' WHEN NOT {expr} THEN 'false' END"
    if pa.types.is_integer(t) or pa.types.is_decimal(t):
        return f"CAST({expr} AS VARCHAR)"
    if pa.types.is_floating(t):
        return (f"CASE WHEN isnan({expr}) THEN 'NaN' WHEN {expr} = 'Infinity'::DOUBLE THEN 'Infinity' "
                f"WHEN {expr} = '-Infinity'::DOUBLE THEN '-Infinity' ELSE printf('%.17g', {expr}::DOUBLE) END")
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return f"CAST(strlen({expr}) AS VARCHAR) || ':' || {expr}"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return f"'x' || hex({expr})"
    if pa.types.is_date(t):
        return f"CAST(({expr} - DATE '1970-01-01') AS VARCHAR)"
    if pa.types.is_timestamp(t):
        return f"CAST(epoch_us({expr}) AS VARCHAR)"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        var = f"item{depth}"  # one name per nesting depth, so inner lists do not shadow outer ones
        inner = canonical_value_sql(var, t.value_type, depth + 1)
        return f"'[' || array_to_string(list_transform({expr}, lambda {var}: {inner}), ',') || ']'"
    if pa.types.is_struct(t):
        parts = [f"{_literal(f.name + '=')} || {canonical_value_sql(f'struct_extract({expr}, {_literal(f.name)})', f.type, depth)}"
                 for f in t]
        body = " || ',' || ".join(parts) if parts else "''"
        return f"CASE WHEN {expr} IS NULL THEN NULL ELSE '{{' || {body} || '}}' END"
    if pa.types.is_map(t):
        entry = pa.struct([pa.field("key", t.key_type), pa.field("value", t.item_type)])
        var = f"item{depth}"
        inner = canonical_value_sql(var, entry, depth + 1)
        return f"'[' || array_to_string(list_transform(map_entries({expr}), lambda {var}: {inner}), ',') || ']'"
    # JSON and any other extension type: its text form, length-prefixed like a string.
    return f"CAST(strlen(CAST({expr} AS VARCHAR)) AS VARCHAR) || ':' || CAST({expr} AS VARCHAR)"


def canonical_row_sql(schema: pa.Schema) -> str:
    """SQL text expression of a whole row's canonical encoding (columns in name order)."""
    parts = []
    for field in sorted(schema, key=lambda f: f.name):
        label = f"{len(field.name.encode())}:{field.name}="
        parts.append(f"{_literal(label)} || {canonical_value_sql(quote(field.name), field.type)}")
    return " || ',' || ".join(parts) if parts else "''"


def row_hash_sql(schema: pa.Schema) -> str:
    """SQL expression: md5 hex digest of the row's canonical encoding."""
    return f"md5({canonical_row_sql(schema)})"


def key_sql(key_columns: list[str]) -> str:
    """SQL expression of the canonical row key: the column's text, or a JSON array of texts for several."""
    if len(key_columns) == 1:
        return f"CAST({quote(key_columns[0])} AS VARCHAR)"
    items = ", ".join(f"CAST({quote(c)} AS VARCHAR)" for c in key_columns)
    return f"CAST(to_json([{items}]) AS VARCHAR)"
