"""Totals -> labelled ``xarray.Dataset`` (DESIGN.md §3), NetCDF I/O and JSON summary."""

from __future__ import annotations

import datetime as _dt
import math
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numba
import numpy as np
import scipy
import scipy.special
import xarray as xr

from .errors import OutputError
from .kernel import (BLOCK, M_M2, M_MAX, M_MEAN, M_MIN, M_N, OUTPUTS, SK_ABS_ZERO, SK_NBINS,
                     SK_REL_ERROR, sketch_bin_bounds)

if TYPE_CHECKING:  # pragma: no cover
    from .config import Scenario
    from .simulate import Totals

#: Use the exact (Clopper-Pearson) interval when hits or misses are fewer than this.
FEW_HITS = 10
CONFIDENCE = 0.95

_MONEY = "US$ billion per year"
OUTPUT_ATTRS: Mapping[str, dict[str, str]] = {
    "capex": {"long_name": "data-center capex: GPU spend x (1 + energy_ratio)", "units": _MONEY},
    "required_revenue": {"long_name": "lifetime revenue needed per year of capex: "
                                      "capex / (1 - margin)", "units": _MONEY},
    "required_annual_revenue": {"long_name": "annual revenue needed: capex x CRF(r, L) / "
                                             "(1 - margin)", "units": _MONEY},
    "ai_revenue": {"long_name": "AI revenue: sum over companies", "units": _MONEY},
    "gap": {"long_name": "required annual revenue minus AI revenue", "units": _MONEY},
    "spend_to_revenue": {"long_name": "GPU spend / AI revenue", "units": "1"},
}
#: Attributes that describe the run (time, threads, chunking), not the result: they differ
#: between otherwise bit-identical runs.
RUN_ATTRS = ("created", "elapsed_s", "threads", "chunk_size")

_LOWER, _UPPER = sketch_bin_bounds()
with np.errstate(invalid="ignore"):
    _MID = 0.5 * (_LOWER + _UPPER)
