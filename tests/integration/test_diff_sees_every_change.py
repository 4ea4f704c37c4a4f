"""The diff sees every change: random schemas of every column type the warehouses produce (lists, structs, maps,
JSON, nested mixes, NULL against empty, floats, decimals, timestamps of every precision), random pairs of rows,
two real runs of a DuckDB-warehouse sync: exactly the keys whose row changed are sent again.

The rows go through the real path: a DuckDB warehouse file, the reader (in-engine or Arrow staging, whichever
the schema takes), the row hash, the diff against the snapshot the first run committed. Equal means equal as
staged: nanosecond digits are floored away (Customer.io receives seconds), and -0.0 is never generated (it is
0.0 to the diff, as to JSON).
"""

from __future__ import annotations

import os

import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cio_retl.pipeline.sync import run_sync
from cio_retl.project import load_project
from tests.conftest import RecordingDelivery

JSON = "json"  # a top-level JSON column: text in Arrow, cast to JSON in the warehouse table
SCALAR_TYPES = [pa.int64(), pa.int32(), pa.float64(), pa.float32(), pa.bool_(), pa.string(), pa.date32(),
                pa.timestamp("s"), pa.timestamp("ms"), pa.timestamp("us"), pa.timestamp("ns"),
                pa.timestamp("us", tz="UTC"), pa.timestamp("ns", tz="UTC"), pa.decimal128(10, 2),
                pa.decimal128(38, 4), pa.binary()]
# Small domains, so that independent draws often coincide (equal rows) and near misses are frequent.
TEXTS = ["", "a", "b", "a,b", "[", "]", '"', "null", "{}", "\\", "Zoë"]
FLOATS = [0.0, 0.1, 0.2, 1.5, -1.5, 1e300, 5e-324, math.nan, math.inf, -math.inf]
EPOCH_2024 = 1_704_164_645  # seconds


def scalar_values(arrow_type: pa.DataType) -> st.SearchStrategy[Any]:
    if pa.types.is_integer(arrow_type):
        return st.integers(-2, 2)
    if pa.types.is_floating(arrow_type):
        return st.sampled_from(FLOATS)
    if pa.types.is_boolean(arrow_type):
        return st.booleans()
    if pa.types.is_string(arrow_type):
        return st.sampled_from(TEXTS)
    if pa.types.is_binary(arrow_type):
        return st.sampled_from([b"", b"\x00", b"a", b"\xff\x00"])
    if pa.types.is_date(arrow_type):
        return st.sampled_from([-1, 0, 19724])
    if pa.types.is_decimal(arrow_type):
        return st.sampled_from([Decimal("0"), Decimal("0.01"), Decimal("-1.50"), Decimal("12.5")])
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[arrow_type.unit]
    base = st.sampled_from([-1, 0, EPOCH_2024])
    offset = st.sampled_from([0, 1, per_second - 1])  # the smallest step of the unit, and the last one in a second
    return st.builds(lambda s, o: s * per_second + o, base, offset)


def nested_types(children: st.SearchStrategy[pa.DataType]) -> st.SearchStrategy[pa.DataType]:
    names = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True)
    return st.one_of(
        children.map(pa.list_),
        st.builds(lambda ns, ts: pa.struct([pa.field(n, t) for n, t in zip(ns, ts)]), names,
                  st.lists(children, min_size=3, max_size=3)),
        children.map(lambda t: pa.map_(pa.string(), t)))


COLUMN_TYPES = st.recursive(st.sampled_from(SCALAR_TYPES), nested_types, max_leaves=4)


def values(arrow_type: pa.DataType | str) -> st.SearchStrategy[Any]:
    """A value of the type (None included), as pyarrow's from_pylist takes it."""
    if arrow_type == JSON:
        leaf = st.one_of(st.none(), st.integers(0, 2), st.sampled_from(TEXTS))
        inner = st.recursive(leaf, lambda c: st.lists(c, max_size=2) | st.dictionaries(st.sampled_from("ab"), c, max_size=2),
                             max_leaves=3)
        return st.one_of(st.none(), inner.map(json.dumps))
    if pa.types.is_list(arrow_type):
        return st.none() | st.lists(values(arrow_type.value_type), max_size=3)
    if pa.types.is_struct(arrow_type):
        fields = {f.name: values(f.type) for f in arrow_type}
        return st.none() | st.fixed_dictionaries(fields)
    if pa.types.is_map(arrow_type):
        entry_keys = st.lists(st.sampled_from(["k", "l", ""]), max_size=2, unique=True)
        return st.none() | entry_keys.flatmap(
            lambda keys: st.tuples(*(values(arrow_type.item_type) for _ in keys)).map(lambda vs: list(zip(keys, vs))))
    return st.none() | scalar_values(arrow_type)


