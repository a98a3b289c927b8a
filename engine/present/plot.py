"""Pictures of results: the gap's distribution, P(cover) over a sweep, the tornado, and a
multi-year run's P(cover) by year with its break-even year.

Layer: reads result Datasets (:mod:`engine.result`) and never runs the engine. matplotlib is
an optional extra (``pip install "capexgap[plot]"``), imported inside the functions, so
``import engine`` and every other command work without it; without it they raise
:class:`PlotError` (the CLI exits 2).

Figures are built with the object-oriented API (:class:`matplotlib.figure.Figure`), never
``pyplot``: no global state, no GUI backend, nothing to close. Colours are Okabe-Ito's
colour-blind-safe palette and the cividis colour map. Amounts are US$ billions per year.

Typical use::

    from engine.present.plot import plot_result, save_figure
    fig = plot_result(engine.open_result("run.nc"))   # picks the picture from the layout
    save_figure(fig, "gap.png")                       # 150 dpi PNG; .svg and .pdf by extension

Multi-year (vintage) results carry a ``year`` dimension. One point of them gets its own
picture (:func:`plot_vintage`); a multi-year sweep or tornado is drawn for one year (the last
reported year unless ``year=`` says otherwise, which is the year a multi-year tornado is ranked
by), with a note under the figure saying which (:func:`select_year`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

import numpy as np
import xarray as xr

from engine.base import fmt
from engine.base.errors import CapexgapError
from engine.base.safetext import escape

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Kind = Literal["quote", "sweep", "tornado", "vintage"]

#: Output formats, chosen by the file's extension.
FORMATS = ("png", "svg", "pdf")
#: Resolution of PNG output.
DPI = 150
#: The gap's distribution is re-binned into about this many bins.
GAP_BINS = 100
#: Contour levels of P(cover) on a two-input sweep map.
CONTOUR_LEVELS = (0.1, 0.5, 0.9)
_CONTOUR_STYLE = {0.1: "--", 0.5: "-", 0.9: ":"}
_CONTOUR_COLOR = {0.1: "white", 0.5: "white", 0.9: "black"}
#: Small multiples: at most this many panels along one swept input.
MAX_PANELS = 6

# Okabe & Ito (2008), "Color Universal Design": distinguishable with any colour vision.
BLUE, ORANGE, SKY, GREEN, VERMILLION, GREY = ("#0072B2", "#E69F00", "#56B4E9", "#009E73",
                                              "#D55E00", "#595959")
CMAP = "cividis"

_MONEY = "$B per year"
#: Units of the model's inputs, for axis labels (a coordinate's own ``units`` attribute wins).
INPUT_UNITS = {
    "gpu_spend": _MONEY,
    "energy_ratio": "$ per $1 of GPU",
    "margin": "share of revenue",
    "useful_life": "years",
    "cost_of_capital": "per year",
    "generation_years": "years",
    "perf_per_dollar_gain": "x per generation",
}

_SHORT_UNITS = {"gpu_spend": "$B/yr", "useful_life": "years", "generation_years": "years"}

_REQUIRED: dict[str, tuple[str, ...]] = {
    "quote": ("p_cover", "p_cover_ci95", "hits", "gap_hist", "gap_bin_lower", "gap_bin_upper",
              "gap_min", "gap_max", "gap_quantile", "gap_nonfinite"),
    "sweep": ("p_cover", "p_cover_ci95"),
    "tornado": ("p_cover", "baseline_p_cover"),
    "vintage": ("p_cover", "p_cover_ci95", "p_breakeven_by", "p_breakeven_never",
                "breakeven_year_quantile"),
}
_WHAT = {"quote": "the gap's distribution", "sweep": "P(cover) over the swept inputs",
         "tornado": "the tornado", "vintage": "P(cover) by year and the break-even year"}
_DRAW_WITH = {"quote": "plot_gap", "sweep": "plot_sweep", "tornado": "plot_tornado",
              "vintage": "plot_vintage"}
_MAKE_ONE = "Write one with `capexgap quote CONFIG --out FILE.nc`."


class PlotError(CapexgapError):
    """A result cannot be drawn, or the picture cannot be written (CLI: exit 2)."""


# ------------------------------------------------------------------------------ public API


def result_kind(ds: xr.Dataset) -> Kind:
    """Which picture `ds` gets, from the dimensions of its ``p_cover``.

    Leaving ``year`` aside: ``"tornado"`` when they include ``input`` and ``level``; else
    ``"quote"`` when ``p_cover`` is a scalar (or every dimension has length 1), or
    ``"vintage"`` when that one point has a ``year`` dimension (a multi-year quote); else
    ``"sweep"``. A sweep or tornado may have a ``year`` dimension too: its picture shows one
    year (see :func:`select_year`).

    Raises
    ------
    PlotError
        If `ds` has no ``p_cover`` (not a capexgap result).
    """
    if "p_cover" not in ds.variables:
        names = ", ".join(_show(n, 40) for n in sorted(map(str, ds.data_vars))[:8]) or "none"
        raise PlotError(f"not a capexgap result: it has no variable `p_cover` (its variables: "
                        f"{names}). {_MAKE_ONE}")
    dims = [d for d in ds["p_cover"].dims if d != "year"]
    if "input" in dims and "level" in dims:
        return "tornado"
    if all(ds.sizes[d] == 1 for d in dims):
        return "vintage" if _multi_year(ds) else "quote"
    return "sweep"


def check_result(ds: xr.Dataset, kind: Kind | None = None) -> Kind:
    """Check that `ds` holds what its picture needs; return its kind.

    Raises
    ------
    PlotError
        Naming the missing variables, or the wrong layout.
    """
    kind = result_kind(ds) if kind is None else kind
    missing = [v for v in _REQUIRED[kind] if v not in ds.variables]
    if kind == "quote" and "trials" not in ds.attrs:
        missing.append("attribute `trials`")
    if kind == "vintage" and "year" not in ds.coords:
        missing.append("coordinate `year`")
    if missing:
        raise PlotError(f"not a complete capexgap result: drawing {_WHAT[kind]} needs "
                        f"{', '.join(missing)}, which it lacks. {_MAKE_ONE}")
    if kind == "vintage":
        if "year" not in ds["p_breakeven_by"].dims:
            raise PlotError("p_breakeven_by must have the dimension `year`; got dimensions "
                            f"{_dims(ds['p_breakeven_by'])}.")
        _check_layout(ds, kind)
        return kind
    _check_layout(ds, kind)
    if _multi_year(ds):  # one year's picture: check the layout on one year
        ds = ds.isel(year=-1)
    if kind == "tornado":
        if ds["p_cover"].ndim != 2 or ds.sizes["level"] < 2:
            raise PlotError("a tornado needs p_cover with exactly the dimensions (input, level) "
                            f"and at least two levels; got {_dims(ds['p_cover'], True)}.")
        if ds["baseline_p_cover"].ndim != 0:
            raise PlotError("a tornado's baseline_p_cover must be a scalar; got dimensions "
                            f"{_dims(ds['baseline_p_cover'])}.")
    if kind == "quote" and _point(ds)["gap_hist"].dims != ("gap_bin",):
        raise PlotError(f"gap_hist has dimensions {_dims(ds['gap_hist'])}; expected (gap_bin,) "
                        "after the sweep dimensions are selected.")
    if kind == "quote":
        _check_trials(ds)
    return kind


#: Dimensions each variable has beyond those of ``p_cover`` (a sweep's, a multi-year
#: result's ``year``): what the pictures index by.
_EXTRA_DIMS: dict[str, tuple[str, ...]] = {
    "p_cover_ci95": ("bound",), "hits": (), "gap_hist": ("gap_bin",), "gap_min": (),
    "gap_max": (), "gap_quantile": ("quantile",), "gap_nonfinite": (),
}
#: The same for a multi-year point's break-even variables (``year`` comes and goes).
_VINTAGE_DIMS: dict[str, tuple[set[str], set[str]]] = {
    # name: (dimensions added to p_cover's, dimensions taken away)
    "p_cover_ci95": ({"bound"}, set()), "hits": (set(), set()),
    "p_breakeven_by": (set(), set()), "breakeven_by_trials": (set(), set()),
    "p_breakeven_by_ci95": ({"bound"}, set()), "p_breakeven_never": (set(), {"year"}),
    "p_breakeven_never_ci95": ({"bound"}, {"year"}),
    "breakeven_year_quantile": ({"quantile"}, {"year"}),
}


def _check_layout(ds: xr.Dataset, kind: Kind) -> None:
    """Every variable a picture reads has the dimensions it is indexed by (a crafted file
    must fail here, with a message, not inside the drawing)."""
    dims = tuple(ds["p_cover"].dims)
    bad: list[str] = []
    if kind == "vintage":
        for name, (add, drop) in _VINTAGE_DIMS.items():
            if name in ds.variables and set(ds[name].dims) != (set(dims) | add) - drop:
                bad.append(f"{name} {_dims(ds[name])}")
    else:
        for name, extra in _EXTRA_DIMS.items():
            if name in ds.variables and tuple(ds[name].dims) != dims + extra:
                bad.append(f"{name} {_dims(ds[name])}")
        for name in ("gap_bin_lower", "gap_bin_upper"):
            if name in ds.variables and ds[name].dims != ("gap_bin",):
                bad.append(f"{name} {_dims(ds[name])}")
    if kind == "tornado":
        multi = ("year",) if "year" in dims else ()
        if "baseline_p_cover" in ds.variables and ds["baseline_p_cover"].dims != multi:
            bad.append(f"baseline_p_cover {_dims(ds['baseline_p_cover'])}")
        if "pinned_value" in ds.variables and set(ds["pinned_value"].dims) != {"input", "level"}:
            bad.append(f"pinned_value {_dims(ds['pinned_value'])}")
        if "swing_gap_median" in ds.variables and \
                ds["swing_gap_median"].dims != ("input",) + multi:
            bad.append(f"swing_gap_median {_dims(ds['swing_gap_median'])}")
    if bad:
        raise PlotError(f"not a sound capexgap result: the dimensions of {'; '.join(bad)} do "
                        f"not match p_cover's {_dims(ds['p_cover'])}. {_MAKE_ONE}")


def _check_trials(ds: xr.Dataset) -> None:
    """The trials a quote's gap sketch counts: at least one, and no bin row over them."""
    trials = ds.attrs.get("mc_trials", ds.attrs.get("trials"))
    if not isinstance(trials, (int, np.integer)) or trials < 1:
        raise PlotError(f"attribute `{'mc_trials' if 'mc_trials' in ds.attrs else 'trials'}` "
                        f"must be a whole number >= 1 (got {_show(trials, 40)}): there is no "
                        f"distribution to draw. {_MAKE_ONE}")
    total = ds["gap_hist"].sum("gap_bin")
    if int(total.max()) > int(trials):
        raise PlotError(f"gap_hist counts {int(total.max()):,} trials, more than the "
                        f"{int(trials):,} of the run. {_MAKE_ONE}")


