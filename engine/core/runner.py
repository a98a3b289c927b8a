"""The runner: one chunk of trials, for every model and every sampler.

A run is cut into blocks of :data:`~engine.core.reduce.BLOCK` trials at fixed positions; a
*chunk* is a range of blocks. :func:`run_chunk` is the unit of work, compiled once per (model,
sampler) and run without the GIL: the thread pool of :func:`run_blocks` runs chunks locally,
and anything else that can call a function (a worker process) can run one. A chunk's result
is a pure function of (plan, sampler, seed, block range)::

    for each block, for each sub-block of SUB trials (held as columns):
        sampler.draw   -> input columns xs[p, j, 0:m] (and log-weights)
        for each point p:
            model.block   -> output columns outs[o, 0:m], indicator columns cover[h, 0:m]
            count the indicators                          -> hits[b, p, h]
            sampler.weigh -> the rows to fold (the outputs, or weighted sums)
            fold rows in trial order, count non-finite values, sketch -> blk, nonfinite, hist

Points of a sweep share what they can (common random numbers): an input column whose
distribution an earlier point already has is drawn once (``src``), and an output whose inputs
are all shared is folded once (``live``; the driver copies its records to the other points).
"""

from __future__ import annotations

import dataclasses
import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, types
from numba.extending import register_jitable

from distributions import ndtri, sample_u, sample_z
from distributions._blocks import ppf_block_many
from distributions._kernels import addr, offset
from distributions._pointers import ByAddress
from distributions._jitcache import CACHE

from .reduce import (BLOCK, _finalise, _fold, fold_binned, fold_unsketched, padded_rows,
                     sketch_bin, sketch_rows)
from .rng import _PURPOSE_MUL, stream_word, uniform2
from .sampling import (FNS, Sampler, _correlated, draw_scratch, input_sources, output_sources,
                       own_sources, plain, set_fixed_columns)

#: Trials per sub-block: the structure-of-arrays unit inside a block (its columns stay in L1).
SUB = 256


@register_jitable
def chunk_scratch(n_points, n_rows, work_points, work_rows, n_out, n_cov, sub):
    """The model's and the fold's working arrays for sub-blocks of ``sub`` trials, in one
    place for :func:`run_chunk`, :func:`evaluate_at_z` and the bench's pieces: (work, outs,
    cover, red, st, acc, cnt, bad); ``acc`` holds each row's shift, s1, s2, min and max
    (``reduce._fold_rows``)."""
    return (np.empty((work_points, max(work_rows, 1), sub)),
            np.zeros((padded_rows(n_out), sub)), np.empty((max(n_cov, 1), sub), dtype=np.bool_),
            np.zeros((padded_rows(n_rows), sub)), np.zeros((5, 8)),
            np.zeros((n_points, n_rows, 5)), np.zeros((n_points, n_rows), dtype=np.int64),
            np.zeros((n_points, n_rows), dtype=np.int64))


