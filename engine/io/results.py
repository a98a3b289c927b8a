"""Results on disk and as JSON: writing NetCDF whole or not at all, opening a result file
safely, and the one-object JSON summary of a quote.

Dependency rule: ``engine.base``, ``engine.core`` and ``engine.models``; ``engine.io`` itself.
"""


from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr

from engine.core.dataset import _level, _num, explain_nulls, notes_of, p_cover_is_bound
from engine.core.stats import mc_precision
from engine import models
from engine.models.one_year import OUTPUTS


def check_writable(path: str | Path, force: bool) -> Path:
    """Fail early (before any work) if `path` cannot or must not be written.

    See :func:`engine.outfile.check_target`: the file exists (without `force`), is not a
    regular file, its name is too long, or its folder is missing or not writable.
    """
    from engine.io.outfile import check_target

    return check_target(path, force, option="--out", action="run", example="result.nc")


def write_netcdf(ds: xr.Dataset, path: str | Path, *, force: bool = True) -> Path:
    """Write `ds` as NetCDF-4 (h5netcdf), atomically.

    The file is made in memory first, then written by :func:`engine.outfile.write_bytes`: a
    reader never sees a half-written file, a full disk is an ordinary error (HDF5 itself never
    writes to the disk), and an error or interrupt leaves nothing behind.

    Parameters
    ----------
    ds : xarray.Dataset
    path : path-like
    force : bool
        Replace an existing regular file (the default, as before); False: refuse if a file of
        that name exists when the result is published (the CLI without ``--force``).

    Raises
    ------
    OutputError
        The file could not be written; see :func:`engine.outfile.write_bytes`.
    """
    from engine.io.outfile import serialise, write_bytes

    # zlib on the numeric variables: sweep sketches are mostly zeros.
    encoding = {name: {"zlib": True, "complevel": 4} for name, var in ds.variables.items()
                if var.dtype.kind in "iuf" and var.ndim > 0}
    return write_bytes(path, serialise(lambda: netcdf_bytes(ds, encoding)), force=force)


def netcdf_bytes(ds: xr.Dataset, encoding: Mapping[str, Any] | None = None
                 ) -> bytes | memoryview:
    """`ds` serialised as a NetCDF-4 file (h5netcdf) in memory (not copied again)."""
    try:
        data = ds.to_netcdf(engine="h5netcdf", invalid_netcdf=False, encoding=encoding)
    except ValueError as exc:
        if "bytes" not in str(exc):
            raise
        # xarray < 2025 writes bytes with its scipy engine only (NetCDF-3): go through an
        # h5netcdf file object on an in-memory buffer, as newer xarray does.
        import io

        import h5netcdf
        from xarray.backends import H5NetCDFStore

        buf = io.BytesIO()
        store = H5NetCDFStore(h5netcdf.File(buf, "w", invalid_netcdf=False), mode="w")
        try:
            ds.dump_to_store(store, encoding=encoding)
        finally:
            store.close()
        return buf.getbuffer()
    return data


def open_result(path: str | Path) -> xr.Dataset:
    """Open a result file written by :func:`write_netcdf` (loads it into memory).

    The file may come from anyone: it is read by :func:`engine.resultfile.read_result`,
    which refuses anything that is not a regular file holding a capexgap result of a format
    version this code reads, and bounds every size, before any data is loaded.

    Raises
    ------
    engine.resultfile.ResultFileError
        Naming the file, the variable or attribute, the rule broken and the fix.
    """
    from engine.io.resultfile import read_result

    return read_result(path)


