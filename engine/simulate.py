"""Moved to :mod:`engine.core.driver` and :mod:`engine.analyses.simulate` (a temporary alias)."""

import importlib
import sys

from engine.analyses import simulate as _sim
from engine.core import driver as _driver

for _k, _v in vars(_driver).items():
    if not _k.startswith("__"):
        setattr(_sim, _k, getattr(_sim, _k, _v))
sys.modules[__name__] = _sim
