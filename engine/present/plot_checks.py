"""What a result must hold to be drawn: its kind, its variables and their dimensions, and
the year of a multi-year result a one-year picture shows.

A result file may come from anyone: a crafted file fails here, with a message, not inside the
drawing (:class:`~engine.present.plot_common.PlotError`, exit code 2 in the CLI).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import xarray as xr

from engine.base.safetext import escape
from engine.present.plot_common import PlotError, _dims, _point, _show


Kind = Literal["quote", "sweep", "tornado", "vintage", "sensitivity"]

_REQUIRED: dict[str, tuple[str, ...]] = {
    "quote": ("p_cover", "p_cover_ci95", "hits", "gap_hist", "gap_bin_lower", "gap_bin_upper",
              "gap_min", "gap_max", "gap_quantile", "gap_nonfinite"),
    "sweep": ("p_cover", "p_cover_ci95"),
    "tornado": ("p_cover", "baseline_p_cover"),
    "vintage": ("p_cover", "p_cover_ci95", "p_breakeven_by", "p_breakeven_never",
                "breakeven_year_quantile"),
    "sensitivity": ("S1", "ST", "S1_ci95", "ST_ci95"),
}
_WHAT = {"quote": "the gap's distribution", "sweep": "P(cover) over the swept inputs",
         "tornado": "the tornado", "vintage": "P(cover) by year and the break-even year",
         "sensitivity": "the Sobol' indices"}
_DRAW_WITH = {"quote": "plot_gap", "sweep": "plot_sweep", "tornado": "plot_tornado",
              "vintage": "plot_vintage", "sensitivity": "plot_sensitivity"}
_MAKE_ONE = "Write one with `capexgap quote CONFIG --out FILE.nc`."


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
    if ds.attrs.get("analysis") == "sensitivity":  # no P(cover): Sobol' indices
        return "sensitivity"
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
    if kind == "sensitivity":
        return kind
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
    # a sensitivity result has no P(cover): its indices carry the years
    return "year" in ds["p_cover" if "p_cover" in ds.variables else "S1"].dims


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


def _one_year(ds: xr.Dataset, year: int | None) -> tuple[xr.Dataset, list[str]]:
    """:func:`select_year`, with the year added to the title and the note for the footer."""
    one, shown = select_year(ds, year)
    if shown is None:
        return ds, []
    title = f"{escape(ds.attrs.get('title', 'capexgap result'))} (year {shown})"
    return one.assign_attrs(title=title), [_year_note(ds, shown)]