def summary(ds: xr.Dataset) -> dict[str, Any]:
    """The ``--json`` object (docs/cli.md) for a single-point Dataset.

    A model may give its own object (the vintage model's, by year:
    :func:`engine.models.vintage_report.summary`).
    """
    model = models.of_dataset(ds)
    if model is not None and model.summary is not None:
        return _with_qmc(_with_gap_above(_with_correlation(model.summary(ds), ds), ds), ds)
    ci = ds["p_cover_ci95"].values
    out: dict[str, Any] = {
        "p_cover": float(ds["p_cover"]),
        "p_cover_ci95": [float(ci[0]), float(ci[1])],
        "trials": int(ds.attrs["trials"]),
        "seed": int(ds.attrs["seed"]),
        "elapsed_s": round(float(ds.attrs.get("elapsed_s", 0.0)), 4),
        "hits": int(ds["hits"]),
        "completed": bool(ds.attrs["completed"]),
        "trials_requested": int(ds.attrs.get("trials_requested", ds.attrs["trials"])),
        "p_cover_ci_method": ds["p_cover_ci95"].attrs["method"],
        # Why anything is null (NaN), infinite, partial or less accurate: one string each.
        "notes": notes_of(ds),
        "outputs": {},
    }
    if not out["completed"]:
        out["stop_reason"] = str(ds.attrs.get("stop_reason", ""))
    out.update(_precision_summary(ds))
    for name in OUTPUTS:
        qs = ds[f"{name}_quantile"]
        entry = {
            "mean": _num(ds[f"{name}_mean"]),
            "std": _num(ds[f"{name}_std"]),
            "quantiles": {_level(q): _num(v) for q, v in zip(qs["quantile"].values, qs.values)},
        }
        entry["nonfinite_trials"] = int(ds[f"{name}_nonfinite"])
        if f"{name}_beyond_sketch" in ds:
            entry["beyond_sketch_trials"] = int(ds[f"{name}_beyond_sketch"])
        notes = str(ds[f"{name}_mean"].attrs.get("note", ""))
        if notes:
            entry["notes"] = notes.splitlines()
        out["outputs"][name] = entry
    reasons = {}
    if int(ds["hits"]) == 0:
        reasons["p_cover_rel_error"] = (
            "p_cover_rel_error is null: no trial covered, so P(cover) is estimated as 0 and a "
            "relative error (half-width / P(cover)) is undefined; p_cover_ci95's upper end is "
            "the one-sided 95% upper bound")
    out["notes"].extend(explain_nulls(out, reasons))
    return _with_qmc(_with_gap_above(_with_correlation(out, ds), ds), ds)


def _with_qmc(out: dict[str, Any], ds: xr.Dataset) -> dict[str, Any]:
    """``out`` with ``"sampler"``: how the trials were drawn and, for randomized QMC
    (``method`` "sobol" or "lhs"), how the error bars were obtained and each output mean's
    standard error (``"mean_se"``; lists by year for a multi-year result)."""
    name = str(ds.attrs.get("method", ""))
    if name not in ("sobol", "lhs") or "replicates" not in ds.attrs:
        return out
    out["sampler"] = {
        "name": name,
        "replicates": int(ds.attrs["replicates"]),
        "points_per_replicate": int(ds.attrs["points_per_replicate"]),
        "interval": str(ds.attrs["interval"]),
        "p_cover_se": _num_or_list(ds["p_cover_se"]),
        "mean_se": {name[:-len("_mean_se")]: _num_or_list(ds[name])
                    for name in ds.data_vars if str(name).endswith("_mean_se")},
    }
    return out


def _num_or_list(v: xr.DataArray) -> Any:
    """A scalar as a number (None for NaN), an array as a list of them."""
    if v.ndim == 0:
        return _num(v)
    return [_num(x) for x in np.asarray(v.values).reshape(-1)]


def _with_gap_above(out: dict[str, Any], ds: xr.Dataset) -> dict[str, Any]:
    """``out`` with ``"gap_above": [{"x", "p", "ci95"}, ...]`` (``--gap-above``); per year
    (lists) for a multi-year result."""
    if "p_gap_above" not in ds:
        return out
    p, ci = ds["p_gap_above"], ds["p_gap_above_ci95"]
    rows = []
    for i, x in enumerate(p["gap_above"].values):
        pi, ci_i = p.isel(gap_above=i).values, ci.isel(gap_above=i).values
        rows.append({"x": float(x), "p": pi.tolist(), "ci95": ci_i.tolist()})
    out["gap_above"] = rows
    return out


