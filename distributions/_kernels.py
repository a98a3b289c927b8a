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

Block kernels (``sample_block_p``, ``ndtri_block``): the engine's kernel samples one input for a
sub-block of trials per call, bit for bit what ``sample_u`` gives trial by trial, arranged so
LLVM vectorises the common case (AS241's central branch on every lane, the tail lanes gathered
and done vectorised, exp on every lane) with scalar fix-ups for rare lanes.  They take raw
pointers (``addr``), so a call costs no refcounting and each compiles once.  ``exp``, ``log``
and ``fma`` are plain IEEE arithmetic (no libm, no SVML), so vectorised and scalar code agree.

Dependency rule: numpy, numba and the stdlib only.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from ._jitcache import CACHE

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


# --------------------------------------------------------------------------------------------
# exp and log without libm: the same arithmetic whether LLVM vectorises the loop or not
# --------------------------------------------------------------------------------------------
# libm's exp/log are scalar calls, and LLVM vectorises a loop that calls them only through a
# vector math library (SVML), whose results differ from the scalar libm's in the last bit: a
# kernel's vectorised loop and ``engine.trace``'s scalar recomputation would then disagree.
# These are plain IEEE arithmetic, with fused multiply-adds only where written (:func:`fma`,
# exactly rounded; numba never contracts a * b + c by itself), so every caller, vectorised or
# not, gets the same bits.  Accuracy: <= 1 ulp (tested against math.exp / math.log and against
# long double); outside their fast ranges they defer to libm.


@intrinsic
def _f64_to_i64(typingctx, x):
    """Reinterpret a float64's bits as int64 (a no-op bitcast; vectorises)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _i64_to_f64(typingctx, x):
    """Reinterpret an int64's bits as float64 (a no-op bitcast; vectorises)."""
    if x != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with one rounding (LLVM ``llvm.fma.f64``: one vfmadd instruction on x86-64
    with FMA, vectorises; exactly rounded everywhere, so scalar and vector code agree)."""
    if not (a == types.float64 and b == types.float64 and c == types.float64):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@njit(inline="always")
def _poly7(x, c0, c1, c2, c3, c4, c5, c6, c7):
    # c0 + c1 x + ... + c7 x**7 by Estrin's scheme with fused multiply-adds: a dependency chain
    # of 4 operations instead of Horner's 7 (these loops are latency-bound when vectorised).
    x2 = x * x
    x4 = x2 * x2
    lo = fma(fma(c3, x, c2), x2, fma(c1, x, c0))
    hi = fma(fma(c7, x, c6), x2, fma(c5, x, c4))
    return fma(hi, x4, lo)


_INV_LN2 = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 with 32 trailing zero bits (fdlibm): k * HI exact
_LN2_LO = 1.90821492927058770002e-10
_NEG_LN2_HI = -_LN2_HI
_NEG_LN2_LO = -_LN2_LO
_ROUND_SHIFTER = 6755399441055744.0  # 1.5 * 2**52: x + S - S rounds x to an integer (|x| < 2**51)
_SHIFTER_BITS = 0x4338000000000000
#: |x| <= EXP_FAST_MAX: 2**k * exp(r) is a normal number, no overflow or underflow.
EXP_FAST_MAX = 708.0
# 1/k!, k = 2 .. 13: Taylor series of exp on |r| <= ln(2)/2, truncation error < 4e-18.  (A
# degree-11 Chebyshev fit saves two fused multiply-adds but its 1.6e-17 error showed: 1.09 ulp
# worst case instead of 1.015 against long double, measured on 8e6 arguments.)
_E2 = 1.0 / 2
_E3 = 1.0 / 6
_E4 = 1.0 / 24
_E5 = 1.0 / 120
_E6 = 1.0 / 720
_E7 = 1.0 / 5040
_E8 = 1.0 / 40320
_E9 = 1.0 / 362880
_E10 = 1.0 / 3628800
_E11 = 1.0 / 39916800
_E12 = 1.0 / 479001600
_E13 = 1.0 / 6227020800


@njit(inline="always")
def exp_reduce(x: float) -> tuple[float, float]:
    """First half of :func:`exp_fast`: ``(t, r)`` with x = k ln 2 + r, |r| <= ln(2)/2 and k
    held in the low bits of ``t``.  (Split so a block kernel can run the two halves as two
    loops: each has a shorter dependency chain, and the pair runs faster than one loop.)"""
    t = fma(x, _INV_LN2, _ROUND_SHIFTER)
    kf = t - _ROUND_SHIFTER  # nearest integer to x / ln 2
    # Cody-Waite: x - k HI is exact (k HI is, and x is within ln 2 of it), then - k LO with one
    # rounding.
    r = fma(kf, _NEG_LN2_LO, fma(kf, _NEG_LN2_HI, x))
    return t, r


@njit(inline="always")
def exp_finish(t: float, r: float) -> float:
    """Second half of :func:`exp_fast`: 2**k exp(r) from :func:`exp_reduce`'s ``(t, r)``."""
    k = _f64_to_i64(t) - _SHIFTER_BITS  # the integer k, read from the bits
    # exp(r) = 1 + (r + r**2 q(r)), q of degree 11 by Estrin's scheme with fused multiply-adds,
    # and the 1 added last, so the only large rounding is the final one: <= 1 ulp in all.
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    e0 = fma(fma(_E5, r, _E4), r2, fma(_E3, r, _E2))
    e1 = fma(fma(_E9, r, _E8), r2, fma(_E7, r, _E6))
    e2 = fma(fma(_E13, r, _E12), r2, fma(_E11, r, _E10))
    q = fma(e2, r8, fma(e1, r4, e0))
    p = 1.0 + fma(r2, q, r)
    return p * _i64_to_f64((k + 1023) << 52)  # times 2**k, exact


