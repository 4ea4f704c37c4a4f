"""`python -m cio_retl` runs the command line."""

from cio_retl.cli.entry import main

main()
