"""Triggers: parser errors point at the column; the Python evaluator and the SQL compiler agree."""

from __future__ import annotations

import json

import duckdb
import pytest

from cio_retl.actions.catalog import ACTIONS
from cio_retl.actions.columns import CallSchema
from cio_retl.actions.tester import load_event
from cio_retl.actions.triggers import evaluate, parse, paths, to_sql
from cio_retl.errors import ActionError


@pytest.mark.parametrize(("text", "column"), [
    ('type = ', 8), ('type == "x"', 7), ('foo = "x"', 1), ('(type = "x"', 12), ('type = "x" event', 12),
    ('type = "x" and', 15), ('type ~ "x"', 6),
])
def test_syntax_errors_name_the_column(text: str, column: int) -> None:
    with pytest.raises(ActionError, match=f"column {column}:"):
        parse(text)


def test_every_default_trigger_parses() -> None:
    for action in ACTIONS.values():
        assert paths(parse(action.trigger))


def test_curly_quotes_from_the_docs_are_accepted() -> None:
    assert evaluate(parse("type = “identify”"), {"type": "identify"})


EVENTS = [
    {"type": "track", "event": "Order", "properties": {"plan": "pro", "n": 2, "ok": True}},
    {"type": "track", "event": "User Deleted", "userId": "u"},
    {"type": "identify", "userId": "u", "traits": {"plan": "free", "address": {"city": "Paris"}}},
    {"type": "page", "name": "home", "properties": {"url": "x"}},
]
TRIGGERS = [
    'type = "track"', 'event != "User Deleted"', 'not (type = "track" or type = "page")',
    'properties.plan = "pro" and properties.n = "2"', 'properties.ok = "true"', 'traits.address.city = "Paris"',
    'userId exists', 'not traits.plan exists', 'traits.missing != "x"', 'context.device.token exists',
    'type = "identify" and (traits.plan = "free" or traits.plan = "pro")',
] + [a.trigger for a in ACTIONS.values()]


@pytest.mark.parametrize("event", EVENTS, ids=[json.dumps(e)[:40] for e in EVENTS])
def test_python_and_sql_agree(event: dict) -> None:
    con = duckdb.connect()
    load_event(con, event)
    schema = CallSchema.of(con.table("calls"))
    for trigger in TRIGGERS:
        node = parse(trigger)
        in_sql = con.execute(f"SELECT {to_sql(node, schema)} FROM calls").fetchone()[0]
        assert in_sql is evaluate(node, event), trigger


def test_default_triggers_route_each_call_to_one_action() -> None:
    expected = {"identify": "createUpdatePerson", "group": "createUpdateObject", "page": "trackPageView",
                "screen": "trackScreenView", "alias": "mergePeople"}
    for call_type, slug in expected.items():
        assert [a.slug for a in ACTIONS.values() if evaluate(parse(a.trigger), {"type": call_type})] == [slug]
    semantic = {"User Deleted": "deletePerson", "Device Deleted": "deleteDevice", "Order": "trackEvent",
                "Application Opened": "createUpdateDevice", "Report Content Event": "reportContentEvent"}
    for name, slug in semantic.items():
        assert [a.slug for a in ACTIONS.values() if evaluate(parse(a.trigger), {"type": "track", "event": name})] == [slug]
