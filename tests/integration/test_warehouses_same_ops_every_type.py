"""Every type of the issue through DuckDB, PostgreSQL, Snowflake (fakesnow) and BigQuery (bqemulator): a first
mirror sync and a second one after an update, an insert and a delete send the same operations from each.

Bodies are compared with numbers kept as their JSON text (12.5 and 12.500000000 differ), so decimals must be
written alike; only whitespace and key order inside JSON values may differ (PostgreSQL's jsonb writes
`{"n": [1, 2], "tier": "gold"}`, docs/warehouses.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import yaml

from cio_retl.project import load_project
from cio_retl.pipeline.sync import run_sync
from tests.conftest import RecordingDelivery, run_pg
from tests.integration.warehouse_cloud_fixtures import (bigquery_warehouse_config, run_bigquery, run_snowflake,
                                                        snowflake_warehouse_config)

COLUMNS = ["user_id", "seats", "price", "total", "ratio", "active", "name", "born", "seen_at", "paid_at", "tags", "attrs"]
TYPES = {  # one logical table: key, int, decimal(10,2), decimal(20,4), double, bool, text, date, naive and zoned time, array, JSON
    "duckdb": ["VARCHAR", "INTEGER", "DECIMAL(10, 2)", "DECIMAL(20, 4)", "DOUBLE", "BOOLEAN", "VARCHAR", "DATE", "TIMESTAMP",
               "TIMESTAMPTZ", "VARCHAR[]", "JSON"],
    "postgres": ["text", "integer", "numeric(10, 2)", "numeric(20, 4)", "double precision", "boolean", "text", "date",
                 "timestamp", "timestamptz", "text[]", "jsonb"],
    "snowflake": ["varchar", "int", "number(10, 2)", "number(20, 4)", "float", "boolean", "varchar", "date",
                  "timestamp_ntz", "timestamp_tz", "array", "variant"],
    "bigquery": ["STRING", "INT64", "NUMERIC", "NUMERIC", "FLOAT64", "BOOL", "STRING", "DATE", "DATETIME", "TIMESTAMP",
                 "ARRAY<STRING>", "JSON"],
}
FULL = {"user_id": "u1", "seats": "3", "price": "12.50", "total": "123456789012.3450", "ratio": "0.25", "active": "TRUE",
        "name": "'Zoë'", "born": "1990-05-17", "seen_at": "2024-01-02 03:04:05.678901",
        "paid_at": "2024-01-02 05:04:05+02:00", "tags": ["a", "b"], "attrs": '{"tier": "gold", "n": [1, 2]}'}
EMPTY = {"user_id": "u2", "tags": []}  # BigQuery has no NULL arrays, so the NULL row has an empty one everywhere
MODEL = "SELECT *, price * 2 AS double_price FROM {table}"


def literal(dialect: str, column: str, value: Any) -> str:
    """A typed literal of the test value in one dialect (NULL when absent)."""
    if value is None:
        return "NULL"
    if column == "tags":
        items = ", ".join(f"'{v}'" for v in value)
        return {"duckdb": f"[{items}]::VARCHAR[]", "postgres": f"ARRAY[{items}]::text[]",
                "snowflake": f"ARRAY_CONSTRUCT({items})", "bigquery": f"ARRAY<STRING>[{items}]"}[dialect]
    if column == "attrs":
        return {"duckdb": f"'{value}'::JSON", "postgres": f"'{value}'::jsonb", "snowflake": f"PARSE_JSON('{value}')",
                "bigquery": f"JSON '{value}'"}[dialect]
    if column == "user_id":
        return f"'{value}'"
    if column in ("born", "seen_at", "paid_at"):
        kind = {"born": "DATE", "seen_at": "DATETIME" if dialect == "bigquery" else "TIMESTAMP",
                "paid_at": "TIMESTAMPTZ"}[column]
        kind = {("snowflake", "TIMESTAMPTZ"): "TIMESTAMP_TZ", ("bigquery", "TIMESTAMPTZ"): "TIMESTAMP"}.get((dialect, kind), kind)
        return f"'{value}'::{kind}" if dialect == "snowflake" else f"{kind} '{value}'"
    if column in ("price", "total") and dialect == "bigquery":
        return f"NUMERIC '{value}'"
    return value


def insert(dialect: str, table: str, row: dict[str, Any]) -> str:
    values = ", ".join(literal(dialect, c, row.get(c)) for c in COLUMNS)
    return f"INSERT INTO {table} ({', '.join(COLUMNS)}) SELECT {values}"  # SELECT: Snowflake has no VARIANT in VALUES


def create(dialect: str, table: str) -> str:
    columns = ", ".join(f"{c} {t}" for c, t in zip(COLUMNS, TYPES[dialect]))
    return f"CREATE TABLE {table} ({columns}); {insert(dialect, table, FULL)}; {insert(dialect, table, EMPTY)}"


CHANGES = "UPDATE {table} SET name = 'Zoe', seats = 4 WHERE user_id = 'u1'; DELETE FROM {table} WHERE user_id = 'u2'"


def warehouses(tmp_path: Path, pg: str, sf: dict, bq: str) -> dict[str, tuple[dict, str, Any]]:
    """name → (warehouse config, table, run(sql)) with the table created in each."""
    def run_duckdb(sql: str) -> None:
        con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
        con.execute(sql)
        con.close()

    found = {"duckdb": ({"type": "duckdb", "path": "warehouse.duckdb"}, "people", run_duckdb),
             "postgres": ({"type": "postgres", "url": pg}, "people", lambda sql: run_pg(pg, sql)),
             "snowflake": (snowflake_warehouse_config(sf, "EVERY_DB"), "people", lambda sql: run_snowflake(sf, "EVERY_DB", sql)),
             "bigquery": (bigquery_warehouse_config(bq), "every_ds.people", lambda sql: run_bigquery(bq, sql))}
    run_bigquery(bq, "CREATE SCHEMA IF NOT EXISTS every_ds")
    for dialect, (_, table, run) in found.items():
        run(create(dialect, table))
    return found


def canonical(body: str) -> str:
    """The operation with numbers as written and JSON whitespace and key order ignored."""
    return json.dumps(json.loads(body, parse_float=lambda text: f"number:{text}"), sort_keys=True, ensure_ascii=False)


class Bodies(RecordingDelivery):
    """Keeps each operation's JSON text as built, not only the parsed dict."""

    def __call__(self, batches, destination, **kwargs):
        batches = list(batches)
        self.bodies = getattr(self, "bodies", []) + [b for batch in batches for b in batch.column("body").to_pylist()]
        return super().__call__(batches, destination, **kwargs)