_MID[0], _MID[-1], _MID[SK_NBINS // 2] = -math.inf, math.inf, 0.0


def version() -> str:
    """The installed capexgap version (or ``"unknown"`` when run from a bare checkout)."""
    try:
        return metadata.version("capexgap")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def proportion_interval(hits: int, n: int) -> tuple[float, float, str]:
    """95% interval for a binomial proportion.

    Wilson's score interval normally; Clopper-Pearson (exact) when hits or misses are few;
    with zero hits (or zero misses) the one-sided exact 95% bound, the other end being 0 (1).

    Returns
    -------
    (lower, upper, method)
    """
    if hits > 0 and hits < n and min(hits, n - hits) >= FEW_HITS:
        # scipy's Wilson interval (stats.binomtest(...).proportion_ci(method="wilson")),
        # same operations in the same order, without importing scipy.stats (0.4 s of every
        # `capexgap quote`); tests hold the two equal
        k, n = int(hits), int(n)
        p = k / n
        z = scipy.special.ndtri(0.5 + 0.5 * CONFIDENCE)
        denom = 2 * (n + z**2)
        center = (2 * n * p + z**2) / denom
        delta = z / denom * math.sqrt(4 * n * p * (1 - p) + z**2)
        return float(center - delta), float(center + delta), "wilson"
    from scipy import stats

    test = stats.binomtest(int(hits), int(n))
    if hits == 0:
        upper = stats.binomtest(0, int(n), alternative="less").proportion_ci(CONFIDENCE).high
        return 0.0, float(upper), "clopper-pearson one-sided (no hits)"
    if hits == n:
        lower = stats.binomtest(int(n), int(n), alternative="greater") \
            .proportion_ci(CONFIDENCE).low
        return float(lower), 1.0, "clopper-pearson one-sided (all hits)"
    method = "exact" if min(hits, n - hits) < FEW_HITS else "wilson"
    ci = test.proportion_ci(confidence_level=CONFIDENCE, method=method)
    name = "clopper-pearson" if method == "exact" else "wilson"
    return float(ci.low), float(ci.high), name


def sketch_quantiles(counts: np.ndarray, levels: Sequence[float], lo: float, hi: float
                     ) -> np.ndarray:
    """Quantiles from sketch counts, numpy's "linear" definition on the order statistics.

    Each order statistic is replaced by its bin's midpoint, clamped to the observed [lo, hi]:
    within a relative ``SK_REL_ERROR`` (and an absolute ``SK_ABS_ZERO`` around zero) of it.
    """
    n = int(counts.sum())
    out = np.full(len(levels), np.nan)
    if n == 0:
        return out
    cum = np.cumsum(counts)
    for i, q in enumerate(levels):
        h = q * (n - 1)
        k0 = math.floor(h)
        k1 = min(k0 + 1, n - 1)
        v0, v1 = (min(max(_MID[np.searchsorted(cum, k, side="right")], lo), hi)
                  for k in (k0, k1))
        out[i] = v0 + (h - k0) * (v1 - v0) if v1 != v0 else v0
    return out


def build_dataset(scenario: Scenario, totals: Totals, *, seed: int, requested_trials: int,
                  run_attrs: Mapping[str, Any] | None = None,
                  point_dims: Mapping[str, Sequence[Any]] | None = None) -> xr.Dataset:
    """Assemble the result Dataset.

    Parameters
    ----------
    scenario : Scenario
    totals : Totals
        Merged accumulators with a leading point axis of length P.
    seed, requested_trials : int
    run_attrs : mapping, optional
        Attributes of the run (threads, chunk_size); see :data:`RUN_ATTRS`.
    point_dims : mapping, optional
        Sweep dimensions {name: values}; their sizes multiply to P (C order). None for a
        single point, which yields scalar variables.
    """
    dims = tuple(point_dims) if point_dims else ()
    shape = tuple(len(v) for v in point_dims.values()) if point_dims else ()
    n_p = totals.hits.shape[0]
    if int(np.prod(shape)) != n_p:
        raise ValueError(f"point_dims give {int(np.prod(shape))} points, totals have {n_p}")
    levels = list(scenario.quantiles)
    n = totals.trials

    def grid(a: np.ndarray) -> np.ndarray:
        return a.reshape(shape + a.shape[1:])

    p = np.empty(n_p)
    ci = np.empty((n_p, 2))
    methods = set()
    for i in range(n_p):
        h = int(totals.hits[i])
        p[i] = h / n
        ci[i, 0], ci[i, 1], m = proportion_interval(h, n)
        methods.add(m)

    data: dict[str, Any] = {
        "p_cover": (dims, grid(p), {
            "long_name": "P(AI revenue >= required annual revenue)", "units": "1"}),
        "p_cover_ci95": (dims + ("bound",), grid(ci), {
            "long_name": "95% interval of p_cover", "units": "1",
            "method": "; ".join(sorted(methods))}),
        "hits": (dims, grid(totals.hits.astype(np.int64)), {
            "long_name": "trials in which AI revenue covers the required annual revenue",
            "units": "1"}),
    }
    for o, name in enumerate(OUTPUTS):
        mom = totals.moments[:, o]
        cnt = mom[:, M_N]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(cnt > 0, mom[:, M_MEAN], np.nan)
            std = np.where(cnt > 1, np.sqrt(mom[:, M_M2] / np.maximum(cnt - 1, 1)),
                           np.where(cnt == 1, 0.0, np.nan))
        q = np.stack([sketch_quantiles(totals.sketch[i, o], levels, mom[i, M_MIN],
                                       mom[i, M_MAX]) for i in range(n_p)])
        base = dict(OUTPUT_ATTRS[name])
        ln = base["long_name"]
        data[f"{name}_mean"] = (dims, grid(mean), {**base, "long_name": f"mean of {ln}"})
        data[f"{name}_std"] = (dims, grid(std), {**base, "long_name": f"std (ddof=1) of {ln}"})
        data[f"{name}_min"] = (dims, grid(np.where(cnt > 0, mom[:, M_MIN], np.nan)),
                               {**base, "long_name": f"min of {ln}"})
        data[f"{name}_max"] = (dims, grid(np.where(cnt > 0, mom[:, M_MAX], np.nan)),
                               {**base, "long_name": f"max of {ln}"})
        data[f"{name}_quantile"] = (dims + ("quantile",), grid(q),
                                    {**base, "long_name": f"quantiles of {ln}"})
        data[f"{name}_nonfinite"] = (dims, grid(totals.nonfinite[:, o].astype(np.int64)), {
            "long_name": f"trials where {name} is infinite or undefined (left out of its "
                         "moments and quantiles)", "units": "1"})

    # The gap's sketch, trimmed to its non-empty bins, for plots and later re-quantiling.
    gap_counts = totals.sketch[:, OUTPUTS.index("gap")]
    nz = np.flatnonzero(gap_counts.sum(axis=0))
    b0, b1 = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (SK_NBINS // 2, SK_NBINS // 2 + 1)
    data["gap_hist"] = (dims + ("gap_bin",), grid(gap_counts[:, b0:b1].astype(np.int64)), {
        "long_name": "trials per gap bin (log-linear sketch)", "units": "1"})

    coords: dict[str, Any] = {
        "quantile": ("quantile", np.array(levels), {"long_name": "quantile level", "units": "1"}),
        "bound": ("bound", np.array(["lower", "upper"], dtype=object)),
        "gap_bin_lower": ("gap_bin", _LOWER[b0:b1], {"units": _MONEY}),
        "gap_bin_upper": ("gap_bin", _UPPER[b0:b1], {"units": _MONEY}),
    }
    if point_dims:
        for name, values in point_dims.items():
            coords[name] = (name, np.asarray(values))

    attrs = {
        "title": scenario.name,
        "description": scenario.description,
        "capexgap_version": version(),
        "numpy_version": np.__version__,
        "numba_version": numba.__version__,
        "xarray_version": xr.__version__,
        "scipy_version": scipy.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": str(seed),  # str: seeds go up to 2**64 - 1, beyond NetCDF's int64
        "trials": np.int64(n),
        "trials_requested": np.int64(requested_trials),
        "completed": np.int8(1 if totals.completed else 0),
        "sampler": "monte-carlo: philox4x32-10 counter-based uniforms, quantile-function "
                   "transforms",
        "model": scenario.model,
        "depreciation": scenario.depreciation,
        "block_size": np.int64(BLOCK),
        "quantile_method": "log-linear sketch, numpy 'linear' interpolation between order "
                           "statistics",
        "quantile_accuracy": f"each order statistic within relative {SK_REL_ERROR:.3g} "
                             f"(absolute {SK_ABS_ZERO:.3g} around 0), clamped to [min, max]",
        "p_cover_interval": "95%: Wilson; Clopper-Pearson when hits or misses < "
                            f"{FEW_HITS}; one-sided exact bound when there are none",
        "config_source": scenario.source,
        "config_sha256": scenario.sha256,
        "config_text": scenario.text,
        "elapsed_s": float(totals.elapsed_s),
    }
    for key, value in (run_attrs or {}).items():
        attrs[key] = value
    return xr.Dataset(data, coords=coords, attrs=attrs)


def strip_run_attrs(ds: xr.Dataset) -> xr.Dataset:
    """Drop the attributes that describe the run rather than the result (:data:`RUN_ATTRS`)."""
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if k not in RUN_ATTRS}
    return out


def check_writable(path: str | Path, force: bool) -> Path:
    """Fail early (before any work) if `path` cannot be written."""
    p = Path(path)
    if p.exists() and not force:
        raise OutputError(f"{p}: file exists; nothing was run. Pass --force to overwrite it, "
                          "or choose another --out path.")
    if p.exists() and p.is_dir():
        raise OutputError(f"{p}: is a directory. Give a file name such as result.nc.")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{p}: folder {parent} does not exist. Create it first.")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{p}: folder {parent} is not writable. Choose another --out path.")
    return p


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write `ds` atomically: to a temporary file in the same folder, then rename.

    A reader never sees a half-written file, and an interrupted write leaves nothing behind.
    """
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent or ".")
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine="h5netcdf", invalid_netcdf=False)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


def open_result(path: str | Path) -> xr.Dataset:
    """Open a result file written by :func:`write_netcdf` (loads it into memory)."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def summary(ds: xr.Dataset) -> dict[str, Any]:
    """The ``--json`` object of DESIGN.md §4 for a single-point Dataset."""
    ci = ds["p_cover_ci95"].values
    out: dict[str, Any] = {
        "p_cover": float(ds["p_cover"]),
        "p_cover_ci95": [float(ci[0]), float(ci[1])],
        "trials": int(ds.attrs["trials"]),
        "seed": int(ds.attrs["seed"]),
        "elapsed_s": round(float(ds.attrs.get("elapsed_s", 0.0)), 4),
        "hits": int(ds["hits"]),
        "completed": bool(ds.attrs["completed"]),
        "p_cover_ci_method": ds["p_cover_ci95"].attrs["method"],
        "outputs": {},
    }
    for name in OUTPUTS:
        qs = ds[f"{name}_quantile"]
        entry = {
            "mean": _num(ds[f"{name}_mean"]),
            "std": _num(ds[f"{name}_std"]),
            "quantiles": {_level(q): _num(v) for q, v in zip(qs["quantile"].values, qs.values)},
        }
        bad = int(ds[f"{name}_nonfinite"])
        if bad:
            entry["nonfinite_trials"] = bad
        out["outputs"][name] = entry
    return out


def _level(q: float) -> str:
    return repr(float(q))  # shortest round-trip decimal: "0.05", "0.5", "0.95"


def _num(v: Any) -> float | None:
    x = float(v)
    return x if math.isfinite(x) else None
