"""`python -m engine` runs the `capexgap` command."""

from .cli import run

run()
