"""How likely is a gap above x: the gap's exceedance curve, read from its sketch.

A quote keeps the gap's log-linear sketch (``gap_hist``: trials per bin, each bin relative
width 2**-10). P(gap > x) is the share of trials in the bins that reach above x: the bin that
holds x counts whole, so the estimate is P(gap >= x') for the lower edge x' of that bin, within
a relative 4.9e-4 of x (2**-20 absolute near 0). Its 95% interval is the binomial one of those
counts (:func:`engine.core.stats.proportion_interval`); trials whose gap is not finite count
as not above x, and a note says how many there were.

:func:`attach` adds the curve on a fixed grid of round thresholds (``gap_exceedance`` over
``gap_threshold``); :func:`gap_above` the values at thresholds a user names (``--gap-above``).

Dependency rule: ``engine.base`` and ``engine.core``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import xarray as xr

from engine.core.stats import proportion_interval

#: About this many thresholds on the curve's grid (a round step: 1, 2, 2.5 or 5 x 10^k).
GRID_POINTS = 200


def _counts(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    """(counts[..., bin], upper edges[bin], trials): the gap's sketch of a quote."""
    counts = np.asarray(ds["gap_hist"].values, dtype=np.int64)
    upper = np.asarray(ds["gap_bin_upper"].values, dtype=np.float64)
    n = int(ds.attrs.get("mc_trials", ds.attrs["trials"]))
    return counts, upper, n


def above(ds: xr.Dataset, xs: Sequence[float]) -> np.ndarray:
    """int64[..., len(xs)]: trials whose gap's bin reaches above each x (module docstring)."""
    counts, upper, _ = _counts(ds)
    # suffix sums: tail[..., b] = trials in bins b, b+1, ...
    tail = np.concatenate([np.cumsum(counts[..., ::-1], axis=-1)[..., ::-1],
                           np.zeros(counts.shape[:-1] + (1,), dtype=np.int64)], axis=-1)
    first = np.searchsorted(upper, np.asarray(xs, dtype=np.float64), side="right")
    return tail[..., first]


def round_grid(lo: float, hi: float, points: int = GRID_POINTS) -> np.ndarray:
    """Round thresholds from below ``lo`` to above ``hi``, about ``points`` of them (evenly
    spaced ones, unrounded, when the range is too wide for float64 arithmetic)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return np.zeros(1)
    span = max(hi - lo, abs(hi), abs(lo), 1e-9)
    if not math.isfinite(span) or span > 1e300:  # |gaps| near the largest double
        return np.linspace(lo, hi, points + 1)
    raw = span / points
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    a, b = math.floor(lo / step), math.ceil(hi / step)
    with np.errstate(over="ignore"):
        grid = np.round(np.arange(a, b + 1) * step, 12)
    return grid[np.isfinite(grid)] if np.isfinite(grid).any() else np.array([lo, hi])


def attach(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` (a quote) with ``gap_exceedance`` on ``gap_threshold`` (and per year when the
    model has years): P(gap > x) on a round grid over the gap's observed range."""
    if "gap_hist" not in ds or "gap_min" not in ds:
        return ds
    seen = np.isfinite(ds["gap_min"].values) & np.isfinite(ds["gap_max"].values)
    if not seen.any():  # no finite gap: no curve (the gap's notes say why)
        return ds
    lo = float(ds["gap_min"].values[seen].min())
    hi = float(ds["gap_max"].values[seen].max())
    grid = round_grid(lo, hi)
    _, _, n = _counts(ds)
    share = above(ds, grid) / max(n, 1)
    dims = tuple(ds["gap_hist"].dims[:-1]) + ("gap_threshold",)
    threshold = xr.Variable("gap_threshold", grid, {
        "long_name": "gap threshold x", "units": ds["gap_bin_upper"].attrs.get("units", "")})
    curve = xr.Variable(dims, share, {
        "long_name": "P(gap > x): share of trials whose gap is above the threshold",
        "units": "1",
        "method": "from the gap's sketch: x taken at the lower edge of its bin (relative "
                  "4.9e-4); non-finite gaps count as not above"})
    # one merge for both (a sweep's summary attaches a curve to every point)
    return ds.assign(gap_exceedance=xr.DataArray(curve, coords={"gap_threshold": threshold}))


def gap_above(ds: xr.Dataset, xs: Sequence[float]) -> xr.Dataset:
    """``ds`` with ``p_gap_above`` and ``p_gap_above_ci95`` at the thresholds ``xs``
    (``--gap-above``), dims ``(..., gap_above)`` and ``(..., gap_above, bound)``."""
    k = above(ds, xs)
    _, _, n = _counts(ds)
    flat = k.reshape(-1, k.shape[-1])
    ci = np.empty(flat.shape + (2,))
    for r, row in enumerate(flat):
        for i, hits in enumerate(row):
            lo, hi, _ = proportion_interval(int(hits), n)
            ci[r, i] = (lo, hi)
    lead = tuple(ds["gap_hist"].dims[:-1])
    ds = ds.assign_coords(gap_above=("gap_above", np.asarray(xs, dtype=np.float64), {
        "long_name": "gap threshold asked for (--gap-above)",
        "units": ds["gap_bin_upper"].attrs.get("units", "")}))
    ds["p_gap_above"] = (lead + ("gap_above",), k / max(n, 1), {
        "long_name": "P(gap > x)", "units": "1"})
    ds["p_gap_above_ci95"] = (lead + ("gap_above", "bound"), ci.reshape(k.shape + (2,)), {
        "long_name": "95% interval of P(gap > x)", "units": "1",
        "method": "binomial: Wilson; Clopper-Pearson with few trials above or below"})
    return ds
