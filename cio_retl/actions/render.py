"""Values as JSON text in SQL: typed expressions and objects → compact JSON, timestamps converted, NaN → null."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import duckdb

from cio_retl.actions.columns import kind, struct_fields
from cio_retl.sqltext import quote_ident, quote_str
from cio_retl.actions.timestamps import NATIVE, attribute_seconds, json_attribute_text, native_iso_text, native_seconds


@dataclass(frozen=True)
class Scalar:
    """A SQL expression with its DuckDB type (None: the value is absent, i.e. NULL)."""

    sql: str
    dtype: duckdb.typing.DuckDBPyType | None


@dataclass(frozen=True)
class Obj:
    """An object whose keys are known when compiling; `present` is SQL saying it exists (None: always)."""

    fields: tuple[tuple[str, Val], ...]
    present: str | None = None

    def without(self, *names: str) -> Obj:
        return Obj(tuple((k, v) for k, v in self.fields if k not in names), self.present)


Val = Scalar | Obj
MISSING = Scalar("NULL", None)
FLOATS = {"float", "double"}
_LAMBDA_NAMES = itertools.count()  # nested lambdas need distinct parameter names


def has_float(dtype: duckdb.typing.DuckDBPyType) -> bool:
    """Does a (possibly nested) type hold FLOAT/DOUBLE values that could be NaN or ±Infinity?"""
    k = kind(dtype)
    if k in FLOATS:
        return True
    if k in ("struct", "list", "array", "map"):
        return any(has_float(child) for name, child in dtype.children if name != "size")
    return False


def has_convertible(dtype: duckdb.typing.DuckDBPyType) -> bool:
    """Could timestamp conversion change this value: native times, strings, JSON or MAPs, outside lists?"""
    k = kind(dtype)
    if k in NATIVE or k in ("varchar", "json", "map"):
        return True
    return k == "struct" and any(has_convertible(c) for _, c in struct_fields(dtype))


def finite(sql: str, dtype: duckdb.typing.DuckDBPyType) -> str:
    """SQL of the same value with NaN/±Infinity replaced by NULL and 32-bit floats as the double of their shortest
    decimal, at any depth (lists included)."""
    k = kind(dtype)
    if not has_float(dtype):
        return sql
    if k == "float":
        # Through its shortest text: a 32-bit 0.1 widened to a double would be written 0.10000000149011612.
        return f"(CASE WHEN isfinite({sql}) THEN ({sql})::VARCHAR::DOUBLE END)"
    if k in FLOATS:
        return f"(CASE WHEN isfinite({sql}) THEN {sql} END)"
    if k in ("list", "array"):
        child = dict(dtype.children)["child"]
        var = f"_f{next(_LAMBDA_NAMES)}"
        return f"list_transform({sql}, lambda {var}: {finite(var, child)})"
    if k == "struct":
        packed = ", ".join(f"{quote_ident(n)} := {finite(f'{sql}.{quote_ident(n)}', c)}" for n, c in struct_fields(dtype))
        return f"(CASE WHEN {sql} IS NOT NULL THEN struct_pack({packed}) END)"
    return sql  # MAP values with NaN are rare enough to let the op-size/JSON check catch them


def key_json(name: str) -> str:
    """A SQL literal of a JSON object key followed by a colon."""
    return quote_str(json.dumps(name, ensure_ascii=False) + ":")


def json_text(val: Val, convert: bool) -> str:
    """SQL of the compact JSON text of a value (NULL when absent); `convert` turns timestamps into seconds."""
    if isinstance(val, Obj):
        return object_text(val, convert)
    sql, dtype = val.sql, val.dtype
    k = kind(dtype)
    if k == "null":
        return "NULL::VARCHAR"
    if k == "json":
        return json_attribute_text(sql) if convert else f"({sql})::VARCHAR"
    if k in NATIVE:
        return f"({native_seconds(sql, dtype)})::VARCHAR" if convert else f"to_json({native_iso_text(sql, dtype)})::VARCHAR"
    if k == "varchar" and convert:
        return f"coalesce(({attribute_seconds(sql)})::VARCHAR, to_json({sql})::VARCHAR)"
    # Entered field by field when a field needs it (NaN, a timestamp to convert or to write as ISO text).
    if k == "struct" and (has_float(dtype) or has_convertible(dtype)):
        fields = tuple((n, Scalar(f"{sql}.{quote_ident(n)}", c)) for n, c in struct_fields(dtype))
        return object_text(Obj(fields, f"({sql}) IS NOT NULL"), convert)
    if k == "map" and (has_float(dtype) or has_convertible(dtype)):
        return map_text(sql, dtype, convert)
    return f"to_json({finite(sql, dtype)})::VARCHAR"


def map_text(sql: str, dtype: duckdb.typing.DuckDBPyType, convert: bool) -> str:
    """SQL of a MAP as a JSON object whose values are written (and converted) like a struct's fields."""
    types = dict(dtype.children)
    entry = f"_m{next(_LAMBDA_NAMES)}"
    value = json_text(Scalar(f"{entry}.value", types["value"]), convert)
    member = f"to_json(CAST({entry}.key AS VARCHAR))::VARCHAR || ':' || coalesce({value}, 'null')"
    return (f"(CASE WHEN ({sql}) IS NOT NULL THEN '{{' || array_to_string(list_transform(map_entries({sql}), "
            f"lambda {entry}: {member}), ',') || '}}' END)")


def object_text(obj: Obj, convert: bool, optional: frozenset[str] = frozenset()) -> str:
    """SQL of '{…}' for an object: null values stay null, except `optional` keys, which are left out."""
    pieces = []
    for name, val in obj.fields:
        value = json_text(val, convert)
        pieces.append(f"{key_json(name)} || {value}" if name in optional else f"{key_json(name)} || coalesce({value}, 'null')")
    text = "'{' || " + (f"concat_ws(',', {', '.join(pieces)})" if pieces else "''") + " || '}'"
    return text if obj.present is None else f"(CASE WHEN {obj.present} THEN {text} END)"


def text_of(val: Val) -> str:
    """SQL of a value as plain text for ids and names (numbers as decimals); NULL when absent or empty."""
    if isinstance(val, Obj):
        return "NULL::VARCHAR"
    k = kind(val.dtype)
    if k == "null":
        return "NULL::VARCHAR"
    if k == "varchar":
        return f"nullif({val.sql}, '')"
    if k == "json":
        return f"nullif(json_extract_string({val.sql}, '$'), '')"
    if k in FLOATS:
        # 2.0 → "2": a float id from a warehouse is almost always an integer in disguise
        return (f"(CASE WHEN isfinite({val.sql}) THEN (CASE WHEN {val.sql} = trunc({val.sql}) AND abs({val.sql}) < 1e15 "
                f"THEN ({val.sql})::BIGINT::VARCHAR ELSE ({val.sql})::VARCHAR END) END)")
    if k == "boolean":
        return f"(CASE WHEN {val.sql} THEN 'true' WHEN NOT {val.sql} THEN 'false' END)"
    if k in ("struct", "list", "array", "map"):
        return f"to_json({val.sql})::VARCHAR"
    return f"nullif(CAST({val.sql} AS VARCHAR), '')"


def as_object(val: Val) -> Obj | None:
    """A value's keys when they are known at compile time (a STRUCT column or an object mapping), else None."""
    if isinstance(val, Obj):
        return val
    if kind(val.dtype) == "struct":
        return Obj(tuple((n, Scalar(f"{val.sql}.{quote_ident(n)}", c)) for n, c in struct_fields(val.dtype)),
                   f"({val.sql}) IS NOT NULL")
    return None
