"""Moved to :mod:`engine.present.plot` (a temporary alias)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("engine.present.plot")
