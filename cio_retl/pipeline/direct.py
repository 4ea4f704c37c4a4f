"""Operations that need no Journeys action here: a segment sync's members, and calls sent as-is to Data Pipelines.

Both ride the same machinery as the Track API path (pipeline/writeahead.py): each row is written ahead with
one operation (`n_ops` 1), its operation streams as (op_id, priority, endpoint, action, body, reason), delivery
packs it by its endpoint (delivery/endpoints.py), and settle gives every row its fate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from cio_retl.actions.limits import MAX_ID_BYTES
from cio_retl.delivery.endpoints import endpoint_for, segment_endpoint_name
from cio_retl.pipeline.pipelines_calls import call_json_sql, call_problem_sql
from cio_retl.pipeline.writeahead import HANDLER, Operations, CallsTable
from cio_retl.project import Project, Sync
from cio_retl.project.syncs import SEGMENT_MEMBER_ID_TYPES
from cio_retl.sqltext import quote_str
from cio_retl.state.schema import SEGMENT_SLOT, action_of_op_sql, op_id_of_slot_sql, slot_of
from cio_retl.state.wal import RunLog

# Delivery order, as for the Track API: objects, people, relationships, events, then deletes.
_PRIORITY = {"group": 0, "identify": 1, "alias": 4, "track": 3, "page": 3, "screen": 3}


@dataclass(frozen=True)
class _Kind:
    """What Operations reads of an action: its name, priority and endpoint."""

    slug: str
    priority: int
    endpoint: str


@dataclass(frozen=True)
class DirectItem:
    """One operation per row of a calls view: its slot (naming it in outcomes), body and local refusal, as SQL."""

    action: _Kind
    slot_sql: str
    body_sql: str
    reason_sql: str
    trigger_sql: str = "TRUE"
    named_by_slot: bool = True  # the `action` column: the slot's name, else the kind's slug


class DirectOperations(Operations):
    """Operations built from DirectItems instead of compiled Journeys actions; written ahead and streamed alike."""

    @staticmethod
    def _operations_sql(table: CallsTable, actions: list, lo: int, hi: int) -> str:  # type: ignore[override]
        source = f"(SELECT * FROM {table.name} WHERE _seq >= {lo} AND _seq < {hi})"
        return " UNION ALL ".join(
            f"SELECT op_id, {item.action.priority} AS priority, {quote_str(item.action.endpoint)} AS endpoint, "
            f"{action_of_op_sql('op_id') if item.named_by_slot else quote_str(item.action.slug)} "
            f"AS action, body, reason FROM ("
            f"SELECT {op_id_of_slot_sql('_seq', item.slot_sql)} AS op_id, {item.body_sql} AS body, "
            f"{item.reason_sql} AS reason FROM {source} WHERE {item.trigger_sql})" for item in actions)


def uses_direct_operations(project: Project, sync: Sync) -> bool:
    """True when a sync's operations come from here, not from the Journeys actions."""
    return sync.type == "segment" or project.destination.api == "pipelines"


def plan_direct_operations(con: duckdb.DuckDBPyConnection, project: Project, *, sync_name: str, sync: Sync,
                           run_id: str, config_hash: str, log: RunLog | None = None) -> DirectOperations:
    """One operation per call of both views: a segment membership change, or the call itself for Data Pipelines."""
    items = _segment_items(sync) if sync.type == "segment" else _pipelines_items(con, sync_name, sync)
    tables, by_action = [], {}
    for name, item in zip(("calls", "delete_calls"), items):
        label = "type" if name == "calls" else "event"
        counts = dict(con.execute(f"SELECT {label}, count(*) FROM {name} GROUP BY ALL").fetchall())
        n, low, high = con.execute(f"SELECT count(*), min(_seq), max(_seq) FROM {name}").fetchall()[0]
        for what, count in counts.items():
            key = item.action.slug if sync.type == "segment" else f"{what} call"
            by_action[key] = by_action.get(key, 0) + count
        tables.append(CallsTable(name, [item] if n else [], (n, low if n else 0, high if n else -1),
                                  "every row of this sync has one operation"))
    warnings = pipelines_notes(project) if sync.type != "segment" else []
    return DirectOperations(con, tables, run_id, config_hash, log, dict(sorted(by_action.items())), warnings)


def pipelines_notes(project: Project) -> list[str]:
    """What `validate` and a run say when a Data Pipelines project sets `actions:` (they cannot apply there)."""
    if project.destination.api != "pipelines" or not project.actions:
        return []
    return [f"actions ({', '.join(sorted(project.actions))}) do not apply with destination api: pipelines: "
            "Customer.io applies the actions of its Journeys destination, configured in its Data Pipelines UI; "
            "remove them from the project file, or set them there"]


def _segment_items(sync: Sync) -> tuple[DirectItem, DirectItem]:
    """add_customers for the model's members (`calls`), remove_customers for those who left (`delete_calls`)."""
    id_type = SEGMENT_MEMBER_ID_TYPES[sync.key_columns[0]]
    reason = (f"CASE WHEN _key = '' THEN 'empty {id_type}: the member column is empty' "
              f"WHEN strlen(_key) > {MAX_ID_BYTES} THEN '{id_type} is ' || strlen(_key) || "
              f"' bytes (limit {MAX_ID_BYTES}): Customer.io has no such person' END")
    items = []
    for verb, priority in (("add", 3), ("remove", 4)):
        kind = _Kind(f"{verb}ToSegment" if verb == "add" else "removeFromSegment", priority,
                     segment_endpoint_name(sync.segment_id or 0, verb, id_type))
        items.append(DirectItem(kind, str(SEGMENT_SLOT), "to_json(_key)::VARCHAR", reason, named_by_slot=False))
    return items[0], items[1]


def _pipelines_items(con: duckdb.DuckDBPyConnection, sync_name: str, sync: Sync) -> tuple[DirectItem, DirectItem]:
    """Each call as Segment-spec JSON for /v1/batch; its slot is the Journeys action Customer.io applies by default."""
    items = []
    for name in ("calls", "delete_calls"):
        relation = con.table(name)
        types = dict(zip(relation.columns, relation.types))
        body = call_json_sql(types, sync_sql=quote_str(sync_name), skip_nulls=sync.nulls == "skip")
        if name == "calls":
            slot, priority = str(slot_of(HANDLER[sync.type])), _PRIORITY[sync.type]
        else:
            slot = (f"CASE event WHEN 'Object Deleted' THEN {slot_of('deleteObject')} "
                    f"WHEN 'Relationship Deleted' THEN {slot_of('deleteRelationship')} ELSE {slot_of('deletePerson')} END")
            priority = 4
        items.append(DirectItem(_Kind("pipelines", priority, "pipelines"), slot, body, call_problem_sql(types)))
    return items[0], items[1]


def explain_direct(con: duckdb.DuckDBPyConnection, project: Project, sync_name: str, sync: Sync) -> list[dict]:
    """`explain`'s entry for a row's call in the `calls` view: the one operation a run sends for it, where to."""
    item = (_segment_items(sync) if sync.type == "segment" else _pipelines_items(con, sync_name, sync))[0]
    rows = con.execute(f"SELECT {item.body_sql} AS body, {item.reason_sql} AS reason FROM calls "
                       f"WHERE {item.trigger_sql}").fetchall()
    if not rows:
        return []
    body, reason = rows[0]
    path = endpoint_for(item.action.endpoint).path
    label = item.action.slug if sync.type == "segment" else f"Data Pipelines {path}"
    return [{"action": label, "fired": True, "endpoint": path, "operation": json.loads(body) if body else None,
             "refused_locally": reason}]
