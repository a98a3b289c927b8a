"""The picture of one multi-year (vintage) point: P(cover) by year with its 95% band, above
the break-even year's distribution.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from engine.base import fmt
from engine.present.plot_checks import _expect
from engine.present.plot_common import (BLUE, GREY, ORANGE, SKY, _footer, _matplotlib, _num,
                                        _point, _show, _style, _title)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def plot_vintage(ds: xr.Dataset) -> Figure:
    """A multi-year run: P(cover) by year with its 95% band, above the break-even year.

    Parameters
    ----------
    ds : Dataset
        One point of the multi-year (vintage) model: ``p_cover`` on ``year`` alone, e.g.
        from :func:`engine.simulate` of a ``model = "vintage"`` config; a multi-year sweep
        must be narrowed to one point first (``ds.sel(useful_life=4)``). Needs
        ``p_cover_ci95`` (year, bound), ``p_breakeven_by`` (year), ``p_breakeven_never`` and
        ``breakeven_year_quantile``; uses ``breakeven_by_trials``, ``hits`` and the ``_ci95``
        of the break-even probabilities when present.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes over the same years. Top: P(AI revenue covers the year's required revenue),
        a line with its stored 95% interval as a band, and a 50% line when it is within
        reach. Bottom: the break-even year (the first year revenue covers): bars with the
        share of trials that break even in each year, a step line with the share that has by
        each year (``p_breakeven_by``, with its band), and a separate grey bar, right of the
        years, for the trials that never break even within the horizon
        (``p_breakeven_never``). The bars and that grey bar sum to 1. Titles carry P(cover)
        in the last year, P(break-even by the last year) and the break-even year's median and
        90% interval ("not by <last year>" when it falls among the trials that never do).
    """
    _matplotlib()
    _expect(ds, "vintage", "plot_vintage")
    # a one-point sweep: its length-1 swept dimensions are held, and said so under the figure
    held = {d: ds[d].values[0] if d in ds.coords else 0 for d in ds["p_cover"].dims
            if d != "year"}
    ds = _point(ds)
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedFormatter, FixedLocator, PercentFormatter

    years = np.asarray(ds["year"].values, dtype=int)
    first, last = int(years[0]), int(years[-1])
    p = ds["p_cover"].transpose("year").values.astype(float)
    ci = ds["p_cover_ci95"].transpose("year", "bound")
    lo = ci.sel(bound="lower").values.astype(float)
    hi = ci.sel(bound="upper").values.astype(float)
    by = ds["p_breakeven_by"].transpose("year").values.astype(float)
    in_year = breakeven_in_year(ds)
    never = float(ds["p_breakeven_never"])
    ticks = _year_ticks(years)
    # The "never" bar stands apart from the years, by a tick interval and a half so that its
    # two-line label clears the last year's however many years there are.
    step = ticks[-1] - ticks[-2] if len(ticks) > 1 else 1
    x_never = last + 1.5 * step
    with _style():
        fig = Figure(figsize=(8, 6.8), layout="constrained")
        ax, ax2 = fig.subplots(2, 1, height_ratios=[1, 1])

        ax.fill_between(years, lo, hi, color=SKY, alpha=0.45, lw=0, label="95% interval")
        ax.plot(years, p, "o-", color=BLUE, lw=1.8, ms=4.5,
                label="P(cover): AI revenue >= the year's required revenue")
        top = max(float(np.nanmax(hi)) * 1.08, 1e-3)
        if 0.5 <= 1.3 * top:  # a 50% line only where P(cover) comes near it
            ax.axhline(0.5, color=GREY, lw=1, ls=":", label="50%")
            top = max(top, 0.6)
        ax.set_ylim(0, top)
        ax.set_ylabel("P(AI revenue covers capex)")
        ax.set_title(f"P(AI revenue covers the year's required revenue), {first}-{last}\n"
                     + _cover_headline(ds, last, p[-1], lo[-1], hi[-1]), loc="left")

        ax2.bar(years, in_year, width=0.8, color=ORANGE,
                label="breaks even in the year (first year revenue covers)")
        if "p_breakeven_by_ci95" in ds.variables:
            bci = ds["p_breakeven_by_ci95"].transpose("year", "bound")
            ax2.fill_between(years, bci.sel(bound="lower").values.astype(float),
                             bci.sel(bound="upper").values.astype(float), step="mid",
                             color=SKY, alpha=0.45, lw=0)
        ax2.plot(years, by, "o", ls="-", drawstyle="steps-mid", color=BLUE, lw=1.8, ms=4,
                 label="has broken even by the year (cumulative)")
        never_err = None
        top2 = max(float(np.nanmax(by)), float(in_year.max()), never)
        if "p_breakeven_never_ci95" in ds.variables:
            nlo, nhi = (float(v) for v in ds["p_breakeven_never_ci95"].values)
            never_err = [[never - nlo], [nhi - never]]
            top2 = max(top2, nhi)
        ax2.bar([x_never], [never], width=0.8, color=GREY, yerr=never_err, capsize=3,
                error_kw={"lw": 1, "ecolor": "black"}, label=f"no break-even by {last}")
        ax2.text(x_never, never + (never_err[1][0] if never_err else 0) + 0.02 * top2,
                 fmt.pct(never), ha="center", va="bottom", fontsize=8.5)
        ax2.set_ylim(0, max(top2 * 1.12, 1e-3))
        ax2.set_ylabel("share of trials")
        ax2.set_xlabel("year")
        ax2.set_title("Break-even year: the first year AI revenue covers the year's required "
                      "revenue\n" + _breakeven_headline(ds, last, by[-1]), loc="left")

        for a in (ax, ax2):
            a.set_xlim(first - 0.6, x_never + 0.6 * step)
            a.yaxis.set_major_formatter(PercentFormatter(1.0))
            a.grid(axis="y", color="#dddddd", lw=0.6)
            a.set_axisbelow(True)
            a.legend(loc="best")
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FixedFormatter([str(t) for t in ticks]))
        ax2.xaxis.set_major_locator(FixedLocator([*ticks, x_never]))
        ax2.xaxis.set_major_formatter(FixedFormatter([str(t) for t in ticks]
                                                     + [f"none by\n{last}"]))
        fig.suptitle(_title(ds, "capexgap result"), fontweight="bold",
                     x=0.01, ha="left")
        notes = [("break-even year: the first year AI revenue covers that year's required "
                  "revenue (it may fall short again later)")]
        if held:
            notes.append("held at " + ", ".join(f"{_show(d)} = {_show(_num(v))}"
                                               for d, v in held.items()))
        _footer(fig, ds, notes)
    return fig


def breakeven_in_year(ds: xr.Dataset) -> np.ndarray:
    """The share of trials whose break-even year is each year of a multi-year point.

    From the exact counts ``breakeven_by_trials`` when present (else the differences of
    ``p_breakeven_by``): ``cumsum`` of the result is ``p_breakeven_by``, and its sum plus
    ``p_breakeven_never`` is 1.
    """
    if "breakeven_by_trials" in ds.variables and "trials" in ds.attrs:
        counts = ds["breakeven_by_trials"].transpose(..., "year").values.astype(np.int64)
        return np.diff(counts, axis=-1, prepend=0) / int(ds.attrs["trials"])
    by = ds["p_breakeven_by"].transpose(..., "year").values.astype(float)
    return np.diff(by, axis=-1, prepend=0.0)


def _cover_headline(ds: xr.Dataset, last: int, p: float, lo: float, hi: float) -> str:
    if "hits" in ds.variables and int(ds["hits"].transpose(..., "year").values[-1]) == 0:
        return f"No trial covered in {last}: P(cover) < {fmt.pct(hi)} (one-sided 95% bound)"
    return f"In {last}: {fmt.pct(p)} (95% CI {fmt.p_interval(lo, hi)})"


def _breakeven_headline(ds: xr.Dataset, last: int, p_by_last: float) -> str:
    bq = ds["breakeven_year_quantile"]
    levels = np.asarray(bq["quantile"].values, dtype=float)

    def at(q: float) -> str | None:
        # only levels that were stored: a nearest one would be mislabelled
        k = np.flatnonzero(np.isclose(levels, q, rtol=0, atol=1e-9))
        if not k.size:
            return None
        v = float(bq.values[k[0]])
        return str(int(v)) if math.isfinite(v) else f"not by {last}"

    parts = [f"By {last}: {fmt.pct(p_by_last)}"]
    if (med := at(0.5)) is not None:
        parts.append(f"median year: {med}")
    if (a := at(0.05)) is not None and (b := at(0.95)) is not None:
        parts.append(f"90% interval: {a} to {b}")
    return "; ".join(parts)


def _year_ticks(years: np.ndarray, most: int = 12) -> list[int]:
    """At most `most` year ticks, evenly spaced, the last reported year always among them."""
    step = max(1, math.ceil(len(years) / most))
    return [int(y) for y in years[::-1][::step][::-1]]
