"""Tabulated beta quantile function (used by the ``beta`` and ``pert`` families).

scipy's ``betaincinv`` costs microseconds per call, far too slow per trial and not callable from
numba.  So each distinct shape pair (alpha, beta) gets a table, built once with scipy:

* knots ``z_i`` evenly spaced on [-Z, Z] in *normal-score* space (``u = Phi(z)``), so a 53-bit
  uniform (``|z| <= 8.3``) always lands inside the table and the lookup is O(1);
* values ``y_i = log(x / (1 - x))`` for ``x = F^{-1}(Phi(z_i))`` on [0, 1]: in the tails
  ``y ~ log(Phi(z)) / alpha`` (resp. ``-log(Phi(-z)) / beta``), which is smooth and nearly
  quadratic in z, where x itself spans hundreds of decades;
* exact slopes ``dy/dz = phi(z) B(a, b) / (x**a (1 - x)**b)`` from the density, for cubic Hermite
  interpolation in the kernel.

Beyond +-Z (u < 9.5e-18: never from a 53-bit uniform, only from shifted normal scores) the kernel
extrapolates ``y = y(-Z) + A (log Phi(z) - log Phi(-Z)) + B (z + Z)`` (mirrored above Z), with A, B
matching the exact slope and curvature at -Z: for small shapes this is the exact leading-order
tail (A = 1/alpha, B ~ 0), for large ones nearly linear.  Measured at z = -9 / -10: <= 5e-5 /
1e-3 relative for Beta(30, 30), <= 1e-12 for shapes <= 1; continuous, monotone, inside the support.

Row layout: ``tab[i] = (y_i, h * dy/dz(z_i))`` for the ``TABLE_KNOTS`` knots, then
``tab[K] = (A, B)`` for the lower tail and ``tab[K + 1] = (A, B)`` for the upper tail.

An absolute error ``e`` in ``y`` is a relative error of at most ``e`` in ``min(x, 1 - x)`` (the
distance to the nearer bound), hence in ``x``.  :data:`TABLE_REL_ERROR` bounds it for every shape
pair in [:data:`SHAPE_MIN`, :data:`SHAPE_MAX`]; each table is also checked against scipy at all
knot midpoints (where Hermite error peaks) when it is built.

Measured (4,097 knots, Z = 8.5, vs scipy, itself checked against mpmath to ~5e-15 in y):
max error 6.2e-11 at alpha = beta = 0.1 (the U-shaped corner), ~1e-11 for shapes >= 0.15,
~7e-13 for shapes >= 0.5, ~1e-14 for shapes >= 3.

Dependency rule: numpy, scipy and the stdlib only.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

#: Number of knots per table (a table row is ``TABLE_KNOTS * 2`` float64: 64 KiB).
TABLE_KNOTS = 4097
#: Tables cover normal scores in [-TABLE_Z, TABLE_Z], i.e. u in [9.5e-18, 1 - 9.5e-18].
TABLE_Z = 8.5
#: Bound on the relative error of ``min(x - lo, hi - x)`` (hence of ``x - lo`` and of a beta on
#: [0, 1]) for |z| <= TABLE_Z, against scipy, for shapes in [SHAPE_MIN, SHAPE_MAX].
TABLE_REL_ERROR = 1e-10
#: Shape parameters (alpha, beta) for which TABLE_REL_ERROR is verified.
SHAPE_MIN = 0.1
SHAPE_MAX = 1e4

_H = 2.0 * TABLE_Z / (TABLE_KNOTS - 1)
#: log Phi(-Z), packed with each beta/PERT row for the tail extrapolation.
LOG_PHI_Z = float(special.log_ndtr(-TABLE_Z))
# First and second derivatives of log Phi at -Z.
_L1 = float(math.exp(-0.5 * TABLE_Z**2 - 0.5 * math.log(2.0 * math.pi) - LOG_PHI_Z))
_L2 = -_L1 * (-TABLE_Z + _L1)

# Below this x (or 1 - x) scipy's answer has lost precision to underflow; the leading-order
# tail x = (a B Phi(z))**(1/a) is then exact to O(x) relative.
_TINY = 1e-250


def _logs(a: float, b: float, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(log x, log(1 - x))`` at ``x = F^{-1}(Phi(z))`` for Beta(a, b), each from the source
    with the smaller error.

    ``x`` can come directly from ``betaincinv(a, b, p)`` or as ``1 - c`` with
    ``c = betaincinv(b, a, q)``, ``p = Phi(z)``, ``q = Phi(-z)``.  With ``eps`` relative error in
    p, q and the results, the relative error of x is ``eps * p / (x f)`` directly and
    ``eps * (q / (x f) + c / x)`` through c (similarly for c); pick the smaller.  This matters
    where x is tiny but p > 1/2 (small alpha, large beta) and where x ~ 1/2 far in a tail.
    """
    p = special.ndtr(z)
    q = special.ndtr(-z)
    lb = special.betaln(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = special.betaincinv(a, b, p)
        c = special.betaincinv(b, a, q)
        lx_d = np.where(x < _TINY, (special.log_ndtr(z) + math.log(a) + lb) / a, np.log(x))
        lc_d = np.where(c < _TINY, (special.log_ndtr(-z) + math.log(b) + lb) / b, np.log(c))
        lx_v = np.log1p(-c)
        lc_v = np.log1p(-x)
        # Rough logs (from the tail whose probability is smaller) just to rank the error terms.
        lo = p <= q
        lxr = np.where(lo, lx_d, lx_v)
        lcr = np.where(lo, lc_v, lc_d)
        lxf = a * lxr + (b - 1.0) * lcr - lb  # log(x f(x))
        lcf = (a - 1.0) * lxr + b * lcr - lb  # log((1 - x) f(x))
        e_xd = np.log(p) - lxf
        e_xv = np.logaddexp(np.log(q) - lxf, lcr - lxr)
        e_cd = np.log(q) - lcf
        e_cv = np.logaddexp(np.log(p) - lcf, lxr - lcr)
        lx = np.where(~(e_xv < e_xd), lx_d, lx_v)
        lc = np.where(~(e_cv < e_cd), lc_d, lc_v)
    return lx, lc


def _y_and_slope(a: float, b: float, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Table values ``y = logit(x)`` and their exact derivatives ``dy/dz`` at scores z."""
    lx, lc = _logs(a, b, z)
    slope = np.exp(-0.5 * z * z - 0.5 * math.log(2.0 * math.pi) + special.betaln(a, b)
                   - a * lx - b * lc)
    return lx - lc, slope


def _tail_coefficients(a: float, b: float) -> tuple[float, float]:
    """(A, B) of the lower-tail extrapolation of Beta(a, b) below -Z (see module docstring)."""
    z = np.array([-TABLE_Z])
    lx, lc = _logs(a, b, z)
    _, d = _y_and_slope(a, b, z)
    x, c, d = math.exp(lx[0]), math.exp(lc[0]), float(d[0])
    # d/dz log(dy/dz) = -z - (a (1 - x) - b x) dy/dz, from dy/dz = phi B / (x^a (1-x)^b).
    curvature = d * (TABLE_Z - (a * c - b * x) * d)
    big_a = curvature / _L2
    return big_a, d - big_a * _L1


def hermite(tab: np.ndarray, z: np.ndarray) -> np.ndarray:
    """NumPy twin of the kernel's in-table interpolation (for the build-time check and tests)."""
    t = (np.asarray(z, dtype=float) + TABLE_Z) / _H
    i = np.clip(t.astype(np.int64), 0, TABLE_KNOTS - 2)
    s = t - i
    s1 = 1.0 - s
    y0, m0 = tab[i, 0], tab[i, 1]
    y1, m1 = tab[i + 1, 0], tab[i + 1, 1]
    return s1 * s1 * ((1.0 + 2.0 * s) * y0 + s * m0) + s * s * ((3.0 - 2.0 * s) * y1 - s1 * m1)


@functools.lru_cache(maxsize=512)
def beta_table(alpha: float, beta: float) -> np.ndarray:
    """The interpolation table of Beta(alpha, beta) on [0, 1].

    Parameters
    ----------
    alpha, beta : float
        Shape parameters in [SHAPE_MIN, SHAPE_MAX].

    Returns
    -------
    numpy.ndarray
        Read-only float64 array of shape ``(TABLE_KNOTS + 2, 2)``: ``y_i`` and ``h * dy/dz``
        (the slope pre-multiplied by the knot spacing, as Hermite interpolation uses it), then
        the lower and upper tail coefficients ``(A, B)``.

    Raises
    ------
    RuntimeError
        If the table misses TABLE_REL_ERROR at a knot midpoint (not expected inside the
        validated shape range; callers validate the range first).
    """
    z = np.linspace(-TABLE_Z, TABLE_Z, TABLE_KNOTS)
    y, slope = _y_and_slope(alpha, beta, z)
    tab = np.empty((TABLE_KNOTS + 2, 2))
    tab[:TABLE_KNOTS, 0] = y
    tab[:TABLE_KNOTS, 1] = slope * _H
    tab[TABLE_KNOTS] = _tail_coefficients(alpha, beta)
    tab[TABLE_KNOTS + 1] = _tail_coefficients(beta, alpha)  # upper tail = mirrored lower tail
    if not np.all(np.isfinite(tab)):
        raise RuntimeError(f"beta table for alpha={alpha!r}, beta={beta!r} is not finite")
    # Cubic Hermite error peaks near the middle of each interval: check every one.
    zm = 0.5 * (z[1:] + z[:-1])
    ym, _ = _y_and_slope(alpha, beta, zm)
    err = float(np.max(np.abs(hermite(tab, zm) - ym)))
    if not err <= TABLE_REL_ERROR:
        raise RuntimeError(
            f"beta table for alpha={alpha!r}, beta={beta!r} has error {err:.2e} "
            f"> TABLE_REL_ERROR={TABLE_REL_ERROR:g}"
        )
    tab.setflags(write=False)
    return tab


def dummy_table() -> np.ndarray:
    """A zero table row for plans without beta/PERT inputs (the kernel never reads it)."""
    return np.zeros((TABLE_KNOTS + 2, 2))
