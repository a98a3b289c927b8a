"""Moved to :mod:`engine.base.interrupts`; this name stays importable."""

import sys

from .base import interrupts as _mod

sys.modules[__name__] = _mod