def test_every_type_sends_the_same_operations_first_and_after_changes(tmp_path: Path, pg_database: str,
                                                                       snowflake_server: dict,
                                                                       bigquery_endpoint: str) -> None:
    sent: dict[str, list[list[str]]] = {}
    for name, (config, table, run) in warehouses(tmp_path, pg_database, snowflake_server, bigquery_endpoint).items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({
            "state": f"state_{name}", "warehouses": {"wh": config}, "destination": {"site_id": "s", "api_key": "k"},
            "syncs": {"people": {"warehouse": "wh", "primary_key": "user_id", "type": "identify", "mode": "mirror",
                                 "max_delete_fraction": 1, "query": MODEL.format(table=table)}}}))
        project = load_project(tmp_path / f"{name}.yaml")
        runs = []
        for change in (None, CHANGES.format(table=table)):
            if change:
                run(change)
            delivery = Bodies()
            run_sync(project, "people", deliver=delivery)
            runs.append(sorted(canonical(body) for body in delivery.bodies))
        sent[name] = runs
    first, second = ([json.loads(op) for op in run] for run in sent["duckdb"])
    u1 = next(op for op in first if op["identifiers"] == {"id": "u1"})["attributes"]
    assert u1["price"] == "number:12.5" and u1["total"] == "number:123456789012.345" and u1["double_price"] == 25  # 25.00 is a whole number: sent as 25
    assert u1["seen_at"] == 1704164645 and u1["paid_at"] == 1704164645 and u1["born"] == 642902400
    assert u1["tags"] == ["a", "b"] and u1["attrs"] == {"tier": "gold", "n": [1, 2]} and u1["name"] == "Zoë"
    u2 = next(op for op in first if op["identifiers"] == {"id": "u2"})["attributes"]
    assert u2["tags"] == [] and all(u2[c] is None for c in COLUMNS[1:] if c not in ("user_id", "tags"))
    assert sorted((op["action"], op["identifiers"]["id"]) for op in second) == [("delete", "u2"), ("identify", "u1")]
    for name in ("postgres", "snowflake", "bigquery"):
        assert sent[name][0] == sent["duckdb"][0], f"{name}: first run"
        assert sent[name][1] == sent["duckdb"][1], f"{name}: after changes"
