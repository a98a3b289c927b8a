"""The one-at-a-time tornado: each uncertain input pinned at quantile levels, the others
random.

The baseline and every pinned variant are points of one plan, run as a sweep's points are
(:mod:`engine.analyses.points`: common random numbers, groups within a memory budget), so the
swings are differences on identical trials. For the multi-year (vintage) model every quote
variable keeps its ``year`` dimension and the inputs are ranked by the swings in the last
reported year.

Layering: uses ``engine.core``, ``engine.models``, :mod:`engine.analyses.grid` and
:mod:`engine.analyses.points`; the JSON summary is :mod:`engine.io.sweep_summary`;
``engine.cli`` wraps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import xarray as xr

from engine.analyses.grid import (
    MAX_POINTS,
    MAX_POINTS_CEILING,
    _check_cells,
    _check_int,
    _input_units,
    pin,
)
from engine.analyses.points import (
    _MONEY,
    DEFAULT_MAX_MEMORY_MIB,
    ProgressFn,
    _hist_range,
    _run_points,
    _shaped,
)
from engine.base import fmt
from engine.base.errors import ConfigError
from engine.core.scenario import Input, Scenario
from engine.core.driver import DEFAULT_CHUNK

#: Quantile levels at which the tornado pins each uncertain input.
DEFAULT_LEVELS = (0.1, 0.9)


def _check_tornado_size(scenario: Scenario, n_uncertain: int, n_levels: int,
                        max_points: int) -> None:
    """Refuse a tornado of more than `max_points` points before any point is made."""
    _check_int(max_points, "max_points", 1, "Pass a whole number such as 1000.")
    n = 1 + n_uncertain * n_levels
    if n > max_points:
        raise ConfigError(
            scenario.source, "inputs", f"the tornado has {n:,} points (1 + {n_uncertain:,} "
            f"uncertain inputs x {n_levels} levels), more than the limit of {max_points:,}",
            None, "Give fewer --levels, fix some inputs to a number, or raise the limit with "
            f"--max-points (at most {MAX_POINTS_CEILING:,}).")
    _check_cells(scenario, n)


def _tornado_points(scenario: Scenario, uncertain: Sequence[Input], lv: Sequence[float],
                    max_points: int = MAX_POINTS) -> tuple[np.ndarray, list[Scenario]]:
    _check_tornado_size(scenario, len(uncertain), len(lv), max_points)
    pinned = np.array([[item.dist.quantile(q) for q in lv] for item in uncertain])
    points = [scenario] + [pin(scenario, {item.name: float(pinned[i, k])})
                           for i, item in enumerate(uncertain) for k in range(len(lv))]
    return pinned, points


def tornado_points(scenario: Scenario, levels: Sequence[float] = DEFAULT_LEVELS,
                   max_points: int = MAX_POINTS) -> list[Scenario]:
    """The points a :func:`tornado` runs: the scenario, then each uncertain input pinned at
    each level (its quantiles), in input order. More than `max_points` points: ConfigError."""
    uncertain = [item for item in scenario.all_inputs if not item.dist.is_fixed]
    return _tornado_points(scenario, uncertain, _levels(levels), max_points)[1]


def tornado(scenario: Scenario, *, levels: Sequence[float] = DEFAULT_LEVELS,
            sort_by: Literal["p_cover", "gap_median"] = "p_cover", trials: int | None = None,
            seed: int | None = None, threads: int | None = None,
            chunk_size: int = DEFAULT_CHUNK, max_memory_mib: float = DEFAULT_MAX_MEMORY_MIB,
            progress: ProgressFn | None = None, max_points: int = MAX_POINTS,
            sampler: str = "mc", replicates: int | None = None) -> xr.Dataset:
    """One at a time: each uncertain input pinned at quantile levels, the others random.

    The baseline and every pinned variant are points of one plan, run on the same trials
    (common random numbers), so the swings are differences on identical trials.

    Parameters
    ----------
    scenario : Scenario
    levels : sequence of float
        Two or more distinct quantile levels in (0, 1) (default 0.1 and 0.9). The swing is the
        value at the highest level minus the value at the lowest.
    sort_by : {"p_cover", "gap_median"}
        Rank inputs by the absolute swing in P(cover) (ties, e.g. all zero, by the swing in
        the median gap), or by the swing in the median gap first.
    trials, seed, threads, chunk_size, max_memory_mib, progress
        As for :func:`engine.sweep` (progress counts point-trials of
        ``trials x (1 + inputs x levels)``).
    max_points : int
        Refuse a tornado of more than this many points, ``1 + inputs x levels`` (at most
        :data:`MAX_POINTS_CEILING`; checked before any point is made).
    sampler, replicates
        As for :func:`engine.sweep`: "sobol" or "lhs" give every point (the baseline and each
        pinned variant) its replicate estimates and t interval, on the same points.

    Returns
    -------
    xarray.Dataset
        Every quote variable on dims ``(input, level, ...)`` (inputs in ranked order), the
        baseline's as ``baseline_<name>``, ``pinned_value`` (input, level), ``swing_p_cover``
        and ``swing_gap_median`` (input); coordinates ``input``, ``level``, ``input_units``.

        For the multi-year (vintage) model every quote variable keeps its ``year`` dimension
        (``(input, level, year, ...)``, ``baseline_p_cover`` (year), the break-even variables
        too), the swings are per year (``(input, year)``), and the inputs are ranked by the
        swings in the last reported year (attribute ``tornado_rank_year``; ``tornado_sort``
        says so).
    """
    file = scenario.source
    lv = _levels(levels)
    if sort_by not in ("p_cover", "gap_median"):
        raise ConfigError(None, "sort_by", "must be p_cover or gap_median", sort_by,
                          "Use --sort-by p_cover or --sort-by gap_median.")
    uncertain = [item for item in scenario.all_inputs if not item.dist.is_fixed]
    if not uncertain:
        raise ConfigError(file, "inputs", "has no uncertain input, so there is nothing to rank",
                          None, "Give at least one input a distribution, e.g. "
                                "margin = { dist = \"pert\", min = 0.3, mode = 0.5, max = 0.7 }.")
    pinned, points = _tornado_points(scenario, uncertain, lv, max_points)
    flat = _run_points(scenario, points, trials=trials, seed=seed, threads=threads,
                       chunk_size=chunk_size, max_memory_mib=max_memory_mib, progress=progress,
                       sampler=sampler, replicates=replicates)
    n_in, n_lv = len(uncertain), len(lv)
    q50 = int(np.flatnonzero(flat.coords["quantile"].values == 0.5)[0])
    # [points] for the one-year model; [points, year] for the vintage model.
    p_all = flat.vars["p_cover"][1]
    med_all = flat.vars["gap_quantile"][1][..., q50]
    p = p_all[1:].reshape((n_in, n_lv) + p_all.shape[1:])
    med = med_all[1:].reshape((n_in, n_lv) + med_all.shape[1:])
    swing_p_all = p[:, -1] - p[:, 0]
    swing_g_all = med[:, -1] - med[:, 0]
    along = flat.layout.dim  # None, or "year": rank by the swings in the last reported year
    swing_p = swing_p_all[:, -1] if along else swing_p_all
    swing_g = swing_g_all[:, -1] if along else swing_g_all
    first, second = (swing_p, swing_g) if sort_by == "p_cover" else (swing_g, swing_p)
    order = sorted(range(n_in), key=lambda i: (-abs(first[i]), -abs(second[i]), i))
    idx = [1 + i * n_lv + k for i in order for k in range(n_lv)]
    bins = _hist_range(flat.hist, flat.b0)
    data, coords = _shaped(flat, idx, ("input", "level"), (n_in, n_lv), bins=bins)
    base, _ = _shaped(flat, [0], (), (), prefix="baseline_", bins=bins)
    for name, (dims, values, attrs) in base.items():
        data[name] = (dims, values, {**attrs, "long_name": f"baseline: {attrs['long_name']}"})
    names = [uncertain[i].name for i in order]
    units = [_input_units(n) for n in names]
    data["pinned_value"] = (("input", "level"), pinned[order], {
        "long_name": "value the input is pinned at: its quantile at `level`",
        "units": "see input_units"})
    edims = (along,) if along else ()
    in_year = f" in the {along}" if along else ""
    data["swing_p_cover"] = (("input",) + edims, swing_p_all[order], {
        "long_name": f"P(cover) with the input at its {fmt.pctl(lv[-1])} minus at its "
                     f"{fmt.pctl(lv[0])} quantile{in_year}", "units": "1"})
    data["swing_gap_median"] = (("input",) + edims, swing_g_all[order], {
        "long_name": f"median gap with the input at its {fmt.pctl(lv[-1])} minus at its "
                     f"{fmt.pctl(lv[0])} quantile{in_year}", "units": _MONEY})
    coords.update(flat.coords)
    coords["input"] = ("input", np.array(names, dtype=object),
                       {"long_name": "input pinned (others random), ranked by swing"})
    coords["level"] = ("level", np.array(lv), {
        "long_name": "quantile level at which the input is pinned", "units": "1"})
    coords["input_units"] = ("input", np.array(units, dtype=object))
    attrs = dict(flat.attrs)
    attrs["analysis"] = "tornado"
    attrs["tornado_sort"] = ("by |swing_p_cover|, ties by |swing_gap_median|"
                             if sort_by == "p_cover" else
                             "by |swing_gap_median|, ties by |swing_p_cover|")
    if along:
        # A multi-year result: the swings have a value per year; the ranking uses the last.
        last = flat.coords[along].values[-1]
        attrs["tornado_sort"] = (attrs["tornado_sort"].replace(", ties", f" in {last}, ties")
                                 + f" in {last} (the last reported {along})")
        attrs["tornado_rank_year"] = np.int64(last)
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _levels(levels: Sequence[float]) -> tuple[float, ...]:
    fix = "Give two or more quantile levels strictly between 0 and 1, e.g. --levels 0.1 0.9."
    try:
        lv = [float(q) for q in levels]
    except (TypeError, ValueError):
        raise ConfigError(None, "levels", "must be numbers", levels, fix) from None
    for q in lv:
        if not 0.0 < q < 1.0:
            raise ConfigError(None, "levels", "each level must lie strictly between 0 and 1", q,
                              fix)
    if len(set(lv)) < 2:
        raise ConfigError(None, "levels", "needs at least two distinct levels (the swing is "
                                          "between the lowest and the highest)", lv, fix)
    return tuple(sorted(set(lv)))
