"""The run summary for people: a table when the terminal is wide enough, a block per sync when it is not."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cio_retl.pipeline.report import SyncReport

ROW_COUNTS = ("extracted", "added", "changed", "removed", "skipped", "not sent")
NULL_KEY = "<null>"  # a row whose primary key is NULL; JSON output has null
DELIVERY_COUNTS = ("operations", "accepted", "rejected", "pending", "requests")


def _count(report: SyncReport, name: str) -> int:
    """One figure of the summary. Rows the model contract kept back are `not sent`, not rejected operations: the
    operations line adds up (operations = accepted + rejected + pending)."""
    if name == "not sent":
        return report.contract_violations
    if name == "rejected":
        return report.rejected - report.contract_violations
    return getattr(report, name)


def print_summary(reports: list[SyncReport], console: Console, *, title: str = "cio-retl run") -> None:
    """The summary of each sync, then each failure's message and each sync's first rejections.

    Nothing is ever cut: below the width the table needs (12 columns do not fit 80), each sync gets a block.
    """
    table = _table(reports, title)
    if console.measure(table, options=console.options.update_width(10_000)).minimum <= console.width:
        console.print(table)
    else:
        console.print(f"[bold]{title}[/bold]")
        for report in reports:
            _print_block(report, console)
    for report in reports:
        _print_details(report, console)


def shown_key(key: str | None) -> str:
    """A row key as people read it; a NULL key is not the text 'NULL'."""
    return NULL_KEY if key is None else key


def _status(report: SyncReport) -> str:
    if report.status == "interrupted":
        return "[yellow]interrupted[/yellow]"
    if report.status != "success":
        return "[red]failed[/red]"
    return "[yellow]dry run[/yellow]" if report.dry_run else "[green]success[/green]"


def _table(reports: list[SyncReport], title: str) -> Table:
    table = Table(title=title)
    for column in ("sync", "status", *ROW_COUNTS, *DELIVERY_COUNTS, "seconds"):
        table.add_column(column, justify="left" if column in ("sync", "status") else "right", no_wrap=True,
                         min_width=len(column))
    for r in reports:
        table.add_row(r.sync, _status(r), *(str(_count(r, name)) for name in (*ROW_COUNTS, *DELIVERY_COUNTS)),
                      f"{r.duration_s:.2f}")
    return table


def _print_block(report: SyncReport, console: Console) -> None:
    """One sync as three short lines that wrap between items, never inside a name or a number."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row("  rows", ", ".join(f"{_count(report, name)} {name}" for name in ROW_COUNTS))
    grid.add_row("  operations", f"{report.operations}: " + ", ".join(
        f"{_count(report, name)} {name}" for name in DELIVERY_COUNTS[1:]))
    console.print(f"{report.sync}: {_status(report)} in {report.duration_s:.2f} s", highlight=False)
    console.print(grid)


def _print_details(report: SyncReport, console: Console) -> None:
    if report.error:
        console.print(f"[red]{report.sync}:[/red] {escape(report.error)}", highlight=False)
    if report.contract_violations:
        console.print(f"[yellow]{report.sync}:[/yellow] {report.contract_violations} row(s) not sent (model contract): "
                      + escape("; ".join(report.violation_samples)), highlight=False)
    for rejection in report.rejections[:5]:
        console.print(f"[yellow]{report.sync}:[/yellow] rejected {escape(shown_key(rejection.key))} ({rejection.action}, "
                      f"status {rejection.status_code or 'local'}): {escape(rejection.reason)}", highlight=False)
    if len(report.rejections) > 5:
        console.print(f"  … see `cio-retl rejections {report.sync}` for all of them")
    for warning in report.warnings[:10]:
        console.print(f"[yellow]{report.sync}:[/yellow] {escape(warning)}", highlight=False)
