"""Normal CDF pair (Phi(z), Phi(-z)) without libm, for one score and for a block of scores.

libm's ``erf``/``erfc`` are scalar calls that no vectorised loop reproduces bit for bit, so
the copula's uniform, triangular and truncnormal columns (``F^-1(Phi(z'))``) made one libm
call per value (~16 ns).  This is Cephes' ``ndtr`` (Moshier's rational approximations, as in
scipy) in plain IEEE arithmetic with the engine's own ``exp`` pieces (``_fastmath``), so
:func:`ndtr_pair_block` gives the bits of :func:`ndtr_pair` while LLVM vectorises it (1.4
against 16 ns per value, AMD Zen 4).  With ``x = |z| / sqrt(2)``:

* ``x < 1`` (:data:`NDTR_CENTRAL_Z`): ``erf(x) = x (1 + y)``, ``y = T(x**2) / U(x**2) - 1``
  (Cephes' T/U, as (T - U) / U), ``Phi(+-z) = (0.5 +- x/2) +- (x/2) y``: ``x y`` is added to
  ``x`` rather than ``erf = x T / U`` formed and rounded, which halves the error of the small
  side, ``0.5 - 0.5 erf`` cancelling by up to 5x near ``x = 1``;
* ``1 <= x < 8`` (:data:`NDTR_VEC_ZMAX`): ``erfc(x) = exp(-x**2) P(x) / Q(x)``;
* ``x >= 8``: ``erfc(x) = exp(-x**2) R(x) / S(x)``, scaled by 2**64 inside ``exp`` so that
  results below 2.2e-308 round once into the subnormals; 0 beyond ``|z| = 38.7`` (the true
  value is below half the smallest subnormal from ``|z| = 38.58``).

Each tail is computed in its own right (the large side is ``1 - small`` with ``small <= 0.08``,
or ``0.5 + ...`` in the centre), and ``exp(-x**2)`` is ``exp(-z**2 / 2)`` from an exact split
``z**2 = p + e`` (a fused multiply-add): the role of Cephes' ``expx2``, with one ``exp``
instead of two.  Rounding ``x = z / sqrt(2)`` or ``x**2`` would cost a relative error
~``z**2 eps`` in the tail, as scipy's ``ndtr`` shows (1e-14 at ``z = -10``, 2e-13 at -37).

Accuracy, measured against a 50-digit reference (``tests/test_ndtr_fast.py``): relative error
of the small side at most 6.6e-16 for ``|z| < sqrt(2)``, 6.9e-16 up to ``|z| = 11.3`` and
9.0e-16 up to 37.5 (no growth with ``|z|``); of the large side at most 2.2e-16; below
2.2e-308 at most one subnormal ulp.

Dependency rule: numba, llvmlite and the stdlib only.
"""

from __future__ import annotations

import math
import struct

from numba import njit

from ._fastmath import _f64_to_i64, exp_finish, exp_reduce, fma
from ._jitcache import CACHE
from ._pointers import AVX512, compress_abs8, list_flagged, list_rest, pad_lanes

_SQRT1_2 = 0.7071067811865476  # 1/sqrt(2), the constant scipy's ndtr multiplies by


def _largest_below(x_max: float) -> float:
    """The largest double a with a / sqrt(2) (rounded, as computed) < x_max."""
    a = x_max / _SQRT1_2
    while a * _SQRT1_2 < x_max:
        a = math.nextafter(a, math.inf)
    while not (a * _SQRT1_2 < x_max):
        a = math.nextafter(a, 0.0)
    return a


#: |z| <= NDTR_CENTRAL_Z: Cephes' erf formula (x = |z| / sqrt(2) < 1; 84% of normal scores).
NDTR_CENTRAL_Z = _largest_below(1.0)
#: |z| < NDTR_VEC_ZMAX (every lane but far tails, inf and nan): ndtr_pair_block's vectorised
#: range, x < 8 (the smallest double with x rounded to 8.0; 11.3137...).
NDTR_VEC_ZMAX = math.nextafter(_largest_below(8.0), math.inf)
_VEC_ZMAX_BITS = struct.unpack("<q", struct.pack("<d", NDTR_VEC_ZMAX))[0]
#: |z| > NDTR_ZERO_Z: Phi(-|z|) is 0.0 (beyond the smallest subnormal's half from 38.58)
NDTR_ZERO_Z = 38.7
_SCALE_UP = 64.0  # added to exp_reduce's t: 2**64 exp(...), undone by _SCALE_DOWN
_SCALE_DOWN = 5.421010862427522e-20  # 2**-64


