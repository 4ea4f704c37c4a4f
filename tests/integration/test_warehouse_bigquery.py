"""BigQuery through the real google-cloud-bigquery client against bqemulator: types, syncs, errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pyarrow as pa
import pytest

from cio_retl.project import BigQueryWarehouse
from cio_retl.errors import WarehouseError
from cio_retl.pipeline.sync import run_sync
from cio_retl.warehouse import open_warehouse
from cio_retl.warehouse.types import normalize_type
from tests.conftest import RecordingDelivery
from tests.integration.warehouse_cloud_fixtures import (bigquery_warehouse_config, every_type_table, load_bigquery,
                                                        run_bigquery, write_project)


def number(value: object) -> Decimal:
    """A decimal column's value, whichever exact type the shared normaliser gives decimals (float or JSON number)."""
    return Decimal(value) if isinstance(value, str) else Decimal(str(value))


def reader(endpoint: str, root: Path = Path("."), **changes):
    config = BigQueryWarehouse.model_validate(bigquery_warehouse_config(endpoint, **changes))
    return open_warehouse("bq", config, root)


def test_every_type_maps_to_one_arrow_schema_and_nulls_survive(bigquery_endpoint: str) -> None:
    load_bigquery(bigquery_endpoint, "types_ds", "everything", every_type_table())
    warehouse = reader(bigquery_endpoint)
    table = pa.Table.from_batches(list(warehouse.stream("SELECT * FROM types_ds.everything ORDER BY id", sync="t")))
    types = {f.name: f.type for f in table.schema}
    assert types["id"] == types["small"] == pa.int64() and types["price"] == normalize_type(pa.decimal128(38, 9))
    assert types["ratio"] == pa.float64() and types["flag"] == pa.bool_() and types["name"] == pa.string()
    assert types["born"] == pa.date32() and types["seen_at"] == types["paid_at"] == pa.timestamp("us", tz="UTC")
    assert types["attrs"] == pa.json_() and types["tags"] == pa.list_(pa.string())  # JSON arrives as text, marked JSON
    first, second = table.to_pylist()
    assert number(first["price"]) == Decimal("12.5") and first["name"] == "Zoë" and first["born"] == date(1990, 5, 17)
    assert first["seen_at"] == datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)  # DATETIME read as UTC
    assert first["paid_at"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # +02:00 normalised to UTC
    assert json.loads(first["attrs"]) == {"n": [1, 2], "tier": "gold"} and first["tags"] == ["a", "b"]
    assert first["small"] == 7 and first["ratio"] == 0.25 and first["flag"] is True
    assert second["tags"] in (None, [])  # BigQuery stores a NULL array as an empty one
    assert all(value is None for key, value in second.items() if key not in ("id", "tags")), second
    assert warehouse.schema("SELECT * FROM types_ds.everything", sync="t") == table.schema
    warehouse.check()
    warehouse.close()


def test_first_and_incremental_sync_in_mirror_mode(bigquery_endpoint: str, tmp_path: Path) -> None:
    run_bigquery(bigquery_endpoint, "CREATE SCHEMA IF NOT EXISTS sync_ds; CREATE TABLE sync_ds.people "
                 "(user_id STRING, email STRING, plan STRING, seen_at TIMESTAMP, traits JSON); INSERT INTO sync_ds.people "
                 "SELECT CONCAT('u', CAST(i AS STRING)), CONCAT('p', CAST(i AS STRING), '@example.com'), 'free', NULL, "
                 "JSON '{\"tier\": \"gold\"}' FROM UNNEST(GENERATE_ARRAY(0, 4)) AS i")
    project = write_project(tmp_path, bigquery_warehouse_config(bigquery_endpoint), {
        "people": {"model": "sql/people.sql", "primary_key": "user_id", "type": "identify", "mode": "mirror",
                   "max_delete_fraction": 0.5}}, {"people.sql": "SELECT user_id, email, plan, seen_at, traits\n"
                                                                "  FROM sync_ds.people"})
    first = RecordingDelivery()
    assert run_sync(project, "people", deliver=first).added == 5
    u0 = next(op for op in first.sent if op["identifiers"]["id"] == "u0")["attributes"]
    assert u0["traits"] == {"tier": "gold"} and u0["seen_at"] is None and u0["email"] == "p0@example.com"
    run_bigquery(bigquery_endpoint, "UPDATE sync_ds.people SET plan = 'pro', seen_at = TIMESTAMP '2024-01-02 03:04:05' "
                 "WHERE user_id = 'u1'; DELETE FROM sync_ds.people WHERE user_id = 'u2';"
                 "INSERT INTO sync_ds.people (user_id, email, plan) VALUES ('u9', 'p9@example.com', 'free')")
    second = RecordingDelivery()
    report = run_sync(project, "people", deliver=second)
    assert (report.added, report.changed, report.removed) == (1, 1, 1)
    assert sorted((o["action"], o["identifiers"]["id"]) for o in second.sent) == [
        ("delete", "u2"), ("identify", "u1"), ("identify", "u9")]
    u1 = next(op for op in second.sent if op["identifiers"]["id"] == "u1")["attributes"]
    assert u1["plan"] == "pro" and u1["seen_at"] == 1704164645


def test_incremental_model_reads_only_rows_since_the_last_run(bigquery_endpoint: str, tmp_path: Path) -> None:
    run_bigquery(bigquery_endpoint, "CREATE SCHEMA IF NOT EXISTS inc_ds; CREATE TABLE inc_ds.people (user_id STRING, "
                 "plan STRING, updated_at TIMESTAMP); INSERT INTO inc_ds.people VALUES "
                 "('u1', 'free', TIMESTAMP '2001-01-01 00:00:00'), ('u2', 'free', TIMESTAMP '2001-01-01 00:00:00')")
    project = write_project(tmp_path, bigquery_warehouse_config(bigquery_endpoint), {
        "people": {"model": "sql/people.sql", "primary_key": "user_id", "type": "identify"}}, {
        "people.sql": "SELECT user_id, plan FROM inc_ds.people\n"
                      " WHERE updated_at >= TIMESTAMP_SECONDS({{ last_sync_time }})"})
    assert run_sync(project, "people", deliver=RecordingDelivery()).added == 2
    run_bigquery(bigquery_endpoint, "UPDATE inc_ds.people SET plan = 'pro', updated_at = TIMESTAMP '2100-01-01 00:00:00' "
                                    "WHERE user_id = 'u2'")
    second = RecordingDelivery()
    report = run_sync(project, "people", deliver=second)
    assert (report.added, report.changed, report.removed) == (0, 1, 0)  # u1 is outside the window, not removed
    assert [(op["identifiers"]["id"], op["attributes"]["plan"]) for op in second.sent] == [("u2", "pro")]


def test_sql_errors_name_the_model_file_and_line(bigquery_endpoint: str, tmp_path: Path) -> None:
    run_bigquery(bigquery_endpoint, "CREATE SCHEMA IF NOT EXISTS err_ds;"
                                    "CREATE TABLE IF NOT EXISTS err_ds.t (user_id STRING)")
    spec = {"primary_key": "user_id", "type": "identify"}
    project = write_project(tmp_path, bigquery_warehouse_config(bigquery_endpoint), {
        "missing": {"model": "sql/missing.sql", **spec}, "broken": {"model": "sql/broken.sql", **spec}},
        {"missing.sql": "SELECT user_id FROM err_ds.no_such", "broken.sql": "SELECT\n  user_id\nFRM err_ds.t"})
    with pytest.raises(WarehouseError) as caught:
        run_sync(project, "missing", deliver=RecordingDelivery())
    message = str(caught.value)
    assert "sync 'missing': warehouse 'wh': query failed: Not found: Table" in message and "no_such" in message
    assert "(model sql/missing.sql)" in message and "does not exist: check its name, project and location" in message
    with pytest.raises(WarehouseError) as caught:
        run_sync(project, "broken", deliver=RecordingDelivery())
    message = str(caught.value)
    assert "Syntax error" in message and "at line 3" in message and "(model sql/broken.sql)" in message
    assert "reason:" not in message and "Job ID" not in message  # the client's repeat and footer are dropped


@pytest.fixture
def token_endpoint() -> Iterator[str]:
    """A stand-in for Google's OAuth token endpoint that refuses every key, as it does a revoked one."""

    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/token"
    server.shutdown()
    server.server_close()


def test_bad_credentials_are_explained_and_the_key_never_shown(bigquery_endpoint: str, tmp_path: Path,
                                                               token_endpoint: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    (tmp_path / "sa.json").write_text(json.dumps({
        "type": "service_account", "project_id": "local", "private_key_id": "k1", "private_key": key,
        "client_email": "cio-retl@local.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_endpoint}))
    warehouse = reader(bigquery_endpoint, tmp_path, credentials_path="sa.json")
    with pytest.raises(WarehouseError) as caught:
        warehouse.check()
    message = str(caught.value)
    assert "warehouse 'bq': authentication failed: RefreshError: invalid_grant: Invalid JWT Signature." in message
    assert "check credentials_path" in message
    secret = key.splitlines()[1]
    assert secret not in message and secret not in repr(caught.value) and secret not in repr(warehouse)
    missing_file = r"authentication failed: FileNotFoundError: .*No such file[\s\S]*check credentials_path"
    with pytest.raises(WarehouseError, match=missing_file):
        reader(bigquery_endpoint, tmp_path, credentials_path="missing.json").check()
