"""Pydantic validation errors in our own words: the field, the value given, the rule (never the library's text)."""

from __future__ import annotations

import json
from typing import Any

_TYPES = {  # error type → what the value must be
    "bool_parsing": "true or false", "bool_type": "true or false",
    "int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
    "float_parsing": "a number", "float_type": "a number", "string_type": "text",
    "dict_type": "a mapping of names to values", "model_type": "a mapping of names to values",
    "model_attributes_type": "a mapping of names to values", "list_type": "a list",
    "date_parsing": "a date like 2024-01-31", "date_from_datetime_parsing": "a date like 2024-01-31",
    "date_type": "a date like 2024-01-31",
}
_BOUNDS = {"greater_than": "greater than", "greater_than_equal": "at least", "less_than": "less than",
           "less_than_equal": "at most"}


def location(error: dict[str, Any]) -> str:
    """The dotted path of the failing field (pydantic's internal union and validator steps left out)."""
    return ".".join(str(part) for part in error["loc"] if not str(part).startswith(("function-", "tagged-union")))


def shown(value: Any) -> str:
    """A value as the user wrote it, cut short."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def describe(error: dict[str, Any], *, show_value: bool = True, patterns: dict[str, str] | None = None) -> str:
    """What is wrong with one field, e.g. `must be true or false (got "yes")`.

    `show_value=False` for secret settings; `patterns` gives the rule behind a pattern, by the field's last name.
    """
    kind, ctx = error["type"], error.get("ctx") or {}
    got = f" (got {shown(error.get('input'))})" if show_value and "input" in error else ""
    field = str(error["loc"][-1]) if error["loc"] else ""
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field here"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", "is not valid")).removeprefix("Value error, ")
    if kind == "literal_error":
        return f"must be {ctx.get('expected', 'one of the allowed values')}{got}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = str(ctx.get("discriminator", "type")).strip("'")
        given = f" (got {shown(ctx['tag'])})" if "tag" in ctx else ""
        if "expected_tags" not in ctx:
            return f"`{tag}` is required"
        return f"`{tag}` must be one of {ctx['expected_tags']}{given}"
    if kind == "string_type" and isinstance(error.get("input"), (int, float)) and not isinstance(error["input"], bool):
        example = f'{field}: "{error["input"]}"' if show_value else f'{field}: "…"'
        return f"must be text{got}: YAML read a number; put it in quotes ({example})"
    if kind in _TYPES:
        return f"must be {_TYPES[kind]}{got}"
    if kind in _BOUNDS:
        limit = next((ctx[k] for k in ("gt", "ge", "lt", "le") if k in ctx), "")
        return f"must be {_BOUNDS[kind]} {limit}{got}"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"must be at least {ctx.get('min_length')} characters{got}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters{got}"
    if kind == "string_pattern_mismatch":
        return f"{(patterns or {}).get(field, 'does not have the required form')}{got}"
    return f"is not valid here{got}"
