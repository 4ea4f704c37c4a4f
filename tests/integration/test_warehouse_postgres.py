"""PostgreSQL through SQLAlchemy + psycopg against a real server the tests start: types, syncs, errors."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from cio_retl.project import PostgresWarehouse, load_project
from cio_retl.errors import WarehouseError
from cio_retl.pipeline.sync import run_sync
from cio_retl.warehouse import open_warehouse
from tests.conftest import RecordingDelivery, run_pg

TYPES = """
CREATE TABLE everything (
  id integer PRIMARY KEY, small smallint, big bigint, price numeric(10, 2), ratio double precision,
  exact numeric, whole numeric(12, 0), wide numeric(30, 4), flag boolean, name text, code varchar(10), born date, seen_at timestamp, paid_at timestamptz,
  attrs jsonb, tags text[], scores integer[], uid uuid);
INSERT INTO everything VALUES
  (1, 7, 9007199254740993, 12.50, 0.25, 1.6666666666666667, 123456789012, 1234.5000, true, 'Zoë', 'A1',
   '1990-05-17', '2024-01-02 03:04:05.678901', '2024-01-02 05:04:05+02', '{"tier": "gold", "n": [1, 2]}',
   ARRAY['a', 'b'], ARRAY[1, 2], 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""


def reader(url: str, read_with: str = "copy"):
    config = PostgresWarehouse(type="postgres", url=url, batch_size=1, read_with=read_with)
    return open_warehouse("pg", config, Path("."))


@pytest.mark.parametrize("read_with", ["copy", "cursor"])
def test_copy_and_cursor_read_the_same_data(pg_database: str, read_with: str) -> None:
    run_pg(pg_database, TYPES)
    sql = "SELECT * FROM everything ORDER BY id"
    expected = pa.Table.from_batches(list(reader(pg_database, "copy").stream(sql, sync="t")))
    got = pa.Table.from_batches(list(reader(pg_database, read_with).stream(sql, sync="t")))
    assert got.schema == expected.schema
    for name in got.column_names:
        left, right = got.column(name).to_pylist(), expected.column(name).to_pylist()
        if expected.schema.field(name).type == pa.json_():
            left = [None if v is None else json.loads(v) for v in left]
            right = [None if v is None else json.loads(v) for v in right]
        assert left == right, name


def test_types_map_to_one_arrow_schema_and_nulls_survive(pg_database: str) -> None:
    run_pg(pg_database, TYPES)
    warehouse = reader(pg_database)
    table = pa.Table.from_batches(list(warehouse.stream("SELECT * FROM everything ORDER BY id", sync="t")))
    types = {f.name: f.type for f in table.schema}
    assert types["small"] == pa.int16() and types["big"] == pa.int64() and types["flag"] == pa.bool_()
    assert types["price"] == pa.float64() and types["whole"] == pa.int64() and types["exact"] == types["wide"] == pa.json_()
    assert types["seen_at"] == types["paid_at"] == pa.timestamp("us", tz="UTC")
    assert types["born"] == pa.date32() and types["tags"] == types["attrs"] == pa.json_()  # arrays travel as JSON
    first, second = table.to_pylist()
    assert first["big"] == 9007199254740993 and first["price"] == 12.5 and first["whole"] == 123456789012
    assert first["exact"] == "1.6666666666666667" and first["wide"] == "1234.5"  # exact JSON numbers
    assert first["seen_at"] == datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    assert first["paid_at"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert first["born"] == date(1990, 5, 17) and first["name"] == "Zoë"
    assert json.loads(first["attrs"]) == {"n": [1, 2], "tier": "gold"} and json.loads(first["scores"]) == [1, 2]
    assert json.loads(first["tags"]) == ["a", "b"]
    assert first["uid"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert all(value is None for key, value in second.items() if key != "id")
    assert warehouse.schema("SELECT * FROM everything", sync="t") == table.schema
    warehouse.check()
    warehouse.close()


def project(tmp_path: Path, url: str, syncs: dict) -> object:
    (tmp_path / "cio_retl.yaml").write_text(yaml.safe_dump({
        "state": "state", "warehouses": {"pg": {"type": "postgres", "url": url}},
        "destination": {"site_id": "s", "api_key": "k"},
        "syncs": {name: {"warehouse": "pg", **spec} for name, spec in syncs.items()}}))
    return load_project(tmp_path / "cio_retl.yaml")


def test_first_and_incremental_sync(pg_database: str, tmp_path: Path) -> None:
    run_pg(pg_database, "CREATE TABLE people (user_id text, email text, plan text, attrs jsonb, seen timestamptz);"
                        "INSERT INTO people SELECT 'u' || i, 'p' || i || '@example.com', 'free', "
                        "jsonb_build_object('level', i), '2024-01-01'::timestamptz + i * interval '1 day' "
                        "FROM generate_series(1, 10) i")
    proj = project(tmp_path, pg_database, {"people": {"table": "people", "primary_key": "user_id", "type": "identify",
                                                      "mode": "mirror"}})
    first = RecordingDelivery()
    assert run_sync(proj, "people", deliver=first).added == 10
    op = next(o for o in first.sent if o["identifiers"] == {"id": "u1"})
    assert op["attributes"]["attrs"] == {"level": 1} and op["attributes"]["seen"] == 1704153600
    run_pg(pg_database, "UPDATE people SET plan = 'pro' WHERE user_id = 'u2'; DELETE FROM people WHERE user_id = 'u3';"
                        "INSERT INTO people VALUES ('u11', 'p11@example.com', 'free', NULL, NULL)")
    second = RecordingDelivery()
    report = run_sync(proj, "people", deliver=second)
    assert (report.added, report.changed, report.removed) == (1, 1, 1)
    assert sorted((o["action"], o["identifiers"]["id"]) for o in second.sent) == [
        ("delete", "u3"), ("identify", "u11"), ("identify", "u2")]


def test_incremental_model_with_last_sync_time(pg_database: str, tmp_path: Path) -> None:
    run_pg(pg_database, "CREATE TABLE orders (order_id text, user_id text, updated_at timestamptz);"
                        "INSERT INTO orders VALUES ('o1', 'u1', now() - interval '1 day')")
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "orders.sql").write_text(
        "SELECT * FROM orders WHERE updated_at >= to_timestamp({{ last_sync_time }})")
    proj = project(tmp_path, pg_database, {"orders": {"model": "sql/orders.sql", "primary_key": "order_id",
                                                      "type": "track", "mode": "append", "event": "Order"}})
    assert run_sync(proj, "orders", deliver=RecordingDelivery()).extracted == 1
    run_pg(pg_database, "INSERT INTO orders VALUES ('o2', 'u2', now() + interval '1 minute')")
    report = run_sync(proj, "orders", deliver=RecordingDelivery())
    assert (report.extracted, report.added) == (1, 1)


def test_errors_name_the_sync_and_warehouse_and_never_the_password(pg_database: str) -> None:
    run_pg(pg_database, "CREATE TABLE t (id int)")
    wrong = pg_database.replace("postgres@", "nobody:hunter2-secret@")
    with pytest.raises(WarehouseError) as caught:
        list(reader(wrong).stream("SELECT 1", sync="people"))
    message = str(caught.value)
    assert "sync 'people': warehouse 'pg': cannot connect" in message and "nobody" in message
    assert "hunter2-secret" not in message and "hunter2-secret" not in repr(reader(wrong))
    with pytest.raises(WarehouseError, match=r"(?s)query failed: .*no_such_table.*does not exist.*`schema` setting"):
        list(reader(pg_database).stream("SELECT * FROM no_such_table", sync="people"))
    with pytest.raises(WarehouseError, match=r"(?s)syntax error.*fix the SQL syntax"):
        reader(pg_database).schema("SELEC 1", sync="people")


def test_sql_error_names_the_model_file_and_line(pg_database: str, tmp_path: Path) -> None:
    run_pg(pg_database, "CREATE TABLE people (user_id text)")
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "people.sql").write_text("SELECT user_id,\n       no_such_column\n  FROM people")
    proj = project(tmp_path, pg_database, {"people": {"model": "sql/people.sql", "primary_key": "user_id",
                                                      "type": "identify"}})
    with pytest.raises(WarehouseError) as caught:
        run_sync(proj, "people", deliver=RecordingDelivery())
    message = str(caught.value)
    assert "no_such_column" in message and "at line 2" in message and "(model sql/people.sql)" in message


def test_copy_keeps_awkward_values_exact(pg_database: str) -> None:
    run_pg(pg_database, "CREATE TABLE awkward (id int, s text, x float8, b bytea); INSERT INTO awkward VALUES "
                        "(1, '', 'NaN', '\\xdead'), (2, NULL, 'Infinity', NULL), (3, 'NULL', '-Infinity', ''),"
                        "(4, E'a,\"b\"\\nc', 1e-300, NULL)")
    rows = pa.Table.from_batches(list(reader(pg_database).stream("SELECT * FROM awkward ORDER BY id", sync="t"))).to_pylist()
    assert [r["s"] for r in rows] == ["", None, "NULL", 'a,"b"\nc']  # empty string, NULL and the text NULL differ
    assert rows[0]["x"] != rows[0]["x"] and rows[1]["x"] == float("inf") and rows[2]["x"] == float("-inf")
    assert rows[3]["x"] == 1e-300
    assert [r["b"] for r in rows] == ["dead", None, "", None]  # bytea as hex text


@pytest.mark.parametrize("read_with", ["copy", "cursor"])
def test_numeric_exact_json(pg_database: str, read_with: str, tmp_path: Path) -> None:
    run_pg(pg_database, "CREATE TABLE money (user_id text, total numeric); INSERT INTO money VALUES "
                        "('u1', 0.10), ('u2', 123456789012345678901234567890.12), ('u3', NULL), ('u4', 'NaN')")
    rows = list(reader(pg_database, read_with).stream("SELECT sum(total) AS s FROM money WHERE user_id = 'u2'", sync="t"))
    assert pa.Table.from_batches(rows).column("s").to_pylist() == ["123456789012345678901234567890.12"]
    proj = project(tmp_path, pg_database, {"money": {"query": "SELECT user_id, total FROM money", "primary_key": "user_id",
                                                     "type": "identify"}})
    delivery = RecordingDelivery()
    run_sync(proj, "money", deliver=delivery)
    totals = {op["identifiers"]["id"]: op["attributes"]["total"] for op in delivery.sent}
    assert totals == {"u1": 0.1, "u2": 123456789012345678901234567890.12, "u3": None, "u4": "NaN"}
