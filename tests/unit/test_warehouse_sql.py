"""Model SQL wrapped as a subquery survives a trailing line comment or semicolon and keeps its line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from cio_retl.project import DuckDBWarehouse
from cio_retl.warehouse import open_warehouse
from cio_retl.warehouse.sql import as_subquery, limit_zero


@pytest.mark.parametrize("model", ["SELECT 1 AS a", "SELECT 1 AS a;  \n", "SELECT 1 AS a -- the end", "SELECT 1 AS a\n-- x\n;"])
def test_duckdb_schema_of_models_ending_in_comments_or_semicolons(model: str) -> None:
    warehouse = open_warehouse("d", DuckDBWarehouse(type="duckdb", path=":memory:"), Path("."))
    assert warehouse.schema(model, sync="s").names == ["a"]


def test_the_model_starts_on_the_first_line_of_the_wrapper() -> None:
    assert limit_zero("SELECT 1\n  FROM t -- c;") == "SELECT * FROM (SELECT 1\n  FROM t -- c\n) AS model LIMIT 0"
    assert as_subquery("SELECT 1;\n") == "(SELECT 1\n) AS model"
