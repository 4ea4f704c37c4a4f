"""Why a call fired no action: for each action, its trigger and the part that was false, judged by the same SQL."""

from __future__ import annotations

import json
from typing import Any

import duckdb

from cio_retl.actions.catalog import ACTIONS, Override
from cio_retl.actions.columns import CallSchema
from cio_retl.actions.triggers import Compare, Exists, Node, Not, parse, render, text_sql, to_sql


def _value(con: duckdb.DuckDBPyConnection, table: str, sql: str) -> Any:
    return con.execute(f"SELECT {sql} FROM {table}").fetchone()[0]


def _field(con: duckdb.DuckDBPyConnection, table: str, schema: CallSchema, path: str) -> str:
    """`type is "identify"`, or `event is absent`."""
    value = _value(con, table, text_sql(path, schema))
    return f"{path} is absent" if value is None else f"{path} is {json.dumps(value, ensure_ascii=False)}"


def false_part(con: duckdb.DuckDBPyConnection, table: str, schema: CallSchema, node: Node) -> tuple[str, str] | None:
    """(the smallest part of `node` that is false for the one call in `table`, why), or None when `node` is true."""
    if _value(con, table, to_sql(node, schema)):
        return None
    if isinstance(node, (Compare, Exists)):
        return render(node), _field(con, table, schema, node.path)
    if isinstance(node, Not):
        return render(node), f"{render(node.inner)} is true"
    if node.op == "and":
        return next(part for item in node.items if (part := false_part(con, table, schema, item)))
    reasons = [false_part(con, table, schema, item)[1] for item in node.items]
    return render(node), ", ".join(dict.fromkeys(reasons))  # every alternative is false, often for one reason


def trigger_report(con: duckdb.DuckDBPyConnection, table: str,
                   overrides: dict[str, Override]) -> list[dict[str, Any]]:
    """For every action, whether its trigger fires for the one call in `table`, and if not the part that was false
    (or that it is disabled): machine-readable, with a readable `explanation`."""
    schema = CallSchema.of(con.table(table))
    out: list[dict[str, Any]] = []
    for slug, action in ACTIONS.items():
        override = overrides.get(slug)
        if override is not None and not override.enabled:
            out.append({"action": slug, "fired": False, "disabled": True,
                        "explanation": f"{slug}: disabled (actions.{slug}.enabled)"})
            continue
        trigger = override.trigger if override and override.trigger else action.trigger
        part = false_part(con, table, schema, parse(trigger))
        if part is None:
            out.append({"action": slug, "fired": True, "trigger": trigger, "explanation": f"{slug}: fired"})
            continue
        false, because = part
        out.append({"action": slug, "fired": False, "trigger": trigger, "false": false, "because": because,
                    "explanation": f"{slug}: {false} was false ({because})"})
    return out


def explain_no_match(con: duckdb.DuckDBPyConnection, table: str,
                     overrides: dict[str, Override]) -> list[dict[str, Any]]:
    """For every action that did not take the call: its trigger and the part that was false, or that it is disabled."""
    return [{key: value for key, value in entry.items() if key != "fired"}
            for entry in trigger_report(con, table, overrides) if not entry["fired"]]
