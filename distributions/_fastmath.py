"""exp, log and fused multiply-add without libm, for the numba kernels.

libm's exp/log are scalar calls, and LLVM vectorises a loop that calls them only through a
vector math library (SVML), whose results differ from the scalar libm's in the last bit: a
kernel's vectorised loop and ``engine.trace``'s scalar recomputation would then disagree.
These are plain IEEE arithmetic, with fused multiply-adds only where written (:func:`fma`,
exactly rounded; numba never contracts a * b + c by itself), so every caller, vectorised or
not, gets the same bits.  Accuracy: <= 1 ulp (tested against math.exp / math.log and against
long double); outside their fast ranges they defer to libm.

Dependency rule: numba, llvmlite and the stdlib only.
"""

from __future__ import annotations

import math

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


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
_E = tuple(1.0 / math.factorial(k) for k in range(14))  # _E[k] = 1/k!


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
    e0 = fma(fma(_E[5], r, _E[4]), r2, fma(_E[3], r, _E[2]))
    e1 = fma(fma(_E[9], r, _E[8]), r2, fma(_E[7], r, _E[6]))
    e2 = fma(fma(_E[13], r, _E[12]), r2, fma(_E[11], r, _E[10]))
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
    """exp(x), within 1 ulp; the same bits in scalar and vectorised code."""
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
    """log(x), within 1 ulp; the same bits in scalar and vectorised code."""
    if x >= _DBL_MIN and x <= 1.7976931348623157e308:
        return log_fast(x)
    return math.log(x)  # 0, subnormal, inf, negative, nan
