"""Timestamp conversion SQL: top-level (lenient) and attribute (strict ISO-8601) rules, on real DuckDB."""

from __future__ import annotations

import duckdb
import pytest

from cio_retl.actions.timestamps import attribute_seconds, json_attribute_text, seconds_sql

VARCHAR = duckdb.sqltype("VARCHAR")
CASES = [  # text, top-level seconds, attribute seconds (None: left alone)
    ("2024-01-02T05:04:05+02:00", 1704164645, 1704164645),
    ("2024-01-02T03:04:05Z", 1704164645, 1704164645),
    ("2024-01-02T03:04:05", 1704164645, 1704164645),           # no offset = UTC, not the server's zone
    ("2024-01-02", 1704153600, 1704153600),
    ("2024-01-02T03:04", 1704164640, 1704164640),
    ("2024-01-02T03:04:05.6527521Z", 1704164645, 1704164645),   # fractions floor to seconds
    ("2024-01-02T03:04:05.1234567890Z", 1704164645, None),     # 10 fraction digits: not strict ISO
    ("2024-01-02T03:04:05-0800", 1704193445, 1704193445),
    ("2024-01-02 03:04:05", 1704164645, None),                  # space separator: only the lenient top level
    ("2024-01-02t03:04:05z", 1704164645, None),
    ("2023-13-25", None, None), ("2023-12-32", None, None), ("2023-02-29", None, None), ("2024-02-29", 1709164800, 1709164800),
    ("2023-12-25T25:30:45", None, None),
    ("2018-03-04T12:08:56.235 PDT", None, None),
    ("1704164645", 1704164645, None), ("1704164645000", 1704164645, None), ("1704164645.9", 1704164645, None),
    ("invalid-date", None, None), ("", None, None),
]


@pytest.mark.parametrize(("text", "top", "attribute"), CASES, ids=[c[0] or "empty" for c in CASES])
def test_string_rules(text: str, top: int | None, attribute: int | None) -> None:
    got = duckdb.execute(f"SELECT {seconds_sql('x', VARCHAR)}, {attribute_seconds('x')} FROM (SELECT ? AS x)", [text]).fetchone()
    assert got == (top, attribute)


@pytest.mark.parametrize(("sql", "expected"), [
    ("TIMESTAMP '2024-01-02 03:04:05.9'", 1704164645),
    ("TIMESTAMPTZ '2024-01-02 05:04:05+02'", 1704164645),
    ("DATE '2024-01-02'", 1704153600),
    ("TIMESTAMP 'infinity'", None),
    ("1704164645::BIGINT", 1704164645),
    ("1704164645000::BIGINT", 1704164645),                       # milliseconds heuristic, top level only
    ("'nan'::DOUBLE", None),
    ("TIMESTAMP '1969-12-31 23:59:59.5'", -1),
])
def test_native_and_numeric_top_level(sql: str, expected: int | None) -> None:
    dtype = duckdb.sql(f"SELECT {sql} AS x").dtypes[0]
    assert duckdb.execute(f"SELECT {seconds_sql('x', dtype)} FROM (SELECT {sql} AS x)").fetchone()[0] == expected


def test_session_time_zone_does_not_matter() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone='America/Los_Angeles'")
    assert con.execute(f"SELECT {attribute_seconds('x')} FROM (SELECT '2024-01-02' AS x)").fetchone()[0] == 1704153600


JSON_CASES = [  # JSON text in, JSON text out (None: NULL); objects entered at any depth, lists never
    ('{"tier": "gold", "since": "2018-06-10T21:49:44Z"}', '{"tier": "gold", "since": 1528667384}'),
    ('{"a":{"b":{"c":"2024-01-02"}}}', '{"a":{"b":{"c":1704153600}}}'),
    ('{"dates": ["2024-01-02", {"in_list": "2024-01-02"}], "after": "2024-01-02"}',
     '{"dates": ["2024-01-02", {"in_list": "2024-01-02"}], "after": 1704153600}'),
    ('{"digits": "1704164645", "ms": 1704164645000, "bad": "2023-02-30", "spaced": "2024-01-02 03:04:05"}',
     '{"digits": "1704164645", "ms": 1704164645000, "bad": "2023-02-30", "spaced": "2024-01-02 03:04:05"}'),
    ('{"2024-01-02": "key, not value", "v": "2024-01-02T03:04:05+02:00"}', '{"2024-01-02": "key, not value", "v": 1704157445}'),
    ('{"q\\"uote": "a\\\\", "br[": "x]", "d": "2024-01-02"}', '{"q\\"uote": "a\\\\", "br[": "x]", "d": 1704153600}'),
    ('{"s": "[\\"2024-01-02", "d": "2024-01-02"}', '{"s": "[\\"2024-01-02", "d": 1704153600}'),
    ('"2024-01-02"', '1704153600'),                       # a JSON string attribute converts like text
    ('["2024-01-02"]', '["2024-01-02"]'), ('null', 'null'), ('{"n": null}', '{"n": null}'), (None, None),
]


@pytest.mark.parametrize(("text", "expected"), JSON_CASES, ids=[str(i) for i in range(len(JSON_CASES))])
def test_json_attributes_convert_inside_objects_not_lists(text: str | None, expected: str | None) -> None:
    assert duckdb.execute(f"SELECT {json_attribute_text('j')} FROM (SELECT ?::JSON AS j)", [text]).fetchone()[0] == expected