def _expect(ds: xr.Dataset, kind: Kind, func: str) -> xr.Dataset:
    """Check that `ds` is a complete result of `kind` for `func`; return it.

    A multi-year point (``"vintage"``) passes as a ``"quote"``: the caller draws one year.
    """
    got = result_kind(ds)
    if got != kind and not (kind == "quote" and got == "vintage"):
        dims = tuple(d for d in ds["p_cover"].dims if d != "year")
        hint = _DRAW_WITH[got]
        if kind == "quote" or (kind == "vintage" and got == "sweep"):
            pick = ", ".join(f"{_show(d)}=0" for d in dims)
            what = "one point" if kind == "quote" else "one multi-year point"
            raise PlotError(f"{func} draws {what}, but this result has sweep dimensions "
                            f"({', '.join(map(_show, dims))}). Select one point first, e.g. "
                            f"ds.isel({pick}), or draw it with {hint}.")
        raise PlotError(f"{func} draws {_WHAT[kind]}, but this result is a {got} (p_cover "
                        f"dimensions: {_dims(ds['p_cover']) if ds['p_cover'].dims else 'none'}"
                        f"); draw it with {hint}.")
    check_result(ds, "quote" if kind == "quote" else got)
    return ds


def plot_result(ds: xr.Dataset, *, year: int | None = None) -> Figure:
    """The picture that suits `ds`: :func:`plot_gap`, :func:`plot_sweep`,
    :func:`plot_tornado` or :func:`plot_vintage` (see :func:`result_kind`).

    Parameters
    ----------
    ds : Dataset
        A result.
    year : int, optional
        For a multi-year result: draw this year alone, as a one-year result (a multi-year
        point then gets the gap's distribution in that year). Left out, a multi-year point
        gets :func:`plot_vintage` and a multi-year sweep or tornado its last reported year.
    """
    kind = check_result(ds)
    if kind == "vintage" and year is None:
        return plot_vintage(ds)
    if kind in ("quote", "vintage"):
        return plot_gap(ds, year=year)
    if kind == "sweep":
        return plot_sweep(ds, year=year)
    return plot_tornado(ds, year=year)