def canonical(value: Any, arrow_type: pa.DataType | str) -> Any:
    """The value as staged, comparable with ==: floats by their text (nan == nan), ns floored to microseconds."""
    if value is None:
        return ("NULL",)
    if arrow_type == JSON:
        return ("json", value)
    if pa.types.is_list(arrow_type):
        return ("list", tuple(canonical(v, arrow_type.value_type) for v in value))
    if pa.types.is_struct(arrow_type):
        return ("struct", tuple(canonical(value[f.name], f.type) for f in arrow_type))
    if pa.types.is_map(arrow_type):
        return ("map", tuple((k, canonical(v, arrow_type.item_type)) for k, v in value))
    if pa.types.is_floating(arrow_type):
        return repr(float(pa.scalar(value, arrow_type).as_py()))
    if pa.types.is_timestamp(arrow_type) and arrow_type.unit == "ns":
        return value // 1000
    return value


@st.composite
def tables(draw: st.DrawFn) -> tuple[pa.Schema, list[str], list[dict], list[dict]]:
    """A schema and two versions of its rows under the same keys: each row kept, or drawn again."""
    types = draw(st.lists(st.one_of(COLUMN_TYPES, st.just(JSON)), min_size=1, max_size=4))
    columns = {f"c{i}": t for i, t in enumerate(types)}
    json_columns = [name for name, t in columns.items() if t == JSON]
    schema = pa.schema([("user_id", pa.string())] + [(n, pa.string() if t == JSON else t) for n, t in columns.items()])
    row = st.fixed_dictionaries({n: values(t) for n, t in columns.items()})
    before, after = [], []
    for i in range(draw(st.integers(1, 8))):
        first = draw(row)
        second = first if draw(st.booleans()) else draw(row)
        before.append({"user_id": f"k{i}", **first})
        after.append({"user_id": f"k{i}", **second})
    return schema, json_columns, before, after


def write_people(path: Path, schema: pa.Schema, json_columns: list[str], rows: list[dict]) -> None:
    con = duckdb.connect(str(path))
    con.register("rows", pa.Table.from_pylist(rows, schema=schema))
    cast = ", ".join(f"{c}::JSON AS {c}" for c in json_columns)
    con.execute(f"CREATE OR REPLACE TABLE people AS SELECT * {f'REPLACE ({cast})' if cast else ''} FROM rows")
    con.close()


def changed_keys(schema: pa.Schema, json_columns: list[str], before: list[dict], after: list[dict]) -> set[str]:
    types = {f.name: JSON if f.name in json_columns else f.type for f in schema}
    return {b["user_id"] for a, b in zip(before, after)
            if any(canonical(a[c], t) != canonical(b[c], t) for c, t in types.items())}


def sent_keys(delivery: RecordingDelivery) -> set[str]:
    return {op["identifiers"]["id"] for op in delivery.sent}


# No shrinking: each example is two real runs, and the failing case is printed whole in the assertion. Each
# example is a random schema of several columns and several row pairs; CIO_RETL_PROPERTY_EXAMPLES raises the count
# for a deeper search (e.g. 500) than the suite's.
@settings(max_examples=int(os.environ.get("CIO_RETL_PROPERTY_EXAMPLES", "30")), deadline=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=tables())
def test_the_diff_flags_exactly_the_rows_that_changed(tmp_path_factory: pytest.TempPathFactory, case) -> None:
    schema, json_columns, before, after = case
    folder = tmp_path_factory.mktemp("diff")
    (folder / "cio_retl.yaml").write_text(yaml.safe_dump({
        "state": "state", "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}},
        "destination": {"site_id": "s", "api_key": "k"},
        "syncs": {"people": {"warehouse": "wh", "table": "people", "primary_key": "user_id", "type": "identify"}}}))
    project = load_project(folder / "cio_retl.yaml")
    write_people(folder / "warehouse.duckdb", schema, json_columns, before)
    first = RecordingDelivery()
    run_sync(project, "people", deliver=first)
    assert sent_keys(first) == {row["user_id"] for row in before}
    write_people(folder / "warehouse.duckdb", schema, json_columns, after)
    second = RecordingDelivery()
    report = run_sync(project, "people", deliver=second)
    expected = changed_keys(schema, json_columns, before, after)
    assert sent_keys(second) == expected, (schema, before, after)
    assert report.changed == len(expected)


