"""How a probability is written: one set of rules for text output, notes and plots.

Every probability is shown as a percentage, whatever its size, so an interval never mixes
units ("0% to 0.000599%", not "0% to 5.99e-06"); a value that is not a number is "n/a" (the
notes say why), never "inf%".

Dependency rule: the standard library only.
"""

from __future__ import annotations

import math


def pct(p: float) -> str:
    """A probability as a percentage: ``"12.35%"``, ``"0.267%"``, ``"0.000599%"``, ``"9.66e-257%"``.

    Two decimals from 1% up; three significant digits below (Python's ``g`` format, which
    turns to an exponent below 0.0001%); ``"0%"`` for 0; ``"n/a"`` for NaN or an infinity.

    Parameters
    ----------
    p : float
        The probability (0..1).

    Returns
    -------
    str
    """
    x = float(p)
    if not math.isfinite(x):
        return "n/a"
    if x == 0.0:
        return "0%"
    return f"{100 * x:.2f}%" if abs(x) >= 0.01 else f"{100 * x:.3g}%"


def pct_tick(p: float) -> str:
    """A probability on an axis tick: as many digits as the tick needs (``"2.5%"``)."""
    x = float(p)
    return f"{100 * x:.6g}%" if math.isfinite(x) else "n/a"


def pct_short(p: float) -> str:
    """A probability in a small heatmap cell: ``"0"``, ``"<0.1%"``, ``"4.2%"``, ``"42%"``."""
    x = float(p)
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    if x < 0.001:
        return "<0.1%"
    return f"{100 * x:.1f}%" if x < 0.1 else f"{100 * x:.0f}%"
