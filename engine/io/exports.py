"""``--out`` by suffix: the full result as NetCDF, a tidy summary table as CSV or Parquet, or
the ``--json`` object as a file.

=========== ==================================================================================
``.nc``     the full result Dataset, NetCDF-4 (:func:`engine.io.results.write_netcdf`)
``.csv``    the tidy summary table (:func:`summary_rows`), standard library only
``.parquet`` the same table, typed (needs the ``parquet`` extra: pandas and pyarrow)
``.json``   the object ``--json`` prints (:func:`json_text`)
=========== ==================================================================================

The tidy table has one row per output x statistic x point (sweep point or tornado pin) x year
x quantile, and the columns (docs/cli.md, "Exports"):

``output, statistic, quantile, <point columns...>, [year,] value, units``

* ``output``: a model output (``gap``, ``capex``, ``cum_gap``, ``breakeven_year``...), whose
  ``statistic`` is one of :data:`OUTPUT_STATS` (the NetCDF variable ``<output>_<statistic>``);
  or a group: ``cover`` (``p_cover``, ``p_cover_ci95_lo``/``_hi``, ``hits``, ``trials``, the
  estimator's precision and importance-sampling diagnostics), ``breakeven`` (the vintage
  model's ``p_breakeven_by``, ``p_breakeven_never``... ) or ``tornado`` (``pinned_value``,
  ``swing_p_cover``, ``swing_gap_median``), whose ``statistic`` is the NetCDF variable's name.
  A ``<name>_ci95`` interval gives two statistics, ``<name>_ci95_lo`` and ``<name>_ci95_hi``.
* ``quantile``: the level of a ``quantile`` row, empty otherwise.
* point columns: a sweep's swept keys in file order (a pair sweep, ``gpu_spend.ci90 =
  [[..], [..]]``, gives the pair's index and ``<key>_lo``, ``<key>_hi``); a tornado's
  ``input`` and ``level`` (both empty on the baseline's rows, ``level`` empty on the swings);
  none for a quote.
* ``year``: only for a multi-year (vintage) result; empty on rows that are not by year.
* ``value``: the number; in CSV written with :func:`repr` (the shortest text that reads back
  to the same float64; ``nan``, ``inf``), counts as integers.

Left out (they are in the ``.nc`` file): the gap's histogram (sketch) and its exceedance
curve (``gap_exceedance``, ``p_gap_above``: over a threshold dimension the table has no
column for), the importance shift and design point, the correlation matrices, and the run's
attributes (seed, notes...).

Dependency rule: :mod:`engine.io` and the layers below; pandas and pyarrow only for Parquet,
imported when writing one.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from engine.base.errors import OutputError
from engine.io.outfile import show

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: The suffixes ``--out`` takes, and what each writes.
FORMATS = {
    ".nc": "the full result Dataset as NetCDF",
    ".csv": "a tidy summary table",
    ".parquet": "the same table, typed; needs pandas and pyarrow",
    ".json": "the --json object",
}
#: Statistics of a model output (its NetCDF variable is ``<output>_<statistic>``).
OUTPUT_STATS = ("mean", "std", "min", "max", "quantile", "nonfinite", "beyond_sketch",
                "near_zero")
#: Where the group rows go in the table: P(cover) first, the per-output statistics after.
_GROUP_ORDER = {"cover": 0, "breakeven": 1, "output": 2, "tornado": 3}
_FIXED = ("output", "statistic", "quantile", "year", "value", "units")
_BOUND = {"lower": "lo", "upper": "hi"}
PARQUET_EXTRA = 'pip install "capexgap[parquet]"'


def export_format(path: str | os.PathLike[str]) -> str:
    """The format ``--out`` `path` asks for: its suffix, lower case (one of :data:`FORMATS`).

    Raises
    ------
    OutputError
        The suffix is not one of :data:`FORMATS` (checked before any work).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in FORMATS:
        choices = ", ".join(f"{s} ({what})" for s, what in FORMATS.items())
        got = f"an unknown suffix {p.suffix!r}" if p.suffix else "no suffix"
        if p.is_dir():  # a folder: suggest a file inside it
            got, example = "no suffix (it is a folder)", p / "result.csv"
        else:
            example = (p.with_suffix(".csv") if p.name and not p.name.startswith(".")
                       else p.parent / "result.csv")
        raise OutputError(f"{show(p)}: --out has {got}; nothing was run. The suffix chooses "
                          f"the format, one of: {choices}. Name the file e.g. "
                          f"{show(example)}.")
    return suffix


