"""Snowflake through the real snowflake-connector-python against fakesnow's server: types, syncs, errors.

fakesnow's server needs two local patches (tests/integration/warehouse_cloud_fixtures.py): NULL timestamps come
back as NULL rather than 1970-01-01, and REJECTED_PASSWORD gets Snowflake's own "incorrect password" answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import jwt
import pyarrow as pa
import pytest

from cio_retl.project import SnowflakeWarehouse
from cio_retl.errors import WarehouseError
from cio_retl.pipeline.sync import run_sync
from cio_retl.warehouse import open_warehouse
from cio_retl.warehouse.types import normalize_type
from tests.conftest import RecordingDelivery
from tests.integration.warehouse_cloud_fixtures import (REJECTED_PASSWORD, SNOWFLAKE_LOGINS, every_type_table,
                                                        load_snowflake, run_snowflake, snowflake_warehouse_config,
                                                        write_project)


def number(value: object) -> Decimal:
    """A decimal column's value, whichever exact type the shared normaliser gives decimals (float or JSON number)."""
    return Decimal(value) if isinstance(value, str) else Decimal(str(value))


def reader(server: dict, database: str, root: Path = Path("."), **changes):
    config = SnowflakeWarehouse.model_validate(snowflake_warehouse_config(server, database, **changes))
    return open_warehouse("sf", config, root)


