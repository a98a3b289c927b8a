"""A quote by randomized quasi-Monte Carlo: R independent replicates of scrambled Sobol'
points or of Latin hypercubes.

Each replicate is a run of ``n = 2**k`` points of the scrambled Sobol' sampler
(:mod:`engine.core.qmc`) or of the Latin hypercube sampler (:mod:`engine.core.lhs`) through
the one runner, so each is bit-identical for any thread
count or chunk size; replicates are merged in replicate order (moments by Chan's formula,
hit counts and sketches summed), so the merged result is too. The estimate of P(cover) and
of every output's mean is the mean over the R replicate estimates (all have n points), and
its standard error is their spread: ``SE = sd_r / sqrt(R)`` (ddof 1), with a Student t 95%
interval ``mean +- t(0.975, R - 1) SE``. Within a replicate the points are not independent,
so a binomial interval would overstate the error of a smooth estimate and is not used.

Dependency rule: ``engine.base``, ``engine.core`` and ``engine.models``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np
import xarray as xr

from engine.base.errors import ConfigError
from engine.base.interrupts import ProgressFn, StopFn
from engine.core.dataset import build_dataset
from engine.core.driver import DEFAULT_CHUNK, Totals, _check_run_args, resolve_threads, run_plan
from engine.core.lhs import lhs
from engine.core.plan import Plan
from engine.core.qmc import MAX_POINTS, sobol
from engine.core.reduce import (BLOCK, M_MEAN, M_N, N_MOM, SK_NBINS, _merge_sketch,
                                merge_moments, sparse_zeros)
from engine.core.stats import proportion_interval
from engine.models import make_plan

from . import correlation, exceedance

if TYPE_CHECKING:  # pragma: no cover
    from engine.core.scenario import Scenario

#: The samplers with replicates, and how each is described (the Dataset's ``sampler``).
SAMPLERS = {
    "sobol": "randomized quasi-Monte Carlo: Owen-scrambled Sobol' points (Joe-Kuo direction "
             "numbers as scipy ships them, hash-based nested scrambling), quantile-function "
             "transforms",
    "lhs": "Latin hypercube: one point per equal-probability stratum of each input "
           "(counter-based hash permutations, jittered), quantile-function transforms",
}
#: Independent scramblings by default: 15 degrees of freedom for the t interval.
DEFAULT_REPLICATES = 16
#: The fewest replicates that give an error bar (one degree of freedom is too unstable).
MIN_REPLICATES = 2


def points_per_replicate(trials: int, replicates: int) -> int:
    """The power of two at or above ``trials / replicates`` (at least 1): Sobol' points are
    balanced in runs of 2**k, so each replicate gets a whole power of two."""
    per = max(1, -(-int(trials) // int(replicates)))
    return 1 << (per - 1).bit_length()


def check_replicates(replicates: int, name: str = "replicates") -> None:
    """A replicate count the t interval can use (``name``: how the message names it)."""
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) \
            or replicates < MIN_REPLICATES:
        raise ConfigError(None, name, f"must be a whole number >= {MIN_REPLICATES}",
                          replicates, f"Use e.g. --replicates {DEFAULT_REPLICATES}: the error "
                          "bar comes from the spread between replicates.")


def check_qmc(trials: int, seed: int, replicates: int, sampler: str, chunk_size: int) -> int:
    """Validate a replicated run's options (ConfigError) and return its points per replicate."""
    check_replicates(replicates)
    if sampler not in SAMPLERS:
        raise ConfigError(None, "sampler", f"must be mc or one of {', '.join(SAMPLERS)}",
                          sampler, "Use sampler='mc' (plain Monte Carlo), 'sobol' or 'lhs'.")
    _check_run_args(trials, seed, chunk_size)
    per = points_per_replicate(trials, replicates)
    if per > MAX_POINTS:
        raise ConfigError(None, "trials", f"gives {per:,} points per replicate, more than "
                          "32-bit points allow (2**32)", trials,
                          "Use fewer trials or more --replicates.")
    return per


