"""The `cio-retl` command line (typer + rich): run, plan, status, rejections, demo and friends."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from cio_retl.project import Credentials, Project, load_project
from cio_retl.errors import CioRetlError, ConfigError, MassClearError, MassDeleteError, SyncError, SyncInterrupted
from cio_retl.state.views import REJECTION_FIELDS, StateUnavailable, open_rejections, recent_runs, recorded_workspace
from cio_retl.stopping import stop_requested
from cio_retl.cli.window import backfill_window
from cio_retl.cli.summary import NULL_KEY, print_summary
from cio_retl.cli.tables import print_rows

# Plain click help: rich's help labels every flag <bool> and cuts option text at 80 columns.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Reverse ETL from your warehouse to Customer.io Journeys.")
# Piped output (CI logs, `| less`) gets a readable width instead of rich's 80-column default.
_PIPE_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 150
out = Console(width=_PIPE_WIDTH)
err = Console(stderr=True, width=_PIPE_WIDTH)
ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="Project file (default: $CIO_RETL_CONFIG or ./cio_retl.yaml).")]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"cio-retl {version('cio-retl')}")
        raise typer.Exit()


DEBUG_ENV = "CIO_RETL_DEBUG"


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                                help="Print the version and exit.")] = False,
          debug: Annotated[bool, typer.Option("--debug", help="Show the Python traceback of an unexpected error "
                                              "(also $CIO_RETL_DEBUG=1).")] = False) -> None:
    """Reverse ETL from your warehouse to Customer.io Journeys."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


def _load(config: Path | None, credentials: Credentials = "all") -> Project:
    """The project, reading only the credentials the command needs (`validate` needs no Customer.io key)."""
    try:
        return load_project(config, credentials=credentials)
    except ConfigError as exc:
        raise _fail(exc, 2) from exc


