"""`read_with: cursor` (Redshift) gives exactly what `read_with: copy` gives, text of JSON and numbers included."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from cio_retl.project import PostgresWarehouse
from cio_retl.warehouse import open_warehouse

ODD = """SELECT i AS id, ARRAY[1.50, NULL, 2]::numeric[] AS amounts, ARRAY[timestamp '2024-01-02 03:04:05'] AS times,
       ARRAY['Zoë', 'a"b'] AS names, '{"b": 1, "a": [1.0, "x"]}'::jsonb AS jb, '{"b":1,  "a":2}'::json AS j,
       interval '1 day 02:03:04' AS span, 0.0000001::numeric AS tiny, 'NaN'::numeric AS nan, 12.500::numeric AS n,
       '100%' AS pct, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS uid, NULL::int[] AS no_array
  FROM generate_series(1, 3) AS i"""


def read(url: str, read_with: str) -> pa.Table:
    config = PostgresWarehouse(type="postgres", url=url, read_with=read_with, batch_size=2)
    warehouse = open_warehouse("pg", config, Path("."))
    try:
        return pa.Table.from_batches(list(warehouse.stream(ODD, sync="t")))
    finally:
        warehouse.close()


def test_cursor_and_copy_give_the_same_text(pg_database: str) -> None:
    copy, cursor = read(pg_database, "copy"), read(pg_database, "cursor")
    assert cursor.schema == copy.schema and cursor.to_pylist() == copy.to_pylist()
    first = copy.to_pylist()[0]
    assert first["amounts"] == "[1.50,null,2]" and first["names"] == '["Zoë","a\\"b"]'
    assert first["times"] == '["2024-01-02T03:04:05"]' and first["span"] == "1 day 02:03:04"
    assert first["jb"] == '{"a": [1.0, "x"], "b": 1}' and first["j"] == '{"b":1,  "a":2}'  # the server's own text
    assert (first["tiny"], first["nan"], first["n"]) == ("0.0000001", '"NaN"', "12.5")
    assert first["no_array"] is None and first["pct"] == "100%"
