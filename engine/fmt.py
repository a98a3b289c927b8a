"""Moved to :mod:`engine.base.fmt`; this name stays importable."""

import sys

from .base import fmt as _mod

sys.modules[__name__] = _mod
