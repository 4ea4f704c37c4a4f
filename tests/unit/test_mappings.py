"""Mapping expressions compiled to SQL: literals, @path, @template, @if, @coalesce, nested objects."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest

from cio_retl.actions.columns import CallSchema
from cio_retl.actions.mappings import compile_expr, expr_paths
from cio_retl.actions.render import json_text
from cio_retl.actions.tester import load_event
from cio_retl.errors import ActionError

EVENT = {"type": "identify", "userId": "u1", "traits": {"email": "a@b.co", "first_name": "Ann", "n": 3,
                                                         "createdAt": "2024-01-02"}}


def value(expr: Any, event: dict = EVENT, convert: bool = False) -> Any:
    con = duckdb.connect()
    load_event(con, event)
    sql = json_text(compile_expr(expr, CallSchema.of(con.table("calls"))), convert)
    text = con.execute(f"SELECT {sql} FROM calls").fetchone()[0]
    return None if text is None else json.loads(text)


@pytest.mark.parametrize(("expr", "expected"), [
    ("literal", "literal"), (7, 7), (True, True), (None, None), ([1, "a"], [1, "a"]),
    ({"@path": "$.traits.email"}, "a@b.co"),
    ({"@path": "$.traits.Email"}, None),                      # paths are case-sensitive
    ({"@path": "$.traits.nope"}, None),
    ({"@path": "$.traits"}, EVENT["traits"]),
    ({"@template": "{{traits.first_name}} <{{traits.email}}> #{{traits.n}}{{traits.nope}}"}, "Ann <a@b.co> #3"),
    ({"@if": {"exists": {"@path": "$.traits.created_at"}, "then": {"@path": "$.traits.created_at"},
              "else": {"@path": "$.traits.createdAt"}}}, "2024-01-02"),
    ({"@if": {"exists": {"@path": "$.traits.email"}, "then": "has", "else": 0}}, "has"),
    ({"@coalesce": [{"@path": "$.traits.nope"}, {"@path": "$.traits.n"}, "fallback"]}, 3),
    ({"@coalesce": [{"@path": "$.traits.nope"}, "fallback"]}, "fallback"),
    ({"name": {"@path": "$.traits.first_name"}, "fixed": 1, "deep": {"x": {"@path": "$.userId"}}},
     {"name": "Ann", "fixed": 1, "deep": {"x": "u1"}}),
])
def test_expressions(expr: Any, expected: Any) -> None:
    assert value(expr) == expected


def test_conversion_applies_to_mapped_strings() -> None:
    assert value({"@path": "$.traits.createdAt"}, convert=True) == 1704153600


@pytest.mark.parametrize("expr", [{"@path": "traits.email"}, {"@if": {"then": 1}}, {"@coalesce": []},
                                  {"@nope": 1}, {"@template": 3}])
def test_bad_expressions_are_action_errors(expr: Any) -> None:
    with pytest.raises(ActionError):
        value(expr)


def test_expr_paths_for_validate() -> None:
    assert expr_paths({"a": {"@template": "{{traits.x}}-{{ $.traits.y }}"}, "b": [{"@path": "$.userId"}]}) == \
        ["traits.x", "traits.y", "userId"]
