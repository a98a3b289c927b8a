"""`python -m engine` runs the `capexgap` command."""

from engine.cli import run

run()
