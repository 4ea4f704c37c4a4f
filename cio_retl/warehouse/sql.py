"""Model SQL wrapped as a subquery (LIMIT 0 schemas, COPY), safe against a trailing comment or semicolon."""

from __future__ import annotations


def as_subquery(sql: str) -> str:
    """`(<model>\\n) AS model`: the newline ends a trailing `-- comment` that would swallow the `)`.

    Nothing is added before the model, so an error position still counts the model file's own lines.
    """
    return f"({sql.rstrip().rstrip(';').rstrip()}\n) AS model"


def limit_zero(sql: str) -> str:
    """The model run for its columns only."""
    return f"SELECT * FROM {as_subquery(sql)} LIMIT 0"
