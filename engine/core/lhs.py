"""Latin hypercube sampling as a sampler of the runner, counter-based.

A replicate of ``n = 2**k`` points gives each random input one point in each of its n equal
intervals: the value of point i of input j is ``(pi_j(i) + v_ij) / n``, with ``pi_j`` a
random permutation of ``0 .. n - 1`` and ``v_ij`` a random jitter in [0, 1). Both are
computed from the index i alone, so any chunk is a pure function of (plan, seed, replicate,
block range) and results are bit-identical for any thread count or chunk size:

- ``pi_j`` is A. Kensler's hash permutation ("Correlated Multi-Jittered Sampling", Pixar
  technical memo 13-01, 2013) on k bits: each step (xor with a constant, multiplication by an
  odd number, xor with a right shift of the masked bits) is a bijection of the low k bits,
  so with ``n = 2**k`` no cycle walking is needed. Its key is the input's dimension key
  (:func:`engine.core.qmc.dimension_keys`: one Philox block of (replicate, stream word) under
  the seed), so an input keeps its permutation when others are added.
- ``v_ij`` is 32 bits hashed from i and the input's second key, below the k bits of the
  stratum; the 64 bits are read as the engine reads Philox's (``rng.uniform53``), strictly
  inside (0, 1).

The uniforms then take plain Monte Carlo's path (quantile transforms, the copula). Replicates
and error bars: :mod:`engine.analyses.qmc`.

Dependency rule: numpy, numba, ``distributions`` and :mod:`engine.core` only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from distributions._jitcache import CACHE, stable_identity

from .qmc import _hash32, _u32, dimension_keys
from .rng import _u53
from .sampling import Sampler, uniform_columns, weigh_plain

_U32 = np.uint64(32)
_U64 = np.uint64(64)
# shift counts as unsigned (numba would make uint32 (op) int64 signed)
_S = tuple(np.uint32(k) for k in range(32))


@njit(inline="always")
def permute(i, mask, p):
    """Kensler's permutation of ``0 .. mask`` (mask = 2**k - 1) with key p (uint32): the
    image of i (uint32)."""
    w = mask
    i = _u32(i ^ p)
    i = _u32(i * np.uint32(0xE170893D))
    i = _u32(i ^ (p >> _S[16]))
    i = _u32(i ^ ((i & w) >> _S[4]))
    i = _u32(i ^ (p >> _S[8]))
    i = _u32(i * np.uint32(0x0929EB3F))
    i = _u32(i ^ (p >> _S[23]))
    i = _u32(i ^ ((i & w) >> _S[1]))
    i = _u32(i * _u32(np.uint32(1) | (p >> _S[27])))
    i = _u32(i * np.uint32(0x6935FA69))
    i = _u32(i ^ ((i & w) >> _S[11]))
    i = _u32(i * np.uint32(0x74DCB303))
    i = _u32(i ^ ((i & w) >> _S[2]))
    i = _u32(i * np.uint32(0x9E501CC3))
    i = _u32(i ^ ((i & w) >> _S[2]))
    i = _u32(i * np.uint32(0xC860A3DF))
    i = _u32(i & w)
    i = _u32(i ^ (i >> _S[5]))
    return _u32((i + p) & w)


@njit(inline="always")
def fill_lhs(row, seed, first, m, u):
    """``u[0:m]`` = the uniforms of points ``first .. first + m - 1`` of one input; ``row``
    is its row of the sampler's table: stream word, replicate, k (n = 2**k points)."""
    key, low = dimension_keys(seed, row[0], row[1])
    k = np.uint64(row[2])
    mask = _u32((np.uint64(1) << k) - np.uint64(1))
    for t in range(m):
        i = _u32(np.uint64(first) + np.uint64(t))
        cell = np.uint64(permute(i, mask, key))
        jit = np.uint64(_hash32(_u32(_hash32(_u32(i ^ low)) ^ key)))
        # the stratum's k bits on top, then 32 jitter bits (k = 0: the jitter alone)
        bits = (jit << _U32) if k == 0 else \
            (cell << (_U64 - k)) | (jit << (_U32 - k))
        u[t] = _u53(bits)


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def draw_lhs(fns, codes, params, tables, words, is_random, src, shift, cidx, chol, seed, s0, m, xs,
             z0, zk, logw, u, wscr, zb, zt, idx):
    """Latin hypercube points: each random input's uniforms (:func:`fill_lhs`), then plain
    Monte Carlo's path (:func:`engine.core.sampling.uniform_columns`, the copula).
    ``words`` is the sampler's table uint64[J, 3]; ``shift``, ``logw`` and ``wscr``
    unused."""
    for j in range(codes.shape[1]):
        if is_random[j]:
            fill_lhs(words[j], seed, s0, m, u)
            uniform_columns(fns, codes, params, tables, src, cidx, j, u, m, xs, z0, zb, zt, idx)
    if cidx.shape[0]:
        fns.copula(fns.sample_zp, codes, params, tables, src, shift, cidx, chol, z0, zk, m,
                   xs, zb, zt, idx)


@njit(cache=CACHE)
def _points(row, seed, first, n):
    out = np.empty(n)
    fill_lhs(row, seed, first, n, out)
    return out


def lhs_table(n_inputs: int, replicate: int, n: int) -> np.ndarray:
    """uint64[J, 3]: the sampler's table (column 0 is filled with the stream words by the
    runner): the replicate and k, for replicates of ``n = 2**k`` points."""
    k = int(n).bit_length() - 1
    if n < 1 or n != 1 << k or k > 32:
        raise ValueError(f"a Latin hypercube replicate needs 2**k points, k <= 32; got {n}")
    table = np.zeros((n_inputs, 3), dtype=np.uint64)
    table[:, 1] = np.uint64(replicate)
    table[:, 2] = np.uint64(k)
    return table


def lhs(n_points: int, is_random: np.ndarray, replicate: int, n: int) -> Sampler:
    """Replicate ``replicate`` of the Latin hypercube sampler with ``n = 2**k`` points, for
    a plan of ``n_points`` points whose inputs are random where ``is_random``."""
    n_j = len(is_random)
    return Sampler("lhs", draw_lhs, weigh_plain, np.zeros((n_points, n_j)),
                   table=lhs_table(n_j, replicate, n))


def points(n: int, d: int, *, seed: int = 0, replicate: int = 0, streams=None,
           first: int = 0, count: int | None = None) -> np.ndarray:
    """float64[count, d]: points ``first .. first + count - 1`` (default all n) of a Latin
    hypercube of ``n = 2**k`` points in d dimensions, as the kernel makes them (tests).
    ``streams`` are the dimensions' stream words (default 0, 1, ..., d - 1)."""
    count = n - first if count is None else count
    if not (0 <= first and first + count <= n):
        raise ValueError(f"points need 0 <= first and first + count <= n, got {first}, {count}")
    table = lhs_table(d, replicate, n)
    table[:, 0] = np.arange(d, dtype=np.uint64) if streams is None else \
        np.asarray(streams, dtype=np.uint64)
    out = np.empty((count, d))
    for j in range(d):
        out[:, j] = _points(table[j], np.uint64(seed), first, count)
    return out
