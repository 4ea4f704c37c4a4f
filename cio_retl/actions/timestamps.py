"""Timestamps as DuckDB SQL: ISO-8601 / native / epoch values → integer Unix seconds, whole columns at once."""

from __future__ import annotations

import duckdb

from cio_retl.actions.columns import kind
from cio_retl.sqltext import quote_str

# The reference's isIsoDate pattern (notes §3.6): capital T, optional seconds, 1-9 fraction digits, Z/±hh:mm/±hhmm.
ISO_STRICT = r"^\d{4}-\d{2}-\d{2}((T\d{2}:\d{2}(:\d{2})?)(\.\d{1,9})?(Z|(\+|-)\d{2}:?\d{2})?)?$"
# What a top-level timestamp may look like: also a space or lowercase t, a comma fraction, lowercase z.
_ISO_LENIENT = (r"^\s*(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}:\d{2})(?::(\d{2}))?(?:[.,]\d+)?)?"
                r"\s*(?:[Zz]|([+-])(\d{2}):?(\d{2})?)?\s*$")
_HAS_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"
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
    """A string attribute as BIGINT seconds when it is a valid ISO-8601 date-time (strict), else NULL.

    The strict shape is one DuckDB's casts read: with an offset as TIMESTAMPTZ, without one as a naive
    TIMESTAMP (so UTC, whatever the session's zone). Casts, not strptime/regexp_extract: they stay fast
    inside the lambdas of `json_attribute_text`.
    """
    zoned = f"floor(epoch(TRY_CAST({text_sql} AS TIMESTAMPTZ)))"
    naive = f"floor(epoch(TRY_CAST({text_sql} AS TIMESTAMP)))"
    return (f"(CASE WHEN regexp_full_match({text_sql}, {quote_str(ISO_STRICT)}) THEN (CASE WHEN "
            f"regexp_matches({text_sql}, {quote_str(_HAS_OFFSET)}) THEN {zoned} ELSE {naive} END)::BIGINT END)")


# JSON text split at its quotes, once escaped backslashes and quotes are set aside: the odd pieces lie outside
# strings, the even ones are the strings' contents. (U+0001/U+0002 never occur raw in JSON text.)
_ESCAPED = ((r"\\", "chr(1)"), (r"\"", "chr(2)"))
_MEMBER_VALUE = r":\s*$"  # the piece before a string ends with ':': the string is an object member's value
_MAY_HOLD_DATE = r'"\d{4}-\d{2}-\d{2}'


def _brackets(piece: str) -> str:
    """How many '[' a piece of JSON text (outside strings) opens, minus the ']' it closes."""
    return f"(length(replace({piece}, ']', '')) - length(replace({piece}, '[', '')))"


def _walk(hidden: str, lists: bool) -> str:
    """SQL rebuilding split JSON text with its objects' ISO strings converted; `lists`: track '[' depth too.

    Each piece is zipped with the piece before it (and the depth before it as a letter, 'A' = 0) rather than
    read through a lambda capturing the list, which DuckDB copies for every element.
    """
    deltas = f"list_transform(_p, lambda _x, _i: CASE WHEN _i % 2 = 1 THEN {_brackets('_x')} ELSE 0 END)"
    depths = f"string_split(list_reduce({deltas}, lambda _a, _d: _a || chr((ascii(right(_a, 1)) + _d)::INTEGER), 'A'), '')"
    zipped = f"list_zip(_p, list_prepend('', _p){', ' + depths if lists else ''}, true)"
    quoted = "'\"' || _e[1] || '\"'"
    outside = f"NOT regexp_matches(_e[2], {quote_str(_MEMBER_VALUE)})" + (" OR _e[3] <> 'A'" if lists else "")
    # Nested WHENs, not AND: DuckDB evaluates a WHEN branch only for the elements that reach it.
    piece = (f"CASE WHEN _i % 2 = 1 THEN _e[1] WHEN NOT regexp_full_match(_e[1], {quote_str(ISO_STRICT)}) THEN {quoted} "
             f"WHEN {outside} THEN {quoted} ELSE coalesce(({attribute_seconds('_e[1]')})::VARCHAR, {quoted}) END")
    walk = (f"list_transform([string_split({hidden}, '\"')], "
            f"lambda _p: array_to_string(list_transform({zipped}, lambda _e, _i: {piece}), ''))[1]")
    for escape, mark in reversed(_ESCAPED):
        walk = f"replace({walk}, {mark}, {quote_str(escape)})"
    return walk


def json_attribute_text(json_sql: str) -> str:
    """A JSON value's text with the strict ISO-8601 strings of its objects as Unix seconds, at any depth.

    Lists are not entered (nor objects inside them), as the reference does. Done on the text, vectorised:
    a string is converted when it is an object member's value (the text before it ends with ':') and no '['
    outside strings is open before it. A JSON string at the top is an attribute value itself and converts
    like a VARCHAR. Text with nothing date-like is returned as it is, text without '[' skips the depth count.
    """
    text = f"({json_sql})::VARCHAR"
    hidden = text
    for escape, mark in _ESCAPED:
        hidden = f"replace({hidden}, {quote_str(escape)}, {mark})"
    top = attribute_seconds(f"json_extract_string({json_sql}, '$')")
    return (f"(CASE WHEN NOT coalesce(regexp_matches({text}, {quote_str(_MAY_HOLD_DATE)}), false) THEN {text} "
            f"WHEN json_type({json_sql}) = 'VARCHAR' THEN coalesce(({top})::VARCHAR, {text}) "
            f"WHEN NOT contains({text}, '[') THEN {_walk(hidden, False)} ELSE {_walk(hidden, True)} END)")


def native_iso_text(sql: str, dtype: duckdb.typing.DuckDBPyType) -> str:
    """A native TIMESTAMP/DATE as ISO-8601 text in UTC (used when timestamp conversion is off)."""
    if kind(dtype) == "date":
        return f"strftime({sql}, '%Y-%m-%d')"
    return (f"CASE WHEN isfinite({sql}) THEN strftime(make_timestamp(epoch_us({sql})), '%Y-%m-%dT%H:%M:%S.%gZ') "
            f"ELSE ({sql})::VARCHAR END")
