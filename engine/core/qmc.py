"""Randomized quasi-Monte Carlo: Owen-scrambled Sobol' points as a sampler of the runner.

One dimension per input, in plan order (a fixed input's goes unused: pinning an input moves
no other input's points). Point i of a dimension is computed from its index alone, so any
chunk of a replicate is a pure function of (plan, seed, replicate, block range) and results
are bit-identical for any thread count or chunk size:

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
   dimension's key (the random digits below the 32nd that a full Owen scramble would
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

from .rng import _u53, philox64
from .sampling import Sampler, uniform_columns, weigh_plain

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
# shift counts as unsigned: numba would make uint32 (op) int64 a signed or float operation
_S1, _S2, _S4, _S8, _S15, _S16 = (np.uint32(k) for k in (1, 2, 4, 8, 15, 16))


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
        raise ValueError(f"Sobol' points exist for at most {qmc.Sobol.MAXDIM} inputs, "
                         f"got {d}")
    sv = np.asarray(qmc.Sobol(d, scramble=False, bits=SOBOL_BITS)._sv, dtype=np.uint32)
    if sv.shape != (d, SOBOL_BITS):  # pragma: no cover - a scipy that changed its internals
        raise RuntimeError(f"unexpected scipy Sobol' direction numbers of shape {sv.shape}")
    return sv


@njit(inline="always")
def _u32(x):
    """x modulo 2**32 as uint32 (numba computes small integers in 64 bits; the truncation lets
    LLVM use 32-bit lanes)."""
    return np.uint32(x & _M32)


@njit(inline="always")
def _reverse32(x):
    """The 32 bits of x (uint32) in reverse order."""
    x = _u32(((x >> _S1) & np.uint32(0x55555555)) | ((x & np.uint32(0x55555555)) << _S1))
    x = _u32(((x >> _S2) & np.uint32(0x33333333)) | ((x & np.uint32(0x33333333)) << _S2))
    x = _u32(((x >> _S4) & np.uint32(0x0F0F0F0F)) | ((x & np.uint32(0x0F0F0F0F)) << _S4))
    x = _u32(((x >> _S8) & np.uint32(0x00FF00FF)) | ((x & np.uint32(0x00FF00FF)) << _S8))
    return _u32((x >> _S16) | (x << _S16))


@njit(inline="always")
def owen_scramble(x, seed, mul):
    """Hash-based nested uniform scramble of a 32-bit coordinate x (uint32) with a 32-bit
    seed (``mul = (seed >> 16) | 1``).

    In the reversed bits every step (add, multiply by an odd number, xor with a multiple by
    an even one) changes bit k by a function of the bits below k only, i.e. of the digits
    above it in the coordinate: an Owen-type scramble.
    """
    x = _reverse32(x)
    x = _u32(x ^ _u32(x * np.uint32(0x3D20ADEA)))
    x = _u32(x + seed)
    x = _u32(x * mul)
    x = _u32(x ^ _u32(x * np.uint32(0x05526C56)))
    x = _u32(x ^ _u32(x * np.uint32(0x53A22864)))
    return _reverse32(x)


@njit(inline="always")
def _hash32(x):
    """A bijective 32-bit hash (C. Wellons' lowbias32)."""
    x = _u32(x ^ (x >> _S16))
    x = _u32(x * np.uint32(0x7FEB352D))
    x = _u32(x ^ (x >> _S15))
    x = _u32(x * np.uint32(0x846CA68B))
    return _u32(x ^ (x >> _S16))


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
    """The scramble seed and the low-bit key (32 bits each, uint32) of one dimension: one
    Philox block of (replicate, stream word) under the scenario seed."""
    y0, _y1, y2, _y3 = philox64(replicate, word, seed)
    return np.uint32(y0), np.uint32(y2)


@njit(inline="always")
def fill_sobol(row, seed, first, m, u, w, scramble):
    """``u[0:m]`` = the uniforms of points ``first .. first + m - 1`` of one dimension.

    ``row`` is the input's row of the sampler's table (:func:`sobol_table`): stream word,
    replicate, then the dimension's 32 direction numbers; ``w`` uint32[>= m] scratch.
    Without ``scramble``: the unscrambled coordinates ``x * 2**-32`` (scipy's points).

    Two loops: the Gray-code walk (serial: each point is the last one XOR one direction
    number), then the scramble and the conversion, which LLVM vectorises.
    """
    i = np.uint64(first)
    x = _gray_point(row, _HEAD, i)
    w[0] = np.uint32(x)
    for t in range(1, m):
        i += _U1
        x ^= row[_HEAD + _ctz(i)]  # Gray code: g(i) = g(i - 1) ^ 2**ctz(i)
        w[t] = np.uint32(x)
    if not scramble:
        for t in range(m):
            u[t] = np.float64(w[t]) * 2.0**-32
        return
    key, low = dimension_keys(seed, row[0], row[1])
    mul = _u32((key >> _S16) | np.uint32(1))
    for t in range(m):
        y = owen_scramble(w[t], key, mul)
        lo = _hash32(_u32(y ^ low))  # the digits below the 32nd: random, fixed per point
        u[t] = _u53((np.uint64(y) << _U32) | np.uint64(lo))


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def draw_sobol(fns, codes, params, tables, words, is_random, src, shift, cidx, chol, seed, s0, m,
               xs, z0, zk, logw, u, wscr, zb, zt, idx):
    """Scrambled Sobol' points: each random input's uniforms from its dimension
    (:func:`fill_sobol`), then the path of plain Monte Carlo's
    (:func:`engine.core.sampling.uniform_columns`, the copula). ``words`` is the sampler's
    table uint64[J, 34]; ``shift`` and ``logw`` unused, ``wscr`` holds the unscrambled
    coordinates."""
    w = wscr.reshape(wscr.size)  # the Philox scratch, as uint32[2 * SUB] (>= m)
    for j in range(codes.shape[1]):
        if is_random[j]:
            fill_sobol(words[j], seed, s0, m, u, w, True)
            uniform_columns(fns, codes, params, tables, src, cidx, j, u, m, xs, z0, zb, zt, idx)
    if cidx.shape[0]:
        fns.copula(fns.sample_zp, codes, params, tables, src, shift, cidx, chol, z0, zk, m,
                   xs, zb, zt, idx)


@njit(cache=CACHE)
def _points(row, seed, first, n, scramble):
    out = np.empty(n)
    fill_sobol(row, seed, first, n, out, np.empty(max(n, 1), dtype=np.uint32), scramble)
    return out


def sobol_table(is_random: np.ndarray, replicate: int) -> np.ndarray:
    """uint64[J, 34]: the sampler's table (column 0 is filled with the stream words by the
    runner): the replicate, then the direction numbers of each input's dimension.

    Input j takes dimension j, random or not (a fixed input's dimension goes unused): which
    inputs are random must not move the others' dimensions, so that a sweep point that pins
    an input sees the same points as a quote of its pinned scenario (and as the other points:
    common random numbers)."""
    n_j = np.asarray(is_random).shape[0]
    table = np.zeros((n_j, _HEAD + SOBOL_BITS), dtype=np.uint64)
    table[:, 1] = np.uint64(replicate)
    table[:, _HEAD:] = direction_numbers(n_j)
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
