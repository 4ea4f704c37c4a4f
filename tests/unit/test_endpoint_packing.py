"""Packing by endpoint: a segment's ids in `{"ids":[…]}` bodies of at most 1,000, Data Pipelines' 32 KB per call."""

from __future__ import annotations

import json

import pyarrow as pa

from cio_retl.delivery.batching import Request, pack
from cio_retl.delivery.endpoints import endpoint_for, segment_endpoint_name
from tests.unit.test_batching import op, ops_batch, requests

ADD = segment_endpoint_name(42, "add", "email")
REMOVE = segment_endpoint_name(42, "remove", "id")


def test_segment_ids_go_in_bodies_of_at_most_1000_and_a_change_of_endpoint_starts_a_request() -> None:
    ids = [json.dumps(f"p{i}@example.com") for i in range(2500)]
    batch = ops_batch([op(1), *ids, json.dumps("u9")], endpoint=["batch", *[ADD] * 2500, REMOVE])
    out = requests(list(pack([batch])))
    assert [(r.endpoint, len(r)) for r in out] == [("batch", 1), (ADD, 1000), (ADD, 1000), (ADD, 500), (REMOVE, 1)]
    assert json.loads(out[1].body) == {"ids": [f"p{i}@example.com" for i in range(1000)]}
    assert json.loads(out[-1].body) == {"ids": ["u9"]}
    assert endpoint_for(ADD).path == "/api/v1/segments/42/add_customers?id_type=email"
    assert endpoint_for(REMOVE).path == "/api/v1/segments/42/remove_customers"  # ids only: no id_type


def test_a_pipelines_call_of_32_kb_is_a_local_rejection_with_the_silent_200_named() -> None:
    calls = [json.dumps({"type": "identify", "userId": f"u{i}", "traits": {"bio": "x" * size}})
             for i, size in enumerate((10, 40_000, 10))]
    out = list(pack([ops_batch(calls, endpoint="pipelines")]))
    [rejected] = [item for item in out if isinstance(item, pa.Table)]
    assert rejected.column("op_id").to_pylist() == [2]
    reason = rejected.column("reason")[0].as_py()
    assert "accepts at most 32,768 bytes per call" in reason and "answers 200" in reason
    [request] = [item for item in out if isinstance(item, Request)]
    assert len(request) == 2 and json.loads(request.body)["batch"][1]["userId"] == "u2"
