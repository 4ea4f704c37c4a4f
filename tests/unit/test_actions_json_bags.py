"""JSON and MAP values in bulk calls tables: nested timestamps converted like STRUCT fields, limits checked inside
attribute bags, group objectAttributes, and JSON id columns read as text (a JSON null is no id)."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pytest

from cio_retl.actions.schema import validate_operation
from cio_retl.project import ActionOverride, Sync
from cio_retl.pipeline.convert import call_select
from tests.unit.operations import build_ops

HEAD = ("SELECT i::VARCHAR AS _key, 'h' AS _hash, 'added' AS _change, i::BIGINT AS _seq, '{type}' AS type, "
        "NULL::VARCHAR AS event, NULL::VARCHAR AS name, 'u' || i AS userId, NULL::VARCHAR AS anonymousId, "
        "{group} AS groupId, NULL::VARCHAR AS previousId, NULL::VARCHAR AS messageId, NULL::TIMESTAMPTZ AS timestamp")


def ops(con: duckdb.DuckDBPyConnection, traits_sql: str, *, type_: str = "identify", group: str = "NULL::VARCHAR",
        overrides: dict | None = None, convert: bool = True, source: str = "range(1) t(i)") -> list[tuple[dict, str | None]]:
    con.execute(f"CREATE OR REPLACE TABLE calls AS {HEAD.format(type=type_, group=group)}, {traits_sql} AS traits FROM {source}")
    con.execute("DROP TABLE IF EXISTS ops")
    build_ops(con, sync_name="s", overrides=overrides or {}, convert_timestamps=convert)
    out = [(json.loads(body), reason) for body, reason in con.execute("SELECT body, reason FROM ops ORDER BY op_id").fetchall()]
    for body, reason in out:
        if reason is None:
            validate_operation(body)
    return out


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    return con


META = '{"tier": "gold", "since": "2018-06-10T21:49:44Z", "dates": ["2018-06-10"], "n": "1528667384", "o": {"at": "2018-06-10"}}'


def test_json_and_map_attributes_convert_like_structs(con: duckdb.DuckDBPyConnection) -> None:
    traits = (f"{{'meta': '{META}'::JSON, 'm': MAP {{'since': '2018-06-10T21:49:44Z', 'x': 'y'}}, "
              "'mt': MAP {'at': TIMESTAMP '2018-06-10 21:49:44'}, 'mf': MAP {'f': 'nan'::DOUBLE, 'g': 1.5::DOUBLE}, "
              "'mj': MAP {'j': '{\"a\": \"2018-06-10\"}'::JSON}, 'xs': [1.5, 'nan'::DOUBLE]}")
    (body, reason), = ops(con, traits)
    assert reason is None
    assert body["attributes"] == {
        "meta": {"tier": "gold", "since": 1528667384, "dates": ["2018-06-10"], "n": "1528667384", "o": {"at": 1528588800}},
        "m": {"since": 1528667384, "x": "y"}, "mt": {"at": 1528667384}, "mf": {"f": None, "g": 1.5},
        "mj": {"j": {"a": 1528588800}}, "xs": [1.5, None]}
    (off, _), = ops(con, traits, convert=False)
    assert off["attributes"]["meta"] == json.loads(META)
    assert off["attributes"]["m"] == {"since": "2018-06-10T21:49:44Z", "x": "y"}
    assert off["attributes"]["mt"] == {"at": "2018-06-10T21:49:44.000Z"}  # native times as ISO text, as in structs


BAG = {"createUpdatePerson": ActionOverride(mapping={"custom_attributes": {"@path": "$.traits.meta"}})}


@pytest.mark.parametrize(("meta", "reason"), [
    ({"a": "x" * 1000, "since": "2024-01-02"}, None),
    ({"a": "x" * 1001}, "attribute a is 1001 bytes (limit 1,000): shorten it or leave it out of the model"),
    ({"b": {"c": "y" * 1000}}, "attribute b is 1008 bytes (limit 1,000): shorten it or leave it out of the model"),
    ({"k" * 151: 1}, "attribute name " + "k" * 40 + "… is 151 bytes (limit 150): rename the key"),
    ({f"k{i}": i for i in range(300)}, "301 attributes (limit 300): send fewer keys"),  # + the email attribute
    ([1, 2], "attributes must be an object (key → value), not a list: map the field to an object, a struct or a "
             "JSON object column"),
    ("text", "attributes must be an object (key → value), not a string: map the field to an object, a struct or a "
             "JSON object column"),
    (None, None),
])
def test_limits_apply_inside_json_attribute_bags(con: duckdb.DuckDBPyConnection, meta: object, reason: str | None) -> None:
    text = "NULL::JSON" if meta is None else f"'{json.dumps(meta)}'::JSON"
    (body, got), = ops(con, f"{{'email': 'a@b.co', 'meta': {text}}}", overrides=BAG)
    assert got == reason
    if reason is None:
        expected = {**(meta or {}), "email": "a@b.co"}
        if meta:
            expected["since"] = 1704153600
        assert body["attributes"] == expected


def test_group_object_attributes_join_the_flat_traits(con: duckdb.DuckDBPyConnection) -> None:
    traits = ("{'plan': 'pro', 'name': 'flat', 'object_type_id': '2', "
              "'objectAttributes': {'name': 'Sales', 'founded': '2024-01-02', 'object_type_id': '9', 'none': NULL::INT}}")
    (body, reason), = ops(con, traits, type_="group", group="'acme'")
    assert reason is None and body["identifiers"] == {"object_type_id": "2", "object_id": "acme"}
    assert body["attributes"] == {"plan": "pro", "name": "Sales", "founded": 1704153600, "none": None}
    json_traits = ("{'meta': '{\"plan\": \"pro\", \"objectAttributes\": {\"name\": \"Sales\", \"at\": \"2024-01-02\"}}'::JSON}")
    object_bag = {"createUpdateObject": ActionOverride(mapping={"custom_attributes": {"@path": "$.traits.meta"}})}
    (body, reason), = ops(con, json_traits, type_="group", group="'acme'", overrides=object_bag)
    assert reason is None and body["attributes"] == {"plan": "pro", "name": "Sales", "at": 1704153600}


def test_group_object_attributes_null_in_some_rows_leaves_their_flat_traits(con: duckdb.DuckDBPyConnection) -> None:
    traits = ("{'plan': 'p' || i, 'objectAttributes': CASE WHEN i = 0 THEN {'name': 'Sales'} END}")
    out = ops(con, traits, type_="group", group="'g' || i", source="range(2) t(i)")
    assert [body["attributes"] for body, _ in out] == [{"plan": "p0", "name": "Sales"}, {"plan": "p1"}]


def test_json_id_columns_are_read_as_text_and_a_json_null_is_no_id() -> None:
    sync = Sync(warehouse="w", query="select 1", primary_key="user_id", type="group")
    changes = pa.table({"_key": ["1", "2"], "_hash": ["h", "h"], "_change": ["added", "added"], "_seq": [1, 2],
                        "user_id": pa.array(['"u1"', "null"], pa.json_()), "group_id": ["g1", "g2"],
                        "object_type_id": pa.array(['2', '"3"'], pa.json_())})
    con = duckdb.connect()
    con.register("changes", changes)
    model = changes.select(["user_id", "group_id", "object_type_id"]).schema
    con.execute(f"CREATE TABLE calls AS SELECT _key, _hash, _change, _seq, {call_select(sync, model)} FROM changes")
    build_ops(con, sync_name="s", overrides={}, convert_timestamps=True)
    bodies = [json.loads(b) for (b,) in con.execute("SELECT body FROM ops ORDER BY op_id").fetchall()]
    assert bodies[0]["identifiers"] == {"object_type_id": "2", "object_id": "g1"}
    assert bodies[0]["cio_relationships"] == [{"identifiers": {"id": "u1"}}]
    # user_id was a JSON null: no relationship at all, never {"id": "null"}
    assert bodies[1]["identifiers"] == {"object_type_id": "3", "object_id": "g2"} and "cio_relationships" not in bodies[1]
