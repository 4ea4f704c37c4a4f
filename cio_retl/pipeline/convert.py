"""Stage 3, convert: changed rows → Segment-spec calls, removals → User/Object/Relationship Deleted calls (SQL)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from cio_retl.actions.apply import attribute_nulls, compile_enabled
from cio_retl.actions.columns import CallSchema
from cio_retl.project import ActionOverride, Sync
from cio_retl.rowhash import quote
from cio_retl.state import IDENTITY_COLUMNS

# Model columns that become call fields instead of traits/properties, per call type.
CALL_FIELDS: dict[str, dict[str, str]] = {
    "identify": {"user_id": "userId", "anonymous_id": "anonymousId", "timestamp": "timestamp", "message_id": "messageId"},
    "group": {"group_id": "groupId", "user_id": "userId", "anonymous_id": "anonymousId", "timestamp": "timestamp",
              "message_id": "messageId"},
    "track": {"user_id": "userId", "anonymous_id": "anonymousId", "event": "event", "timestamp": "timestamp",
              "message_id": "messageId"},
    "page": {"user_id": "userId", "anonymous_id": "anonymousId", "name": "name", "timestamp": "timestamp",
             "message_id": "messageId"},
    "screen": {"user_id": "userId", "anonymous_id": "anonymousId", "name": "name", "timestamp": "timestamp",
               "message_id": "messageId"},
    "alias": {"user_id": "userId", "previous_id": "previousId", "timestamp": "timestamp", "message_id": "messageId"},
    "segment": {},  # a member is its key (`_key`); other columns only travel in the report's sample calls
}
# Group columns renamed inside traits, to the names the Journeys actions read.
GROUP_TRAIT_NAMES = {"relationship_attributes": "relationshipAttributes"}
# Columns of the calls views that are not call fields: what the write-ahead keeps of each row for its delete.
IDENT_PREFIX = "_ident_"
ID_FIELDS = ("userId", "anonymousId", "groupId", "previousId", "messageId")
TEXT_FIELDS = ("event", "name")


def _literal(text: str | None) -> str:
    return "NULL::VARCHAR" if text is None else "'" + text.replace("'", "''") + "'"


def _text(column: str, schema: pa.Schema) -> str:
    """A column as text for an id or a name: a JSON string without its quotes, a JSON null as NULL (not "null")."""
    if schema.field(column).type == pa.json_():
        return f"json_extract_string({quote(column)}, '$')"
    return f"CAST({quote(column)} AS VARCHAR)"


def _struct(columns: list[tuple[str, str]]) -> str:
    """struct_pack of (field name, SQL expression) pairs; callers drop the column when there are none."""
    return "struct_pack(" + ", ".join(f"{quote(name)} := {expr}" for name, expr in columns) + ")"


def call_select(sync: Sync, schema: pa.Schema) -> str:
    """The SELECT list that turns a `changes` row into a call, for the sync's type."""
    fields = CALL_FIELDS[sync.type]
    consumed = {column: field for column, field in fields.items() if column in schema.names}
    select = [f"'{sync.type}' AS type"]
    for field in ID_FIELDS + TEXT_FIELDS:
        column = next((c for c, f in consumed.items() if f == field), None)
        if column is not None:
            select.append(f"{_text(column, schema)} AS {quote(field)}")
        elif field == "event" and sync.type == "track":
            select.append(f"{_literal(sync.event)} AS event")
        else:
            select.append(f"NULL::VARCHAR AS {quote(field)}")
    select.append(f"{quote('timestamp')} AS {quote('timestamp')}" if "timestamp" in consumed
                  else f"NULL::TIMESTAMPTZ AS {quote('timestamp')}")
    rest = [name for name in schema.names if name not in consumed and name != "context"]
    bag = "traits" if sync.type in ("identify", "group", "alias") else "properties"
    if sync.type == "group":
        pairs = [(GROUP_TRAIT_NAMES.get(n, n), _text(n, schema) if n == "object_type_id" else quote(n))
                 for n in rest]
    else:
        pairs = [(n, quote(n)) for n in rest]
    if pairs:
        select.append(f"{_struct(pairs)} AS {bag}")
    if "context" in schema.names:
        select.append("context")
    return ", ".join(select)


def attribute_columns(sync: Sync, schema: pa.Schema) -> list[str]:
    """The model columns sent as person or object attributes (identify and group syncs), in model order."""
    if sync.type not in ("identify", "group"):
        return []
    consumed = set(CALL_FIELDS[sync.type]) | {"context", "object_type_id", "relationship_attributes"}
    return [name for name in schema.names if name not in consumed]


