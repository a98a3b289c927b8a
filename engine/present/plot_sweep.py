"""The picture of a sweep: P(cover) over the swept inputs, a line with its 95% band for one
input, a heatmap with contours for two, small multiples of that heatmap for more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from engine.base import fmt
from engine.present.plot_checks import _expect, _one_year
from engine.present.plot_common import (BLUE, CMAP, SKY, _footer, _legend_above, _matplotlib,
                                        _num, _show, _style, _title)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


#: The round levels of P(cover) a sweep map may draw contours at: at most
#: :data:`MAX_CONTOURS` of them, those inside the map's range (see :func:`contour_levels`).
CONTOUR_LEVELS = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
#: The order in which :func:`contour_levels` takes them.
CONTOUR_PREFERENCE = (0.5, 0.1, 0.9, 0.25, 0.75, 0.01, 0.99, 0.05, 0.95)
MAX_CONTOURS = 3
_CONTOUR_STYLES = {1: ("-",), 2: ("--", "-"), 3: ("--", "-", ":")}  # lowest level first
#: A colour scale spans at least this much P(cover) (1 percentage point).
MIN_COLOR_SPAN = 0.01
#: The limits of a colour scale are multiples of a round step that cuts it into at most this
#: many steps (:func:`color_limits`).
MAX_COLOR_STEPS = 20
_ROUND_STEPS = (1.0, 2.0, 2.5, 5.0)
#: Small multiples: at most this many panels along one swept input.
MAX_PANELS = 6

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


def plot_sweep(ds: xr.Dataset, *, year: int | None = None) -> Figure:
    """P(cover) over the swept inputs (the dimensions of ``p_cover``).

    One swept input: a line with its 95% band (``p_cover_ci95``). Two: a heatmap (first
    dimension on y, second on x), one cell per pair of swept values, ticks at the cells'
    centres labelled with the values, its colour scale fitted to the data
    (:func:`color_limits`), contour lines at round levels inside the data's range
    (:func:`contour_levels`). More: small multiples
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
        levels = contour_levels(p.values)
        parts.append(f"P(cover) over {axes_dims[0]} (y) x {axes_dims[1]} (x)" + (
            ", contours at " + "/".join(fmt.pct_tick(v) for v in levels) if levels else ""))
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


def color_limits(values: Any) -> tuple[float, float]:
    """The colour scale of a sweep map: the data's range of P(cover), rounded outwards.

    The finite values' minimum and maximum are rounded down and up to a multiple of a round
    step (1, 2, 2.5 or 5 times a power of ten), the smallest step that cuts the range into at
    most :data:`MAX_COLOR_STEPS` (20) steps, so each limit moves by less than a tenth of the
    range. A range under :data:`MIN_COLOR_SPAN` (1 percentage point) is first widened to
    that around its middle; limits stay within 0..1. No finite value: 0..1. The colour bar
    has round ticks inside the limits.
    """
    z = np.asarray(values, dtype=float)
    z = z[np.isfinite(z)]
    if not z.size:
        return 0.0, 1.0
    lo, hi = float(np.clip(z.min(), 0, 1)), float(np.clip(z.max(), 0, 1))
    if hi - lo < MIN_COLOR_SPAN:
        mid = min(max(0.5 * (lo + hi), MIN_COLOR_SPAN / 2), 1 - MIN_COLOR_SPAN / 2)
        lo, hi = mid - MIN_COLOR_SPAN / 2, mid + MIN_COLOR_SPAN / 2
    span = hi - lo
    exp = math.floor(math.log10(span / MAX_COLOR_STEPS))
    step = next(m * 10.0**e for e in (exp, exp + 1) for m in _ROUND_STEPS
                if span / (m * 10.0**e) <= MAX_COLOR_STEPS + 1e-9)
    vmin = round(math.floor(lo / step + 1e-9) * step, 12)
    vmax = round(math.ceil(hi / step - 1e-9) * step, 12)
    return max(vmin, 0.0), min(vmax, 1.0)