@njit(inline="always")
def _exp_neg_half_sq(a: float, shift: float) -> float:
    """2**shift exp(-a**2 / 2) for 0 <= a <= 38.7 (shift 64; 0 only for a < 37.6), ~1 ulp.

    ``a**2 = p + e`` exactly (``e`` by a fused multiply-add), ``exp(-p/2)`` reduced by
    ``exp_reduce``, and ``-e/2`` added to its small remainder ``r``: no rounding of ``a**2``
    reaches the result.  ``shift`` (an integer) is added to ``k`` in ``exp_reduce``'s ``t``
    (an integer-valued double near 1.5 * 2**52: exact)."""
    p = a * a
    e = fma(a, a, -p)
    t, r = exp_reduce(-0.5 * p)
    return exp_finish(t + shift, r - 0.5 * e)


@njit(inline="always")
def _central_nd(z: float) -> tuple[float, float, float]:
    """For |z| < sqrt(2) (x < 1): ``hx = x / 2`` (signed) and the numerator and denominator
    of y(x**2), erf(x) = x (1 + y) (|y| <= 0.16): Cephes' T(s) / U(s) - 1 as (T - U)(s) / U(s),
    the coefficients of T - U rounded once from the exact differences.  Adding x y to x, not
    forming erf = x T / U, keeps the rounding of the quotient out of 0.5 - 0.5 erf (which
    cancels by up to 5x)."""
    x = z * _SQRT1_2
    s = x * x
    s2 = s * s
    num = fma(fma(fma(-1.0, s, -23.956740424879797), s2, fma(-431.3319300597684, s,
                                                              -2362.3184837629583)),
              s2, fma(-15625.674920261044, s, 6324.907040175902))
    den = fma(fma(s + 3.35617141647503099647e1, s2, fma(5.21357949780152679795e2, s,
                                                         4.59432382970980127987e3)),
              s2, fma(2.26290000613890934246e4, s, 4.92673942608635921086e4))
    return 0.5 * x, num, den


@njit(inline="always")
def _central_finish(hx: float, y: float) -> tuple[float, float]:
    """``Phi(+-z) = (0.5 +- hx) +- hx y`` (one fused multiply-add; 0.5 - |hx| is exact from
    |z| >= 0.71 on), symmetric bit for bit."""
    return fma(hx, y, 0.5 + hx), fma(-hx, y, 0.5 - hx)


@njit(inline="always")
def _poly8(x, c0, c1, c2, c3, c4, c5, c6, c7, c8):
    # c0 + c1 x + ... + c8 x**8, Estrin's scheme with fused multiply-adds
    x2 = x * x
    x4 = x2 * x2
    lo = fma(fma(c3, x, c2), x2, fma(c1, x, c0))
    hi = fma(fma(c7, x, c6), x2, fma(c5, x, c4))
    return fma(fma(c8, x4, hi), x4, lo)


@njit(inline="always")
def _erfc_p(x: float) -> float:
    # Cephes P(x): exp(x**2) erfc(x) = P(x) / Q(x) for 1 <= x < 8
    return _poly8(x, 5.57535335369399327526e2, 1.02755188689515710272e3,
                  9.34528527171957607540e2, 5.26445194995477358631e2, 1.96520832956077098242e2,
                  4.86371970985681366614e1, 7.46321056442269912687e0, 5.64189564831068821977e-1,
                  2.46196981473530512524e-10)


@njit(inline="always")
def _erfc_q(x: float) -> float:
    return _poly8(x, 5.57535340817727675546e2, 1.65666309194161350182e3,
                  2.24633760818710981792e3, 1.82390916687909736289e3, 9.75708501743205489753e2,
                  3.54937778887819891062e2, 8.67072140885989742329e1, 1.32281951154744992508e1,
                  1.0)


@njit(inline="always")
def _mid_nd(a: float) -> tuple[float, float]:
    """For sqrt(2) <= a < 8 sqrt(2) (1 <= x < 8): ``Phi(-a) = 0.5 (num / den)`` with
    ``num = exp(-a**2/2) P(x)``, ``den = Q(x)``."""
    x = a * _SQRT1_2
    return _exp_neg_half_sq(a, 0.0) * _erfc_p(x), _erfc_q(x)


@njit
def _tail_far(a: float) -> float:
    """Phi(-a) for a >= 8 sqrt(2), inf and nan: 0.5 exp(-a**2/2) R(x) / S(x)."""
    if not (a <= NDTR_ZERO_Z):
        return 0.0 if a > NDTR_ZERO_Z else math.nan
    x = a * _SQRT1_2
    num = (((((5.64189583547755073984e-1 * x + 1.27536670759978104416e0) * x
              + 5.01905042251180477414e0) * x + 6.16021097993053585195e0) * x
            + 7.40974269950448939160e0) * x + 2.97886665372100240670e0)
    den = ((((((x + 2.26052863220117276590e0) * x + 9.39603524938001434673e0) * x
               + 1.20489539808096656605e1) * x + 1.70814450747565897222e1) * x
             + 9.60896809063285878198e0) * x + 3.36907645100081516050e0)
    # 2**64 exp(-a**2/2) is a normal number for a <= 38.7; one rounding into the subnormals
    return (_exp_neg_half_sq(a, _SCALE_UP) * (0.5 * (num / den))) * _SCALE_DOWN


