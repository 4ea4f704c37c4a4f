"""Ctrl-C and SIGTERM as an outcome: which signal asked the process to stop, so a stage can tell it from an error."""

from __future__ import annotations

import signal
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[str] = []
# Open DuckDB connections: a query streaming into Arrow does not always notice the signal, so it is interrupted.
_connections: weakref.WeakSet[Any] = weakref.WeakSet()


def interruptible(con: Any) -> None:
    """Interrupt this DuckDB connection's query when a stop signal arrives (an idle connection is unaffected)."""
    _connections.add(con)


def stop_requested() -> str | None:
    """The name of the signal that asked this process to stop (SIGINT, SIGTERM), or None."""
    return _received[0] if _received else None


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _received.append(signal.Signals(signum).name)
    for con in list(_connections):
        con.interrupt()
    # DuckDB turns this into its own "Query interrupted" error mid-query; stop_requested() tells the two apart.
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """For the block, SIGTERM stops the process as Ctrl-C does (a KeyboardInterrupt), and both are remembered."""
    _received.clear()
    previous = {sig: signal.signal(sig, _on_signal) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _received.clear()  # a later run in this process (tests, a notebook) starts afresh