@dataclass
class Replicates:
    """Whole replicates of one plan, in replicate order, and how the run went."""

    runs: list[Totals]  # their sketches folded into `sketch` (and dropped) as they come
    per: int
    sketch: np.ndarray | None = None  # the replicates' sketch counts summed
    elapsed: float = 0.0
    compile_s: float = 0.0
    stop_reason: str | None = None  # set: the merged result is marked partial, with this
    stopped_by: str | None = None  # "should_stop" or "max_seconds" when a stop cut the run
    stop_why: str = ""  # what stopped it ("time limit of 10 s reached")

    def merged(self, requested: int | None = None) -> Totals:
        """The replicates' totals as one run's, marked partial when a stop cut the run."""
        totals = merge_runs(self.runs, self.elapsed, self.sketch)
        totals.extra["compile_s"] = self.compile_s
        if self.stop_reason is not None:
            totals.completed = False
            totals.extra["stop_reason"] = self.stop_reason
        return totals

    def fold_sketch(self, t: Totals) -> None:
        """Add the sketch of replicate `t` (a partial one, which kept its own counts) to the
        sum and drop it; only each row's bins between its min and max are read
        (:func:`engine.core.reduce._merge_sketch`)."""
        _merge_sketch(t.sketch[None], t.moments, t.sketch_sources, self.sketch)
        t.sketch = self.sketch[:0]  # empty: the counts live in the sum

    @property
    def complete(self) -> bool:
        """Two or more whole replicates: an error bar from their spread."""
        return len(self.runs) >= MIN_REPLICATES and self.runs[-1].completed


