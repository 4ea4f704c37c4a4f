"""The `cio-retl` command line: the typer app (`app.py`) and one module per command's presentation."""

from cio_retl.cli.entry import main

__all__ = ["main"]