def describe(ds: xr.Dataset, *, year: int | None = None) -> str:
    """One sentence on what :func:`plot_result` draws for `ds` (the CLI prints it)."""
    kind = check_result(ds)
    if kind == "vintage" and year is None:
        return ("P(cover) by year with its 95% interval, and the break-even year's "
                "distribution")
    one, shown = select_year(ds, year)
    if kind in ("quote", "vintage"):
        text = "the gap's distribution (share of trials per bin, and its CDF), P(cover) marked"
    elif kind == "tornado":
        text = (f"a tornado of P(cover) over {one.sizes['input']} inputs, each fixed at its "
                f"{fmt.ordinal(float(one['level'].min()))} and "
                f"{fmt.ordinal(float(one['level'].max()))} percentile")
    else:
        text = _sweep_layout(one).message
    return text if shown is None else f"{text}; in {shown}, {_year_span(ds, shown)}"


def select_year(ds: xr.Dataset, year: int | None = None) -> tuple[xr.Dataset, int | None]:
    """One year of a multi-year result, for a one-year picture; and that year.

    Parameters
    ----------
    ds : Dataset
        A result; with a ``year`` dimension on ``p_cover`` (a multi-year result) or without.
    year : int, optional
        The year to select; left out, the last reported year (the year a multi-year tornado
        is ranked by, and the year the JSON's one-year keys describe).

    Returns
    -------
    (Dataset, int or None)
        `ds` at that year (the ``year`` dimension gone) and the year; `ds` itself and None for
        a one-year result.

    Raises
    ------
    PlotError
        If `year` is not one of the result's years, or is given for a one-year result.
    """
    if not _multi_year(ds):
        if year is not None:
            raise PlotError(f"year {year}: this is a one-year result (p_cover has no `year` "
                            "dimension), so there is no year to select. Leave out --year (year=).")
        return ds, None
    years = [int(y) for y in ds["year"].values]
    if year is None:
        year = years[-1]
    elif year not in years:
        raise PlotError(f"year {year} is not one of the result's years; valid: "
                        f"{_year_list(years)}.")
    return ds.sel(year=year), int(year)


