"""Sensitivity sweeps: a grid of "what if" points, run on common random numbers.

A sweep evaluates many *points*: variants of one scenario that differ only in some inputs'
distributions (an input pinned to a number, or one parameter of its distribution replaced).
Every point sees the same trials: the uniform of (seed, input, trial) depends on the input's
*name*, never on the point (common random numbers), so differences between points are the
effect of the change, not Monte Carlo noise, and each point is bit-identical to a separate
``simulate`` of its own scenario with the same seed and trials.

The points are packed into one plan (:func:`engine.plan.make_plan`) and run in one pass over
the trials, in groups when their sketches would not fit in ``max_memory_mib`` (each group is
one pass; a point's result does not depend on its group, since it is a pure function of its
own distributions and the shared streams). :mod:`engine.analyses.tornado` runs its points the
same way (:func:`pin`, ``_run_points``).

This module holds :func:`sweep` and :func:`sweep_point`; the grid (keys, values, one
scenario per point) is :mod:`engine.analyses.grid`, the running of the points in passes
:mod:`engine.analyses.points`. Every public name of both is re-exported here.

Both models work: a point of the multi-year (vintage) model is a vintage quote, so every
variable keeps its ``year`` dimension after the point dimensions (the break-even variables
too), and memory is estimated from the plan's :class:`~engine.plan.Layout` (outputs x years).
Keys may name any input of either model (:func:`engine.models.input_rules.input_rule` gives
its range): ``gpu_spend_growth``, ``revenue_growth.<company>``, one year of a table
(``gpu_spend.2026``).

Layering: uses ``engine.base``, ``engine.core`` and ``engine.models``; the JSON summary is
:mod:`engine.io.sweep_summary`; ``engine.cli`` wraps it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

import numpy as np
import xarray as xr

from engine.analyses.grid import (MAX_PLAN_CELLS, MAX_POINTS, MAX_POINTS_CEILING, SweepGrid,
                                  SweepKey, check_sweep_table, pin, sweep_grid)
from engine.analyses.points import (_BIN_LOWER, _BIN_UPPER, _MONEY, DEFAULT_MAX_MEMORY_MIB,
                                    SWEEP_MAX_TRIALS, ProgressFn, _ci_method, _hist_range,
                                    _hist_slice, _run_points, _shaped, bytes_per_point,
                                    group_edges, n_passes, plan_layout, points_per_group)
from engine.core.plan import copula_factors
from engine.core.scenario import Scenario
from engine.models import make_plan

from . import corr_sweep, correlation, exceedance
from engine.core.driver import DEFAULT_CHUNK

__all__ = [
    "MAX_POINTS", "MAX_POINTS_CEILING", "MAX_PLAN_CELLS", "DEFAULT_MAX_MEMORY_MIB",
    "SWEEP_MAX_TRIALS", "ProgressFn", "SweepKey", "SweepGrid", "check_sweep_table",
    "sweep_grid", "pin", "points_per_group", "bytes_per_point", "plan_layout", "group_edges",
    "n_passes", "sweep", "sweep_point",
]

_SWEEP_ATTRS = ("analysis", "sweep_dims", "tornado_sort", "tornado_rank_year")


# ---------------------------------------------------------------------------------- sweep


def sweep(scenario: Scenario, grid: Mapping[str, Any] | SweepGrid | None = None, *,
          trials: int | None = None, seed: int | None = None, threads: int | None = None,
          chunk_size: int = DEFAULT_CHUNK, max_points: int = MAX_POINTS,
          max_memory_mib: float = DEFAULT_MAX_MEMORY_MIB,
          progress: ProgressFn | None = None, precision: float | None = None,
          abs_precision: float | None = None, max_trials: int | None = None,
          sampler: str = "mc", replicates: int | None = None) -> xr.Dataset:
    """Run every point of a sweep grid on the same trials; one labelled Dataset.

    Parameters
    ----------
    scenario : Scenario
        The base scenario (``[sweep]`` is its grid unless `grid` is given).
    grid : mapping or SweepGrid, optional
        ``{key: values}`` in the ``[sweep]`` syntax, or a grid from :func:`sweep_grid`.
    trials, seed : int, optional
        Override the scenario's defaults; every point runs these same trials.
    threads, chunk_size
        As for :func:`engine.simulate`; never change the result.
    max_points : int
        Refuse larger grids (ConfigError naming the product and the limit).
    max_memory_mib : float
        Budget for one pass's accumulators; points beyond it run in further passes (groups).
        Never changes the result.
    progress : callable, optional
        Called with the number of point-trials done (of ``trials x points``).
    precision, abs_precision : float, optional
        Instead of `trials`: run (plain Monte Carlo) until the 95% interval of P(cover) at
        *every* point is within these relative / absolute half-widths (as
        :func:`engine.analyses.precision.quote`), or until `max_trials` per point (default
        :data:`SWEEP_MAX_TRIALS`). Every point gets the same trials N and is identical to a
        fixed sweep of N trials (attributes ``precision_*`` apart). A point whose P(cover) is 0
        never meets a relative target: give `abs_precision` for grids with such points.
    sampler : {"mc", "sobol", "lhs"}
        How trials are drawn (as :func:`engine.quote`): "sobol" or "lhs" run `replicates`
        (default 16) independent replicates of 2**k points each (`trials` rounded up to
        ``replicates x 2**k``), the same points at every sweep point, and give every point its
        replicate estimates, standard errors and t interval; a point is then bit-identical to
        ``engine.quote(pin(scenario, point), sampler=..., replicates=...)``. With a
        precision target, replicates of that size are added until every point's t interval
        meets it (within `max_trials` per point).
    replicates : int, optional
        Independent replicates of a "sobol" or "lhs" sweep (>= 2, default 16).

    Returns
    -------
    xarray.Dataset
        Every variable of :func:`engine.simulate`, with one leading dimension per swept key
        (named after it, in file order; its values as coordinate). A ``ciNN`` key's coordinate
        is the index 0..n-1 of its pairs, with the pairs as coordinates ``<key>_lo`` and
        ``<key>_hi``. Attributes as for a quote, plus ``analysis = "sweep"`` and
        ``sweep_dims`` (a JSON list of the swept keys). :func:`sweep_point` gives back one
        point as ``simulate`` returns it. For the vintage model the quote's ``year``
        dimension follows the swept ones (``gap_hist``: swept dims, ``year``, ``gap_bin``).
    """
    # a replicated sweep to a target takes `trials` as its replicates' size (trials / R)
    target = _target(scenario, trials if sampler == "mc" else None, precision, abs_precision,
                     max_trials)
    g = grid if isinstance(grid, SweepGrid) else sweep_grid(scenario, grid, max_points=max_points)
    flat = _run_points(scenario, g.scenarios, trials=trials, seed=seed, threads=threads,
                       chunk_size=chunk_size, max_memory_mib=max_memory_mib, progress=progress,
                       target=target, max_trials=max_trials, sampler=sampler,
                       replicates=replicates)
    data, coords = _shaped(flat, range(g.n_points), g.dims, g.shape)
    coords.update(flat.coords)
    for k in g.keys:
        if k.input == corr_sweep.NAME:
            what = f"{k.param} of the [correlation] section (Spearman)"
        elif k.param is None:
            what = f"{k.input} pinned to this value"
        else:
            what = (f"{k.param} of {k.input}'s distribution "
                    f"({scenario.input(k.input).dist.family} in the config)")
        if k.is_pair:
            coords[k.key] = (k.key, np.arange(len(k.values), dtype=np.int64), {
                "long_name": f"index of the {k.key} pairs (see {k.key}_lo, {k.key}_hi)",
                "units": "1", "sweep": what})
            for end, j in (("lo", 0), ("hi", 1)):
                coords[f"{k.key}_{end}"] = (k.key, np.array([v[j] for v in k.values]), {
                    "long_name": f"{'lower' if j == 0 else 'upper'} end of {k.key}",
                    "units": k.units})
        else:
            coords[k.key] = (k.key, np.array(k.values, dtype=np.float64),
                             {"long_name": what, "units": k.units, "sweep": what})
    attrs = dict(flat.attrs)
    attrs["analysis"] = "sweep"
    attrs["sweep_dims"] = json.dumps(list(g.dims))
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    # a replicated quote measures no achieved correlation (that retraces Monte Carlo trials)
    return _with_correlation(ds, g, seed, 0 if "replicates" in attrs else None)


def _with_correlation(ds: xr.Dataset, g: SweepGrid, seed: int | None,
                      trials: int | None = None) -> xr.Dataset:
    """The sweep's correlation variables: each point's target, the first point's achieved."""
    scs = g.scenarios
    if all(sc.correlation is None or sc.correlation.is_empty for sc in scs):
        return ds
    plan = make_plan(scs[0])
    names = plan.names
    is_random = np.array([any(not sc.all_inputs[j].dist.is_fixed for sc in scs)
                          for j in range(len(names))], dtype=np.bool_)
    cidx, chol, repaired = copula_factors([sc.correlation for sc in scs], names, is_random)
    plan = dataclasses.replace(plan, cidx=cidx, chol=chol[:1], repaired=repaired)
    full = dataclasses.replace(plan, chol=chol)
    ds = correlation.attach(ds, plan, scs[0], scs[0].seed if seed is None else seed,
                            int(ds.attrs["trials"]) if trials is None else trials)
    if cidx.size:
        target = correlation.used_spearman(full).reshape(*g.shape, cidx.size, cidx.size)
        ds["correlation_target"] = ((*g.dims, *correlation.DIMS), target,
                                    ds["correlation_target"].attrs)
    return ds


