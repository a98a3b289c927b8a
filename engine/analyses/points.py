"""Running the points of a sweep or a tornado: one plan, in passes within a memory budget.

How many points a pass holds (:func:`points_per_group`, :func:`bytes_per_point`,
:func:`group_edges`, :func:`n_passes`), the run of every point on common random numbers
(``_run_points``, optionally to a precision target) and the reshaping of its results into
labelled variables (``_shaped``, ``_hist_range``). :mod:`engine.analyses.sweeps` re-exports
the public names.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numba
import numpy as np
import xarray as xr

from engine.core.scenario import Scenario
from engine.base.errors import ConfigError
from engine.base.interrupts import ProgressFn
from engine.core.runner import live_rows
from engine.core.reduce import BLOCK, N_MOM, SK_NBINS, sketch_bin_bounds
from engine.core.layout import Layout
from engine.models import make_plan
from engine.models.one_year import LAYOUT as ONE_YEAR_LAYOUT
from engine.core.dataset import build_dataset
from engine.core.stats import proportion_interval
from engine.models.one_year import OUTPUT_ATTRS
from engine.core.driver import WAVE_TRIALS, _check_run_args, run_plan

#: Memory (MiB) the per-pass accumulators of one group of points may take.
DEFAULT_MAX_MEMORY_MIB = 512
#: Default cap on the trials per point of a sweep with a precision target (a point whose
#: P(cover) is 0 or tiny never meets a relative target).
SWEEP_MAX_TRIALS = 10**7

_MONEY = OUTPUT_ATTRS["capex"]["units"]
#: Bytes one output row of one point takes per thread: its sketch row (int64 counts) and the
#: runner's block of sketch bins (int32, counted once the block is done)
_ROW_BYTES = SK_NBINS * 8 + BLOCK * 4
_BIN_LOWER, _BIN_UPPER = sketch_bin_bounds()



def points_per_group(max_memory_mib: float = DEFAULT_MAX_MEMORY_MIB,
                     layout: Layout = ONE_YEAR_LAYOUT) -> int:
    """How many points one pass may hold within ``max_memory_mib`` MiB of accumulators.

    Per point, a pass holds one quantile sketch per flat output of the model (`layout`: 6 for
    the one-year model, 11 per reported year for the vintage model) and per possible numba
    thread (``NUMBA_NUM_THREADS`` rows, plus their sum): ``(threads + 1) x outputs x (131,075 x
    8 + 4,096 x 4)`` bytes (the sketch counts and the runner's block of sketch bins), about 6.4 MB
    per thread row for the one-year model (105 MB for a 9-year vintage model), plus
    ``WAVE_TRIALS / BLOCK`` block records of moments. At least one point runs per pass, even
    when that one point needs more than the budget.
    """
    if isinstance(max_memory_mib, bool) or not isinstance(max_memory_mib, (int, float)) \
            or not (math.isfinite(max_memory_mib) and max_memory_mib > 0):
        raise ConfigError(None, "max_memory", "must be a positive number of MiB", max_memory_mib,
                          "Pass e.g. --max-memory 1024.")
    return max(1, int(max_memory_mib * 2**20 // bytes_per_point(layout)))


def bytes_per_point(layout: Layout = ONE_YEAR_LAYOUT) -> int:
    """Accumulator bytes one point of a model with this `layout` takes during a pass (see
    :func:`points_per_group`); :func:`plan_layout` gives a scenario's layout."""
    rows = numba.config.NUMBA_NUM_THREADS + 1
    wave_blocks = WAVE_TRIALS // BLOCK
    n_out = layout.n_outputs
    return rows * n_out * _ROW_BYTES + wave_blocks * n_out * (N_MOM + 1) * 8


def plan_layout(scenario: Scenario) -> Layout:
    """What the model of `scenario` writes (outputs x years for the vintage model)."""
    return make_plan(scenario).layout


def group_edges(points: Sequence[Scenario], max_memory_mib: float = DEFAULT_MAX_MEMORY_MIB
                ) -> list[int]:
    """How a sweep's points split into passes: pass g runs ``points[edges[g]:edges[g + 1]]``.

    A pass holds ``NUMBA_NUM_THREADS + 1`` sketch rows of ``SK_NBINS`` counts (8 bytes each, and
    a block of 4-byte sketch bins) per output a point computes itself, plus its block records
    (:func:`bytes_per_point`).
    The runner computes an output once for all the points of a pass where it is the same
    numbers, for a model that says what its outputs depend on (:func:`engine.core.runner.
    live_rows`: along a one-year margin sweep, capex, AI revenue and spend/revenue are one
    output for every point), so a pass takes as many points as their own rows fit, at least
    one. Other models: equal passes of :func:`points_per_group` points.
    """
    n = len(points)
    per_point = points_per_group(max_memory_mib, plan_layout(points[0]))  # validates the budget
    plan = make_plan(list(points))
    if plan.model.output_inputs is None:
        n_groups = -(-n // per_point)
        return [round(g * n / n_groups) for g in range(n_groups + 1)]
    row = (numba.config.NUMBA_NUM_THREADS + 1) * _ROW_BYTES
    records = (WAVE_TRIALS // BLOCK) * plan.layout.n_outputs * (N_MOM + 1) * 8
    budget = max_memory_mib * 2**20

    def fits(lo: int, hi: int) -> bool:
        own = int(live_rows(plan, lo, hi).sum())
        return own * row + (hi - lo) * records <= budget

    edges = [0]
    while edges[-1] < n:
        # the most points that fit (more points never need less): gallop, then bisect
        lo = edges[-1]
        good, bad, step = lo + 1, n + 1, 1
        while good < n:
            cand = min(n, good + step)
            if not fits(lo, cand):
                bad = cand
                break
            good, step = cand, 2 * step
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if fits(lo, mid) else (good, mid)
        edges.append(good)
    return edges


def n_passes(points: Sequence[Scenario], max_memory_mib: float = DEFAULT_MAX_MEMORY_MIB
             ) -> int:
    """Passes (groups of points) that a run of these points takes (:func:`group_edges`)."""
    return len(group_edges(points, max_memory_mib)) - 1


@dataclass
class _Flat:
    """Results of P points: every variable with a leading point axis, and the gap sketch."""

    vars: dict[str, tuple[tuple[str, ...], np.ndarray, dict]]  # name -> (dims after point, ..)
    hist: np.ndarray           # int64[P, ..., b1 - b0]: gap sketch counts, global bins b0 ..
    b0: int
    hist_dims: tuple[str, ...]  # dims of hist between point and gap_bin: () or ("year",)
    coords: dict[str, Any]     # quantile, bound, the model's dim (year) as build_dataset made
    layout: Layout
    attrs: dict[str, Any]
    trials: int
    n_groups: int


def _run_points(base: Scenario, scenarios: Sequence[Scenario], *, trials: int | None,
                seed: int | None, threads: int | None, chunk_size: int,
                max_memory_mib: float, progress: ProgressFn | None,
                target: Any = None, max_trials: int | None = None, sampler: str = "mc",
                replicates: int | None = None) -> _Flat:
    """Run every scenario as one point of a plan, in as few passes as memory allows.

    With a precision `target` (:class:`engine.analyses.precision.Target`) each group of points runs
    until every one of its points meets it (a group never stops before the trial count an
    earlier group needed), then groups that stopped earlier are run again at the final count:
    every point gets the same trials N, and a point is identical to a fixed run of N.

    ``sampler`` "sobol" or "lhs": each group runs `replicates` replicates of the sampler
    (:func:`engine.analyses.qmc.run_replicates`: the same points at every point of the plan),
    and each point gets its replicate estimates and t interval, as a replicated quote does.
    With a `target`, `trials` / `replicates` sets the replicates' size and whole replicates
    are added as above (:mod:`engine.analyses.qmc_precision`).
    """
    seed = base.seed if seed is None else seed
    cap = SWEEP_MAX_TRIALS if max_trials is None else max_trials
    qmc_run = _qmc_runner(base, trials, seed, chunk_size, sampler, replicates, target, cap)
    if target is None:
        trials = base.trials if trials is None else trials
        _check_run_args(trials, seed, chunk_size)
    else:
        _check_run_args(cap, seed, chunk_size)
    n = len(scenarios)
    layout = plan_layout(scenarios[0])
    edges = group_edges(scenarios, max_memory_mib)
    n_groups = len(edges) - 1
    compile_s = 0.0
    start = time.perf_counter()
    done_before = 0  # point-trials of the groups already run (progress)

    def run_group(g: int, n_trials: int | None, monitor: Any = None,
                  at_least: int | None = None) -> tuple[xr.Dataset, int]:
        nonlocal compile_s, done_before
        lo, hi = edges[g], edges[g + 1]

        def _progress(done: int, size: int = hi - lo, base_: int = done_before) -> None:
            if progress is not None:
                progress(base_ + done * size)

        plan = make_plan(list(scenarios[lo:hi]))
        if qmc_run is not None:
            totals, finish = qmc_run(plan, threads, _progress, n_trials, at_least)
        else:
            totals = run_plan(plan, trials=n_trials, seed=seed, threads=threads,
                              chunk_size=chunk_size, progress=_progress, monitor=monitor)
            finish = None
        if monitor is not None:  # stopped by its target: a complete run of those trials
            totals = dataclasses.replace(totals, completed=True)
        part = build_dataset(base, totals, seed=seed, requested_trials=totals.trials,
                             run_attrs={"threads": numba.get_num_threads(),
                                        "chunk_size": chunk_size, "compile_s": 0.0},
                             point_dims={"point": np.arange(lo, hi)})
        if finish is not None:
            part = finish(part)
        compile_s += float(totals.extra.get("compile_s", 0.0))
        done_before += totals.trials * (hi - lo)
        return part, totals.trials

    if target is None:
        parts = [run_group(g, trials)[0] for g in range(n_groups)]
    else:
        from engine.analyses.precision import _McMonitor
        runs = []
        at_least = 0
        for g in range(n_groups):
            if qmc_run is not None:  # replicates added until every point meets the target
                runs.append(run_group(g, None, at_least=at_least))
            else:
                monitor = _McMonitor(target, cap, pilot_end=None, at_least=at_least)
                runs.append(run_group(g, cap, monitor))
            at_least = max(at_least, runs[-1][1])
        final = max(k for _, k in runs)
        parts = [part if k == final else run_group(g, final)[0]
                 for g, (part, k) in enumerate(runs)]
    vals: dict[str, list[np.ndarray]] = {}
    meta: dict[str, tuple[tuple[str, ...], dict]] = {}
    hists: list[tuple[int, np.ndarray]] = []  # (first global bin, counts[points, ..., bins])
    for part in parts:
        for name, var in part.data_vars.items():
            if name == "gap_hist":
                b0 = int(np.searchsorted(_BIN_LOWER, part["gap_bin_lower"].values[0]))
                hists.append((b0, var.values))
                continue
            vals.setdefault(name, []).append(var.values)
            meta[name] = (var.dims[1:], dict(var.attrs))
    first = parts[0]
    b0 = min(b for b, _ in hists)
    b1 = max(b + h.shape[-1] for b, h in hists)
    hist = np.zeros((n,) + hists[0][1].shape[1:-1] + (b1 - b0,), dtype=np.int64)
    row = 0
    for b, h in hists:
        hist[row:row + h.shape[0], ..., b - b0:b - b0 + h.shape[-1]] = h
        row += h.shape[0]
    attrs = dict(first.attrs)
    # As for a quote: elapsed_s is the run, compile_s the kernels' compile/load (run attrs).
    attrs["compile_s"] = round(compile_s, 3)
    attrs["elapsed_s"] = time.perf_counter() - start - compile_s
    if target is not None:
        n_final = int(first.attrs["trials"])
        # each point's interval as reported: binomial, or its replicates' t interval
        ok = [target.met(float(p), float(lo), float(hi)) for p, (lo, hi) in
              zip(np.concatenate(vals["p_cover"]), np.concatenate(vals["p_cover_ci95"]))]
        attrs["precision_target"] = target.describe() + ", every point"
        attrs["precision_met"] = np.int8(1 if all(ok) else 0)
        attrs["precision_max_trials"] = np.int64(cap)
        attrs["precision_stop"] = (f"met at every point after {n_final:,} trials" if all(ok)
                                   else f"NOT met at {len(ok) - sum(ok)} of {len(ok)} points: "
                                        + ("the cap of " if n_final >= cap else "stopped at ")
                                        + f"{n_final:,} trials")
    # quantile, bound and the model's own dimension (year); the gap bins are per selection.
    coords = {name: first[name].variable.copy() for name in first.coords
              if name not in ("point", "gap_bin_lower", "gap_bin_upper")}
    return _Flat(vars={k: (meta[k][0], np.concatenate(v), meta[k][1]) for k, v in vals.items()},
                 hist=hist, b0=b0, hist_dims=tuple(first["gap_hist"].dims[1:-1]), coords=coords,
                 layout=layout, attrs=attrs, trials=int(first.attrs["trials"]),
                 n_groups=n_groups)


def _qmc_runner(base: Scenario, trials: int | None, seed: int, chunk_size: int, sampler: str,
                replicates: int | None, target: Any, cap: int) -> Callable | None:
    """None for plain Monte Carlo; else ``run(plan, threads, progress, n_trials, at_least)
    -> (totals, finish)``: the replicates of a group of points merged, and ``finish(part)``
    adding their estimates to the group's Dataset. With a `target`: ``n_trials`` None adds
    replicates until every point meets it (never fewer than ``at_least`` trials, nor more
    than `cap`), else runs ``n_trials`` (whole replicates)."""
    from engine.analyses import qmc, qmc_precision

    if sampler == "mc":
        if replicates is not None:
            raise ConfigError(None, "replicates", "only applies with sampler 'sobol' or 'lhs'",
                              replicates, "Give sampler='sobol' (or 'lhs'), or drop replicates.")
        return None
    trials = base.trials if trials is None else trials
    n_r = qmc.DEFAULT_REPLICATES if replicates is None else replicates
    per = qmc.check_qmc(trials, seed, n_r, sampler, chunk_size)
    most = qmc_precision.most_replicates(cap, per) if target is not None else n_r

    def run(plan: Any, threads: int | None, progress: ProgressFn, n_trials: int | None,
            at_least: int | None) -> tuple[Any, Callable]:
        def enough(runs: list) -> bool:
            return len(runs) * per >= (at_least or 0) and \
                qmc_precision.interval_met(target, runs, per)

        # fixed; a group run again at the final count; or replicates added to the target
        count = n_r if target is None else most if n_trials is None else n_trials // per
        reps = qmc.run_replicates(plan, sampler, per, count, seed=seed, threads=threads,
                                  chunk_size=chunk_size, progress=progress,
                                  enough=enough if target is not None and n_trials is None
                                  else None)
        asked = trials if target is None else len(reps.runs) * per
        return reps.merged(), lambda part: qmc.rounding_note(
            qmc.attach_replicates(part, reps.runs, per, sampler), sampler, len(reps.runs), per,
            asked)
    return run


def _hist_range(counts: np.ndarray, b0: int) -> tuple[int, int]:
    """Global [lo, hi) of the non-empty bins of counts (summed over points), as build_dataset."""
    nz = np.flatnonzero(counts.reshape(-1, counts.shape[-1]).sum(axis=0))
    if nz.size == 0:
        return SK_NBINS // 2, SK_NBINS // 2 + 1
    return b0 + int(nz[0]), b0 + int(nz[-1]) + 1


def _hist_slice(counts: np.ndarray, b0: int, lo: int, hi: int) -> np.ndarray:
    """counts (bins b0 ..) re-expressed on global bins lo .. hi-1 (zeros outside)."""
    out = np.zeros(counts.shape[:-1] + (hi - lo,), dtype=np.int64)
    a, b = max(lo, b0), min(hi, b0 + counts.shape[-1])
    if a < b:
        out[..., a - lo:b - lo] = counts[..., a - b0:b - b0]
    return out


def _ci_method(hits: np.ndarray, trials: int, se: np.ndarray | None = None,
               replicates: Any = None) -> str:
    """How the intervals of these points were obtained: binomial from `hits`, or (a
    replicated sampler: the points' standard errors `se`) the replicates' t interval."""
    if se is not None:
        from engine.analyses.qmc import ci_method

        return ci_method(se, int(replicates))
    return "; ".join(sorted({proportion_interval(int(h), trials)[2]
                             for h in np.asarray(hits).reshape(-1)}))


def _shaped(flat: _Flat, idx: Sequence[int], dims: tuple[str, ...], shape: tuple[int, ...],
            prefix: str = "", bins: tuple[int, int] | None = None) -> tuple[dict, dict]:
    """Data variables and gap-bin coordinates of the points `idx`, reshaped to `shape`."""
    idx = np.asarray(idx, dtype=np.int64)
    data: dict[str, Any] = {}
    for name, (rest, values, attrs) in flat.vars.items():
        v = values[idx]
        data[prefix + name] = (dims + rest, v.reshape(shape + v.shape[1:]), dict(attrs))
    se = flat.vars["p_cover_se"][1][idx] if "p_cover_se" in flat.vars else None
    data[prefix + "p_cover_ci95"][2]["method"] = _ci_method(
        flat.vars["hits"][1][idx], flat.trials, se, flat.attrs.get("replicates"))
    lo, hi = bins if bins is not None else _hist_range(flat.hist[idx], flat.b0)
    gh = _hist_slice(flat.hist[idx], flat.b0, lo, hi)
    data[prefix + "gap_hist"] = (dims + flat.hist_dims + ("gap_bin",),
                                 gh.reshape(shape + gh.shape[1:]), {
        "long_name": "trials per gap bin (log-linear sketch)", "units": "1"})
    coords = {"gap_bin_lower": ("gap_bin", _BIN_LOWER[lo:hi], {"units": _MONEY}),
              "gap_bin_upper": ("gap_bin", _BIN_UPPER[lo:hi], {"units": _MONEY})}
    return data, coords