def _fail(exc: CioRetlError, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
    return typer.Exit(code)


# ---------------------------------------------------------------- run / plan


@app.command()
def run(syncs: Annotated[Optional[list[str]], typer.Argument(help="Syncs to run (default: all).")] = None,
        config: ConfigOption = None,
        full_resync: Annotated[bool, typer.Option("--full-resync", help="Re-send every row, not only changes.")] = False,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Build operations but send nothing, change no state.")] = False,
        allow_mass_delete: Annotated[bool, typer.Option("--allow-mass-delete", help="Let a mirror run delete more than max_delete_fraction.")] = False,
        allow_clear: Annotated[bool, typer.Option("--allow-clear", help="Let a run set an attribute to null for more than max_clear_fraction of its rows.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else there.")] = False,
        window: Annotated[Optional[str], typer.Option("--window", metavar="START..END", help="Backfill: re-send every row whose partition_by falls in [START, END) (dates or ISO timestamps, UTC), as a Dagster partition run does; the incremental watermark is left alone.")] = None) -> None:
    """Run syncs: extract, diff, convert, act, deliver, commit."""
    try:
        project = load_project(config)
        for name in syncs or []:
            project.sync(name)
    except ConfigError as exc:
        if as_json:  # still the one JSON object the README promises
            sys.stdout.write(json.dumps({"syncs": [], "error": str(exc)}) + "\n")
        raise _fail(exc, 2) from exc
    from cio_retl.pipeline.runner import run_syncs

    try:
        span = backfill_window(project, syncs or [], window) if window else None
    except ConfigError as exc:
        raise _fail(exc, 2) from exc
    try:
        reports = run_syncs(project, syncs or [], full_resync=full_resync, dry_run=dry_run, window=span,
                            allow_mass_delete=allow_mass_delete, allow_clear=allow_clear, progress=not as_json)
        code = 1 if any(r.status == "failed" for r in reports) else 0
    except SyncInterrupted as exc:  # an outcome, not an error: what ran is settled and recorded
        reports, code = exc.reports, INTERRUPTED_EXIT  # type: ignore[assignment]
    except KeyboardInterrupt as exc:  # before a sync's run began, or between two: nothing was sent
        err.print(f"interrupted by {stop_requested() or 'SIGINT'} before a sync started sending: nothing is lost; "
                  "the next run does the work", highlight=False)
        raise typer.Exit(INTERRUPTED_EXIT) from exc
    if as_json:
        sys.stdout.write(json.dumps({"syncs": [r.summary() for r in reports]}) + "\n")
    else:
        print_summary(reports, out)
        if dry_run:
            for report in reports:
                out.print(f"[bold]{report.sync}: first operations[/bold] (nothing was sent)")
                out.print_json(json.dumps(report.sample_operations, default=str))
    raise typer.Exit(code)


@app.command()
def plan(sync: Annotated[str, typer.Argument(help="The sync to plan.")], config: ConfigOption = None,
         full_resync: Annotated[bool, typer.Option("--full-resync", help="Plan a full resync: every row, not only changes.")] = False,
         allow_mass_delete: Annotated[bool, typer.Option("--allow-mass-delete", help="Show the plan even when the mass-delete guard would stop a run.")] = False,
         allow_clear: Annotated[bool, typer.Option("--allow-clear", help="Show the plan even when the clear guard would stop a run.")] = False) -> None:
    """Show what a run would send: counts, the first calls and operations. Sends nothing, changes no state."""
    from cio_retl.pipeline.sync import run_sync

    project = _load(config, "warehouses")
    try:
        report = run_sync(project, project.sync(sync) and sync, dry_run=True, full_resync=full_resync,
                          allow_mass_delete=allow_mass_delete, allow_clear=allow_clear, progress=True)
    except ConfigError as exc:
        raise _fail(exc, 2) from exc
    except (MassDeleteError, MassClearError) as exc:
        _print_guard(sync, exc)
        raise typer.Exit(1) from exc
    except SyncError as exc:
        raise _fail(exc, 1) from exc
    print_summary([report], out, title="cio-retl plan")
    out.print("[bold]First calls[/bold]")
    out.print_json(json.dumps(report.sample_calls, default=str))
    out.print("[bold]First operations[/bold]")
    out.print_json(json.dumps(report.sample_operations, default=str))


def _print_guard(sync: str, exc: MassDeleteError | MassClearError) -> None:
    """What a guard found, with the counts of the diff, and how to see the plan anyway."""
    report = getattr(exc, "report", None)
    if report is not None:
        report.status, report.error = "failed", None
        print_summary([report], out, title="cio-retl plan")
    guard, flag = ("mass-delete", "--allow-mass-delete") if isinstance(exc, MassDeleteError) else ("clear", "--allow-clear")
    err.print(f"[red]{guard} guard:[/red] {escape(exc.message)}", highlight=False)
    err.print(f"  → check the model first; `cio-retl plan {sync} {flag}` shows the operations, "
              f"`cio-retl run {sync} {flag}` sends them", highlight=False)


# ---------------------------------------------------------------- status / rejections


@app.command()
def status(config: ConfigOption = None,
           runs: Annotated[int, typer.Option("--runs", min=1, metavar="N", help="Runs to show per sync.")] = 3) -> None:
    """The last runs of each sync: when, outcome, counts."""
    project = _load(config, "none")
    columns = ("sync", "finished (UTC)", "status", "extracted", "added", "changed", "removed", "accepted",
               "rejected", "pending", "skipped")
    table: list[list[str]] = []
    notes: list[str] = []
    for name in project.syncs:
        rows = recent_runs(project.state_location(), name, runs, notes)
        if isinstance(rows, StateUnavailable):
            notes.append(f"{name}: {rows.reason}")
            continue
        for *row, error in rows:
            table.append([name, *(str(v) for v in row)])
            if error:
                notes.append(f"{name} ({row[0]}): {error}")
        workspace = recorded_workspace(project.state_location(), name) if rows else None
        if workspace:
            notes.append(f"{name}: the state describes Customer.io workspace {workspace}")
    print_rows(out, "cio-retl status", columns, table, head=3)
    for note in notes:
        out.print(note, highlight=False)


@app.command()
def rejections(sync: Annotated[str, typer.Argument(help="The sync.")], config: ConfigOption = None,
               limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="Show at most N rows, most attempted first.")] = 100,
               as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list on stdout (a NULL primary key is null).")] = False) -> None:
    """Rows refused (by Customer.io or a local check) and rows no action matched (skipped), with the reason."""
    project = _load(config, "none")
    project.sync(sync)
    notes: list[str] = []
    rows = open_rejections(project.state_location(), sync, limit, notes)
    if isinstance(rows, StateUnavailable):
        notes, rows = [f"{sync}: {rows.reason}"], []
    for note in notes:  # a run in progress: said on stderr, so `--json` stays one JSON value
        err.print(note, highlight=False)
    if as_json:
        sys.stdout.write(json.dumps([dict(zip(REJECTION_FIELDS, row)) for row in rows]) + "\n")
        return
    table = []
    for key, fate, action, status_code, reason, attempts, seen in rows:
        shown = Text(NULL_KEY, style="italic") if key is None else Text(key)  # Text: a key is never read as markup
        status_text = "local" if status_code is None and fate == "rejected" else str(status_code or "")
        table.append([shown, fate, action or "", status_text, Text(reason or ""), str(attempts or ""), seen or ""])
    # Never cut: the reason is what the user came for (below the table's width, a block per row).
    print_rows(out, f"rejections of {sync}", ("key", "fate", "action", "status", "reason", "attempts", "last seen"),
               table, head=3, long=("reason",))
    if not rows:
        out.print("no rejections")


# ---------------------------------------------------------------- demo


