"""Timestamps as DuckDB SQL: ISO-8601 / native / epoch values → integer Unix seconds, whole columns at once."""

from __future__ import annotations

import duckdb

from cio_retl.actions.columns import kind, quote_str

# The reference's isIsoDate pattern (notes §3.6): capital T, optional seconds, 1-9 fraction digits, Z/±hh:mm/±hhmm.
ISO_STRICT = r"^\d{4}-\d{2}-\d{2}((T\d{2}:\d{2}(:\d{2})?)(\.\d{1,9})?(Z|(\+|-)\d{2}:?\d{2})?)?$"
# What a top-level timestamp may look like: also a space or lowercase t, a comma fraction, lowercase z.
_ISO_LENIENT = (r"^\s*(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}:\d{2})(?::(\d{2}))?(?:[.,]\d+)?)?"
                r"\s*(?:[Zz]|([+-])(\d{2}):?(\d{2})?)?\s*$")
_EPOCH_DIGITS = r"^\d+(\.\d+)?$"
# Above this an epoch number is taken as milliseconds (our heuristic; 1e11 s is the year 5138).
MS_THRESHOLD = 100_000_000_000

NATIVE = {"timestamp", "timestamp with time zone", "timestamp_s", "timestamp_ms", "timestamp_ns", "date"}
NUMERIC = {"tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint", "uinteger",
           "ubigint", "uhugeint", "float", "double", "decimal"}


def native_seconds(sql: str, dtype: duckdb.typing.DuckDBPyType) -> str:
    """A native TIMESTAMP/DATE column as BIGINT seconds (naive timestamps are UTC; ±infinity → NULL)."""
    value = f"({sql})::TIMESTAMP" if kind(dtype) == "date" else sql
    return f"CASE WHEN isfinite({sql}) THEN floor(epoch({value}))::BIGINT END"


def iso_seconds(text_sql: str) -> str:
    """An ISO-8601 string as BIGINT seconds, offset-less = UTC; NULL when it is not a real date-time."""
    parts = f"regexp_extract({text_sql}, {quote_str(_ISO_LENIENT)}, ['d', 'hm', 's', 'sg', 'oh', 'om'])"
    local = (f"try_strptime({parts}.d || ' ' || coalesce(nullif({parts}.hm, ''), '00:00') || ':' "
             f"|| coalesce(nullif({parts}.s, ''), '00'), '%Y-%m-%d %H:%M:%S')")
    offset = (f"(CASE {parts}.sg WHEN '-' THEN -1 ELSE 1 END) * (coalesce(TRY_CAST(nullif({parts}.oh, '') AS INTEGER), 0)"
              f" * 3600 + coalesce(TRY_CAST(nullif({parts}.om, '') AS INTEGER), 0) * 60)")
    return f"(epoch({local})::BIGINT - {offset})"


def _epoch_number_seconds(number_sql: str) -> str:
    return (f"CASE WHEN isfinite(({number_sql})::DOUBLE) THEN (CASE WHEN abs(({number_sql})::DOUBLE) > {MS_THRESHOLD} "
            f"THEN floor(({number_sql})::DOUBLE / 1000) ELSE floor(({number_sql})::DOUBLE) END)::BIGINT END")


def _text_seconds(text_sql: str) -> str:
    return (f"CASE WHEN regexp_full_match({text_sql}, {quote_str(_EPOCH_DIGITS)}) "
            f"THEN {_epoch_number_seconds(f'TRY_CAST({text_sql} AS DOUBLE)')} ELSE {iso_seconds(text_sql)} END")


def seconds_sql(sql: str, dtype: duckdb.typing.DuckDBPyType | None) -> str:
    """A top-level `timestamp` / `device.last_used` as BIGINT Unix seconds, NULL when unparseable.

    Native values convert directly; ISO-8601 strings are parsed (no offset = UTC); numbers and digit
    strings are epoch seconds, or milliseconds when above 1e11.
    """
    k = kind(dtype)
    if k in NATIVE:
        return native_seconds(sql, dtype)
    if k in NUMERIC:
        return _epoch_number_seconds(sql)
    if k == "varchar":
        return _text_seconds(sql)
    if k == "json":
        return _text_seconds(f"json_extract_string({sql}, '$')")
    return "NULL::BIGINT"


def attribute_seconds(text_sql: str) -> str:
    """A string attribute as BIGINT seconds when it is a valid ISO-8601 date-time (strict), else NULL."""
    return f"CASE WHEN regexp_full_match({text_sql}, {quote_str(ISO_STRICT)}) THEN {iso_seconds(text_sql)} END"


def native_iso_text(sql: str, dtype: duckdb.typing.DuckDBPyType) -> str:
    """A native TIMESTAMP/DATE as ISO-8601 text in UTC (used when timestamp conversion is off)."""
    if kind(dtype) == "date":
        return f"strftime({sql}, '%Y-%m-%d')"
    return (f"CASE WHEN isfinite({sql}) THEN strftime(make_timestamp(epoch_us({sql})), '%Y-%m-%dT%H:%M:%S.%gZ') "
            f"ELSE ({sql})::VARCHAR END")
