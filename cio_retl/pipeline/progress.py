"""Progress bars for long stages (rich), silent when disabled or when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn


class Progress:
    """Hands out `advance(n)` callbacks for stages; a no-op unless enabled on a TTY."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()

    @contextmanager
    def task(self, stage: str, sync: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        if not self.enabled:
            yield lambda n: None
            return
        columns = [TextColumn(f"{sync}: {stage}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        with RichProgress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(stage, total=total)
            yield lambda n: bar.advance(task, n)
