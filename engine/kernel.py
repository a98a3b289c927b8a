"""The fused numba kernel: sample -> evaluate -> fold into streaming accumulators.

Trials are never stored. Work is cut into *blocks* of :data:`BLOCK` trials at fixed global
positions (block b holds trials ``b*BLOCK .. (b+1)*BLOCK - 1``). Each block's float moments are
computed in trial order and merged across blocks strictly in block order, so the result does
not depend on how blocks are grouped into chunks, on the thread count or on the worker count:
a block is a pure function of (plan, seed, block index). Integer accumulators (hits, sketch
counts) are exact under any order, so they are kept per thread and summed afterwards (a shared
``hist[i] += 1`` across threads would lose counts).

Accumulators per (point, output):
- per block: n, mean, M2 (shifted sums, then Chan's formula), min, max  -> ``blk``
- non-finite values counted (never averaged into NaN)                   -> ``nonfinite``
- a log-linear histogram ("sketch") for quantiles                        -> ``hist``
"""

from __future__ import annotations

import itertools
import math
import mmap
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from distributions import sample_u
from distributions._kernels import AVX512, addr, offset, sample_block_p
from distributions._jitcache import CACHE

from .rng import _PURPOSE_MUL, fill_uniforms, stream_word, uniform2

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


def _first_equal(keys: np.ndarray) -> np.ndarray:
    """For each row of keys[P, K], the index of the first row equal to it (bitwise)."""
    if keys.shape[1] == 0:
        return np.zeros(keys.shape[0], dtype=np.int64)
    _, first, inverse = np.unique(np.ascontiguousarray(keys), axis=0, return_index=True,
                                  return_inverse=True)
    return first[inverse.reshape(-1)].astype(np.int64)


