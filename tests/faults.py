"""Fault injection at the stage boundaries of run_sync, as an exception or a SIGKILL of the process.

In-process: `with injected(point, "exception"): ...`. In a subprocess, as a user runs cio-retl:
    python -m tests.faults POINT KIND run [cio-retl arguments…]
installs the fault, then runs the real command line. Each fault fires once, at the first time its point is
reached, so a multi-sync run faults in its first sync only.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import cio_retl.pipeline.sync
import cio_retl.pipeline.writeahead

POINTS = ("during_extract", "after_diff", "after_write_ahead", "during_build", "mid_delivery", "before_settle")


class InjectedFault(RuntimeError):
    """The exception an injected fault raises."""


class _Fault:
    def __init__(self, kind: str) -> None:
        self.kind, self.fired = kind, False

    def __call__(self, where: str) -> None:
        if self.fired:
            return
        self.fired = True
        if self.kind == "sigkill":
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        raise InjectedFault(f"injected fault {where}")


def _patches(point: str, fault: _Fault) -> list[tuple[Any, str, Any]]:
    """(object, attribute, replacement) for one injection point; chunks are made small so a run has several."""
    sync, writeahead = cio_retl.pipeline.sync, cio_retl.pipeline.writeahead
    small_chunks = [(writeahead, "FIRST_CHUNK_ROWS", 500), (writeahead, "CHUNK_ROWS", 500)]
    if point == "during_extract":  # the Arrow path, so the fault lands between two batches of the model
        original = sync.open_warehouse

        def open_failing(*args: Any, **kwargs: Any) -> Any:
            warehouse = original(*args, **kwargs)
            stream = warehouse.stream

            def failing_stream(*a: Any, **k: Any) -> Iterator[Any]:
                for number, batch in enumerate(stream(*a, **k)):
                    if number == 1:
                        fault("during extract, after the first batch")
                    yield batch
            warehouse.stream = failing_stream
            warehouse.stage_in_engine = None
            return warehouse
        return [*small_chunks, (sync, "open_warehouse", open_failing)]
    if point == "after_diff":
        return [*small_chunks, (sync, "compute_diff", _after(sync.compute_diff, fault, point))]
    if point == "after_write_ahead":  # the first chunk's rows are committed, none of their operations sent
        return [*small_chunks, (writeahead.Operations, "_write_rows",
                                _after(writeahead.Operations._write_rows, fault, point))]
    if point == "during_build":  # the second chunk's operations are being built; the first chunk's are out
        original_operations = writeahead.Operations._operations
        calls = []

        def operations(self: Any, *args: Any) -> Iterator[Any]:
            calls.append(1)
            if len(calls) == 2:
                fault(point)
            yield from original_operations(self, *args)
        return [*small_chunks, (writeahead.Operations, "_operations", operations)]
    if point == "mid_delivery":
        return [*small_chunks, (sync, "OutcomeWriter", _writer_failing_after(sync.OutcomeWriter, fault, calls=2))]
    if point == "before_settle":
        original_settle = sync.settle

        def settle(con: Any, wal: Any, **kwargs: Any) -> Any:
            if any(wal.run(run_no).outcomes().num_rows for run_no in wal.runs()):  # the commit stage, not recovery
                fault(point)
            return original_settle(con, wal, **kwargs)
        return [*small_chunks, (sync, "settle", settle)]
    raise ValueError(f"unknown injection point {point!r}; points: {', '.join(POINTS)}")


def _after(function: Callable[..., Any], fault: _Fault, where: str) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        fault(where)
        return result
    return wrapped


def _writer_failing_after(writer_class: type, fault: _Fault, calls: int) -> type:
    class FailingWriter(writer_class):  # type: ignore[misc, valid-type]
        received = 0

        def __call__(self, outcomes: Any) -> None:
            super().__call__(outcomes)
            FailingWriter.received += 1
            if FailingWriter.received == calls:
                fault(f"mid delivery, after {calls} answers")
    return FailingWriter


@contextmanager
def injected(point: str, kind: str = "exception") -> Iterator[_Fault]:
    """Install one fault for the block (in-process)."""
    fault = _Fault(kind)
    with pytest.MonkeyPatch.context() as patch:
        for target, name, replacement in _patches(point, fault):
            patch.setattr(target, name, replacement)
        yield fault


def main() -> None:
    point, kind, *args = sys.argv[1:]
    fault = _Fault(kind)
    for target, name, replacement in _patches(point, fault):
        setattr(target, name, replacement)
    sys.argv = ["cio-retl", *args]
    from cio_retl.cli.entry import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