ISSUE_CASES = {  # the blind spots reported in issue 19, each as (type of columns a and b, before, after)
    "element moved between list columns": (pa.list_(pa.int64()), ([5], []), ([], [5])),
    "[] becomes NULL": (pa.list_(pa.int64()), ([], None), (None, None)),
    "[NULL] becomes NULL": (pa.list_(pa.int64()), ([None], None), (None, None)),
    "nested list regrouped": (pa.list_(pa.list_(pa.int64())), ([[1], [2]], None), ([[1, 2]], None)),
    "NULL struct becomes a struct of NULLs": (pa.struct([("x", pa.int64()), ("y", pa.string())]),
                                              (None, None), ({"x": None, "y": None}, None)),
    "element moved between list fields of a struct": (
        pa.struct([("x", pa.list_(pa.int64())), ("y", pa.list_(pa.int64()))]),
        ({"x": [5], "y": []}, None), ({"x": [], "y": [5]}, None)),
}


@pytest.mark.parametrize("name", ISSUE_CASES)
def test_each_reported_blind_spot_is_seen(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    arrow_type, (a1, b1), (a2, b2) = ISSUE_CASES[name]
    schema = pa.schema([("user_id", pa.string()), ("a", arrow_type), ("b", arrow_type)])
    folder = tmp_path_factory.mktemp("spot")
    (folder / "cio_retl.yaml").write_text(yaml.safe_dump({
        "state": "state", "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}},
        "destination": {"site_id": "s", "api_key": "k"},
        "syncs": {"people": {"warehouse": "wh", "table": "people", "primary_key": "user_id", "type": "identify"}}}))
    project = load_project(folder / "cio_retl.yaml")
    write_people(folder / "warehouse.duckdb", schema, [], [{"user_id": "u1", "a": a1, "b": b1}])
    run_sync(project, "people", deliver=RecordingDelivery())
    write_people(folder / "warehouse.duckdb", schema, [], [{"user_id": "u1", "a": a2, "b": b2}])
    second = RecordingDelivery()
    run_sync(project, "people", deliver=second)
    assert sent_keys(second) == {"u1"}, name


def test_a_snapshot_hashed_the_old_way_is_resent_once_with_the_reason(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("probe")
    (folder / "cio_retl.yaml").write_text(yaml.safe_dump({
        "state": "state", "warehouses": {"wh": {"type": "duckdb", "path": "warehouse.duckdb"}},
        "destination": {"site_id": "s", "api_key": "k"},
        "syncs": {"people": {"warehouse": "wh", "table": "people", "primary_key": "user_id", "type": "identify"}}}))
    project = load_project(folder / "cio_retl.yaml")
    schema = pa.schema([("user_id", pa.string()), ("tags", pa.list_(pa.string()))])
    write_people(folder / "warehouse.duckdb", schema, [], [{"user_id": "u1", "tags": ["a"]}, {"user_id": "u2", "tags": []}])
    run_sync(project, "people", deliver=RecordingDelivery())
    state = duckdb.connect(str(folder / "state" / "people.duckdb"))
    state.execute("UPDATE meta SET value = '1234567890' WHERE name = 'hash_probe'")  # as a version-1 cio-retl stored it
    state.close()
    again = RecordingDelivery()
    report = run_sync(project, "people", deliver=again)
    assert sent_keys(again) == {"u1", "u2"} and report.full_resync
    assert any("new, unambiguous encoding" in w and "full resync" in w for w in report.warnings), report.warnings
    quiet = RecordingDelivery()
    assert not run_sync(project, "people", deliver=quiet).full_resync and quiet.sent == []