@njit(error_model="numpy", nogil=True, cache=CACHE)
def run_chunk(block, draw, weigh, fold, fixed, fns, codes, params, tables, words, is_random,
              shift, cidx, chol, seed, n_trials, first_block, b_start, b_end, src, live, margs,
              work_points, work_rows, n_out, n_cov, sketch, blk, hits, nonfinite, hist):
    """Blocks ``b_start .. b_end - 1`` of a run (module docstring).

    Parameters
    ----------
    block, draw, weigh, fold, fixed
        The model's block function, the sampler's pair (``engine.core.sampling``), the fold
        (``reduce.fold_binned`` with a sketch, else ``reduce.fold_unsketched``) and
        ``sampling.set_fixed_columns``, each as a pointer (``ByAddress``, made by
        :func:`chunk_call`): run_chunk compiles once for all of them.
    fns : sampling.BlockFns
        ``sampling.FNS``: the block functions the sampler calls, as pointers.
    codes : int64[P, J]; params : float64[P, J, NPAR]; tables : float64[...]
        Packed distributions per point and input (``distributions.pack``).
    words : uint64[J, W]
        Each input's stream word for this run's purpose (``engine.core.rng.stream_word``) in
        column 0; for a sampler with a table (``Sampler.table``: randomized QMC), that table
        with the stream words in column 0 (else W = 1).
    is_random : bool[J]
        Whether input j needs a uniform (False when it is fixed at every point).
    shift : float64[P, J]
        The sampler's normal-score shifts.
    cidx : int64[K]; chol : float64[P, K, K]
        The Gaussian copula: the correlated inputs and each point's factor (K = 0: none).
    seed : uint64
    n_trials, first_block : int
        Trials of the run; block ``b`` of this call is the run's block ``first_block + b``.
    src : int64[P, J]; live : bool[P, R]
        Input columns shared between points; rows folded at each point.
    margs : tuple
        The model's arguments (``Model.pack`` then ``Model.share``).
    work_points, work_rows : int
        Shape of the model's scratch (points x rows of SUB).
    n_out, n_cov : int
        The model's flat numbers of outputs and indicators.
    sketch : bool
        Whether folded rows also go to the sketch.
    blk : float64[n_blocks, P, R, N_MOM]; hits : int64[n_blocks, P, H];
    nonfinite : int64[n_blocks, P, R]
        Per-block records (overwritten for blocks b_start .. b_end - 1).
    hist : int64[P, R, SK_NBINS]
        This worker's sketch rows (added to; integer counts are exact in any order).
    """
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    n_rows = blk.shape[2]
    xs, z0, zk, logw, u, wscr, zb, zt, idx = draw_scratch(n_points, n_in, cidx.shape[0], SUB)
    work, outs, cover, red, st, acc, cnt, bad = chunk_scratch(n_points, n_rows, work_points,
                                                              work_rows, n_out, n_cov, SUB)
    # with a sketch, a block's bins are kept and counted once the block is done (bin_rows):
    # a row's few pages of its 1 MiB sketch row then stay in cache while it is counted
    pbins = np.empty((n_points, padded_rows(n_rows) if sketch else 1, BLOCK if sketch else 1),
                     dtype=np.int32)
    fixed(fns, codes, params, tables, is_random, src, xs, u, zb, zt, idx)
    for b in range(b_start, b_end):
        t0 = (first_block + b) * BLOCK
        t1 = min(t0 + BLOCK, n_trials)
        cnt[:, :] = 0
        bad[:, :] = 0
        hits[b] = 0
        for s0 in range(t0, t1, SUB):
            m = min(SUB, t1 - s0)
            draw(fns, codes, params, tables, words, is_random, src, shift, cidx, chol, seed, s0, m,
                 xs, z0, zk, logw, u, wscr, zb, zt, idx)
            for p in range(n_points):
                block(xs, src[p], p, m, margs, work, outs, cover)
                for h in range(n_cov):
                    k = np.int64(0)
                    ch = cover[h]
                    for i in range(m):
                        k += ch[i]
                    hits[b, p, h] += k
                rows = weigh(outs, cover, m, p, logw, z0, shift, is_random, red, n_rows)
                fold(rows, n_rows, m, live[p], acc[p], cnt[p], bad[p], pbins[p], s0 - t0, st)
        for p in range(n_points):
            if sketch:
                sketch_rows(pbins[p], n_rows, t1 - t0, live[p], hist[p])
            for o in range(n_rows):
                nonfinite[b, p, o] = bad[p, o]
                _finalise(blk[b, p, o], acc[p, o], cnt[p, o])


#: run_chunk compiled in memory only: for models added at run time (``engine.models.register``),
#: whose functions are not importable by a later process that reads the cache
_run_chunk_mem = njit(error_model="numpy", nogil=True)(run_chunk.py_func)


def _compiled(cached, in_memory, model):
    """The cached kernel for a bundled model, the in-memory twin for any other."""
    return cached if getattr(model, "cached", False) else in_memory


@dataclass(frozen=True)
class Prepared:
    """Everything :func:`run_chunk` takes but the seed and the block range, for one plan and
    one sampler (worked out once per run, not once per wave)."""

    plan: object
    sampler: Sampler
    src: np.ndarray          # int64[P, J]
    out_src: np.ndarray      # int64[P, R]: the point whose records row r of point p takes
    live: np.ndarray         # bool[P, R]
    margs: tuple
    work_points: int
    work_rows: int
    n_rows: int

    @property
    def shared(self) -> bool:
        """Whether some point takes an output's records from another point."""
        return not bool(self.live.all())


