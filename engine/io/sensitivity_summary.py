"""The JSON object of ``capexgap sensitivity --json`` (and ``--out FILE.json``).

``{"indices": {OUTPUT: {INPUT: {"S1": .., "S1_ci95": [lo, hi], "ST": .., "ST_ci95": [lo,
hi]}}}, "base_samples": N, "evaluations": N (k + 2), ...}``; for a multi-year model an OUTPUT
key is ``<output>.<year>``. NaN is written as null.

Dependency rule: :mod:`engine.io` and the layers below.
"""

from __future__ import annotations

import math
from typing import Any

import xarray as xr


def _num(v: Any) -> float | None:
    x = float(v)
    return x if math.isfinite(x) else None


def output_keys(ds: xr.Dataset) -> list[tuple[str, dict]]:
    """(key, selection) per analysed output (and year): ``gap`` or ``gap.2030``."""
    outs = [str(o) for o in ds["output"].values]
    if "year" not in ds["S1"].dims:
        return [(o, {"output": o}) for o in outs]
    return [(f"{o}.{int(y)}", {"output": o, "year": int(y)}) for o in outs
            for y in ds["year"].values]


def sensitivity_summary(ds: xr.Dataset) -> dict[str, Any]:
    """The ``--json`` object of a sensitivity Dataset (:mod:`engine.analyses.sensitivity`)."""
    indices: dict[str, Any] = {}
    for key, sel in output_keys(ds):
        one = ds.sel(sel)
        indices[key] = {
            str(i): {"S1": _num(one["S1"].sel(input=i)),
                     "S1_ci95": [_num(v) for v in one["S1_ci95"].sel(input=i).values],
                     "ST": _num(one["ST"].sel(input=i)),
                     "ST_ci95": [_num(v) for v in one["ST_ci95"].sel(input=i).values]}
            for i in ds["input"].values}
    out: dict[str, Any] = {
        "analysis": "sensitivity", "title": ds.attrs["title"],
        "config": ds.attrs["config_source"], "model": ds.attrs["model"],
        "indices": indices,
        "base_samples": int(ds.attrs["base_samples"]),
        "evaluations": int(ds.attrs["evaluations"]),
        "factors": {str(i): str(m).split(",") for i, m in
                    zip(ds["input"].values, ds["input_members"].values)},
        "interval": ds.attrs["interval"], "estimators": ds.attrs["estimators"],
        "seed": int(ds.attrs["seed"]), "completed": bool(int(ds.attrs["completed"])),
        "elapsed_s": round(float(ds.attrs["elapsed_s"]), 4),
        "notes": [x for x in ds.attrs.get("notes", "").split("\n") if x],
    }
    if "precision" in ds.attrs:
        out["precision"] = {"target": float(ds.attrs["precision"]),
                            "met": bool(int(ds.attrs["precision_met"]))}
    return out
