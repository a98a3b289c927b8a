"""The printed report of ``capexgap sensitivity``: per output, a table of the factors sorted
by total index, with both indices' 95% intervals.

Dependency rule: :mod:`engine.base` and :mod:`engine.io` (the output keys).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from engine.base import fmt
from engine.base.safetext import escape
from engine.io.sensitivity_summary import output_keys

#: Rows per output in the text (``--json`` and the NetCDF file have them all).
MAX_ROWS = 12


def _ci(lo: float, hi: float) -> str:
    return f"[{fmt.share(lo)}, {fmt.share(hi)}]"


def format_sensitivity(ds: xr.Dataset) -> str:
    """The report: a header, then per output (and year) its variance and a table of S1 and
    ST with their intervals, sorted by ST (largest first); notes last."""
    n, ev, k = (int(ds.attrs[a]) for a in ("base_samples", "evaluations", "factors"))
    lines = [f"{escape(ds.attrs['title'])}  ({escape(ds.attrs['config_source'])})",
             (f"Sobol' indices of {k} factors: {n:,} base samples, {ev:,} model evaluations "
              f"(seed {ds.attrs['seed']}, {float(ds.attrs['elapsed_s']):.2f} s)."),
             ("S1: the share of the output's variance an input explains alone; ST: with its "
              "interactions."), ""]
    names = [escape(str(i), limit=40) for i in ds["input"].values]
    width = max(24, *(len(x) + 2 for x in names))
    for key, sel in output_keys(ds):
        one = ds.sel(sel)
        lines.append(f"{key} (variance {fmt.amount(float(one['output_variance']))})")
        lines.append(f"  {'input':<{width}}{'S1':>7}  {'95% CI':<17}{'ST':>7}  95% CI")
        st = one["ST"].values
        order = np.argsort(-np.where(np.isfinite(st), st, -np.inf), kind="stable")
        for r, i in enumerate(order):
            if r == MAX_ROWS:
                lines.append(f"  ... and {len(order) - r} more (--json lists them all)")
                break
            s1c, stc = one["S1_ci95"].values[i], one["ST_ci95"].values[i]
            lines.append(f"  {names[i]:<{width}}{fmt.share(one['S1'].values[i]):>7}  "
                         f"{_ci(*s1c):<17}{fmt.share(st[i]):>7}  {_ci(*stc)}")
        lines.append("")
    lines.append(f"Intervals: {ds.attrs['interval']}.")
    if "precision" in ds.attrs:
        met = "met" if int(ds.attrs["precision_met"]) else "NOT met"
        lines.append(f"Precision target: every half-width <= {float(ds.attrs['precision']):g}, "
                     f"{met} with {n:,} base samples.")
    lines += [f"note: {x}" for x in ds.attrs.get("notes", "").split("\n") if x]
    return "\n".join(lines)
