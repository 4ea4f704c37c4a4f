"""Mappings: compile a field's expression (literal, @path, @template, @if, @coalesce) into a typed SQL value."""

from __future__ import annotations

import json
import re
from typing import Any

import duckdb

from cio_retl.actions.columns import CallSchema, kind
from cio_retl.sqltext import quote_str
from cio_retl.actions.render import MISSING, Obj, Scalar, Val, json_text, text_of
from cio_retl.errors import ActionError

_TEMPLATE = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
DIRECTIVES = ("@path", "@template", "@if", "@coalesce")
JSON = duckdb.sqltype("JSON")


def _literal(value: Any) -> Val:
    if value is None:  # a null the mapping asks for (it clears the attribute), unlike a path that resolves to nothing
        return Scalar("NULL::JSON", JSON)
    if isinstance(value, bool):
        return Scalar("true" if value else "false", duckdb.sqltype("BOOLEAN"))
    if isinstance(value, int):
        return Scalar(f"{value}::BIGINT", duckdb.sqltype("BIGINT"))
    if isinstance(value, float):
        return Scalar(f"{value!r}::DOUBLE", duckdb.sqltype("DOUBLE"))
    if isinstance(value, str):
        return Scalar(f"{quote_str(value)}::VARCHAR", duckdb.sqltype("VARCHAR"))
    raise ActionError(f"unsupported literal {value!r}")


def _path(spec: Any, where: str) -> str:
    if not isinstance(spec, str) or not spec.startswith("$."):
        raise ActionError(f"{where}: @path must be a string like \"$.traits.email\", not {spec!r}")
    return spec[2:]


def compile_expr(expr: Any, schema: CallSchema, where: str = "mapping") -> Val:
    """A typed SQL value for a mapping expression; paths no column provides are absent (NULL)."""
    if isinstance(expr, dict) and len(expr) == 1 and next(iter(expr)) in DIRECTIVES:
        name, arg = next(iter(expr.items()))
        return _DIRECTIVE[name](arg, schema, f"{where}.{name}")
    if isinstance(expr, dict):
        bad = [k for k in expr if k.startswith("@")]
        if bad:
            raise ActionError(f"{where}: unknown directive {bad[0]!r}; use one of {', '.join(DIRECTIVES)}")
        return Obj(tuple((k, compile_expr(v, schema, f"{where}.{k}")) for k, v in expr.items()))
    if isinstance(expr, list):
        items = [json_text(compile_expr(v, schema, f"{where}[{i}]"), False) for i, v in enumerate(expr)]
        joined = ", ".join(f"coalesce({item}, 'null')" for item in items)
        return Scalar(f"('[' || concat_ws(',', {joined or quote_str('')}) || ']')::JSON", JSON)
    return _literal(expr)


def _compile_path(arg: Any, schema: CallSchema, where: str) -> Val:
    found = schema.resolve(_path(arg, where))
    return MISSING if found is None else Scalar(*found)


def _compile_template(arg: Any, schema: CallSchema, where: str) -> Val:
    if not isinstance(arg, str):
        raise ActionError(f"{where}: @template must be a string like \"{{{{traits.email}}}}\"")
    parts, pos = [], 0
    for match in _TEMPLATE.finditer(arg):
        if match.start() > pos:
            parts.append(quote_str(arg[pos:match.start()]))
        found = schema.resolve(match.group(1).removeprefix("$."))
        parts.append("''" if found is None else f"coalesce({text_of(Scalar(*found))}, '')")
        pos = match.end()
    if pos < len(arg):
        parts.append(quote_str(arg[pos:]))
    return Scalar("(" + (" || ".join(parts) or "''") + ")", duckdb.sqltype("VARCHAR"))


def _compile_if(arg: Any, schema: CallSchema, where: str) -> Val:
    if not isinstance(arg, dict) or "exists" not in arg or set(arg) - {"exists", "then", "else"}:
        raise ActionError(f"{where}: @if takes {{\"exists\": …, \"then\": …, \"else\": …}}")
    cond = compile_expr(arg["exists"], schema, f"{where}.exists")
    then = compile_expr(arg.get("then"), schema, f"{where}.then")
    other = compile_expr(arg.get("else"), schema, f"{where}.else")
    if isinstance(cond, Scalar) and cond.dtype is None:
        return other  # the condition's path does not exist in this schema: known when compiling
    test = cond.present or "true" if isinstance(cond, Obj) else f"({cond.sql}) IS NOT NULL"
    then, other = _unify([then, other])
    return Scalar(f"(CASE WHEN {test} THEN {then.sql} ELSE {other.sql} END)", then.dtype or other.dtype)


def _compile_coalesce(arg: Any, schema: CallSchema, where: str) -> Val:
    if not isinstance(arg, list) or not arg:
        raise ActionError(f"{where}: @coalesce takes a non-empty list of expressions")
    vals = [v for v in (compile_expr(e, schema, f"{where}[{i}]") for i, e in enumerate(arg))
            if not (isinstance(v, Scalar) and v.dtype is None)]
    if not vals:
        return MISSING
    if len(vals) == 1:
        return vals[0]
    vals = _unify(vals)
    return Scalar("coalesce(" + ", ".join(v.sql for v in vals) + ")", vals[0].dtype)


def _unify(vals: list[Val]) -> list[Scalar]:
    """Give branches one SQL type: the shared type when they agree, else JSON (absent branches stay NULL)."""
    present = [v for v in vals if not (isinstance(v, Scalar) and v.dtype is None)]
    types = {str(v.dtype) for v in present if isinstance(v, Scalar)}
    if present and all(isinstance(v, Scalar) for v in present) and len(types) == 1:
        dtype = present[0].dtype
        return [Scalar(f"NULL::{dtype}" if v.dtype is None else v.sql, dtype) for v in vals]
    return [Scalar("NULL::JSON" if isinstance(v, Scalar) and v.dtype is None else f"({json_text(v, False)})::JSON", JSON)
            for v in vals]


_DIRECTIVE = {"@path": _compile_path, "@template": _compile_template, "@if": _compile_if, "@coalesce": _compile_coalesce}


def expr_paths(expr: Any) -> list[str]:
    """Every path an expression reads (for `validate`), without the leading `$.`."""
    if isinstance(expr, dict):
        if expr.keys() == {"@path"} and isinstance(expr["@path"], str):
            return [expr["@path"].removeprefix("$.")]
        if expr.keys() == {"@template"} and isinstance(expr["@template"], str):
            return [m.group(1).removeprefix("$.") for m in _TEMPLATE.finditer(expr["@template"])]
        return [p for v in expr.values() for p in expr_paths(v)]
    if isinstance(expr, list):
        return [p for v in expr for p in expr_paths(v)]
    return []


def is_literal_true(expr: Any) -> bool:
    """convert_timestamp must be a literal boolean (it decides the SQL we generate)."""
    if not isinstance(expr, bool):
        raise ActionError(f"convert_timestamp must be true or false, not {json.dumps(expr)}")
    return expr


def kind_of(val: Val) -> str:
    """'object' for compile-time objects, else the DuckDB type kind."""
    return "object" if isinstance(val, Obj) else kind(val.dtype)