@njit(inline="always")
def exp_fast(x: float) -> float:
    """exp(x) for |x| <= EXP_FAST_MAX, branch-free (callers check the range)."""
    t, r = exp_reduce(x)
    return exp_finish(t, r)


@njit
def exp(x: float) -> float:
    """exp(x), within 1 ulp; the same bits in scalar and vectorised code (see above)."""
    if abs(x) <= EXP_FAST_MAX:
        return exp_fast(x)
    return math.exp(x)  # overflow, underflow to subnormal or 0, inf, nan


_SQRT2 = 1.4142135623730951
_DBL_MIN = 2.2250738585072014e-308
_LG1 = 6.666666666666735130e-01  # fdlibm __ieee754_log coefficients
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_MANT_MASK = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000
_EXP_MAGIC_BITS = 0x4330000000000000
_EXP_MAGIC = 4503599627370496.0  # 2**52 (+ 1023 bias handled below)


@njit(inline="always")
def log_fast(x: float) -> float:
    """log(x) for a positive, normal, finite x, branch-free (callers check the range).

    fdlibm's method: x = 2**k m with m in [sqrt(2)/2, sqrt(2)), f = m - 1, s = f / (2 + f),
    log(1 + f) = f - f**2/2 + s (f**2/2 + R(s**2)).
    """
    bits = _f64_to_i64(x)
    m = _i64_to_f64((bits & _MANT_MASK) | _ONE_BITS)  # in [1, 2)
    # the biased exponent e as a float without an int->float conversion (no AVX2 instruction
    # for int64): the bits 0x433 | e are the double 2**52 + e
    ef = _i64_to_f64((bits >> 52) | _EXP_MAGIC_BITS) - _EXP_MAGIC
    big = m > _SQRT2
    m = m * 0.5 if big else m
    dk = ef - 1022.0 if big else ef - 1023.0
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * fma(fma(_LG6, w, _LG4), w, _LG2)
    t2 = z * fma(fma(fma(_LG7, w, _LG5), w, _LG3), w, _LG1)
    r = t2 + t1
    return dk * _LN2_HI - ((hfsq - fma(s, hfsq + r, dk * _LN2_LO)) - f)


@njit
def log(x: float) -> float:
    """log(x), within 1 ulp; the same bits in scalar and vectorised code (see above)."""
    if x >= _DBL_MIN and x <= 1.7976931348623157e308:
        return log_fast(x)
    return math.log(x)  # 0, subnormal, inf, negative, nan


