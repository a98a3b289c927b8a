"""A quote by plain Monte Carlo (:func:`simulate`) and any trial recomputed alone (:func:`trace`).

Dependency rule: ``engine.base``, ``engine.core`` and ``engine.models``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np
import xarray as xr

from engine.base.errors import ConfigError
from engine.base.interrupts import ProgressFn, StopFn
from engine.core import runner
from engine.core.dataset import build_dataset
from engine.core.driver import DEFAULT_CHUNK, _check_run_args, run_plan
from engine.models import make_plan

from . import correlation, exceedance

if TYPE_CHECKING:  # pragma: no cover
    from engine.core.scenario import Scenario


def simulate(scenario: Scenario, *, trials: int | None = None, seed: int | None = None,
             threads: int | None = None, chunk_size: int = DEFAULT_CHUNK,
             progress: ProgressFn | None = None, should_stop: StopFn | None = None,
             max_seconds: float | None = None) -> xr.Dataset:
    """Quote a scenario: P(cover) with its interval and each output's moments and quantiles.

    Parameters
    ----------
    scenario : Scenario
        From :func:`engine.load_config`.
    trials, seed : int, optional
        Override the scenario's defaults.
    threads : int, optional
        numba threads (default: all). Results are bit-identical for any thread count.
    chunk_size : int
        Trials per parallel work item (multiple of 4096). Results are bit-identical for any.
    progress, should_stop, max_seconds
        See :func:`run_plan`.

    Returns
    -------
    xarray.Dataset
        Variables ``p_cover``, ``p_cover_ci95``, ``hits``, ``trials`` and, per output,
        ``<output>_mean``, ``_std``, ``_min``, ``_max``, ``_quantile``, ``_nonfinite``; see
        :func:`engine.core.dataset.build_dataset`.
    """
    trials = scenario.trials if trials is None else trials
    seed = scenario.seed if seed is None else seed
    plan = make_plan(scenario)
    totals = run_plan(plan, trials=trials, seed=seed, threads=threads, chunk_size=chunk_size,
                      progress=progress, should_stop=should_stop, max_seconds=max_seconds)
    ds = build_dataset(scenario, totals, seed=seed, requested_trials=trials,
                       run_attrs={"threads": numba.get_num_threads(), "chunk_size": chunk_size,
                                  "compile_s": round(totals.extra.get("compile_s", 0.0), 3)})
    ds = exceedance.attach(ds)
    return correlation.attach(ds, plan, scenario, seed, totals.trials)


def trace(scenario: Scenario, first: int = 0, n: int = 1000, *, seed: int | None = None
          ) -> xr.Dataset:
    """Recompute trials ``first .. first+n-1`` one by one: their inputs, outputs and cover flag.

    Uses the kernel's own sampling and model functions, so any trial of a run can be inspected.
    Outputs and cover indicators of a multi-year model have a second dimension (``year``).
    """
    seed = scenario.seed if seed is None else seed
    _check_run_args(max(n, 1), seed, DEFAULT_CHUNK)
    if first < 0:
        raise ConfigError(None, "first", "must be >= 0", first, "Trials are numbered from 0.")
    plan = make_plan(scenario)
    xs, outs, covers = runner.trace_trials(plan, seed, 0, first, n)
    layout = plan.layout
    ne = layout.n_along
    dims = ("trial", layout.dim) if layout.dim else ("trial",)
    outs = outs.reshape(n, len(layout.outputs), ne)
    covers = covers.reshape(n, len(layout.covers), ne)
    trial = np.arange(first, first + n, dtype=np.int64)
    data = {name: ("trial", xs[:, j]) for j, name in enumerate(plan.names)}
    for k, name in enumerate(layout.outputs):
        data[name] = (dims, outs[:, k] if layout.dim else outs[:, k, 0])
    for k, name in enumerate(layout.covers):
        data[name] = (dims, covers[:, k] if layout.dim else covers[:, k, 0])
    coords = {"trial": trial}
    if layout.dim:
        coords[layout.dim] = np.asarray(layout.coord)
    ds = xr.Dataset(data, coords=coords, attrs={"seed": seed})
    return layout.finish_trace(ds) if layout.finish_trace else ds
