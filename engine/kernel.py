"""The fused numba kernel: sample -> evaluate -> fold into streaming accumulators.

Trials are never stored. Work is cut into *blocks* of :data:`BLOCK` trials at fixed global
positions (block b holds trials ``b*BLOCK .. (b+1)*BLOCK - 1``). Each block's float moments are
computed in trial order and merged across blocks strictly in block order, so the result does
not depend on how blocks are grouped into chunks, on the thread count or on the worker count:
a block is a pure function of (plan, seed, block index). Integer accumulators (hits, sketch
counts) are exact under any order, so they are kept per thread and summed afterwards (a shared
``hist[i] += 1`` across ``prange`` iterations would lose counts).

Accumulators per (point, output):
- per block: n, mean, M2 (shifted sums, then Chan's formula), min, max  -> ``blk``
- non-finite values counted (never averaged into NaN)                   -> ``nonfinite``
- a log-linear histogram ("sketch") for quantiles                        -> ``hist``
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic

from distributions import sample_u

from . import _jit  # noqa: F401  (sets the cache folder before the decorators below run)
from .rng import uniform4

#: Trials per block: the fixed unit of float reduction order (part of the result's definition).
BLOCK = 4096

#: Outputs of the one-year model, in kernel order.
OUTPUTS = ("capex", "required_revenue", "required_annual_revenue", "ai_revenue", "gap",
           "spend_to_revenue")
N_OUT = len(OUTPUTS)
O_CAPEX, O_REQ, O_REQ_ANNUAL, O_REV, O_GAP, O_S2R = range(N_OUT)

# Fields of a moments record.
M_N, M_MEAN, M_M2, M_MIN, M_MAX = range(5)
N_MOM = 5

# Sketch: bins of relative width 2**-SK_MB on |x| in [2**SK_EMIN, 2**SK_EMAX), mirrored for
# negative values; |x| below 2**SK_EMIN falls in one "zero" bin, beyond 2**SK_EMAX in two
# overflow bins. A bin's midpoint is within a relative 2**-(SK_MB+1) of every value in it.
SK_MB = 10
SK_EMIN = -20
SK_EMAX = 44
SK_NPOS = (SK_EMAX - SK_EMIN) << SK_MB
SK_NBINS = 2 * SK_NPOS + 3
SK_ZERO = SK_NPOS + 1
SK_REL_ERROR = 2.0 ** -(SK_MB + 1)
SK_ABS_ZERO = 2.0 ** SK_EMIN

DEPRECIATION_CODES = {"straight-line": 0, "generational": 1}


@intrinsic
def _float_bits(typingctx, x):
    """Reinterpret a float64's bits as int64 (a no-op bitcast in LLVM)."""
    if not (isinstance(x, types.Float) and x.bitwidth == 64):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@njit(inline="always")
def sketch_bin(v: float) -> int:
    """Sketch bin of a finite value (monotone in v)."""
    a = abs(v)
    if a < 2.0**SK_EMIN:
        return SK_ZERO
    if a >= 2.0**SK_EMAX:
        return 0 if v < 0.0 else SK_NBINS - 1
    bits = _float_bits(a)
    e = (bits >> 52) - 1023
    idx = ((e - SK_EMIN) << SK_MB) | ((bits >> (52 - SK_MB)) & ((1 << SK_MB) - 1))
    if v < 0.0:
        return SK_NPOS - idx
    return SK_NPOS + 2 + idx


