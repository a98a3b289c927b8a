"""`python -m engine` runs the `capexgap` command."""

from .cli import main

raise SystemExit(main())
