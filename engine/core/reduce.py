"""Streaming reductions of a chunk of trials: moments, counts and the quantile sketch.

Trials are never stored. Work is cut into *blocks* of :data:`BLOCK` trials at fixed global
positions (block b holds trials ``b*BLOCK .. (b+1)*BLOCK - 1``). Each block's float moments are
computed in trial order and merged across blocks strictly in block order
(:func:`merge_moments`), so results do not depend on how blocks are grouped into chunks, on the
thread count or on the worker count. Integer accumulators (cover counts, sketch counts) are
exact in any order, so they are kept per block or per thread and summed afterwards.

Accumulators per (point, row), a row being one output (or one estimator sum of a weighted
sampler):

- per block: n, mean, M2 (shifted sums, then Chan's formula), min, max  -> ``blk``
- non-finite values counted (never averaged into NaN)                   -> ``nonfinite``
- a log-linear histogram ("sketch") for quantiles                        -> ``hist``

Dependency rule: numpy, numba, llvmlite and ``distributions`` only.
"""

from __future__ import annotations

import math
import mmap

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from distributions._jitcache import CACHE, stable_identity
from distributions._kernels import AVX512, addr

#: Trials per block: the fixed unit of float reduction order (part of the result's definition).
BLOCK = 4096


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



# sketch_bins_row on the bits: ``bits >> (52 - SK_MB)`` of |x| is the bin's offset plus _B_LO
# for 2**SK_EMIN <= |x| < 2**SK_EMAX, below _B_LO under it, at least _B_HI above it, and at
# least _B_NAN for inf and nan; clamped to [_B_LO - 1, _B_HI] it lands on the zero bin and the
# overflow bins too.
_ABS = (1 << 63) - 1
_B_LO = (1023 + SK_EMIN) << SK_MB
_B_HI = (1023 + SK_EMAX) << SK_MB
_B_NAN = 0x7FF << SK_MB


@njit(inline="always")
def sketch_bins_row(v, m, bins):
    """bins[i] = sketch_bin(v[i]) for finite v[i], -1 for a non-finite one; returns the number
    of non-finite values. Integer min/max and one select on the sign, so the loop vectorises
    (the scalar sketch_bin mispredicts on the gap's sign)."""
    nb = 0
    for i in range(m):
        bits = _float_bits(v[i])
        u = (bits & _ABS) >> (52 - SK_MB)
        c = min(max(u, _B_LO - 1), _B_HI)
        b = (SK_NPOS + _B_LO) - c if bits < 0 else c + (SK_NPOS + 2 - _B_LO)
        ok = u < _B_NAN
        bins[i] = b if ok else -1
        nb += not ok
    return nb


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



@intrinsic
def fold_rows8(typingctx, x, stride, n, st):
    """Fold trials ``0 .. n - 1`` (n a multiple of 8) of the 8 rows ``x[o * stride + i]``
    into ``st`` (float64[5, 8]: shift, s1, s2, min, max of each row, as :func:`_fold` keeps
    them), in trial order: ``d = x - shift; s1 += d; s2 += d * d``
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
        with cgutils.for_range_slice(builder, ir.Constant(i64, 0), n_v, ir.Constant(i64, 8),
                                     intp=i64) as (i, _):
            rows = [builder.load(vptr(x_p, builder.add(builder.mul(stride_v, ir.Constant(i64, o)),
                                                       i)), align=8)
                    for o in range(8)]
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

    total : float64[P, R, N_MOM] (updated in place); blk : float64[n_blocks, P, R, N_MOM]
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



@njit(cache=CACHE)
def _merge_sketch(hist, moments, sources, out, clear=False):
    """The run's sketch counts: the threads' rows summed, each over the bins it can have;
    with ``clear``, the bins read are set back to zero (``hist`` is then all zeros again, for
    the next run: every count lies in the bins read).

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
        The result (added to).
    clear : bool
        Zero the bins of ``hist`` that were read.
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
                if clear:
                    for k in range(a, b):
                        hist[t, q, o, k] = 0


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


