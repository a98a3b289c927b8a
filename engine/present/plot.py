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

The pictures live in :mod:`engine.present.plot_quote` (the gap), :mod:`~engine.present.
plot_sweep`, :mod:`~engine.present.plot_tornado` and :mod:`~engine.present.plot_vintage`; what
a result must hold to be drawn in :mod:`~engine.present.plot_checks`; the palette, style and
error in :mod:`~engine.present.plot_common`. Every public name is importable from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import xarray as xr

from engine.base import fmt
from engine.base.safetext import escape
from engine.present.plot_checks import (Kind, _year_span, check_result, result_kind,
                                        select_year)
from engine.present.plot_common import (BLUE, CMAP, GREEN, GREY, ORANGE, SKY, VERMILLION,
                                        PlotError, _matplotlib)
from engine.present.plot_common import _num  # noqa: F401  (read here too)
from engine.present.plot_exceedance import plot_exceedance
from engine.present.plot_quote import GAP_BINS, GapHistogram, plot_gap, rebin_gap
from engine.present.plot_sensitivity import plot_sensitivity
from engine.present.plot_sweep import (CONTOUR_LEVELS, INPUT_UNITS, MAX_PANELS, _sweep_layout,
                                       plot_sweep)
from engine.present.plot_tornado import plot_tornado
from engine.present.plot_vintage import breakeven_in_year, plot_vintage

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "BLUE", "CMAP", "CONTOUR_LEVELS", "DPI", "FORMATS", "GAP_BINS", "GREEN", "GREY",
    "INPUT_UNITS", "MAX_PANELS", "ORANGE", "SKY", "VERMILLION", "GapHistogram", "Kind",
    "PlotError", "breakeven_in_year", "check_output", "check_result", "describe",
    "open_for_plot", "plot_file", "plot_gap", "plot_result", "plot_sweep", "plot_tornado",
    "plot_vintage", "plot_exceedance", "plot_sensitivity", "rebin_gap", "result_kind", "save_figure", "select_year",
]

#: Output formats, chosen by the file's extension.
FORMATS = ("png", "svg", "pdf")
#: Resolution of PNG output.
DPI = 150


# ------------------------------------------------------------------------------- public API


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
    if kind == "sensitivity":
        return plot_sensitivity(ds, year=year)
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
    if kind == "sensitivity":
        return ("first-order and total Sobol' indices (S1, ST) with their 95% intervals, "
                "per output")
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
              year: int | None = None, exceedance: bool = False, log: bool = False) -> str:
    """Draw the result file `path` into the picture file `out`; return a one-line report.

    `year` selects one year of a multi-year result (see :func:`plot_result`); `exceedance`
    draws a quote's P(gap > x) instead (:func:`plot_exceedance`, `log` for a log axis). The
    output path is checked before the input is read, and the year before anything is drawn;
    nothing is written on error.
    """
    _matplotlib()
    check_output(out, force)
    ds = open_for_plot(path)
    try:
        what = describe(ds, year=year)
        if exceedance:
            if result_kind(ds) != "quote":
                raise PlotError("--exceedance draws a quote's gap; this file is a "
                                f"{result_kind(ds)}")
            fig = plot_exceedance(ds, log=log, year=year)
            what = "P(gap > x), the gap's exceedance curve" + (" (log scale)" if log else "")
        elif log:
            raise PlotError("--log goes with --exceedance (the exceedance curve's axis)")
    except PlotError as exc:
        raise PlotError(f"{escape(str(path), None)}: {exc}") from None
    written = save_figure(fig if exceedance else plot_result(ds, year=year), out, force=force)
    return f"wrote {written}: {what}"
