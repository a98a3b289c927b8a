"""Moved to :mod:`engine.io.resultfile` (a temporary alias)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("engine.io.resultfile")
