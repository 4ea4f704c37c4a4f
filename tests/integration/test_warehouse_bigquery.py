"""BigQuery through the real google-cloud-bigquery client against bqemulator: types, syncs, errors."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from cio_retl.config import BigQueryWarehouse, load_project
from cio_retl.errors import WarehouseError
from cio_retl.sync import run_sync
from cio_retl.warehouse import open_warehouse
from tests.conftest import RecordingDelivery, bigquery_config, run_bigquery

TYPES = """
CREATE SCHEMA IF NOT EXISTS types_ds;
CREATE TABLE types_ds.everything (id INT64, price NUMERIC, ratio FLOAT64, flag BOOL, name STRING, born DATE,
  seen_at DATETIME, paid_at TIMESTAMP, attrs JSON, tags ARRAY<STRING>);
INSERT INTO types_ds.everything VALUES
  (1, NUMERIC '12.5', 0.25, TRUE, 'Zoë', DATE '1990-05-17', DATETIME '2024-01-02 03:04:05.678901',
   TIMESTAMP '2024-01-02 05:04:05+02:00', JSON '{"n":[1,2],"tier":"gold"}', ['a', 'b']),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, [])
"""


def reader(endpoint: str):
    return open_warehouse("bq", BigQueryWarehouse.model_validate(bigquery_config(endpoint)), Path("."))


def test_types_map_to_one_arrow_schema_and_nulls_survive(bigquery_endpoint: str) -> None:
    run_bigquery(bigquery_endpoint, TYPES)
    warehouse = reader(bigquery_endpoint)
    table = pa.Table.from_batches(list(warehouse.stream("SELECT * FROM types_ds.everything ORDER BY id", sync="t")))
    types = {f.name: f.type for f in table.schema}
    assert types["id"] == pa.int64() and types["price"] == pa.decimal128(38, 9) and types["attrs"] == pa.json_()
    assert types["seen_at"] == types["paid_at"] == pa.timestamp("us", tz="UTC") and types["tags"] == pa.list_(pa.string())
    first, second = table.to_pylist()
    assert first["price"] == Decimal("12.5") and first["name"] == "Zoë" and first["born"] == date(1990, 5, 17)
    assert first["seen_at"] == datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    assert first["paid_at"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert first["tags"] == ["a", "b"] and '"tier":"gold"' in first["attrs"].replace(" ", "")
    assert [second[k] for k in ("price", "ratio", "flag", "name", "born", "seen_at", "paid_at", "attrs")] == [None] * 8
    assert warehouse.schema("SELECT * FROM types_ds.everything", sync="t") == table.schema
    warehouse.check()
    warehouse.close()


def test_first_and_incremental_sync(bigquery_endpoint: str, tmp_path: Path) -> None:
    run_bigquery(bigquery_endpoint, "CREATE SCHEMA IF NOT EXISTS sync_ds; CREATE TABLE sync_ds.people "
                 "(user_id STRING, email STRING, plan STRING); INSERT INTO sync_ds.people "
                 "SELECT CONCAT('u', CAST(i AS STRING)), CONCAT('p', CAST(i AS STRING), '@example.com'), 'free' "
                 "FROM UNNEST(GENERATE_ARRAY(1, 5)) AS i")
    (tmp_path / "cio_retl.yaml").write_text(yaml.safe_dump({
        "state": "state", "warehouses": {"bq": bigquery_config(bigquery_endpoint)},
        "destination": {"site_id": "s", "api_key": "k"},
        "syncs": {"people": {"warehouse": "bq", "table": "sync_ds.people", "primary_key": "user_id",
                             "type": "identify", "mode": "mirror", "max_delete_fraction": 0.5}}}))
    project = load_project(tmp_path / "cio_retl.yaml")
    first = RecordingDelivery()
    assert run_sync(project, "people", deliver=first).added == 5
    run_bigquery(bigquery_endpoint, "UPDATE sync_ds.people SET plan = 'pro' WHERE user_id = 'u1';"
                 "DELETE FROM sync_ds.people WHERE user_id = 'u2';"
                 "INSERT INTO sync_ds.people VALUES ('u9', 'p9@example.com', 'free')")
    second = RecordingDelivery()
    report = run_sync(project, "people", deliver=second)
    assert (report.added, report.changed, report.removed) == (1, 1, 1)
    assert sorted((o["action"], o["identifiers"]["id"]) for o in second.sent) == [
        ("delete", "u2"), ("identify", "u1"), ("identify", "u9")]


def test_errors_name_sync_and_warehouse(bigquery_endpoint: str) -> None:
    with pytest.raises(WarehouseError, match=r"(?s)sync 'people': warehouse 'bq': query failed: .*no_such"):
        list(reader(bigquery_endpoint).stream("SELECT * FROM nowhere_ds.no_such", sync="people"))
    with pytest.raises(WarehouseError, match=r"(?s)warehouse 'bq': query failed: .*fix the model SQL"):
        reader(bigquery_endpoint).schema("SELEC 1", sync="people")
