"""How numbers are written: probabilities, percentages and money, for text output, notes and plots.

Every module that shows one of these numbers to a person calls this module, so the quote, the
sweep and tornado tables, the JSON notes and the pictures agree. The rules:

Probabilities (:func:`pct`)
    From 1e-4 up, a percentage: two decimals from 1% up (``"12.35%"``, ``"100.00%"``), three
    significant digits below 1% (``"0.267%"``, ``"0.0123%"``, ``"0.0100%"``). Below 1e-4 the
    probability itself in scientific notation, three significant digits, the exponent without
    padding (``"5.99e-6"``, ``"9.66e-259"``), where a percentage would need a run of zeros.
    0 is ``"0"``; NaN and the infinities are ``"n/a"`` (the notes say why). A negative value
    keeps its sign and is sized by its magnitude.
Intervals of probabilities (:func:`p_interval`)
    Both ends in one style, so an interval never mixes units: scientific notation when either
    end is nonzero and below 1e-4 (``"0 to 5.99e-6"``, ``"1.77e-5 to 5.66e-4"``), percentages
    otherwise (``"0.123% to 0.456%"``, ``"0 to 0.0300%"``).
Axis ticks and heatmap cells (:func:`pct_tick`, :func:`pct_short`)
    A tick has as many digits as it needs (``"2.5%"``, ``"99.9999%"``; ``"1e-5"`` below 1e-4);
    a heatmap cell is short (``"0"``, ``"<0.1%"``, ``"4.2%"``, ``"42%"``).
Shares and relative sizes (:func:`percent`)
    A fraction that is not a probability (relative precision, share of trials done): a
    percentage with three significant digits, zeros dropped (``"1.5%"``, ``"0.25%"``).
Differences of probabilities (:func:`pp`)
    Percentage points with a sign, three significant digits (``"+1.5 pp"``, ``"-0.25 pp"``).
Quantile levels (:func:`pctl`, :func:`ordinal`)
    ``"10%"``, ``"97.5%"`` in text; ``"10th"``, ``"1st"``, ``"97.5th"`` where a picture says
    "percentile".
Money in US$ billions (:func:`usd`, :func:`amount`)
    One decimal with thousands separators (``"$1,234.5B"``); a nonzero magnitude below 0.05
    keeps three significant digits (``"$0.0123B"``, ``"$1e-07B"``); from 1e15 up four
    significant digits (``"$2.5e+15B"``, Python's ``g`` exponent); a
    negative amount has its sign before the ``$`` (``"-$3.0B"``); NaN is ``"n/a"``, the
    infinities ``"inf"`` and ``"-inf"``. :func:`amount` is the same number without ``$`` and
    ``B``, for table cells whose header gives the unit.
Thread counts (:func:`threads`)
    ``"1 thread"``, ``"2 threads"``, in the line that ends a run's text.

Dependency rule: the standard library only.
"""

from __future__ import annotations

import math

#: Below this (and above 0) a probability is written in scientific notation, not as a percentage.
SCI_BELOW = 1e-4


def pct(p: float) -> str:
    """A probability: ``"12.35%"``, ``"0.267%"``, ``"5.99e-6"``, ``"0"``, ``"n/a"``.

    Parameters
    ----------
    p : float
        The probability (0..1).

    Returns
    -------
    str
        The probability as the module docstring's rules write it.
    """
    x = float(p)
    if not math.isfinite(x):
        return "n/a"
    if x == 0.0:
        return "0"
    return _sci(x) if abs(x) < SCI_BELOW else _percent(x)


def p_interval(lo: float, hi: float) -> str:
    """An interval of probabilities, both ends in one style: ``"0.123% to 0.456%"``,
    ``"0 to 5.99e-6"``.

    Parameters
    ----------
    lo, hi : float
        The ends of the interval (0..1).

    Returns
    -------
    str
        ``"<lo> to <hi>"``: both ends in scientific notation when either is nonzero and below
        1e-4, both as percentages otherwise; 0 is ``"0"`` and a non-finite end ``"n/a"``.
    """
    ends = [float(lo), float(hi)]
    sci = any(math.isfinite(x) and 0.0 < abs(x) < SCI_BELOW for x in ends)
    return " to ".join(_end(x, sci) for x in ends)


