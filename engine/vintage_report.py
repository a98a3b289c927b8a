"""Moved to :mod:`engine.models.vintage_report` (a temporary alias)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("engine.models.vintage_report")
