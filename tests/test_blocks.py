"""The block kernel from normal scores (``distributions._blocks.sample_block_zp``) equals
``sample_z`` bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

import distributions as D
from distributions import _kernels as K
from distributions import pack, parse
from distributions._ndtr import NDTR_CENTRAL_Z
from distributions._blocks import ppf_z_block_many, sample_block_z
from helpers import SPECS  # every family, with shapes that reach every branch

_TINY = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, -1e-310, 1e-300, -1e-300, 1e-17]
# Around the branch points: ndtr's erf/erfc switch at |z| = sqrt(2) (NDTR_CENTRAL_Z), the end of its
# vectorised range (K.NDTR_VEC_ZMAX, 8 sqrt(2)), the table's edge at |z| = Z (8.5), ndtr's
# underflow (37.5 to 38.6), exp_fast's range (|mu + sigma z| = 708), and far beyond.
_SQRT2 = 1.4142135623730951
_EDGES = [1.0, 1.0 - 2.0**-52, 1.0 + 2.0**-52, _SQRT2, NDTR_CENTRAL_Z,
          np.nextafter(NDTR_CENTRAL_Z, 2.0), 1.44, 2.4, 8.3, D.TABLE_Z, D.TABLE_Z - 1e-12,
          D.TABLE_Z + 1e-12, 8.6, 9.0, 10.0, K.NDTR_VEC_ZMAX, np.nextafter(K.NDTR_VEC_ZMAX, 0.0),
          12.5, 20.0, 37.5, 38.5, 38.7, 40.0, 1e3, 1e300, 1.7976931348623157e308, np.inf]
_SPECIAL = np.array(_TINY + _EDGES + [-x for x in _EDGES] + [np.nan, -np.nan])
_g = np.random.default_rng(2024)
Z = np.concatenate([_SPECIAL, _g.standard_normal(6000), 4.0 * _g.standard_normal(3000),
                    _g.uniform(-12.0, 12.0, 2000), _SPECIAL])


def _want(code, par, z, tables):
    out = np.empty(z.size)
    K.ppf_z_many(code, par, z, tables, out)
    return out


def _assert_bitwise(got, want, z, name):
    diff = np.flatnonzero(got.view(np.int64) != want.view(np.int64))
    both_nan = np.isnan(got[diff]) & np.isnan(want[diff])  # any nan equals any nan
    diff = diff[~both_nan]
    assert diff.size == 0, (name, z[diff[:5]], got[diff[:5]], want[diff[:5]])


@njit
def _blocks(code, par, z, m, tables, out):
    """sample_block_z over z in blocks of exactly m (the last one shorter)."""
    idx = np.empty(m, dtype=np.int64)
    zt = np.empty(m)
    for s in range(0, z.size, m):
        n = min(m, z.size - s)
        sample_block_z(code, par, z[s:s + n], n, tables, out[s:s + n], idx, zt)


@pytest.mark.parametrize("name", list(SPECS))
def test_block_from_z_equals_sample_z_bitwise(name):
    codes, params, tables = pack([parse(f"inputs.{name}", SPECS[name])])
    code, par = codes[0], params[0]
    # Other block boundaries, mirrored scores, and lengths that are not multiples of 8.
    for z in (Z, Z[::-1].copy(), -Z, Z[:1000].copy(), Z[3:1004].copy(), Z[:7].copy()):
        want = _want(code, par, z, tables)
        got = np.empty(z.size)
        ppf_z_block_many(code, par, z, tables, got)
        _assert_bitwise(got, want, z, name)
    for m in (1, 7, 13, 256):
        z = Z[: 40 * m + 5].copy()
        got = np.full(z.size, -1.0)
        _blocks(code, par, z, m, tables, got)
        _assert_bitwise(got, _want(code, par, z, tables), z, (name, m))


@pytest.mark.parametrize("name", ["lognormal", "lognormal-wide", "pert", "uniform"])
def test_each_special_score_alone_and_with_company(name):
    # A nan, an inf or a huge score must not change the other lanes of its block (the
    # lognormal's range check is per block), nor be changed by them.
    codes, params, tables = pack([parse(f"inputs.{name}", SPECS[name])])
    for s in _SPECIAL:
        for z in (np.array([s]), np.concatenate([Z[100:110], [s], Z[200:220]])):
            got = np.empty(z.size)
            ppf_z_block_many(codes[0], params[0], z, tables, got)
            _assert_bitwise(got, _want(codes[0], params[0], z, tables), z, (name, s))


def test_block_writes_only_its_lanes_and_unknown_code_gives_nan():
    codes, params, tables = pack([parse("inputs.x", SPECS["lognormal"])])
    z = Z[:300].copy()
    out = np.full(300, 123.0)
    _blocks(codes[0], params[0], z[:250], 250, tables, out[:250])
    assert np.all(out[250:] == 123.0)
    got = np.empty(9)
    ppf_z_block_many(99, params[0], Z[:9].copy(), tables, got)
    assert np.all(np.isnan(got)) and np.all(np.isnan(_want(99, params[0], Z[:9].copy(), tables)))


def test_exported():
    assert D.sample_block_z is sample_block_z
