"""Pack serialized operations into request bodies on their Arrow bytes, filled to the byte limit, never re-serialized."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cio_retl.delivery.limits import BATCH_PREFIX, BATCH_SUFFIX, MAX_BATCH_BODY_BYTES, MAX_BATCH_OPS, MAX_OP_BYTES
from cio_retl.delivery.outcomes import outcome_table

# The bytes a batch body spends besides its operations: the envelope; each operation after the first adds a comma.
_ENVELOPE = len(BATCH_PREFIX) + len(BATCH_SUFFIX) - 1


@dataclass
class Request:
    """One HTTP request's worth of operations: `batch` (many) or `metrics` (exactly one).

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
            self._body = bytes(joined) if self.endpoint == "metrics" else b"".join((BATCH_PREFIX, joined, BATCH_SUFFIX))
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
        self._ids: list[np.ndarray] = []
        self._count = 0
        self._pieces: list[pa.Array] = []
        self._bytes = _ENVELOPE

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
        metrics = pc.fill_null(pc.equal(batch.column("endpoint"), "metrics"), False).to_numpy(zero_copy_only=False)
        refused = (pc.is_valid(batch.column("reason")).to_numpy(zero_copy_only=False)
                   if "reason" in batch.schema.names else np.zeros(len(op_ids), bool))
        bad = (lengths >= self.max_op_bytes) | (lengths == 0) | refused
        if bad.any():
            yield _local_rejections(batch, np.flatnonzero(bad), lengths)
        # Runs of one (priority, endpoint): each is packed on its own, in order.
        change = np.flatnonzero((np.diff(priorities) != 0) | (np.diff(metrics) != 0)) + 1
        bounds = [0, *change.tolist(), len(op_ids)]
        for start, stop in zip(bounds[:-1], bounds[1:]):
            keep = start + np.flatnonzero(~bad[start:stop])
            if not len(keep):
                continue
            priority = int(priorities[start])
            if self._priority is not None and priority != self._priority:
                yield from self.finish()
            self._priority = priority
            if metrics[start]:
                yield from self.finish()
                for i in keep.tolist():
                    yield Request("metrics", priority, op_ids[i:i + 1], bodies.slice(i, 1))
            else:
                yield from self._pack(keep, op_ids, lengths, bodies)

    def _pack(self, keep: np.ndarray, op_ids: np.ndarray, lengths: np.ndarray, bodies: pa.Array) -> Iterator[Request]:
        cost = np.cumsum(lengths[keep] + 1)  # each operation costs its bytes plus one separator
        done, spent = 0, 0
        while done < len(keep):
            room = self.max_body_bytes - self._bytes
            fit = int(np.searchsorted(cost, spent + room, side="right")) - done
            fit = min(fit, self.max_ops - self._count)
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
            if self._count >= self.max_ops or self._bytes >= self.max_body_bytes:
                yield self._emit()

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
        request = Request("batch", self._priority or 0, ids, bodies)
        self._ids, self._pieces, self._count, self._bytes = [], [], 0, _ENVELOPE
        return request


def pack(batches: Iterable[pa.RecordBatch], **limits: int | None) -> Iterator[Request | pa.Table]:
    """Requests for a stream of record batches sorted by priority, and tables of local rejections."""
    packer = Packer(**limits)
    for batch in batches:
        yield from packer.feed(batch)
    yield from packer.finish()


def _local_rejections(batch: pa.RecordBatch, rows: np.ndarray, lengths: np.ndarray) -> pa.Table:
    reasons = batch.column("reason").to_pylist() if "reason" in batch.schema.names else [None] * batch.num_rows
    why = [reasons[i] or ("empty operation body" if lengths[i] == 0 else
                          f"operation is {lengths[i]:,} bytes; Customer.io accepts at most {MAX_OP_BYTES:,} bytes "
                          "per operation") for i in rows.tolist()]
    bodies = batch.column("body").take(pa.array(rows)).cast(pa.string())
    bodies = pc.utf8_slice_codeunits(bodies, 0, 2000)
    return outcome_table(batch.column("op_id").to_numpy(zero_copy_only=False)[rows], "rejected", None, why, bodies)
