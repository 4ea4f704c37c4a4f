"""Snowflake through the real snowflake-connector-python against fakesnow's server: types, syncs, errors.

fakesnow accepts any password, so a bad login is exercised as an unreachable account instead; and it returns
NULL timestamps as 1970-01-01, so no NULL timestamps are asserted here (see docs/warehouses.md).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from cio_retl.config import SnowflakeWarehouse, load_project
from cio_retl.errors import WarehouseError
from cio_retl.sync import run_sync
from cio_retl.warehouse import open_warehouse
from tests.conftest import RecordingDelivery, run_snowflake, snowflake_config

TYPES = """
CREATE TABLE everything (id int, small smallint, price number(10, 2), ratio float, flag boolean, name varchar,
  born date, seen_at timestamp_ntz, paid_at timestamp_tz, attrs variant);
INSERT INTO everything SELECT 1, 7, 12.50, 0.25, true, 'Zoë', '1990-05-17', '2024-01-02 03:04:05.678901',
  '2024-01-02 03:04:05+00:00'::timestamp_tz, parse_json('{"n":[1,2],"tier":"gold"}');
INSERT INTO everything SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, '2024-01-01 00:00:00', '2024-01-01 00:00:00+00:00'::timestamp_tz, NULL
"""


def reader(server: dict, database: str, **changes):
    config = SnowflakeWarehouse.model_validate({**snowflake_config(server, database), **changes})
    return open_warehouse("sf", config, Path("."))


def test_types_map_to_one_arrow_schema(snowflake_server) -> None:
    run_snowflake(snowflake_server, "TYPES_DB", TYPES)
    warehouse = reader(snowflake_server, "TYPES_DB")
    table = pa.Table.from_batches(list(warehouse.stream("SELECT * FROM everything ORDER BY id", sync="t")))
    types = {f.name: f.type for f in table.schema}  # upper-case names came back lower-cased
    assert types["id"] == types["small"] == pa.int64() and types["price"] == pa.decimal128(10, 2)
    assert types["seen_at"] == types["paid_at"] == pa.timestamp("us", tz="UTC") and types["attrs"] == pa.json_()
    assert types["born"] == pa.date32() and types["flag"] == pa.bool_() and types["name"] == pa.string()
    first, second = table.to_pylist()
    assert first["price"] == Decimal("12.50") and first["name"] == "Zoë" and first["born"] == date(1990, 5, 17)
    assert first["seen_at"] == datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    assert first["paid_at"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert first["attrs"] == '{"n":[1,2],"tier":"gold"}'
    assert [second[k] for k in ("small", "price", "ratio", "flag", "name", "born", "attrs")] == [None] * 7
    assert warehouse.schema("SELECT * FROM everything", sync="t") == table.schema
    warehouse.check()
    warehouse.close()


def test_first_and_incremental_sync(snowflake_server, tmp_path: Path) -> None:
    run_snowflake(snowflake_server, "SYNC_DB", "CREATE TABLE people (user_id varchar, email varchar, plan varchar);"
                  "INSERT INTO people SELECT 'u' || seq4(), 'p' || seq4() || '@example.com', 'free' "
                  "FROM table(generator(rowcount => 5))")
    (tmp_path / "cio_retl.yaml").write_text(yaml.safe_dump({
        "state": "state", "warehouses": {"sf": snowflake_config(snowflake_server, "SYNC_DB")},
        "destination": {"site_id": "s", "api_key": "k"},
        "syncs": {"people": {"warehouse": "sf", "table": "people", "primary_key": "user_id", "type": "identify",
                             "mode": "mirror", "max_delete_fraction": 0.5}}}))
    project = load_project(tmp_path / "cio_retl.yaml")
    first = RecordingDelivery()
    assert run_sync(project, "people", deliver=first).added == 5
    assert {op["identifiers"]["id"] for op in first.sent} == {f"u{i}" for i in range(5)}
    run_snowflake(snowflake_server, "SYNC_DB", "UPDATE people SET plan = 'pro' WHERE user_id = 'u1';"
                  "DELETE FROM people WHERE user_id = 'u2'; INSERT INTO people VALUES ('u9', 'p9@example.com', 'free')")
    second = RecordingDelivery()
    report = run_sync(project, "people", deliver=second)
    assert (report.added, report.changed, report.removed) == (1, 1, 1)
    assert sorted((o["action"], o["identifiers"]["id"]) for o in second.sent) == [
        ("delete", "u2"), ("identify", "u1"), ("identify", "u9")]


def test_errors_name_sync_and_warehouse_without_the_password(snowflake_server) -> None:
    run_snowflake(snowflake_server, "ERR_DB", "CREATE TABLE t (id int)")
    with pytest.raises(WarehouseError, match=r"(?s)sync 'people': warehouse 'sf': query failed: .*NO_SUCH.*does not exist"
                                             r".*check database, schema, role"):
        list(reader(snowflake_server, "ERR_DB").stream("SELECT * FROM no_such", sync="people"))
    unreachable = reader(snowflake_server, "ERR_DB", port=1, password="hunter2-secret")
    with pytest.raises(WarehouseError) as caught:
        unreachable.check()
    message = str(caught.value)
    assert "warehouse 'sf': cannot connect" in message and "hunter2-secret" not in message
    assert "hunter2-secret" not in repr(unreachable)