def sketch_bin_bounds() -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper value of every sketch bin (overflow bins are unbounded, zero bin spans
    ±2**SK_EMIN)."""
    idx = np.arange(SK_NPOS)
    e = SK_EMIN + (idx >> SK_MB)
    j = idx & ((1 << SK_MB) - 1)
    lo_mag = np.ldexp(1.0 + j / 2.0**SK_MB, e)
    hi_mag = np.ldexp(1.0 + (j + 1) / 2.0**SK_MB, e)
    lower = np.empty(SK_NBINS)
    upper = np.empty(SK_NBINS)
    lower[0], upper[0] = -np.inf, -(2.0**SK_EMAX)
    lower[1:SK_NPOS + 1] = -hi_mag[::-1]
    upper[1:SK_NPOS + 1] = -lo_mag[::-1]
    lower[SK_ZERO], upper[SK_ZERO] = -(2.0**SK_EMIN), 2.0**SK_EMIN
    lower[SK_NPOS + 2:SK_NBINS - 1] = lo_mag
    upper[SK_NPOS + 2:SK_NBINS - 1] = hi_mag
    lower[-1], upper[-1] = 2.0**SK_EMAX, np.inf
    return lower, upper


@njit(inline="always")
def one_year_model(x, depreciation: int, rev0: int, out) -> bool:
    """Cahn's chain for one trial (DESIGN.md §1); writes `out`, returns whether revenue covers.

    ``x`` = [gpu_spend, energy_ratio, margin, life_or_generation_years, cost_of_capital,
    (perf_per_dollar_gain,) revenue_1, ..., revenue_n]; revenues start at index ``rev0``.
    """
    g = x[0]
    capex = g * (1.0 + x[1])
    keep = 1.0 - x[2]  # share of revenue left after the end user's gross margin
    r = x[4]
    if depreciation == 0:
        life = x[3]
        if r == 0.0:
            charge_rate = 1.0 / life
        else:
            # capital recovery factor r / (1 - (1+r)^-L), written to stay accurate for small r
            charge_rate = r / -math.expm1(-life * math.log1p(r))
    else:
        charge_rate = r + math.log(x[5]) / x[3]
    revenue = 0.0
    for i in range(rev0, x.shape[0]):
        revenue += x[i]
    required_annual = capex * charge_rate / keep
    out[O_CAPEX] = capex
    out[O_REQ] = capex / keep
    out[O_REQ_ANNUAL] = required_annual
    out[O_REV] = revenue
    out[O_GAP] = required_annual - revenue
    out[O_S2R] = g / revenue if revenue != 0.0 else math.inf
    return revenue >= required_annual


#: Trials per sub-block: the structure-of-arrays unit inside a block (fits in L1 cache).
SUB = 128


@njit(inline="always")
def _fill_uniforms(seed, stream, first, m, purpose, u):
    """u[0:m] = uniforms of trials first .. first+m-1 (first is a multiple of 4)."""
    g0 = first // 4
    for g in range((m + 3) // 4):
        u0, u1, u2, u3 = uniform4(seed, stream, np.uint64(g0 + g), purpose)
        i = 4 * g
        u[i] = u0
        if i + 1 < m:
            u[i + 1] = u1
        if i + 2 < m:
            u[i + 2] = u2
        if i + 3 < m:
            u[i + 3] = u3


@njit(inline="always")
def _model_block(xs, m, depreciation, rev0, outs, cover):
    """The one-year model over m trials held as columns xs[input, trial]."""
    n_in = xs.shape[0]
    for i in range(m):
        g = xs[0, i]
        capex = g * (1.0 + xs[1, i])
        keep = 1.0 - xs[2, i]
        r = xs[4, i]
        if depreciation == 0:
            if r == 0.0:
                charge_rate = 1.0 / xs[3, i]
            else:
                charge_rate = r / -math.expm1(-xs[3, i] * math.log1p(r))
        else:
            charge_rate = r + math.log(xs[5, i]) / xs[3, i]
        revenue = 0.0
        for j in range(rev0, n_in):
            revenue += xs[j, i]
        required_annual = capex * charge_rate / keep
        outs[O_CAPEX, i] = capex
        outs[O_REQ, i] = capex / keep
        outs[O_REQ_ANNUAL, i] = required_annual
        outs[O_REV, i] = revenue
        outs[O_GAP, i] = required_annual - revenue
        outs[O_S2R, i] = g / revenue if revenue != 0.0 else math.inf
        cover[i] = revenue >= required_annual


@njit(parallel=True, error_model="numpy", cache=True)
def run_blocks(codes, params, tables, streams, is_random, depreciation, rev0, seed, purpose,
               n_trials, first_block, n_blocks, chunk_blocks, blk, hits, nonfinite, hist):
    """Simulate blocks ``first_block .. first_block + n_blocks - 1`` (trials < n_trials).

    Parameters
    ----------
    codes : int64[P, J]; params : float64[P, J, NPAR]; tables : float64[...]
        Packed distributions per sweep point P and input J (see ``distributions.pack``).
    streams : uint64[J]
        Counter-based stream of each input (a hash of its name).
    is_random : bool[J]
        Whether input j needs a uniform (False when it is fixed at every point).
    depreciation, rev0 : int
        Model options (see :func:`one_year_model`).
    seed, purpose : uint64
        Generator key word and counter word (0 for the main run).
    blk : float64[n_blocks, P, N_OUT, N_MOM]; hits : int64[n_blocks, P];
    nonfinite : int64[n_blocks, P, N_OUT]
        Per-block outputs (overwritten).
    hist : int64[n_threads, P, N_OUT, SK_NBINS]
        Per-thread sketch counts (added to; exact under any order).

    Within a block, trials are processed in sub-blocks of SUB as columns (structure of
    arrays): the uniforms of one input, then its quantile transform, then the model, then the
    reductions, each a tight loop the compiler can pipeline.
    """
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    n_chunks = (n_blocks + chunk_blocks - 1) // chunk_blocks
    for c in prange(n_chunks):
        tid = numba.get_thread_id()
        u = np.empty(SUB)
        xs = np.empty((n_points, n_in, SUB))
        outs = np.empty((N_OUT, SUB))
        cover = np.empty(SUB, dtype=np.bool_)
        acc = np.empty((n_points, N_OUT, 5))  # shift, s1, s2, min, max
        cnt = np.empty((n_points, N_OUT), dtype=np.int64)
        bad = np.empty((n_points, N_OUT), dtype=np.int64)
        # inputs fixed at every point: set once per chunk
        for j in range(n_in):
            if not is_random[j]:
                for p in range(n_points):
                    v = sample_u(codes[p, j], params[p, j], 0.5, tables)
                    for i in range(SUB):
                        xs[p, j, i] = v
        b_end = min((c + 1) * chunk_blocks, n_blocks)
        for b in range(c * chunk_blocks, b_end):
            gb = first_block + b
            t0 = gb * BLOCK
            t1 = min(t0 + BLOCK, n_trials)
            cnt[:, :] = 0
            bad[:, :] = 0
            h = np.int64(0)
            for p in range(n_points):
                hits[b, p] = 0
            for s0 in range(t0, t1, SUB):
                m = min(SUB, t1 - s0)
                for j in range(n_in):
                    if is_random[j]:
                        _fill_uniforms(seed, streams[j], s0, m, purpose, u)
                        for p in range(n_points):
                            cd = codes[p, j]
                            pr = params[p, j]
                            for i in range(m):
                                xs[p, j, i] = sample_u(cd, pr, u[i], tables)
                for p in range(n_points):
                    _model_block(xs[p], m, depreciation, rev0, outs, cover)
                    h = 0
                    for i in range(m):
                        h += cover[i]
                    hits[b, p] += h
                    for o in range(N_OUT):
                        _reduce_row(outs[o], m, acc[p, o], cnt[p], bad[p], o, hist[tid, p, o])
            for p in range(n_points):
                for o in range(N_OUT):
                    nonfinite[b, p, o] = bad[p, o]
                    _finalise(blk[b, p, o], acc[p, o], cnt[p, o])


@njit(inline="always")
def _reduce_row(v, m, a, cnt, bad, o, hrow):
    """Fold v[0:m] into running shifted sums a = [shift, s1, s2, min, max] and the sketch."""
    for i in range(m):
        x = v[i]
        if not math.isfinite(x):
            bad[o] += 1
            continue
        if cnt[o] == 0:
            a[0] = x
            a[1] = 0.0
            a[2] = 0.0
            a[3] = x
            a[4] = x
        d = x - a[0]
        a[1] += d
        a[2] += d * d
        cnt[o] += 1
        if x < a[3]:
            a[3] = x
        if x > a[4]:
            a[4] = x
        hrow[sketch_bin(x)] += 1


@njit(inline="always")
def _finalise(rec, a, n):
    """Turn a block's shifted sums into its moments record (n, mean, M2, min, max)."""
    rec[M_N] = n
    if n == 0:
        rec[M_MEAN] = 0.0
        rec[M_M2] = 0.0
        rec[M_MIN] = math.inf
        rec[M_MAX] = -math.inf
    else:
        mean_d = a[1] / n
        rec[M_MEAN] = a[0] + mean_d
        rec[M_M2] = max(a[2] - a[1] * mean_d, 0.0)
        rec[M_MIN] = a[3]
        rec[M_MAX] = a[4]


