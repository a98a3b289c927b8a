"""Run a plan in waves of chunks and reduce to totals.

The Python loop over *waves* is where progress is reported, a time limit or an interrupt is
honoured, and per-block moments are merged in block order; the kernel does everything per trial.
A wave is sized by the measured speed to last about :data:`WAVE_SECONDS` (numba code cannot be
interrupted, so this bounds how long a stop request waits), in whole chunks and at most
:data:`WAVE_TRIALS` trials. Results never depend on wave sizes: blocks sit at fixed positions and
merge in block order. Memory is O(threads x sketch + wave), whatever the trial count.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numba
import numpy as np

from engine.base.errors import ConfigError
from engine.base.interrupts import ProgressFn, StopFn
from engine.core import backend, runner
from engine.core.layout import Layout
from engine.core.plan import Plan
from engine.core.reduce import BLOCK, N_MOM, SK_NBINS, _merge_sketch, merge_moments, sparse_zeros
from engine.core.sampling import Sampler, plain

#: The most trials of one run: counts stay exact in float64 (2**53).
MAX_TRIALS = 2**53

#: Default trials per parallel work item (a multiple of BLOCK; affects speed, never results).
DEFAULT_CHUNK = 16 * BLOCK
#: At most this many trials per wave (bounds the per-wave buffers).
WAVE_TRIALS = 1 << 22
#: Aim for waves of about this long: the longest a stop request or time limit waits.
WAVE_SECONDS = 0.25
#: At most this many blocks (and bytes of per-block records) in a wave run by an executor.
EXECUTOR_WAVE_BLOCKS = 1 << 22
EXECUTOR_WAVE_BYTES = 1 << 30
#: A wave grows by at most this factor over the last (a noisy timing cannot overshoot).
_WAVE_GROWTH = 4


@dataclass
class Totals:
    """Merged accumulators of a (possibly partial) run.

    O and H are the flat numbers of rows folded (the model's outputs, or a weighted sampler's
    sums) and of cover indicators (``layout.n_outputs``, ``layout.n_covers``). ``hits`` is
    int64[P] for a model with one indicator and no ``hits_axis`` (the one-year model),
    int64[P, H] for a model whose layout has ``hits_axis`` (the vintage model: covers and
    broke-even-by, per year).
    """

    trials: int
    moments: np.ndarray        # float64[P, O, N_MOM]
    hits: np.ndarray           # int64[P] (one-year) or int64[P, H]
    nonfinite: np.ndarray      # int64[P, O]
    #: int64[P, O, SK_NBINS]; the row of output o of point p is
    #: ``sketch[sketch_sources[p, o], o]`` (:meth:`sketch_row`, :meth:`sketch_rows`)
    sketch: np.ndarray
    completed: bool = True
    elapsed_s: float = 0.0
    extra: dict = field(default_factory=dict)
    layout: Layout = Layout(outputs=())  # names and shape of the outputs and indicators
    #: int64[P, O]: the point whose sketch row output o of point p shares (the one-year
    #: kernel computes an output once for all points where it is the same numbers); None:
    #: every point has its own rows
    sketch_sources: np.ndarray | None = None

    def sketch_row(self, p: int, f: int) -> np.ndarray:
        """Sketch counts of flat output `f` of point `p` (a view): int64[SK_NBINS]."""
        return self.sketch[p if self.sketch_sources is None else self.sketch_sources[p, f], f]

    def sketch_rows(self, flat: slice | int, lo: int = 0, hi: int | None = None
                    ) -> np.ndarray:
        """Sketch counts of outputs `flat` of every point, bins ``lo .. hi - 1``:
        int64[P, len(flat), hi - lo] (or [P, hi - lo] for one output)."""
        view = self.sketch[:, flat, lo:hi]
        if self.sketch_sources is None:
            return view
        src = self.sketch_sources[:, flat]
        if view.ndim == 2:
            return view[src]
        return view[src, np.arange(view.shape[1])[None, :]]


def resolve_threads(threads: int | None) -> int:
    """Validate and apply a thread count (None: all of numba's threads)."""
    limit = numba.config.NUMBA_NUM_THREADS
    if threads is None:
        threads = limit
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(None, "threads", "must be a whole number >= 1", threads,
                          f"Use 1..{limit}.")
    if threads > limit:
        raise ConfigError(None, "threads", f"must be at most {limit} (NUMBA_NUM_THREADS)",
                          threads, f"Use 1..{limit}, or set NUMBA_NUM_THREADS before starting.")
    numba.set_num_threads(threads)
    return threads


def run_plan(plan: Plan, *, trials: int, seed: int, threads: int | None = None,
             chunk_size: int = DEFAULT_CHUNK, purpose: int = 0, sampler: Sampler | None = None,
             progress: ProgressFn | None = None, should_stop: StopFn | None = None,
             max_seconds: float | None = None,
             monitor: Callable[[int, np.ndarray, np.ndarray], int | None] | None = None,
             executor: backend.Executor | None = None,
             blocks: Callable[[int, np.ndarray], None] | None = None,
             sketch_rows: np.ndarray | None = None,
             sketch_into: np.ndarray | None = None) -> Totals:
    """Simulate `trials` trials of every point of `plan` and return merged totals.

    Parameters
    ----------
    plan : Plan
    trials : int
        Number of trials (>= 1).
    seed : int
        0 <= seed < 2**64.
    threads : int, optional
        numba threads; results do not depend on it.
    chunk_size : int
        Trials per parallel work item, a multiple of :data:`~engine.core.reduce.BLOCK`; results
        do not depend on it.
    purpose : int
        Counter word of the generator (0 for the main run).
    sampler : Sampler, optional
        How trials are drawn (``engine.core.sampling``); default: the plan's, else plain
        Monte Carlo.
    progress : callable, optional
        Called with the number of trials finished after each wave.
    should_stop : callable, optional
        Polled between waves (about every :data:`WAVE_SECONDS`); returning True stops the run
        early (``completed=False``; ``extra["stop_reason"]`` is the callable's ``reason``
        attribute if it has one, e.g. an :class:`engine.interrupts.StopRequest`).
    max_seconds : float, optional
        Wall-time limit: waves are sized to end by it, and the run stops after the first wave
        that ends past it, or so near it that even one more chunk would end more than half a
        chunk past it (``completed=False``, ``extra["stop_reason"]`` says so). JIT
        compilation happens before the first wave and does not count.
    monitor : callable, optional
        ``monitor(done, hits, moments) -> int | None``, called before the first wave (done = 0)
        and after every wave but the last, with the trials done and the running totals (hit
        counts and merged moments, as in :class:`Totals`; read them, do not keep them). It
        returns how many more trials it wants before it is called again (the next wave is cut
        to end there, in whole blocks), None for no limit, or 0 to stop the run now
        (``completed=False``, ``extra["stop_reason"]`` its ``reason`` attribute, if any).
        Precision targets use it (:mod:`engine.precision`): a run stopped at N trials equals a
        fixed run of N trials.
    blocks : callable, optional
        ``blocks(first, blk)``, called after every wave (before ``monitor``) with the index of
        its first block and its per-block records float64[nb, P, R, N_MOM] (read them, do not
        keep them): for estimators that need more than the merged moments (batch means).
    executor : Executor, optional
        Where the chunks are computed (:mod:`engine.core.backend`); default: the one in force
        (:func:`engine.core.backend.use`), else this process's threads. Results do not
        depend on it.
    sketch_rows : int64[NUMBA_NUM_THREADS, P, R, SK_NBINS], optional
        All zeros: the threads' sketch rows to bin into instead of fresh ones; left all zeros
        (the merge clears the bins it reads). A caller of many short runs (the replicates of
        a QMC run) saves the first touch of fresh pages in every run.
    sketch_into : int64[P, R, SK_NBINS], optional
        A sum that a *completed* run adds its sketch counts to (its totals' ``sketch`` is
        then an empty view of it) instead of fresh memory; a run stopped early keeps its
        counts to itself.

    ``extra["stopped_by"]`` says which of ``monitor``, ``should_stop`` or ``max_seconds``
    stopped a run early. A stopped run has done at least one wave: its totals are those of the
    first ``trials`` trials of the complete run (the same blocks, merged in the same order).
    """
    _check_run_args(trials, seed, chunk_size)
    n_threads = resolve_threads(threads)
    chunk_blocks = fit_chunk_blocks(plan, chunk_size)
    n_blocks = -(-trials // BLOCK)
    executor = executor if executor is not None else backend.current()
    per_wave = chunk_blocks * (n_threads if executor is None else executor.slots)
    cap = WAVE_TRIALS // BLOCK if executor is None else _executor_cap(plan, sampler, per_wave)
    wave_blocks = max(per_wave, cap // per_wave * per_wave)
    wave_blocks = min(wave_blocks, n_blocks)
    nb_next = min(per_wave, wave_blocks)  # the first wave: one chunk per thread

    n_p = plan.n_points
    if sampler is None:
        sampler = plan.sampler if plan.sampler is not None else \
            plain(n_p, len(plan.names), copula=plan.cidx.size > 0)
    prep = runner.prepare(plan, sampler)
    layout = plan.layout if sampler.rows is None else \
        Layout(outputs=sampler.rows, covers=plan.layout.covers, hits_axis=plan.layout.hits_axis)
    n_out, n_cov = prep.n_rows, plan.layout.n_covers
    blk = np.empty((wave_blocks, n_p, n_out, N_MOM))
    hits = np.empty((wave_blocks, n_p, n_cov), dtype=np.int64)
    nonfinite = np.empty((wave_blocks, n_p, n_out), dtype=np.int64)
    # numba thread ids are < NUMBA_NUM_THREADS; one sketch row per possible id.
    shape = (numba.config.NUMBA_NUM_THREADS, n_p, n_out, SK_NBINS)
    if sketch_rows is not None and sketch_rows.shape != shape:
        raise ValueError(f"sketch_rows has shape {sketch_rows.shape}, not {shape}")
    hist = sparse_zeros(shape) if sketch_rows is None else sketch_rows
    moments = np.zeros((n_p, n_out, N_MOM))
    moments[:, :, 3] = math.inf
    moments[:, :, 4] = -math.inf
    hit_total = np.zeros((n_p, n_cov), dtype=np.int64)
    # the totals as Totals.hits has them (a view: it follows hit_total)
    hit_view = hit_total if layout.hits_axis else hit_total[:, 0]
    bad_total = np.zeros((n_p, n_out), dtype=np.int64)

    seed64 = np.uint64(seed)
    purpose64 = np.uint64(purpose)
    run_blocks = runner.run_blocks if executor is None else \
        functools.partial(executor.run_blocks, should_stop=should_stop)
    # Compile (or load from the disk cache) with an empty call, so elapsed_s is the run alone.
    t_compile = time.perf_counter()
    run_blocks(prep, seed64, purpose64, trials, 0, 0, chunk_blocks, blk, hits, nonfinite, hist)
    merge_moments(moments, blk, 0)
    compile_s = time.perf_counter() - t_compile
    start = time.perf_counter()
    done_blocks = 0
    completed = True
    extra: dict = {"compile_s": compile_s}
    if executor is not None:
        extra["workers"] = executor.n_workers
    limit = _ask(monitor, 0, hit_view, moments)
    if limit == 0:
        n_blocks = 0  # stopped before any trial: nothing to run
        completed = False
        extra["stop_reason"] = getattr(monitor, "reason", None) or "stopped by monitor"
        extra["stopped_by"] = "monitor"
    while done_blocks < n_blocks:
        nb = min(nb_next, n_blocks - done_blocks)
        if limit is not None:
            nb = min(nb, limit)
        t0 = time.perf_counter()
        got = run_blocks(prep, seed64, purpose64, trials, done_blocks, nb, chunk_blocks, blk,
                         hits, nonfinite, hist)
        if got is not None:  # an executor stopped mid-wave keeps its leading blocks only
            nb = got
        merge_moments(moments, blk, nb)
        if blocks is not None:
            blocks(done_blocks, blk[:nb])
        hit_total += hits[:nb].sum(axis=0)
        bad_total += nonfinite[:nb].sum(axis=0)
        done_blocks += nb
        now = time.perf_counter()
        done = min(done_blocks * BLOCK, trials)
        if progress is not None:
            progress(done)
        if done_blocks >= n_blocks:
            break
        limit = _ask(monitor, done, hit_view, moments)
        if limit == 0:
            completed = False
            extra["stop_reason"] = getattr(monitor, "reason", None) or "stopped by monitor"
            extra["stopped_by"] = "monitor"
            break
        if should_stop is not None and should_stop():
            completed = False
            # a StopRequest (engine.interrupts) says why, e.g. "interrupted by SIGTERM"
            extra["stop_reason"] = getattr(should_stop, "reason", None) or "stop requested"
            extra["stopped_by"] = "should_stop"
            break
        # past the limit, or so near it that the smallest next wave (one chunk, at the last
        # wave's speed per thread) would end past it by more than half its length: a plan of
        # thousands of inputs takes seconds per chunk, and stopping late is the worse miss
        slots = n_threads if executor is None else executor.slots
        least = chunk_blocks * (now - t0) * min(nb, slots) / nb
        if max_seconds is not None and now - start + 0.5 * least > max_seconds:
            completed = False
            extra["stop_reason"] = f"time limit of {max_seconds:g} s reached"
            extra["stopped_by"] = "max_seconds"
            break
        budget = WAVE_SECONDS if executor is None else executor.wave_seconds
        if max_seconds is not None:
            budget = min(budget, max_seconds - (now - start))
        nb_next = _next_wave(nb, now - t0, budget, chunk_blocks, per_wave, wave_blocks)
    sources = prep.out_src
    # fresh anonymous memory (sparse_zeros): pages of bins no value reached are never written,
    # so a sweep's many mostly-empty rows cost address space, not memory or time. A sampler
    # without sketches (weighted sums, pick-freeze) binned nothing: reading each row's
    # [min, max] bins would only write pages of zeros
    if sampler.sketch and sketch_into is not None and completed:
        _merge_sketch(hist, moments, sources, sketch_into, sketch_rows is not None)
        sketch = sketch_into[:0]  # the counts live in the caller's sum
    else:
        sketch = sparse_zeros(hist.shape[1:])
        if sampler.sketch:
            _merge_sketch(hist, moments, sources, sketch, sketch_rows is not None)
    return Totals(trials=min(done_blocks * BLOCK, trials), moments=moments, hits=hit_view,
                  nonfinite=bad_total, sketch=sketch, sketch_sources=sources,
                  completed=completed,
                  elapsed_s=time.perf_counter() - start, extra=extra, layout=layout)


def _executor_cap(plan: Plan, sampler: Sampler | None, per_wave: int) -> int:
    """The most blocks of an executor's wave: its per-block records within
    :data:`EXECUTOR_WAVE_BYTES` (a cluster's wave is seconds of many workers' trials; the
    buffers are touched only as far as a wave fills them)."""
    smp = sampler if sampler is not None else plan.sampler
    rows = plan.layout.n_outputs if smp is None or smp.rows is None else len(smp.rows)
    per_block = plan.n_points * (rows * (N_MOM + 1) + plan.layout.n_covers) * 8
    return max(per_wave, min(EXECUTOR_WAVE_BLOCKS, EXECUTOR_WAVE_BYTES // per_block))


def _ask(monitor, done: int, hits: np.ndarray, moments: np.ndarray) -> int | None:
    """The monitor's wish as whole blocks: None (no limit), 0 (stop) or >= 1."""
    if monitor is None:
        return None
    want = monitor(done, hits, moments)
    if want is None:
        return None
    return 0 if want <= 0 else -(-int(want) // BLOCK)


#: A generous cost of one random input in one trial (the scalar importance kernel's; the block
#: kernels take a few ns): it sizes the first wave of a plan with very many inputs.
_NS_PER_INPUT = 40.0


def fit_chunk_blocks(plan: Plan, chunk_size: int) -> int:
    """Blocks per chunk: ``chunk_size`` in blocks, fewer for a plan so wide that one chunk per
    thread (the first wave) would outlast :data:`WAVE_SECONDS`.

    The first wave is run before any speed is measured, and a stop request or a time limit is
    only seen between waves; 1,000 companies made a first chunk take seconds. Results do not
    depend on the chunk size (blocks merge in block order), so this changes no bit.
    """
    n_random = int(np.count_nonzero(plan.is_random))
    per_block_s = BLOCK * n_random * _NS_PER_INPUT * 1e-9
    most = chunk_size // BLOCK
    if per_block_s <= 0.0:
        return most
    return max(1, min(most, int(WAVE_SECONDS / per_block_s)))


def _next_wave(nb: int, seconds: float, budget: float, chunk_blocks: int, per_wave: int,
               most: int) -> int:
    """Blocks in the next wave: about `budget` seconds at the last wave's speed, in whole
    chunks (whole rounds of chunks over the threads when that many fit), within [1 chunk,
    `most`] and at most `_WAVE_GROWTH` times the last wave."""
    target = nb * budget / seconds if seconds > 0.0 else float(most)
    target = min(target, float(nb * _WAVE_GROWTH), float(most))
    step = per_wave if target >= per_wave else chunk_blocks
    return max(chunk_blocks, int(target) // step * step)


def _check_run_args(trials: int, seed: int, chunk_size: int) -> None:
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) \
            or not 1 <= trials <= MAX_TRIALS:
        raise ConfigError(None, "trials", "must be a whole number in [1, 2**53]", trials,
                          "Pass e.g. --trials 1000000.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed < 2**64:
        raise ConfigError(None, "seed", "must be a whole number in [0, 2**64)", seed,
                          "Pass e.g. --seed 1.")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < BLOCK or chunk_size % BLOCK:
        raise ConfigError(None, "chunk_size", f"must be a positive multiple of {BLOCK}",
                          chunk_size, f"Use e.g. {DEFAULT_CHUNK}.")
