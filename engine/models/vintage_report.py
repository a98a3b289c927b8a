"""The vintage model's results: variable attributes, break-even variables, JSON and text.

:func:`engine.core.dataset.build_dataset` builds the per-year variables generically (every output on
``year``); :func:`finish_dataset` adds the break-even year's distribution, computed exactly from
integer counts (no sketch): ``breakeven_by_trials[year]`` is the number of trials whose revenue
covered the required revenue in some year up to and including ``year``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import xarray as xr

from engine.core.dataset import _level, _num, explain_nulls, notes_of
from engine.core.stats import proportion_interval
from engine.base import fmt
from engine.base.safetext import escape

_MONEY = "US$ billion per year"
_TOTAL = "US$ billion"
OUTPUT_ATTRS: Mapping[str, dict[str, str]] = {
    "annual_gpu_spend": {"long_name": "GPU spend of the year (the year's cohort)",
                         "units": _MONEY},
    "capex": {"long_name": "capex of the year's cohort: GPU spend x (1 + energy_ratio)",
              "units": _MONEY},
    "capital_charge": {"long_name": "capital charge of the year: depreciation and cost of "
                                    "capital summed over every cohort bought so far",
                       "units": _MONEY},
    "required_revenue": {"long_name": "lifetime revenue needed by the year's cohort: "
                                      "capex / (1 - margin)", "units": _MONEY},
    "required_annual_revenue": {"long_name": "revenue needed in the year: capital charge / "
                                             "(1 - margin)", "units": _MONEY},
    "ai_revenue": {"long_name": "AI revenue of the year: sum over companies", "units": _MONEY},
    "gap": {"long_name": "required revenue minus AI revenue in the year", "units": _MONEY},
    "spend_to_revenue": {"long_name": "GPU spend / AI revenue in the year", "units": "1"},
    "cum_capex": {"long_name": "capex summed over the reported years up to the year",
                  "units": _TOTAL},
    "cum_revenue": {"long_name": "AI revenue summed over the reported years up to the year",
                    "units": _TOTAL},
    "cum_gap": {"long_name": "gap summed over the reported years up to the year "
                             "(required minus AI revenue)", "units": _TOTAL},
}
COVER_ATTRS: Mapping[str, dict[str, str]] = {
    "covers": {"long_name": "P(AI revenue >= required revenue in the year)",
               "hits_long_name": "trials in which AI revenue covers the year's required "
                                 "revenue"},
    "breakeven_by": {"long_name": "trials whose AI revenue has covered the required revenue "
                                  "in some year up to and including the year"},
}
BREAKEVEN_METHOD = ("exact, from integer counts per year; numpy's 'inverted_cdf' (the smallest "
                    "year whose cumulative share reaches the level); inf: not by the last year")


def finish_dataset(ds: xr.Dataset) -> xr.Dataset:
    """Add the break-even year's distribution to a vintage Dataset (any point dims)."""
    n = int(ds.attrs["trials"])
    years = ds["year"].values
    by = ds["breakeven_by_trials"]
    counts = by.values  # [..., year]
    flat = counts.reshape(-1, len(years))
    p_by = flat / n
    ci_by = np.array([[proportion_interval(int(c), n)[:2] for c in row] for row in flat])
    never = n - flat[:, -1]
    ci_never = np.array([proportion_interval(int(c), n)[:2] for c in never])
    levels = ds["quantile"].values
    q = np.array([breakeven_quantiles(row, n, years, levels) for row in flat])
    lead = counts.shape[:-1]
    pdims = by.dims[:-1]
    last = int(years[-1])
    ds["p_breakeven_by"] = (by.dims, p_by.reshape(counts.shape), {
        "long_name": "P(AI revenue has covered the required revenue in some year up to and "
                     "including the year)", "units": "1"})
    ds["p_breakeven_by_ci95"] = (by.dims + ("bound",), ci_by.reshape(counts.shape + (2,)), {
        "long_name": "95% interval of p_breakeven_by", "units": "1"})
    ds["p_breakeven_never"] = (pdims, (never / n).reshape(lead), {
        "long_name": f"P(no break-even by {last}): AI revenue below the required revenue in "
                     "every reported year", "units": "1"})
    ds["p_breakeven_never_ci95"] = (pdims + ("bound",), ci_never.reshape(lead + (2,)), {
        "long_name": "95% interval of p_breakeven_never", "units": "1"})
    ds["breakeven_year_quantile"] = (pdims + ("quantile",), q.reshape(lead + (len(levels),)), {
        "long_name": "quantiles of the break-even year (the first year AI revenue >= required "
                     f"revenue); inf: not by {last}", "units": "year",
        "method": BREAKEVEN_METHOD})
    ds.attrs["breakeven_quantile_method"] = BREAKEVEN_METHOD
    return ds


