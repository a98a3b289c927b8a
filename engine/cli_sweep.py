"""Moved to :mod:`engine.cli.sweep` (a temporary alias)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("engine.cli.sweep")