def contour_levels(values: Any, *, among: Any = CONTOUR_PREFERENCE) -> tuple[float, ...]:
    """The contour levels of a sweep map: at most :data:`MAX_CONTOURS` of the round levels
    :data:`CONTOUR_LEVELS` that lie inside the data's range less 5% of it at either end (so
    that no contour is a speck in a corner), taken in the order of
    :data:`CONTOUR_PREFERENCE` (50%, then 10% and 90%, 25% and 75%, 1% and 99%, 5% and 95%),
    returned in increasing order. A map of values from 0 to 15% gets 1%, 5% and 10%. A panel
    of small multiples draws those of the figure's levels that pass the same test on its own
    values (`among`)."""
    z = np.asarray(values, dtype=float)
    z = z[np.isfinite(z)]
    if not z.size:
        return ()
    lo, hi = float(z.min()), float(z.max())
    trim = 0.05 * (hi - lo)
    inside = [v for v in among if lo + trim < v < hi - trim]
    return tuple(sorted(inside[:MAX_CONTOURS]))


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
    else:
        _swept_value_ticks(ax.xaxis, x, width_in=6.4)
    ax.set_xlabel(_axis_label(p, d))
    ax.set_ylabel("P(AI revenue covers capex)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(bottom=0, top=max(float(np.nanmax(hi)) * 1.08, 1e-3))
    ax.grid(color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    _legend_above(ax, f"P(AI revenue covers the annual cost of AI capex) against {_show(d)}",
                  ncols=2)
    fig.suptitle(layout.title, fontweight="bold", x=0.01, ha="left")
    return fig


def _sweep_maps(layout: _SweepLayout) -> Figure:
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

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
    # About the size of one panel's axes (inches), to fit its tick labels.
    size = (5.2, 4.0) if single else ((w - 1.6) / ncols - 0.6, (h - 1.6) / nrows - 0.6)
    fig = Figure(figsize=(w, h), layout="constrained")
    axs = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False))
    panels: list[tuple[dict[str, int], str]] = [({}, "")]
    if len(pd_) == 1:
        panels = [({pd_[0]: i}, _value_label(p, pd_[0], i)) for i in range(p.sizes[pd_[0]])]
    elif len(pd_) == 2:
        panels = [({pd_[0]: i, pd_[1]: j},
                   f"{_value_label(p, pd_[0], i)}, {_value_label(p, pd_[1], j)}")
                  for i in range(p.sizes[pd_[0]]) for j in range(p.sizes[pd_[1]])]
    norm = Normalize(*color_limits(p.values))  # one scale for every panel
    levels = contour_levels(p.values)
    flat = axs.ravel()
    mesh = None
    for k, (sel, title) in enumerate(panels):
        ax = flat[k]
        mesh = _heatmap(ax, p.isel(sel).transpose(ydim, xdim), ydim, xdim, norm=norm,
                        levels=levels, size=size, annotate=single)
        if title:
            ax.set_title(title, fontsize=9)
        if ax.get_subplotspec().is_last_row() or k >= len(panels) - ncols:
            ax.set_xlabel(_axis_label(p, xdim))
            ax.tick_params(labelbottom=True)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel(_axis_label(p, ydim))
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    cbar = fig.colorbar(mesh, ax=list(flat[:len(panels)]),
                        ticks=MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]),
                        format=FuncFormatter(lambda v, _: fmt.pct_tick(v)),
                        shrink=0.9 if single else 0.8)
    cbar.set_label("P(AI revenue covers capex)" + (
        "\nlines: contours at " + ", ".join(fmt.pct_tick(v) for v in levels) if levels
        else ""))
    for v, style in zip(levels, _CONTOUR_STYLES.get(len(levels), ())):
        cbar.ax.axhline(v, color=_ink(norm, v), ls=style, lw=1.4)
    head = f"P(AI revenue covers capex) over {_show(ydim)} and {_show(xdim)}"
    if pd_:
        head += "\none panel per value of " + " and ".join(map(_show, pd_))
    fig.suptitle(f"{layout.title}\n{head}", fontweight="bold", x=0.01, ha="left")
    return fig


