"""The normal CDF pair without libm (``distributions._ndtr``): accuracy, edges, block == scalar.

``ndtr_pair(z) = (Phi(z), Phi(-z))`` feeds the copula's uniform, triangular and truncnormal
columns and every ``sample_z`` (importance sampling, ``Distribution.ppf_z``).  Accuracy is
measured against a 50-digit reference computed here with :mod:`decimal` (series for
``|z| <= 4``, Laplace's continued fraction beyond), not against scipy, whose ``ndtr`` carries
the rounding of ``z / sqrt(2)`` (a relative error up to ~``1.75e-16 z**2`` in the tail: 1.9e-14
at ``z = -10``, 2.4e-13 near -35).  Measured on 2e5 random scores (and the grid below):

* the small side (``Phi(z)`` for ``z < 0``, ``Phi(-z)`` for ``z > 0``): at most 6.6e-16
  relative for ``|z| < sqrt(2)`` (Cephes' erf, 0.5 - 0.5 erf cancelling by up to 5x), 6.9e-16
  for ``sqrt(2) <= |z| < 11.3`` (Cephes' P/Q with ``exp(-z**2/2)`` from an exact split of
  ``z**2``), 9.0e-16 for ``11.3 <= |z| <= 37.5`` (Cephes' R/S): no growth with ``|z|``;
* the large side: at most 2.2e-16 relative (about one rounding);
* below 2.2e-308 (``z < -37.5``) the result rounds once into the subnormals: absolute error
  at most one subnormal ulp; 0 from ``z = -38.6`` on.

The tests assert 8e-16, 1.1e-15, 2.5e-16 and one subnormal ulp.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from numba import njit
from scipy import special

import distributions as D
from distributions import _kernels as K
from distributions._ndtr import (
    NDTR_CENTRAL_Z,
    NDTR_VEC_ZMAX,
    list_noncentral,
    list_noncentral_avx512,
    ndtr,
    ndtr_pair,
    ndtr_pair_block,
)
from distributions._pointers import addr, offset

_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459230781640629")
_TINY = 2.0**-1074  # the smallest subnormal
VEC_BOUND = 8e-16  # small side, |z| < NDTR_VEC_ZMAX (measured 6.9e-16)
FAR_BOUND = 1.1e-15  # small side, NDTR_VEC_ZMAX <= |z| <= 37.5 (measured 9.0e-16)
BIG_BOUND = 2.5e-16  # large side (measured 2.2e-16)


def _phi_lower(t: float, prec: int = 50) -> Decimal:
    """Phi(-t) for a float t >= 0 (taken exactly), to ``prec`` digits."""
    with localcontext() as c:
        c.prec = prec + 10
        x = Decimal(t)
        dens = (-(x * x) / 2).exp() / (2 * _PI).sqrt()
        if t <= 4.0:  # 0.5 - dens * sum t**(2n+1) / (2n+1)!!  (positive terms)
            term = s = x
            n = 0
            while term > s * Decimal(10) ** -(prec + 8):
                n += 1
                term = term * x * x / (2 * n + 1)
                s += term
            return +(Decimal("0.5") - dens * s)

        def cf(n):  # dens / (t + 1/(t + 2/(t + 3/(t + ...))))
            f = x
            for k in range(n, 0, -1):
                f = x + k / f
            return dens / f

        n, a = 40, cf(40)
        while True:
            b = cf(2 * n)
            if abs(a - b) <= abs(b) * Decimal(10) ** -(prec - 5):
                return b
            n, a = 2 * n, b


def _errors(z, u, v):
    """Relative errors of the small and the large side against the reference, per score."""
    es, eb = np.empty(z.size), np.empty(z.size)
    for i, zi in enumerate(z):
        lo = _phi_lower(abs(float(zi)))
        small, big = (u[i], v[i]) if zi <= 0 else (v[i], u[i])
        es[i] = float(abs(Decimal(float(small)) - lo) / lo)
        eb[i] = float(abs(Decimal(float(big)) - (1 - lo)) / (1 - lo))
    return es, eb


@njit
def _pairs(z):
    u, v = np.empty(z.size), np.empty(z.size)
    for i in range(z.size):
        u[i], v[i] = ndtr_pair(z[i])
    return u, v


@njit
def _block_pairs(z, m):
    """ndtr_pair_block over z in blocks of exactly m (the last one shorter)."""
    u, v = np.full(z.size, -7.0), np.full(z.size, -7.0)
    idx = np.empty(m, dtype=np.int64)
    for s in range(0, z.size, m):
        n = min(m, z.size - s)
        ndtr_pair_block(offset(addr(z), s), n, offset(addr(u), s), offset(addr(v), s), addr(idx))
    return u, v


_g = np.random.default_rng(20240607)
GRID = np.concatenate([np.arange(-37.5, 9.0, 0.01), _g.uniform(-37.5, 9.0, 3000),
                       _g.standard_normal(3000), _g.uniform(-1.5, 1.5, 2000)])


def test_reference_is_right():
    # Known values (to 16+ digits) and the series against the continued fraction at t = 4.
    assert abs(float(_phi_lower(1.0)) - 0.15865525393145705) <= 1e-17
    assert abs(float(_phi_lower(0.0)) - 0.5) == 0.0
    phi10 = Decimal("7.6198530241605260659733432515993e-24")  # Phi(-10)
    assert abs(_phi_lower(10.0) / phi10 - 1) < Decimal("1e-30")
    with localcontext() as c:
        c.prec = 60
        x = Decimal(4)
        f = x
        for k in range(3000, 0, -1):
            f = x + k / f
        cf = (-(x * x) / 2).exp() / (2 * _PI).sqrt() / f
    assert abs(_phi_lower(4.0) / cf - 1) < Decimal("1e-40")


def test_accuracy_each_side_in_its_own_tail():
    u, v = _pairs(GRID)
    es, eb = _errors(GRID, u, v)
    a = np.abs(GRID)
    vec = a < NDTR_VEC_ZMAX
    assert es[vec].max() <= VEC_BOUND, (es[vec].max(), GRID[vec][np.argmax(es[vec])])
    assert es[~vec].max() <= FAR_BOUND, (es[~vec].max(), GRID[~vec][np.argmax(es[~vec])])
    assert eb.max() <= BIG_BOUND, (eb.max(), GRID[np.argmax(eb)])
    # No growth with |z| (scipy's ndtr grows like z**2 eps / 2: the reason for this module).
    far = a > 20
    assert es[far].max() <= FAR_BOUND
    sc = special.ndtr(-a[far])
    lo = np.where(GRID[far] <= 0, u[far], v[far])
    assert np.all(np.abs(lo / sc - 1) <= 2.5e-16 * (a[far] ** 2 + 6))


def test_agrees_with_scipy_within_its_error():
    # scipy.special.ndtr / log_ndtr as a second, independent check: within scipy's own error
    # (up to ~1.75e-16 z**2 from rounding x = z / sqrt(2)) on both sides, wherever scipy does
    # not underflow.
    z = np.concatenate([np.arange(-37.0, 9.0, 0.003), _g.uniform(-37, 9, 5000)])
    u, v = _pairs(z)
    tol = 2.5e-16 * (z * z + 6)
    small = np.where(z <= 0, u, v)
    ref = special.ndtr(-np.abs(z))
    assert np.all(np.abs(small / ref - 1) <= tol)
    log_ref = special.log_ndtr(-np.abs(z))  # (plus the rounding of the logarithms)
    assert np.all(np.abs(np.log(small) - log_ref) <= tol + 2.3e-16 * np.abs(log_ref))
    assert np.all(np.abs(np.where(z <= 0, v, u) / special.ndtr(np.abs(z)) - 1) <= 2.5e-16)


def test_underflow_into_subnormals_and_to_zero():
    z = np.concatenate([np.arange(-38.7, -37.4, 0.001), _g.uniform(-38.7, -37.4, 500)])
    u, v = _pairs(z)
    assert np.all(v == 1.0)
    for zi, ui in zip(z, u, strict=True):
        lo = _phi_lower(-float(zi))
        assert abs(Decimal(float(ui)) - lo) <= max(lo * Decimal(FAR_BOUND), Decimal(_TINY)), zi
    assert np.all(u[z < -38.58] == 0.0) and np.all(u[z > -38.4] > 0.0)
    for zi in (-38.7, -38.71, -40.0, -1e3, -1e300, -1.7976931348623157e308):
        assert ndtr_pair(zi) == (0.0, 1.0) and ndtr_pair(-zi) == (1.0, 0.0)


def test_exact_values_and_specials():
    assert ndtr_pair(0.0) == (0.5, 0.5) and ndtr_pair(-0.0) == (0.5, 0.5)
    assert ndtr_pair(math.inf) == (1.0, 0.0) and ndtr_pair(-math.inf) == (0.0, 1.0)
    for x in (math.nan, -math.nan):
        assert all(math.isnan(w) for w in ndtr_pair(x)) and math.isnan(ndtr(x))
    for x in (5e-324, -5e-324, 1e-300, -1e-17):  # Phi(tiny) rounds to 0.5
        assert ndtr_pair(x) == (0.5, 0.5)
    assert ndtr(-40.0) == 0.0 and ndtr(40.0) == 1.0
    assert D.ndtr is ndtr and K.ndtr is ndtr and K.ndtr_pair is ndtr_pair


def test_symmetric_bit_for_bit_and_ndtr_is_the_first_half():
    z = GRID
    u, v = _pairs(z)
    mu, mv = _pairs(-z)
    assert np.array_equal(u.view(np.int64), mv.view(np.int64))
    assert np.array_equal(v.view(np.int64), mu.view(np.int64))
    assert all(ndtr(x) == ui for x, ui in zip(z[::37], u[::37], strict=True))
    # the pair sums to 1 within a rounding
    assert np.all(np.abs(u + v - 1.0) <= 2.3e-16)


def test_monotone_on_a_fine_grid():
    z = np.concatenate([np.arange(-38.7, 9.5, 1e-4), np.sqrt(2) + np.arange(-1e4, 1e4) * 1e-9,
                        -np.sqrt(2) + np.arange(-1e4, 1e4) * 1e-9])
    z = np.sort(z)
    u, v = _pairs(z)
    assert np.all(np.diff(u) >= 0.0) and np.all(np.diff(v) <= 0.0)
    # (Ulp by ulp, the switch between two approximations at |z| = sqrt(2) may step back by
    # their difference, < 1e-15 relative, as scipy's does: not tested.)


def test_vectorised_range_constant():
    # The block trusts x = |z| / sqrt(2) < 8 (the scalar's test) for every |z| < NDTR_VEC_ZMAX.
    below = np.nextafter(NDTR_VEC_ZMAX, 0.0)
    assert below * 0.7071067811865476 < 8.0 <= NDTR_VEC_ZMAX * 0.7071067811865476


_EDGES = [np.sqrt(2), np.nextafter(np.sqrt(2), 0), NDTR_CENTRAL_Z, np.nextafter(NDTR_CENTRAL_Z, 2),
          NDTR_VEC_ZMAX, np.nextafter(NDTR_VEC_ZMAX, 0), 37.6, 38.5, 38.7, 1e300, np.inf]
_SPECIAL = np.array([0.0, -0.0, 5e-324, -5e-324, 1e-300] + _EDGES + [-x for x in _EDGES]
                    + [-38.8, np.nan, -np.nan])


@pytest.mark.parametrize("m", [1, 3, 7, 8, 13, 64, 256])
def test_block_equals_scalar_bit_for_bit(m):
    z = np.concatenate([_SPECIAL, _g.standard_normal(700), 6.0 * _g.standard_normal(300),
                        _g.uniform(-40, 40, 200), _SPECIAL[::-1]])
    for zz in (z, z[5:], -z, z[: 3 * m + 1]):
        zz = zz.copy()
        want_u, want_v = _pairs(zz)
        got_u, got_v = _block_pairs(zz, m)
        for got, want in ((got_u, want_u), (got_v, want_v)):
            diff = got.view(np.int64) != want.view(np.int64)
            diff &= ~(np.isnan(got) & np.isnan(want))
            assert not diff.any(), (m, zz[diff][:5], got[diff][:5], want[diff][:5])


def test_block_alone_in_its_lane():
    # A far, infinite or nan score is redone by the scalar without touching its neighbours.
    base = _g.standard_normal(21)
    for s in _SPECIAL:
        z = base.copy()
        z[10] = s
        u, v = _block_pairs(z, 21)
        wu, wv = _pairs(z)
        assert np.array_equal(u, wu, equal_nan=True) and np.array_equal(v, wv, equal_nan=True)


# -- The AVX-512 listing (compress_abs8) against the plain loop; both compile on any x86-64.


@njit
def _lists(z, m):
    idx = (np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64))
    zt = (np.zeros(m), np.zeros(m))
    n0 = list_noncentral(addr(z), m, addr(idx[0]), addr(zt[0]))
    n1 = list_noncentral_avx512(addr(z), m, addr(idx[1]), addr(zt[1]))
    return idx[0][:n0], idx[1][:n1], zt[0][:n0], zt[1][:n1]


@pytest.mark.parametrize("m", [1, 7, 8, 9, 64, 255, 256])
def test_listing_avx512_equals_plain(m):
    z = np.concatenate([_SPECIAL[::-1], _g.standard_normal(400), _SPECIAL])  # nan first
    listed = 0
    for start in range(0, 400, 37):
        zz = z[start:start + m].copy()
        i0, i1, t0, t1 = _lists(zz, zz.size)
        want = np.flatnonzero(~(np.abs(zz) <= NDTR_CENTRAL_Z))
        assert np.array_equal(i0, want) and np.array_equal(i1, want)
        assert np.array_equal(t0, zz[want], equal_nan=True)
        assert np.array_equal(t1, zz[want], equal_nan=True)
        listed += want.size
    assert listed > 0
    assert NDTR_CENTRAL_Z * 0.7071067811865476 < 1.0
    assert not (np.nextafter(NDTR_CENTRAL_Z, 2.0) * 0.7071067811865476 < 1.0)


def _plain_scores():
    g = np.random.default_rng(5)
    return np.concatenate([_SPECIAL, g.standard_normal(2000), 8.0 * g.standard_normal(500)])


_RUN_PLAIN = """
import sys, numpy as np
from distributions import _ndtr
assert not _ndtr.AVX512
sys.path.insert(0, sys.argv[1])
import test_ndtr_fast as t
z = t._plain_scores()
wu, wv = t._pairs(z)
for m in (5, 8, 256):
    u, v = t._block_pairs(z, m)
    assert np.array_equal(u.view(np.int64), wu.view(np.int64)), m
    assert np.array_equal(v.view(np.int64), wv.view(np.int64)), m
np.save(sys.argv[2], np.stack([u, v]))
"""


@pytest.mark.skipif(not K.AVX512, reason="this CPU runs the plain path already")
def test_plain_path_block_equals_scalar_and_avx512(tmp_path):
    # The block compiled for AVX2 (no AVX-512: the plain listing) in a fresh process: equal to
    # the scalar there, and to this process's AVX-512 build.
    import os
    import subprocess
    import sys
    from pathlib import Path

    plain = ("+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+fxsr,+lzcnt,+mmx,+movbe,"
             "+pclmul,+popcnt,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave")
    env = dict(os.environ, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES=plain,
               CAPEXGAP_CACHE_DIR=str(tmp_path / "cache"))
    out = tmp_path / "uv.npy"
    subprocess.run([sys.executable, "-c", _RUN_PLAIN, str(Path(__file__).parent), str(out)],
                   env=env, check=True, timeout=600)
    got = np.load(out)
    want = np.stack(_block_pairs(_plain_scores(), 256))
    assert np.array_equal(got.view(np.int64), want.view(np.int64))
