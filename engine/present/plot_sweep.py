"""The picture of a sweep: P(cover) over the swept inputs, a line with its 95% band for one
input, a heatmap with contours for two, small multiples of that heatmap for more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from engine.base import fmt
from engine.present.plot_checks import _expect, _one_year
from engine.present.plot_common import (BLUE, CMAP, SKY, _footer, _matplotlib, _num, _show,
                                        _style, _title)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


#: Contour levels of P(cover) on a two-input sweep map.
CONTOUR_LEVELS = (0.1, 0.5, 0.9)
_CONTOUR_STYLE = {0.1: "--", 0.5: "-", 0.9: ":"}
_CONTOUR_COLOR = {0.1: "white", 0.5: "white", 0.9: "black"}
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
