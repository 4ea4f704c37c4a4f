"""Packing operations into batch bodies on their Arrow bytes: limits, order, carry-over, priorities."""

from __future__ import annotations

import json

import pyarrow as pa

from cio_retl.delivery.batching import Request, pack
from cio_retl.delivery.limits import MAX_BATCH_BODY_BYTES, MAX_OP_BYTES


def ops_batch(bodies: list[str | None], *, first_id: int = 1, priority: int | list[int] = 1,
              endpoint: str | list[str] = "batch", string_type: pa.DataType = pa.string()) -> pa.RecordBatch:
    n = len(bodies)
    priorities = priority if isinstance(priority, list) else [priority] * n
    endpoints = endpoint if isinstance(endpoint, list) else [endpoint] * n
    return pa.RecordBatch.from_arrays(
        [pa.array(range(first_id, first_id + n), pa.int64()), pa.array(priorities, pa.int32()),
         pa.array(endpoints, pa.string()), pa.array(bodies, string_type)],
        names=["op_id", "priority", "endpoint", "body"])


def op(i: int, pad: int = 0) -> str:
    return json.dumps({"type": "person", "action": "identify", "identifiers": {"id": f"u{i}"},
                       "attributes": {"pad": "x" * pad}}, separators=(",", ":"))


def requests(items: list) -> list[Request]:
    return [item for item in items if isinstance(item, Request)]


def test_bodies_are_valid_json_in_order_and_under_the_limit() -> None:
    bodies = [op(i, pad=900) for i in range(2000)]
    out = requests(list(pack([ops_batch(bodies)])))
    assert len(out) > 1
    assert all(len(r.body) <= MAX_BATCH_BODY_BYTES for r in out)
    assert [json.loads(b) for r in out for b in r.bodies.to_pylist()] == [json.loads(b) for b in bodies]
    first = json.loads(out[0].body)
    assert first["batch"][0]["identifiers"] == {"id": "u0"}
    assert [i for r in out for i in r.op_ids] == list(range(1, 2001))
    # full batches are full: the next operation would not have fitted
    assert all(len(r.body) + len(bodies[0]) + 1 > MAX_BATCH_BODY_BYTES for r in out[:-1])


def test_exact_body_bytes_and_count_cap() -> None:
    out = requests(list(pack([ops_batch(['{"a":1}', '{"b":"é"}'])])))
    assert out[0].body == '{"batch":[{"a":1},{"b":"é"}]}'.encode()
    capped = requests(list(pack([ops_batch(['{"a":1}'] * 25)], max_ops=10)))
    assert [len(r) for r in capped] == [10, 10, 5]


def test_partial_batch_carries_over_between_record_batches() -> None:
    batches = [ops_batch([op(i)] * 3, first_id=1 + 3 * i) for i in range(4)]
    out = requests(list(pack(batches)))
    assert len(out) == 1 and out[0].op_ids.tolist() == list(range(1, 13))


def test_priority_change_flushes_and_metrics_go_alone() -> None:
    batch = ops_batch([op(1), op(2), op(3), '{"delivery_id":"d1","metric":"opened"}', op(5)],
                      priority=[0, 0, 1, 3, 3], endpoint=["batch", "batch", "batch", "metrics", "batch"])
    out = requests(list(pack([batch])))
    assert [(r.endpoint, r.priority, r.op_ids.tolist()) for r in out] == [
        ("batch", 0, [1, 2]), ("batch", 1, [3]), ("metrics", 3, [4]), ("batch", 3, [5])]
    assert out[2].body == b'{"delivery_id":"d1","metric":"opened"}'


def test_oversize_and_empty_operations_are_rejected_locally() -> None:
    items = list(pack([ops_batch([op(1), op(2, pad=MAX_OP_BYTES), None, op(4)])]))
    rejected = [row for item in items if isinstance(item, pa.Table) for row in item.to_pylist()]
    assert [(o["op_id"], o["status"], o["status_code"]) for o in rejected] == [(2, "rejected", None), (3, "rejected", None)]
    assert "32,768" in rejected[0]["reason"] and rejected[1]["reason"] == "empty operation body"
    assert requests(items)[0].op_ids.tolist() == [1, 4]


def test_operations_with_a_reason_were_refused_by_a_local_check() -> None:
    batch = ops_batch([op(1), op(2), op(3)])
    batch = batch.append_column("reason", pa.array([None, "no identifier: set user_id", None]))
    items = list(pack([batch]))
    [refused] = [item for item in items if isinstance(item, pa.Table)]
    assert refused.to_pylist() == [{"op_id": 2, "status": "rejected", "status_code": None,
                                    "reason": "no identifier: set user_id", "body": op(2)}]
    assert requests(items)[0].op_ids.tolist() == [1, 3]


def test_bodies_are_filled_to_the_byte_limit_with_no_count_cap() -> None:
    out = requests(list(pack([ops_batch([op(i) for i in range(20_000)])])))
    assert len(out[0]) > 1000  # a 1,000-operation cap would have sent a third of a body
    assert all(MAX_BATCH_BODY_BYTES - len(op(0)) - 1 < len(r.body) <= MAX_BATCH_BODY_BYTES for r in out[:-1])


def test_sliced_and_large_string_columns() -> None:
    batch = ops_batch([op(i) for i in range(10)], string_type=pa.large_string()).slice(3, 4)
    [request] = requests(list(pack([batch])))
    assert request.op_ids.tolist() == [4, 5, 6, 7]
    assert [item["identifiers"]["id"] for item in json.loads(request.body)["batch"]] == ["u3", "u4", "u5", "u6"]


def test_halves_rebuild_bodies() -> None:
    [request] = requests(list(pack([ops_batch([op(i) for i in range(5)])])))
    left, right = request.halves()
    assert left.op_ids.tolist() == [1, 2] and right.op_ids.tolist() == [3, 4, 5]
    assert len(json.loads(right.body)["batch"]) == 3