@app.command()
def demo(config: ConfigOption = None,
         rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild the example warehouse first.")] = False) -> None:
    """Build the example DuckDB warehouse (if missing) and run every sync of the project against the sandbox."""
    from cio_retl.cli.demo import run_demo

    project = _load(config)
    try:
        code = run_demo(project, rebuild=rebuild, console=out)
    except CioRetlError as exc:
        raise _fail(exc, 1) from exc
    raise typer.Exit(code)


# ---------------------------------------------------------------- explain


@app.command()
def explain(sync: Annotated[str, typer.Argument(help="The sync.")],
            key: Annotated[list[str], typer.Argument(help="The row's primary key: its values in primary_key order.")],
            config: ConfigOption = None,
            as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: sync, key, state, verdict, "
                                                  "source, snapshot, actions, operations.")] = False) -> None:
    """Why does this row look the way it does in Customer.io? Its state, the model now, what was accepted, each
    action's trigger and the recent operations. Needs no Customer.io credentials and changes nothing."""
    from cio_retl.cli.explain import explain_row
    from cio_retl.cli.explain_view import print_explanation

    project = _load(config, "warehouses")
    try:
        found = explain_row(project, sync, key)
    except ConfigError as exc:
        raise _fail(exc, 2) from exc
    except CioRetlError as exc:
        raise _fail(exc, 1) from exc
    if as_json:
        sys.stdout.write(json.dumps(found.to_dict(), ensure_ascii=False) + "\n")
    else:
        print_explanation(found, out)


# ---------------------------------------------------------------- test-action / validate (cio_retl/actions)


@app.command("test-action")
def test_action(event: Annotated[str, typer.Option("--event", help="Segment-spec event JSON file, or - for stdin.")],
                action: Annotated[Optional[str], typer.Option("--action", help="Run this action (default: every action whose trigger matches).")] = None,
                mapping: Annotated[Optional[Path], typer.Option("--mapping", help="JSON file: the complete mapping (field → expression) for --action.")] = None,
                region: Annotated[Literal["us", "eu"], typer.Option("--region", case_sensitive=False, help="The account's region (sets the printed URL).")] = "us",
                config: ConfigOption = None) -> None:
    """The Data Out Tester: print the requests one event would produce, as JSON.

    When no action takes the event, a JSON object instead: {"requests": [], "no_match": [one entry per action with
    its trigger, the part that was false and why]}.
    """
    from cio_retl.actions.tester import simulate, why_no_action
    from cio_retl.project import config_path

    try:
        payload = json.loads(sys.stdin.read() if event == "-" else Path(event).read_text())
        fields = json.loads(mapping.read_text()) if mapping else None
        overrides = _load(config, "none").actions if config or config_path().is_file() else {}
        requests = simulate(payload, action=action, mapping=fields, overrides=overrides, region=region)
        output = requests if requests else {"requests": [], "no_match": why_no_action(payload, overrides=overrides)}
    except (CioRetlError, OSError, ValueError) as exc:
        print(json.dumps({"error": getattr(exc, "message", str(exc))}))
        raise typer.Exit(1) from exc
    print(json.dumps(output, indent=2, ensure_ascii=False))


@app.command()
def validate(config: ConfigOption = None) -> None:
    """Check every sync's columns against the actions (LIMIT 0 plus a small sample); exit 1 on errors."""
    from cio_retl.cli.preflight import preflight_problems
    from cio_retl.cli.validate import validate_project
    from cio_retl.project import config_path

    project = _load(config, "warehouses")
    problems = validate_project(project)
    preflight = preflight_problems(project, config_path(config).resolve())
    problems = [p for p in preflight if p.severity == "error"] + problems + \
        [p for p in preflight if p.severity != "error"]
    for problem in problems:
        colour = "red" if problem.severity == "error" else "yellow"
        out.print(f"[{colour}]{problem.severity}[/{colour}]: {escape(problem.where)}: {escape(problem.message)}",
                  highlight=False)
    errors = sum(p.severity == "error" for p in problems)
    out.print(f"{errors} error(s), {len(problems) - errors} warning(s)" if problems else "no problems found")
    raise typer.Exit(1 if errors else 0)


# ---------------------------------------------------------------- doctor / sandbox (cio_retl/cli/doctor.py, cio_retl/sandbox)


@app.command()
def doctor(config: ConfigOption = None) -> None:
    """Check the project file, each warehouse connection, and the Customer.io credentials and region."""
    from cio_retl.cli.doctor import print_checks, run_checks

    raise typer.Exit(print_checks(run_checks(config), out))


def _sandbox_app() -> typer.Typer:
    from cio_retl.sandbox.cli import app as sandbox

    return sandbox


app.add_typer(_sandbox_app(), name="sandbox")


INTERRUPTED_EXIT = 130  # 128 + SIGINT, what shells expect of a program stopped by Ctrl-C