def _multi_year(ds: xr.Dataset) -> bool:
    return "year" in ds["p_cover"].dims


def _year_list(years: Sequence[int]) -> str:
    consecutive = list(years) == list(range(years[0], years[-1] + 1))
    if consecutive and len(years) > 2:
        return f"{years[0]} to {years[-1]}"
    return ", ".join(map(str, years))


def _year_span(ds: xr.Dataset, year: int) -> str:
    """Where `year` lies among a multi-year result's years, for notes."""
    years = [int(y) for y in ds["year"].values]
    last = " (the last)" if year == years[-1] else ""
    return f"one of the reported years {years[0]}-{years[-1]}{last}"


def _year_note(ds: xr.Dataset, year: int) -> str:
    """The note under a one-year picture of a multi-year result."""
    years = [int(y) for y in ds["year"].values]
    which = "the last" if year == years[-1] else "one"
    return (f"multi-year result: shown for {year}, {which} of the years {years[0]}-{years[-1]} "
            "(another: `capexgap plot --year`)")


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


def plot_sweep(ds: xr.Dataset, *, year: int | None = None) -> Figure:
    """P(cover) over the swept inputs (the dimensions of ``p_cover``).

    One swept input: a line with its 95% band (``p_cover_ci95``). Two: a heatmap (first
    dimension on y, second on x) with contour lines at 10%, 50% and 90%. More: small multiples
    of that heatmap, one panel per value of the third (and fourth) swept input, at most
    :data:`MAX_PANELS` per input (evenly spaced; further inputs held at their middle value);
    a note under the figure says what is shown. Dimensions of length 1 are held at their
    single value and named in the note.

    Parameters
    ----------
    ds : Dataset
        A sweep, e.g. from :func:`engine.sweep`.
    year : int, optional
        For a multi-year sweep (``p_cover`` on the swept inputs and ``year``), the year to
        draw (default: the last reported year); the title and a note under the figure say
        which.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _matplotlib()
    ds, notes = _one_year(_expect(ds, "sweep", "plot_sweep"), year)
    layout = _sweep_layout(ds)
    with _style():
        if len(layout.axes_dims) == 1:
            fig = _sweep_line(layout)
        else:
            fig = _sweep_maps(layout)
        _footer(fig, ds, notes + ([layout.message] if layout.note else []))
    return fig


def plot_tornado(ds: xr.Dataset, *, year: int | None = None) -> Figure:
    """Tornado: how far P(cover) moves when one input at a time is pinned at a low and a high
    quantile of its distribution, the others staying uncertain.

    Expected Dataset layout (the integrator adapts names at merge)::

        p_cover           (input, level)  float   P(cover) with `input` fixed at the quantile
                                                  `level` of its distribution
        baseline_p_cover  ()              float   P(cover) with every input uncertain
        pinned_value       (input, level)  float   optional: the input's value there
        coords: input (str, the input's name), level (float quantile levels, e.g. [0.1, 0.9];
                with more than two, the lowest and highest are drawn)
        attrs:  title, trials, seed (optional, shown)

    Bars start at the baseline and end at P(cover) with the input at its low (orange) and
    high (blue) level, so a bar spans from the low-level to the high-level value whenever the
    baseline lies between them. Inputs are sorted by swing, |p_high - p_low|, largest on top
    (by |swing_gap_median| when the tornado was ranked by the median gap: the table's order).

    A multi-year tornado (every P(cover) also on ``year``) is drawn for one year: `year`, by
    default the last reported year, the year it is ranked by; the title and a note under the
    figure say which, and the bars are sorted by that year's swing.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _matplotlib()
    ds, year_notes = _one_year(_expect(ds, "tornado", "plot_tornado"), year)
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    p = ds["p_cover"].transpose("input", "level")
    levels = np.asarray(ds["level"].values, dtype=float)
    i_lo, i_hi = int(np.argmin(levels)), int(np.argmax(levels))
    p_lo = p.isel(level=i_lo).values.astype(float)
    p_hi = p.isel(level=i_hi).values.astype(float)
    base = float(ds["baseline_p_cover"])
    names = [str(v) for v in ds["input"].values]
    shown = [_show(v, 80) for v in names]
    # Largest swing first: of P(cover), or of the median gap when the tornado was ranked by it
    # (engine.tornado(sort_by="gap_median")), so the bars come in the order of its table.
    by_gap = str(ds.attrs.get("tornado_sort", "")).startswith("by |swing_gap_median|")
    if by_gap and "swing_gap_median" in ds.variables:
        order = np.argsort(-np.abs(ds["swing_gap_median"].values.astype(float)), kind="stable")
    else:
        order = np.argsort(-np.abs(p_hi - p_lo), kind="stable")
        by_gap = False
    labels = []
    for j in order:
        label = shown[j]
        if "pinned_value" in ds.variables:
            v = ds["pinned_value"].transpose("input", "level").values
            unit = _SHORT_UNITS.get(names[j], "$B/yr" if names[j].startswith("revenue.")
                                    else "")
            label += (f"  ({_num(v[j, i_lo], 3)} to {_num(v[j, i_hi], 3)}"
                      f"{' ' + unit if unit else ''})")
        labels.append(label)
    n = len(names)
    y = np.arange(n)[::-1]  # first (largest swing) on top
    with _style():
        fig = Figure(figsize=(8, 1.8 + 0.3 * n), layout="constrained")
        ax = fig.add_subplot()
        lo_bars = ax.barh(y, p_lo[order] - base, left=base, height=0.62, color=ORANGE,
                          label=f"input at its {fmt.ordinal(levels[i_lo])} percentile")
        hi_bars = ax.barh(y, p_hi[order] - base, left=base, height=0.62, color=BLUE,
                          label=f"input at its {fmt.ordinal(levels[i_hi])} percentile")
        # Where both bars lie on one side of the baseline, draw the shorter one in front.
        for r_lo, r_hi in zip(lo_bars.patches, hi_bars.patches):
            front, back = sorted((r_lo, r_hi), key=lambda r: abs(r.get_width()))
            front.set_zorder(2.2)
            back.set_zorder(2.1)
        ax.axvline(base, color="black", lw=1.2, zorder=3,
                   label=f"baseline, every input uncertain: {fmt.pct(base)}")
        ax.set_yticks(y, labels)
        ax.set_ylim(-0.7, n - 0.3)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("P(AI revenue covers the annual cost of AI capex)")
        ax.grid(axis="x", color="#dddddd", lw=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0)
        ax.legend(loc="best")
        ax.set_title(f"One input at a time fixed at its {fmt.ordinal(levels[i_lo])} or "
                     f"{fmt.ordinal(levels[i_hi])}\npercentile, the others uncertain; bars start "
                     "at the baseline" + ("; ranked by the swing of the median gap"
                                          if by_gap else ""), loc="left")
        fig.suptitle(f"{_title(ds, 'capexgap')}: what moves P(cover)",
                     fontweight="bold", x=0.01, ha="left")
        _footer(fig, ds, year_notes)
    return fig


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


def save_figure(fig: Figure, path: str | Path, *, force: bool = False, dpi: int = DPI) -> Path:
    """Write `fig` to `path`: PNG (at `dpi`), SVG or PDF by the extension, atomically.

    The picture is drawn into memory, then written by :func:`engine.outfile.write_bytes`: a
    temporary file in the same folder, published only when complete, never over a file that
    appeared meanwhile (without `force`) nor over anything but a regular file.

    Raises
    ------
    PlotError
        If the extension is not one of :data:`FORMATS`, the file exists and `force` is
        False, it is not a regular file, or it cannot be written (folder missing or not
        writable, disk full, name too long).
    """
    import io

    from engine.io.outfile import serialise, write_bytes

    p = check_output(path, force)
    kind = p.suffix[1:].lower()
    meta = {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[kind]

    def draw() -> bytes:
        import matplotlib
        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "capexgap"}):  # stable SVG ids
            fig.savefig(buf, format=kind, dpi=dpi, metadata=meta,
                        **({"pil_kwargs": {"optimize": True}} if kind == "png" else {}))
        return buf.getvalue()

    return write_bytes(p, serialise(draw), force=force, option="-o", error=PlotError)


