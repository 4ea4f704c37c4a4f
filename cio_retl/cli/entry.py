"""The `cio-retl` entry point: every outcome is an exit code and one clear message, never a traceback unless asked."""

from __future__ import annotations

import os
import sys

from rich.markup import escape

from cio_retl.cli.app import DEBUG_ENV, INTERRUPTED_EXIT, app, err
from cio_retl.errors import CioRetlError, ConfigError
from cio_retl.stopping import stop_requested, stop_signals_interrupt


def main() -> None:
    """Entry point: configuration errors exit 2, other errors 1, Ctrl-C or SIGTERM 130; never a traceback unless
    --debug asks for one."""
    with stop_signals_interrupt():
        _run_app()


def _run_app() -> None:
    try:
        app()
    except SystemExit as exc:  # click turns Ctrl-C outside `run` into "Aborted!" and exit 1
        sys.exit(INTERRUPTED_EXIT if stop_requested() and exc.code not in (0, None) else exc.code)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except CioRetlError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        err.print(f"[red]error:[/red] unexpected {type(exc).__name__}: {escape(str(exc))}\n  → this is a bug in "
                  "cio-retl: run the command again with `cio-retl --debug …` and report the traceback", highlight=False)
        sys.exit(1)