def pct_tick(p: float) -> str:
    """A probability on an axis tick: as many digits as the tick needs.

    Parameters
    ----------
    p : float
        The tick's probability.

    Returns
    -------
    str
        ``"2.5%"``, ``"99.9999%"``; below 1e-4 scientific notation (``"1e-5"``); ``"0"`` for 0;
        ``"n/a"`` when not finite.
    """
    x = float(p)
    if not math.isfinite(x):
        return "n/a"
    if x == 0.0:
        return "0"
    return _exponent(f"{x:.6g}") if abs(x) < SCI_BELOW else f"{100 * x:.6g}%"


def pct_short(p: float) -> str:
    """A probability in a small heatmap cell: ``"0"``, ``"<0.1%"``, ``"4.2%"``, ``"42%"``.

    Parameters
    ----------
    p : float
        The cell's probability (0..1).

    Returns
    -------
    str
        At most five characters; ``"n/a"`` when not finite.
    """
    x = float(p)
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    if x < 0.001:
        return "<0.1%"
    return f"{100 * x:.1f}%" if x < 0.1 else f"{100 * x:.0f}%"


def percent(x: float) -> str:
    """A fraction that is not a probability (a relative error, a share of trials done).

    Parameters
    ----------
    x : float
        The fraction (0.015 for 1.5%).

    Returns
    -------
    str
        ``"1.5%"``, ``"0.25%"``, ``"100%"``: three significant digits, zeros dropped; ``"n/a"``
        when not finite.
    """
    v = float(x)
    return f"{100 * v:.3g}%" if math.isfinite(v) else "n/a"


def pp(x: float) -> str:
    """A difference of two probabilities in percentage points.

    Parameters
    ----------
    x : float
        The difference (0.015 for 1.5 percentage points).

    Returns
    -------
    str
        ``"+1.5 pp"``, ``"-0.25 pp"``; ``"0"`` for no difference; ``"n/a"`` when not finite.
    """
    v = float(x)
    if not math.isfinite(v):
        return "n/a"
    if v == 0.0:
        return "0"
    return f"{100 * v:+.3g} pp"


def pctl(q: float) -> str:
    """A quantile level in text: ``"10%"``, ``"97.5%"``.

    Parameters
    ----------
    q : float
        The level (0..1).

    Returns
    -------
    str
        The level in percent, as few digits as it needs (``"5%"``, ``"2.5%"``).
    """
    return f"{100 * float(q):g}%"


def ordinal(q: float) -> str:
    """A quantile level as a percentile: ``"10th"``, ``"1st"``, ``"22nd"``, ``"97.5th"``.

    Parameters
    ----------
    q : float
        The level (0..1): 0.01 is the 1st percentile.

    Returns
    -------
    str
        The whole percentile with its English suffix; a fractional one ends in "th".
    """
    v = 100 * float(q)
    k = round(v)
    if abs(v - k) > 1e-9:
        return f"{v:g}th"
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def usd(v: float) -> str:
    """An amount of money in US$ billions: ``"$1,234.5B"``, ``"-$3.0B"``, ``"$0.0123B"``.

    Parameters
    ----------
    v : float
        The amount, $B.

    Returns
    -------
    str
        The amount as the module docstring's rules write it; ``"n/a"``, ``"inf"`` or
        ``"-inf"`` when not finite (the notes say why).
    """
    x = float(v)
    if not math.isfinite(x):
        return amount(x)
    return f"-${amount(-x)}B" if x < 0 else f"${amount(x)}B"