# --------------------------------------------------------------------------------------------
# Inverse normal CDF: AS241, split so a block version can share every operation
# --------------------------------------------------------------------------------------------

#: |p - 0.5| <= NDTRI_CENTRAL: AS241's central rational function (85% of uniforms).
NDTRI_CENTRAL = 0.425
#: The largest |z| the central branch returns: ndtri(0.925) = 1.4395... (tested).
NDTRI_CENTRAL_ZMAX = 1.44


@njit(inline="always")
def ndtri_central_r(q: float, r: float) -> float:
    """AS241's central function from q = p - 0.5 and r = 0.180625 - q**2: q A(r) / B(r).

    Wichura's coefficients; the polynomials are evaluated by :func:`_poly7` (Estrin, fused
    multiply-adds) rather than Horner's rule: same accuracy (tested), half the latency.
    """
    num = _poly7(r, 3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
                 1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
                 3.3430575583588128105e4, 2.5090809287301226727e3)
    den = _poly7(r, 1.0, 4.2313330701600911252e1, 6.8718700749205790830e2,
                 5.3941960214247511077e3, 2.1213794301586595867e4, 3.9307895800092710610e4,
                 2.8729085735721942674e4, 5.2264952788528545610e3)
    return q * num / den


@njit(inline="always")
def ndtri_central(q: float) -> float:
    """AS241 for q = p - 0.5 with |q| <= 0.425: q A(r) / B(r), r = 0.180625 - q**2."""
    return ndtri_central_r(q, 0.180625 - q * q)


