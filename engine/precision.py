"""Moved to :mod:`engine.analyses.precision` (a temporary alias)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("engine.analyses.precision")
