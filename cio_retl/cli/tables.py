"""Tables that are never cut: a table when the terminal is wide enough, else a short block per row."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

Cell = str | Text


def print_rows(console: Console, title: str, columns: Sequence[str], rows: Sequence[Sequence[Cell]], *,
               head: int = 1, long: Sequence[str] = ()) -> None:
    """Print `rows` under `columns`. When the whole table does not fit the console, each row becomes a block: its
    first `head` cells on one line, then `name value` pairs, then each `long` column on a line of its own."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    if console.measure(table, options=console.options.update_width(10_000)).minimum <= console.width:
        console.print(table)
        return
    console.print(f"[bold]{escape(title)}[/bold]")
    for row in rows:
        cells = dict(zip(columns, row))
        console.print(Text("  ").join(_text(cell) for cell in row[:head]))
        pairs = [Text(f"{name} ") + _text(cells[name]) for name in columns[head:] if name not in long and cells[name]]
        for line in _packed(pairs, console.width - 2):
            console.print(Text("  ") + line)
        for name in long:
            if cells.get(name):
                console.print(Text(f"  {name}: ") + _text(cells[name]))


def _packed(items: list[Text], width: int) -> list[Text]:
    """`items` joined by ', ' into lines of at most `width`, breaking only between items."""
    lines: list[Text] = []
    for item in items:
        if lines and len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += Text(", ") + item
        else:
            lines.append(item.copy())
    return lines


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)