@njit(cache=True)
def merge_moments(total, blk, n_blocks):
    """Fold per-block moment records into `total` strictly in block order (Chan et al.).

    total : float64[P, N_OUT, N_MOM] (updated in place); blk : float64[n_blocks, P, N_OUT, N_MOM]
    """
    for b in range(n_blocks):
        for p in range(total.shape[0]):
            for o in range(total.shape[1]):
                nb = blk[b, p, o, M_N]
                if nb == 0.0:
                    continue
                na = total[p, o, M_N]
                if na == 0.0:
                    for k in range(N_MOM):
                        total[p, o, k] = blk[b, p, o, k]
                    continue
                n = na + nb
                delta = blk[b, p, o, M_MEAN] - total[p, o, M_MEAN]
                total[p, o, M_MEAN] += delta * (nb / n)
                total[p, o, M_M2] += blk[b, p, o, M_M2] + delta * delta * (na * nb / n)
                total[p, o, M_N] = n
                total[p, o, M_MIN] = min(total[p, o, M_MIN], blk[b, p, o, M_MIN])
                total[p, o, M_MAX] = max(total[p, o, M_MAX], blk[b, p, o, M_MAX])


@njit(cache=True)
def trace_trials(codes, params, tables, streams, is_random, depreciation, rev0, seed, purpose,
                 first, n):
    """Inputs and outputs of trials ``first .. first+n-1`` of point 0, recomputed one by one.

    The same sampling and model functions as :func:`run_blocks`, without reductions: any trial
    can be recomputed alone (for tests, debugging and the NumPy cross-check).
    """
    n_in = codes.shape[1]
    xs = np.empty((n, n_in))
    outs = np.empty((n, N_OUT))
    covers = np.empty(n, dtype=np.bool_)
    out = np.empty(N_OUT)
    for i in range(n):
        trial = first + i
        grp = trial // 4
        for j in range(n_in):
            u = 0.5
            if is_random[j]:
                u4 = uniform4(seed, streams[j], np.uint64(grp), purpose)
                u = u4[trial % 4]
            xs[i, j] = sample_u(codes[0, j], params[0, j], u, tables)
        covers[i] = one_year_model(xs[i], depreciation, rev0, out)
        outs[i] = out
    return xs, outs, covers
