"""The JSON objects of ``capexgap sweep --json`` and ``capexgap tornado --json``.

A sweep's object holds every point's quote summary (:func:`engine.io.results.summary` of
:func:`engine.analyses.sweeps.sweep_point`); a tornado's, the baseline and each input's values
at its levels and its swings.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import xarray as xr

from engine.analyses.sweeps import sweep_point
from engine.core.dataset import _level, _num
from engine.io.results import summary


def sweep_summary(ds: xr.Dataset, *, groups: int | None = None) -> dict[str, Any]:
    """The ``capexgap sweep --json`` object: the grid, then every point's quote summary.

    A multi-year (vintage) sweep adds ``model`` and ``years``; each point's object is then a
    vintage quote's (:func:`engine.models.vintage_report.summary`: ``p_cover`` of the last year,
    ``p_cover_by_year``, ``breakeven_year``, per-year outputs).
    """
    dims = json.loads(ds.attrs["sweep_dims"])
    coords: dict[str, list] = {}
    for d in dims:
        if f"{d}_lo" in ds.coords:
            coords[d] = [[float(a), float(b)] for a, b in zip(ds[f"{d}_lo"].values,
                                                              ds[f"{d}_hi"].values)]
        else:
            coords[d] = [float(v) for v in ds[d].values]
    out: dict[str, Any] = {
        "analysis": "sweep", "title": ds.attrs["title"], "trials": int(ds.attrs["trials"]),
        "seed": int(ds.attrs["seed"]), "elapsed_s": round(float(ds.attrs["elapsed_s"]), 4),
        "n_points": int(math.prod(len(v) for v in coords.values())), "dims": coords,
    }
    if "year" in ds["p_cover"].dims:  # each point's object is a vintage quote's (per year)
        out = {**{k: out[k] for k in ("analysis", "title")}, "model": "vintage",
               "years": [int(y) for y in ds["year"].values], **out}
    if groups is not None:
        out["passes"] = groups
    out.update(_sampler(ds))
    points = []
    for combo in itertools.product(*(range(len(coords[d])) for d in dims)):
        one = sweep_point(ds, {d: ds[d].values[i] for d, i in zip(dims, combo)})
        s = summary(one)
        for k in ("trials", "seed", "elapsed_s", "completed"):
            s.pop(k, None)
        points.append({"at": {d: coords[d][i] for d, i in zip(dims, combo)}, **s})
    out["points"] = points
    return out


def tornado_summary(ds: xr.Dataset, *, groups: int | None = None) -> dict[str, Any]:
    """The ``capexgap tornado --json`` object.

    For the multi-year (vintage) model ``p_cover``, ``p_cover_ci95``, ``gap_median`` and the
    swings keep their meaning for the last reported year (``rank_year``, the year the inputs
    are ranked by), as in a vintage quote; ``years`` lists the years, and the ``*_by_year`` keys
    give one value per year in that order. ``breakeven_year_median`` (null: not by the last
    year) and ``p_breakeven_never`` are added for the baseline and every pinned level.
    """
    lv = [float(q) for q in ds["level"].values]
    keys = [_level(q) for q in lv]
    vintage = "year" in ds["baseline_p_cover"].dims

    def last(da: xr.DataArray) -> xr.DataArray:
        return da.isel(year=-1) if vintage else da

    def median(da: xr.DataArray) -> xr.DataArray:
        return da.sel(quantile=0.5)

    ci = last(ds["baseline_p_cover_ci95"]).values
    out: dict[str, Any] = {
        "analysis": "tornado", "title": ds.attrs["title"], "trials": int(ds.attrs["trials"]),
        "seed": int(ds.attrs["seed"]), "elapsed_s": round(float(ds.attrs["elapsed_s"]), 4),
        "levels": lv, "sorted": ds.attrs["tornado_sort"],
        "baseline": {"p_cover": float(last(ds["baseline_p_cover"])),
                     "p_cover_ci95": [float(ci[0]), float(ci[1])],
                     "gap_median": _num(last(median(ds["baseline_gap_quantile"])))},
    }
    if vintage:
        years = [int(y) for y in ds["year"].values]
        out = {**{k: out[k] for k in ("analysis", "title")}, "model": "vintage",
               "years": years, "rank_year": years[-1], **out}
        out["baseline"].update(
            p_cover_year=years[-1],
            p_cover_by_year=[float(v) for v in ds["baseline_p_cover"].values],
            gap_median_by_year=[_num(v) for v in median(ds["baseline_gap_quantile"]).values],
            breakeven_year_median=_year(median(ds["baseline_breakeven_year_quantile"])),
            p_breakeven_never=float(ds["baseline_p_breakeven_never"]))
    if groups is not None:
        out["passes"] = groups
    out.update(_sampler(ds))
    if "baseline_p_cover_se" in ds:
        out["baseline"]["p_cover_se"] = float(last(ds["baseline_p_cover_se"]))
    rows = []
    for name in ds["input"].values:
        r = ds.sel(input=name)
        row = {
            "input": str(name), "units": str(r["input_units"].values),
            "pinned": dict(zip(keys, (float(v) for v in r["pinned_value"].values))),
            "p_cover": dict(zip(keys, (float(v) for v in last(r["p_cover"]).values))),
            "p_cover_ci95": dict(zip(keys, ([float(a), float(b)]
                                            for a, b in last(r["p_cover_ci95"]).values))),
            "gap_median": dict(zip(keys, (_num(v) for v in
                                          last(median(r["gap_quantile"])).values))),
            "swing_p_cover": float(last(r["swing_p_cover"])),
            "swing_gap_median": _num(last(r["swing_gap_median"])),
        }
        if "p_cover_se" in r:
            row["p_cover_se"] = dict(zip(keys, (float(v) for v in last(r["p_cover_se"]).values)))
        if vintage:
            row.update(
                p_cover_by_year=dict(zip(keys, ([float(v) for v in per]
                                                for per in r["p_cover"].values))),
                gap_median_by_year=dict(zip(keys, ([_num(v) for v in per] for per in
                                                   median(r["gap_quantile"]).values))),
                swing_p_cover_by_year=[float(v) for v in r["swing_p_cover"].values],
                swing_gap_median_by_year=[_num(v) for v in r["swing_gap_median"].values],
                breakeven_year_median=dict(zip(keys, (
                    _year(v) for v in median(r["breakeven_year_quantile"]).values))),
                p_breakeven_never=dict(zip(keys, (float(v) for v in
                                                  r["p_breakeven_never"].values))))
        rows.append(row)
    out["inputs"] = rows
    return out


def _sampler(ds: xr.Dataset) -> dict[str, Any]:
    """``{"sampler": {...}}`` for a sweep or tornado by a replicated sampler (how its trials
    were drawn and its intervals obtained, the same at every point), else ``{}``."""
    if "replicates" not in ds.attrs:
        return {}
    return {"sampler": {"name": str(ds.attrs["method"]),
                        "replicates": int(ds.attrs["replicates"]),
                        "points_per_replicate": int(ds.attrs["points_per_replicate"]),
                        "interval": str(ds.attrs["interval"])}}


def _year(v: Any) -> int | None:
    """A break-even year for JSON: a whole year, or None for inf (not by the last year)."""
    x = float(v)
    return int(x) if math.isfinite(x) else None
