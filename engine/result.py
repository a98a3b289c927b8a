"""Moved to :mod:`engine.core.dataset`, :mod:`engine.core.stats` and :mod:`engine.io.results`
(a temporary alias module)."""

from engine.core.dataset import *  # noqa: F401,F403
from engine.core.dataset import (RUN_ATTRS, _LOWER, _UPPER, _level, _num,  # noqa: F401
                                 explain_nulls, notes_of)
from engine.core.stats import *  # noqa: F401,F403
from engine.io.results import *  # noqa: F401,F403
from engine.models.one_year import OUTPUT_ATTRS  # noqa: F401