@njit(inline="always")
def ndtri_tail_near(r: float) -> float:
    """AS241's first tail function of r = sqrt(-log(min(p, 1 - p))), 1.6 <= r <= 5."""
    r -= 1.6
    num = _poly7(r, 1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
                 3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
                 2.27238449892691845833e-2, 7.74545014278341407640e-4)
    den = _poly7(r, 1.0, 2.05319162663775882187e0, 1.67638483018380384940e0,
                 6.89767334985100004550e-1, 1.48103976427480074590e-1, 1.51986665636164571966e-2,
                 5.47593808499534494600e-4, 1.05075007164441684324e-9)
    return num / den


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
    (Sterbenz), so no precision is lost beyond that already in ``p``.  The tails take ``log``
    from :func:`log` (not libm), so :func:`ndtri_block` reproduces every bit of this function.
    """
    q = p - 0.5
    if abs(q) <= NDTRI_CENTRAL:
        return ndtri_central(q)
    if not (p >= 0.0 and p <= 1.0):  # also catches nan
        return math.nan
    r = p if q < 0.0 else 1.0 - p
    if r == 0.0:
        return -math.inf if q < 0.0 else math.inf
    r = math.sqrt(-log(r))
    if r <= 5.0:
        val = ndtri_tail_near(r)
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
    # (exp is ours, not libm's, so the vectorised table_block gives the same bits.)
    if y <= 0.0:
        e = exp(y)
        return lo + w * (e / (1.0 + e))
    e = exp(-y)
    return hi - w * (e / (1.0 + e))


_TWO52 = 4503599627370496.0  # 2**52: x + 2**52 - 2**52 rounds 0 <= x < 2**51 to an integer
_TWO52_BITS = 0x4330000000000000


@njit(error_model="numpy")
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
        y0 = tp[k]
        m0 = tp[k + 1]
        y1 = tp[k + 2]
        m1 = tp[k + 3]
        s1 = 1.0 - s
        y = (s1 * s1 * ((1.0 + 2.0 * s) * y0 + s * m0)
             + s * s * ((3.0 - 2.0 * s) * y1 - s1 * m1))
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
    p0 = par[0]
    p1 = par[1]
    p2 = par[2]
    p3 = par[3]
    p4 = par[4]
    p5 = par[5]
    p6 = par[6]
    tp = addr(tables)
    nk = tables.shape[1] - 2
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
    p0 = par[0]
    p1 = par[1]
    p2 = par[2]
    p3 = par[3]
    p4 = par[4]
    p5 = par[5]
    p6 = par[6]
    tp = addr(tables)
    nk = tables.shape[1] - 2
    if code == FIXED:
        return p0
    if code == LOGNORMAL:
        return exp(fma(p1, z, p0))
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


@njit(cache=CACHE)
def ppf_u_many(code: int, par, u, tables, out) -> None:
    """``out[i] = sample_u(code, par, u[i], tables)`` (the loop behind ``Distribution.ppf``)."""
    for i in range(u.size):
        out[i] = sample_u(code, par, u[i], tables)


@njit(cache=CACHE)
def ppf_z_many(code: int, par, z, tables, out) -> None:
    """``out[i] = sample_z(code, par, z[i], tables)``."""
    for i in range(z.size):
        out[i] = sample_z(code, par, z[i], tables)


# --------------------------------------------------------------------------------------------
# Block kernels: one dispatch per input per block of trials, vectorised where the family allows
# --------------------------------------------------------------------------------------------
# The kernel samples one input for a block of trials at a time.  These functions give, for
# every i < m, *exactly* ``sample_u(code, par, u[i], tables)`` (tests check it bit for bit on
# many uniforms for every family): they evaluate the same functions in the same operation
# order, only arranged so that LLVM can vectorise the common case, with scalar fix-up passes
# for the rare lanes that need another branch.


@intrinsic
def addr(typingctx, arr):
    """Pointer to the first element of a C-contiguous array.

    Valid while the array lives, and numba frees an array right after the last use of its
    *name*: take the pointer in the expression that uses it (``f(addr(a))``), never keep it in
    a variable past the array's last use.

    The block kernels take raw pointers, not arrays: a call with array arguments costs an
    atomic refcount increment and decrement per array (tens of ns, per input per sub-block),
    and an ``inline="always"`` body instead is recompiled inside every caller (the kernel's
    cold compile doubled). Pointers are free to pass and let each block kernel compile once.
    """
    if not (isinstance(arr, types.Array) and arr.layout == "C"):
        raise TypingError(f"addr needs a C-contiguous array, got {arr}")
    sig = types.CPointer(arr.dtype)(arr)

    def codegen(context, builder, sig, args):
        return context.make_array(sig.args[0])(context, builder, value=args[0]).data

    return sig, codegen


@intrinsic
def offset(typingctx, ptr, k):
    """``ptr + k`` elements (pointer arithmetic)."""
    if not (isinstance(ptr, types.CPointer) and isinstance(k, types.Integer)):
        return None
    sig = ptr(ptr, types.intp)

    def codegen(context, builder, sig, args):
        return builder.gep(args[0], [args[1]])

    return sig, codegen


def _host_has_avx512() -> bool:
    # The features LLVM compiles for, as numba picks them: NUMBA_CPU_FEATURES when set (e.g. a
    # portable cache), else the host's.
    from numba import config
    from numba.core.codegen import get_host_cpu_features
    feats = config.CPU_FEATURES if config.CPU_FEATURES is not None else get_host_cpu_features()
    return "+avx512f" in feats.split(",")


#: Whether LLVM compiles for AVX-512 here. Kernels then use code written for its 8-lane
#: vectors (:func:`ndtri_block`'s tail listing with ``vcompresspd``, the kernel's fold of the
#: outputs); elsewhere LLVM would expand those vectors into slower code, so other CPUs keep
#: the plain loops. The two give the same bits (tests run both).
AVX512 = _host_has_avx512()

_W = 8  # lanes of the compress: one 512-bit vector of float64


@intrinsic
def compress_tail8(typingctx, u, n, idx, zt, c):
    """Append the lanes ``i < n`` with ``not (|u[i] - 0.5| <= c)`` to ``idx`` (their index) and
    ``zt`` (their ``u``), in increasing order; return their number (``n`` a multiple of 8).

    Eight lanes at a time: a vector compare, ``llvm.experimental.vector.compress`` of the
    values and of the indices (``vcompresspd``/``vpcompressq`` into a register on AVX-512:
    their memory forms are microcoded and ~20x slower on AMD Zen 4), two full-width stores
    at ``idx + nt``/``zt + nt`` (lanes past the count are scratch, overwritten next), and a
    popcount of the mask. Writes stay below ``idx + n`` and ``zt + n``. Pointers as ``addr``.
    """
    if not (isinstance(u, types.CPointer) and u.dtype == types.float64
            and isinstance(zt, types.CPointer) and zt.dtype == types.float64
            and isinstance(idx, types.CPointer) and idx.dtype == types.int64):
        return None
    sig = types.int64(u, types.int64, idx, zt, types.float64)

    def codegen(context, builder, signature, args):
        u_p, n_v, idx_p, zt_p, c_v = args
        mod = builder.module
        f64, i64, i32 = ir.DoubleType(), ir.IntType(64), ir.IntType(32)
        vd, vi = ir.VectorType(f64, _W), ir.VectorType(i64, _W)
        vm = ir.VectorType(ir.IntType(1), _W)
        fn = cgutils.get_or_insert_function
        fabs = fn(mod, ir.FunctionType(vd, [vd]), "llvm.fabs.v8f64")
        comp_d = fn(mod, ir.FunctionType(vd, [vd, vm, vd]), "llvm.experimental.vector.compress.v8f64")
        comp_i = fn(mod, ir.FunctionType(vi, [vi, vm, vi]), "llvm.experimental.vector.compress.v8i64")
        ctpop = fn(mod, ir.FunctionType(ir.IntType(8), [ir.IntType(8)]), "llvm.ctpop.i8")
        zeros = ir.Constant(ir.VectorType(i32, _W), [0] * _W)

        def splat(x, vt):
            v = builder.insert_element(ir.Constant(vt, ir.Undefined), x, ir.Constant(i32, 0))
            return builder.shuffle_vector(v, v, zeros)

        half = ir.Constant(vd, [0.5] * _W)
        cv = splat(c_v, vd)
        lanes = ir.Constant(vi, list(range(_W)))
        nt = cgutils.alloca_once_value(builder, ir.Constant(i64, 0))
        with cgutils.for_range_slice(builder, ir.Constant(i64, 0), n_v, ir.Constant(i64, _W),
                                     intp=i64) as (i, _):
            v = builder.load(builder.bitcast(builder.gep(u_p, [i]), vd.as_pointer()), align=8)
            tail = builder.fcmp_unordered(">", builder.call(fabs, [builder.fsub(v, half)]), cv)
            k = builder.load(nt)
            builder.store(builder.call(comp_d, [v, tail, ir.Constant(vd, ir.Undefined)]),
                          builder.bitcast(builder.gep(zt_p, [k]), vd.as_pointer()), align=8)
            iv = builder.add(splat(i, vi), lanes)
            builder.store(builder.call(comp_i, [iv, tail, ir.Constant(vi, ir.Undefined)]),
                          builder.bitcast(builder.gep(idx_p, [k]), vi.as_pointer()), align=8)
            cnt = builder.call(ctpop, [builder.bitcast(tail, ir.IntType(8))])
            builder.store(builder.add(k, builder.zext(cnt, i64)), nt)
        return builder.load(nt)

    return sig, codegen


@njit(error_model="numpy")
def list_tail(u, m, idx, zt):
    """List the lanes ``i < m`` outside AS241's central branch (``not (|u[i] - 0.5| <=
    NDTRI_CENTRAL)``, nan included) in ``idx[0:nt]``, increasing, with their uniforms in
    ``zt[0:nt]``; return ``nt``. Pointers as :func:`addr`."""
    for i in range(m):  # the tail flags
        idx[i] = not (abs(u[i] - 0.5) <= NDTRI_CENTRAL)
    nt = 0
    for i in range(m):  # compress in place: idx[nt] is written only after idx[i >= nt] is read
        f = idx[i]
        idx[nt] = i
        nt += f
    for k in range(nt):  # gather the tail lanes: the next loops then run on contiguous data
        zt[k] = u[idx[k]]
    return nt


@njit(error_model="numpy")
def list_tail_avx512(u, m, idx, zt):
    """:func:`list_tail` eight lanes at a time with :func:`compress_tail8` (0.19 against 0.59
    ns per lane on AMD Zen 4), the last ``m % 8`` one by one; the same outputs."""
    m8 = m & ~7
    nt = compress_tail8(u, m8, idx, zt, NDTRI_CENTRAL)
    for i in range(m8, m):
        ui = u[i]
        idx[nt] = i
        zt[nt] = ui
        nt += not (abs(ui - 0.5) <= NDTRI_CENTRAL)
    return nt


#: float64 lanes of the vectors LLVM uses here (ndtri_block pads its tail pass to them).
_VEC = 8 if AVX512 else 4


@njit(error_model="numpy")
def ndtri_block(u, m, z, idx, zt):
    """``z[i] = ndtri(u[i])`` for i < m, bitwise (all arguments but m are pointers).

    Pass 1 evaluates AS241's central function on every lane (vectorised); pass 2 lists the
    lanes outside it (15% of uniforms); pass 3 gathers them and evaluates the near tail,
    vectorised with :func:`log_fast`; lanes beyond the near tail (p < 1.4e-11), and anything
    that is not in (0, 1), fall back to the scalar :func:`ndtri`.  Long computations are cut
    into several loops over the block (the centre in two, the tail in two): each loop's
    dependency chain is shorter, so the out-of-order core overlaps more lanes; the operations,
    and so the bits, are those of :func:`ndtri`.

    ``idx`` (int64[>= m]) and ``zt`` (float64[>= m]) are scratch.

    Returns
    -------
    nt : int
        The number of lanes outside the central branch; their indices are left in
        ``idx[0:nt]`` (increasing), and every other lane has ``|z| <= NDTRI_CENTRAL_ZMAX``.
    zmax : float
        The largest ``|z|`` among those ``nt`` lanes (0 if none, nan if any ``z`` is nan).
    """
    # The central function in two loops: r, then the rational function.
    for i in range(m):
        q = u[i] - 0.5
        z[i] = 0.180625 - q * q
    for i in range(m):
        z[i] = ndtri_central_r(u[i] - 0.5, z[i])
    # The tail lanes listed and gathered (numba prunes the branch not taken before compiling).
    if AVX512:
        nt = list_tail_avx512(u, m, idx, zt)
    else:
        nt = list_tail(u, m, idx, zt)
    # Pad to whole vectors with a harmless tail value, so the vectorised loop below has no
    # scalar remainder (up to _VEC - 1 scalar, latency-bound iterations per call otherwise).
    ntv = min((nt + _VEC - 1) & -_VEC, m)
    for k in range(nt, ntv):
        zt[k] = 0.25
    # Two loops again (log, then sqrt and the rational function), measured 20% faster than
    # one; in between, zt holds -log(min(p, 1 - p)) > 0.69 with the sign of p - 0.5, or nan.
    for k in range(ntv):
        p = zt[k]
        q = p - 0.5
        r = p if q < 0.0 else 1.0 - p
        ok = r >= _DBL_MIN
        t = -log_fast(r if ok else 0.5)
        t = t if ok else math.nan
        zt[k] = -t if q < 0.0 else t
    for k in range(ntv):
        t = zt[k]
        s = math.sqrt(abs(t))
        val = ndtri_tail_near(s)
        val = -val if t < 0.0 else val
        zt[k] = val if s <= 5.0 else math.nan
    zmax = 0.0  # the largest |z| of the tail lanes (nan if any is nan), for callers' range checks
    for k in range(nt):
        i = idx[k]
        v = zt[k]
        v = v if v == v else ndtri(u[i])
        z[i] = v
        av = abs(v)
        zmax = av if (av > zmax) | (av != av) else zmax  # a nan sticks (nan > x is False)
    return nt, zmax


@njit(error_model="numpy")
def sample_block_p(code: int, par, u, m: int, tp, nk: int, out, zb, idx, zt) -> None:
    """``out[i] = sample_u(code, par, u[i], tables)`` for i < m, bit for bit, dispatching once.

    Every array argument is a pointer (see :func:`addr`): ``par`` the packed row, ``u`` the
    uniforms, ``tp`` the tables' data (``nk`` knots per row), ``out`` the output (must not
    alias ``u``), ``zb``, ``zt`` (float64[>= m]) and ``idx`` (int64[>= m]) scratch.
    """
    p0 = par[0]
    p1 = par[1]
    p2 = par[2]
    p3 = par[3]
    p4 = par[4]
    p5 = par[5]
    p6 = par[6]
    if code == FIXED:
        for i in range(m):
            out[i] = p0
    elif code == LOGNORMAL:
        nt, zmax = ndtri_block(u, m, zb, idx, zt)
        # exp_fast in two loops (as ndtri_block's centre): reduce, then the polynomial.
        for i in range(m):
            t, r = exp_reduce(fma(p1, zb[i], p0))
            out[i] = t
            zt[i] = r
        for i in range(m):
            out[i] = exp_finish(out[i], zt[i])
        # exp_fast's range, checked only where it can fail: a = mu + sigma z has |a| <=
        # |mu| + sigma |z|, and the central lanes have |z| <= 1.44, the tail lanes |z| <= zmax
        # (the margin of 1 covers every rounding); the tail lanes are listed in idx[0:nt].
        if not (abs(p0) + abs(p1) * 1.5 <= EXP_FAST_MAX - 1.0):  # central lanes may be out
            for i in range(m):
                a = fma(p1, zb[i], p0)
                if not (abs(a) <= EXP_FAST_MAX):
                    out[i] = math.exp(a)
        elif not (abs(p0) + abs(p1) * zmax <= EXP_FAST_MAX - 1.0):  # a tail lane may be (nan)
            for k in range(nt):
                i = idx[k]
                a = fma(p1, zb[i], p0)
                if not (abs(a) <= EXP_FAST_MAX):
                    out[i] = math.exp(a)
    elif code == UNIFORM:
        for i in range(m):
            ui = u[i]
            out[i] = p0 + ui * p2 if ui <= 0.5 else p1 - (1.0 - ui) * p2
    elif code == NORMAL:
        ndtri_block(u, m, zb, idx, zt)
        for i in range(m):
            out[i] = p0 + p1 * zb[i]
    elif code == TRIANGULAR:
        for i in range(m):
            ui = u[i]
            lo = p0 + math.sqrt(ui * p4)
            hi = p2 - math.sqrt((1.0 - ui) * p5)
            out[i] = lo if ui < p3 else hi
    elif code == PERT or code == BETA:
        ndtri_block(u, m, zb, idx, zt)
        table_block(p0, p1, p2, p3, p4, p5, p6, zb, m, tp, nk, out, idx)
    elif code == TRUNCNORMAL:
        # _truncnormal's two branches as selects around one ndtri_block: the probability
        # handed to ndtri (out as scratch), then the side and the clamp.
        for i in range(m):
            ui = u[i]
            p = p4 + ui * p6
            out[i] = p if p <= 0.5 else p5 + (1.0 - ui) * p6
        ndtri_block(out, m, zb, idx, zt)
        for i in range(m):
            x = p0 + p1 * zb[i] if p4 + u[i] * p6 <= 0.5 else p0 - p1 * zb[i]
            out[i] = min(max(x, p2), p3)
    else:
        for i in range(m):
            out[i] = math.nan


@njit(inline="always")
def sample_block(code: int, par, u, m: int, tables, out, zb, idx, zt) -> None:
    """:func:`sample_block_p` with arrays (1-d, C-contiguous; ``tables`` as in ``sample_u``)."""
    sample_block_p(code, addr(par), addr(u), m, addr(tables), tables.shape[1] - 2,
                   addr(out), addr(zb), addr(idx), addr(zt))


@njit(error_model="numpy", cache=CACHE)
def ppf_block_many(code: int, par, u, tables, out) -> None:
    """``sample_block`` over a whole array in blocks of 256 (the block path behind the tests
    that hold it to ``sample_u``)."""
    n = u.size
    zb = np.empty(256)
    zt = np.empty(256)
    idx = np.empty(256, dtype=np.int64)
    for s in range(0, n, 256):
        m = min(256, n - s)
        sample_block_p(code, addr(par), offset(addr(u), s), m, addr(tables),
                       tables.shape[1] - 2, offset(addr(out), s), addr(zb), addr(idx), addr(zt))