def check_export(path: str | os.PathLike[str], force: bool) -> Path:
    """Fail early, before any work, if ``--out`` `path` cannot or must not be written: an
    unknown suffix, Parquet without pandas/pyarrow, or any check of
    :func:`engine.io.results.check_writable` (exists without `force`, not a regular file,
    folder missing or not writable)."""
    from engine.io.results import check_writable

    if export_format(path) == ".parquet":
        _parquet_libraries(path, early=True)
    return check_writable(path, force)


def write_export(ds: xr.Dataset, path: str | os.PathLike[str], *, force: bool,
                 groups: int | None = None) -> Path:
    """Write `ds` to `path` in the format its suffix names, atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        A quote's, a sweep's or a tornado's result.
    path : path-like
    force : bool
        Replace an existing regular file (:func:`engine.io.outfile.write_bytes`).
    groups : int, optional
        A sweep's or tornado's number of passes (``"passes"`` in the JSON object).

    Raises
    ------
    OutputError
        Unknown suffix, missing Parquet libraries, or the file could not be written; nothing
        is left behind.
    """
    from engine.io.outfile import serialise, write_bytes
    from engine.io.results import write_netcdf

    kind = export_format(path)
    if kind == ".nc":
        return write_netcdf(ds, path, force=force)
    if kind == ".json":
        data = (json_text(ds, groups=groups) + "\n").encode("utf-8")
    elif kind == ".csv":
        data = csv_bytes(ds)
    else:
        _parquet_libraries(path, early=False)
        data = serialise(lambda: parquet_bytes(ds))  # pyarrow's C++ never sees a signal
    return write_bytes(path, data, force=force)


def json_text(ds: xr.Dataset, *, groups: int | None = None) -> str:
    """The one line ``--json`` prints for `ds` (a quote's, sweep's or tornado's), with the
    run's ``--set`` values (the attribute ``overrides``) as its ``"overrides"`` list."""
    from engine.io.results import summary
    from engine.io.sweep_summary import sweep_summary, tornado_summary

    analysis = ds.attrs.get("analysis")
    if analysis == "sweep":
        obj = sweep_summary(ds, groups=groups)
    elif analysis == "tornado":
        obj = tornado_summary(ds, groups=groups)
    else:
        obj = summary(ds)
    if ds.attrs.get("overrides"):
        obj["overrides"] = json.loads(ds.attrs["overrides"])
    return json.dumps(obj, allow_nan=False)


@dataclass(frozen=True)
class Column:
    """One column of the summary table: its name and its pandas dtype (Parquet's type)."""

    name: str
    dtype: str  # "string", "Int64", "Float64" (nullable), "float64" (value: NaN is a value)


