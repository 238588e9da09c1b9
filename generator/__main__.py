"""`python -m generator` runs the deploygen command."""

from .cli import main

main(prog_name="deploygen")
