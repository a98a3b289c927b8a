"""The gap's exceedance curve: P(gap > x) against x, the chart risk people read first.

Drawn from a quote's ``gap_exceedance`` (:mod:`engine.analyses.exceedance`); with ``log``
the probability axis is logarithmic, so the tail (a one-in-a-thousand gap) stays readable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from engine.base import fmt
from engine.present.plot_checks import _expect, _one_year
from engine.present.plot_common import (BLUE, ORANGE, PlotError, _footer, _legend_above,
                                        _matplotlib, _point, _style, _title)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def plot_exceedance(ds: xr.Dataset, *, log: bool = False, year: int | None = None) -> Figure:
    """P(gap > x) against x, with zero (revenue covers) and the ``--gap-above`` points marked.

    Parameters
    ----------
    ds : Dataset
        A quote with ``gap_exceedance`` (every quote since it was added).
    log : bool
        A logarithmic probability axis (the points with P = 0 are left out).
    year : int, optional
        For a multi-year result, the year to draw (default: the last reported year).
    """
    _matplotlib()
    ds, year_notes = _one_year(_expect(ds, "quote", "plot_exceedance"), year)
    ds = _point(ds)
    if "gap_exceedance" not in ds:
        raise PlotError("this result has no gap_exceedance (it was written by an older "
                        "capexgap): quote it again to draw its exceedance curve.")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    x = np.asarray(ds["gap_threshold"].values, dtype=float)
    p = np.asarray(ds["gap_exceedance"].values, dtype=float)
    keep = p > 0 if log else np.ones_like(p, dtype=bool)
    if not keep.any():
        raise PlotError("no trial has a gap above any threshold: nothing to draw on a log axis.")
    with _style():
        fig = Figure(figsize=(8, 5), layout="constrained")
        ax = fig.subplots()
        ax.plot(x[keep], p[keep], color=BLUE, lw=1.8, label="P(gap > x)")
        if x[0] <= 0 <= x[-1]:
            ax.axvline(0, color="black", lw=1.3, label="zero: P(gap > 0) = 1 - P(cover)")
        if "p_gap_above" in ds:
            ax.plot(ds["gap_above"].values, ds["p_gap_above"].values, "o", color=ORANGE,
                    label="--gap-above")
            for xa, pa in zip(ds["gap_above"].values, ds["p_gap_above"].values):
                if not log or pa > 0:
                    ax.annotate(fmt.pct(float(pa)), (xa, pa), textcoords="offset points",
                                xytext=(6, 4), fontsize=8.5, color=ORANGE)
        if log:
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, 1.02)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt.pct_tick(v)))
        ax.set_xlabel("gap x ($B per year: required annual revenue - AI revenue)")
        ax.set_ylabel("P(gap > x)" + (" (log scale)" if log else ""))
        ax.grid(color="#dddddd", lw=0.6)
        ax.set_axisbelow(True)
        fig.suptitle(_title(ds, "capexgap result"), fontweight="bold", x=0.01, ha="left")
        n_items = len(ax.get_legend_handles_labels()[0])
        _legend_above(ax, "How likely is a gap above x?", ncols=n_items)
        _footer(fig, ds, [*year_notes, "x at the lower edge of its sketch bin (relative "
                                       "4.9e-4); trials with a non-finite gap count as not "
                                       "above"])
    return fig
