"""`cio-retl demo`: the example warehouse, the local sandbox on a free port, every sync, and what landed."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from cio_retl.project import DuckDBWarehouse, Project
from cio_retl.cli.demo_data import build_example_warehouse
from cio_retl.errors import ConfigError
from cio_retl.pipeline.runner import run_syncs
from cio_retl.sandbox.serve import serve_sandbox
from cio_retl.cli.summary import print_summary


def run_demo(project: Project, *, rebuild: bool, console: Console) -> int:
    """Build the example data if missing, run every sync against a fresh sandbox server; exit code 0 or 1."""
    _ensure_warehouse(project, rebuild=rebuild, console=console)
    destination = project.destination
    sandbox_db = project.state_path() / "sandbox.duckdb"
    sandbox_db.parent.mkdir(parents=True, exist_ok=True)
    with serve_sandbox(str(sandbox_db), site_id=destination.site_id, api_key=destination.api_key.get_secret_value(),
                       write_key=destination.write_key.get_secret_value() or None) as sandbox:
        console.print(f"sandbox listening on {sandbox.url} (state in {sandbox_db})")
        local = project.model_copy(update={"destination": destination.model_copy(update={"url": sandbox.url})})
        reports = run_syncs(local, [], progress=True)
        print_summary(reports, console)
        _print_sandbox(sandbox.counts(), console)
    return 1 if any(r.status == "failed" for r in reports) else 0


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
