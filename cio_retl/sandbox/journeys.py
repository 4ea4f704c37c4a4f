"""The sandbox's Journeys destination: Data Pipelines calls → Track API operations, by the default actions.

It is the same engine a Track API run uses (actions/): the received calls become a calls table, every action
with its default trigger and mapping is compiled against it, and the operations come out in delivery order.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from cio_retl import engine
from cio_retl.actions.apply import compile_enabled, select_sql
from cio_retl.actions.columns import CallSchema

CALL_FIELDS = ("type", "userId", "anonymousId", "groupId", "previousId", "event", "name", "messageId", "timestamp")
BAGS = ("traits", "properties", "context")


def _row(call: dict[str, Any], seq: int) -> dict[str, Any]:
    row: dict[str, Any] = {field: _text(call.get(field)) for field in CALL_FIELDS}
    for bag in BAGS:
        value = call.get(bag)
        if isinstance(value, dict) and value:
            row[bag] = value
    row.update(_key=str(seq), _hash=seq, _change="added", _seq=seq)
    return row


def _text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value)


def operations_for(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Track API operations the default Journeys actions make of these calls, in delivery order.

    Calls of one type and the same top-level traits/properties share a table (a table's STRUCT would give
    every call the others' fields, as nulls); a group whose values do not fit one Arrow type is taken one call
    at a time.
    """
    by_type: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for seq, call in enumerate(calls):
        row = _row(call, seq)
        shape = (str(call.get("type")), *(f"{bag}.{key}" for bag in BAGS for key in sorted(row.get(bag) or {})))
        by_type.setdefault(shape, []).append(row)
    found: list[tuple[int, int, dict[str, Any]]] = []
    for rows in by_type.values():
        try:
            found += _operations(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            for row in rows:
                found += _operations([row])
    return [op for _, _, op in sorted(found, key=lambda item: (item[0], item[1]))]


def _operations(rows: list[dict[str, Any]]) -> list[tuple[int, int, dict[str, Any]]]:
    con = engine.connect(":memory:")
    try:
        con.register("received", pa.Table.from_pylist(rows))
        con.execute("CREATE TEMP VIEW received_calls AS SELECT * FROM received")
        compiled = compile_enabled(CallSchema.of(con.table("received_calls")), sync_name="sandbox", overrides={},
                                   convert_timestamps=True)
        found = []
        for item in compiled:
            for seq, body in con.execute(f"SELECT _seq, body FROM ({select_sql(item, 'received_calls')}) "
                                         "WHERE reason IS NULL").fetchall():
                found.append((item.action.priority, seq, json.loads(body)))
        return found
    finally:
        con.close()
