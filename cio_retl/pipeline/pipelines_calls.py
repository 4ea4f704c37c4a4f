"""A calls view's rows as Data Pipelines (Segment-spec) JSON, in SQL: ISO-8601 timestamps, ids as text, event ids."""

from __future__ import annotations

import json

import duckdb

from cio_retl.actions.limits import MAX_ID_BYTES
from cio_retl.actions.ulid import event_id_sql
from cio_retl.rowhash import quote
from cio_retl.sqltext import quote_str

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TEMPORAL = ("TIMESTAMP", "DATE")
# Call fields sent as JSON strings when set; the rest of a call is traits, properties and context.
ID_FIELDS = ("userId", "anonymousId", "groupId", "previousId")
EVENT_TYPES = ("track", "page", "screen")


def _has_temporal(dtype: duckdb.typing.DuckDBPyType) -> bool:
    text = str(dtype)
    return any(word in text for word in _TEMPORAL)


def iso_sql(expr: str, dtype: duckdb.typing.DuckDBPyType) -> str:
    """`expr` with every timestamp or date inside it (structs, lists) turned into ISO-8601 text (UTC, `Z`)."""
    kind = dtype.id
    if kind in ("timestamp with time zone",):
        return f"strftime(timezone('UTC', {expr}), '{ISO_FORMAT}')"
    if kind.startswith("timestamp"):
        return f"strftime({expr}::TIMESTAMP, '{ISO_FORMAT}')"
    if kind == "date":
        return f"strftime({expr}, '%Y-%m-%d')"
    if kind == "struct" and _has_temporal(dtype):
        fields = ", ".join(f"{quote(name)} := {iso_sql(f'{expr}.{quote(name)}', child)}"
                           for name, child in dtype.children)
        return f"(CASE WHEN {expr} IS NOT NULL THEN struct_pack({fields}) END)"
    if kind == "list" and _has_temporal(dtype):
        child = dict(dtype.children)["child"]
        return f"list_transform({expr}, lambda _v: {iso_sql('_v', child)})"
    return expr


def _object_sql(expr: str, dtype: duckdb.typing.DuckDBPyType, *, skip_nulls: bool) -> str:
    """A STRUCT column as a JSON object; with `skip_nulls` its NULL fields are left out (else sent as null)."""
    if dtype.id != "struct":
        return f"to_json({iso_sql(expr, dtype)})::VARCHAR"
    pairs = []
    for name, child in dtype.children:
        value = f"to_json({iso_sql(f'{expr}.{quote(name)}', child)})::VARCHAR"
        if not skip_nulls:  # a NULL attribute is sent as null: Customer.io clears it (the sync's `nulls: clear`)
            value = f"coalesce({value}, 'null')"
        pairs.append(f"{quote_str(json.dumps(name) + ':')} || {value}")
    return f"(CASE WHEN {expr} IS NOT NULL THEN '{{' || concat_ws(',', {', '.join(pairs)}) || '}}' END)"


def _timestamp_sql(dtype: duckdb.typing.DuckDBPyType) -> str:
    """The call's `timestamp` as ISO-8601 text, whatever the model column's type (epoch seconds too)."""
    kind = dtype.id
    if kind in ("bigint", "integer", "hugeint", "ubigint", "uinteger", "double", "decimal", "float"):
        return f"strftime(to_timestamp({quote('timestamp')}::DOUBLE)::TIMESTAMP, '{ISO_FORMAT}')"
    if kind.startswith("timestamp") or kind == "date":
        return iso_sql(quote("timestamp"), dtype)
    return f"CAST({quote('timestamp')} AS VARCHAR)"


def call_json_sql(types: dict[str, duckdb.typing.DuckDBPyType], *, sync_sql: str, skip_nulls: bool) -> str:
    """SQL of one call as compact JSON, over a calls view with these column types.

    Events from track/page/screen syncs carry a `messageId`: the model's, or the same ULID the Track API path sends
    as the event's `id` (derived from the sync and the key), so Customer.io de-duplicates a re-sent event. Other
    calls carry none: a fixed messageId on an identify or a delete would make a later one look like a duplicate.
    """
    pieces = ["'\"type\":' || to_json(type)::VARCHAR"]
    for name in ID_FIELDS:
        pieces.append(f"'\"{name}\":' || to_json({quote(name)})::VARCHAR")
    pieces.append("'\"event\":' || to_json(event)::VARCHAR")
    pieces.append("'\"name\":' || to_json(name)::VARCHAR")
    deletes = "event IN ('User Deleted', 'Object Deleted', 'Relationship Deleted')"
    message = event_id_sql(quote("messageId"), sync_sql, "_key")
    pieces.append(f"CASE WHEN type IN {EVENT_TYPES} AND NOT coalesce({deletes}, false) "
                  f"THEN '\"messageId\":' || to_json({message})::VARCHAR END")
    pieces.append(f"'\"timestamp\":' || to_json({_timestamp_sql(types['timestamp'])})::VARCHAR")
    for bag in ("traits", "properties", "context"):
        if bag in types:
            pieces.append(f"'\"{bag}\":' || {_object_sql(quote(bag), types[bag], skip_nulls=skip_nulls and bag != 'context')}")
    return "'{' || concat_ws(',', " + ", ".join(pieces) + ") || '}'"


def call_problem_sql(types: dict[str, duckdb.typing.DuckDBPyType]) -> str:
    """SQL of why a call cannot be sent (NULL when it can): Customer.io needs someone to attach it to."""
    person = "coalesce(userId, anonymousId) IS NULL"
    traits = dict(types["traits"].children) if "traits" in types and types["traits"].id == "struct" else {}
    email_missing = f"{quote('traits')}.email IS NULL" if "email" in traits else "TRUE"
    checks = [(f"{person} AND type = 'identify' AND {email_missing}",
               "'no identifier: the row has no user_id, anonymous_id or email'"),
              (f"{person} AND type IN ('track', 'page', 'screen') AND event IS DISTINCT FROM 'Object Deleted'",
               "'no identifier: the row has no user_id or anonymous_id'"),
              ("type = 'group' AND groupId IS NULL", "'no group_id'"),
              ("type = 'alias' AND (userId IS NULL OR previousId IS NULL)", "'alias needs user_id and previous_id'")]
    checks += [(f"strlen({quote(f)}) > {MAX_ID_BYTES}",
                f"'{f} is ' || strlen({quote(f)}) || ' bytes (limit {MAX_ID_BYTES}): shorten it'") for f in ID_FIELDS]
    return "CASE " + " ".join(f"WHEN {cond} THEN {why}" for cond, why in checks) + " END"

