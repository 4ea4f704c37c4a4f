"""`cio-retl explain` for people: the verdict first, then the row, what Customer.io holds, the actions, the operations."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from cio_retl.cli.explain import Explanation

_COLOUR = {"in_sync": "green", "out_of_sync": "yellow", "pending": "yellow", "rejected": "red", "skipped": "yellow",
           "not_found": "red"}


def print_explanation(found: Explanation, console: Console) -> None:
    """The explanation as a few labelled blocks; values are never read as markup."""
    colour = _COLOUR.get(found.state, "white")
    console.print(f"[bold]{escape(found.sync)}[/bold] {escape(' '.join(found.key))}: [{colour}]{found.state}[/{colour}]")
    console.print(f"  {escape(found.verdict)}", highlight=False)
    _block(console, "workspace (the state describes)", found.workspace or "none recorded yet")
    for note in found.notes:
        console.print(f"  [yellow]note:[/yellow] {escape(note)}", highlight=False)
    _block(console, "source (the model now)", _compact(found.source) if found.source else "no row with this key")
    snapshot = found.snapshot
    _block(console, "accepted by Customer.io", "never" if snapshot is None else
           f"run {snapshot['run_id']} at {snapshot['accepted_at']} ({snapshot['fate']}"
           f"{'' if snapshot['config_current'] else ', under another model or mapping'}), hash {snapshot['hash']}")
    lines = []
    for action in found.actions:
        if action.get("fired"):
            sent = action.get("refused_locally") or _compact(action.get("operation"))
            lines.append(f"{action['action']}: fires → {sent}")
        else:
            lines.append(action["explanation"])
    _block(console, "actions", "\n".join(lines) or "no call (the row is not in the model)")
    _block(console, "operations (recent runs)", "\n".join(_operation(op) for op in found.operations) or "none kept")


def _operation(op: dict[str, Any]) -> str:
    head = f"run {op['run_id']}: {op.get('action') or '-'} {op['status']}"
    if op.get("status_code"):
        head += f" (HTTP {op['status_code']})"
    if op.get("attempts"):
        head += f", attempt {op['attempts']}"
    if op.get("reason"):
        head += f": {op['reason']}"
    return head + (f"\n    sent {_compact(op['body'])}" if op.get("body") else "")


def _block(console: Console, title: str, text: str) -> None:
    console.print(f"[bold]{title}[/bold]")
    for line in text.splitlines():
        console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