def run_replicates(plan: Plan, sampler: str, per: int, count: int, *, seed: int,
                   threads: int | None = None, chunk_size: int = DEFAULT_CHUNK,
                   first: int = 0, progress: ProgressFn | None = None,
                   should_stop: StopFn | None = None, max_seconds: float | None = None,
                   enough: Callable[[list[Totals]], bool] | None = None) -> Replicates:
    """Replicates ``first .. first + count - 1`` of ``sampler`` for every point of ``plan``,
    ``per`` points each; each is a pure function of (plan, seed, replicate).

    ``enough(runs)``, if given, is asked after each replicate whether to stop (a precision
    target met). A stop (``should_stop``, ``max_seconds``) keeps whole replicates only (a
    partial replicate is not a balanced point set), or the first one's trials when none is
    whole. ``progress`` counts trials over the replicates of this call.
    """
    # a replicate is short (2**16 points: 16 blocks, one default chunk): chunks small enough
    # that every thread gets some (the result does not depend on the chunk size)
    n_threads = resolve_threads(threads)
    chunk = min(chunk_size, max(BLOCK, per // (BLOCK * n_threads) * BLOCK))
    out = Replicates([], per)
    rows = None  # the threads' sketch rows, zero between replicates
    for r in range(first, first + int(count)):
        done = (r - first) * per
        step = None if progress is None else (lambda k, done=done: progress(done + k))
        left = None if max_seconds is None else max(max_seconds - out.elapsed, 1e-3)
        smp = _make(sampler, plan, r, per)
        if rows is None:
            n_rows = plan.layout.n_outputs if smp.rows is None else len(smp.rows)
            rows = sparse_zeros((numba.config.NUMBA_NUM_THREADS, plan.n_points, n_rows,
                                 SK_NBINS))
            out.sketch = sparse_zeros(rows.shape[1:])
        # a whole replicate's counts go straight into the sum; short replicates would
        # otherwise spend as long on fresh sketch pages and merges as on their trials
        t = run_plan(plan, trials=per, seed=seed, threads=threads, chunk_size=chunk,
                     sampler=smp, progress=step, should_stop=should_stop, max_seconds=left,
                     sketch_rows=rows, sketch_into=out.sketch)
        out.elapsed += t.elapsed_s
        out.compile_s += t.extra.get("compile_s", 0.0)
        if not t.completed:  # whole replicates only
            out.stopped_by = t.extra.get("stopped_by", "should_stop")
            out.stop_reason = out.stop_why = t.extra.get("stop_reason", "stopped early")
            if not out.runs:
                out.runs.append(t)  # nothing whole: the first replicate's trials, no error bar
                out.fold_sketch(t)
            break
        out.runs.append(t)  # its sketch counts are in out.sketch already
        if r + 1 == first + count or (enough is not None and enough(out.runs)):
            break
        if should_stop is not None and should_stop():
            out.stopped_by = "should_stop"
            out.stop_reason = getattr(should_stop, "reason", None) or "stop requested"
        elif max_seconds is not None and out.elapsed > max_seconds:
            out.stopped_by = "max_seconds"
            out.stop_reason = f"time limit of {max_seconds:g} s reached"
        if out.stopped_by is not None:
            out.stop_why = out.stop_reason
            break
    return out


def simulate_qmc(scenario: Scenario, *, trials: int | None = None, seed: int | None = None,
                 replicates: int = DEFAULT_REPLICATES, sampler: str = "sobol",
                 threads: int | None = None, chunk_size: int = DEFAULT_CHUNK,
                 progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                 max_seconds: float | None = None) -> xr.Dataset:
    """Quote a scenario with ``replicates`` independent runs of a sampler (module docstring).

    Parameters
    ----------
    scenario : Scenario
    trials : int, optional
        Total trials asked for (default ``scenario.trials``); each replicate gets the power of
        two at or above ``trials / replicates`` (a note says so when that changes the total).
    seed : int, optional
        Seeds every replicate's scrambling (with the replicate number and each input's stream).
    replicates : int
        Independent scramblings, >= 2 (default 16).
    sampler : {"sobol", "lhs"}
        Scrambled Sobol' points or Latin hypercubes.
    threads, chunk_size, progress, should_stop, max_seconds
        As for :func:`engine.simulate`; progress counts trials over all replicates. A stop
        keeps whole replicates only (a partial replicate is not a balanced point set).

    Returns
    -------
    xarray.Dataset
        As :func:`engine.simulate`, with ``p_cover_ci95`` the replicates' t interval and, in
        addition, ``p_cover_se``, ``<output>_mean_se`` and ``p_cover_replicates`` /
        ``<output>_mean_replicates`` (dim ``replicate``); attributes ``method`` (the
        sampler),
        ``replicates``, ``points_per_replicate`` and ``interval``.
    """
    trials = scenario.trials if trials is None else trials
    seed = scenario.seed if seed is None else seed
    per = check_qmc(trials, seed, replicates, sampler, chunk_size)
    plan = make_plan(scenario)
    reps = run_replicates(plan, sampler, per, replicates, seed=seed, threads=threads,
                          chunk_size=chunk_size, progress=progress, should_stop=should_stop,
                          max_seconds=max_seconds)
    return quote_dataset(scenario, plan, reps, sampler, seed=seed, trials=trials,
                         requested=per * int(replicates), chunk_size=chunk_size)


def quote_dataset(scenario: Scenario, plan: Plan, reps: Replicates, sampler: str, *,
                  seed: int, trials: int, requested: int, chunk_size: int) -> xr.Dataset:
    """The quote Dataset of a replicated run of one point (`trials`: as asked for)."""
    ds = build_dataset(scenario, reps.merged(), seed=seed, requested_trials=requested,
                       run_attrs={"threads": numba.get_num_threads(), "chunk_size": chunk_size,
                                  "compile_s": round(reps.compile_s, 3)})
    if reps.complete:
        ds = attach_replicates(ds, reps.runs, reps.per, sampler)
    else:  # a stop left fewer than two whole replicates: no spread to measure
        ds.attrs["sampler"] = "randomized quasi-Monte Carlo (stopped before two replicates " \
                              "were complete: the interval is the binomial one)"
    ds = rounding_note(ds, sampler, len(reps.runs), reps.per, trials)
    ds = exceedance.attach(ds)
    # the achieved correlation is measured on plain Monte Carlo trials (the trace): not these
    return correlation.attach(ds, plan, scenario, seed, 0)


def rounding_note(ds: xr.Dataset, sampler: str, n_runs: int, per: int, trials: int
                  ) -> xr.Dataset:
    """``ds`` with a note when whole replicates of 2**k points changed the trials asked for."""
    total = n_runs * per
    if total != trials and int(ds.attrs.get("completed", 1)):
        note = (f"{_NAMES[sampler]} come in powers of two: {n_runs} replicates of {per:,} "
                f"points = {total:,} trials (asked for {trials:,})")
        ds.attrs["notes"] = "\n".join(x for x in (ds.attrs.get("notes", ""), note) if x)
    return ds


#: How a note names each sampler's point sets.
_NAMES = {"sobol": "Sobol' points", "lhs": "the Latin hypercubes here"}


def _make(name: str, plan: Plan, replicate: int, per: int):
    """Replicate ``replicate`` of sampler ``name`` for ``plan``, ``per`` points."""
    if name == "lhs":
        return lhs(plan.n_points, plan.is_random, replicate, per)
    return sobol(plan.n_points, plan.is_random, replicate)


def merge_runs(runs: list[Totals], elapsed: float, sketch: np.ndarray) -> Totals:
    """The replicates' totals as one run's: moments merged in replicate order, hit counts and
    non-finite counts summed; `sketch` their sketches summed (:func:`run_replicates`:
    the bins are fixed)."""
    first = runs[0]
    moments = np.zeros(first.moments.shape)
    moments[..., 3] = math.inf
    moments[..., 4] = -math.inf
    merge_moments(moments, np.stack([t.moments for t in runs]), len(runs))
    return Totals(trials=sum(t.trials for t in runs), moments=moments,
                  hits=sum(t.hits for t in runs[1:]) + first.hits,
                  nonfinite=sum(t.nonfinite for t in runs[1:]) + first.nonfinite,
                  sketch=sketch, completed=True, elapsed_s=elapsed,
                  extra={"compile_s": sum(t.extra.get("compile_s", 0.0) for t in runs)},
                  layout=first.layout, sketch_sources=first.sketch_sources)


def replicate_interval(est: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Mean, standard error and 95% t half-width of replicate estimates ``est[R, ...]``, and
    the t quantile used."""
    from scipy.stats import t as student_t

    n_r = est.shape[0]
    # each point's replicates as one contiguous row: numpy sums a row the same way whatever
    # the other rows, so a sweep point gets the bits of its own quote (along axis 0 the order
    # of the additions would depend on how many points there are)
    rows = np.ascontiguousarray(np.moveaxis(est, 0, -1))
    mean = rows.mean(axis=-1)
    se = rows.std(axis=-1, ddof=1) / math.sqrt(n_r)
    tq = float(student_t.ppf(0.975, n_r - 1))
    return mean, se, tq * se, tq


def _per_point(a: np.ndarray) -> np.ndarray:
    """[R, P, ...] -> [P, R, ...]: each point's replicates together."""
    return np.moveaxis(a, 0, 1)


def cover_hits(runs: list[Totals]) -> np.ndarray:
    """Covering trials of each replicate and point: int64[R, P, ne] (ne: the model's years)."""
    layout = runs[0].layout
    return np.stack([np.asarray(t.hits).reshape(-1, len(layout.covers), layout.n_along)[:, 0]
                     for t in runs])


def cover_interval(runs: list[Totals], per: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """P(cover) over every replicate, its standard error and the ends of its 95% t interval
    (clipped to [0, 1]), float64[P, ne] each; where every replicate agrees (no spread) the
    ends are the binomial interval's of all the points together."""
    hits_r = cover_hits(runs)
    _, se, half, _ = replicate_interval(hits_r / float(per))
    n = per * len(runs)
    hits = hits_r.sum(axis=0)
    p = hits / float(n)
    lo, hi = np.clip(p - half, 0.0, 1.0), np.clip(p + half, 0.0, 1.0)
    for i in zip(*np.nonzero(se <= 0.0)):
        lo[i], hi[i], _ = proportion_interval(int(hits[i]), n)
    return p, se, lo, hi


def ci_method(se: np.ndarray, n_r: int) -> str:
    """How P(cover)'s interval was obtained, for points whose standard errors are `se`."""
    from scipy.stats import t as student_t

    tq = float(student_t.ppf(0.975, n_r - 1))
    how = (f"Student t over {n_r} independent replicates ({n_r - 1} df, t = {tq:.3f}): "
           f"mean +- t * sd / sqrt({n_r})")
    return how if np.all(np.asarray(se) > 0.0) else \
        how + "; where every replicate agrees, the binomial bound"


def attach_replicates(ds: xr.Dataset, runs: list[Totals], per: int,
                      sampler: str = "sobol") -> xr.Dataset:
    """``ds`` with the replicate estimates, their standard errors and P(cover)'s t interval
    (module docstring). ``ds`` is a quote, or the points of a sweep on a leading dimension
    (the replicate dimension then follows it)."""
    layout = runs[0].layout
    ne = layout.n_along
    n_r = len(runs)
    shape = ds["p_cover"].shape
    dims = ds["p_cover"].dims
    n_pd = len(dims) - (1 if layout.dim else 0)  # the point dimensions (none for a quote)
    rdims = dims[:n_pd] + ("replicate",) + dims[n_pd:]
    rshape = shape[:n_pd] + (n_r,) + shape[n_pd:]
    p_r = cover_hits(runs) / float(per)  # [R, P, ne]
    _, se, half, _ = replicate_interval(p_r)
    _, _, lo, hi = cover_interval(runs, per)
    how = ci_method(se, n_r)
    ci = np.stack([lo, hi], axis=-1)
    ds["p_cover_ci95"] = (ds["p_cover_ci95"].dims, ci.reshape(ds["p_cover_ci95"].shape),
                          {**ds["p_cover_ci95"].attrs, "method": how})
    ds["p_cover_se"] = (dims, se.reshape(shape), {
        "long_name": "standard error of p_cover (spread of the replicates)", "units": "1"})
    p = ds["p_cover"].values.reshape(se.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(p > 0, half / p, np.nan)
        ess = np.where(se > 0, p * (1 - p) / se**2, np.nan)
    ds["p_cover_rel_error"] = (dims, rel.reshape(shape), {
        "long_name": "half-width of the 95% interval / p_cover", "units": "1"})
    # the plain Monte Carlo trials that would give the same standard error
    ds["effective_sample_size"] = (dims, ess.reshape(shape), {
        "long_name": "p(1 - p) / SE**2: the plain Monte Carlo trials of the same error",
        "units": "1"})
    ds["mc_equivalent_trials"] = ds["effective_sample_size"].copy()
    ds["p_cover_replicates"] = (rdims, _per_point(p_r).reshape(rshape), {
        "long_name": "p_cover of each replicate", "units": "1"})
    for k, name in enumerate(layout.outputs):
        mom = np.stack([t.moments[:, k * ne:(k + 1) * ne] for t in runs])  # [R, P, ne, N_MOM]
        assert mom.shape[-1] == N_MOM
        with np.errstate(invalid="ignore"):
            est = np.where(mom[..., M_N] > 0, mom[..., M_MEAN], np.nan)
        _, se_k, _, _ = replicate_interval(est)
        var = ds[f"{name}_mean"]
        units = var.attrs.get("units", "")
        ds[f"{name}_mean_se"] = (var.dims, se_k.reshape(var.shape), {
            "long_name": f"standard error of {name}_mean (spread of the replicates)",
            "units": units})
        ds[f"{name}_mean_replicates"] = (rdims, _per_point(est).reshape(rshape), {
            "long_name": f"{name}_mean of each replicate", "units": units})
    ds.attrs.update({
        "method": sampler,
        "sampler": SAMPLERS[sampler],
        "replicates": np.int64(n_r),
        "points_per_replicate": np.int64(per),
        "interval": how.split(";")[0] + "; standard errors of means likewise (sd of "
                                        f"replicate means / sqrt({n_r}))",
    })
    return ds