def breakeven_quantiles(by: np.ndarray, n: int, years: np.ndarray,
                        levels: np.ndarray) -> np.ndarray:
    """Quantiles of the break-even year from cumulative counts ``by[year]`` of n trials.

    The trials that never break even count as +inf. numpy's ``inverted_cdf`` definition: the
    order statistic of 0-based index ``k = ceil(n q - 1)`` (``n q - 1`` rounded up unless
    whole), i.e. the first year whose cumulative count exceeds k; inf if none does.
    """
    out = np.empty(len(levels))
    for i, q in enumerate(levels):
        v = n * float(q) - 1.0
        k = math.floor(v) if v == math.floor(v) else math.floor(v) + 1
        k = min(max(k, 0), n - 1)
        pos = int(np.searchsorted(by, k + 1, side="left"))  # first year with by >= k + 1
        out[i] = float(years[pos]) if pos < len(years) else math.inf
    return out


def finish_trace(ds: xr.Dataset) -> xr.Dataset:
    """Add each traced trial's break-even year (inf: not by the last year)."""
    covers = ds["covers"].values
    years = ds["year"].values
    first = np.argmax(covers, axis=1)
    ds["breakeven_year"] = ("trial", np.where(covers.any(axis=1), years[first], np.inf)
                            .astype(np.float64))
    return ds


# --------------------------------------------------------------------------- JSON and text


def summary(ds: xr.Dataset) -> dict[str, Any]:
    """The ``--json`` object of a single-point vintage Dataset.

    The one-year keys keep their meaning for the last reported year (``p_cover``,
    ``p_cover_ci95``, ``hits``; ``p_cover_year`` says which); ``years`` lists the years and every
    per-year list follows it; ``outputs`` give per-year lists of mean, std and quantiles.
    ``breakeven_year`` holds its quantiles (null: not by the last year), ``p_never`` and its
    interval, and ``p_by_year``.
    """
    years = [int(y) for y in ds["year"].values]
    ci = ds["p_cover_ci95"].values
    out: dict[str, Any] = {
        "model": "vintage",
        "p_cover": float(ds["p_cover"].values[-1]),
        "p_cover_ci95": [float(ci[-1, 0]), float(ci[-1, 1])],
        "p_cover_year": years[-1],
        "trials": int(ds.attrs["trials"]),
        "seed": int(ds.attrs["seed"]),
        "elapsed_s": round(float(ds.attrs.get("elapsed_s", 0.0)), 4),
        "hits": int(ds["hits"].values[-1]),
        "completed": bool(ds.attrs["completed"]),
        "trials_requested": int(ds.attrs.get("trials_requested", ds.attrs["trials"])),
        "p_cover_ci_method": ds["p_cover_ci95"].attrs["method"],
        "notes": notes_of(ds),  # why anything is null, infinite or partial
        "years": years,
        "p_cover_by_year": [float(p) for p in ds["p_cover"].values],
        "p_cover_ci95_by_year": [[float(a), float(b)] for a, b in ci],
        "hits_by_year": [int(h) for h in ds["hits"].values],
        "breakeven_year": {
            "quantiles": {_level(q): (int(v) if math.isfinite(v) else None) for q, v in
                          zip(ds["quantile"].values, ds["breakeven_year_quantile"].values)},
            "p_never": float(ds["p_breakeven_never"]),
            "p_never_ci95": [float(v) for v in ds["p_breakeven_never_ci95"].values],
            "p_by_year": [float(p) for p in ds["p_breakeven_by"].values],
        },
        "outputs": {},
    }
    for name in OUTPUT_ATTRS:
        qs = ds[f"{name}_quantile"]  # (year, quantile)
        entry: dict[str, Any] = {
            "mean": [_num(v) for v in ds[f"{name}_mean"].values],
            "std": [_num(v) for v in ds[f"{name}_std"].values],
            "quantiles": {_level(q): [_num(v) for v in qs.values[:, k]]
                          for k, q in enumerate(qs["quantile"].values)},
        }
        bad = [int(v) for v in ds[f"{name}_nonfinite"].values]
        if any(bad):
            entry["nonfinite_trials"] = bad
        notes = str(ds[f"{name}_mean"].attrs.get("note", ""))
        if notes:
            entry["notes"] = notes.splitlines()
        out["outputs"][name] = entry
    if not out["completed"]:
        out["stop_reason"] = str(ds.attrs.get("stop_reason", ""))
    reasons = {"breakeven_year.quantiles": (
        f"breakeven_year.quantiles is null at a level where fewer trials than that share break "
        f"even by {years[-1]} (the break-even year is later, or never): see "
        "breakeven_year.p_never")}
    out["notes"].extend(explain_nulls(out, reasons))
    return out


