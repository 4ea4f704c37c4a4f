"""`python -m cio_retl` runs the command line."""

from cio_retl.cli import main

main()
