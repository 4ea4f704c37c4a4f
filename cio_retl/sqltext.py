"""SQL text for DuckDB: quoted identifiers and string literals (the one place that knows how)."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """An identifier, double-quoted so case and odd characters survive."""
    return '"' + name.replace('"', '""') + '"'


def quote_str(text: str) -> str:
    """A string literal."""
    return "'" + text.replace("'", "''") + "'"
