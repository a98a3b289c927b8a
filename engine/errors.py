"""Moved to :mod:`engine.base.errors`; this name stays importable."""

import sys

from .base import errors as _mod

sys.modules[__name__] = _mod
