"""Moved to :mod:`engine.base.safetext`; this name stays importable."""

import sys

from .base import safetext as _mod

sys.modules[__name__] = _mod