def summary_rows(ds: xr.Dataset) -> tuple[list[Column], list[tuple[Any, ...]]]:
    """The tidy summary table of `ds` (module docstring): its columns and rows.

    A cell is a ``str``, ``int``, ``float`` or ``None`` (empty: not applicable).
    """
    points = _point_columns(ds)
    by_year = "year" in ds.dims
    columns = [Column("output", "string"), Column("statistic", "string"),
               Column("quantile", "Float64"), *(c for c, _ in points)]
    if by_year:
        columns.append(Column("year", "Int64"))
    columns += [Column("value", "float64"), Column("units", "string")]
    clash = sorted({c.name for c, _ in points} & set(_FIXED))
    if clash:  # swept keys are model inputs or dotted paths: never one of these
        raise OutputError(f"swept key(s) {clash} clash with the table's own columns; "
                          "write --out as .nc instead.")
    years = ds["year"].values if by_year else None
    levels = ds["quantile"].values if "quantile" in ds.coords else None
    ends = [_BOUND[str(b)] for b in ds["bound"].values] if "bound" in ds.coords else None
    rows: list[tuple[Any, ...]] = []
    for name, da, output, statistic in _variables(ds):
        units = str(da.attrs.get("units", ""))
        unit_of_input = (ds["input_units"].values if units == "see input_units"
                         and "input_units" in ds.coords else None)
        values = da.values
        for idx in np.ndindex(values.shape):
            at = dict(zip(da.dims, idx))
            stat = f"{statistic}_{ends[at['bound']]}" if "bound" in at else statistic
            q = float(levels[at["quantile"]]) if "quantile" in at else None
            row: list[Any] = [output, stat, q]
            for _, cell in points:
                row.append(cell(at))
            if by_year:
                row.append(int(years[at["year"]]) if "year" in at else None)
            v = values[idx]
            row.append(int(v) if values.dtype.kind in "iub" else float(v))
            row.append(str(unit_of_input[at["input"]]) if unit_of_input is not None
                       and "input" in at else units)
            rows.append(tuple(row))
    return columns, rows


def csv_bytes(ds: xr.Dataset) -> bytes:
    """The summary table as CSV (UTF-8, a header line, ``\\n`` line ends); floats written
    with :func:`repr` so that they read back exactly, empty cells where not applicable."""
    columns, rows = summary_rows(ds)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.name for c in columns])
    # Every string cell is a fixed name, a unit or "revenue.<company>": none can start a
    # spreadsheet formula.
    w.writerows([_cell(v) for v in row] for row in rows)
    return buf.getvalue().encode("utf-8")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)  # shortest round-trip text; "nan", "inf", "-inf"
    return str(v)


def summary_table(ds: xr.Dataset) -> pd.DataFrame:
    """The summary table as a typed :class:`pandas.DataFrame` (needs pandas).

    Columns as :func:`summary_rows`, with nullable dtypes where a cell may be empty
    (``string``, ``Int64``, ``Float64``); ``value`` is ``float64`` (counts are exact below
    2**53, far above any trial count).
    """
    import pandas as pd

    columns, rows = summary_rows(ds)
    data = list(zip(*rows)) if rows else [()] * len(columns)
    return pd.DataFrame({c.name: pd.Series(list(col), dtype="object").astype(c.dtype)
                         for c, col in zip(columns, data)})


def parquet_bytes(ds: xr.Dataset) -> bytes:
    """The summary table as a Parquet file in memory (pyarrow)."""
    buf = io.BytesIO()
    summary_table(ds).to_parquet(buf, engine="pyarrow", index=False)
    return buf.getvalue()


def _parquet_libraries(path: str | os.PathLike[str], *, early: bool) -> None:
    """Raise OutputError naming the ``parquet`` extra unless pandas and pyarrow are there:
    found (`early`, before the run: nothing imported yet) or imported (when writing)."""
    missing = [m for m in ("pandas", "pyarrow") if not _found(m)]
    if not missing and not early:
        try:
            import pandas  # noqa: F401
            import pyarrow  # noqa: F401
        except ImportError as exc:  # installed but broken
            missing = [exc.name or str(exc)]
    if missing:
        raise OutputError(f"{show(path)}: writing .parquet needs {' and '.join(missing)}, "
                          f"which {'is' if len(missing) == 1 else 'are'} not installed; "
                          f"nothing was {'run' if early else 'written'}. Install the extra: "
                          f"{PARQUET_EXTRA} (or write --out as .csv, which needs nothing "
                          "more).")


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked (None in sys.modules)
        return False