@njit(inline="always")
def padded_rows(n: int) -> int:
    """Rows to allocate for ``n`` rows that :func:`reduce_rows` folds eight at a time."""
    return -(-max(n, 1) // 8) * 8


@njit(inline="always")
def _fold_rows(v, n_rows, m, live, a, cnt, all_finite, st):
    """Fold the finite values of rows ``v[o, 0:m]`` (the ``live`` ones among the first
    ``n_rows``) into a[o] and cnt[o], in trial order: eight rows side by side
    (:func:`fold_rows8`) on AVX-512 machines when ``all_finite``, else row by row."""
    m8 = m & ~7
    if AVX512 and all_finite and m8 > 0:
        for g0 in range(0, n_rows, 8):
            for k in range(8):
                o = g0 + k
                if o < n_rows and live[o] and cnt[o] > 0:
                    for f in range(5):
                        st[f, k] = a[o, f]
                else:  # a row's first value starts it, as _fold does (d = 0 leaves sums 0)
                    x = v[o, 0]
                    st[0, k] = x
                    st[1, k] = 0.0
                    st[2, k] = 0.0
                    st[3, k] = x
                    st[4, k] = x
            fold_rows8(addr(v[g0]), v.shape[1], m8, addr(st))
            for k in range(8):
                o = g0 + k
                if o >= n_rows or not live[o]:
                    continue
                n = cnt[o] + m8
                h, s1, s2, lo, hi = st[0, k], st[1, k], st[2, k], st[3, k], st[4, k]
                for i in range(m8, m):
                    n, h, s1, s2, lo, hi = _fold(v[o, i], n, h, s1, s2, lo, hi)
                a[o, 0], a[o, 1], a[o, 2], a[o, 3], a[o, 4] = h, s1, s2, lo, hi
                cnt[o] = n
        return
    for o in range(n_rows):
        if live[o]:
            n, h, s1, s2, lo, hi = cnt[o], a[o, 0], a[o, 1], a[o, 2], a[o, 3], a[o, 4]
            vo = v[o]
            for i in range(m):
                x = vo[i]
                if abs(x) < math.inf:
                    n, h, s1, s2, lo, hi = _fold(x, n, h, s1, s2, lo, hi)
            cnt[o] = n
            a[o, 0], a[o, 1], a[o, 2], a[o, 3], a[o, 4] = h, s1, s2, lo, hi


@njit(nogil=True, cache=CACHE)
def reduce_rows(v, n_rows, m, live, a, cnt, bad, hrows, sketch, bins, st):
    """Fold rows ``v[o, 0:m]`` (the ``live`` ones among the first ``n_rows``) of one point.

    Into a[o] = [shift, s1, s2, min, max] and cnt[o] (finite values, in trial order), bad[o]
    (non-finite values) and, when ``sketch``, the sketch row ``hrows[o]``. ``v`` must have
    :func:`padded_rows` rows (the pad rows' values are never used); ``bins`` int64[same, >= m]
    and ``st`` float64[5, 8] are scratch.

    Every row gets the same operations in the same order (:func:`_fold`), whichever path runs,
    so the same bits: on AVX-512 machines, when every live value is finite, eight rows are
    folded side by side as the lanes of one vector (:func:`fold_rows8`); otherwise row by row.
    A row that is not live (its values are another point's, or a sum the sampler has no use
    for) is not touched.
    """
    n_bad = 0
    for o in range(n_rows):
        if live[o]:
            nb = sketch_bins_row(v[o], m, bins[o])
            if sketch:
                hrow = hrows[o]
                bo = bins[o]
                for i in range(m):
                    b = bo[i]
                    if b >= 0:
                        hrow[b] += 1
            bad[o] += nb
            n_bad += nb
    _fold_rows(v, n_rows, m, live, a, cnt, n_bad == 0, st)


@njit(nogil=True, cache=CACHE)
def bin_rows(v, n_rows, m, live, a, cnt, bad, bins, off, st):
    """:func:`reduce_rows` with the sketch left for later: row o's bins go to
    ``bins[o, off:off + m]`` (-1 for a non-finite value) for :func:`sketch_rows` to count.

    With ``bins`` int32[padded_rows, BLOCK] and ``off`` the sub-block's place in its block, a
    block's bins are counted together once it is done: a row's counts are then added while
    its few pages of the (1 MiB) sketch row are in cache, instead of every row's pages being
    visited once per sub-block (the sketch rows of all outputs do not fit in the cache).
    """
    n_bad = 0
    for o in range(n_rows):
        if live[o]:
            nb = sketch_bins_row(v[o], m, bins[o, off:off + m])
            bad[o] += nb
            n_bad += nb
    _fold_rows(v, n_rows, m, live, a, cnt, n_bad == 0, st)


@njit(nogil=True, cache=CACHE)
def sketch_rows(bins, n_rows, n, live, hrows):
    """Add the bins ``bins[o, 0:n]`` written by :func:`bin_rows` to the sketch rows
    ``hrows[o]`` of the live rows (non-finite values, bin -1, are not counted)."""
    for o in range(n_rows):
        if live[o]:
            hrow = hrows[o]
            bo = bins[o]
            for i in range(n):
                b = bo[i]
                if b >= 0:
                    hrow[b] += 1


# The runner's fold, chosen by the sampler (``Sampler.sketch``) and passed to it as a function,
# so that a run compiles only the one it uses. Same arguments: ``pbins``/``off`` are the
# deferred bins (bin_rows; fold_unsketched has none).


@stable_identity
@njit(nogil=True, cache=CACHE)
def fold_binned(v, n_rows, m, live, a, cnt, bad, pbins, off, st):
    """:func:`bin_rows` (the sketch counted once the block is done, :func:`sketch_rows`)."""
    bin_rows(v, n_rows, m, live, a, cnt, bad, pbins, off, st)


@stable_identity
@njit(nogil=True, cache=CACHE)
def fold_unsketched(v, n_rows, m, live, a, cnt, bad, pbins, off, st):
    """:func:`reduce_rows` without a sketch (weighted sums have no quantiles): the same
    records, the non-finite values counted directly rather than through their sketch bins
    (less code to compile)."""
    n_bad = 0
    for o in range(n_rows):
        if live[o]:
            vo = v[o]
            nb = 0
            for i in range(m):
                nb += not (abs(vo[i]) < math.inf)  # nan or +-inf
            bad[o] += nb
            n_bad += nb
    _fold_rows(v, n_rows, m, live, a, cnt, n_bad == 0, st)