def check_output(path: str | Path, force: bool = False) -> Path:
    """Fail early, before any drawing (or run), if a picture cannot or must not be written to
    `path`, or matplotlib is missing (see :func:`engine.outfile.check_target`)."""
    from engine.io.outfile import check_target

    _matplotlib()
    p = Path(path)
    if p.suffix[1:].lower() not in FORMATS:
        raise PlotError(f"{p}: unknown picture format {p.suffix or '(no extension)'!r}; valid: "
                        f"{', '.join('.' + f for f in FORMATS)}. Name the file e.g. gap.png.")
    return check_target(p, force, option="-o", action="drawn", example="gap.png",
                        error=PlotError)


def open_for_plot(path: str | Path) -> xr.Dataset:
    """Open a result file and check that it can be drawn.

    The file is read by :func:`engine.resultfile.read_result` (a result file may come from
    anyone: only a regular file holding a capexgap result is read, every size bounded, before
    any data is loaded).

    Raises
    ------
    PlotError
        If the file is missing, not a regular file, not NetCDF, or not a (complete, sound)
        capexgap result; the message names the file, what is wrong and what to do.
    """
    from engine.io.resultfile import ResultFileError, read_result

    try:
        ds = read_result(path)
    except ResultFileError as exc:
        raise PlotError(str(exc)) from None
    try:
        check_result(ds)
    except PlotError as exc:
        raise type(exc)(f"{escape(str(path), None)}: {exc}") from None
    return ds


