"""The `cio-retl` command line (typer + rich): run, plan, status, rejections, demo and friends."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from cio_retl.config import Project, load_project
from cio_retl.errors import CioRetlError, ConfigError, SyncError
from cio_retl.report import SyncReport
from cio_retl.state.store import REJECTION_FIELDS, StateUnavailable, open_rejections, recent_runs

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Reverse ETL from your warehouse to Customer.io Journeys.")
# Piped output (CI logs, `| less`) gets a readable width instead of rich's 80-column default.
_PIPE_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 150
out = Console(width=_PIPE_WIDTH)
err = Console(stderr=True, width=_PIPE_WIDTH)
ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="Project file (default: $CIO_RETL_CONFIG or ./cio_retl.yaml).")]


def _load(config: Path | None) -> Project:
    try:
        return load_project(config)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from exc


def _fail(exc: CioRetlError, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
    return typer.Exit(code)


# ---------------------------------------------------------------- run / plan


@app.command()
def run(syncs: Annotated[Optional[list[str]], typer.Argument(help="Syncs to run (default: all).")] = None,
        config: ConfigOption = None,
        full_resync: Annotated[bool, typer.Option("--full-resync", help="Re-send every row, not only changes.")] = False,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Build operations but send nothing, change no state.")] = False,
        allow_mass_delete: Annotated[bool, typer.Option("--allow-mass-delete", help="Let a mirror run delete more than max_delete_fraction.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else there.")] = False) -> None:
    """Run syncs: extract, diff, convert, act, deliver, commit."""
    project = _load(config)
    for name in syncs or []:
        if name not in project.syncs:
            raise _fail(ConfigError(f"no sync named '{name}'", hint=f"known syncs: {', '.join(project.syncs)}"), 2)
    from cio_retl.runner import run_syncs

    reports = run_syncs(project, syncs or [], full_resync=full_resync, dry_run=dry_run,
                        allow_mass_delete=allow_mass_delete, progress=not as_json)
    if as_json:
        sys.stdout.write(json.dumps({"syncs": [r.summary() for r in reports]}) + "\n")
    else:
        print_summary(reports)
        if dry_run:
            for report in reports:
                out.print(f"[bold]{report.sync}: first operations[/bold] (nothing was sent)")
                out.print_json(json.dumps(report.sample_operations, default=str))
    raise typer.Exit(1 if any(r.status == "failed" for r in reports) else 0)


def print_summary(reports: list[SyncReport]) -> None:
    """The run summary table, then each failure's message and each sync's first rejections."""
    table = Table(title="cio-retl run")
    for column in ("sync", "status", "extracted", "added", "changed", "removed", "operations", "accepted",
                   "rejected", "pending", "requests", "seconds"):
        table.add_column(column, justify="left" if column in ("sync", "status") else "right", no_wrap=True,
                         min_width=len(column))
    for r in reports:
        status = "[green]success[/green]" if r.status == "success" else "[red]failed[/red]"
        if r.dry_run and r.status == "success":
            status = "[yellow]dry run[/yellow]"
        table.add_row(r.sync, status, *(str(v) for v in (r.extracted, r.added, r.changed, r.removed, r.operations,
                      r.accepted, r.rejected, r.pending, r.requests)), f"{r.duration_s:.2f}")
    out.print(table)
    for r in reports:
        _print_details(r)


def _print_details(report: SyncReport) -> None:
    if report.error:
        out.print(f"[red]{report.sync}:[/red] {report.error}", highlight=False)
    if report.contract_violations:
        out.print(f"[yellow]{report.sync}:[/yellow] {report.contract_violations} row(s) not sent (model contract): "
                  + "; ".join(report.violation_samples), highlight=False)
    for rejection in report.rejections[:5]:
        out.print(f"[yellow]{report.sync}:[/yellow] rejected {rejection.key} ({rejection.action}, "
                  f"status {rejection.status_code or 'local'}): {rejection.reason}", highlight=False)
    if len(report.rejections) > 5:
        out.print(f"  … see `cio-retl rejections {report.sync}` for all of them")
    if report.pending:
        out.print(f"[yellow]{report.sync}:[/yellow] {report.pending} operation(s) could not be delivered "
                  "(Customer.io unavailable or rate-limited); they are retried on the next run")
    for warning in report.warnings[:10]:
        out.print(f"[yellow]{report.sync}:[/yellow] {warning}", highlight=False)


@app.command()
def plan(sync: Annotated[str, typer.Argument(help="The sync to plan.")], config: ConfigOption = None,
         full_resync: Annotated[bool, typer.Option("--full-resync")] = False) -> None:
    """Show what a run would send: counts, the first calls and operations. Sends nothing, changes no state."""
    from cio_retl.sync import run_sync

    project = _load(config)
    try:
        report = run_sync(project, project.sync(sync) and sync, dry_run=True, full_resync=full_resync)
    except ConfigError as exc:
        raise _fail(exc, 2) from exc
    except SyncError as exc:
        raise _fail(exc, 1) from exc
    print_summary([report])
    out.print("[bold]First calls[/bold]")
    out.print_json(json.dumps(report.sample_calls, default=str))
    out.print("[bold]First operations[/bold]")
    out.print_json(json.dumps(report.sample_operations, default=str))


# ---------------------------------------------------------------- status / rejections


@app.command()
def status(config: ConfigOption = None,
           runs: Annotated[int, typer.Option("--runs", help="Runs to show per sync.")] = 3) -> None:
    """The last runs of each sync: when, outcome, counts."""
    project = _load(config)
    table = Table(title="cio-retl status")
    for column in ("sync", "finished (UTC)", "status", "extracted", "added", "changed", "removed", "accepted",
                   "rejected", "pending", "skipped"):
        table.add_column(column)
    notes = []
    for name in project.syncs:
        rows = recent_runs(project.state_location(), name, runs)
        if isinstance(rows, StateUnavailable):
            notes.append(f"{name}: {rows.reason}")
            continue
        for *row, error in rows:
            table.add_row(name, *(str(v) for v in row))
            if error:
                notes.append(f"{name} ({row[0]}): {error}")
    out.print(table)
    for note in notes:
        out.print(note, highlight=False)


@app.command()
def rejections(sync: Annotated[str, typer.Argument(help="The sync.")], config: ConfigOption = None,
               limit: Annotated[int, typer.Option("--limit")] = 100,
               as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Rows Customer.io (or a local check) rejected, and rows no action matched (skipped), with the reason."""
    project = _load(config)
    project.sync(sync)
    rows = open_rejections(project.state_location(), sync, limit)
    if isinstance(rows, StateUnavailable):
        rows = []
    if as_json:
        sys.stdout.write(json.dumps([dict(zip(REJECTION_FIELDS, row)) for row in rows]) + "\n")
        return
    table = Table(title=f"rejections of {sync}")
    for column in ("key", "fate", "action", "status", "reason", "attempts", "last seen"):
        table.add_column(column)
    for key, fate, action, code, reason, attempts, seen in rows:
        status_text = "local" if code is None and fate == "rejected" else str(code or "")
        table.add_row(str(key), fate, action or "", status_text, reason or "", str(attempts or ""), seen or "")
    out.print(table)
    if not rows:
        out.print("no rejections")