def format_quote(ds: xr.Dataset, source: str) -> str:
    """Human-readable answer: P(cover) and the gap by year, then the break-even year."""

    n = int(ds.attrs["trials"])
    years = [int(y) for y in ds["year"].values]
    last = years[-1]
    lines = [f"{escape(ds.attrs['title'])}  ({escape(source)})",
             f"Multi-year (vintage) model, {years[0]}-{last}; cohorts from "
             f"{int(ds.attrs['first_cohort_year'])}; {ds.attrs['depreciation']} depreciation",
             ""]
    if not bool(ds.attrs["completed"]):
        lines.insert(1, f"PARTIAL RESULT: {n:,} of {int(ds.attrs['trials_requested']):,} "
                        f"requested trials ({ds.attrs.get('stop_reason') or 'stopped early'})"
                        "; every figure below is over those trials only.")
    lines.append(f"{'year':<6}{'P(cover)':>9}  {'95% CI':<20}{'required':>10}{'revenue':>10}"
                 f"{'gap 50%':>10}  {'gap 90% interval':<21}{'cum capex':>10}{'cum rev':>10}")
    gq = ds["gap_quantile"]
    levels = list(gq["quantile"].values)
    for k, year in enumerate(years):
        lo, hi = (float(v) for v in ds["p_cover_ci95"].values[k])
        p = fmt.pct(float(ds["p_cover"].values[k]))
        ci = fmt.p_interval(lo, hi)
        if int(ds["hits"].values[k]) == 0:
            p, ci = "0", f"below {fmt.pct(hi)}"
        g05, g50, g95 = (float(gq.values[k, levels.index(q)]) for q in (0.05, 0.5, 0.95))
        lines.append(
            f"{year:<6}{p:>9}  {ci:<20}"
            f"{fmt.amount(float(ds['required_annual_revenue_mean'].values[k])):>10}"
            f"{fmt.amount(float(ds['ai_revenue_mean'].values[k])):>10}{fmt.amount(g50):>10}  "
            f"{fmt.amount(g05) + ' to ' + fmt.amount(g95):<21}"
            f"{fmt.amount(float(ds['cum_capex_mean'].values[k])):>10}"
            f"{fmt.amount(float(ds['cum_revenue_mean'].values[k])):>10}")
    lines.append("P(cover): AI revenue >= required revenue in the year, with its 95% interval "
                 "('below': no trial covered; one-sided bound).")
    lines.append(f"required, revenue: means, $B/yr; gap = required - revenue, $B/yr; cum: means "
                 f"of the sums from {years[0]}, $B.")
    lines.append("")
    bq = ds["breakeven_year_quantile"]

    def year_text(q: float) -> str:
        v = float(bq.sel(quantile=q))
        return str(int(v)) if math.isfinite(v) else f"not by {last}"

    never = float(ds["p_breakeven_never"])
    nlo, nhi = (float(v) for v in ds["p_breakeven_never_ci95"].values)
    lines.append("Break-even year (the first year AI revenue >= required revenue): median "
                 f"{year_text(0.5)}, 90% interval {year_text(0.05)} to {year_text(0.95)}")
    lines.append(f"P(no break-even by {last}) = {fmt.pct(never)}  (95% CI "
                 f"{fmt.p_interval(nlo, nhi)})")
    lines.append(fmt.run_line(f"{n:,}", ds.attrs))
    # Every NaN, inf or less accurate figure, with its reason (engine.result's notes).
    lines.extend(f"note: {escape(line, None)}." for line in notes_of(ds)
                 if not line.startswith("partial result:"))
    return "\n".join(lines)
