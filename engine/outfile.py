"""Moved to :mod:`engine.io.outfile` (a temporary alias)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("engine.io.outfile")
