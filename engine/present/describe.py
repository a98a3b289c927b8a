"""A result Dataset in a few lines of text (:func:`describe`, ``engine.describe`` in Python).

Results stay plain :class:`xarray.Dataset` objects (Jupyter already shows them with xarray's
own HTML); this module only adds words:

- a quote: the text ``capexgap quote`` prints (:func:`engine.present.text.format_quote`);
- a sweep: its grid, its trials and seed, the range of P(cover) over the points and where;
- a tornado: the baseline and the inputs with the largest swings in P(cover);
- a goal seek: the target and the multiplier found, with its interval;
- anything else (a trace, a Dataset from elsewhere): its title, analysis, dimensions, trials
  and seed.

Every figure of a quote, a sweep or a tornado is in ``engine.summary_table(ds)`` (a tidy table,
:func:`engine.io.exports.summary_table`).

Dependency rule: every layer below the command line.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

from engine.base import fmt
from engine.base.safetext import escape
from engine.present.text import format_quote

#: Inputs a tornado's description lists (the dataset has every one).
TOP_INPUTS = 5


def describe(ds: xr.Dataset) -> str:
    """A short text summary of a result Dataset, for ``print``.

    Parameters
    ----------
    ds : xarray.Dataset
        A result of ``engine.quote``/``simulate``, ``sweep``, ``tornado``, ``solve`` or
        ``trace``, or one read back by ``engine.open_result``.

    Returns
    -------
    str
        A few lines (a quote: the text ``capexgap quote`` prints).
    """
    analysis = ds.attrs.get("analysis")
    if analysis is None and {"p_cover", "p_cover_ci95", "hits"} <= set(ds.data_vars) \
            and "trials" in ds.attrs:
        return format_quote(ds, str(ds.attrs.get("config_source", "")))
    if analysis == "sweep" and "sweep_dims" in ds.attrs and "p_cover" in ds:
        lines = _sweep(ds)
    elif analysis == "tornado" and "swing_p_cover" in ds and "baseline_p_cover" in ds:
        lines = _tornado(ds)
    elif analysis == "solve" and "solution" in ds and "solve_status" in ds.attrs:
        lines = _solve(ds)
    else:
        lines = _other(ds)
    notes = [n for n in str(ds.attrs.get("notes", "")).splitlines() if n.strip()]
    lines += [f"note: {escape(n)}" for n in notes]
    return "\n".join(lines)


def _head(ds: xr.Dataset, what: str = "result") -> str:
    title = escape(ds.attrs.get("title", f"capexgap {what}"))
    source = ds.attrs.get("config_source")
    return f"{title}  ({escape(source)})" if source else title


def _run(ds: xr.Dataset) -> str:
    """``16,384 trials (seed 2024)``, or "" when the Dataset does not say."""
    if "trials" not in ds.attrs:
        return f"seed {ds.attrs['seed']}" if "seed" in ds.attrs else ""
    seed = f" (seed {ds.attrs['seed']})" if "seed" in ds.attrs else ""
    return f"{int(ds.attrs['trials']):,} trials{seed}"


def _last_year(da: xr.DataArray, year: Any = None) -> tuple[xr.DataArray, str]:
    """`da` in `year` (default: the last reported one) if it has years, and `` in YEAR``."""
    if "year" not in da.dims:
        return da, ""
    y = int(da["year"].values[-1]) if year is None else int(year)
    return da.sel(year=y), f" in {y}"


def _coord(ds: xr.Dataset, dim: str, i: int) -> str:
    if f"{dim}_lo" in ds.coords:  # a pair sweep: the pair's ends
        return f"[{ds[f'{dim}_lo'].values[i]:.6g}, {ds[f'{dim}_hi'].values[i]:.6g}]"
    return f"{float(ds[dim].values[i]):.6g}"


def _sweep(ds: xr.Dataset) -> list[str]:
    dims = [str(d) for d in json.loads(ds.attrs["sweep_dims"])]
    sizes = [int(ds.sizes[d]) for d in dims]
    grid = " x ".join(f"{escape(d, limit=60)} ({s} values)" for d, s in zip(dims, sizes))
    lines = [_head(ds), f"Sweep of {grid} = {int(np.prod(sizes)):,} points;",
             f"every point sees the same {_run(ds)}"]
    if "precision_target" in ds.attrs:
        lines.append(f"Precision target {ds.attrs['precision_target']}: "
                     f"{ds.attrs.get('precision_stop', '')}.")
    p, year = _last_year(ds["p_cover"])
    p = p.transpose(*dims)
    values = p.values
    if np.isfinite(values).any():
        where = []
        for pick in (np.nanargmin, np.nanargmax):
            idx = np.unravel_index(int(pick(values)), values.shape)
            at = ", ".join(f"{escape(d, limit=60)} {_coord(ds, d, int(i))}"
                           for d, i in zip(dims, idx))
            where.append(f"{fmt.pct(float(values[idx]))} ({at})")
        lines.append(f"P(cover){year} from {where[0]} to {where[1]}")
    lines.append("Every point: engine.summary_table(ds), or engine.sweep_point(ds, ...) for one.")
    return lines


def _tornado(ds: xr.Dataset) -> list[str]:
    levels = [float(q) for q in ds["level"].values]
    year = ds.attrs.get("tornado_rank_year")
    base, in_year = _last_year(ds["baseline_p_cover"], year)
    swing, _ = _last_year(ds["swing_p_cover"], year)
    names = [str(x) for x in ds["input"].values]
    at = " and ".join(fmt.pctl(q) for q in levels)
    lines = [_head(ds),
             f"Tornado: {len(names)} inputs, each pinned at its {at} quantiles, the others random;",
             f"the same {_run(ds)} at every point",
             f"Baseline P(cover){in_year} = {fmt.pct(float(base))}",
             (f"Largest swings in P(cover){in_year} (at {fmt.pctl(levels[-1])} minus at "
              f"{fmt.pctl(levels[0])}):")]
    width = max(len(escape(n, limit=60)) for n in names[:TOP_INPUTS]) + 2 if names else 2
    for name, value in list(zip(names, swing.values))[:TOP_INPUTS]:
        lines.append(f"  {escape(name, limit=60):<{width}}{fmt.pp(float(value)):>12}")
    if len(names) > TOP_INPUTS:
        lines.append(f"  ... and {len(names) - TOP_INPUTS} more: engine.summary_table(ds)")
    return lines


def _solve(ds: xr.Dataset) -> list[str]:
    scaled = escape(ds.attrs.get("solve_scaled", ds.attrs.get("solve_scale", "")))
    target = escape(ds.attrs.get("solve_target", "the target is reached"))
    lines = [_head(ds), f"Goal seek: the multiplier on {scaled} at which {target}."]
    m = float(ds["solution"])
    if ds.attrs["solve_status"] == "found" and np.isfinite(m):
        ends = [f"{v:.5g}" if np.isfinite(v) else "beyond the range"
                for v in (float(x) for x in ds["solution_ci95"].values)]
        scale = escape(ds.attrs.get("solve_scale", "multiplier"), limit=60)
        lines.append(f"{scale} x {m:.5g} (95% CI {ends[0]} to {ends[1]})")
    else:
        lines.append(f"not found ({escape(ds.attrs['solve_status'])})")
    lines += [escape(n) for n in str(ds.attrs.get("solve_note", "")).splitlines() if n.strip()]
    lines.append(f"each evaluation on the same {_run(ds)}")
    return lines


def _other(ds: xr.Dataset) -> list[str]:
    what = ds.attrs.get("analysis") or ("trace" if "trial" in ds.dims else "result")
    dims = ", ".join(f"{escape(d, limit=60)}: {n:,}" for d, n in ds.sizes.items())
    run = _run(ds)
    return [_head(ds, str(what)),
            f"{escape(what)}: {len(ds.data_vars)} variables"
            + (f" over {dims}" if dims else "") + (f"; {run}" if run else "")]
