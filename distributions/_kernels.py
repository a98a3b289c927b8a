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

The pieces shared with the block kernels live in their own modules: ``_fastmath`` (``exp``,
``log``, ``fma`` without libm), ``_ndtr`` (the normal CDF pair Phi(z), Phi(-z) without libm,
for one score and for a block), ``_ndtri`` (AS241, for one uniform and for a block) and
``_pointers`` (``addr``, ``offset``, ``AVX512``); this module holds the family codes, the
per-family quantile functions, ``sample_u``/``sample_z``, the beta/PERT table on a block
(``table_block``), and re-exports the names of those modules. The block kernels that sample an
input for a sub-block of trials (``sample_block_p`` from uniforms, ``sample_block_zp`` from
normal scores) are in ``_blocks``.  ``exp``, ``log`` and ``fma`` are plain IEEE arithmetic (no
libm, no SVML), so vectorised and scalar code agree.

Dependency rule: numpy, numba and the stdlib only.
"""

from __future__ import annotations

import math

from numba import njit

from ._fastmath import (EXP_FAST_MAX, _f64_to_i64, exp, exp_fast, exp_finish, exp_reduce, fma,
                        log, log_fast)
from ._jitcache import CACHE
from ._ndtr import NDTR_VEC_ZMAX, ndtr, ndtr_pair, ndtr_pair_block
from ._ndtri import (NDTRI_CENTRAL, NDTRI_CENTRAL_ZMAX, list_tail, list_tail_avx512, ndtri,
                     ndtri_block, ndtri_central, ndtri_central_r, ndtri_tail_near)
from ._pointers import AVX512, addr, compress_tail8, offset

__all__ = [
    # defined here
    "FIXED", "UNIFORM", "NORMAL", "LOGNORMAL", "TRIANGULAR", "PERT", "BETA", "TRUNCNORMAL",
    "NPAR", "params7", "table_block", "sample_u", "sample_z", "ppf_z_many",
    # from _fastmath, _ndtr, _ndtri and _pointers
    "NDTR_VEC_ZMAX", "ndtr", "ndtr_pair", "ndtr_pair_block",
    "EXP_FAST_MAX", "fma", "exp_reduce", "exp_finish", "exp_fast", "exp", "log_fast", "log",
    "NDTRI_CENTRAL", "NDTRI_CENTRAL_ZMAX", "ndtri_central_r", "ndtri_central", "ndtri_tail_near",
    "ndtri", "list_tail", "list_tail_avx512", "ndtri_block",
    "AVX512", "addr", "offset", "compress_tail8",
]

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


# --------------------------------------------------------------------------------------------
# Helpers: scalars in, scalar out (no array arguments -> no refcounting at the call).  Each takes
# u and v = 1 - u, both accurate, so an upper tail never goes through 1 - u of a rounded u.
# --------------------------------------------------------------------------------------------


@njit(inline="always")
def params7(par):
    """The seven numbers of a packed parameter row (``par[0] .. par[6]``), read at once."""
    return par[0], par[1], par[2], par[3], par[4], par[5], par[6]


@njit(inline="always")
def _operands(par, tables):
    """What the scalar kernels read from their arrays, at once: the seven parameters, a pointer
    to the tables (``addr``) and their knots per row."""
    p0, p1, p2, p3, p4, p5, p6 = params7(par)
    return p0, p1, p2, p3, p4, p5, p6, addr(tables), tables.shape[1] - 2


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


@njit(inline="always")
def _hermite(tp, k, s):
    """The cubic Hermite piece whose knots' values and slopes are ``tp[k:k + 4]`` (y0, m0, y1,
    m1), at ``s`` in [0, 1] of the way: one expression for the scalar and the vectorised path,
    so the same bits."""
    s1 = 1.0 - s
    return (s1 * s1 * ((1.0 + 2.0 * s) * tp[k] + s * tp[k + 1])
            + s * s * ((3.0 - 2.0 * s) * tp[k + 2] - s1 * tp[k + 3]))


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
        y = _hermite(tp, k, s)
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
    # (exp is ours, not libm's, so the vectorised table_block gives the same bits.)
    if y <= 0.0:
        e = exp(y)
        return lo + w * (e / (1.0 + e))
    e = exp(-y)
    return hi - w * (e / (1.0 + e))


_TWO52 = 4503599627370496.0  # 2**52: x + 2**52 - 2**52 rounds 0 <= x < 2**51 to an integer
_TWO52_BITS = 0x4330000000000000


@njit(error_model="numpy", cache=CACHE)
def table_block(lo, hi, w, row, zmax, inv_h, log_phi_z, z, m, tp, nk, out, bad):
    """``out[i] = _table(..., z[i], tp, nk)`` for i < m, bitwise (pointers: z, tp, out, bad).

    The interior of the table (all but u < 1e-17 or u > 1 - 1e-17) branch-free and vectorised:
    the knot index by exact float arithmetic (no int conversion, which AVX2 lacks), the four
    knot values gathered, the cubic and the logistic back-transform with ``exp_fast``; lanes
    outside (tails, nan, |y| > 708) are listed in ``bad`` (int64 scratch) and redone by the
    scalar :func:`_table`.
    """
    base = int(row) * (nk + 2) * 2
    top = float(nk - 1)
    # Loops with no loop-carried state, so that LLVM vectorises them (listing the bad lanes
    # inside the first loop, as before, kept all of it scalar): the knot and the offset in it,
    # then the cubic (scalar loads of the knots: AVX2's gathers are slower), then the
    # back-transform, then the list of flagged lanes.
    for i in range(m):
        t = (z[i] + zmax) * inv_h
        inr = (t >= 0.0) & (t <= top)
        tc = t if inr else 0.0
        rf = (tc + _TWO52) - _TWO52  # nearest integer ...
        fl = rf - 1.0 if rf > tc else rf  # ... made the floor: int(t) of the scalar code
        fl = min(fl, top - 1.0)
        out[i] = tc - fl
        k = base + 2 * (_f64_to_i64(fl + _TWO52) - _TWO52_BITS)
        bad[i] = k if inr else -1 - k  # the knot's offset, negative outside the table
    for i in range(m):
        s = out[i]
        kb = bad[i]
        k = kb if kb >= 0 else -1 - kb
        y = _hermite(tp, k, s)
        out[i] = y
        bad[i] = not ((kb >= 0) & (abs(y) <= EXP_FAST_MAX))
    for i in range(m):
        y = out[i]
        neg = y <= 0.0
        e = exp_fast(y if neg else -y)
        v = e / (1.0 + e)
        out[i] = lo + w * v if neg else hi - w * v
    nb = 0
    for i in range(m):  # compress in place (as ndtri_block)
        f = bad[i]
        bad[nb] = i
        nb += f
    for k2 in range(nb):
        i = bad[k2]
        out[i] = _table(lo, hi, w, row, zmax, inv_h, log_phi_z, z[i], tp, nk)


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
    p0, p1, p2, p3, p4, p5, p6, tp, nk = _operands(par, tables)
    # Ordered by how often each family appears in configs: fixed inputs and lognormals dominate.
    if code == FIXED:
        return p0
    if code == LOGNORMAL:
        return exp(fma(p1, ndtri(u), p0))
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
    p0, p1, p2, p3, p4, p5, p6, tp, nk = _operands(par, tables)
    if code == FIXED:
        return p0
    if code == LOGNORMAL:
        return exp(fma(p1, z, p0))
    if code == UNIFORM:
        u, v = ndtr_pair(z)
        return _uniform(p0, p1, p2, u, v)
    if code == NORMAL:
        return p0 + p1 * z
    if code == TRIANGULAR:
        u, v = ndtr_pair(z)
        return _triangular(p0, p2, p3, p4, p5, u, v)
    if code == PERT or code == BETA:
        return _table(p0, p1, p2, p3, p4, p5, p6, z, tp, nk)
    if code == TRUNCNORMAL:
        u, v = ndtr_pair(z)
        return _truncnormal(p0, p1, p2, p3, p4, p5, p6, u, v)
    return math.nan


@njit(cache=CACHE)
def ppf_z_many(code: int, par, z, tables, out) -> None:
    """``out[i] = sample_z(code, par, z[i], tables)``: the scalar loop the tests hold the block
    path (``distributions._blocks.ppf_z_block_many``, behind ``Distribution.ppf_z``) to."""
    for i in range(z.size):
        out[i] = sample_z(code, par, z[i], tables)
