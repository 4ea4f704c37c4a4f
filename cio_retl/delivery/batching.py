"""Pack serialized operations into request bodies on their Arrow bytes, never re-serializing them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cio_retl.delivery.limits import BATCH_PREFIX, BATCH_SUFFIX, MAX_BATCH_BODY_BYTES, MAX_BATCH_OPS, MAX_OP_BYTES
from cio_retl.delivery.outcomes import Outcome

Part = bytes | memoryview
# The bytes a batch body spends besides its operations: the envelope; each operation after the first adds a comma.
_ENVELOPE = len(BATCH_PREFIX) + len(BATCH_SUFFIX) - 1


@dataclass
class Request:
    """One HTTP request's worth of operations: `batch` (many) or `metrics` (exactly one)."""

    endpoint: str
    priority: int
    op_ids: list[int]
    parts: list[Part]
    _body: bytes | None = field(default=None, repr=False)

    @property
    def body(self) -> bytes:
        """The request body: the operations' own JSON bytes joined, inside `{"batch":[…]}` for batches."""
        if self._body is None:
            if self.endpoint == "metrics":
                self._body = bytes(self.parts[0])
            else:
                self._body = b"".join((BATCH_PREFIX, b",".join(self.parts), BATCH_SUFFIX))
        return self._body

    def __len__(self) -> int:
        return len(self.op_ids)

    def halves(self) -> tuple[Request, Request]:
        """Two requests of half the operations each (to isolate bad items after a 400)."""
        mid = len(self.op_ids) // 2
        return (Request(self.endpoint, self.priority, self.op_ids[:mid], self.parts[:mid]),
                Request(self.endpoint, self.priority, self.op_ids[mid:], self.parts[mid:]))


class Packer:
    """Greedy packer: fills each batch up to the byte and count limits; a partial batch carries over between
    record batches and is flushed when the priority changes or the input ends."""

    def __init__(self, *, max_body_bytes: int = MAX_BATCH_BODY_BYTES, max_ops: int = MAX_BATCH_OPS,
                 max_op_bytes: int = MAX_OP_BYTES) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_ops = max_ops
        self.max_op_bytes = max_op_bytes
        self._priority: int | None = None
        self._ids: list[int] = []
        self._parts: list[Part] = []
        self._bytes = _ENVELOPE

    def feed(self, batch: pa.RecordBatch) -> Iterator[Request | list[Outcome]]:
        """Requests completed by this record batch (plus local rejections, as a list of outcomes)."""
        if batch.num_rows == 0:
            return
        offsets, data = _string_buffers(batch.column("body"))
        lengths = np.diff(offsets)
        op_ids = batch.column("op_id").to_numpy(zero_copy_only=False)
        priorities = batch.column("priority").to_numpy(zero_copy_only=False)
        metrics = pc.fill_null(pc.equal(batch.column("endpoint"), "metrics"), False).to_numpy(zero_copy_only=False)
        valid = batch.column("body").is_valid().to_numpy(zero_copy_only=False)
        bad = ~valid | (lengths >= self.max_op_bytes) | (lengths == 0)
        if bad.any():
            yield [_local_rejection(int(op_ids[i]), int(lengths[i]), bool(valid[i])) for i in np.flatnonzero(bad)]
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
                    yield Request("metrics", priority, [int(op_ids[i])], [data[offsets[i]:offsets[i + 1]]])
            else:
                yield from self._pack(keep, op_ids, offsets, lengths, data)

    def _pack(self, keep: np.ndarray, op_ids: np.ndarray, offsets: np.ndarray, lengths: np.ndarray,
              data: memoryview) -> Iterator[Request]:
        cost = np.cumsum(lengths[keep] + 1)  # each operation costs its bytes plus one separator
        done, spent = 0, 0
        while done < len(keep):
            room = self.max_body_bytes - self._bytes
            fit = int(np.searchsorted(cost, spent + room, side="right")) - done
            fit = min(fit, self.max_ops - len(self._ids))
            if fit <= 0 and self._ids:
                yield self._emit()
                continue
            fit = max(fit, 1)  # an operation larger than the body budget still goes, alone
            for i in keep[done:done + fit].tolist():
                self._parts.append(data[offsets[i]:offsets[i + 1]])
            self._ids.extend(op_ids[keep[done:done + fit]].tolist())
            self._bytes += int(cost[done + fit - 1] - spent)
            spent = int(cost[done + fit - 1])
            done += fit
            if len(self._ids) >= self.max_ops:
                yield self._emit()

    def finish(self) -> Iterator[Request]:
        """The partial batch, if any."""
        if self._ids:
            yield self._emit()

    def _emit(self) -> Request:
        request = Request("batch", self._priority or 0, self._ids, self._parts)
        self._ids, self._parts, self._bytes = [], [], _ENVELOPE
        return request


def pack(batches: Iterable[pa.RecordBatch], **limits: int) -> Iterator[Request | list[Outcome]]:
    """Requests for a stream of record batches sorted by (priority, op_id), and lists of local rejections."""
    packer = Packer(**limits)
    for batch in batches:
        yield from packer.feed(batch)
    yield from packer.finish()


def _string_buffers(column: pa.Array) -> tuple[np.ndarray, memoryview]:
    """The offsets (one more than rows) and data bytes of a string column, without copying the strings."""
    if pa.types.is_string(column.type) or pa.types.is_binary(column.type):
        width = np.int32
    elif pa.types.is_large_string(column.type) or pa.types.is_large_binary(column.type):
        width = np.int64
    else:  # string_view and friends: one cast to a plain string layout
        column, width = column.cast(pa.large_string()), np.int64
    _, offsets_buffer, data_buffer = column.buffers()[:3]
    offsets = np.frombuffer(offsets_buffer, dtype=width)[column.offset:column.offset + len(column) + 1]
    data = memoryview(data_buffer) if data_buffer is not None else memoryview(b"")
    return offsets.astype(np.int64), data


def _local_rejection(op_id: int, length: int, valid: bool) -> Outcome:
    if not valid or length == 0:
        return Outcome(op_id, "rejected", None, "empty operation body")
    return Outcome(op_id, "rejected", None,
                   f"operation is {length:,} bytes; Customer.io accepts at most {MAX_OP_BYTES:,} bytes per operation")
