"""The counter-based generator lives in :mod:`engine.core.rng`; this name stays importable."""

from .core.rng import *  # noqa: F401,F403
from .core.rng import _PURPOSE_MUL  # noqa: F401
