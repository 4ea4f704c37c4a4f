"""Pack serialized operations into request bodies on their Arrow bytes, filled to the byte limit, never re-serialized."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cio_retl.delivery.endpoints import BATCH, Endpoint, endpoint_for
from cio_retl.delivery.limits import MAX_BATCH_BODY_BYTES, MAX_BATCH_OPS, MAX_OP_BYTES
from cio_retl.delivery.outcomes import outcome_table


def _envelope(endpoint: Endpoint) -> int:
    """The bytes a body spends besides its operations: the envelope; each operation after the first adds a comma."""
    return len(endpoint.prefix) + len(endpoint.suffix) - 1


@dataclass
class Request:
    """One HTTP request's worth of operations for one endpoint (delivery/endpoints.py): many, or one (`metrics`).

    `bodies` is a slice of the input's Arrow string column: the operations' own serialized bytes.
    """

    endpoint: str
    priority: int
    op_ids: np.ndarray
    bodies: pa.Array
    _body: bytes | None = field(default=None, repr=False)

    @property
    def body(self) -> bytes:
        """The request body: the operations' bytes joined by Arrow (no JSON round trip), in `{"batch":[…]}`."""
        if self._body is None:
            bodies = self.bodies
            if not (pa.types.is_string(bodies.type) or pa.types.is_large_string(bodies.type)):
                bodies = bodies.cast(pa.large_string())  # string_view and friends
            listed = pa.ListArray.from_arrays(pa.array([0, len(bodies)], pa.int32()), bodies)
            joined = pc.binary_join(listed, pa.scalar(",", bodies.type))[0].as_buffer()
            shape = endpoint_for(self.endpoint)
            self._body = bytes(joined) if shape.single else b"".join((shape.prefix, joined, shape.suffix))
        return self._body

    def __len__(self) -> int:
        return len(self.op_ids)

    def halves(self) -> tuple[Request, Request]:
        """Two requests of half the operations each (to isolate bad items after a 400)."""
        mid = len(self.op_ids) // 2
        return (Request(self.endpoint, self.priority, self.op_ids[:mid], self.bodies.slice(0, mid)),
                Request(self.endpoint, self.priority, self.op_ids[mid:], self.bodies.slice(mid)))


