"""`python -m pipeline` runs the `vsm` CLI."""

from pipeline.cli import main

main()