def output_sources(codes: np.ndarray, params: np.ndarray, rev0: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which earlier sweep point already has the same values, per input, charge and output.

    Points of a sweep mostly share an input's distribution with other points. With common
    random numbers, equal distributions (code and parameters, bit for bit) give the same values
    trial by trial, and an output whose inputs all have the same values is the same numbers:
    the kernel computes them once, at the first such point, and reuses them. This is what makes
    a one-pass sweep cheap.

    Parameters
    ----------
    codes : int64[P, J]; params : float64[P, J, NPAR]
        The plan's packed distributions.
    rev0 : int
        Index of the first revenue input (inputs before it feed the capital charge).

    Returns
    -------
    src : int64[P, J]
        The first point whose input j has point p's distribution (p itself if none before).
    rate_src : int64[P]
        The first point with the same capital-charge inputs (life, cost of capital, gain).
    out_src : int64[P, N_OUT]
        The first point whose output o is, trial by trial, the same as point p's.
    """
    n_p, n_j = codes.shape
    bits = np.ascontiguousarray(params).view(np.int64).reshape(n_p, n_j, -1)
    src = np.empty((n_p, n_j), dtype=np.int64)
    for j in range(n_j):
        src[:, j] = _first_equal(np.concatenate([codes[:, j, None], bits[:, j]], axis=1))
    rev = list(range(rev0, n_j))
    deps = {O_CAPEX: [0, 1], O_REQ: [0, 1, 2], O_REQ_ANNUAL: list(range(rev0)), O_REV: rev,
            O_GAP: list(range(n_j)), O_S2R: [0] + rev}
    out_src = np.empty((n_p, N_OUT), dtype=np.int64)
    for o, js in deps.items():
        out_src[:, o] = _first_equal(src[:, js])
    rate_src = _first_equal(src[:, 3:rev0])
    return src, rate_src, out_src


_LAST_SOURCES: list = []  # [(codes, params, rev0, result)]: the plan run last


def plan_sources(codes: np.ndarray, params: np.ndarray, rev0: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`output_sources` of a plan's arrays, worked out once per plan, not once per wave:
    a run calls the kernel with the same (never modified) arrays wave after wave."""
    if _LAST_SOURCES:
        c, p, r, res = _LAST_SOURCES[0]
        if c is codes and p is params and r == rev0:
            return res
    res = output_sources(codes, params, rev0)
    _LAST_SOURCES[:] = [(codes, params, rev0, res)]
    return res


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


def sketch_bin_of(v: float) -> int:
    """:func:`sketch_bin` from Python, without compiling it (the same arithmetic on the same
    bits; a test holds the two equal)."""
    a = abs(float(v))
    if a < 2.0**SK_EMIN:
        return SK_ZERO
    if a >= 2.0**SK_EMAX:
        return 0 if v < 0.0 else SK_NBINS - 1
    bits = int(np.float64(a).view(np.int64))
    e = (bits >> 52) - 1023
    idx = ((e - SK_EMIN) << SK_MB) | ((bits >> (52 - SK_MB)) & ((1 << SK_MB) - 1))
    return SK_NPOS - idx if v < 0.0 else SK_NPOS + 2 + idx


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


@njit(error_model="numpy")
def charge_rate(depreciation: int, life_or_years: float, r: float, gain: float) -> float:
    """Annual capital charge per $1 of capex (docs/models.md): CRF(r, L), or r + ln(gain)/years.

    IEEE semantics (error_model="numpy"): the same value whether called by the kernel or by
    ``engine.trace``, never an exception.
    """
    if depreciation == 0:
        if r == 0.0:
            return 1.0 / life_or_years
        # capital recovery factor r / (1 - (1+r)^-L), written to stay accurate for small r
        d = -math.expm1(-life_or_years * math.log1p(r))
        if d == 0.0:  # L r underflows (e.g. r subnormal): the r -> 0 limit, 1/L
            return 1.0 / life_or_years
        return r / d
    return r + math.log(gain) / life_or_years


@njit(inline="always")
def one_year_model(x, depreciation: int, rev0: int, out) -> bool:
    """Cahn's chain for one trial (docs/models.md); writes `out`, returns whether revenue covers.

    ``x`` = [gpu_spend, energy_ratio, margin, life_or_generation_years, cost_of_capital,
    (perf_per_dollar_gain,) revenue_1, ..., revenue_n]; revenues start at index ``rev0``.
    The scalar statement of the model: :func:`_model_block` is the same arithmetic on columns.
    """
    g = x[0]
    capex = g * (1.0 + x[1])
    keep = 1.0 - x[2]  # share of revenue left after the end user's gross margin
    gain = x[5] if depreciation == 1 else 1.0
    rate = charge_rate(depreciation, x[3], x[4], gain)
    revenue = 0.0
    for i in range(rev0, x.shape[0]):
        revenue += x[i]
    required_annual = capex * rate / keep
    out[O_CAPEX] = capex
    out[O_REQ] = capex / keep
    out[O_REQ_ANNUAL] = required_annual
    out[O_REV] = revenue
    out[O_GAP] = required_annual - revenue
    out[O_S2R] = g / revenue if revenue != 0.0 else math.inf
    return revenue >= required_annual


#: Trials per sub-block: the structure-of-arrays unit inside a block (its columns stay in L1).
SUB = 256


@njit(inline="always")
def set_fixed_columns(codes, params, tables, is_random, src, xs):
    """xs[p, j, :] = the value of every input j fixed at every point (a kernel does this once
    per chunk), at the points that hold their own column (``src[p, j] == p``; see
    :func:`output_sources`, or an identity for kernels that share no column)."""
    for j in range(codes.shape[1]):
        if not is_random[j]:
            for p in range(codes.shape[0]):
                if src[p, j] == p:
                    v = sample_u(codes[p, j], params[p, j], 0.5, tables)
                    for i in range(xs.shape[2]):
                        xs[p, j, i] = v


@njit(inline="always")
def _model_block(xs, sp, m, depreciation, rev0, rate_fixed, rate, rate_new, rev, rev_new,
                 outs, cover):
    """The one-year model over m trials of one point, its inputs held as columns.

    Input j of this point is ``xs[sp[j], j, 0:m]`` (``sp``: the point's row of
    :func:`output_sources`' ``src``, so columns shared with an earlier point are read, not
    copied). ``rate`` and ``rev`` hold the capital charge and the revenue sum; they are
    computed here only when ``rate_new`` / ``rev_new`` (else an earlier point's are reused).
    Every output is computed with the operations of :func:`one_year_model`, in its order, so
    each trial's outputs are bitwise those of ``engine.trace``. The loops are branch-free
    (selects) and vectorise. ``rate_fixed``: life and cost of capital are fixed inputs, so the
    capital charge is one number.
    """
    n_in = xs.shape[1]
    if rate_new:
        q3, q4, q5 = sp[3], sp[4], sp[5] if depreciation == 1 else 0
        if rate_fixed:
            gain = xs[q5, 5, 0] if depreciation == 1 else 1.0
            c = charge_rate(depreciation, xs[q3, 3, 0], xs[q4, 4, 0], gain)
            for i in range(m):
                rate[i] = c
        else:
            for i in range(m):
                gain = xs[q5, 5, i] if depreciation == 1 else 1.0
                rate[i] = charge_rate(depreciation, xs[q3, 3, i], xs[q4, 4, i], gain)
    if rev_new:
        for i in range(m):
            rev[i] = 0.0
        for j in range(rev0, n_in):
            q = sp[j]
            for i in range(m):
                rev[i] += xs[q, j, i]
    q0, q1, q2 = sp[0], sp[1], sp[2]
    for i in range(m):
        g = xs[q0, 0, i]
        capex = g * (1.0 + xs[q1, 1, i])
        keep = 1.0 - xs[q2, 2, i]
        revenue = rev[i]
        required_annual = capex * rate[i] / keep
        outs[O_CAPEX, i] = capex
        outs[O_REQ, i] = capex / keep
        outs[O_REQ_ANNUAL, i] = required_annual
        outs[O_REV, i] = revenue
        outs[O_GAP, i] = required_annual - revenue
        outs[O_S2R, i] = g / revenue if revenue != 0.0 else math.inf
        cover[i] = revenue >= required_annual


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
        Generator key and purpose (0 for the main run); see ``engine.rng``.
    blk : float64[n_blocks, P, N_OUT, N_MOM]; hits : int64[n_blocks, P];
    nonfinite : int64[n_blocks, P, N_OUT]
        Per-block outputs (overwritten).
    hist : int64[n_threads, P, N_OUT, SK_NBINS]
        Per-thread sketch counts (added to; exact under any order).

    Within a block, trials are processed in sub-blocks of SUB as columns (structure of
    arrays): the uniforms of one input (vectorised Philox), then its quantile transform
    (``distributions.sample_block``: one dispatch, vectorised), then the model, then the
    reductions, each a tight loop.

    Chunks of ``chunk_blocks`` blocks run on ``numba.get_num_threads()`` Python threads, each
    calling the compiled :func:`_run_chunk` without the GIL. A Python function with the
    signature the numba kernel had, so callers are unchanged.
    """
    n_chunks = (n_blocks + chunk_blocks - 1) // chunk_blocks
    mix = (int(purpose) * int(_PURPOSE_MUL)) & 0xFFFFFFFFFFFFFFFF
    words = np.asarray(streams, dtype=np.uint64) ^ np.uint64(mix)  # rng.stream_word
    seed = np.uint64(seed)
    n_trials = int(n_trials)
    first_block = int(first_block)
    n_threads = min(numba.get_num_threads(), n_chunks)
    src, rate_src, out_src = plan_sources(codes, params, rev0)
    next_chunk = itertools.count()  # next() is atomic under the GIL: dynamic scheduling
    stop = []  # set when the caller is interrupted: workers take no further chunk

    def work(row):
        # Chunks are handed out one at a time, so a thread slowed by other load takes fewer;
        # which thread runs a chunk changes nothing but the (integer) sketch row it adds to.
        while not stop and (c := next(next_chunk)) < n_chunks:
            _run_chunk(codes, params, tables, words, is_random, depreciation, rev0, seed,
                       n_trials, first_block, c * chunk_blocks,
                       min((c + 1) * chunk_blocks, n_blocks), src, rate_src, out_src, blk,
                       hits, nonfinite, hist[row])

    if n_chunks == 0:  # nothing to run: compile (or load) the kernel only, as callers expect
        _run_chunk(codes, params, tables, words, is_random, depreciation, rev0, seed, n_trials,
                   first_block, 0, 0, src, rate_src, out_src, blk, hits, nonfinite, hist[0])
    elif n_threads <= 1:
        work(0)
    else:
        futures = [_pool().submit(work, row) for row in range(n_threads)]
        try:
            for f in futures:
                f.result()
        except BaseException:  # e.g. KeyboardInterrupt while waiting: let the workers finish
            stop.append(True)  # their current chunk only; the wave's results are discarded
            raise
    # An output computed at an earlier point (out_src) was not folded here: its block records
    # are that point's. Its sketch rows are left untouched (copying them every wave would
    # cost more than the fold saved): callers take them from that point (merge_sketch).
    ap, ao = np.nonzero(out_src != np.arange(out_src.shape[0])[:, None])
    if ap.size and n_blocks:
        blk[:n_blocks, ap, ao] = blk[:n_blocks, out_src[ap, ao], ao]
        nonfinite[:n_blocks, ap, ao] = nonfinite[:n_blocks, out_src[ap, ao], ao]


@njit(cache=CACHE)
def _merge_sketch(hist, moments, sources, out):
    """The run's sketch counts: the threads' rows summed, each over the bins it can have.

    Parameters
    ----------
    hist : int64[T, P, O, SK_NBINS]
        Per-thread sketch rows, as the kernel left them.
    moments : float64[P, O, N_MOM]
        The merged moments: a row's values lie in [min, max], so its counts lie in the bins
        ``sketch_bin(min) .. sketch_bin(max)`` and nothing else is read (most of a row's bins
        are never touched; summing them all would cost more than a sweep's kernel).
    sources : int64[P, O]
        The point whose rows hold output o of point p (p itself, or the earlier point the
        one-year kernel reused it from: see :func:`output_sources`). Only a point's own rows
        are summed: ``out[sources[p, o], o]`` is output o of point p.
    out : int64[P, O, SK_NBINS]
        Zeros; the result (added to).
    """
    n_t, n_p, n_o = hist.shape[:3]
    for p in range(n_p):
        for o in range(n_o):
            if moments[p, o, M_N] == 0.0 or sources[p, o] != p:
                continue
            q = p
            a = sketch_bin(moments[p, o, M_MIN])
            b = sketch_bin(moments[p, o, M_MAX]) + 1
            for t in range(n_t):
                for k in range(a, b):
                    out[p, o, k] += hist[t, q, o, k]


def sparse_zeros(shape: tuple[int, ...], dtype=np.int64) -> np.ndarray:
    """A zero array in fresh anonymous memory, in small pages: for sketch rows.

    A sketch row is 1 MiB of which a run touches a few scattered pages. numpy asks the kernel
    for transparent huge pages on large arrays, and then the first touch of any bin zeroes
    2 MiB: a sweep's sketches (points x outputs x threads rows) would cost seconds of system
    time and their full size in memory. Small pages cost only what is touched.
    """
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if size < 1 << 22 or not hasattr(mmap, "MADV_NOHUGEPAGE"):
        return np.zeros(shape, dtype=dtype)
    buf = mmap.mmap(-1, size)  # anonymous: zero-filled on first touch, freed with the array
    buf.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def merge_sketch(hist: np.ndarray, moments: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """The run's sketch counts int64[P, O, SK_NBINS]: the threads' rows summed, each over the
    bins it can have (see :func:`_merge_sketch`; rows reused from another point stay empty).

    The result is fresh anonymous memory (:func:`sparse_zeros`): pages of bins no value
    reached are never written, so a sweep's many mostly-empty rows cost address space, not
    memory or time (numba's np.zeros would write every one).
    """
    out = sparse_zeros(hist.shape[1:])
    _merge_sketch(hist, moments, sources, out)
    return out


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """Worker threads for :func:`run_blocks` (as many as numba may use; created once)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=numba.config.NUMBA_NUM_THREADS,
                                   thread_name_prefix="capexgap-kernel")
    return _POOL


# The work is this compiled function, one chunk per call, run without the GIL by the worker
# threads of run_blocks. Threads rather than numba's prange: a parallel=True kernel costs
# seconds more cold compile (numba's parfor passes outline and re-analyse the loop body), and
# a call costs microseconds next to a chunk's milliseconds of work.
@njit(error_model="numpy", nogil=True, cache=CACHE)
def _run_chunk(codes, params, tables, words, is_random, depreciation, rev0, seed, n_trials,
               first_block, b_start, b_end, src, rate_src, out_src, blk, hits, nonfinite, hist):
    """Blocks ``b_start .. b_end - 1`` of a run_blocks call (``hist``: this thread's rows).

    ``src``, ``rate_src``, ``out_src``: :func:`output_sources` of the plan. Whatever an
    earlier point already has (an input's column, the capital charge, the revenue sum, an
    output's reductions) is not computed again.
    """
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    rate_fixed = not (is_random[3] or is_random[4] or (depreciation == 1 and is_random[5]))
    n_par = params.shape[2]
    par_p = addr(params)
    tab_p = addr(tables)
    nk = tables.shape[1] - 2
    u = np.empty(SUB)
    wscr = np.empty((4, SUB // 2), dtype=np.uint32)
    zb = np.empty(SUB)
    zt = np.empty(SUB)
    idx = np.empty(SUB, dtype=np.int64)
    xs = np.empty((n_points, n_in, SUB))
    rates = np.empty((n_points, SUB))
    revs = np.empty((n_points, SUB))
    outs = np.empty((N_OUT, SUB))
    cover = np.empty(SUB, dtype=np.bool_)
    bins = np.empty((N_OUT, SUB), dtype=np.int64)
    st = np.zeros((5, 8))  # _reduce_point's scratch
    acc = np.empty((n_points, N_OUT, 5))  # shift, s1, s2, min, max
    cnt = np.empty((n_points, N_OUT), dtype=np.int64)
    bad = np.empty((n_points, N_OUT), dtype=np.int64)
    live = np.empty((n_points, N_OUT), dtype=np.bool_)
    for p in range(n_points):
        for o in range(N_OUT):
            live[p, o] = out_src[p, o] == p
    set_fixed_columns(codes, params, tables, is_random, src, xs)
    for b in range(b_start, b_end):
        t0 = (first_block + b) * BLOCK
        t1 = min(t0 + BLOCK, n_trials)
        cnt[:, :] = 0
        bad[:, :] = 0
        for p in range(n_points):
            hits[b, p] = 0
        for s0 in range(t0, t1, SUB):
            m = min(SUB, t1 - s0)
            for j in range(n_in):
                if is_random[j]:
                    fill_uniforms(seed, words[j], s0, m, u, wscr)
                    for p in range(n_points):
                        if src[p, j] != p:
                            continue  # the same column as an earlier point's
                        # pointers taken at the call: an array used only through a pointer
                        # taken earlier would be freed after its last use by name
                        sample_block_p(codes[p, j], offset(par_p, (p * n_in + j) * n_par),
                                       addr(u), m, tab_p, nk,
                                       offset(addr(xs), (p * n_in + j) * SUB), addr(zb),
                                       addr(idx), addr(zt))
            for p in range(n_points):
                rp = rate_src[p]
                qp = out_src[p, O_REV]
                _model_block(xs, src[p], m, depreciation, rev0, rate_fixed, rates[rp],
                             rp == p, revs[qp], qp == p, outs, cover)
                h = np.int64(0)
                for i in range(m):
                    h += cover[i]
                hits[b, p] += h
                _reduce_point(outs, m, acc[p], cnt[p], bad[p], hist[p], bins, live[p], st)
        for p in range(n_points):
            for o in range(N_OUT):
                nonfinite[b, p, o] = bad[p, o]
                _finalise(blk[b, p, o], acc[p, o], cnt[p, o])


@njit(inline="always")
def sketch_bins_row(v, m, bins):
    """bins[i] = sketch_bin(v[i]) for finite v[i], -1 for a non-finite one; branch-free, so the
    loop vectorises (the scalar sketch_bin mispredicts on the gap's sign)."""
    for i in range(m):
        x = v[i]
        a = abs(x)
        bits = _float_bits(a)
        e = (bits >> 52) - 1023
        idx = ((e - SK_EMIN) << SK_MB) | ((bits >> (52 - SK_MB)) & ((1 << SK_MB) - 1))
        neg = x < 0.0
        b = SK_NPOS - idx if neg else SK_NPOS + 2 + idx
        b = SK_ZERO if a < 2.0**SK_EMIN else b
        b = (0 if neg else SK_NBINS - 1) if a >= 2.0**SK_EMAX else b
        bins[i] = b if a < math.inf else -1


@njit(inline="always")
def _fold(x, n, shift, s1, s2, lo, hi):
    # One finite value into a block's running shifted sums (shift = the block's first value).
    if n == 0:
        shift = x
        s1 = 0.0
        s2 = 0.0
        lo = x
        hi = x
    d = x - shift
    return n + 1, shift, s1 + d, s2 + d * d, x if x < lo else lo, x if x > hi else hi


@njit(inline="always")
def _reduce_point(outs, m, a, cnt, bad, hrows, bins, live, st):
    """Fold outs[:, 0:m] into a point's running shifted sums a[o] = [shift, s1, s2, min, max],
    counts and sketch rows, in trial order (``st``: float64[5, 8] scratch).

    The six outputs are folded together (:func:`_fold_outputs`): a float sum in trial order
    cannot be vectorised over trials, but the outputs' sums can run side by side. An output
    that is not ``live`` (run_blocks reuses an earlier point's) is not touched; when some are
    not, each live one is folded in its own loop (the same operations in the same order, so
    the same bits).
    """
    n_live = 0
    for o in range(N_OUT):
        if live[o]:
            sketch_bins_row(outs[o], m, bins[o])
            n_live += 1
    if n_live < N_OUT:
        for o in range(N_OUT):
            if live[o]:
                _reduce_row_binned(outs[o], bins[o], m, a[o], cnt, bad, o, hrows[o])
        return
    n_bad = 0
    for o in range(N_OUT):  # sketch counts first: they do not depend on the folds
        nb = 0
        for i in range(m):
            b = bins[o, i]
            if b >= 0:
                hrows[o, b] += 1
            else:
                nb += 1
        bad[o] += nb
        n_bad += nb
    if AVX512 and n_bad == 0:
        _fold_outputs_avx512(outs, m, a, cnt, st)
    else:
        _fold_outputs(outs, m, a, cnt, bins)


@njit(inline="always")
def _fold_outputs(outs, m, a, cnt, bins):
    """Fold the finite values of outs[:, 0:m] (``bins[o, i] >= 0``) into a[o] and cnt[o].

    One loop, each output in its own local accumulators: six independent dependency chains
    instead of one chain per loop.
    """
    n0, n1, n2, n3, n4, n5 = cnt[0], cnt[1], cnt[2], cnt[3], cnt[4], cnt[5]
    h0, a0, b0, l0, u0 = a[0, 0], a[0, 1], a[0, 2], a[0, 3], a[0, 4]
    h1, a1, b1, l1, u1 = a[1, 0], a[1, 1], a[1, 2], a[1, 3], a[1, 4]
    h2, a2, b2, l2, u2 = a[2, 0], a[2, 1], a[2, 2], a[2, 3], a[2, 4]
    h3, a3, b3, l3, u3 = a[3, 0], a[3, 1], a[3, 2], a[3, 3], a[3, 4]
    h4, a4, b4, l4, u4 = a[4, 0], a[4, 1], a[4, 2], a[4, 3], a[4, 4]
    h5, a5, b5, l5, u5 = a[5, 0], a[5, 1], a[5, 2], a[5, 3], a[5, 4]
    for i in range(m):
        if bins[0, i] >= 0:
            n0, h0, a0, b0, l0, u0 = _fold(outs[0, i], n0, h0, a0, b0, l0, u0)
        if bins[1, i] >= 0:
            n1, h1, a1, b1, l1, u1 = _fold(outs[1, i], n1, h1, a1, b1, l1, u1)
        if bins[2, i] >= 0:
            n2, h2, a2, b2, l2, u2 = _fold(outs[2, i], n2, h2, a2, b2, l2, u2)
        if bins[3, i] >= 0:
            n3, h3, a3, b3, l3, u3 = _fold(outs[3, i], n3, h3, a3, b3, l3, u3)
        if bins[4, i] >= 0:
            n4, h4, a4, b4, l4, u4 = _fold(outs[4, i], n4, h4, a4, b4, l4, u4)
        if bins[5, i] >= 0:
            n5, h5, a5, b5, l5, u5 = _fold(outs[5, i], n5, h5, a5, b5, l5, u5)
    a[0, 0], a[0, 1], a[0, 2], a[0, 3], a[0, 4] = h0, a0, b0, l0, u0
    a[1, 0], a[1, 1], a[1, 2], a[1, 3], a[1, 4] = h1, a1, b1, l1, u1
    a[2, 0], a[2, 1], a[2, 2], a[2, 3], a[2, 4] = h2, a2, b2, l2, u2
    a[3, 0], a[3, 1], a[3, 2], a[3, 3], a[3, 4] = h3, a3, b3, l3, u3
    a[4, 0], a[4, 1], a[4, 2], a[4, 3], a[4, 4] = h4, a4, b4, l4, u4
    a[5, 0], a[5, 1], a[5, 2], a[5, 3], a[5, 4] = h5, a5, b5, l5, u5
    cnt[0], cnt[1], cnt[2], cnt[3], cnt[4], cnt[5] = n0, n1, n2, n3, n4, n5


@njit(inline="always")
def _fold_outputs_avx512(outs, m, a, cnt, st):
    """:func:`_fold_outputs` when every value of outs[:, 0:m] is finite, the six outputs as
    lanes of one 8-lane vector (:func:`fold_rows8`), the last ``m % 8`` trials one by one.
    The same operations per output in the same order, so the same bits (1.9 against 5.6 ns
    per trial on AMD Zen 4).

    An output with no value yet starts from its first one exactly as :func:`_fold` does
    (shift = x, sums 0, min = max = x, then x folded in: d = 0 leaves the sums 0).
    """
    m8 = m & ~7
    for o in range(N_OUT):
        if cnt[o] == 0 and m8 > 0:
            x = outs[o, 0]
            st[0, o] = x
            st[1, o] = 0.0
            st[2, o] = 0.0
            st[3, o] = x
            st[4, o] = x
        else:
            for k in range(5):
                st[k, o] = a[o, k]
    fold_rows8(addr(outs), outs.shape[1], m8, addr(st))
    for o in range(N_OUT):
        n = cnt[o] + m8
        h, s1, s2, lo, hi = st[0, o], st[1, o], st[2, o], st[3, o], st[4, o]
        for i in range(m8, m):
            n, h, s1, s2, lo, hi = _fold(outs[o, i], n, h, s1, s2, lo, hi)
        a[o, 0], a[o, 1], a[o, 2], a[o, 3], a[o, 4] = h, s1, s2, lo, hi
        cnt[o] = n


@intrinsic
def fold_rows8(typingctx, x, stride, n, st):
    """Fold trials ``0 .. n - 1`` (n a multiple of 8) of the N_OUT rows ``x[o * stride + i]``
    into ``st`` (float64[5, 8]: shift, s1, s2, min, max of each row, as :func:`_fold` keeps
    them; lanes past N_OUT unused), in trial order: ``d = x - shift; s1 += d; s2 += d * d``
    (no fused multiply-add), min and max by ordered compares. Every value must be finite.

    Eight trials at a time: eight row loads, an 8 x 8 transpose in registers (24 shuffles),
    then eight vector steps, each folding one trial of every row. Pointers as ``addr``.
    """
    if not (isinstance(x, types.CPointer) and x.dtype == types.float64
            and isinstance(st, types.CPointer) and st.dtype == types.float64):
        return None
    sig = types.void(x, types.int64, types.int64, st)

    def codegen(context, builder, signature, args):
        x_p, stride_v, n_v, st_p = args
        f64, i64, i32 = ir.DoubleType(), ir.IntType(64), ir.IntType(32)
        vd = ir.VectorType(f64, 8)
        vpt = vd.as_pointer()

        def vptr(p, k):
            return builder.bitcast(builder.gep(p, [k]), vpt)

        def shuf(a, b, idx):
            return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(i32, 8), idx))

        state = [builder.load(vptr(st_p, ir.Constant(i64, 8 * k)), align=8) for k in range(5)]
        shift = state[0]
        acc = [cgutils.alloca_once_value(builder, v) for v in state[1:]]
        zero = ir.Constant(vd, [0.0] * 8)
        with cgutils.for_range_slice(builder, ir.Constant(i64, 0), n_v, ir.Constant(i64, 8),
                                     intp=i64) as (i, _):
            rows = [builder.load(vptr(x_p, builder.add(builder.mul(stride_v, ir.Constant(i64, o)),
                                                       i)), align=8)
                    for o in range(N_OUT)] + [zero] * (8 - N_OUT)
            # Transpose: t[j][o] = rows[o][j]. Pairs of rows, interleaved (even, odd trials) ...
            pair = [(shuf(rows[2 * k], rows[2 * k + 1], [0, 8, 2, 10, 4, 12, 6, 14]),
                     shuf(rows[2 * k], rows[2 * k + 1], [1, 9, 3, 11, 5, 13, 7, 15]))
                    for k in range(4)]
            # ... then rows 0-3 and 4-7 (trials j and j + 4 together) ...
            quad = {}
            for g in range(2):
                for h in range(2):
                    p, q = pair[2 * g][h], pair[2 * g + 1][h]
                    quad[g, h, 0] = shuf(p, q, [0, 1, 8, 9, 4, 5, 12, 13])
                    quad[g, h, 1] = shuf(p, q, [2, 3, 10, 11, 6, 7, 14, 15])
            t = [None] * 8
            for h in range(2):  # ... then all eight rows
                for c in range(2):
                    p, q = quad[0, h, c], quad[1, h, c]
                    t[h + 2 * c] = shuf(p, q, [0, 1, 2, 3, 8, 9, 10, 11])
                    t[h + 2 * c + 4] = shuf(p, q, [4, 5, 6, 7, 12, 13, 14, 15])
            s1, s2, lo, hi = (builder.load(p) for p in acc)
            for v in t:
                d = builder.fsub(v, shift)
                s1 = builder.fadd(s1, d)
                s2 = builder.fadd(s2, builder.fmul(d, d))
                lo = builder.select(builder.fcmp_ordered("<", v, lo), v, lo)
                hi = builder.select(builder.fcmp_ordered(">", v, hi), v, hi)
            for p, v in zip(acc, (s1, s2, lo, hi)):
                builder.store(v, p)
        for k in range(4):
            builder.store(builder.load(acc[k]), vptr(st_p, ir.Constant(i64, 8 * (k + 1))),
                          align=8)
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always")
def _reduce_row_binned(v, bins, m, a, cnt, bad, o, hrow):
    """One output's part of :func:`_reduce_point`: fold v[0:m] (bins from sketch_bins_row)."""
    n, h, s1, s2, lo, hi = cnt[o], a[0], a[1], a[2], a[3], a[4]
    for i in range(m):
        if bins[i] >= 0:
            n, h, s1, s2, lo, hi = _fold(v[i], n, h, s1, s2, lo, hi)
    cnt[o] = n
    a[0], a[1], a[2], a[3], a[4] = h, s1, s2, lo, hi
    nb = 0
    for i in range(m):
        b = bins[i]
        if b >= 0:
            hrow[b] += 1
        else:
            nb += 1
    bad[o] += nb


# -- One value at a time, for kernels that fold values as they come (the importance kernel).


@njit(inline="always")
def _fold_into(a, cnt, bad, o, x):
    """Fold x into output o's running shifted sums a = [shift, s1, s2, min, max]."""
    if not math.isfinite(x):
        bad[o] += 1
        return
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


@njit(cache=CACHE)
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


@njit(error_model="numpy", cache=CACHE)
def run_blocks_reference(codes, params, tables, streams, is_random, depreciation, rev0, seed,
                         purpose, n_trials, first_block, n_blocks, chunk_blocks, blk, hits,
                         nonfinite, hist):
    """The obviously-correct statement of :func:`run_blocks`: same signature, same results.

    One thread, one trial at a time: the uniforms from :func:`engine.rng.uniform2`, the inputs
    from the scalar ``sample_u``, the outputs from :func:`one_year_model` (what
    ``engine.trace`` uses), then each block's shifted sums in trial order and the scalar
    :func:`sketch_bin`. Tests run whole simulations through both and require identical
    Datasets, so speed work on :func:`run_blocks` cannot silently change answers.
    ``chunk_blocks`` is ignored; sketch counts go to row 0 of ``hist``.
    """
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    x = np.empty(n_in)
    out = np.empty(N_OUT)
    a = np.empty(5)
    for b in range(n_blocks):
        t0 = (first_block + b) * BLOCK
        t1 = min(t0 + BLOCK, n_trials)
        for p in range(n_points):
            h = 0
            for o in range(N_OUT):
                n = 0
                nb = 0
                a[:] = 0.0
                for t in range(t0, t1):
                    for j in range(n_in):
                        u = 0.5
                        if is_random[j]:
                            u2 = uniform2(seed, stream_word(streams[j], purpose),
                                          np.uint64(t // 2))
                            u = u2[t % 2]
                        x[j] = sample_u(codes[p, j], params[p, j], u, tables)
                    covers = one_year_model(x, depreciation, rev0, out)
                    if o == 0:
                        h += covers
                    v = out[o]
                    if not math.isfinite(v):
                        nb += 1
                        continue
                    if n == 0:
                        a[0] = v
                        a[3] = v
                        a[4] = v
                    d = v - a[0]
                    a[1] += d
                    a[2] += d * d
                    n += 1
                    if v < a[3]:
                        a[3] = v
                    if v > a[4]:
                        a[4] = v
                    hist[0, p, o, sketch_bin(v)] += 1
                nonfinite[b, p, o] = nb
                _finalise(blk[b, p, o], a, n)
            hits[b, p] = h


@njit(error_model="numpy", cache=CACHE)
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
        for j in range(n_in):
            u = 0.5
            if is_random[j]:
                u2 = uniform2(seed, stream_word(streams[j], purpose), np.uint64(trial // 2))
                u = u2[trial % 2]
            xs[i, j] = sample_u(codes[0, j], params[0, j], u, tables)
        covers[i] = one_year_model(xs[i], depreciation, rev0, out)
        outs[i] = out
    return xs, outs, covers