def plot_file(path: str | Path, out: str | Path, *, force: bool = False,
              year: int | None = None) -> str:
    """Draw the result file `path` into the picture file `out`; return a one-line report.

    `year` selects one year of a multi-year result (see :func:`plot_result`). The output path
    is checked before the input is read, and the year before anything is drawn; nothing is
    written on error.
    """
    _matplotlib()
    check_output(out, force)
    ds = open_for_plot(path)
    try:
        what = describe(ds, year=year)
    except PlotError as exc:
        raise PlotError(f"{escape(str(path), None)}: {exc}") from None
    written = save_figure(plot_result(ds, year=year), out, force=force)
    return f"wrote {written}: {what}"


# ------------------------------------------------------------------------------ sweeps


@dataclass(frozen=True)
class _SweepLayout:
    p: xr.DataArray                  # P(cover), dims = held (selected away) + axes + panels
    ci: xr.DataArray                 # its 95% interval, dim bound last
    axes_dims: tuple[str, ...]       # one (line) or two (y, x) dims drawn inside a panel
    panel_dims: tuple[str, ...]      # zero, one (columns) or two (rows, columns)
    held: dict[str, Any]             # dims held at one value
    message: str
    note: bool                       # whether the message adds to the picture
    title: str


def _sweep_layout(ds: xr.Dataset) -> _SweepLayout:
    p = ds["p_cover"]
    ci = ds["p_cover_ci95"]
    for d in p.dims:  # draw numeric coordinates in increasing order
        if d in ds.coords and np.issubdtype(ds[d].dtype, np.number):
            p, ci = p.sortby(d), ci.sortby(d)
    held: dict[str, Any] = {d: p[d].values[0] if d in p.coords else 0
                            for d in p.dims if p.sizes[d] == 1}
    active = [d for d in p.dims if p.sizes[d] > 1]
    p, ci = p.squeeze(list(held)), ci.squeeze(list(held))
    axes_dims, rest = tuple(active[:2]), active[2:]
    panel_dims = tuple(rest[:2])
    parts: list[str] = []
    note = bool(held) or bool(rest)
    thinned = []
    for d in panel_dims:
        if p.sizes[d] > MAX_PANELS:
            keep = np.unique(np.round(np.linspace(0, p.sizes[d] - 1, MAX_PANELS)).astype(int))
            p, ci = p.isel({d: keep}), ci.isel({d: keep})
            thinned.append(f"{len(keep)} of {ds.sizes[d]} values of {_show(d)}, evenly spaced")
    for d in rest[2:]:
        mid = p.sizes[d] // 2
        held[d] = p[d].values[mid] if d in p.coords else mid
        p, ci = p.isel({d: mid}), ci.isel({d: mid})
    if len(axes_dims) == 1:
        parts.append(f"P(cover) against {axes_dims[0]} with its 95% interval")
    else:
        parts.append(f"P(cover) over {axes_dims[0]} (y) x {axes_dims[1]} (x), contours at "
                     + "/".join(fmt.pct_tick(v) for v in CONTOUR_LEVELS))
    if panel_dims:
        n = len(active)
        parts.append(f"{n} swept inputs: one panel per value of "
                     + " and ".join(panel_dims))
    if thinned:
        parts.append("showing " + "; ".join(thinned))
    if held:
        parts.append("held at " + ", ".join(
            f"{_show(d)} = {_show(_num(v))}" + (" (its middle value)" if d in rest[2:] else "")
            for d, v in held.items()))
    return _SweepLayout(p=p, ci=ci, axes_dims=axes_dims, panel_dims=panel_dims, held=held,
                        message="; ".join(parts), note=note,
                        title=_title(ds, "capexgap sweep"))


