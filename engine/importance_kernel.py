"""Importance sampling kernel: the one-year model with every input's normal score shifted.

Every input is sampled through its quantile function at a normal score (``sample_z``). Plain
Monte Carlo draws the score z of input j from N(0, 1); here it is drawn from N(mu_j, 1)::

    u = uniform(seed, stream_j, trial, purpose)      # the engine's counter-based uniform
    z_j = ndtri(u) + mu[p, j]                        # shifted normal score
    x_j = F_j^-1(Phi(z_j))                           # sample_z: accurate in both tails
    w = exp(sum_j (-mu_j z_j + mu_j^2 / 2))           # phi(z) / phi(z - mu): the likelihood ratio

so that ``E_shifted[w f(x)] = E_nominal[f(x)]`` for any f, and ``w * covers`` is an unbiased
estimate of P(cover) whose variance is small when mu points at the covering region.

The kernel has :func:`engine.kernel.run_blocks`' calling convention, so
:func:`engine.simulate.run_plan` drives it (waves, progress, stop requests, time limits,
monitors) and merges its per-block records in block order. Its "outputs" are the sums the
estimator needs, each as a moments record per block (n, mean, M2, min, max; floats, so they
are computed in trial order within a block and merged in block order: the result does not
depend on threads or chunk sizes):

====  ==================  ===================================================================
 0    weighted_cover      w * covers: mean = the estimate of P(cover); M2 -> its standard error
 1    weight              w: mean ~ 1 (a check of the likelihood ratio); Kish's effective size
 2+j  cover_z.<input j>   w * covers * z_j (only when ``blk`` has room for them): divided by
                          the mean of output 0, E[z_j | covers] under the *nominal* inputs,
                          the cross-entropy update of the shift (engine.precision)
====  ==================  ===================================================================

``hits`` counts the trials whose shifted draw covers (unweighted). No quantile sketch is kept
(``hist`` is left untouched): quantiles of a shifted sample describe the shifted distribution.

Import surface from the rest of the engine (kept small on purpose; names may move):
``engine.kernel``: BLOCK, _model_block, _finalise, _fold_into, set_fixed_columns, N_OUT;
``engine.rng``: uniform4; ``distributions``: ndtri, sample_z.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from distributions import ndtri, sample_z
from distributions._jitcache import CACHE

from .kernel import BLOCK, N_OUT, _finalise, _fold_into, _model_block, set_fixed_columns
from .rng import uniform4

#: Outputs always written (see the module docstring); cover_z.<input> follow when asked for.
IS_OUTPUTS = ("weighted_cover", "weight")
O_WCOVER, O_WEIGHT = 0, 1
N_IS_BASE = 2

#: Trials per sub-block (structure of arrays inside a block).
_SUB = 128


@njit(parallel=True, error_model="numpy", cache=CACHE)
def run_importance_blocks(codes, params, tables, streams, is_random, depreciation, rev0, shift,
                          seed, purpose, n_trials, first_block, n_blocks, chunk_blocks, blk,
                          hits, nonfinite, hist):
    """Importance-sampled blocks ``first_block .. first_block + n_blocks - 1``.

    Parameters
    ----------
    codes, params, tables, streams, is_random, depreciation, rev0
        As for :func:`engine.kernel.run_blocks` (a one-year plan).
    shift : float64[P, J]
        The normal-score shift mu of every point and input (0 for an input that is fixed).
    seed, purpose : uint64
        Generator key word and counter word.
    n_trials, first_block, n_blocks, chunk_blocks
        As for ``run_blocks``.
    blk : float64[n_blocks, P, O, N_MOM]
        Per-block moments records (overwritten); O is 2, or 2 + J to also get the cover_z sums.
    hits : int64[n_blocks, P]; nonfinite : int64[n_blocks, P, O]
        Per-block counts (overwritten).
    hist
        Unused (no sketch); kept for the calling convention.
    """
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    n_o = blk.shape[2]
    with_z = n_o > N_IS_BASE
    n_chunks = (n_blocks + chunk_blocks - 1) // chunk_blocks
    for c in prange(n_chunks):
        z0 = np.empty((n_in, _SUB))
        xs = np.empty((n_points, n_in, _SUB))
        rate = np.empty(_SUB)
        rev = np.empty(_SUB)
        own = np.empty((n_points, n_in), dtype=np.int64)  # every point reads its own columns
        for p in range(n_points):
            own[p, :] = p
        outs = np.empty((N_OUT, _SUB))
        cover = np.empty(_SUB, dtype=np.bool_)
        logw = np.empty(_SUB)
        acc = np.empty((n_points, n_o, 5))
        cnt = np.empty((n_points, n_o), dtype=np.int64)
        bad = np.empty((n_points, n_o), dtype=np.int64)
        set_fixed_columns(codes, params, tables, is_random, own, xs)
        b_end = min((c + 1) * chunk_blocks, n_blocks)
        for b in range(c * chunk_blocks, b_end):
            t0 = (first_block + b) * BLOCK
            t1 = min(t0 + BLOCK, n_trials)
            cnt[:, :] = 0
            bad[:, :] = 0
            for p in range(n_points):
                hits[b, p] = 0
            for s0 in range(t0, t1, _SUB):
                m = min(_SUB, t1 - s0)
                # nominal normal scores of the random inputs (shared by every point)
                for j in range(n_in):
                    if is_random[j]:
                        g0 = s0 // 4
                        for g in range((m + 3) // 4):
                            u0, u1, u2, u3 = uniform4(seed, streams[j], np.uint64(g0 + g),
                                                      purpose)
                            i = 4 * g
                            z0[j, i] = ndtri(u0)
                            if i + 1 < m:
                                z0[j, i + 1] = ndtri(u1)
                            if i + 2 < m:
                                z0[j, i + 2] = ndtri(u2)
                            if i + 3 < m:
                                z0[j, i + 3] = ndtri(u3)
                for p in range(n_points):
                    for i in range(m):
                        logw[i] = 0.0
                    for j in range(n_in):
                        if is_random[j]:
                            cd = codes[p, j]
                            pr = params[p, j]
                            mu = shift[p, j]
                            half = 0.5 * mu * mu
                            for i in range(m):
                                z = z0[j, i] + mu
                                xs[p, j, i] = sample_z(cd, pr, z, tables)
                                logw[i] += half - mu * z
                    _model_block(xs, own[p], m, depreciation, rev0, False, rate, True, rev,
                                 True, outs, cover)
                    h = 0
                    a = acc[p]
                    for i in range(m):
                        w = math.exp(logw[i])
                        wc = w if cover[i] else 0.0
                        h += cover[i]
                        _fold_into(a[O_WCOVER], cnt[p], bad[p], O_WCOVER, wc)
                        _fold_into(a[O_WEIGHT], cnt[p], bad[p], O_WEIGHT, w)
                        if with_z:
                            for j in range(n_in):
                                if is_random[j]:
                                    o = N_IS_BASE + j
                                    _fold_into(a[o], cnt[p], bad[p], o, wc * (z0[j, i] + shift[p, j]))
                    hits[b, p] += h
            for p in range(n_points):
                for o in range(n_o):
                    nonfinite[b, p, o] = bad[p, o]
                    _finalise(blk[b, p, o], acc[p, o], cnt[p, o])


@njit(error_model="numpy", cache=CACHE)
def evaluate_at_z(codes, params, tables, is_random, depreciation, rev0, z):
    """The one-year model of point 0 at given normal scores (no randomness).

    Parameters
    ----------
    z : float64[n, J]
        Normal score of every input in every row (ignored for inputs that are not random).

    Returns
    -------
    outs : float64[n, N_OUT]
        The model's outputs (``engine.kernel.OUTPUTS`` order).
    covers : bool[n]

    The same quantile functions (``sample_z``) and model block as the kernels: the shift
    search evaluates exactly the model that is sampled.
    """
    n = z.shape[0]
    n_in = codes.shape[1]
    xs = np.empty((1, n_in, n))
    for j in range(n_in):
        for i in range(n):
            zz = z[i, j] if is_random[j] else 0.0
            xs[0, j, i] = sample_z(codes[0, j], params[0, j], zz, tables)
    outs_t = np.empty((N_OUT, n))
    covers = np.empty(n, dtype=np.bool_)
    _model_block(xs, np.zeros(n_in, dtype=np.int64), n, depreciation, rev0, False,
                 np.empty(n), True, np.empty(n), True, outs_t, covers)
    return outs_t.T.copy(), covers
