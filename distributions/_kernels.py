"""Numba kernels: quantile functions of every family, from a uniform or a normal score.

Nothing here allocates, raises or touches a Python object, so ``sample_u`` / ``sample_z`` can be
called per trial from any ``@njit`` (or ``parallel=True``) kernel.  Parameters arrive as one
packed row ``par`` (float64[NPAR]) and the beta/PERT tables as an argument (never a global:
globals are frozen into compiled code and break ``cache=True``).

Packed row layout, by family code (built by :func:`distributions.pack`)::

    0 fixed        [value]
    1 uniform      [lo, hi, hi - lo]
    2 normal       [mean, sd]
    3 lognormal    [mu, sigma]
    4 triangular   [lo, mode, hi, F(mode), (hi-lo)(mode-lo), (hi-lo)(hi-mode)]
    5 pert         [lo, hi, hi - lo, table row, Z, 1/h, log Phi(-Z), 0]
    6 beta         (same as pert)
    7 truncnormal  [mean, sd, lo, hi, Phi(a), Phi(-b), Phi(b) - Phi(a)]   (a, b standardised bounds)

Tables: C-contiguous float64[n_tab, K + 2, 2]; ``tables[r, i] = (y_i, h * dy/dz at z_i)`` with
knots ``z_i = -Z + i h`` and ``y = logit`` of the [0, 1]-scaled quantile, then the lower and
upper tail coefficients ``(A, B)`` in ``tables[r, K]`` and ``tables[r, K + 1]`` (``_tables.py``).

Why ``sample_u``/``sample_z`` are ``inline="always"`` and read everything up front: a call to a
jitted function that keeps an array argument alive across branches costs an atomic
increment/decrement pair of the array's refcount per call (~5-10 ns here, more than the whole
fixed or uniform sample).  Inlined at numba-IR level, reading the ``par`` row into scalars and
taking the table's data pointer in the first block lets numba's refcount pruning remove them;
the heavy helpers then take scalars only and stay ordinary (shared, compiled-once) functions.

Dependency rule: numpy, numba and the stdlib only.
"""

from __future__ import annotations

import math

from numba import njit, types
from numba.core.errors import TypingError
from numba.extending import intrinsic

# Family codes; the order of the dispatch chain below follows expected frequency, not these values.
FIXED = 0
UNIFORM = 1
NORMAL = 2
LOGNORMAL = 3
TRIANGULAR = 4
PERT = 5
BETA = 6
TRUNCNORMAL = 7

NPAR = 8

_SQRT1_2 = 0.7071067811865476  # 1/sqrt(2), the same constant scipy's ndtr multiplies by


# --------------------------------------------------------------------------------------------
# Normal CDF and its inverse
# --------------------------------------------------------------------------------------------


@njit
def ndtr(z: float) -> float:
    """Standard normal CDF Phi(z), accurate in both tails.

    Uses ``erfc`` of ``|z|/sqrt(2)`` so neither tail is computed as ``1 - (something near 1)``
    (the same split as scipy/cephes ``ndtr``).

    Parameters
    ----------
    z : float
        Normal score.

    Returns
    -------
    float
        ``P(Z <= z)``; relative error a few ulp plus the unavoidable ~``z**2 * eps`` from rounding
        ``z`` itself in the far lower tail.
    """
    x = z * _SQRT1_2
    ax = abs(x)
    if ax < _SQRT1_2:
        # Near the centre erf is better conditioned than 1 - erfc/2.
        return 0.5 + 0.5 * math.erf(x)
    y = 0.5 * math.erfc(ax)
    if x > 0.0:
        return 1.0 - y
    return y


@njit
def ndtri(p: float) -> float:
    """Inverse of the standard normal CDF: Wichura's algorithm AS241 (PPND16).

    Parameters
    ----------
    p : float
        Probability in [0, 1].

    Returns
    -------
    float
        ``z`` with ``Phi(z) = p``; about 1e-16 relative error (tested <= 1e-14 against
        ``scipy.special.ndtri``).  ``-inf`` at 0, ``+inf`` at 1 and ``nan`` outside [0, 1] or for
        ``nan``, as scipy.

    Notes
    -----
    For ``p > 0.5`` the tail is computed from ``1 - p``, which is exact in floating point there
    (Sterbenz), so no precision is lost beyond that already in ``p``.
    """
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (((((((2.5090809287301226727e3 * r + 3.3430575583588128105e4) * r
                    + 6.7265770927008700853e4) * r + 4.5921953931549871457e4) * r
                  + 1.3731693765509461125e4) * r + 1.9715909503065514427e3) * r
                + 1.3314166789178437745e2) * r + 3.3871328727963666080e0)
        den = (((((((5.2264952788528545610e3 * r + 2.8729085735721942674e4) * r
                    + 3.9307895800092710610e4) * r + 2.1213794301586595867e4) * r
                  + 5.3941960214247511077e3) * r + 6.8718700749205790830e2) * r
                + 4.2313330701600911252e1) * r + 1.0)
        return q * num / den
    if not (p >= 0.0 and p <= 1.0):  # also catches nan
        return math.nan
    r = p if q < 0.0 else 1.0 - p
    if r == 0.0:
        return -math.inf if q < 0.0 else math.inf
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r -= 1.6
        num = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r
                    + 2.41780725177450611770e-1) * r + 1.27045825245236838258e0) * r
                  + 3.64784832476320460504e0) * r + 5.76949722146069140550e0) * r
                + 4.63033784615654529590e0) * r + 1.42343711074968357734e0)
        den = (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r
                    + 1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r
                  + 6.89767334985100004550e-1) * r + 1.67638483018380384940e0) * r
                + 2.05319162663775882187e0) * r + 1.0)
    else:
        r -= 5.0
        num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                    + 1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r
                  + 2.96560571828504891230e-1) * r + 1.78482653991729133580e0) * r
                + 5.46378491116411436990e0) * r + 6.65790464350110377720e0)
        den = (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
                    + 1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r
                  + 1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r
                + 5.99832206555887937690e-1) * r + 1.0)
    val = num / den
    if q < 0.0:
        return -val
    return val