def _sweep_line(layout: _SweepLayout) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    (d,) = layout.axes_dims
    p, ci = layout.p, layout.ci
    x, ticks = _positions(p, d)
    lo = ci.sel(bound="lower").values.astype(float)
    hi = ci.sel(bound="upper").values.astype(float)
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.add_subplot()
    ax.fill_between(x, lo, hi, color=SKY, alpha=0.45, lw=0, label="95% interval")
    ax.plot(x, p.values, "o-", color=BLUE, lw=1.8, ms=4.5, label="P(cover)")
    if ticks is not None:
        _categorical_ticks(ax.xaxis, ticks)
    ax.set_xlabel(_axis_label(p, d))
    ax.set_ylabel("P(AI revenue covers capex)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(bottom=0, top=max(float(np.nanmax(hi)) * 1.08, 1e-3))
    ax.grid(color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="best")
    ax.set_title(f"P(AI revenue covers the annual cost of AI capex) against {_show(d)}",
                 loc="left")
    fig.suptitle(layout.title, fontweight="bold", x=0.01, ha="left")
    return fig


def _sweep_maps(layout: _SweepLayout) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    p = layout.p
    ydim, xdim = layout.axes_dims
    pd_ = layout.panel_dims
    nrows = p.sizes[pd_[0]] if len(pd_) == 2 else 1
    ncols = p.sizes[pd_[-1]] if pd_ else 1
    if len(pd_) == 1 and ncols > 3:  # wrap one panel dimension: 2 x 2, or rows of three
        ncols = 2 if ncols == 4 else 3
        nrows = -(-p.sizes[pd_[0]] // ncols)
    single = not pd_
    w = 7.8 if single else min(3.2 * ncols + 1.3, 13)
    h = 5.6 if single else min(2.9 * nrows + 1.4, 12)
    fig = Figure(figsize=(w, h), layout="constrained")
    axs = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False))
    panels: list[tuple[dict[str, int], str]] = [({}, "")]
    if len(pd_) == 1:
        panels = [({pd_[0]: i}, _value_label(p, pd_[0], i)) for i in range(p.sizes[pd_[0]])]
    elif len(pd_) == 2:
        panels = [({pd_[0]: i, pd_[1]: j},
                   f"{_value_label(p, pd_[0], i)}, {_value_label(p, pd_[1], j)}")
                  for i in range(p.sizes[pd_[0]]) for j in range(p.sizes[pd_[1]])]
    flat = axs.ravel()
    mesh = None
    for k, (sel, title) in enumerate(panels):
        ax = flat[k]
        mesh = _heatmap(ax, p.isel(sel).transpose(ydim, xdim), ydim, xdim,
                        annotate=single and p.sizes[ydim] * p.sizes[xdim] <= 150)
        if title:
            ax.set_title(title, fontsize=9)
        if ax.get_subplotspec().is_last_row() or k >= len(panels) - ncols:
            ax.set_xlabel(_axis_label(p, xdim))
            ax.tick_params(labelbottom=True)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel(_axis_label(p, ydim))
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    cbar = fig.colorbar(mesh, ax=list(flat[:len(panels)]), format=PercentFormatter(1.0),
                        shrink=0.9 if single else 0.8)
    cbar.set_label("P(AI revenue covers capex); marks: the contour lines")
    for v in CONTOUR_LEVELS:
        cbar.ax.axhline(v, color=_CONTOUR_COLOR[v], ls=_CONTOUR_STYLE[v], lw=1.4)
    head = f"P(AI revenue covers capex) over {_show(ydim)} and {_show(xdim)}"
    if pd_:
        head += "\none panel per value of " + " and ".join(map(_show, pd_))
    fig.suptitle(f"{layout.title}\n{head}", fontweight="bold", x=0.01, ha="left")
    return fig


def _heatmap(ax: Axes, p: xr.DataArray, ydim: str, xdim: str, *, annotate: bool):
    """pcolormesh of `p` (y, x) over cell edges, contours at :data:`CONTOUR_LEVELS`."""
    x, xt = _positions(p, xdim)
    y, yt = _positions(p, ydim)
    z = np.asarray(p.values, dtype=float)
    mesh = ax.pcolormesh(_edges(x), _edges(y), z, cmap=CMAP, vmin=0.0, vmax=1.0,
                         shading="flat", rasterized=True)
    finite = z[np.isfinite(z)]
    levels = [v for v in CONTOUR_LEVELS if finite.size and finite.min() < v < finite.max()]
    if levels and len(x) > 1 and len(y) > 1:
        ax.contour(x, y, z, levels=levels, colors=[_CONTOUR_COLOR[v] for v in levels],
                   linestyles=[_CONTOUR_STYLE[v] for v in levels], linewidths=1.8)
    if annotate:
        for i in range(len(y)):
            for j in range(len(x)):
                v = z[i, j]
                if np.isfinite(v):
                    ax.text(x[j], y[i], fmt.pct_short(v), ha="center", va="center", fontsize=6.5,
                            color="white" if v < 0.55 else "black")
    if xt is not None:
        _categorical_ticks(ax.xaxis, xt)
    if yt is not None:
        _categorical_ticks(ax.yaxis, yt)
    return mesh


def _positions(p: xr.DataArray, dim: str) -> tuple[np.ndarray, list[str] | None]:
    """Numeric coordinate values, or 0..n-1 and the labels of a non-numeric coordinate."""
    if dim in p.coords and np.issubdtype(p[dim].dtype, np.number):
        return np.asarray(p[dim].values, dtype=float), None
    values = p[dim].values if dim in p.coords else np.arange(p.sizes[dim])
    return np.arange(p.sizes[dim], dtype=float), [_show(v, 40) for v in values]


def _edges(x: np.ndarray) -> np.ndarray:
    """Cell edges around centres `x` (half-way between neighbours)."""
    if len(x) == 1:
        half = 0.5 if x[0] == 0 else 0.05 * abs(x[0])
        return np.array([x[0] - half, x[0] + half])
    mid = 0.5 * (x[1:] + x[:-1])
    return np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]])


