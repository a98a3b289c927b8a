"""What every picture shares: the error, the palette, the style, the footer, and text from a
result file made safe to show.

Layer: used by the picture modules (:mod:`engine.present.plot` and its ``plot_*`` modules).
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import xarray as xr

from engine.base.errors import CapexgapError
from engine.base.safetext import escape

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend


# Okabe & Ito (2008), "Color Universal Design": distinguishable with any colour vision.
BLUE, ORANGE, SKY, GREEN, VERMILLION, GREY = ("#0072B2", "#E69F00", "#56B4E9", "#009E73",
                                              "#D55E00", "#595959")
CMAP = "cividis"


class PlotError(CapexgapError):
    """A result cannot be drawn, or the picture cannot be written (CLI: exit 2)."""


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


def _legend_above(ax: Axes, title: str, *, ncols: int) -> Legend:
    """`ax`'s legend in a band of its own between the axes and their title (never over the
    data): one row of `ncols` entries (or more rows), from the figure's left edge, the title
    (left-aligned) raised above the band. Constrained layout makes room for both."""
    import matplotlib
    from matplotlib.font_manager import FontProperties
    from matplotlib.transforms import blended_transform_factory

    rc = matplotlib.rcParams
    handles, labels = ax.get_legend_handles_labels()
    rows = -(-len(handles) // ncols)
    fs = FontProperties(size=rc["legend.fontsize"]).get_size_in_points()
    legend = ax.legend(handles, labels, loc="lower left", ncols=ncols, bbox_to_anchor=(0, 1),
                       bbox_transform=blended_transform_factory(ax.figure.transFigure,
                                                                ax.transAxes),
                       borderaxespad=0.3, handlelength=1.6, columnspacing=1.6)
    # The band's height in points: the rows of text, their spacing, the legend's border pads.
    band = fs * (1.3 * rows + rc["legend.labelspacing"] * (rows - 1)
                 + 2 * rc["legend.borderpad"] + 0.3)
    ax.set_title(title, loc="left", pad=rc["axes.titlepad"] + band)
    return legend


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


def _num(v: Any, digits: int = 4) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{x:,.{digits}g}" if abs(x) < 10**digits else f"{x:,.0f}"