class Packer:
    """Greedy packer: fills each batch up to the byte limit (and the count cap, if one is set); a partial batch
    carries over between record batches and is flushed when the priority changes or the input ends."""

    def __init__(self, *, max_body_bytes: int = MAX_BATCH_BODY_BYTES, max_ops: int | None = MAX_BATCH_OPS,
                 max_op_bytes: int = MAX_OP_BYTES) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_ops = max_ops or 1 << 62
        self.max_op_bytes = max_op_bytes
        self._priority: int | None = None
        self._endpoint = BATCH
        self._ids: list[np.ndarray] = []
        self._count = 0
        self._pieces: list[pa.Array] = []
        self._bytes = _envelope(BATCH)

    def feed(self, batch: pa.RecordBatch) -> Iterator[Request | pa.Table]:
        """Requests completed by this record batch, and local rejections (as a table of outcomes).

        A batch may carry a `reason` column: an operation with a reason was refused by a local check.
        """
        if batch.num_rows == 0:
            return
        bodies = batch.column("body")
        lengths = pc.fill_null(pc.binary_length(bodies), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        op_ids = batch.column("op_id").to_numpy(zero_copy_only=False)
        priorities = batch.column("priority").to_numpy(zero_copy_only=False)
        names = batch.column("endpoint")
        refused = (pc.is_valid(batch.column("reason")).to_numpy(zero_copy_only=False)
                   if "reason" in batch.schema.names else np.zeros(len(op_ids), bool))
        # Runs of one (priority, endpoint): each is packed on its own, in order.
        other_endpoint = pc.fill_null(pc.not_equal(names.slice(1), names.slice(0, len(names) - 1)), False)
        change = np.flatnonzero((np.diff(priorities) != 0) | other_endpoint.to_numpy(zero_copy_only=False)) + 1
        bounds = [0, *change.tolist(), len(op_ids)]
        for start, stop in zip(bounds[:-1], bounds[1:]):
            endpoint = endpoint_for(names[start].as_py() or "batch")
            max_op = self.max_op_bytes if endpoint is BATCH else endpoint.max_op_bytes
            run_lengths = lengths[start:stop]
            bad = (run_lengths >= max_op) | (run_lengths == 0) | refused[start:stop]
            if bad.any():
                yield _local_rejections(batch, start + np.flatnonzero(bad), lengths, endpoint)
            keep = start + np.flatnonzero(~bad)
            if not len(keep):
                continue
            priority = int(priorities[start])
            if self._priority is not None and (priority != self._priority or endpoint != self._endpoint):
                yield from self.finish()
            self._priority = priority
            if endpoint.single:
                yield from self.finish()
                for i in keep.tolist():
                    yield Request(endpoint.name, priority, op_ids[i:i + 1], bodies.slice(i, 1))
            else:
                if endpoint != self._endpoint:
                    self._endpoint, self._bytes = endpoint, _envelope(endpoint)
                yield from self._pack(keep, op_ids, lengths, bodies)

    def _pack(self, keep: np.ndarray, op_ids: np.ndarray, lengths: np.ndarray, bodies: pa.Array) -> Iterator[Request]:
        cost = np.cumsum(lengths[keep] + 1)  # each operation costs its bytes plus one separator
        done, spent = 0, 0
        while done < len(keep):
            max_body, max_ops = self._limits()
            room = max_body - self._bytes
            fit = int(np.searchsorted(cost, spent + room, side="right")) - done
            fit = min(fit, max_ops - self._count)
            if fit <= 0 and self._count:
                yield self._emit()
                continue
            fit = max(fit, 1)  # an operation larger than the body budget still goes, alone
            chosen = keep[done:done + fit]
            contiguous = int(chosen[-1] - chosen[0]) == fit - 1
            self._pieces.append(bodies.slice(int(chosen[0]), fit) if contiguous else bodies.take(pa.array(chosen)))
            self._ids.append(op_ids[chosen])
            self._count += fit
            self._bytes += int(cost[done + fit - 1] - spent)
            spent = int(cost[done + fit - 1])
            done += fit
            if self._count >= max_ops or self._bytes >= max_body:
                yield self._emit()

    def _limits(self) -> tuple[int, int]:
        """(body bytes, operations) one request of the current endpoint may hold."""
        if self._endpoint is BATCH:
            return self.max_body_bytes, self.max_ops
        return (min(self.max_body_bytes, self._endpoint.max_body_bytes),
                min(self.max_ops, self._endpoint.max_ops or self.max_ops))

    def finish(self) -> Iterator[Request]:
        """The partial batch, if any."""
        if self._count:
            yield self._emit()

    def _emit(self) -> Request:
        pieces = self._pieces
        if len({piece.type for piece in pieces}) > 1:
            pieces = [piece.cast(pa.large_string()) for piece in pieces]
        bodies = pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)
        ids = self._ids[0] if len(self._ids) == 1 else np.concatenate(self._ids)
        request = Request(self._endpoint.name, self._priority or 0, ids, bodies)
        self._ids, self._pieces, self._count, self._bytes = [], [], 0, _envelope(self._endpoint)
        return request


def pack(batches: Iterable[pa.RecordBatch], **limits: int | None) -> Iterator[Request | pa.Table]:
    """Requests for a stream of record batches sorted by priority, and tables of local rejections."""
    packer = Packer(**limits)
    for batch in batches:
        yield from packer.feed(batch)
    yield from packer.finish()


def _local_rejections(batch: pa.RecordBatch, rows: np.ndarray, lengths: np.ndarray, endpoint: Endpoint) -> pa.Table:
    reasons = batch.column("reason").to_pylist() if "reason" in batch.schema.names else [None] * batch.num_rows
    why = [reasons[i] or endpoint.too_large(int(lengths[i])) for i in rows.tolist()]
    bodies = batch.column("body").take(pa.array(rows)).cast(pa.string())
    bodies = pc.utf8_slice_codeunits(bodies, 0, 2000)
    return outcome_table(batch.column("op_id").to_numpy(zero_copy_only=False)[rows], "rejected", None, why, bodies)