def _categorical_ticks(axis, labels: list[str]) -> None:
    from matplotlib.ticker import FixedFormatter, FixedLocator, MaxNLocator

    locs = MaxNLocator(nbins=10, integer=True).tick_values(0, len(labels) - 1)
    locs = [int(v) for v in locs if 0 <= v <= len(labels) - 1]
    axis.set_major_locator(FixedLocator(locs))
    axis.set_major_formatter(FixedFormatter([labels[i] for i in locs]))


def _value_label(p: xr.DataArray, dim: str, i: int) -> str:
    """``name = value units`` for panel titles."""
    value = p[dim].values[i] if dim in p.coords else i
    unit = _units(p, dim)
    return f"{_show(dim)} = {_show(_num(value))}" + (f" {unit}" if unit and unit != "1" and
                                        not unit.startswith("share") else "")


def _units(p: xr.DataArray, dim: str) -> str | None:
    attrs = p[dim].attrs if dim in p.coords else {}
    unit = attrs.get("units")
    return (_show(unit) if unit else None) or INPUT_UNITS.get(dim.removeprefix("inputs.")) or (
        _MONEY if dim.startswith("revenue.") else None)


def _axis_label(p: xr.DataArray, dim: str) -> str:
    attrs = p[dim].attrs if dim in p.coords else {}
    name = _show(attrs.get("long_name", dim), 120)
    units = _units(p, dim)
    return f"{name} ({units})" if units and units != "1" else name


# ------------------------------------------------------------------------------ helpers


def _show(text: Any, limit: int = 60) -> str:
    """Text from a result file (a name, a title) as it may be shown: control and format
    characters escaped, long text cut (:func:`engine.safetext.escape`)."""
    return escape(text, limit)


def _dims(var: xr.DataArray, sizes: bool = False) -> str:
    """A variable's dimensions (with their sizes), names escaped, for messages."""
    if sizes:
        return str({_show(d): int(n) for d, n in var.sizes.items()})
    return str(tuple(_show(d) for d in var.dims))


def _title(ds: xr.Dataset, default: str) -> str:
    """The result's title for a figure, escaped and cut (a one-year title was cut before its
    year was added; this limit keeps that whole)."""
    return escape(ds.attrs.get("title", default), 300)


def _point(ds: xr.Dataset) -> xr.Dataset:
    """A one-point result without its length-1 sweep dimensions (other dims untouched; a
    one-year multi-year result keeps its ``year``)."""
    return ds.squeeze(dim=[d for d in ds["p_cover"].dims if ds.sizes[d] == 1 and d != "year"])


def _one_year(ds: xr.Dataset, year: int | None) -> tuple[xr.Dataset, list[str]]:
    """:func:`select_year`, with the year added to the title and the note for the footer."""
    one, shown = select_year(ds, year)
    if shown is None:
        return ds, []
    title = f"{escape(ds.attrs.get('title', 'capexgap result'))} (year {shown})"
    return one.assign_attrs(title=title), [_year_note(ds, shown)]


def _matplotlib():
    """Import matplotlib or explain how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise PlotError("pictures need matplotlib, an optional extra: install it with "
                        "`pip install \"capexgap[plot]\"` (or `pip install matplotlib`)."
                        ) from None
    return matplotlib


def _style():
    """rcParams for every figure: plain text (a "$" is a dollar, not maths), quiet spines."""
    import matplotlib

    return matplotlib.rc_context({
        "text.parse_math": False,
        "font.size": 9.5,
        "axes.titlesize": 10,
        "axes.labelsize": 9.5,
        "legend.fontsize": 8.5,
        "legend.frameon": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.dpi": 100,
    })


def _footer(fig: Figure, ds: xr.Dataset, notes: Sequence[str]) -> None:
    """Provenance (and notes) in small grey type under the figure."""
    if not int(ds.attrs.get("completed", 1)) and "trials_requested" in ds.attrs:
        notes = [*notes, f"run stopped early: {int(ds.attrs['trials']):,} of "
                         f"{int(ds.attrs['trials_requested']):,} requested trials"]
    bits = []
    if ds.attrs.get("method") == "importance" and "mc_trials" in ds.attrs:
        bits.append(f"{int(ds.attrs['trials']):,} importance-sampling + "
                    f"{int(ds.attrs['mc_trials']):,} plain trials")
    elif "trials" in ds.attrs:
        bits.append(f"{int(ds.attrs['trials']):,} trials")
    if "seed" in ds.attrs:
        bits.append(f"seed {_show(ds.attrs['seed'], 30)}")
    src = ds.attrs.get("config_source")
    if src:
        bits.append(_show(Path(str(src).strip("<>")).name if "/" in str(src) else src, 80))
    ver = ds.attrs.get("capexgap_version")
    if ver:
        bits.append(f"capexgap {_show(ver, 40)}")
    text = "\n".join([*notes, "  |  ".join(bits)]) if bits else "\n".join(notes)
    if text:
        fig.supxlabel(text, fontsize=7.5, color=GREY, x=0.01, ha="left")


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


def _num(v: Any, digits: int = 4) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{x:,.{digits}g}" if abs(x) < 10**digits else f"{x:,.0f}"
