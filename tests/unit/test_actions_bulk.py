"""Operations built from typed calls tables, as convert.py makes them: the operation contract, counts and warnings."""

from __future__ import annotations

import json

import duckdb
import pytest

from cio_retl.actions.schema import validate_operation
from cio_retl.actions.ulid import is_ulid, ulid_for
from cio_retl.project import ActionOverride
from cio_retl.state.schema import OP_SLOTS
from tests.unit.operations import build_ops

CALLS = """
CREATE TABLE calls AS SELECT * FROM (VALUES
 ('k1', 'h1', 'added', 10, 'identify', NULL, NULL, 'u1', NULL, NULL, NULL, NULL, TIMESTAMPTZ '2024-01-02 03:04:05+00',
  {'email': 'a@b.co', 'signed_up': TIMESTAMP '2024-01-02 00:00:00', 'birthday': DATE '2000-01-01',
   'score': 'nan'::DOUBLE, 'ms_at': 1704164645000, 'iso': '2024-01-02T03:04:05.123456789Z', 'bad': '2023-02-30',
   'tags': ['2024-01-01'], 'nested': {'when': '2024-01-02', 'n': 1}}),
 ('k2', 'h2', 'changed', 11, 'identify', NULL, NULL, NULL, 'anon', NULL, NULL, NULL, NULL,
  {'email': NULL, 'signed_up': NULL, 'birthday': NULL, 'score': 1.5, 'ms_at': NULL, 'iso': NULL, 'bad': NULL,
   'tags': NULL, 'nested': NULL}),
 ('k3', 'h3', 'added', 12, 'identify', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 ('k4', 'h4', 'added', 13, 'track', 'User Deleted', NULL, 'u4', NULL, NULL, NULL, NULL, NULL, NULL)
) t(_key, _hash, _change, _seq, type, event, name, userId, anonymousId, groupId, previousId, messageId, timestamp, traits)
"""


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(CALLS)
    return con


def rows(con: duckdb.DuckDBPyConnection) -> list[dict]:
    cur = con.execute("SELECT * FROM ops ORDER BY op_id")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def test_ops_contract_and_typed_conversion(con: duckdb.DuckDBPyConnection) -> None:
    summary = build_ops(con, sync_name="people", overrides={}, convert_timestamps=True)
    ops = rows(con)
    assert [c[0] for c in con.execute("DESCRIBE planned").fetchall()] == [  # what delivery takes
        "op_id", "priority", "endpoint", "action", "body", "reason"]
    assert [(o["_key"], o["action"], o["priority"], o["endpoint"], o["status"]) for o in ops] == [
        ("k1", "createUpdatePerson", 1, "batch", "pending"), ("k2", "createUpdatePerson", 1, "batch", "pending"),
        ("k3", "createUpdatePerson", 1, "batch", "rejected"), ("k4", "deletePerson", 4, "batch", "pending")]
    assert [o["op_id"] for o in ops] == [10 * OP_SLOTS, 11 * OP_SLOTS, 12 * OP_SLOTS, 13 * OP_SLOTS + 5]  # _seq × OP_SLOTS + the action's slot (deletePerson: 5)
    for o in ops:
        if o["status"] == "pending":  # every operation that would be sent fits our models of the API
            validate_operation(json.loads(o["body"]))
    first = json.loads(ops[0]["body"])
    assert "timestamp" not in first  # identify sends none unless mapped: Customer.io drops updates older than the profile
    assert first["attributes"] == {
        "email": "a@b.co", "signed_up": 1704153600, "birthday": 946684800, "score": None, "ms_at": 1704164645000,
        "iso": 1704164645, "bad": "2023-02-30", "tags": ["2024-01-01"], "nested": {"when": 1704153600, "n": 1}}
    second = json.loads(ops[1]["body"])
    assert second["identifiers"] == {"anonymous_id": "anon"} and "timestamp" not in second
    assert ops[2]["reason"] == "no identifier: set user_id, email or anonymous_id"
    assert summary.operations == {"createUpdatePerson": 2, "deletePerson": 1}
    assert summary.rejected == {"createUpdatePerson": 1}
    assert summary.warnings == ["createUpdatePerson: NaN/Infinity attribute (sent as null) (1 row(s), e.g. key k1)"]


def test_convert_off_keeps_strings_and_writes_native_as_iso(con: duckdb.DuckDBPyConnection) -> None:
    mapped = {"createUpdatePerson": ActionOverride(mapping={"timestamp": {"@path": "$.timestamp"}})}
    build_ops(con, sync_name="people", overrides=mapped, convert_timestamps=False)
    attrs = json.loads(rows(con)[0]["body"])["attributes"]
    assert attrs["signed_up"] == "2024-01-02T00:00:00.000Z" and attrs["birthday"] == "2000-01-01"
    assert attrs["iso"] == "2024-01-02T03:04:05.123456789Z" and attrs["nested"] == {"when": "2024-01-02", "n": 1}
    assert json.loads(rows(con)[0]["body"])["timestamp"] == 1704164645  # a mapped top-level timestamp always converts


def test_events_get_deterministic_distinct_ulids() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE calls AS SELECT i::VARCHAR AS _key, md5(i::VARCHAR) AS _hash, 'added' AS _change, "
                "i::BIGINT AS _seq, 'track' AS type, 'Order' AS event, 'u' || i AS userId, "
                "CASE WHEN i % 3 = 0 THEN 'not a date' ELSE '2024-01-02' END AS timestamp, {'n': i} AS properties "
                "FROM range(3000) t(i)")
    summary = build_ops(con, sync_name="orders", overrides={}, convert_timestamps=True)
    ids = [json.loads(b)["id"] for (b,) in con.execute("SELECT body FROM ops ORDER BY op_id").fetchall()]
    assert len(set(ids)) == 3000 and all(is_ulid(i) for i in ids)
    assert ids[7] == ulid_for("orders", "7")
    [warning] = summary.warnings
    assert warning.startswith("trackEvent: unparseable timestamp (left out) (1000 row(s), e.g. key 0, ")
    assert "fix the model's column" in warning


def test_disabled_actions_and_overrides_apply(con: duckdb.DuckDBPyConnection) -> None:
    summary = build_ops(con, sync_name="p", overrides={"deletePerson": ActionOverride(enabled=False)}, convert_timestamps=True)
    assert "deletePerson" not in summary.operations
    assert con.execute("SELECT count(*) FROM ops WHERE action = 'deletePerson'").fetchone()[0] == 0


def test_empty_calls_table_builds_nothing(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM calls")
    summary = build_ops(con, sync_name="p", overrides={}, convert_timestamps=True)
    assert summary.total == 0 and summary.rows == []
