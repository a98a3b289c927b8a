"""Randomized quasi-Monte Carlo: Owen-scrambled Sobol' points as a sampler of the runner.

One dimension per random input, in plan order. Point i of a dimension is computed from its
index alone, so any chunk of a replicate is a pure function of (plan, seed, replicate, block
range) and results are bit-identical for any thread count or chunk size:

1. **Sobol' point** (Joe and Kuo's direction numbers, as ``scipy.stats.qmc.Sobol`` ships
   them, read once at plan time by :func:`direction_numbers`): with the Gray code
   ``g = i ^ (i >> 1)``, ``x_i`` is the XOR of the direction numbers ``v_b`` of the set bits
   b of g, the order in which scipy yields its unscrambled points (32 bits).
2. **Nested uniform (Owen) scrambling**, hash-based: the bits are reversed, permuted by a
   hash in which each bit only depends on the bits below it (so, reversed back, every digit
   is flipped by a function of the digits above it: a nested scramble, which keeps the
   points a (t, m, s)-net), and reversed back (Laine and Karras 2011; Burley, "Practical
   Hash-based Owen Scrambling", JCGT 2020; the constants of N. Vegdahl's improved hash,
   2021). Each dimension's scramble is seeded from (scenario seed, replicate, the input's
   stream word) by one Philox block, so an input keeps its scramble when others are added.
3. **Uniform**: the 32 scrambled bits, followed by 32 bits hashed from them and the
   dimension's seed (the random digits below the 32nd that a full Owen scramble would
   draw), read as 64 bits exactly as the engine reads Philox's (``rng.uniform53``):
   ``((x >> 12) + 0.5) * 2**-52``, strictly inside (0, 1).

The uniforms then take the same path as plain Monte Carlo's
(:func:`engine.core.sampling.uniform_columns`: quantile transforms, or normal scores and the
copula). Replicates (independent scramblings) give honest error bars:
:mod:`engine.analyses.qmc`.

Dependency rule: numpy, numba, scipy (direction numbers, at plan time), ``distributions``
and :mod:`engine.core` only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from distributions._jitcache import CACHE, stable_identity

from .rng import _philox10, _u53
from .sampling import Sampler, copula_columns, uniform_columns, weigh_plain

#: Bits of a Sobol' coordinate (scipy's ``bits=32``): at most 2**32 points per replicate.
SOBOL_BITS = 32
#: The most points of one replicate (32-bit coordinates; the Gray code needs i < 2**32).
MAX_POINTS = 2**32
#: Columns of the sampler's table before the direction numbers: stream word, replicate.
_HEAD = 2

_U1 = np.uint64(1)
_U16 = np.uint64(16)
_U32 = np.uint64(32)
_M32 = np.uint64(0xFFFFFFFF)


def direction_numbers(d: int) -> np.ndarray:
    """uint32[d, 32]: the direction numbers of the first d Sobol' dimensions, scaled to 32
    bits, exactly those ``scipy.stats.qmc.Sobol(d, scramble=False, bits=32)`` uses (Joe and
    Kuo's ``new-joe-kuo-6.21201``; dimension 0 is van der Corput's).

    Read from scipy's object (its ``_sv`` attribute); tests check the points they give
    against scipy's own, bit for bit.
    """
    if d < 1:
        return np.zeros((0, SOBOL_BITS), dtype=np.uint32)
    from scipy.stats import qmc

    if d > qmc.Sobol.MAXDIM:
        raise ValueError(f"Sobol' points exist for at most {qmc.Sobol.MAXDIM} random inputs, "
                         f"got {d}")
    sv = np.asarray(qmc.Sobol(d, scramble=False, bits=SOBOL_BITS)._sv, dtype=np.uint32)
    if sv.shape != (d, SOBOL_BITS):  # pragma: no cover - a scipy that changed its internals
        raise RuntimeError(f"unexpected scipy Sobol' direction numbers of shape {sv.shape}")
    return sv


@njit(inline="always")
def _reverse32(x):
    """The 32 low bits of x (uint64) in reverse order."""
    x = ((x >> _U1) & np.uint64(0x55555555)) | ((x & np.uint64(0x55555555)) << _U1)
    x = ((x >> np.uint64(2)) & np.uint64(0x33333333)) | ((x & np.uint64(0x33333333))
                                                          << np.uint64(2))
    x = ((x >> np.uint64(4)) & np.uint64(0x0F0F0F0F)) | ((x & np.uint64(0x0F0F0F0F))
                                                          << np.uint64(4))
    x = ((x >> np.uint64(8)) & np.uint64(0x00FF00FF)) | ((x & np.uint64(0x00FF00FF))
                                                          << np.uint64(8))
    return ((x >> _U16) | (x << _U16)) & _M32


@njit(inline="always")
def owen_scramble(x, seed):
    """Hash-based nested uniform scramble of a 32-bit coordinate x with a 32-bit seed.

    In the reversed bits every step (add, multiply by an odd number, xor with a multiple by
    an even one) changes bit k by a function of the bits below k only, i.e. of the digits
    above it in the coordinate: an Owen-type scramble.
    """
    x = _reverse32(x)
    x = (x ^ (x * np.uint64(0x3D20ADEA))) & _M32
    x = (x + seed) & _M32
    x = (x * ((seed >> _U16) | _U1)) & _M32
    x = (x ^ (x * np.uint64(0x05526C56))) & _M32
    x = (x ^ (x * np.uint64(0x53A22864))) & _M32
    return _reverse32(x)


@njit(inline="always")
def _mix64(x):
    """splitmix64's finaliser: a bijective 64-bit hash."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(inline="always")