def _point_columns(ds: xr.Dataset) -> list[tuple[Column, Any]]:
    """The point columns of `ds` and, for each, a function from a variable's index (dim name
    -> position) to the cell (None where the variable lacks that dimension)."""

    def cell(dim: str, coord: str, conv):
        vals = ds[coord].values
        return lambda at: conv(vals[at[dim]]) if dim in at else None

    out: list[tuple[Column, Any]] = []
    if ds.attrs.get("analysis") == "sweep":
        for d in json.loads(ds.attrs["sweep_dims"]):
            if f"{d}_lo" in ds.coords:  # a pair sweep: the index, then the pair's ends
                out.append((Column(d, "Int64"), cell(d, d, int)))
                out += [(Column(f"{d}_{e}", "float64"), cell(d, f"{d}_{e}", float))
                        for e in ("lo", "hi")]
            else:
                out.append((Column(d, "float64"), cell(d, d, float)))
    elif ds.attrs.get("analysis") == "tornado":
        out = [(Column("input", "string"), cell("input", "input", str)),
               (Column("level", "Float64"), cell("level", "level", float))]
    return out


def _variables(ds: xr.Dataset) -> Iterator[tuple[str, xr.DataArray, str, str]]:
    """(variable name, values, output, statistic) of every variable in the table, in table
    order: the groups as :data:`_GROUP_ORDER`, a tornado's baseline before its pins."""
    table_dims = {"quantile", "bound", "year", "input", "level",
                  *json.loads(ds.attrs.get("sweep_dims", "[]"))}
    tornado = ds.attrs.get("analysis") == "tornado"
    found: dict[str, list[tuple[str, xr.DataArray]]] = {}
    for name, da in {**ds.data_vars, **_trials(ds)}.items():
        if not set(da.dims) <= table_dims or da.dtype.kind not in "iubf":
            continue  # the histogram, importance shift, correlation matrices: .nc only
        base = name[len("baseline_"):] if tornado and name.startswith("baseline_") else name
        found.setdefault(base, []).append((name, da))
    outputs = {b[:-len("_quantile")] for b in found if b.endswith("_quantile")}
    order = list(found)
    if "trials" in found and "hits" in found:  # trials next to hits
        order.remove("trials")
        order.insert(order.index("hits") + 1, "trials")

    def classify(base: str) -> tuple[str, str, str]:
        for o in outputs:
            stat = base[len(o) + 1:]
            if base.startswith(o + "_") and stat in OUTPUT_STATS:
                return "output", o, stat
        if base.startswith(("p_breakeven", "breakeven_")):
            return "breakeven", "breakeven", base
        if base == "pinned_value" or base.startswith("swing_"):
            return "tornado", "tornado", base
        return "cover", "cover", base

    ranked = sorted(order, key=lambda b: _GROUP_ORDER[classify(b)[0]])  # stable
    for base in ranked:
        _, output, stat = classify(base)
        for name, da in sorted(found[base], key=lambda nd: not nd[0].startswith("baseline_")):
            yield name, da, output, stat


def _trials(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """The trial counts (attributes of the run) as variables over the points: ``trials``,
    and ``mc_trials`` (the trials behind the outputs) after importance sampling."""
    like = {"sweep": "p_cover", "tornado": "p_cover"}.get(ds.attrs.get("analysis", ""))
    out = {}
    for key in ("trials", "mc_trials"):
        if key not in ds.attrs:
            continue
        n = np.int64(ds.attrs[key])
        if like is None:
            out[key] = xr.DataArray(n, attrs={"units": "1"})
            continue
        point = ds[like].isel(year=0, drop=True) if "year" in ds[like].dims else ds[like]
        out[key] = xr.full_like(point, n, dtype=np.int64).assign_attrs(units="1")
        if ds.attrs.get("analysis") == "tornado":
            out[f"baseline_{key}"] = xr.DataArray(n, attrs={"units": "1"})
    return out
