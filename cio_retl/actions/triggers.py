"""Triggers: parse the condition language (`type = "track" and event != "X"`), evaluate it, compile it to SQL."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cio_retl.actions.columns import STRUCTS, TOP_LEVEL, CallSchema, kind
from cio_retl.sqltext import quote_str
from cio_retl.errors import ActionError

_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|“[^”]*”)|(?P<op>!=|=|\(|\))|(?P<word>[A-Za-z_$][\w$.\-]*))""")
ROOTS = set(TOP_LEVEL) | set(STRUCTS)


@dataclass(frozen=True)
class Compare:
    path: str
    op: str  # "=" or "!="
    value: str


@dataclass(frozen=True)
class Exists:
    path: str


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" or "or"
    items: tuple[Node, ...]


Node = Compare | Exists | Not | BoolOp


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, 1-based column) tuples; an unknown character is a syntax error at its column."""
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            col = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
            raise ActionError(f"trigger syntax error at column {col}: unexpected {text[col - 1]!r}", hint=text)
        kind_ = match.lastgroup
        value = match.group(kind_)
        out.append((kind_, value, match.start(kind_) + 1))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.toks, self.i = text, _tokens(text), 0

    def fail(self, message: str) -> ActionError:
        col = self.toks[self.i][2] if self.i < len(self.toks) else len(self.text) + 1
        return ActionError(f"trigger syntax error at column {col}: {message}", hint=self.text)

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def word(self, *words: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].lower() in words:
            self.i += 1
            return True
        return False

    def parse(self) -> Node:
        node = self.or_()
        if self.peek():
            raise self.fail(f"unexpected {self.peek()[1]!r} (expected 'and', 'or' or the end)")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.word("or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_(self) -> Node:
        items = [self.unary()]
        while self.word("and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def unary(self) -> Node:
        if self.word("not"):
            return Not(self.unary())
        tok = self.peek()
        if tok and tok[1] == "(":
            self.i += 1
            node = self.or_()
            if not (self.peek() and self.peek()[1] == ")"):
                raise self.fail("expected ')'")
            self.i += 1
            return node
        return self.condition()

    def condition(self) -> Node:
        tok = self.peek()
        if not tok or tok[0] != "word" or tok[1].lower() in ("and", "or", "not", "exists"):
            raise self.fail("expected a field such as type, event, name, userId or traits.<name>")
        field = tok[1].removeprefix("$.")
        if field.split(".")[0] not in ROOTS or field.endswith("."):
            raise self.fail(f"unknown field {tok[1]!r}; use {', '.join(TOP_LEVEL)} or traits./properties./context.<path>")
        self.i += 1
        if self.word("exists"):
            return Exists(field)
        op = self.peek()
        if not op or op[1] not in ("=", "!="):
            raise self.fail("expected '=', '!=' or 'exists'")
        self.i += 1
        value = self.peek()
        if not value or value[0] != "str":
            raise self.fail('expected a double-quoted string such as "identify"')
        self.i += 1
        return Compare(field, op[1], _unquote(value[1]))


def _unquote(token: str) -> str:
    if token.startswith("“"):
        return token[1:-1]
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def parse(text: str) -> Node:
    """Parse a trigger; a syntax error is an ActionError naming the column."""
    return _Parser(text).parse()


def paths(node: Node) -> list[str]:
    """Every field a trigger names, in order."""
    if isinstance(node, (Compare, Exists)):
        return [node.path]
    if isinstance(node, Not):
        return paths(node.inner)
    return [p for item in node.items for p in paths(item)]


# ---------------------------------------------------------------- evaluation of one event (a dict)


def _lookup(event: dict[str, Any], dotted: str) -> Any:
    value: Any = event
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def evaluate(node: Node, event: dict[str, Any]) -> bool:
    """Does the trigger match this Segment-spec event?"""
    if isinstance(node, Exists):
        return _lookup(event, node.path) is not None
    if isinstance(node, Compare):
        value = _lookup(event, node.path)
        equal = value is not None and _text(value) == node.value
        return equal if node.op == "=" else not equal
    if isinstance(node, Not):
        return not evaluate(node.inner, event)
    results = (evaluate(item, event) for item in node.items)
    return all(results) if node.op == "and" else any(results)


# ---------------------------------------------------------------- compilation to SQL


def text_sql(path: str, schema: CallSchema) -> str:
    """SQL of a field's value as the text triggers compare (NULL when absent)."""
    found = schema.resolve(path)
    if found is None:
        return "NULL::VARCHAR"
    if kind(found[1]) == "json":
        return f"json_extract_string({found[0]}, '$')"
    if kind(found[1]) == "boolean":
        return f"(CASE WHEN {found[0]} THEN 'true' WHEN NOT {found[0]} THEN 'false' END)"
    return f"CAST({found[0]} AS VARCHAR)"


def to_sql(node: Node, schema: CallSchema) -> str:
    """A SQL boolean (never NULL) over the calls table; a path no column provides is simply absent."""
    if isinstance(node, Exists):
        found = schema.resolve(node.path)
        return "false" if found is None else f"({found[0]} IS NOT NULL)"
    if isinstance(node, Compare):
        equal = f"coalesce({text_sql(node.path, schema)} = {quote_str(node.value)}, false)"
        return equal if node.op == "=" else f"(NOT {equal})"
    if isinstance(node, Not):
        return f"(NOT {to_sql(node.inner, schema)})"
    return "(" + f" {node.op.upper()} ".join(to_sql(item, schema) for item in node.items) + ")"


def render(node: Node) -> str:
    """A trigger (or a part of one) written back in the condition language."""
    if isinstance(node, Exists):
        return f"{node.path} exists"
    if isinstance(node, Compare):
        return f"{node.path} {node.op} {json.dumps(node.value, ensure_ascii=False)}"
    if isinstance(node, Not):
        return f"not ({render(node.inner)})"
    return f" {node.op} ".join(f"({render(i)})" if isinstance(i, BoolOp) else render(i) for i in node.items)
