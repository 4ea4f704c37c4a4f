"""`cio-retl demo`: the example warehouse, the local sandbox on a free port, every sync, and what landed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from cio_retl.project import DuckDBWarehouse, Project
from cio_retl.cli.demo_data import build_example_warehouse
from cio_retl.errors import ConfigError
from cio_retl.pipeline.runner import run_syncs
from cio_retl.sandbox.serve import serve_sandbox
from cio_retl.sandbox.server import Sandbox
from cio_retl.cli.summary import print_summary


def run_demo(project: Project, *, rebuild: bool, console: Console) -> int:
    """Build the example data if missing, run every sync against a fresh sandbox server; exit code 0 or 1."""
    _ensure_warehouse(project, rebuild=rebuild, console=console)
    destination = project.destination
    sandbox_db = project.state_path() / "sandbox.duckdb"
    sandbox_db.parent.mkdir(parents=True, exist_ok=True)
    options = {"site_id": destination.site_id, "api_key": destination.api_key.get_secret_value(),
               "write_key": destination.write_key.get_secret_value() or None}
    with _demo_sandbox(sandbox_db, options) as sandbox:
        console.print(f"sandbox listening on {sandbox.url} (state in {sandbox_db})")
        local = project.model_copy(update={"destination": destination.model_copy(update={"url": sandbox.url})})
        reports = run_syncs(local, [], progress=True)
        print_summary(reports, console)
        _print_sandbox(sandbox.counts(), console)
    return 1 if any(r.status == "failed" for r in reports) else 0


@contextmanager
def _demo_sandbox(sandbox_db: Path, options: dict[str, Any]) -> Iterator[Sandbox]:
    """The demo's sandbox on the port it had last time (its URL is the workspace the state describes, so a second
    `make demo` is the same workspace); a free port when that one is taken."""
    port_file = sandbox_db.with_suffix(".port")
    last = int(port_file.read_text()) if port_file.is_file() and port_file.read_text().strip().isdigit() else 0
    try:
        server = serve_sandbox(str(sandbox_db), port=last, **options)
        sandbox = server.__enter__()
    except OSError:  # the last port is taken now: a new one (the run then says the workspace changed)
        server = serve_sandbox(str(sandbox_db), port=0, **options)
        sandbox = server.__enter__()
    try:
        port_file.write_text(str(urlsplit(sandbox.url).port))
        yield sandbox
    finally:
        server.__exit__(None, None, None)


def _ensure_warehouse(project: Project, *, rebuild: bool, console: Console) -> None:
    duckdbs = [w for w in project.warehouses.values() if isinstance(w, DuckDBWarehouse) and w.path != ":memory:"]
    if not duckdbs:
        raise ConfigError("the demo needs a DuckDB warehouse in the project file", hint="use the example cio_retl.yaml")
    path = project.resolve(duckdbs[0].path)
    if rebuild or not path.exists():
        counts = build_example_warehouse(path)
        console.print(f"built {path}: " + ", ".join(f"{n:,} {table}" for table, n in counts.items()))


def _print_sandbox(counts: dict[str, int], console: Console) -> None:
    table = Table(title="what the sandbox (Customer.io) holds")
    for name in counts:
        table.add_column(name, justify="right")
    table.add_row(*(f"{n:,}" for n in counts.values()))
    console.print(table)