@njit
def _ndtr_pair(z: float) -> tuple[float, float]:
    """``(Phi(z), Phi(-z))`` with one erfc call, each accurate in its own tail."""
    if z < 0.0:
        u = ndtr(z)
        return u, 1.0 - u  # 1 - u >= 0.5: no cancellation
    v = ndtr(-z)
    return 1.0 - v, v


# --------------------------------------------------------------------------------------------
# Helpers: scalars in, scalar out (no array arguments -> no refcounting at the call).  Each takes
# u and v = 1 - u, both accurate, so an upper tail never goes through 1 - u of a rounded u.
# --------------------------------------------------------------------------------------------


@intrinsic
def _data_ptr(typingctx, arr):
    """Raw data pointer of a C-contiguous float64 array (valid while the caller holds it)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.float64 and arr.ndim == 3
            and arr.layout == "C"):
        raise TypingError(f"tables must be a C-contiguous 3-d float64 array, got {arr}")
    sig = types.CPointer(types.float64)(arr)

    def codegen(context, builder, sig, args):
        return context.make_array(sig.args[0])(context, builder, value=args[0]).data

    return sig, codegen


@njit
def _uniform(lo: float, hi: float, w: float, u: float, v: float) -> float:
    if u <= 0.5:
        return lo + u * w
    return hi - v * w


@njit
def _triangular(lo: float, hi: float, fc: float, kl: float, kh: float, u: float, v: float) -> float:
    if u < fc:
        return lo + math.sqrt(u * kl)
    return hi - math.sqrt(v * kh)


@njit
def _truncnormal(mean: float, sd: float, lo: float, hi: float, pa: float, qb: float, mass: float,
                 u: float, v: float) -> float:
    # Work with whichever of p = Phi(x*) or q = 1 - p is <= 0.5: ndtri then sees an accurate tail
    # probability, even when both bounds sit far out in the same tail.
    p = pa + u * mass
    if p <= 0.5:
        x = mean + sd * ndtri(p)
    else:
        x = mean - sd * ndtri(qb + v * mass)
    # Rounding can step a hair outside [lo, hi]; the support is a promise.
    return min(max(x, lo), hi)


@njit
def _table(lo: float, hi: float, w: float, row: float, zmax: float, inv_h: float,
           log_phi_z: float, z: float, tp, nk: int) -> float:
    """Scaled beta quantile at normal score z: cubic Hermite in z of y = logit(x01).

    ``tp`` points at ``tables[0, 0, 0]`` (C order); a row holds ``nk`` knots then the lower and
    upper tail coefficients.
    """
    base = int(row) * (nk + 2) * 2
    t = (z + zmax) * inv_h
    if t >= 0.0 and t <= nk - 1:
        i = int(t)
        if i > nk - 2:
            i = nk - 2
        s = t - i
        k = base + 2 * i
        y0 = tp[k]
        m0 = tp[k + 1]
        y1 = tp[k + 2]
        m1 = tp[k + 3]
        s1 = 1.0 - s
        y = (s1 * s1 * ((1.0 + 2.0 * s) * y0 + s * m0)
             + s * s * ((3.0 - 2.0 * s) * y1 - s1 * m1))
    elif z < 0.0:
        # Beyond the table (z < -Z, u < 1e-17): y(-Z) + A (log Phi(z) - log Phi(-Z)) + B (z + Z),
        # matched in value, slope and curvature at -Z; exact to leading order for small shapes.
        p = ndtr(z)
        if p <= 0.0:
            return lo
        k = base + 2 * nk
        y = tp[base] + tp[k] * (math.log(p) - log_phi_z) + tp[k + 1] * (z + zmax)
    elif z > 0.0:
        q = ndtr(-z)
        if q <= 0.0:
            return hi
        k = base + 2 * (nk + 1)
        y = (tp[base + 2 * (nk - 1)] - tp[k] * (math.log(q) - log_phi_z)
             + tp[k + 1] * (z - zmax))
    else:  # nan
        return math.nan
    # Scale back from whichever end is nearer, so x keeps its relative precision near that bound.
    if y <= 0.0:
        e = math.exp(y)
        return lo + w * (e / (1.0 + e))
    e = math.exp(-y)
    return hi - w * (e / (1.0 + e))


# --------------------------------------------------------------------------------------------
# Public kernels
# --------------------------------------------------------------------------------------------


@njit(inline="always")
def sample_u(code: int, par, u: float, tables) -> float:
    """Quantile function of one packed distribution at a uniform ``u`` in (0, 1).

    Parameters
    ----------
    code : int
        Family code (``distributions.FAMILIES``).
    par : float64[NPAR]
        The distribution's packed parameter row (``params[j]`` from :func:`distributions.pack`).
    u : float
        Uniform variate in (0, 1).
    tables : float64[n_tab, K, 2], C-contiguous
        The ``tables`` array from :func:`distributions.pack` (whole array; rows are addressed
        through ``par``).

    Returns
    -------
    float
        ``F^{-1}(u)``; ``nan`` for an unknown code.
    """
    # Everything read from the arrays here, in the first block (see the module docstring).
    p0 = par[0]
    p1 = par[1]
    p2 = par[2]
    p3 = par[3]
    p4 = par[4]
    p5 = par[5]
    p6 = par[6]
    p7 = par[7]
    tp = _data_ptr(tables)
    nk = tables.shape[1] - 2
    # Ordered by how often each family appears in configs: fixed inputs and lognormals dominate.
    if code == FIXED:
        return p0
    if code == LOGNORMAL:
        return math.exp(p0 + p1 * ndtri(u))
    if code == UNIFORM:
        return _uniform(p0, p1, p2, u, 1.0 - u)
    if code == NORMAL:
        return p0 + p1 * ndtri(u)
    if code == TRIANGULAR:
        return _triangular(p0, p2, p3, p4, p5, u, 1.0 - u)
    if code == PERT or code == BETA:
        return _table(p0, p1, p2, p3, p4, p5, p6, ndtri(u), tp, nk)
    if code == TRUNCNORMAL:
        return _truncnormal(p0, p1, p2, p3, p4, p5, p6, u, 1.0 - u)
    return math.nan


@njit(inline="always")
def sample_z(code: int, par, z: float, tables) -> float:
    """Quantile function at a normal score: ``sample_u(code, par, ndtr(z), tables)`` without
    losing the upper tail.

    Normal, lognormal, beta and PERT use ``z`` directly; the others get ``Phi(z)`` and
    ``Phi(-z)`` each computed in its own tail.  Intended for importance sampling and Gaussian
    copulas.

    Parameters
    ----------
    code : int
        Family code.
    par : float64[NPAR]
        Packed parameter row.
    z : float
        Normal score.
    tables : float64[n_tab, K, 2], C-contiguous
        Beta/PERT tables from :func:`distributions.pack`.

    Returns
    -------
    float
        ``F^{-1}(Phi(z))``.
    """
    p0 = par[0]
    p1 = par[1]
    p2 = par[2]
    p3 = par[3]
    p4 = par[4]
    p5 = par[5]
    p6 = par[6]
    p7 = par[7]
    tp = _data_ptr(tables)
    nk = tables.shape[1] - 2
    if code == FIXED:
        return p0
    if code == LOGNORMAL:
        return math.exp(p0 + p1 * z)
    if code == UNIFORM:
        u, v = _ndtr_pair(z)
        return _uniform(p0, p1, p2, u, v)
    if code == NORMAL:
        return p0 + p1 * z
    if code == TRIANGULAR:
        u, v = _ndtr_pair(z)
        return _triangular(p0, p2, p3, p4, p5, u, v)
    if code == PERT or code == BETA:
        return _table(p0, p1, p2, p3, p4, p5, p6, z, tp, nk)
    if code == TRUNCNORMAL:
        u, v = _ndtr_pair(z)
        return _truncnormal(p0, p1, p2, p3, p4, p5, p6, u, v)
    return math.nan


@njit
def ppf_u_many(code: int, par, u, tables, out) -> None:
    """``out[i] = sample_u(code, par, u[i], tables)`` (the loop behind ``Distribution.ppf``)."""
    for i in range(u.size):
        out[i] = sample_u(code, par, u[i], tables)


@njit
def ppf_z_many(code: int, par, z, tables, out) -> None:
    """``out[i] = sample_z(code, par, z[i], tables)``."""
    for i in range(z.size):
        out[i] = sample_z(code, par, z[i], tables)
