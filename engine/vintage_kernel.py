"""The multi-year (vintage) model's jitted kernel: sample -> evaluate -> fold, as the one-year one.

The same plumbing as :func:`engine.kernel.run_blocks`: counter-based uniforms per (input name,
trial), trials cut into blocks of :data:`~engine.kernel.BLOCK` at fixed positions and sub-blocks
of :data:`~engine.kernel.SUB` held as columns, float moments per block in trial order (merged
in block order by :func:`engine.kernel.merge_moments`), integer counts (cover indicators,
sketch) kept per block or per thread. So a block is a pure function of (plan, seed, block
index) and results are bit-identical for any thread count or chunk size.

What differs is the model (:func:`_vintage_trial`; the kernel evaluates it a sub-block at a
time, bit for bit, with :func:`_vintage_block`) and the shape of what it writes: every output
has one value per reported year, and there are two cover indicators per year (revenue covers
the year's required revenue; revenue has covered it in some year so far).

Model arguments (built by :func:`engine.vintage.vintage_plan`):

- ``meta`` int64[N_META]: depreciation form (0 straight-line/annuity, 1 generational), the input
  indices of energy_ratio, margin, useful_life (or generation_years), cost_of_capital,
  perf_per_dollar_gain (-1 when straight-line), and ``y0``, the index of the first reported year
  on the cohort axis (cohorts may start before it).
- ``src``, ``kind`` int64[S, Y]: series s (0: GPU spend, 1..: each company's revenue) in cohort
  year y is input ``src[s, y]`` itself (``kind`` 0, a level) or the previous year's value times
  ``1 + input src[s, y]`` (``kind`` 1, a growth rate). Revenue series are read from ``y0`` on.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from distributions import sample_block, sample_u
from distributions._jitcache import CACHE

from .kernel import BLOCK, SUB, _finalise, _reduce_row_binned, set_fixed_columns, sketch_bins_row
from .rng import fill_uniforms, stream_word, uniform4

#: Outputs of the vintage model, each with one value per reported year (flat index
#: ``output * n_years + year``).
OUTPUTS = ("annual_gpu_spend", "capex", "capital_charge", "required_revenue",
           "required_annual_revenue", "ai_revenue", "gap", "spend_to_revenue", "cum_capex",
           "cum_revenue", "cum_gap")
N_OUT = len(OUTPUTS)
(V_GPU, V_CAPEX, V_CHARGE, V_REQ, V_REQ_ANNUAL, V_REV, V_GAP, V_S2R, V_CUM_CAPEX, V_CUM_REV,
 V_CUM_GAP) = range(N_OUT)
#: Cover indicators, each per reported year (flat index ``indicator * n_years + year``).
COVERS = ("covers", "breakeven_by")
C_COVERS, C_BY = range(2)

# Fields of ``meta``.
MD_DEP, MD_K, MD_M, MD_LIFE, MD_R, MD_GAIN, MD_Y0 = range(7)
N_META = 7

__all__ = ["BLOCK", "COVERS", "N_META", "N_OUT", "OUTPUTS", "run_vintage_blocks",
           "trace_vintage_trials"]


@njit(inline="always")
def _weights(xs, i, meta, w):
    """w[a]: capital charge at age a per $1 of a cohort's capex (trial i).

    Straight-line: CRF(r, L) * min(1, max(0, L - a)) -- an annuity over L years whose charges
    sum to 1 when r = 0 (fractional lives too) and have present value 1 at r when L is whole.
    Generational: book value e^(-delta a) with delta = ln(gain) / generation_years; the charge
    is the year's loss of book value plus r on the opening book, e^(-delta a) (1 - e^-delta + r).
    """
    r = xs[meta[MD_R], i]
    if meta[MD_DEP] == 0:
        life = xs[meta[MD_LIFE], i]
        if r == 0.0:
            crf = 1.0 / life
        else:
            # r / (1 - (1+r)^-L), the one-year kernel's expression, bit for bit
            crf = r / -math.expm1(-life * math.log1p(r))
        for a in range(w.shape[0]):
            f = life - a
            if f > 1.0:
                f = 1.0
            elif f < 0.0:
                f = 0.0
            w[a] = crf * f
    else:
        delta = math.log(xs[meta[MD_GAIN], i]) / xs[meta[MD_LIFE], i]
        first = -math.expm1(-delta) + r
        for a in range(w.shape[0]):
            w[a] = math.exp(-delta * a) * first


@njit(inline="always")
def _vintage_trial(xs, i, meta, src, kind, w, cap, gpu, rev, outs, cover):
    """The multi-year model for trial i (column i of xs); writes outs[:, i] and cover[:, i].

    capex C_v = G_v (1 + k) per cohort year v; charge_t = sum_{v <= t} C_v w[t - v];
    required_t = charge_t / (1 - m); covers_t = revenue_t >= required_t.
    """
    n_y = src.shape[1]
    y0 = meta[MD_Y0]
    n_rep = n_y - y0
    k1 = 1.0 + xs[meta[MD_K], i]
    keep = 1.0 - xs[meta[MD_M], i]  # share of revenue left after the end user's gross margin
    _weights(xs, i, meta, w)
    prev = 0.0
    for v in range(n_y):
        j = src[0, v]
        g = xs[j, i] if kind[0, v] == 0 else prev * (1.0 + xs[j, i])
        prev = g
        gpu[v] = g
        cap[v] = g * k1
    for t in range(y0, n_y):
        rev[t] = 0.0
    for s in range(1, src.shape[0]):  # companies in file order, as the one-year sum
        prev = 0.0
        for t in range(y0, n_y):
            j = src[s, t]
            val = xs[j, i] if kind[s, t] == 0 else prev * (1.0 + xs[j, i])
            prev = val
            rev[t] += val
    cum_c = 0.0
    cum_r = 0.0
    cum_g = 0.0
    broke = False
    for t in range(y0, n_y):
        y = t - y0
        charge = 0.0
        for v in range(t + 1):  # oldest cohort first
            charge += cap[v] * w[t - v]
        required = charge / keep
        revenue = rev[t]
        gap = required - revenue
        cum_c += cap[t]
        cum_r += revenue
        cum_g += gap
        outs[V_GPU * n_rep + y, i] = gpu[t]
        outs[V_CAPEX * n_rep + y, i] = cap[t]
        outs[V_CHARGE * n_rep + y, i] = charge
        outs[V_REQ * n_rep + y, i] = cap[t] / keep
        outs[V_REQ_ANNUAL * n_rep + y, i] = required
        outs[V_REV * n_rep + y, i] = revenue
        outs[V_GAP * n_rep + y, i] = gap
        outs[V_S2R * n_rep + y, i] = gpu[t] / revenue if revenue != 0.0 else math.inf
        outs[V_CUM_CAPEX * n_rep + y, i] = cum_c
        outs[V_CUM_REV * n_rep + y, i] = cum_r
        outs[V_CUM_GAP * n_rep + y, i] = cum_g
        c = revenue >= required
        broke = broke or c
        cover[C_COVERS * n_rep + y, i] = c
        cover[C_BY * n_rep + y, i] = broke


# Rows of the block model's per-trial scratch ``sc`` (float64[N_SC, SUB]).
S_K1, S_KEEP, S_PREV, S_CHARGE, S_CUM_C, S_CUM_R, S_CUM_G, S_CRF = range(8)
N_SC = 8


@njit(error_model="numpy", cache=CACHE)
def _vintage_block(xs, m, meta, src, kind, w, cap, gpu, rev, sc, broke, outs, cover):
    """:func:`_vintage_trial` for trials 0..m-1 (columns of xs) at once, bit for bit.

    The same operations in the same order for every trial, with the loops turned so that the
    innermost one runs over trials (contiguous rows, so LLVM vectorises the arithmetic) and
    ``outs``/``cover`` are written a row at a time. Scratch: ``w``, ``cap``, ``gpu``, ``rev``
    float64[n_y, SUB] (cohort year, trial), ``sc`` float64[N_SC, SUB], ``broke`` bool[SUB].
    """
    n_y = src.shape[1]
    y0 = meta[MD_Y0]
    n_rep = n_y - y0
    r = xs[meta[MD_R]]
    life = xs[meta[MD_LIFE]]
    k1 = sc[S_K1]
    keep = sc[S_KEEP]
    prev = sc[S_PREV]
    xk = xs[meta[MD_K]]
    xm = xs[meta[MD_M]]
    for i in range(m):
        k1[i] = 1.0 + xk[i]
        keep[i] = 1.0 - xm[i]
    # the weights, as _weights: w[a, i] is trial i's charge at age a per $1 of capex
    if meta[MD_DEP] == 0:
        crf = sc[S_CRF]
        for i in range(m):  # a scalar libm call per trial
            if r[i] == 0.0:
                crf[i] = 1.0 / life[i]
            else:
                crf[i] = r[i] / -math.expm1(-life[i] * math.log1p(r[i]))
        for a in range(n_y):
            wa = w[a]
            for i in range(m):
                f = life[i] - a
                if f > 1.0:
                    f = 1.0
                elif f < 0.0:
                    f = 0.0
                wa[i] = crf[i] * f
    else:
        gain = xs[meta[MD_GAIN]]
        for i in range(m):
            # trial by trial, the loop over ages as in _weights: libm's exp is scalar either
            # way, and a loop LLVM might hand to a vector math library stays the same loop
            delta = math.log(gain[i]) / life[i]
            first = -math.expm1(-delta) + r[i]
            for a in range(n_y):
                w[a, i] = math.exp(-delta * a) * first
    for v in range(n_y):
        xj = xs[src[0, v]]
        gv = gpu[v]
        if kind[0, v] == 0:
            for i in range(m):
                gv[i] = xj[i]
        elif v == 0:  # a growth rate with no year before it grows _vintage_trial's prev = 0.0
            for i in range(m):
                gv[i] = 0.0 * (1.0 + xj[i])
        else:
            gp = gpu[v - 1]
            for i in range(m):
                gv[i] = gp[i] * (1.0 + xj[i])
        cv = cap[v]
        for i in range(m):
            cv[i] = gv[i] * k1[i]
    for t in range(y0, n_y):
        rt = rev[t]
        for i in range(m):
            rt[i] = 0.0
    for s in range(1, src.shape[0]):  # companies in file order, as the one-year sum
        for i in range(m):
            prev[i] = 0.0
        for t in range(y0, n_y):
            xj = xs[src[s, t]]
            rt = rev[t]
            if kind[s, t] == 0:
                for i in range(m):
                    val = xj[i]
                    prev[i] = val
                    rt[i] += val
            else:
                for i in range(m):
                    val = prev[i] * (1.0 + xj[i])
                    prev[i] = val
                    rt[i] += val
    charge = sc[S_CHARGE]
    cum_c = sc[S_CUM_C]
    cum_r = sc[S_CUM_R]
    cum_g = sc[S_CUM_G]
    for i in range(m):
        cum_c[i] = 0.0
        cum_r[i] = 0.0
        cum_g[i] = 0.0
        broke[i] = False
    for t in range(y0, n_y):
        y = t - y0
        for i in range(m):
            charge[i] = 0.0
        for v in range(t + 1):  # oldest cohort first
            cv = cap[v]
            wv = w[t - v]
            for i in range(m):
                charge[i] += cv[i] * wv[i]
        gt = gpu[t]
        ct = cap[t]
        rt = rev[t]
        o_gpu = outs[V_GPU * n_rep + y]
        o_capex = outs[V_CAPEX * n_rep + y]
        o_charge = outs[V_CHARGE * n_rep + y]
        o_req = outs[V_REQ * n_rep + y]
        o_req_annual = outs[V_REQ_ANNUAL * n_rep + y]
        o_rev = outs[V_REV * n_rep + y]
        o_gap = outs[V_GAP * n_rep + y]
        o_s2r = outs[V_S2R * n_rep + y]
        o_cum_c = outs[V_CUM_CAPEX * n_rep + y]
        o_cum_r = outs[V_CUM_REV * n_rep + y]
        o_cum_g = outs[V_CUM_GAP * n_rep + y]
        c_covers = cover[C_COVERS * n_rep + y]
        c_by = cover[C_BY * n_rep + y]
        # short loops over a few rows each: LLVM vectorises a loop only while the runtime
        # checks that its arrays do not overlap stay few
        for i in range(m):
            o_gpu[i] = gt[i]
            o_capex[i] = ct[i]
            o_charge[i] = charge[i]
        for i in range(m):
            o_req[i] = ct[i] / keep[i]
        for i in range(m):
            o_req_annual[i] = charge[i] / keep[i]
        for i in range(m):
            o_rev[i] = rt[i]
            o_gap[i] = o_req_annual[i] - rt[i]
        for i in range(m):
            o_s2r[i] = gt[i] / rt[i] if rt[i] != 0.0 else math.inf
        for i in range(m):
            cum_c[i] += ct[i]
            o_cum_c[i] = cum_c[i]
        for i in range(m):
            cum_r[i] += rt[i]
            o_cum_r[i] = cum_r[i]
        for i in range(m):
            cum_g[i] += o_gap[i]
            o_cum_g[i] = cum_g[i]
        for i in range(m):
            c = rt[i] >= o_req_annual[i]
            b = broke[i] or c
            broke[i] = b
            c_covers[i] = c
            c_by[i] = b


@njit(parallel=True, error_model="numpy", cache=CACHE)
def run_vintage_blocks(codes, params, tables, streams, is_random, meta, src, kind, seed, purpose,
                       n_trials, first_block, n_blocks, chunk_blocks, blk, hits, nonfinite, hist):
    """Simulate blocks ``first_block .. first_block + n_blocks - 1`` of the vintage model.

    The arguments are those of :func:`engine.kernel.run_blocks` with the model arguments
    ``meta, src, kind`` (module docstring) in place of ``depreciation, rev0``, and
    ``hits`` int64[n_blocks, P, H] with a trailing axis of H = 2 x years cover indicators.
    ``blk``, ``nonfinite`` and ``hist`` have N_OUT x years flat outputs.
    """
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    n_out = blk.shape[2]
    n_cov = hits.shape[2]
    n_y = src.shape[1]
    n_chunks = (n_blocks + chunk_blocks - 1) // chunk_blocks
    for c in prange(n_chunks):
        tid = numba.get_thread_id()
        u = np.empty(SUB)
        wscr = np.empty((4, SUB // 2), dtype=np.uint32)  # the vectorised generator's scratch
        zb = np.empty(SUB)  # scratch of the block quantile transforms
        zt = np.empty(SUB)
        idx = np.empty(SUB, dtype=np.int64)
        bins = np.empty(SUB, dtype=np.int64)
        xs = np.empty((n_points, n_in, SUB))
        outs = np.empty((n_out, SUB))
        cover = np.empty((n_cov, SUB), dtype=np.bool_)
        w = np.empty((n_y, SUB))  # the block model's scratch, rows over trials
        cap = np.empty((n_y, SUB))
        gpu = np.empty((n_y, SUB))
        rev = np.empty((n_y, SUB))
        sc = np.empty((N_SC, SUB))
        broke = np.empty(SUB, dtype=np.bool_)
        acc = np.empty((n_points, n_out, 5))  # shift, s1, s2, min, max
        cnt = np.empty((n_points, n_out), dtype=np.int64)
        bad = np.empty((n_points, n_out), dtype=np.int64)
        own = np.empty((n_points, n_in), dtype=np.int64)  # every point holds its own columns
        for p in range(n_points):
            own[p, :] = p
        set_fixed_columns(codes, params, tables, is_random, own, xs)
        b_end = min((c + 1) * chunk_blocks, n_blocks)
        for b in range(c * chunk_blocks, b_end):
            gb = first_block + b
            t0 = gb * BLOCK
            t1 = min(t0 + BLOCK, n_trials)
            cnt[:, :] = 0
            bad[:, :] = 0
            for p in range(n_points):
                for h in range(n_cov):
                    hits[b, p, h] = 0
            for s0 in range(t0, t1, SUB):
                m = min(SUB, t1 - s0)
                # As the one-year kernel: an input's uniforms for the sub-block (vectorised
                # Philox), then its quantile transform as one block (bitwise sample_u).
                for j in range(n_in):
                    if is_random[j]:
                        fill_uniforms(seed, stream_word(streams[j], purpose), s0, m, u, wscr)
                        for p in range(n_points):
                            sample_block(codes[p, j], params[p, j], u, m, tables, xs[p, j], zb,
                                         idx, zt)
                for p in range(n_points):
                    _vintage_block(xs[p], m, meta, src, kind, w, cap, gpu, rev, sc, broke, outs,
                                   cover)
                    for h in range(n_cov):
                        k = np.int64(0)
                        for i in range(m):
                            k += cover[h, i]
                        hits[b, p, h] += k
                    for o in range(n_out):  # sketch bins vectorised, then the fold
                        sketch_bins_row(outs[o], m, bins)
                        _reduce_row_binned(outs[o], bins, m, acc[p, o], cnt[p], bad[p], o,
                                           hist[tid, p, o])
            for p in range(n_points):
                for o in range(n_out):
                    nonfinite[b, p, o] = bad[p, o]
                    _finalise(blk[b, p, o], acc[p, o], cnt[p, o])


@njit(error_model="numpy", cache=CACHE)
def trace_vintage_trials(codes, params, tables, streams, is_random, meta, src, kind, seed,
                         purpose, first, n):
    """Inputs, outputs and cover indicators of trials ``first .. first+n-1`` of point 0.

    The same sampling as :func:`run_vintage_blocks` and the model as :func:`_vintage_trial`
    states it (the kernel's :func:`_vintage_block` gives the same bits), one trial at a time:
    returns xs[n, J], outs[n, N_OUT x years] and covers[n, 2 x years].
    """
    n_in = codes.shape[1]
    n_y = src.shape[1]
    n_rep = n_y - meta[MD_Y0]
    n_out = N_OUT * n_rep
    n_cov = len(COVERS) * n_rep
    xs = np.empty((n, n_in))
    outs = np.empty((n, n_out))
    covers = np.empty((n, n_cov), dtype=np.bool_)
    x1 = np.empty((n_in, 1))
    out1 = np.empty((n_out, 1))
    cov1 = np.empty((n_cov, 1), dtype=np.bool_)
    w = np.empty(n_y)
    cap = np.empty(n_y)
    gpu = np.empty(n_y)
    rev = np.empty(n_y)
    for i in range(n):
        trial = first + i
        grp = trial // 4
        for j in range(n_in):
            u = 0.5
            if is_random[j]:
                u4 = uniform4(seed, streams[j], np.uint64(grp), purpose)
                u = u4[trial % 4]
            x1[j, 0] = sample_u(codes[0, j], params[0, j], u, tables)
            xs[i, j] = x1[j, 0]
        _vintage_trial(x1, 0, meta, src, kind, w, cap, gpu, rev, out1, cov1)
        outs[i] = out1[:, 0]
        covers[i] = cov1[:, 0]
    return xs, outs, covers