def prepare(plan, sampler: Sampler) -> Prepared:
    """The arguments of a run of ``plan`` (an :class:`engine.plan.Plan`) with ``sampler``."""
    model = plan.model
    n_p, n_j = plan.codes.shape
    if sampler.src is not None:
        src = sampler.src
    elif sampler.shares:
        src = input_sources(plan.codes, plan.params, plan.cidx, plan.chol)
    else:
        src = own_sources(n_p, n_j)
    margs = model.share(plan.margs, src, plan.is_random)
    n_out = plan.layout.n_outputs
    n_rows = n_out if sampler.rows is None else len(sampler.rows)
    ident = np.repeat(np.arange(n_p, dtype=np.int64)[:, None], n_rows, axis=1)
    if sampler.rows is None and model.output_inputs is not None and n_p > 1:
        out_src = output_sources(src, model.output_inputs(plan.names, plan.margs))
    else:
        out_src = ident
    live = out_src == ident
    if sampler.live is not None:  # the sampler's own (pick-freeze, a mixture's pilot)
        live &= sampler.live
    rows = model.work_rows(margs)
    return Prepared(plan, sampler, src, out_src, np.ascontiguousarray(live), margs,
                    n_p if model.work_per_point else 1, rows, n_rows)


def live_rows(plan, lo: int, hi: int) -> np.ndarray:
    """bool[hi - lo, R]: the rows points ``lo .. hi - 1`` of ``plan`` fold themselves when run
    together by plain Monte Carlo (the others are an earlier point's numbers)."""
    sub = dataclasses.replace(plan, codes=plan.codes[lo:hi], params=plan.params[lo:hi],
                              chol=plan.chol[lo:hi])
    return prepare(sub, plain(hi - lo, len(plan.names))).live


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """Worker threads for :func:`run_blocks` (as many as numba may use; created once)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=numba.config.NUMBA_NUM_THREADS,
                                   thread_name_prefix="capexgap-kernel")
    return _POOL


def chunk_call(prep: Prepared, seed, purpose, n_trials: int, first_block: int):
    """A function ``f(b_start, b_end, blk, hits, nonfinite, hist_rows)`` that runs one chunk."""
    plan, smp = prep.plan, prep.sampler
    words = _stream_words(plan, purpose)
    if smp.table is not None:  # a sampler's per-input data, the stream words in column 0
        table = np.array(smp.table, dtype=np.uint64, order="C")
        table[:, 0] = words[:, 0]
        words = table
    seed = np.uint64(seed)
    n_out, n_cov = plan.layout.n_outputs, plan.layout.n_covers
    data = (*_exact(plan.codes, plan.params, plan.tables), words, _exact(plan.is_random),
            *_exact(smp.shift, plan.cidx, plan.chol), seed)
    src = _exact(prep.src)
    fold = fold_binned if smp.sketch else fold_unsketched
    block = ByAddress(plan.model.block, _block_sig(numba.typeof(prep.margs)))
    args_a = (block, *kernel_refs(smp.draw, smp.weigh, fold, data, src), FNS, *data,
              int(n_trials), int(first_block))
    args_b = (src, prep.live, prep.margs, prep.work_points, prep.work_rows, n_out, n_cov,
              smp.sketch)

    kernel = _compiled(run_chunk, _run_chunk_mem, plan.model)

    def call(b_start, b_end, blk, hits, nonfinite, hist_rows):
        kernel(*args_a, b_start, b_end, *args_b, blk, hits, nonfinite, hist_rows)

    return call


_FNS_T = numba.typeof(FNS)
_SCRATCH_T = tuple(map(numba.typeof, draw_scratch(1, 1, 0, SUB)))  # draw's working arrays


def _exact(*arrays):
    """Each array as the one type the kernels are compiled for (the signatures of
    :func:`kernel_refs` and ``sampling.FNS``): C-contiguous, aligned and writeable (a copy only
    of an array that is not). One array alone, else a tuple."""
    out = tuple(np.require(a, requirements=("C", "A", "W")) for a in arrays)
    return out[0] if len(out) == 1 else out


def kernel_refs(draw, weigh, fold, data, src) -> tuple:
    """The sampler's draw and weigh, the fold and ``set_fixed_columns``, as :func:`run_chunk`
    calls them: pointers of the exact signatures (:class:`~distributions._pointers.ByAddress`)
    for the arrays ``data`` (codes, params, tables, words, is_random, shift, cidx, chol, seed)
    and ``src``. run_chunk then compiles once for every sampler and fold whose arguments have
    these types, and links none of them."""
    codes, params, tables, words, is_random, shift, cidx, chol, seed = map(numba.typeof, data)
    i64, f64_2 = types.int64, types.float64[:, ::1]
    scratch = _SCRATCH_T
    xs, z0, _, logw, u, _, zb, zt, idx = scratch
    src, live, cover, fns = numba.typeof(src), types.bool_[::1], types.bool_[:, ::1], _FNS_T
    sig_draw = types.none(fns, codes, params, tables, words, is_random, src, shift, cidx, chol,
                          seed, i64, i64, *scratch)
    sig_weigh = f64_2(f64_2, cover, i64, i64, logw, z0, shift, is_random, f64_2, i64)
    sig_fold = types.none(f64_2, i64, i64, live, f64_2, types.int64[::1], types.int64[::1],
                          types.int32[:, ::1], i64, f64_2)
    sig_fixed = types.none(fns, codes, params, tables, is_random, src, xs, u, zb, zt, idx)
    return (ByAddress(draw, sig_draw), ByAddress(weigh, sig_weigh), ByAddress(fold, sig_fold),
            ByAddress(set_fixed_columns, sig_fixed))


def _block_sig(margs):
    """A model's block as the runner calls it: ``block(xs, src_p, p, m, margs, work, outs,
    cover)``, ``margs`` of numba type ``margs``."""
    return types.none(types.float64[:, :, ::1], types.int64[::1], types.int64, types.int64,
                      margs, types.float64[:, :, ::1], types.float64[:, ::1],
                      types.bool_[:, ::1])


def _stream_words(plan, purpose) -> np.ndarray:
    """uint64[J, 1]: each input's stream word for ``purpose`` (``rng.stream_word``, vectorised),
    as the column 0 of a sampler's table (one type of ``words`` for every sampler, so
    :func:`run_chunk` compiles once for all of them)."""
    mix = (int(purpose) * int(_PURPOSE_MUL)) & 0xFFFFFFFFFFFFFFFF
    return (np.asarray(plan.streams, dtype=np.uint64) ^ np.uint64(mix)).reshape(-1, 1)


def draw_inputs(plan, seed, purpose, first: int, n: int) -> np.ndarray:
    """Point 0's inputs in trials ``first .. first + n - 1`` of a plain Monte Carlo run.

    They are drawn again by the run's own compiled draw, a sub-block at a time from where the
    run starts one: the same numbers, and nothing to compile that the run has not
    (:func:`trace_trials` recomputes the same numbers one by one, through the scalar functions).

    Parameters
    ----------
    plan : engine.core.plan.Plan
        The run's plan (only point 0 is drawn).
    seed, purpose : int
        The run's seed and stream purpose (0 for a quote's own trials).
    first, n : int
        The first trial and how many.

    Returns
    -------
    numpy.ndarray
        float64[n, J], one column per input in plan order.
    """
    n_j = plan.codes.shape[1]
    codes, params, chol = _exact(plan.codes[:1], plan.params[:1], plan.chol[:1])
    tables, is_random, cidx = _exact(plan.tables, plan.is_random, plan.cidx)
    smp = plain(1, n_j, copula=plan.cidx.size > 0)
    words, seed = _stream_words(plan, purpose), np.uint64(seed)
    src = own_sources(1, n_j)
    scratch = draw_scratch(1, n_j, plan.cidx.size, SUB)
    xs = scratch[0]
    out = np.empty((n, n_j))
    for s0 in range(first - first % SUB, first + n, SUB):  # sub-blocks where the run has them
        m = min(SUB, first + n - s0)
        smp.draw(FNS, codes, params, tables, words, is_random, src, smp.shift, cidx, chol, seed,
                 s0, m, *scratch)
        lo = max(first, s0)
        out[lo - first:s0 + m - first] = xs[0, :, lo - s0:m].T
    for j in np.flatnonzero(~plan.is_random):  # fixed: the block path at u = 0.5, as the run
        value = np.empty(1)
        ppf_block_many(codes[0, j], params[0, j], np.array([0.5]), tables, value)
        out[:, j] = value[0]
    return out


def run_blocks(prep: Prepared, seed, purpose, n_trials: int, first_block: int, n_blocks: int,
               chunk_blocks: int, blk, hits, nonfinite, hist) -> None:
    """Run blocks ``first_block .. first_block + n_blocks - 1`` on worker threads.

    ``blk`` float64[n_blocks, P, R, N_MOM], ``hits`` int64[n_blocks, P, H] and ``nonfinite``
    int64[n_blocks, P, R] are overwritten; ``hist`` int64[T, P, R, SK_NBINS] (a row per
    possible thread) is added to. Chunks of ``chunk_blocks`` blocks are handed out one at a
    time to ``numba.get_num_threads()`` threads, each calling the compiled :func:`run_chunk`
    without the GIL; which thread runs a chunk changes nothing but the (integer) sketch row
    it adds to. With ``n_blocks == 0`` the kernel is only compiled (or loaded).
    """
    n_chunks = (n_blocks + chunk_blocks - 1) // chunk_blocks
    call = chunk_call(prep, seed, purpose, n_trials, first_block)
    n_threads = min(numba.get_num_threads(), n_chunks)
    next_chunk = itertools.count()  # next() is atomic under the GIL: dynamic scheduling
    stop = []  # set when the caller is interrupted: workers take no further chunk

    def work(row):
        while not stop and (c := next(next_chunk)) < n_chunks:
            call(c * chunk_blocks, min((c + 1) * chunk_blocks, n_blocks), blk, hits, nonfinite,
                 hist[row])

    if n_chunks == 0:
        call(0, 0, blk, hits, nonfinite, hist[0])
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
    copy_shared(prep, blk, nonfinite, n_blocks)


def copy_shared(prep: Prepared, blk, nonfinite, n_blocks: int) -> None:
    """An output folded at an earlier point (``out_src``) takes that point's block records.
    Its sketch rows are left untouched (copying them every wave would cost more than the fold
    saved): readers take them from that point (``Totals.sketch_sources``)."""
    if not prep.shared or not n_blocks:
        return
    ap, ao = np.nonzero(~prep.live & (prep.out_src != np.arange(prep.live.shape[0])[:, None]))
    blk[:n_blocks, ap, ao] = blk[:n_blocks, prep.out_src[ap, ao], ao]
    nonfinite[:n_blocks, ap, ao] = nonfinite[:n_blocks, prep.out_src[ap, ao], ao]


# -- The obviously-correct statements: one trial at a time, the scalar functions.


@njit(inline="always")
def correlate_trial(codes, params, tables, cidx, chol, p, zv, xv):
    """One trial's correlated inputs at point p: ``xv[cidx[k]] = sample_z(sum_{l <= k}
    chol[p, k, l] zv[cidx[l]])`` from its independent scores ``zv`` (in l order, as
    :func:`engine.core.sampling.copula_columns` sums a sub-block)."""
    for k in range(cidx.shape[0]):
        j = cidx[k]
        acc = chol[p, k, 0] * zv[cidx[0]]
        for lv in range(1, k + 1):
            acc += chol[p, k, lv] * zv[cidx[lv]]
        xv[j] = sample_z(codes[p, j], params[p, j], acc, tables)


@njit(error_model="numpy", cache=CACHE)
def _reference_chunk(block, codes, params, tables, streams, is_random, cidx, chol, margs,
                     work_rows, n_out, n_cov, seed, purpose, n_trials, first_block, n_blocks,
                     blk, hits, nonfinite, hist):
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    zv = np.zeros(n_in)
    xs = np.empty((n_points, n_in, 1))
    work = np.empty((n_points, max(work_rows, 1), 1))
    outs = np.empty((max(n_out, 1), 1))
    cover = np.empty((max(n_cov, 1), 1), dtype=np.bool_)
    sp = np.empty(n_in, dtype=np.int64)
    a = np.empty((n_points, n_out, 5))
    cnt = np.zeros((n_points, n_out), dtype=np.int64)
    bad = np.zeros((n_points, n_out), dtype=np.int64)
    for b in range(n_blocks):
        t0 = (first_block + b) * BLOCK
        t1 = min(t0 + BLOCK, n_trials)
        cnt[:, :] = 0
        bad[:, :] = 0
        hits[b] = 0
        for t in range(t0, t1):
            for j in range(n_in):
                u = 0.5
                if is_random[j]:
                    u = uniform2(seed, stream_word(streams[j], purpose), np.uint64(t // 2))[t % 2]
                zv[j] = ndtri(u)
                for p in range(n_points):
                    xs[p, j, 0] = sample_u(codes[p, j], params[p, j], u, tables)
            for p in range(n_points):
                correlate_trial(codes, params, tables, cidx, chol, p, zv, xs[p, :, 0])
            for p in range(n_points):
                sp[:] = p
                block(xs, sp, p, 1, margs, work, outs, cover)
                for h in range(n_cov):
                    hits[b, p, h] += cover[h, 0]
                for o in range(n_out):
                    v = outs[o, 0]
                    if not np.isfinite(v):
                        bad[p, o] += 1
                        continue
                    n, sh, s1, s2, lo, hi = _fold(v, cnt[p, o], a[p, o, 0], a[p, o, 1],
                                                  a[p, o, 2], a[p, o, 3], a[p, o, 4])
                    cnt[p, o] = n
                    a[p, o, 0], a[p, o, 1], a[p, o, 2], a[p, o, 3], a[p, o, 4] = sh, s1, s2, lo, hi
                    hist[0, p, o, sketch_bin(v)] += 1
        for p in range(n_points):
            for o in range(n_out):
                nonfinite[b, p, o] = bad[p, o]
                _finalise(blk[b, p, o], a[p, o], cnt[p, o])


_reference_chunk_mem = njit(error_model="numpy")(_reference_chunk.py_func)


def run_blocks_reference(prep: Prepared, seed, purpose, n_trials: int, first_block: int,
                         n_blocks: int, chunk_blocks: int, blk, hits, nonfinite, hist) -> None:
    """:func:`run_blocks` for plain Monte Carlo written one trial at a time: the scalar
    uniform (:func:`engine.core.rng.uniform2`), the scalar ``sample_u``, the model's block on
    one trial, each output folded as it comes, the scalar :func:`sketch_bin`. Tests run whole
    simulations through both and require identical Datasets, so speed work on the runner
    cannot silently change answers. ``chunk_blocks`` is ignored; sketch counts go to row 0.
    """
    plan = prep.plan
    if prep.sampler.rows is not None:
        raise ValueError("the reference runner states plain Monte Carlo only")
    own = own_sources(*plan.codes.shape)
    margs = plan.model.share(plan.margs, own, plan.is_random)
    _compiled(_reference_chunk, _reference_chunk_mem, plan.model)(
        plan.model.block, plan.codes, plan.params, plan.tables, plan.streams, plan.is_random,
        plan.cidx, plan.chol, margs, plan.model.work_rows(margs), plan.layout.n_outputs,
                     plan.layout.n_covers, np.uint64(seed), np.uint64(purpose), int(n_trials),
                     int(first_block), int(n_blocks), blk, hits, nonfinite, hist)


@njit(inline="always")
def _model_rows(block, xs, sp, m, margs, work, outs, cover, at, outs_out, cov_out):
    """Point 0's model on a sub-block of m trials, its outputs and indicators into rows
    ``at .. at + m - 1`` of ``outs_out`` and ``cov_out``."""
    block(xs, sp, 0, m, margs, work, outs, cover)
    for i in range(m):
        for o in range(outs_out.shape[1]):
            outs_out[at + i, o] = outs[o, i]
        for h in range(cov_out.shape[1]):
            cov_out[at + i, h] = cover[h, i]


@njit(error_model="numpy", cache=CACHE)
def _trace(block, codes, params, tables, streams, is_random, cidx, chol, margs, work_rows,
           n_out, n_cov, seed, purpose, first, n):
    n_in = codes.shape[1]
    zv = np.zeros(n_in)
    xv = np.empty(n_in)
    xs_out = np.empty((n, n_in))
    outs_out = np.empty((n, n_out))
    cov_out = np.empty((n, n_cov), dtype=np.bool_)
    xs = np.empty((1, n_in, SUB))
    work = np.empty((1, max(work_rows, 1), SUB))
    outs = np.empty((max(n_out, 1), SUB))
    cover = np.empty((max(n_cov, 1), SUB), dtype=np.bool_)
    sp = np.zeros(n_in, dtype=np.int64)
    for s0 in range(0, n, SUB):
        m = min(SUB, n - s0)
        for i in range(m):
            trial = first + s0 + i
            for j in range(n_in):
                u = 0.5
                if is_random[j]:
                    u = uniform2(seed, stream_word(streams[j], purpose),
                                 np.uint64(trial // 2))[trial % 2]
                    zv[j] = ndtri(u)
                xv[j] = sample_u(codes[0, j], params[0, j], u, tables)
            correlate_trial(codes, params, tables, cidx, chol, 0, zv, xv)
            for j in range(n_in):
                xs[0, j, i] = xv[j]
                xs_out[s0 + i, j] = xv[j]
        _model_rows(block, xs, sp, m, margs, work, outs, cover, s0, outs_out, cov_out)
    return xs_out, outs_out, cov_out


_trace_mem = njit(error_model="numpy")(_trace.py_func)


def trace_trials(plan, seed: int, purpose: int, first: int, n: int):
    """Inputs, outputs and indicators of trials ``first .. first+n-1`` of point 0, recomputed
    alone (scalar uniforms and quantile functions): (xs[n, J], outs[n, O], covers[n, H])."""
    own = own_sources(*plan.codes.shape)
    margs = plan.model.share(plan.margs, own, plan.is_random)
    return _compiled(_trace, _trace_mem, plan.model)(
        plan.model.block, plan.codes, plan.params, plan.tables, plan.streams, plan.is_random,
        plan.cidx, plan.chol, margs, plan.model.work_rows(margs), plan.layout.n_outputs,
        plan.layout.n_covers, np.uint64(seed), np.uint64(purpose), int(first), int(n))


@njit(error_model="numpy", cache=CACHE)
def _at_z(block, fns, codes, params, tables, is_random, cidx, chol, margs, zt_in, src, shift, sp,
          xs, z0, zk, u, zb, zt, idx, work, outs, cover, outs_out, cov_out):
    # every array comes in made (evaluate_at_z): an allocation here is one more function to
    # compile the first time importance sampling runs
    n_in = codes.shape[1]
    n_par = params.shape[2]
    n = zt_in.shape[1]
    set_fixed_columns(fns, codes, params, tables, is_random, src, xs, u, zb, zt, idx)
    nk = tables.shape[1] - 2
    for s0 in range(0, n, SUB):
        m = min(SUB, n - s0)
        for j in range(n_in):
            if not is_random[j]:
                continue
            for i in range(m):
                z0[j, i] = zt_in[j, s0 + i]
            if not _correlated(cidx, j):
                fns.sample_zp(codes[0, j], offset(addr(params), j * n_par), addr(z0[j]), m,
                              addr(tables), nk, offset(addr(xs), j * SUB), addr(idx), addr(zt))
        fns.copula(fns.sample_zp, codes, params, tables, src, shift, cidx, chol, z0, zk, m,
                   xs, zb, zt, idx)
        _model_rows(block, xs, sp, m, margs, work, outs, cover, s0, outs_out, cov_out)


_at_z_mem = njit(error_model="numpy")(_at_z.py_func)


def evaluate_at_z(plan, z: np.ndarray):
    """The model of point 0 at given normal scores ``z[n, J]`` (ignored for inputs that are not
    random), through the same quantile functions as importance sampling: the block path
    (``sample_block_zp``, the copula's ``copula_columns``: bit for bit the scalar ``sample_z``
    and the copula's mix in input order), so the search compiles little beyond what a run
    does. Returns (outs[n, O], covers[n, H])."""
    zt_in = np.ascontiguousarray(np.asarray(z, dtype=np.float64).T)
    n_in, n = plan.codes.shape[1], zt_in.shape[1]
    n_out, n_cov = plan.layout.n_outputs, plan.layout.n_covers
    own = own_sources(*plan.codes.shape)
    margs = plan.model.share(plan.margs, own, plan.is_random)
    block = ByAddress(plan.model.block, _block_sig(numba.typeof(margs)))
    # z0 starts at zeros: the scores of inputs that are not random stay 0, as in the trace
    xs, z0, zk, _, u, _, zb, zt, idx = draw_scratch(1, n_in, plan.cidx.shape[0], SUB)
    work, outs, cover = chunk_scratch(1, 0, 1, plan.model.work_rows(margs), n_out, n_cov, SUB)[:3]
    out = (np.empty((n, n_out)), np.empty((n, n_cov), dtype=np.bool_))
    _compiled(_at_z, _at_z_mem, plan.model)(
        block, FNS, *_exact(plan.codes[:1], plan.params[:1], plan.tables, plan.is_random,
                            plan.cidx, plan.chol[:1]), margs, zt_in,
        np.zeros((1, n_in), dtype=np.int64), np.zeros((1, n_in)), np.zeros(n_in, dtype=np.int64),
        xs, z0, zk, u, zb, zt, idx, work, outs, cover, *out)
    return out
