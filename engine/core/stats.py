"""Statistics of counts and weighted sums: binomial intervals, Monte Carlo precision, the
limits of an importance-sampling estimate.

Dependency rule: numpy, scipy and ``engine.base`` only.
"""

from __future__ import annotations

import functools
import math
import sys

import scipy
import scipy.special

from engine.base import fmt

#: Below this an importance-sampling estimate's squared weights underflow float64 (their
#: variance cannot be computed): sqrt of the smallest normal double, about 1.5e-154.
IS_TINY = math.sqrt(sys.float_info.min)
#: Use the exact (Clopper-Pearson) interval when hits or misses are fewer than this.
FEW_HITS = 10
CONFIDENCE = 0.95


def proportion_interval(hits: int, n: int) -> tuple[float, float, str]:
    """95% interval for a binomial proportion.

    Wilson's score interval normally; Clopper-Pearson (exact) when hits or misses are few;
    with zero hits (or zero misses) the one-sided exact 95% bound, the other end being 0 (1).

    Returns
    -------
    (lower, upper, method)
    """
    return _interval(int(hits), int(n))


@functools.lru_cache(maxsize=4096)
def _interval(hits: int, n: int) -> tuple[float, float, str]:
    """:func:`proportion_interval`, remembered: the exact intervals take scipy a root search
    each, and a sweep's summary asks again for every point with the same counts (every point
    without a hit, for one)."""
    if hits > 0 and hits < n and min(hits, n - hits) >= FEW_HITS:
        # scipy's Wilson interval (stats.binomtest(...).proportion_ci(method="wilson")),
        # same operations in the same order, without importing scipy.stats (0.4 s of every
        # `capexgap quote`); tests hold the two equal
        p = hits / n
        z = scipy.special.ndtri(0.5 + 0.5 * CONFIDENCE)
        denom = 2 * (n + z**2)
        center = (2 * n * p + z**2) / denom
        delta = z / denom * math.sqrt(4 * n * p * (1 - p) + z**2)
        return float(center - delta), float(center + delta), "wilson"
    from scipy import stats

    if hits == 0:
        upper = stats.binomtest(0, n, alternative="less").proportion_ci(CONFIDENCE).high
        return 0.0, float(upper), "clopper-pearson one-sided (no hits)"
    if hits == n:
        lower = stats.binomtest(n, n, alternative="greater").proportion_ci(CONFIDENCE).low
        return float(lower), 1.0, "clopper-pearson one-sided (all hits)"
    method = "exact" if min(hits, n - hits) < FEW_HITS else "wilson"
    ci = stats.binomtest(hits, n).proportion_ci(confidence_level=CONFIDENCE, method=method)
    name = "clopper-pearson" if method == "exact" else "wilson"
    return float(ci.low), float(ci.high), name


def mc_precision(hits: int, n: int) -> tuple[float, float, float, float]:
    """Error figures of a plain Monte Carlo estimate p = hits / n.

    Returns
    -------
    (se, rel_error, ess, mc_equivalent_trials)
        ``sqrt(p (1 - p) / n)``; the relative half-width of :func:`proportion_interval`'s
        interval, ``max(hi - p, p - lo) / p`` (NaN when p = 0); the effective number of
        covering trials (every weight is 1: the hits); and n.
    """
    p = hits / n
    lo, hi, _ = proportion_interval(hits, n)
    rel = max(hi - p, p - lo) / p if hits > 0 else math.nan
    return math.sqrt(p * (1.0 - p) / n), rel, float(hits), float(n)


def importance_error_unknown(p: float, se: float, trials: int) -> str:
    """Why an importance-sampling estimate's standard error cannot be computed ("" if it can).

    With fewer than 2 trials there is no variance to estimate; when the estimate is below
    :data:`IS_TINY` the squares of the covering trials' weights underflow float64 and the
    variance sums to 0 (the estimate would show a zero-width interval).
    """
    if trials < 2 or not math.isfinite(se):
        return f"{trials:,} importance-sampling trial: a standard error needs at least 2"
    if 0.0 < p < IS_TINY:
        return (f"the covering trials' weights are about {fmt.pct(p)} or smaller, and their "
                f"squares underflow float64 (below {sys.float_info.min:.3g}), so their variance "
                "cannot be computed")
    return ""