def _target(scenario: Scenario, trials: int | None, precision: float | None,
            abs_precision: float | None, max_trials: int | None, flags: bool = False) -> Any:
    """The precision target of a sweep (validated as for a quote), or None."""
    from engine.analyses.precision import check_options

    return check_options(scenario, method="mc", trials=trials, precision=precision,
                         abs_precision=abs_precision, max_trials=max_trials, flags=flags)


def sweep_point(ds: xr.Dataset, indexers: Mapping[str, Any] | None = None,
                **indexers_kwargs: Any) -> xr.Dataset:
    """One point of a sweep, exactly as :func:`engine.simulate` returns its scenario.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`sweep` (or read back from NetCDF).
    indexers : mapping, optional
        One coordinate value per swept key (``{"revenue.Microsoft": 10}``); keyword arguments
        for names that are identifiers (``margin=0.4``). A ``ciNN`` key is selected by index.

    Returns
    -------
    xarray.Dataset
        Scalar variables (per ``year`` for the vintage model), ``gap_hist`` trimmed to the
        point's own bins, the interval method of the point, sweep coordinates and attributes
        dropped: ``assert_identical`` with a separate ``simulate`` of ``pin(scenario, point)``
        (after ``strip_run_attrs``).
    """
    sel = dict(indexers or {}, **indexers_kwargs)
    dims = json.loads(ds.attrs.get("sweep_dims", "[]"))
    missing = [d for d in dims if d not in sel]
    unknown = [k for k in sel if k not in dims]
    if missing or unknown:
        raise ValueError(f"select one value of every swept key {dims}; "
                         f"missing {missing}, unknown {unknown}")
    one = ds.sel(sel)
    # The swept keys' coordinates (scalars now) and a ciNN key's _lo/_hi; the model's own
    # coordinates (quantile, bound, year) stay.
    swept = set(dims) | {f"{d}_{end}" for d in dims for end in ("lo", "hi")}
    # The point's Dataset is built in one go from the selection's variables: each assignment
    # to a Dataset is a merge, and each ``one[name]`` builds a DataArray; together they were
    # most of the time a sweep's summary took per point.
    var = one.variables
    counts = var["gap_hist"].values  # [..., gap_bin]: (year,) first for the vintage model
    b0 = int(np.searchsorted(_BIN_LOWER, var["gap_bin_lower"].values[0]))
    lo, hi = _hist_range(counts, b0)
    ci = var["p_cover_ci95"].copy(deep=False)
    se = var["p_cover_se"].values if "p_cover_se" in var else None
    ci.attrs = {**ci.attrs, "method": _ci_method(var["hits"].values, int(ds.attrs["trials"]),
                                                 se, ds.attrs.get("replicates"))}
    coord_names = set(one.coords)
    data = {k: ci if k == "p_cover_ci95" else v for k, v in var.items()
            if k not in coord_names and k != "gap_hist"}
    data["gap_hist"] = xr.Variable(var["gap_hist"].dims, _hist_slice(counts, b0, lo, hi),
                                   dict(ds["gap_hist"].attrs))
    dropped = swept | {"gap_bin_lower", "gap_bin_upper"}
    coords = {k: v for k, v in var.items() if k in coord_names and k not in dropped}
    coords["gap_bin_lower"] = xr.Variable("gap_bin", _BIN_LOWER[lo:hi], {"units": _MONEY})
    coords["gap_bin_upper"] = xr.Variable("gap_bin", _BIN_UPPER[lo:hi], {"units": _MONEY})
    one = xr.Dataset(data, coords, {k: v for k, v in ds.attrs.items() if k not in _SWEEP_ATTRS})
    return exceedance.attach(one)  # as a quote has it
