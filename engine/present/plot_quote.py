"""The picture of one quote: the gap's distribution above its CDF, zero and P(cover) marked;
and the gap's sketch re-binned into readable bins (:func:`rebin_gap`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from engine.base import fmt
from engine.present.plot_checks import _expect, _one_year, select_year
from engine.present.plot_common import (BLUE, GREY, ORANGE, VERMILLION, PlotError, _footer,
                                        _matplotlib, _num, _point, _style, _title)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


#: The gap's distribution is re-binned into about this many bins.
GAP_BINS = 100


@dataclass(frozen=True)
class GapHistogram:
    """The gap's sketch re-binned into readable bins.

    Bins are closed on the right, ``(edges[i], edges[i+1]]``, so trials with gap <= 0 (revenue
    covers capex) fall left of a zero edge. Each fine sketch bin goes whole to the coarse bin
    holding its midpoint (clamped to the observed min/max), so a coarse bin's count is within
    one sketch bin (a relative 2**-10) of exact at each edge.

    Attributes
    ----------
    edges : ndarray
        Bin edges, $B per year; multiples of `width` (zero is an edge when in range).
    counts : ndarray of int64
        Trials per bin.
    below, above : int
        Trials left of ``edges[0]`` / right of ``edges[-1]`` (the far tails, not drawn).
    width : float
        Bin width, a round number.
    """

    edges: np.ndarray
    counts: np.ndarray
    below: int
    above: int
    width: float

    @property
    def total(self) -> int:
        """Trials with a finite gap: ``below + counts.sum() + above``."""
        return int(self.below + self.counts.sum() + self.above)

    def cdf(self) -> np.ndarray:
        """P(gap <= edges[i]) among the finite trials, one value per edge."""
        return (self.below + np.concatenate([[0], np.cumsum(self.counts)])) / self.total


def rebin_gap(ds: xr.Dataset, bins: int = GAP_BINS, *, tail: float = 1e-3,
              year: int | None = None) -> GapHistogram:
    """Re-bin the gap's fine sketch (``gap_hist``) into about `bins` bins of a round width.

    The range is the observed [min, max], or the central ``[tail, 1 - tail]`` quantile range
    when the extremes would squash the picture (the trials beyond are counted in ``below`` and
    ``above``), widened to take in zero unless zero lies more than one range-width away.

    Parameters
    ----------
    ds : Dataset
        A single-point result (``p_cover`` scalar, or one value per year).
    bins : int
        Target number of bins (the width is rounded to 1, 2, 2.5 or 5 times a power of 10).
    tail : float
        Quantile level of each clipped tail.
    year : int, optional
        For a multi-year result, the year (default: the last; see :func:`select_year`).
    """
    if not (isinstance(bins, (int, np.integer)) and bins >= 1):
        raise ValueError(f"bins must be a whole number >= 1, got {bins!r}")
    ds = _point(select_year(_expect(ds, "quote", "rebin_gap"), year)[0])
    counts = np.asarray(ds["gap_hist"].values, dtype=np.int64)
    lower = np.asarray(ds["gap_bin_lower"].values, dtype=float)
    upper = np.asarray(ds["gap_bin_upper"].values, dtype=float)
    gmin, gmax = float(ds["gap_min"]), float(ds["gap_max"])
    n = int(counts.sum())
    if n == 0 or not (math.isfinite(gmin) and math.isfinite(gmax)):
        raise PlotError("the gap is not finite in any trial: there is no distribution to draw.")
    with np.errstate(invalid="ignore"):
        mid = np.where(np.isfinite(lower) & np.isfinite(upper), 0.5 * (lower + upper),
                       np.where(np.isfinite(lower), lower, upper))
    mid = np.clip(mid, gmin, gmax)

    cum = np.cumsum(counts)

    def quantile(q: float) -> float:
        return float(mid[min(np.searchsorted(cum, q * (n - 1), side="right"), len(mid) - 1)])

    q_lo, q_hi = quantile(tail), quantile(1 - tail)
    a, b = (gmin, gmax) if gmax - gmin <= 1.5 * (q_hi - q_lo) else (q_lo, q_hi)
    span = b - a
    if span == 0 or a - span <= 0 <= b + span:
        a, b = min(a, 0.0), max(b, 0.0)
    if a == b:  # every trial exactly 0
        a, b = -1.0, 1.0
    if gmin == gmax:  # one value: keep its spike off the frame
        pad = 0.05 * (b - a)
        a, b = (a - pad if a == gmin else a), (b + pad if b == gmax else b)
    # Not below a 2**-40 share of the larger end: edges are k * width with k well inside
    # float precision, so stepping k below always moves the edge (a range far from zero
    # and narrower than its values' rounding would otherwise never end the loops below).
    width = _nice_step(max((b - a) / bins, max(abs(a), abs(b)) * 2.0**-40))
    # Integer multiples of `width`: zero is an exact edge; edges[0] < a <= ... <= b <= edges[-1].
    k0, k1 = math.ceil(a / width) - 1, math.ceil(b / width)
    while k0 * width >= a:
        k0 -= 1
    while k1 * width < b:
        k1 += 1
    edges = width * np.arange(k0, k1 + 1, dtype=float)
    idx = np.searchsorted(edges, mid, side="left") - 1
    inside = (idx >= 0) & (idx < len(edges) - 1)
    coarse = np.zeros(len(edges) - 1, dtype=np.int64)
    np.add.at(coarse, idx[inside], counts[inside])
    return GapHistogram(edges=edges, counts=coarse, below=int(counts[idx < 0].sum()),
                        above=int(counts[idx >= len(edges) - 1].sum()), width=width)


def plot_gap(ds: xr.Dataset, *, bins: int = GAP_BINS, year: int | None = None) -> Figure:
    """The gap's distribution (share of trials per bin) above its CDF, zero and P(cover) marked.

    Parameters
    ----------
    ds : Dataset
        A quote (``p_cover`` scalar), e.g. from :func:`engine.simulate` or
        :func:`engine.open_result`; a sweep must be narrowed to one point first
        (``ds.sel(margin=0.5, useful_life=3)``). A multi-year point is drawn for one year.
    bins : int
        Target number of bins (see :func:`rebin_gap`).
    year : int, optional
        For a multi-year result, the year to draw (default: the last reported year); the
        title and a note under the figure say which.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes sharing x: the histogram (orange left of zero: revenue covers; blue: it falls
        short; lines at the median and the 90% interval) and the CDF (P(cover) marked at 0).
    """
    _matplotlib()
    ds, year_notes = _one_year(_expect(ds, "quote", "plot_gap"), year)
    ds = _point(ds)
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, PercentFormatter

    h = rebin_gap(ds, bins)
    # the gap's sketch counts the plain pass's trials (an importance-sampled quote's mc_trials)
    trials = int(ds.attrs.get("mc_trials", ds.attrs["trials"]))
    p = float(ds["p_cover"])
    q = ds["gap_quantile"]
    q05, q50, q95 = (float(q.sel(quantile=v, method="nearest")) for v in (0.05, 0.5, 0.95))
    share = h.counts / trials
    cdf = h.cdf()
    with _style():
        fig = Figure(figsize=(8, 6.4), layout="constrained")
        ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
        # Split the bars at zero: left of it revenue covers (gap <= 0).
        k = int(np.searchsorted(h.edges, 0.0, side="left"))
        k = min(max(k, 0), len(h.counts))
        if k > 0:
            ax.stairs(share[:k], h.edges[:k + 1], fill=True, color=ORANGE,
                      label="revenue covers (gap <= 0)" if share[:k].any() else None)
        if k < len(h.counts):
            ax.stairs(share[k:], h.edges[k:], fill=True, color=BLUE,
                      label="revenue falls short (gap > 0)" if share[k:].any() else None)
        ax.axvline(q50, color=GREY, lw=1.3, ls=":", label=f"median {fmt.usd(q50)}")
        for i, v in enumerate((q05, q95)):
            ax.axvline(v, color=GREY, lw=1, ls="--",
                       label=f"90% interval {fmt.usd(q05)} to {fmt.usd(q95)}" if i == 0 else None)
        zero_shown = h.edges[0] <= 0 <= h.edges[-1]
        for a in (ax, ax2):
            if zero_shown:
                a.axvline(0, color="black", lw=1.5, zorder=3,
                          label="zero: revenue = required" if a is ax else None)
            a.grid(axis="y", color="#dddddd", lw=0.6)
            a.set_axisbelow(True)
        if not zero_shown:
            side, x = ("left", 0.01) if h.edges[0] > 0 else ("right", 0.99)
            ax.text(x, 0.97, f"zero (revenue covers) is off the chart, to the {side}",
                    transform=ax.transAxes, ha="left" if side == "left" else "right",
                    va="top", color=VERMILLION, fontsize=8.5)
        ax.set_ylabel(f"share of trials per ${_num(h.width)}B bin")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylim(bottom=0)
        ax.legend(loc="best")
        ax.set_title(_headline(ds) + "\n" + f"Gap: median {fmt.usd(q50)}, 90% interval "
                     f"{fmt.usd(q05)} to {fmt.usd(q95)} per year", loc="left")

        # Logit scale: P(cover) is often a fraction of a percent, invisible on a linear axis.
        upper = float(ds["p_cover_ci95"].values[-1])
        floor = max(0.5 / trials, 1e-6)
        lo = max(floor, min(0.01, 0.3 * p if p > 0 else 0.01, 0.3 * max(cdf[0], floor)))
        ax2.plot(h.edges, cdf, color=BLUE, lw=1.8, label="P(gap <= x)")
        if zero_shown and int(ds["hits"]) > 0:
            ax2.plot([0], [p], "o", color=ORANGE, mec="black", ms=7, zorder=4,
                     label=f"P(cover) = P(gap <= 0) = {fmt.pct(p)}")
        elif zero_shown:
            ax2.plot([0], [lo], "v", color=ORANGE, mec="black", ms=7, zorder=4, clip_on=False,
                     label=f"no trial covered: P(cover) < {fmt.pct(upper)} (95% bound)")
        ax2.set_ylim(lo, 1 - lo)  # first: autoscaling a logit axis over 0 and 1 overflows
        ax2.set_yscale("logit", nonpositive="clip")
        ticks = [t for e in range(1, 7) for t in (10.0**-e, 1 - 10.0**-e)] + [0.1, 0.5, 0.9]
        ax2.yaxis.set_major_locator(FixedLocator(sorted(t for t in set(ticks)
                                                        if lo <= t <= 1 - lo)))
        ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt.pct_tick(v)))
        ax2.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax2.set_ylabel("P(gap <= x), logit scale")
        ax2.set_xlabel("gap = required annual revenue - AI revenue ($B per year)")
        ax2.xaxis.set_major_formatter(FuncFormatter(
            lambda v, _: (f"{v:,.0f}" if h.width >= 1 else f"{v:,.3g}").replace("-", "\u2212")))
        pad = 0.01 * (h.edges[-1] - h.edges[0])
        ax2.set_xlim(h.edges[0] - pad, h.edges[-1] + pad)
        ax2.legend(loc="best")
        fig.suptitle(_title(ds, "capexgap result"), fontweight="bold",
                     x=0.01, ha="left")
        notes = list(year_notes)
        if h.below or h.above:
            notes.append(f"{fmt.pct((h.below + h.above) / trials)} of trials lie beyond the "
                         "axis range (not drawn)")
        bad = int(ds["gap_nonfinite"])
        if bad:
            notes.append(f"{bad:,} trials with an infinite gap left out")
        _footer(fig, ds, notes)
    return fig


def _headline(ds: xr.Dataset) -> str:
    p = float(ds["p_cover"])
    hits = int(ds["hits"])
    n = int(ds.attrs["trials"])
    lo, hi = (float(v) for v in ds["p_cover_ci95"].values)
    if ds.attrs.get("method") == "importance":
        return (f"P(AI revenue covers capex) = {fmt.pct(p)}  (95% CI {fmt.p_interval(lo, hi)}; "
                "importance sampling)")
    if hits == 0:
        return (f"No trial covered: P(AI revenue covers capex) < {fmt.pct(hi)} (one-sided 95% "
                f"bound; 0 of {n:,} trials)")
    return (f"P(AI revenue covers capex) = {fmt.pct(p)}  (95% CI {fmt.p_interval(lo, hi)}; "
            f"{hits:,} of {n:,} trials)")


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10**k that is >= raw."""
    if not raw > 0:
        return 1.0
    e = math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        step = m * 10.0**e
        if step >= raw * (1 - 1e-12):
            return step
    return 10.0 ** (e + 1)  # pragma: no cover