def _heatmap(ax: Axes, p: xr.DataArray, ydim: str, xdim: str, *, norm, levels, size,
             annotate: bool):
    """pcolormesh of `p` (y, x): one cell of equal size per pair of swept values, centred
    on 0..n-1, ticked at its centre with the swept value; contours at `levels` where the
    panel's values cross them; with `annotate`, each cell's value written in it where the
    cells (about `size` inches together) are large enough for it."""
    z = np.asarray(p.values, dtype=float)
    ny, nx = z.shape
    annotate = annotate and size[0] * 72 / nx >= 26 and size[1] * 72 / ny >= 11
    mesh = ax.pcolormesh(np.arange(nx + 1) - 0.5, np.arange(ny + 1) - 0.5, z, cmap=CMAP,
                         norm=norm, shading="flat", rasterized=True)
    finite = z[np.isfinite(z)]
    styles = dict(zip(levels, _CONTOUR_STYLES.get(len(levels), ())))
    drawn = [v for v in levels if v in contour_levels(finite, among=levels)]
    if drawn and nx > 1 and ny > 1:
        lines = ax.contour(np.arange(nx), np.arange(ny), np.ma.masked_invalid(z),
                           levels=drawn, colors=[_ink(norm, v) for v in drawn],
                           linestyles=[styles[v] for v in drawn], linewidths=1.6)
        if not annotate:  # annotated cells carry the values; else the lines say theirs
            ax.clabel(lines, fmt=fmt.pct_tick, fontsize=7)
    if annotate:
        from matplotlib import colormaps
        from matplotlib.patheffects import withStroke

        cmap = colormaps[CMAP]
        for i in range(ny):
            for j in range(nx):
                v = z[i, j]
                if np.isfinite(v):  # a halo of the cell's colour keeps contours off the text
                    ax.text(j, i, fmt.pct_short(v), ha="center", va="center", fontsize=7,
                            color=_ink(norm, v), zorder=3, path_effects=[
                                withStroke(linewidth=2.5, foreground=cmap(norm(v)))])
    xl, yl = _cell_labels(p, xdim), _cell_labels(p, ydim)
    chars = max(len(t) for t in xl)
    _cell_ticks(ax.xaxis, xl, int(size[0] * 72 // (5.8 * chars + 10)))
    _cell_ticks(ax.yaxis, yl, int(size[1] * 72 // 16))
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    return mesh


def _ink(norm, v: float) -> str:
    """Text or line colour that reads on the colour map at `v`: white on its dark half."""
    return "white" if float(norm(v)) < 0.55 else "black"


def _cell_labels(p: xr.DataArray, dim: str) -> list[str]:
    """The swept values along `dim`, as tick labels."""
    if dim not in p.coords:
        return [str(i) for i in range(p.sizes[dim])]
    if np.issubdtype(p[dim].dtype, np.number):
        return [_num(v) for v in p[dim].values]
    return [_show(v, 40) for v in p[dim].values]


def _cell_ticks(axis, labels: list[str], most: int) -> None:
    """Ticks at cell centres 0..n-1 labelled `labels`: every one, or every k-th (and a minor
    tick at each centre) so that at most `most` labels are shown."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    n = len(labels)
    every = max(1, math.ceil(n / max(most, 1)))
    locs = list(range(0, n, every))
    axis.set_major_locator(FixedLocator(locs))
    axis.set_major_formatter(FixedFormatter([labels[i] for i in locs]))
    axis.set_minor_locator(FixedLocator(range(n)) if every > 1 else NullLocator())


def _swept_value_ticks(axis, x: np.ndarray, *, width_in: float) -> None:
    """Ticks at the swept values `x` (labelled with them) when their labels fit apart on an
    axis about `width_in` inches long; else matplotlib's own ticks."""
    from matplotlib.ticker import FixedFormatter, FixedLocator

    labels = [_num(v) for v in x]
    span = float(np.ptp(x)) * 1.1
    if len(x) < 2 or len(x) > 15 or span <= 0:
        return
    gap_pt = float(np.min(np.diff(np.sort(x)))) / span * width_in * 72
    if gap_pt < 5.8 * max(map(len, labels)) + 8:
        return
    axis.set_major_locator(FixedLocator(x))
    axis.set_major_formatter(FixedFormatter(labels))


def _positions(p: xr.DataArray, dim: str) -> tuple[np.ndarray, list[str] | None]:
    """Numeric coordinate values, or 0..n-1 and the labels of a non-numeric coordinate."""
    if dim in p.coords and np.issubdtype(p[dim].dtype, np.number):
        return np.asarray(p[dim].values, dtype=float), None
    values = p[dim].values if dim in p.coords else np.arange(p.sizes[dim])
    return np.arange(p.sizes[dim], dtype=float), [_show(v, 40) for v in values]


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