def amount(v: float) -> str:
    """An amount in a table whose header names the unit: ``"1,234.5"``, ``"0.0123"``, ``"-3.0"``.

    Parameters
    ----------
    v : float
        The amount.

    Returns
    -------
    str
        One decimal with thousands separators; three significant digits for a nonzero
        magnitude below 0.05; four from 1e15 up; ``"n/a"``, ``"inf"``, ``"-inf"`` when not
        finite.
    """
    x = float(v)
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if abs(x) >= 1e15:
        return f"{x:.4g}"
    return f"{x:,.1f}" if abs(x) >= 0.05 or x == 0 else f"{x:.3g}"


def share(x: float) -> str:
    """A share of a variance (a Sobol' index): three decimals, ``"0.314"``, ``"-0.002"`` (an
    estimate of a small index may fall below 0), ``"n/a"`` when not finite; never ``"-0.000"``.
    """
    v = float(x)
    if not math.isfinite(v):
        return "n/a"
    text = f"{v:.3f}"
    return "0.000" if text == "-0.000" else text


def _percent(x: float) -> str:
    """A probability from 1e-4 up as a percentage (two decimals from 1%, else 3 digits)."""
    if abs(x) >= 0.01 or f"{100 * x:#.3g}" == f"{100 * x:.2f}":
        return f"{100 * x:.2f}%"
    return f"{100 * x:#.3g}%"


def _sci(x: float) -> str:
    """A probability in scientific notation, three significant digits: ``"5.99e-6"``."""
    return _exponent(f"{x:.2e}")


def _exponent(text: str) -> str:
    """Python's exponent without its sign padding and leading zeros: ``e-06`` -> ``e-6``."""
    if "e" not in text:
        return text
    mantissa, exp = text.split("e")
    return f"{mantissa}e{int(exp)}"


def _end(x: float, sci: bool) -> str:
    """One end of an interval in the interval's style."""
    if not math.isfinite(x):
        return "n/a"
    if x == 0.0:
        return "0"
    return _sci(x) if sci else _percent(x)


def run_line(counted: str, attrs) -> str:
    """The line that ends a quote's text: trials, seed, run time and threads, and the kernels'
    compile when it took over a second (a first run).

    Parameters
    ----------
    counted : str
        The trials, as they should read (``"1,000,000"``).
    attrs : mapping
        The result's attributes (``seed``, ``elapsed_s``, ``threads``, ``compile_s``).

    Returns
    -------
    str
    """
    return f"{counted} trials, seed {attrs['seed']}, {run_time(attrs)}"


def run_time(attrs) -> str:
    """How long a run took and on how many threads, as every run's last line ends:
    ``"0.27 s on 2 threads"``, then :func:`compile_note`.

    Parameters
    ----------
    attrs : mapping
        The result's attributes (``elapsed_s``, ``threads``, ``compile_s``).

    Returns
    -------
    str
    """
    return (f"{float(attrs['elapsed_s']):.2f} s on {threads(attrs.get('threads'))}"
            + compile_note(attrs))


def threads(n) -> str:
    """A thread count as the run lines write it: ``"1 thread"``, ``"2 threads"``.

    Parameters
    ----------
    n : int or None
        The count (a result's ``threads`` attribute); None when a result does not say.

    Returns
    -------
    str
        The count and the noun it takes; ``"? threads"`` for None.
    """
    return "? threads" if n is None else f"{int(n)} thread{'' if int(n) == 1 else 's'}"


def compile_note(attrs) -> str:
    """``" (plus 6.2 s to compile the kernels once; they are now cached)"``, from a result's
    ``compile_s`` attribute, when it is over a second (a first run); else ``""``.

    Parameters
    ----------
    attrs : mapping
        The result's attributes.

    Returns
    -------
    str
    """
    compile_s = float(attrs.get("compile_s", 0.0))
    if compile_s > 1.0:
        return f" (plus {compile_s:.1f} s to compile the kernels once; they are now cached)"
    return ""