def _matrix(a: np.ndarray) -> list[list[float | None]]:
    """Rows of rounded numbers, null where a value is not finite (JSON has no NaN)."""
    return [[round(float(v), 6) if np.isfinite(v) else None for v in row] for row in a]


def _with_correlation(out: dict[str, Any], ds: xr.Dataset) -> dict[str, Any]:
    """``out`` with a ``"correlation"`` object when the run had correlated inputs: the inputs,
    the target Spearman matrix (as the copula used it) and the one measured on the first
    trials."""
    if "correlation_target" not in ds:
        return out
    target = ds["correlation_target"].values
    out["correlation"] = {
        "description": str(ds.attrs.get("correlation", "")),
        "inputs": [str(n) for n in ds["correlated"].values],
        "target_spearman": _matrix(target.reshape(-1, *target.shape[-2:])[0]),
    }
    if "correlation_achieved" in ds:  # not measured on fewer than 100 trials
        out["correlation"]["achieved_spearman"] = _matrix(ds["correlation_achieved"].values)
        out["correlation"]["achieved_trials"] = int(ds["correlation_achieved"].attrs["trials"])
    return out


def _precision_summary(ds: xr.Dataset) -> dict[str, Any]:
    """The estimator and its error (engine.precision), for any single-point Dataset."""
    method = str(ds.attrs.get("method", "mc"))
    if "p_cover_se" in ds:
        se, rel = float(ds["p_cover_se"]), float(ds["p_cover_rel_error"])
        ess, equiv = float(ds["effective_sample_size"]), float(ds["mc_equivalent_trials"])
    else:
        se, rel, ess, equiv = mc_precision(int(ds["hits"]), int(ds.attrs["trials"]))
    out: dict[str, Any] = {"method": method, "p_cover_se": _num(se),
                           "p_cover_rel_error": _num(rel), "effective_sample_size": _num(ess),
                           "mc_equivalent_trials": _num(equiv)}
    if p_cover_is_bound(ds):  # P(cover) < this; the estimate's error is unknown (notes)
        out["p_cover_upper_bound"] = float(ds["p_cover_ci95"].values[1])
    if "precision_target" in ds.attrs:
        out["precision"] = {"target": str(ds.attrs["precision_target"]),
                            "met": bool(ds.attrs["precision_met"]),
                            "max_trials": int(ds.attrs["precision_max_trials"]),
                            "stop": str(ds.attrs["precision_stop"])}
    if "method_choice" in ds.attrs:
        out["method_choice"] = str(ds.attrs["method_choice"])
    if method == "importance":
        ci = ds["mc_p_cover_ci95"].values
        out["outputs_trials"] = int(ds.attrs["mc_trials"])
        out["importance"] = {
            "shift": {str(k): float(v) for k, v in zip(ds["model_input"].values,
                                                       ds["importance_shift"].values) if v},
            "shift_norm": float(np.linalg.norm(ds["importance_shift"].values)),
            "design_point_norm": float(np.linalg.norm(ds["design_point"].values)),
            "search": str(ds.attrs["importance_search"]),
            "weight_mean": _num(ds["weight_mean"]), "weight_mean_se": _num(ds["weight_mean_se"]),
            "weight_effective_sample_size": _num(ds["weight_effective_sample_size"]),
            "weight_max_share": _num(ds["weight_max_share"]),
            "mc_trials": int(ds.attrs["mc_trials"]), "mc_hits": int(ds["mc_hits"]),
            "mc_p_cover": float(ds["mc_p_cover"]),
            "mc_p_cover_ci95": [float(ci[0]), float(ci[1])],
        }
    return out