@njit
def ndtr_pair(z: float) -> tuple[float, float]:
    """``(Phi(z), Phi(-z))``, each accurate in its own tail (the larger one is ``1 - small``,
    ``small <= 0.08``, or ``0.5 +- h`` in the centre).  ``(0.5, 0.5)`` at 0, ``(0, 1)`` at
    ``-inf``, ``(1, 0)`` at ``inf``, nans at nan; ``Phi(z)`` underflows gradually to 0 from
    ``z = -37.5`` to ``-38.6``.  Symmetric bit for bit: ``ndtr_pair(-z)`` is the pair
    swapped."""
    a = abs(z)
    if a <= NDTR_CENTRAL_Z:  # x = a / sqrt(2) < 1
        hx, num, den = _central_nd(z)
        return _central_finish(hx, num / den)
    if a < NDTR_VEC_ZMAX:  # x < 8
        num, den = _mid_nd(a)
        s = 0.5 * (num / den)
    else:
        s = _tail_far(a)
    if z < 0.0:
        return s, 1.0 - s
    return 1.0 - s, s


@njit
def ndtr(z: float) -> float:
    """Standard normal CDF Phi(z), accurate in both tails.

    Parameters
    ----------
    z : float
        Normal score.

    Returns
    -------
    float
        ``P(Z <= z)``, the first half of :func:`ndtr_pair`: relative error below 1e-15 down to
        ``z = -37.5`` (no growth with ``|z|``), then gradual underflow, 0 below -38.6; nan at
        nan.
    """
    return ndtr_pair(z)[0]


@njit(error_model="numpy", cache=CACHE)
def list_noncentral(z, m, idx, zt):
    """List the lanes ``i < m`` outside the central formula (``not (|z[i]| <=
    NDTR_CENTRAL_Z)``, nan included) in ``idx[0:nt]``, increasing, with their scores in
    ``zt[0:nt]``; return ``nt``.  Pointers as ``addr``; as ``_ndtri.list_tail``."""
    return list_flagged(z, m, idx, zt, 0.0, NDTR_CENTRAL_Z)


@njit(error_model="numpy", cache=CACHE)
def list_noncentral_avx512(z, m, idx, zt):
    """:func:`list_noncentral` eight lanes at a time (:func:`compress_abs8`), the last
    ``m % 8`` one by one; the same outputs."""
    m8 = m & ~7
    nt = compress_abs8(z, m8, idx, zt, NDTR_CENTRAL_Z)
    return list_rest(z, m8, m, idx, zt, nt, 0.0, NDTR_CENTRAL_Z)


@njit(error_model="numpy", cache=CACHE)
def ndtr_pair_block(z, m: int, u, v, idx) -> None:
    """``u[i], v[i] = ndtr_pair(z[i])`` for i < m, bit for bit (pointers, as ``addr``).

    As ``_ndtri.ndtri_block``: the lanes outside the central formula (|z| > sqrt(2): 16% of
    normal scores) are listed in ``idx`` (int64[>= m] scratch) with their scores gathered in
    ``u``; the ``1 <= x < 8`` formula runs on those, vectorised, and is scattered to ``v``;
    then one vectorised pass over every lane evaluates the central formula and selects.  The
    largest ``|z|`` of the listed lanes is kept as an integer reduction of its bits (a nan's
    are above inf's); only when it reaches :data:`NDTR_VEC_ZMAX` are the lanes beyond it (far
    tails, +-inf, nan) redone by the scalar :func:`ndtr_pair`.  ``u`` and ``v`` must not
    alias ``z`` or each other.
    """
    if AVX512:
        nt = list_noncentral_avx512(z, m, idx, u)
    else:
        nt = list_noncentral(z, m, idx, u)
    ntv = pad_lanes(u, nt, m, 2.0)  # a harmless score
    zbits = 0
    for k in range(ntv):
        a = abs(u[k])
        num, den = _mid_nd(a)
        u[k] = 0.5 * (num / den)
        zbits = max(zbits, _f64_to_i64(a))
    for k in range(nt):
        v[idx[k]] = u[k]
    for i in range(m):  # (v[i] of a central lane is whatever it was: read, then not selected)
        zi = z[i]
        hx, num, den = _central_nd(zi)
        cu, cv = _central_finish(hx, num / den)
        s = v[i]
        c = abs(zi) <= NDTR_CENTRAL_Z
        lo = s if zi < 0.0 else 1.0 - s
        hi = 1.0 - s if zi < 0.0 else s
        u[i] = cu if c else lo
        v[i] = cv if c else hi
    if zbits >= _VEC_ZMAX_BITS:
        for k in range(nt):
            i = idx[k]
            zi = z[i]
            if not (abs(zi) < NDTR_VEC_ZMAX):
                u[i], v[i] = ndtr_pair(zi)