def build_calls(con: duckdb.DuckDBPyConnection, sync: Sync, schema: pa.Schema, *, sync_name: str,
                overrides: dict[str, ActionOverride], removed_from: int, known: list[str] | None = None) -> list[str]:
    """Define TEMP views `calls` over `changes`, `delete_calls` over `removed` (mirror mode), `unsent_calls`; return
    the person/object attribute names the operations send (those known when compiling).

    Views, not tables: the calls are read chunk by chunk by the actions, and materialising millions of STRUCT
    rows would only cost memory. `_seq` is a row's id in the run (a stage row's rowid; removals are numbered
    from `removed_from`); `_ident_*` columns carry what a later delete of the row will need, `_nulls` the
    attributes Customer.io will hold no value for once the row is accepted — as the compiled actions write them:
    a NULL column, a literal null, whatever column a mapping reads (kept in the snapshot, for the clear guard).
    With `known` (the attribute names of the last run; `changes` from compute_diff, carrying `_sent_nulls`), what
    is not sent keeps the snapshot's word: under `nulls: skip` a NULL attribute is left out, so Customer.io keeps
    whatever it held; an append-mode change is not sent at all.
    """
    idents = ", ".join(f"{_text(c, schema)} AS {IDENT_PREFIX}{c}" if c in schema.names
                       else f"NULL::VARCHAR AS {IDENT_PREFIX}{c}" for c in IDENTITY_COLUMNS)
    carried = ", _sent_nulls" if known is not None else ""
    inner = f"SELECT _key, _hash, _change, _seq, {call_select(sync, schema)}, {idents}{carried} FROM changes"
    con.execute(f"CREATE OR REPLACE TEMP VIEW calls AS SELECT *, NULL::VARCHAR[] AS _nulls FROM ({inner})")
    nulls, names = "NULL::VARCHAR[]", []
    if sync.type in ("identify", "group"):  # the calls that set attributes
        compiled = compile_enabled(CallSchema.of(con.table("calls")), sync_name=sync_name, overrides=overrides,
                                   convert_timestamps=sync.convert_timestamps, skip_nulls=sync.nulls == "skip")
        nulls, names = attribute_nulls(compiled)
    unsent = "NULL::VARCHAR[]"
    if known is not None:
        unsent = "_sent_nulls"
        if sync.nulls == "skip" and names:
            new = ", ".join(_literal(n) for n in names if n not in known) or "NULL"
            unheld_before = f"list_contains(coalesce(_sent_nulls, []), _c) OR list_contains([{new}], _c)"
            nulls = (f"CASE WHEN _change = 'added' THEN {nulls} ELSE list_filter({nulls}, lambda _c: {unheld_before}) "
                     "END")
    exclude = " EXCLUDE (_sent_nulls)" if carried else ""
    con.execute(f"CREATE OR REPLACE TEMP VIEW calls AS SELECT *{exclude}, {nulls} AS _nulls FROM ({inner})")
    con.execute(f"CREATE OR REPLACE TEMP VIEW unsent_calls AS SELECT _key, _hash, _seq, {idents}, {unsent} AS _nulls "
                "FROM unsent")
    con.execute("CREATE OR REPLACE TEMP VIEW delete_calls AS " + _delete_calls_sql(sync, removed_from))
    return names


def _delete_calls_sql(sync: Sync, removed_from: int) -> str:
    """Deletes are built from the snapshot's identity columns, since the rows are gone from the warehouse."""
    base = (f"SELECT _key, _hash, 'removed' AS _change, {int(removed_from)} + row_number() OVER (ORDER BY _key) - 1 "
            f"AS _seq, 'track' AS type")
    ids = "NULL::VARCHAR AS groupId, NULL::VARCHAR AS previousId, NULL::VARCHAR AS messageId, NULL::VARCHAR AS name"
    idents = ", ".join(f"{c} AS {IDENT_PREFIX}{c}" for c in IDENTITY_COLUMNS)
    when = f", {idents}, NULL::VARCHAR[] AS _nulls FROM removed"  # empty unless the sync mirrors (diff.compute_diff)
    if sync.type == "segment":  # a member who left: removed from the segment (pipeline/direct.py), not deleted
        segment_base = base.replace("'track' AS type", "'segment' AS type")
        return (f"{segment_base}, NULL::VARCHAR AS event, "
                f"NULL::VARCHAR AS userId, NULL::VARCHAR AS anonymousId, {ids}, NULL::TIMESTAMPTZ AS timestamp{when}")
    if sync.type == "group":
        # A row with a person (identified or anonymous) was a relationship: only the relationship goes.
        return (f"{base}, CASE WHEN user_id IS NULL AND anonymous_id IS NULL THEN 'Object Deleted' "
                f"ELSE 'Relationship Deleted' END AS event, "
                f"user_id AS userId, anonymous_id AS anonymousId, {ids}, NULL::TIMESTAMPTZ AS timestamp, "
                f"struct_pack(objectId := group_id, object_type_id := coalesce(object_type_id, '1')) AS properties{when}")
    return (f"{base}, 'User Deleted' AS event, coalesce(user_id, email) AS userId, anonymous_id AS anonymousId, "
            f"{ids}, NULL::TIMESTAMPTZ AS timestamp{when}")
