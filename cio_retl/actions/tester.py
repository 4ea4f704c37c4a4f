"""The Data Out Tester: one Segment-spec event in, the operations the matching actions would send out.

It loads the event into a one-row calls table and runs the very SQL that bulk syncs run, so what the tester
prints is byte-for-byte what a sync would send for the same call.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from cio_retl import engine
from cio_retl.actions.apply import compile_action, compile_enabled, select_sql
from cio_retl.actions.catalog import ACTIONS, Override
from cio_retl.actions.columns import CallSchema
from cio_retl.actions.explain import explain_no_match
from cio_retl.actions.schema import operation_problems
from cio_retl.actions.endpoints import ENTITY_PATH, METRICS_PATH, TRACK_HOSTS
from cio_retl.errors import ActionError
from cio_retl.sqltext import quote_ident, quote_str
from cio_retl.suggest import did_you_mean

ID_FIELDS = ("userId", "anonymousId", "groupId", "previousId", "messageId", "event", "name", "type")
TEST_SYNC = "test-action"


def load_event(con: duckdb.DuckDBPyConnection, event: dict[str, Any], table: str = "calls") -> None:
    """Create a one-row calls table from a Segment-spec event, typed the way DuckDB reads its JSON."""
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ActionError('the event must be a JSON object with a "type" (identify, track, page, screen, group, alias)')
    text = json.dumps(event)
    structure = con.execute("SELECT json_structure(?::JSON)::VARCHAR", [text]).fetchone()[0]
    columns = []
    for key in event:
        if key.startswith("_"):
            continue
        value = f"e.{quote_ident(key)}"
        if key in ID_FIELDS:  # ids are always text, whatever JSON type they came as; a JSON null is no id at all
            value = f"json_extract_string(j, {quote_str('$.' + json.dumps(key))})"
        columns.append(f"{value} AS {quote_ident(key)}")
    key = str(event.get("messageId") or "test")
    try:
        _create(con, table, key, text, structure, columns)
    except duckdb.Error as exc:  # e.g. keys differing only in case: DuckDB field names are case-insensitive
        raise ActionError(f"the event cannot be loaded: {exc}",
                          hint="keys that differ only in case (email/Email) cannot both be used") from exc


def _create(con: duckdb.DuckDBPyConnection, table: str, key: str, text: str, structure: str, columns: list[str]) -> None:
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {quote_str(key)} AS _key, md5({quote_str(text)}) AS _hash, "
        f"'added' AS _change, 0::BIGINT AS _seq, {', '.join(columns)} "
        f"FROM (SELECT j, json_transform(j, {quote_str(structure)}) AS e FROM (SELECT {quote_str(text)}::JSON AS j))")


def _url(endpoint: str, region: str, base_url: str | None) -> str:
    base = (base_url or TRACK_HOSTS[region]).rstrip("/")
    return base + (METRICS_PATH if endpoint == "metrics" else ENTITY_PATH)


def simulate(event: dict[str, Any], *, action: str | None = None, mapping: dict[str, Any] | None = None,
               overrides: dict[str, Override] | None = None, region: str = "us",
               base_url: str | None = None) -> list[dict[str, Any]]:
    """The requests the event produces: [{action, method, url, body}]; ActionError when one is rejected."""
    con = engine.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        load_event(con, event)
        schema = CallSchema.of(con.table("calls"))
        overrides = overrides or {}
        if action:
            if action not in ACTIONS:
                raise ActionError(f"no action named {action!r}{did_you_mean(action, ACTIONS, listing='actions are')}")
            compiled = [compile_action(ACTIONS[action], schema, sync_name=TEST_SYNC, convert_timestamps=True,
                                       override=overrides.get(action), mapping=mapping)]
            compiled = [type(c)(c.action, "true", c.plan) for c in compiled]  # --action runs whatever the trigger
        else:
            compiled = compile_enabled(schema, sync_name=TEST_SYNC, overrides=overrides, convert_timestamps=True)
        requests = []
        for item in compiled:
            for body, reason in con.execute(f"SELECT body, reason FROM ({select_sql(item, 'calls')})").fetchall():
                if reason:
                    raise ActionError(f"{item.action.slug}: {reason}")
                parsed = json.loads(body)
                _check(item.action.slug, parsed, item.action.endpoint)
                requests.append({"action": item.action.slug, "method": "POST",
                                 "url": _url(item.action.endpoint, region, base_url), "body": parsed})
        return requests
    finally:
        con.close()


def why_no_action(event: dict[str, Any], *, overrides: dict[str, Override] | None = None) -> list[dict[str, Any]]:
    """For an event no action takes: each action's trigger and the part that was false for it."""
    con = engine.connect()
    try:
        load_event(con, event)
        return explain_no_match(con, "calls", overrides or {})
    finally:
        con.close()


def _check(slug: str, body: dict[str, Any], endpoint: str) -> None:
    problems = operation_problems(body, endpoint)
    if problems:
        raise ActionError(f"{slug}: the operation does not fit the Track API: {'; '.join(problems)}",
                          hint=f"check the mapping of {slug} (cio-retl test-action --action {slug} --mapping FILE)")