def test_every_type_maps_to_one_arrow_schema_and_nulls_survive(snowflake_server) -> None:
    load_snowflake(snowflake_server, "TYPES_DB", "everything", every_type_table())
    warehouse = reader(snowflake_server, "TYPES_DB")
    table = pa.Table.from_batches(list(warehouse.stream("SELECT * FROM everything ORDER BY id", sync="t")))
    types = {f.name: f.type for f in table.schema}  # upper-case names came back lower-cased
    assert types["id"] == types["small"] == pa.int64() and types["price"] == normalize_type(pa.decimal128(10, 2))
    assert types["ratio"] == pa.float64() and types["flag"] == pa.bool_() and types["name"] == pa.string()
    assert types["born"] == pa.date32() and types["seen_at"] == types["paid_at"] == pa.timestamp("us", tz="UTC")
    assert types["attrs"] == types["tags"] == pa.json_()  # VARIANT and ARRAY travel as JSON
    first, second = table.to_pylist()
    assert number(first["price"]) == Decimal("12.5") and first["name"] == "Zoë" and first["born"] == date(1990, 5, 17)
    assert first["seen_at"] == datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)  # NTZ read as UTC
    assert first["paid_at"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # +02:00 normalised to UTC
    assert json.loads(first["attrs"]) == {"n": [1, 2], "tier": "gold"} and json.loads(first["tags"]) == ["a", "b"]
    assert first["small"] == 7 and first["ratio"] == 0.25 and first["flag"] is True
    assert all(value is None for key, value in second.items() if key != "id"), second
    assert warehouse.schema("SELECT * FROM everything", sync="t") == table.schema
    warehouse.check()
    warehouse.close()


def test_first_and_incremental_sync_in_mirror_mode(snowflake_server, tmp_path: Path) -> None:
    run_snowflake(snowflake_server, "SYNC_DB", "CREATE TABLE people (user_id varchar, email varchar, plan varchar, "
                  "seen_at timestamp_ntz, traits variant); INSERT INTO people SELECT 'u' || seq4(), "
                  "'p' || seq4() || '@example.com', 'free', NULL, parse_json('{\"tier\": \"gold\"}') "
                  "FROM table(generator(rowcount => 5))")
    project = write_project(tmp_path, snowflake_warehouse_config(snowflake_server, "SYNC_DB"), {
        "people": {"model": "sql/people.sql", "primary_key": "user_id", "type": "identify", "mode": "mirror",
                   "max_delete_fraction": 0.5}}, {"people.sql": "SELECT user_id, email, plan, seen_at, traits\n"
                                                                "  FROM people"})
    first = RecordingDelivery()
    assert run_sync(project, "people", deliver=first).added == 5
    assert {op["identifiers"]["id"] for op in first.sent} == {f"u{i}" for i in range(5)}
    u0 = next(op for op in first.sent if op["identifiers"]["id"] == "u0")["attributes"]
    assert u0["traits"] == {"tier": "gold"} and u0["seen_at"] is None and u0["email"] == "p0@example.com"
    run_snowflake(snowflake_server, "SYNC_DB", "UPDATE people SET plan = 'pro', seen_at = '2024-01-02 03:04:05' "
                  "WHERE user_id = 'u1'; DELETE FROM people WHERE user_id = 'u2';"
                  "INSERT INTO people (user_id, email, plan) VALUES ('u9', 'p9@example.com', 'free')")
    second = RecordingDelivery()
    report = run_sync(project, "people", deliver=second)
    assert (report.added, report.changed, report.removed) == (1, 1, 1)
    assert sorted((o["action"], o["identifiers"]["id"]) for o in second.sent) == [
        ("delete", "u2"), ("identify", "u1"), ("identify", "u9")]
    u1 = next(op for op in second.sent if op["identifiers"]["id"] == "u1")["attributes"]
    assert u1["plan"] == "pro" and u1["seen_at"] == 1704164645


def test_incremental_model_reads_only_rows_since_the_last_run(snowflake_server, tmp_path: Path) -> None:
    run_snowflake(snowflake_server, "INC_DB", "CREATE TABLE people (user_id varchar, plan varchar, "
                  "updated_at timestamp_ntz); INSERT INTO people VALUES ('u1', 'free', '2001-01-01 00:00:00'), "
                  "('u2', 'free', '2001-01-01 00:00:00')")
    project = write_project(tmp_path, snowflake_warehouse_config(snowflake_server, "INC_DB"), {
        "people": {"model": "sql/people.sql", "primary_key": "user_id", "type": "identify"}}, {
        "people.sql": "SELECT user_id, plan FROM people\n WHERE updated_at >= TO_TIMESTAMP({{ last_sync_time }})"})
    assert run_sync(project, "people", deliver=RecordingDelivery()).added == 2
    run_snowflake(snowflake_server, "INC_DB", "UPDATE people SET plan = 'pro', updated_at = '2100-01-01 00:00:00' "
                                              "WHERE user_id = 'u2'")
    second = RecordingDelivery()
    report = run_sync(project, "people", deliver=second)
    assert (report.added, report.changed, report.removed) == (0, 1, 0)  # u1 is outside the window, not removed
    assert [(op["identifiers"]["id"], op["attributes"]["plan"]) for op in second.sent] == [("u2", "pro")]


def test_sql_errors_name_the_model_file_and_line(snowflake_server, tmp_path: Path) -> None:
    run_snowflake(snowflake_server, "ERR_DB", "CREATE TABLE t (user_id varchar)")
    config = snowflake_warehouse_config(snowflake_server, "ERR_DB")
    spec = {"primary_key": "user_id", "type": "identify"}
    project = write_project(tmp_path, config, {"missing": {"model": "sql/missing.sql", **spec},
                                               "broken": {"model": "sql/broken.sql", **spec}},
                            {"missing.sql": "SELECT user_id FROM no_such", "broken.sql": "SELECT\n  user_id\nFRM t"})
    with pytest.raises(WarehouseError) as caught:
        run_sync(project, "missing", deliver=RecordingDelivery())
    message = str(caught.value)
    assert "sync 'missing': warehouse 'wh': query failed: " in message and "NO_SUCH does not exist" in message
    assert "(model sql/missing.sql)" in message and "check database, schema, role" in message
    with pytest.raises(WarehouseError) as caught:
        run_sync(project, "broken", deliver=RecordingDelivery())
    message = str(caught.value)
    assert "at line 3" in message and "(model sql/broken.sql)" in message and "fix the model SQL" in message
    assert "Traceback" not in message and "\n" not in caught.value.message.split("\n  →")[0]


def test_rejected_password_is_explained_and_never_shown(snowflake_server) -> None:
    warehouse = reader(snowflake_server, "ERR_DB", password=REJECTED_PASSWORD)
    with pytest.raises(WarehouseError) as caught:
        warehouse.check()
    message = str(caught.value)
    assert "warehouse 'sf': cannot connect: " in message and "Incorrect username or password" in message
    assert "check user, password (or private_key_path) and account" in message
    for text in (message, repr(caught.value), repr(warehouse), repr(warehouse.config)):
        assert REJECTED_PASSWORD not in text


def test_unreachable_account_and_bad_key_file(snowflake_server, tmp_path: Path) -> None:
    warehouse = reader(snowflake_server, "ERR_DB", port=1, password="hunter2-secret")
    with pytest.raises(WarehouseError, match=r"cannot connect: .*Could not connect[\s\S]*can reach Snowflake") as caught:
        warehouse.check()
    assert "hunter2-secret" not in str(caught.value)
    (tmp_path / "key.p8").write_text("-----BEGIN PRIVATE KEY-----\nNOTAKEYxSECRETx==\n-----END PRIVATE KEY-----\n")
    keyed = reader(snowflake_server, "ERR_DB", tmp_path, password=None, private_key_path="key.p8")
    with pytest.raises(WarehouseError, match=r"cannot read private_key_path .*key\.p8[\s\S]*unencrypted PEM") as caught:
        keyed.check()
    assert "NOTAKEYxSECRETx" not in str(caught.value)


def test_key_pair_authentication(snowflake_server, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "key.p8").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    warehouse = reader(snowflake_server, "ERR_DB", tmp_path, password=None, private_key_path="key.p8")
    SNOWFLAKE_LOGINS.clear()
    warehouse.check()
    warehouse.close()
    # fakesnow accepts any login, so verify here what Snowflake would: a JWT signed with this very key.
    [login] = SNOWFLAKE_LOGINS
    assert login["AUTHENTICATOR"] == "SNOWFLAKE_JWT" and "PASSWORD" not in login
    claims = jwt.decode(login["TOKEN"], key.public_key(), algorithms=["RS256"])
    fingerprint = base64.b64encode(hashlib.sha256(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()).decode()
    user = f"{snowflake_server['account']}.{snowflake_server['user']}".upper()
    assert claims["sub"] == user and claims["iss"] == f"{user}.SHA256:{fingerprint}"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(jwt.InvalidSignatureError):  # the check above can fail: another key does not verify it
        jwt.decode(login["TOKEN"], other.public_key(), algorithms=["RS256"])


def test_a_number_beyond_64_bits_fails_loudly_instead_of_wrapping() -> None:
    # fakesnow cannot hold such a value, so the chunk is built here as the connector would return it.
    from cio_retl.warehouse.snowflake import _batches, arrow_type

    chunk = pa.table({"BIG_ID": pa.array([Decimal(2**70)], pa.decimal128(38, 0))})
    schema = pa.schema([("big_id", arrow_type(0, 38, 0))])
    warehouse = reader({"account": "a", "user": "u", "password": "p", "host": "h", "port": 1}, "DB")
    with pytest.raises(WarehouseError, match=r"reading results failed: [\s\S]*cast it in the model"):
        list(_batches("people", warehouse, chunk, schema))
