"""`cio-retl sandbox serve | dump`: run the local Customer.io-compatible server, or print what it holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import duckdb
import httpx
import typer

from cio_retl import engine
from cio_retl.sandbox.serve import serve_forever
from cio_retl.sandbox.server import Faults, Sandbox, rule_from_text
from cio_retl.sandbox.tables import dump_connection

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="A local Customer.io-compatible Track API and Data Pipelines API over DuckDB (tests, demos, throughput runs).")


@app.command()
def serve(port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: a free one, printed).")] = 0,
          db: Annotated[Path, typer.Option("--db", help="DuckDB file holding what the sandbox received.")] = Path("sandbox.duckdb"),
          site_id: Annotated[Optional[str], typer.Option("--site-id", help="Require this Site ID (default: any).")] = None,
          api_key: Annotated[Optional[str], typer.Option("--api-key", help="Require this Track API key.")] = None,
          host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
          region: Annotated[str, typer.Option("--region", help="Region /api/v1/accounts/region reports.")] = "us",
          rate_limit_every: Annotated[int, typer.Option(help="Answer 429 to every Nth request.")] = 0,
          retry_after: Annotated[str, typer.Option(help="Retry-After of those 429s (seconds or HTTP date).")] = "1",
          error_every: Annotated[int, typer.Option(help="Answer 5xx to every Nth request.")] = 0,
          error_rate: Annotated[float, typer.Option(help="Answer 5xx with this probability.")] = 0.0,
          error_status: Annotated[int, typer.Option(help="The 5xx status to answer.")] = 503,
          delay: Annotated[float, typer.Option("--delay", help="Seconds to wait before each answer.")] = 0.0,
          drop_every: Annotated[int, typer.Option(help="Drop the connection on every Nth request.")] = 0,
          drop_rate: Annotated[float, typer.Option(help="Drop connections with this probability.")] = 0.0,
          reject_where: Annotated[Optional[str], typer.Option(help="Reject items matching PATH=VALUE, e.g. identifiers.id=u3.")] = None,
          reject_status: Annotated[int, typer.Option(help="207 (per item) or 400 (whole request) for rejected items.")] = 207,
          count_only: Annotated[bool, typer.Option("--count-only", help="Answer 200 without parsing or storing.")] = False,
          write_key: Annotated[Optional[str], typer.Option("--write-key", help="Require this Data Pipelines write key (default: any).")] = None,
          manual_segment: Annotated[Optional[list[int]], typer.Option("--manual-segment", help="A manual segment id that exists (repeat; default: every id is one).")] = None,
          data_driven_segment: Annotated[Optional[list[int]], typer.Option("--data-driven-segment", help="A data-driven segment id: it refuses API changes (repeat).")] = None,
          ) -> None:
    """Serve the Track API (/api/v2/batch, /api/v2/entity, /api/v1/metrics, /api/v1/accounts/region, manual segments'
    add_customers / remove_customers) and Data Pipelines (/v1/batch, /v1/identify, …) until Ctrl-C."""
    faults = Faults(rate_limit_every=rate_limit_every, retry_after=retry_after, error_every=error_every,
                    error_rate=error_rate, error_status=error_status, delay_s=delay, drop_every=drop_every,
                    drop_rate=drop_rate, reject=rule_from_text(reject_where) if reject_where else None,
                    reject_status=reject_status, count_only=count_only)

    def ready(sandbox: Sandbox) -> None:
        print(f"sandbox listening on {sandbox.url} (db {db}); set CUSTOMERIO_TRACK_URL={sandbox.url}", flush=True)

    try:
        serve_forever(str(db), host=host, port=port, on_ready=ready, site_id=site_id, api_key=api_key, region=region,
                      faults=faults, write_key=write_key,
                      manual_segments=set(manual_segment) if manual_segment else None,
                      data_driven_segments=set(data_driven_segment or []))
    except OSError as exc:
        typer.echo(f"error: the sandbox cannot listen on {host}:{port}: {exc.strerror or exc}\n"
                   f"  → stop what uses port {port}, or pick another with --port (--port 0 takes a free one)", err=True)
        raise typer.Exit(1) from exc


@app.command()
def dump(db: Annotated[Optional[Path], typer.Option("--db", help="The sandbox's DuckDB file.")] = None,
         url: Annotated[Optional[str], typer.Option("--url", help="Ask a running sandbox instead (it holds the file).")] = None,
         site_id: Annotated[Optional[str], typer.Option("--site-id", envvar="CUSTOMERIO_SITE_ID",
                                                        help="With --url: the sandbox's Site ID.")] = None,
         api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="CUSTOMERIO_TRACK_API_KEY",
                                                        help="With --url: the sandbox's Track API key.")] = None) -> None:
    """Print people, objects, relationships, devices, events and suppressed identifiers as JSON."""
    if url:
        # The running sandbox answers with the Track API's credentials only (any, when it was started without).
        try:
            reply = httpx.get(url.rstrip("/") + "/_sandbox/dump", auth=(site_id or "sandbox", api_key or ""), timeout=30)
        except httpx.HTTPError as exc:
            typer.echo(f"error: no sandbox answered at {url}: {exc}\n  → start one with `cio-retl sandbox serve` "
                       "(it prints its URL), or read its file with --db when it is stopped", err=True)
            raise typer.Exit(1) from exc
        if reply.status_code == 401:
            typer.echo(f"error: the sandbox at {url} refused the credentials: pass the --site-id and --api-key it was "
                       "started with (or set CUSTOMERIO_SITE_ID and CUSTOMERIO_TRACK_API_KEY)", err=True)
            raise typer.Exit(2)
        if reply.is_error:
            typer.echo(f"error: the sandbox at {url} answered {reply.status_code}: {reply.text[:200]}", err=True)
            raise typer.Exit(1)
        sys.stdout.write(reply.text + "\n")
        return
    path = db or Path("sandbox.duckdb")
    if not path.exists():
        typer.echo(f"error: {path} not found (start `cio-retl sandbox serve --db {path}` first)", err=True)
        raise typer.Exit(2)
    try:
        con = engine.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        typer.echo(f"error: cannot open {path} ({exc}); while the sandbox runs, use --url", err=True)
        raise typer.Exit(2) from exc
    try:
        sys.stdout.write(json.dumps(dump_connection(con), default=str) + "\n")
    finally:
        con.close()