def _gray_point(v, col, i):
    """Unscrambled 32-bit coordinate of point i: XOR of ``v[col + b]`` over the set bits b of
    the Gray code of i."""
    g = i ^ (i >> _U1)
    x = np.uint64(0)
    b = 0
    while g:
        if g & _U1:
            x ^= v[col + b]
        g >>= _U1
        b += 1
    return x


@njit(inline="always")
def _ctz(i):
    """Trailing zero bits of i > 0."""
    k = 0
    while not (i & _U1):
        i >>= _U1
        k += 1
    return k


@njit(inline="always")
def dimension_keys(seed, word, replicate):
    """The scramble seed (32 bits) and low-bit key (64 bits) of one dimension: one Philox
    block of (replicate, stream word) under the scenario seed."""
    seed = np.uint64(seed)
    word = np.uint64(word)
    rep = np.uint64(replicate)
    y0, _y1, y2, y3 = _philox10(np.uint32(rep), np.uint32(rep >> _U32), np.uint32(word),
                               np.uint32(word >> _U32), np.uint32(seed),
                               np.uint32(seed >> _U32))
    return np.uint64(y0), (np.uint64(y2) << _U32) | np.uint64(y3)


@njit(inline="always")
def fill_sobol(row, seed, first, m, u, scramble):
    """``u[0:m]`` = the uniforms of points ``first .. first + m - 1`` of one dimension.

    ``row`` is the input's row of the sampler's table (module :func:`sobol`): stream word,
    replicate, then the dimension's 32 direction numbers. Without ``scramble``: the
    unscrambled coordinates ``x * 2**-32`` (scipy's points; for tests).
    """
    k32, k64 = dimension_keys(seed, row[0], row[1])
    i = np.uint64(first)
    x = _gray_point(row, _HEAD, i)
    for t in range(m):
        if t:
            x ^= row[_HEAD + _ctz(i)]  # Gray code: g(i) = g(i - 1) ^ 2**ctz(i)
        if scramble:
            y = owen_scramble(x, k32)
            lo = _mix64((y << _U32) ^ k64) >> _U32
            u[t] = _u53((y << _U32) | lo)
        else:
            u[t] = np.float64(x) * 2.0**-32
        i += _U1


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def draw_sobol(codes, params, tables, words, is_random, src, shift, cidx, chol, seed, s0, m,
               xs, z0, zk, logw, u, wscr, zb, zt, idx):
    """Scrambled Sobol' points: each random input's uniforms from its dimension
    (:func:`fill_sobol`), then the path of plain Monte Carlo's
    (:func:`engine.core.sampling.uniform_columns`, the copula). ``words`` is the sampler's
    table uint64[J, 34]; ``shift``, ``logw`` and ``wscr`` unused."""
    for j in range(codes.shape[1]):
        if is_random[j]:
            fill_sobol(words[j], seed, s0, m, u, True)
            uniform_columns(codes, params, tables, src, cidx, j, u, m, xs, z0, zb, zt, idx)
    if cidx.shape[0]:
        copula_columns(codes, params, tables, src, shift, cidx, chol, z0, zk, m, xs, zb, zt,
                       idx)


@njit(cache=CACHE)
def _points(row, seed, first, n, scramble):
    out = np.empty(n)
    fill_sobol(row, seed, first, n, out, scramble)
    return out


def sobol_table(is_random: np.ndarray, replicate: int) -> np.ndarray:
    """uint64[J, 34]: the sampler's table (column 0 is filled with the stream words by the
    runner): the replicate, then the direction numbers of each random input's dimension
    (random inputs take dimensions 0, 1, ... in plan order; fixed inputs zeros)."""
    is_random = np.asarray(is_random, dtype=bool)
    n_j = is_random.shape[0]
    table = np.zeros((n_j, _HEAD + SOBOL_BITS), dtype=np.uint64)
    table[:, 1] = np.uint64(replicate)
    table[is_random, _HEAD:] = direction_numbers(int(is_random.sum()))
    return table


def sobol(n_points: int, is_random: np.ndarray, replicate: int) -> Sampler:
    """Replicate ``replicate`` (0, 1, ...) of the scrambled Sobol' sampler for a plan of
    ``n_points`` points whose inputs are random where ``is_random``."""
    n_j = len(is_random)
    return Sampler("sobol", draw_sobol, weigh_plain, np.zeros((n_points, n_j)),
                   table=sobol_table(is_random, replicate))


def points(n: int, d: int, *, seed: int = 0, replicate: int = 0, streams=None,
           first: int = 0, scramble: bool = True) -> np.ndarray:
    """float64[n, d]: points ``first .. first + n - 1`` of the first d dimensions, as the
    kernel makes them (tests, plots of the points).

    ``streams`` are the dimensions' stream words (default 0, 1, ..., d - 1); without
    ``scramble`` the unscrambled points ``x * 2**-32``, scipy's ``Sobol(scramble=False)``.
    """
    if not 0 <= first and first + n <= MAX_POINTS:
        raise ValueError(f"points need 0 <= first and first + n <= 2**32, got {first}, {n}")
    table = sobol_table(np.ones(d, dtype=bool), replicate)
    table[:, 0] = np.arange(d, dtype=np.uint64) if streams is None else \
        np.asarray(streams, dtype=np.uint64)
    out = np.empty((n, d))
    for k in range(d):
        out[:, k] = _points(table[k], np.uint64(seed), np.uint64(first), n, scramble)
    return out
