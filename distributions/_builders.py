"""Per-family validation: a spec's checked values -> the family's natural parameters.

Each builder enforces its family's rules (ordering, positivity, shape ranges, a truncation
interval with enough probability) and converts any parameterisation (moments, a quantile pair)
to the natural parameters :class:`~distributions.Distribution` stores.

Dependency rule: numpy, scipy and the stdlib only (never ``engine``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special  # scipy.optimize: imported where used

from ._grammar import _CI, _CI_RE, DistributionError, _level, _show
from ._tables import SHAPE_MAX, SHAPE_MIN

# Smallest probability a truncnormal's interval may hold: below this its tail probabilities are
# denormal and the quantile function loses its precision.
_TRUNC_MIN_MASS = 1e-250


# -- a quantile pair: ciNN = [lo, hi] or two pNN keys -> two (level, value) points ----------


def _quantile_pair(key: str, family: str, group: str, given: list[str],
                   values: dict[str, Any]) -> tuple[str, float, float, float, float]:
    """Returns (path, p_lo, x_lo, p_hi, x_hi) with p_lo < p_hi and x_lo < x_hi checked."""
    if group == _CI:
        if len(given) != 1:
            raise DistributionError(
                key, "give one central interval, not several", ", ".join(given),
                f"Keep one of {', '.join(given)} (it fixes two quantiles).")
        name = given[0]
        path = f"{key}.{name}"
        m = _CI_RE.fullmatch(name)
        assert m is not None
        level = float(m.group(1)) / 100.0
        if not 0.0 < level < 1.0:
            raise DistributionError(path, "a ciNN key needs a level strictly between 0 and 100",
                                    name, "Write e.g. ci90 = [lo, hi] (the 5% and 95% quantiles).")
        lo, hi = values[name]
        p_lo, p_hi = 0.5 - 0.5 * level, 0.5 + 0.5 * level
    else:
        for name in given:
            if not 0.0 < _level(name) < 1.0:
                raise DistributionError(
                    f"{key}.{name}", "a percentile key needs a level strictly between 0 and 100",
                    name, "Write e.g. p05 or p5 (5%), p95, or \"p2.5\".")
        if len(given) != 2:
            raise DistributionError(
                key, f"a quantile pair needs exactly two percentiles, {len(given)} given",
                ", ".join(given), "Give two, e.g. p10 = lo and p90 = hi.")
        a, b = sorted(given, key=_level)
        if _level(a) == _level(b):
            raise DistributionError(key, "the two percentiles name the same level",
                                    f"{a}, {b}", "Give two different levels, e.g. p10 and p90.")
        p_lo, lo, p_hi, hi = _level(a), values[a], _level(b), values[b]
        name = f"{a}/{b}"
        path = f"{key}.{b}"
    if not lo < hi:
        raise DistributionError(
            path, "the lower quantile must be < the upper quantile", f"{_show(lo)}, {_show(hi)}",
            "Give the quantile at the lower level first and make it smaller.")
    return path, p_lo, lo, p_hi, hi


# -- per-family builders: (key, values, quantiles) -> natural params -----------------------------


def _positive(path: str, name: str, x: float) -> None:
    if not x > 0.0:
        raise DistributionError(path, f"{name} must be > 0", _show(x), f"Give a positive {name}.")


def _build_fixed(key, v, q):
    return (("value", v["value"]),)


def _build_uniform(key, v, q):
    if q is not None:
        path, p1, x1, p2, x2 = q
        w = (x2 - x1) / (p2 - p1)
        lo = x1 - p1 * w
        return (("min", lo), ("max", lo + w))
    if "mean" in v:
        _positive(f"{key}.sd", "sd", v["sd"])
        w = v["sd"] * math.sqrt(12.0)
        return (("min", v["mean"] - 0.5 * w), ("max", v["mean"] + 0.5 * w))
    if not v["min"] < v["max"]:
        raise DistributionError(f"{key}.max", "a uniform needs min < max",
                                f"min={_show(v['min'])}, max={_show(v['max'])}",
                                "Make max larger than min (use a bare number for a fixed value).")
    return (("min", v["min"]), ("max", v["max"]))


def _build_normal(key, v, q):
    if q is not None:
        path, p1, x1, p2, x2 = q
        z1, z2 = float(special.ndtri(p1)), float(special.ndtri(p2))
        sd = (x2 - x1) / (z2 - z1)
        return (("mean", x1 - sd * z1), ("sd", sd))
    _positive(f"{key}.sd", "sd", v["sd"])
    return (("mean", v["mean"]), ("sd", v["sd"]))


def _build_lognormal(key, v, q):
    if q is not None:
        path, p1, x1, p2, x2 = q
        if not x1 > 0.0:
            raise DistributionError(path, "a lognormal's quantiles must be > 0",
                                    f"{_show(x1)}, {_show(x2)}",
                                    "Give positive bounds, or use a normal for a quantity that "
                                    "can be zero or negative.")
        z1, z2 = float(special.ndtri(p1)), float(special.ndtri(p2))
        l1, l2 = math.log(x1), math.log(x2)
        sigma = (l2 - l1) / (z2 - z1)
        return (("mu", l1 - sigma * z1), ("sigma", sigma))
    if "mean" in v:
        _positive(f"{key}.mean", "a lognormal's mean", v["mean"])
        _positive(f"{key}.sd", "sd", v["sd"])
        s2 = math.log1p((v["sd"] / v["mean"]) ** 2)
        return (("mu", math.log(v["mean"]) - 0.5 * s2), ("sigma", math.sqrt(s2)))
    _positive(f"{key}.sigma", "sigma", v["sigma"])
    return (("mu", v["mu"]), ("sigma", v["sigma"]))


def _min_mode_max(key, family, v):
    lo, c, hi = v["min"], v["mode"], v["max"]
    if not (lo <= c <= hi and lo < hi):
        raise DistributionError(
            key, f"a {family} needs min <= mode <= max and min < max",
            f"min={_show(lo)}, mode={_show(c)}, max={_show(hi)}",
            "Order the three values (use a bare number for a fixed value).")
    return lo, c, hi


def _build_triangular(key, v, q):
    lo, c, hi = _min_mode_max(key, "triangular", v)
    return (("min", lo), ("mode", c), ("max", hi))


def _check_shapes(key: str, family: str, a: float, b: float, how: str) -> None:
    if not (SHAPE_MIN <= a <= SHAPE_MAX and SHAPE_MIN <= b <= SHAPE_MAX):
        raise DistributionError(
            key, f"a {family}'s shape parameters must lie in [{SHAPE_MIN:g}, {SHAPE_MAX:g}] "
            "(the range where its tabulated quantile function is verified)",
            f"alpha={a:.6g}, beta={b:.6g}{how}",
            "Choose a less extreme spread (shapes below 0.1 put almost all mass on the bounds).")


def _build_pert(key, v, q):
    lo, c, hi = _min_mode_max(key, "pert", v)
    lam = v.get("lambda", 4.0)
    _positive(f"{key}.lambda", "lambda", lam)
    a = 1.0 + lam * (c - lo) / (hi - lo)
    b = 1.0 + lam * (hi - c) / (hi - lo)
    _check_shapes(f"{key}.lambda", "pert", a, b, f" from lambda={_show(lam)}")
    return (("min", lo), ("mode", c), ("max", hi), ("lambda", lam))


def _build_beta(key, v, q):
    lo, hi = v.get("min", 0.0), v.get("max", 1.0)
    if not lo < hi:
        raise DistributionError(f"{key}.max", "a beta needs min < max",
                                f"min={_show(lo)}, max={_show(hi)}", "Make max larger than min.")
    w = hi - lo
    if q is not None:
        path, p1, x1, p2, x2 = q
        if not (lo < x1 and x2 < hi):
            raise DistributionError(
                path, f"a beta's quantiles must lie strictly inside (min, max) = "
                f"({_show(lo)}, {_show(hi)})", f"{_show(x1)}, {_show(x2)}",
                "Move the quantiles inside the support, or widen min/max.")
        a, b = _fit_beta(path, p1, (x1 - lo) / w, p2, (x2 - lo) / w)
        how = " (fitted to the quantiles)"
    elif "mean" in v:
        mean, sd = v["mean"], v["sd"]
        _positive(f"{key}.sd", "sd", sd)
        m, s = (mean - lo) / w, sd / w
        if not 0.0 < m < 1.0:
            raise DistributionError(
                f"{key}.mean", "a beta's mean must lie strictly between min and max",
                f"mean={_show(mean)}, min={_show(lo)}, max={_show(hi)}",
                "Move the mean inside (min, max), or set min/max.")
        if not s * s < m * (1.0 - m):
            raise DistributionError(
                f"{key}.sd", "a beta needs sd^2 < (mean - min) * (max - mean)",
                f"sd={_show(sd)}, limit sqrt((mean-min)(max-mean))="
                f"{math.sqrt((mean - lo) * (hi - mean)):.6g}",
                "Give a smaller sd (or a wider min/max).")
        # s * s underflows to 0 for a vanishing sd: infinite shapes, refused just below.
        nu = m * (1.0 - m) / (s * s) - 1.0 if s * s > 0.0 else math.inf
        a, b = m * nu, (1.0 - m) * nu
        how = " (from mean and sd)"
    else:
        a, b = v["alpha"], v["beta"]
        _positive(f"{key}.alpha", "alpha", a)
        _positive(f"{key}.beta", "beta", b)
        how = ""
    _check_shapes(key, "beta", a, b, how)
    return (("alpha", a), ("beta", b), ("min", lo), ("max", hi))


def _fit_beta(path: str, p1: float, q1: float, p2: float, q2: float) -> tuple[float, float]:
    """Shapes (a, b) of the Beta on [0, 1] with quantile q1 at level p1 and q2 at p2.

    Solves for (log a, log b) with normal-score residuals (well scaled at any level), from a
    moment-matched logit-normal guess and then a few fixed starts; accepts only a solution that
    reproduces both levels to 1e-12.
    """
    from scipy import optimize

    z = np.array([special.ndtri(p1), special.ndtri(p2)])
    qs = np.array([q1, q2])
    lo_t, hi_t = math.log(SHAPE_MIN) - 2.0, math.log(SHAPE_MAX) + 2.0

    def resid(t):
        a, b = np.exp(np.clip(t, lo_t, hi_t))
        return special.ndtri(np.clip(special.betainc(a, b, qs), 1e-300, 1.0 - 1e-16)) - z

    starts = []
    with np.errstate(all="ignore"):
        # The logit-normal through the two points, moment-matched to a beta.
        l1, l2 = special.logit(q1), special.logit(q2)
        s = (l2 - l1) / (z[1] - z[0])
        m = float(special.expit(l1 - s * z[0]))
        nu = 1.0 / (m * (1.0 - m) * s * s) - 1.0
        if math.isfinite(nu) and nu > 0.0 and 0.0 < m < 1.0:
            starts.append(np.log([m * nu, (1.0 - m) * nu]))
        starts += [np.log(ab) for ab in ((1, 1), (0.3, 0.3), (3, 3), (0.5, 5), (5, 0.5), (30, 30))]
        for t0 in starts:
            sol = optimize.root(resid, np.clip(t0, lo_t, hi_t), method="hybr",
                                options={"xtol": 1e-14})
            a, b = (float(x) for x in np.exp(np.clip(sol.x, lo_t, hi_t)))
            got = special.betainc(a, b, qs)
            if np.all(np.abs(got - [p1, p2]) <= 1e-12):
                return a, b
    raise DistributionError(
        path, f"no beta distribution with shapes in [{SHAPE_MIN:g}, {SHAPE_MAX:g}] has these "
        "quantiles", f"{q1:.6g}, {q2:.6g} on [0, 1]",
        "Give less extreme quantiles, or use {alpha, beta} or {mean, sd} instead.")


def _build_truncnormal(key, v, q):
    mean, sd = v["mean"], v["sd"]
    _positive(f"{key}.sd", "sd", sd)
    lo, hi = v.get("min", -math.inf), v.get("max", math.inf)
    if lo == math.inf or hi == -math.inf:
        bad, sign = ("min", "+") if lo == math.inf else ("max", "-")
        raise DistributionError(f"{key}.{bad}", f"{bad} cannot be {sign}inf", _show(v[bad]),
                                "Give a finite bound, or leave it out for an open side.")
    if math.isinf(lo) and math.isinf(hi):
        raise DistributionError(
            key, "a truncnormal needs at least one finite bound (min or max)",
            f"min={_show(lo)}, max={_show(hi)}", "Add min and/or max, or use dist = \"normal\".")
    if not lo < hi:
        raise DistributionError(f"{key}.max", "a truncnormal needs min < max",
                                f"min={_show(lo)}, max={_show(hi)}", "Make max larger than min.")
    if _trunc_constants(mean, sd, lo, hi)[2] < _TRUNC_MIN_MASS:
        raise DistributionError(
            key, "the truncation interval holds almost no probability under the parent normal",
            f"[{(lo - mean) / sd:.4g}, {(hi - mean) / sd:.4g}] sd from the mean",
            "Move min/max towards the mean or increase sd (mean and sd are the parent's).")
    return (("mean", mean), ("sd", sd), ("min", lo), ("max", hi))


def _trunc_constants(mean: float, sd: float, lo: float, hi: float) -> tuple[float, float, float]:
    """(Phi(a), Phi(-b), mass) for standardised bounds a, b; mass from the accurate tails."""
    a, b = (lo - mean) / sd, (hi - mean) / sd
    pa, qb = float(special.ndtr(a)), float(special.ndtr(-b))
    if a > 0.0:
        mass = float(special.ndtr(-a)) - qb
    elif b < 0.0:
        mass = float(special.ndtr(b)) - pa
    else:
        mass = 1.0 - pa - qb
    return pa, qb, mass


_BUILDERS = {
    "fixed": _build_fixed,
    "uniform": _build_uniform,
    "normal": _build_normal,
    "lognormal": _build_lognormal,
    "triangular": _build_triangular,
    "pert": _build_pert,
    "beta": _build_beta,
    "truncnormal": _build_truncnormal,
}
