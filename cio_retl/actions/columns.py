"""The calls table's schema: resolve Segment-spec paths (`traits.email`) to SQL and DuckDB types."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from cio_retl.sqltext import quote_ident

# Top-level call fields a trigger or mapping may name; everything else lives under a struct.
TOP_LEVEL = ("type", "event", "name", "userId", "anonymousId", "groupId", "previousId", "messageId", "timestamp")
STRUCTS = ("traits", "properties", "context")


def kind(dtype: duckdb.typing.DuckDBPyType | None) -> str:
    """A short name for a DuckDB type: 'json' for JSON (whose id says varchar), else the type id."""
    if dtype is None:
        return "null"
    return "json" if str(dtype) == "JSON" else dtype.id


def struct_fields(dtype: duckdb.typing.DuckDBPyType) -> list[tuple[str, duckdb.typing.DuckDBPyType]]:
    """The (name, type) pairs of a STRUCT type."""
    return [(name, child) for name, child in dtype.children]


@dataclass(frozen=True)
class CallSchema:
    """Column name → DuckDB type of a calls table, with path resolution."""

    columns: dict[str, duckdb.typing.DuckDBPyType]

    @classmethod
    def of(cls, relation: duckdb.DuckDBPyRelation) -> CallSchema:
        return cls(dict(zip(relation.columns, relation.dtypes, strict=True)))

    def resolve(self, path: str) -> tuple[str, duckdb.typing.DuckDBPyType] | None:
        """(SQL, type) of a dotted path such as `traits.address.city`, or None if no column provides it."""
        parts = path.split(".")
        if not parts or parts[0] not in self.columns:
            return None
        sql, dtype = quote_ident(parts[0]), self.columns[parts[0]]
        for part in parts[1:]:
            if kind(dtype) != "struct":
                return None
            children = dict(struct_fields(dtype))
            if part not in children:
                return None
            sql, dtype = f"{sql}.{quote_ident(part)}", children[part]
        return sql, dtype

    def paths(self) -> list[str]:
        """Every path the schema provides (for near-miss suggestions)."""
        found: list[str] = []

        def walk(prefix: str, dtype: duckdb.typing.DuckDBPyType) -> None:
            found.append(prefix)
            if kind(dtype) == "struct":
                for name, child in struct_fields(dtype):
                    walk(f"{prefix}.{name}", child)

        for name, dtype in self.columns.items():
            walk(name, dtype)
        return found