# ---------------------------------------------------------------- demo


@app.command()
def demo(config: ConfigOption = None,
         rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild the example warehouse first.")] = False) -> None:
    """Build the example DuckDB warehouse (if missing) and run every sync of the project against the sandbox."""
    from cio_retl.demo import run_demo

    project = _load(config)
    try:
        code = run_demo(project, rebuild=rebuild, console=out, print_reports=print_summary)
    except CioRetlError as exc:
        raise _fail(exc, 1) from exc
    raise typer.Exit(code)


# ---------------------------------------------------------------- test-action / validate (cio_retl/actions)


@app.command("test-action")
def test_action(event: Annotated[str, typer.Option("--event", help="Segment-spec event JSON file, or - for stdin.")],
                action: Annotated[Optional[str], typer.Option("--action", help="Run this action (default: every action whose trigger matches).")] = None,
                mapping: Annotated[Optional[Path], typer.Option("--mapping", help="JSON file: the complete mapping (field → expression) for --action.")] = None,
                region: Annotated[str, typer.Option("--region", help="us or eu (sets the printed URL).")] = "us",
                config: ConfigOption = None) -> None:
    """The Data Out Tester: print the requests one event would produce, as JSON ([] when no action matches)."""
    from cio_retl.actions.tester import simulate
    from cio_retl.config import config_path

    try:
        payload = json.loads(sys.stdin.read() if event == "-" else Path(event).read_text())
        fields = json.loads(mapping.read_text()) if mapping else None
        overrides = _load(config).actions if config or config_path().is_file() else {}
        requests = simulate(payload, action=action, mapping=fields, overrides=overrides,
                            region=region if region in ("us", "eu") else "us")
    except (CioRetlError, OSError, ValueError) as exc:
        print(json.dumps({"error": getattr(exc, "message", str(exc))}))
        raise typer.Exit(1) from exc
    print(json.dumps(requests, indent=2, ensure_ascii=False))


@app.command()
def validate(config: ConfigOption = None) -> None:
    """Check every sync's columns against the actions (LIMIT 0 plus a small sample); exit 1 on errors."""
    from cio_retl.validate import validate_project

    problems = validate_project(_load(config))
    for problem in problems:
        colour = "red" if problem.severity == "error" else "yellow"
        out.print(f"[{colour}]{problem.severity}[/{colour}]: {problem.where}: {problem.message}", highlight=False)
    errors = sum(p.severity == "error" for p in problems)
    out.print(f"{errors} error(s), {len(problems) - errors} warning(s)" if problems else "no problems found")
    raise typer.Exit(1 if errors else 0)


# ---------------------------------------------------------------- doctor / sandbox (cio_retl/doctor.py, cio_retl/sandbox)


@app.command()
def doctor(config: ConfigOption = None) -> None:
    """Check the project file, each warehouse connection, and the Customer.io credentials and region."""
    from cio_retl.doctor import print_checks, run_checks

    raise typer.Exit(print_checks(run_checks(config), out))


def _sandbox_app() -> typer.Typer:
    from cio_retl.sandbox.cli import app as sandbox

    return sandbox


app.add_typer(_sandbox_app(), name="sandbox")


def main() -> None:
    """Entry point that maps configuration errors to exit code 2 and sync errors to 1."""
    try:
        app()
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
