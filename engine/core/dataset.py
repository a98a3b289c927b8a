"""Totals -> the labelled ``xarray.Dataset`` (docs/models.md, "The result Dataset"): P(cover)
with its interval, every output's moments and quantiles, the gap's histogram, provenance, and
notes that say why a number is what it is.

Dependency rule: ``engine.base`` and ``engine.core`` only.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from importlib import metadata
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numba
import numpy as np
import scipy
import scipy.special
import xarray as xr

from engine.core.stats import FEW_HITS, proportion_interval
from engine.core.reduce import (BLOCK, M_M2, M_MAX, M_MEAN, M_MIN, M_N, N_MOM, SK_ABS_ZERO, SK_EMAX,
                     SK_EMIN, SK_NBINS, SK_REL_ERROR, SK_ZERO, sketch_bin_bounds, sketch_bin_of)

if TYPE_CHECKING:  # pragma: no cover
    from engine.core.driver import Totals
    from engine.core.scenario import Scenario


#: What a result file is, and its layout's version (engine.io.resultfile reads only these).
FORMAT_ATTR, FORMAT = "format", "capexgap-result"
#: Raised when the layout of the Dataset changes incompatibly.
FORMAT_VERSION = 1
#: Attributes that describe the run (time, threads, chunking), not the result: they differ
#: between otherwise bit-identical runs.
RUN_ATTRS = ("created", "elapsed_s", "threads", "chunk_size", "compile_s",
             "workers",  # the Dask workers that ran it (engine.core.distributed)
             # how a quote was driven (engine.precision): a precision run stopped at N trials
             # is otherwise identical to a fixed run of N trials
             "method_choice", "precision_target", "precision_met", "precision_max_trials",
             "precision_stop")

_LOWER, _UPPER = sketch_bin_bounds()
with np.errstate(invalid="ignore"):
    _MID = 0.5 * (_LOWER + _UPPER)
_MID[0], _MID[-1], _MID[SK_NBINS // 2] = -math.inf, math.inf, 0.0


def version() -> str:
    """The installed capexgap version (or ``"unknown"`` when run from a bare checkout)."""
    try:
        return metadata.version("capexgap")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def sketch_quantiles(counts: np.ndarray, levels: Sequence[float], lo: float, hi: float,
                     first_bin: int = 0) -> np.ndarray:
    """Quantiles from sketch counts, numpy's "linear" definition on the order statistics.

    Each order statistic is replaced by its bin's midpoint, clamped to the observed [lo, hi]:
    within a relative ``SK_REL_ERROR`` (and an absolute ``SK_ABS_ZERO`` around zero) of it.
    The smallest and largest order statistics are `lo` and `hi` exactly. An order statistic in
    an overflow bin (``|x| >= 2**SK_EMAX``, beyond the sketch's range) is unknown: its quantile
    is NaN (the caller says why), unless every value is the same. ``counts`` may be a slice
    of a sketch row starting at bin ``first_bin`` (holding all of its non-zero bins).
    """
    n = int(counts.sum())
    out = np.full(len(levels), np.nan)
    if n == 0:
        return out
    cum = np.cumsum(counts)

    def order_stat(k: int) -> float:
        if k == 0 or lo == hi:
            return lo
        if k == n - 1:
            return hi
        mid = _MID[first_bin + np.searchsorted(cum, k, side="right")]
        if math.isinf(mid):
            return math.nan
        return min(max(mid, lo), hi)

    for i, q in enumerate(levels):
        h = q * (n - 1)
        k0 = math.floor(h)
        t = h - k0
        v0 = order_stat(k0)
        if t == 0.0:
            out[i] = v0
            continue
        v1 = order_stat(min(k0 + 1, n - 1))
        if v1 == v0:
            out[i] = v0
        elif math.isfinite(v1 - v0):
            out[i] = v0 + t * (v1 - v0)
        else:  # v1 - v0 overflows (or one is unknown: NaN propagates)
            out[i] = v0 * (1.0 - t) + v1 * t
    return out


def _row_quantiles(row: np.ndarray, levels: Sequence[float], mom: np.ndarray) -> np.ndarray:
    """:func:`sketch_quantiles` of one sketch row, reading only the bins between those of its
    smallest and largest value (``mom``: the row's moments record)."""
    if mom[M_N] == 0:
        return np.full(len(levels), np.nan)
    a = sketch_bin_of(mom[M_MIN])
    b = sketch_bin_of(mom[M_MAX]) + 1
    return sketch_quantiles(row[a:b], levels, mom[M_MIN], mom[M_MAX], first_bin=a)


def sketch_range_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trials beyond the sketch's range (``|x| >= 2**SK_EMAX``, its two overflow bins) and in
    its zero bin (``|x| < 2**SK_EMIN``), from sketch counts with the bins on the last axis."""
    return counts[..., 0] + counts[..., -1], counts[..., SK_ZERO].copy()


def build_dataset(scenario: Scenario, totals: Totals, *, seed: int, requested_trials: int,
                  run_attrs: Mapping[str, Any] | None = None,
                  point_dims: Mapping[str, Sequence[Any]] | None = None) -> xr.Dataset:
    """Assemble the result Dataset.

    Parameters
    ----------
    scenario : Scenario
    totals : Totals
        Merged accumulators with a leading point axis of length P.
    seed, requested_trials : int
    run_attrs : mapping, optional
        Attributes of the run (threads, chunk_size); see :data:`RUN_ATTRS`.
    point_dims : mapping, optional
        Sweep dimensions {name: values}; their sizes multiply to P (C order). None for a
        single point, which yields scalar variables.
    """
    dims = tuple(point_dims) if point_dims else ()
    shape = tuple(len(v) for v in point_dims.values()) if point_dims else ()
    n_p = totals.hits.shape[0]
    if int(np.prod(shape)) != n_p:
        raise ValueError(f"point_dims give {int(np.prod(shape))} points, totals have {n_p}")
    levels = list(scenario.quantiles)
    n = totals.trials
    # The model's outputs and cover indicators: each one value per point, or (layout.dim, e.g.
    # "year") one per element of layout.coord, flat in the kernel as name_index * ne + element.
    layout = totals.layout
    ne = layout.n_along
    edims = (layout.dim,) if layout.dim else ()
    output_attrs = layout.output_attrs

    def grid(a: np.ndarray) -> np.ndarray:
        """[P, ne, ...] -> point dims (+ layout.dim) + ..."""
        a = a if layout.dim else a[:, 0]
        return a.reshape(shape + a.shape[1:])

    hits = totals.hits.reshape(n_p, len(layout.covers), ne)
    p = np.empty((n_p, ne))
    ci = np.empty((n_p, ne, 2))
    methods = set()
    for i in range(n_p):
        for e in range(ne):
            h = int(hits[i, 0, e])
            p[i, e] = h / n
            ci[i, e, 0], ci[i, e, 1], m = proportion_interval(h, n)
            methods.add(m)

    cover_attrs = dict(layout.cover_attrs.get(layout.covers[0], {}))
    data: dict[str, Any] = {
        "p_cover": (dims + edims, grid(p), {
            "long_name": cover_attrs.get("long_name",
                                         "P(AI revenue >= required annual revenue)"),
            "units": "1"}),
        "p_cover_ci95": (dims + edims + ("bound",), grid(ci), {
            "long_name": "95% interval of p_cover", "units": "1",
            "method": "; ".join(sorted(methods))}),
        "hits": (dims + edims, grid(hits[:, 0].astype(np.int64)), {
            "long_name": cover_attrs.get(
                "hits_long_name",
                "trials in which AI revenue covers the required annual revenue"),
            "units": "1"}),
    }
    for c, cname in enumerate(layout.covers[1:], start=1):
        data[f"{cname}_trials"] = (dims + edims, grid(hits[:, c].astype(np.int64)),
                                   {"units": "1", **layout.cover_attrs.get(cname, {})})
    beyond, near_zero = sketch_range_counts(totals.sketch)  # [P, O * ne]
    src = totals.sketch_sources  # row (p, o) of the sketch is row (src[p, o], o)
    if src is not None:
        cols = np.arange(src.shape[1])[None, :]
        beyond, near_zero = beyond[src, cols], near_zero[src, cols]

    ctx = _NoteContext(n=n, n_points=n_p, levels=levels, totals=totals)
    all_notes: list[str] = []
    if not totals.completed:
        reason = totals.extra.get("stop_reason", "stopped early")
        all_notes.append(f"partial result: {n:,} of {requested_trials:,} requested trials "
                         f"({reason}); every figure is over those {n:,} trials only")
    p_note = _p_cover_note(ctx)
    if p_note:
        all_notes.append(p_note)
    for k, name in enumerate(layout.outputs):
        flat = slice(k * ne, (k + 1) * ne)
        mom = totals.moments[:, flat]  # [P, ne, N_MOM]
        cnt = mom[..., M_N]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(cnt > 0, mom[..., M_MEAN], np.nan)
            std = np.where(cnt > 1, np.sqrt(mom[..., M_M2] / np.maximum(cnt - 1, 1)),
                           np.where(cnt == 1, 0.0, np.nan))
        q = np.stack([np.stack([_row_quantiles(totals.sketch_row(i, k * ne + e), levels,
                                               mom[i, e])
                                for e in range(ne)]) for i in range(n_p)])
        base = dict(output_attrs[name])
        ln = base["long_name"]
        data[f"{name}_mean"] = (dims + edims, grid(mean), {**base, "long_name": f"mean of {ln}"})
        data[f"{name}_std"] = (dims + edims, grid(std),
                               {**base, "long_name": f"std (ddof=1) of {ln}"})
        data[f"{name}_min"] = (dims + edims, grid(np.where(cnt > 0, mom[..., M_MIN], np.nan)),
                               {**base, "long_name": f"min of {ln}"})
        data[f"{name}_max"] = (dims + edims, grid(np.where(cnt > 0, mom[..., M_MAX], np.nan)),
                               {**base, "long_name": f"max of {ln}"})
        data[f"{name}_quantile"] = (dims + edims + ("quantile",), grid(q),
                                    {**base, "long_name": f"quantiles of {ln}"})
        data[f"{name}_nonfinite"] = (dims + edims,
                                     grid(totals.nonfinite[:, flat].astype(np.int64)), {
            "long_name": f"trials where {name} is infinite or undefined (left out of its "
                         "moments and quantiles)", "units": "1"})
        data[f"{name}_beyond_sketch"] = (dims + edims, grid(beyond[:, flat].astype(np.int64)), {
            "long_name": f"trials where |{name}| >= 2**{SK_EMAX} ({2.0**SK_EMAX:.3g}), beyond "
                         "the quantile sketch's range (a quantile among them is n/a)",
            "units": "1"})
        data[f"{name}_near_zero"] = (dims + edims, grid(near_zero[:, flat].astype(np.int64)), {
            "long_name": f"trials where |{name}| < 2**{SK_EMIN}, in the sketch's zero bin "
                         f"(quantiles there are within an absolute 2**{SK_EMIN})",
            "units": "1"})
        notes = _output_notes(ctx, flat, name, mean, std, q, beyond[:, flat])
        if notes:
            all_notes.extend(notes)
            for suffix in ("mean", "std", "min", "max", "quantile", "nonfinite",
                           "beyond_sketch"):
                data[f"{name}_{suffix}"][2]["note"] = "\n".join(notes)
    if p_note:
        data["p_cover"][2]["note"] = p_note

    # The gap's sketch, trimmed to its non-empty bins, for plots and later re-quantiling.
    g = layout.outputs.index("gap")
    gap_units = layout.output_attrs["gap"]["units"]
    # The first and last non-empty bins are those of the smallest and largest value (read
    # from the moments, not by scanning every bin of every row).
    gmom = totals.moments[:, g * ne:(g + 1) * ne].reshape(-1, N_MOM)
    seen = gmom[:, M_N] > 0
    if seen.any():
        b0 = sketch_bin_of(gmom[seen, M_MIN].min())
        b1 = sketch_bin_of(gmom[seen, M_MAX].max()) + 1
    else:
        b0, b1 = SK_NBINS // 2, SK_NBINS // 2 + 1
    data["gap_hist"] = (dims + edims + ("gap_bin",),
                        grid(totals.sketch_rows(slice(g * ne, (g + 1) * ne), b0, b1)
                             .astype(np.int64)), {
        "long_name": "trials per gap bin (log-linear sketch)",
        "units": "1"})

    coords: dict[str, Any] = {
        "quantile": ("quantile", np.array(levels), {"long_name": "quantile level", "units": "1"}),
        "bound": ("bound", np.array(["lower", "upper"], dtype=object)),
        "gap_bin_lower": ("gap_bin", _LOWER[b0:b1], {"units": gap_units}),
        "gap_bin_upper": ("gap_bin", _UPPER[b0:b1], {"units": gap_units}),
    }
    if point_dims:
        for name, values in point_dims.items():
            coords[name] = (name, np.asarray(values))
    if layout.dim:
        coords[layout.dim] = (layout.dim, np.asarray(layout.coord), dict(layout.coord_attrs))

    attrs = {
        "title": scenario.name,
        # What the file is and its layout's version: engine.resultfile reads only these.
        FORMAT_ATTR: FORMAT,
        "format_version": np.int64(FORMAT_VERSION),
        "description": scenario.description,
        "capexgap_version": version(),
        "numpy_version": np.__version__,
        "numba_version": numba.__version__,
        "xarray_version": xr.__version__,
        "scipy_version": scipy.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": str(seed),  # str: seeds go up to 2**64 - 1, beyond NetCDF's int64
        "trials": np.int64(n),
        "trials_requested": np.int64(requested_trials),
        "completed": np.int8(1 if totals.completed else 0),
        "method": "mc",  # engine.precision: "importance" for an importance-sampled P(cover)
        "sampler": "monte-carlo: philox4x32-10 counter-based uniforms, quantile-function "
                   "transforms",
        "model": scenario.model,
        "depreciation": scenario.depreciation,
        "block_size": np.int64(BLOCK),
        "quantile_method": "log-linear sketch, numpy 'linear' interpolation between order "
                           "statistics",
        "quantile_accuracy": f"each order statistic within relative {SK_REL_ERROR:.3g} "
                             f"(absolute {SK_ABS_ZERO:.3g} around 0), clamped to [min, max]; "
                             f"an order statistic with |x| >= 2**{SK_EMAX} is beyond the "
                             "sketch's range and its quantile is NaN (see notes)",
        "p_cover_interval": "95%: Wilson; Clopper-Pearson when hits or misses < "
                            f"{FEW_HITS}; one-sided exact bound when there are none",
        "config_source": scenario.source,
        "config_sha256": scenario.sha256,
        "config_text": scenario.text,
        "elapsed_s": float(totals.elapsed_s),
        "stop_reason": "" if totals.completed else totals.extra.get("stop_reason",
                                                                     "stopped early"),
        # Every reason a figure is NaN, infinite, partial or less accurate than stated, one a
        # line ("" when there is none); each variable concerned carries its own in `note`.
        "notes": "\n".join(all_notes),
    }
    attrs.update(layout.attrs)
    if "workers" in totals.extra:  # run on a cluster: how many workers (never the result)
        attrs["workers"] = int(totals.extra["workers"])
    for key, value in (run_attrs or {}).items():
        attrs[key] = value
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    return layout.finish(ds) if layout.finish else ds


@dataclasses.dataclass(frozen=True)
class _NoteContext:
    n: int
    n_points: int
    levels: list[float]
    totals: Totals

    @property
    def cells(self) -> int:
        """Values per trial an output has: points x elements along the layout's dim."""
        return self.n_points * self.totals.layout.n_along

    @property
    def trials_word(self) -> str:
        return "trials" if self.cells == 1 else "trial values"

    @property
    def where(self) -> str:
        layout = self.totals.layout
        if self.cells == 1:
            return ""
        parts = ([f"{self.n_points} points"] if self.n_points > 1 else []) + \
            ([f"{layout.n_along} {layout.dim}s"] if layout.dim else [])
        return f" (summed over {' x '.join(parts)})"

    def output(self, name: str) -> slice | None:
        """The flat slice of output `name` in the totals, if the model has it."""
        layout = self.totals.layout
        if name not in layout.outputs:
            return None
        k, ne = layout.outputs.index(name), layout.n_along
        return slice(k * ne, (k + 1) * ne)


def _nonfinite_reason(ctx: _NoteContext, name: str) -> str:
    rev_slice = ctx.output("ai_revenue")
    if name == "spend_to_revenue" and rev_slice is not None:
        rev = ctx.totals.moments[:, rev_slice]
        seen = rev[..., M_N] > 0
        if bool(seen.any()) and bool((rev[..., M_MAX][seen] == 0.0).all()):
            return "AI revenue is 0 in every trial, so GPU spend / AI revenue is +inf"
        if bool((seen & (rev[..., M_MIN] == 0.0)).any()):
            return ("+inf where AI revenue is 0, or so small that GPU spend / AI revenue "
                    "overflows float64")
        return "GPU spend / AI revenue overflows float64 where AI revenue is tiny"
    return "float64 overflow: |value| > 1.8e308, or inf - inf"


def _output_notes(ctx: _NoteContext, flat: slice, name: str, mean: np.ndarray,
                  std: np.ndarray, q: np.ndarray, beyond: np.ndarray) -> list[str]:
    """Why any figure of output `name` is NaN, infinite or based on fewer trials.

    `mean`, `std`: [P, ne]; `q`: [P, ne, levels]; `beyond`: [P, ne].
    """
    notes = []
    bad = int(ctx.totals.nonfinite[:, flat].sum())
    mom = ctx.totals.moments[:, flat]
    cnt = mom[..., M_N]
    total = ctx.n * ctx.cells
    if bad:
        notes.append(f"{name} is not finite in {bad:,} of {total:,} {ctx.trials_word}"
                     f"{ctx.where} ({_nonfinite_reason(ctx, name)}); they are left out of its "
                     f"mean, std, min, max and quantiles and counted in {name}_nonfinite")
    if bool((cnt == 0).any()):
        some = " in some cells" if ctx.cells > 1 and not bool((cnt == 0).all()) else ""
        notes.append(f"{name} has no finite value{some}: its mean, std, min, max and quantiles "
                     "are n/a (NaN) there" if some else
                     f"{name} has no finite value: its mean, std, min, max and quantiles are "
                     "n/a (NaN)")
    with np.errstate(invalid="ignore"):
        if bool(((cnt > 0) & ~np.isfinite(mean)).any()):
            notes.append(f"the mean of {name} overflows float64 (its values reach "
                         f"{_extreme(mom):.3g}); it is reported as {_word(mean, cnt)}")
        if bool(((cnt > 1) & ~np.isfinite(std)).any()):
            notes.append(f"the std of {name} overflows float64 (its values reach "
                         f"{_extreme(mom):.3g}); it is reported as {_word(std, cnt)}")
    lost = [lev for j, lev in enumerate(ctx.levels)
            if bool(((cnt > 0) & np.isnan(q[..., j])).any())]
    if lost:
        which = ("all its quantiles fall" if len(lost) == len(ctx.levels) else
                 f"its quantiles at {', '.join(_level(x) for x in lost)} fall")
        notes.append(f"{name} is beyond the quantile sketch's range (|value| >= 2**{SK_EMAX} = "
                     f"{2.0**SK_EMAX:.3g}) in {int(beyond.sum()):,} {ctx.trials_word}"
                     f"{ctx.where}; {which} among them and are n/a (NaN); its mean, std, min "
                     "and max do not depend on the sketch")
    return notes


def _extreme(mom: np.ndarray) -> float:
    ok = mom[..., M_N] > 0
    return float(max(np.abs(mom[..., M_MIN][ok]).max(), np.abs(mom[..., M_MAX][ok]).max()))


def _word(values: np.ndarray, cnt: np.ndarray) -> str:
    bad = values[(cnt > 0) & ~np.isfinite(values)]
    return "n/a (NaN)" if np.isnan(bad).any() else "inf"


def _p_cover_note(ctx: _NoteContext) -> str:
    """The one-year model's cover test with overflowing sides (IEEE comparison semantics)."""
    req, rev = ctx.output("required_annual_revenue"), ctx.output("ai_revenue")
    if req is None or rev is None:
        return ""
    parts = [f"{label} in {k:,} {ctx.trials_word}" for label, k in (
        ("the required annual revenue", int(ctx.totals.nonfinite[:, req].sum())),
        ("AI revenue", int(ctx.totals.nonfinite[:, rev].sum()))) if k]
    if not parts:
        return ""
    return (f"p_cover: float64 overflows make {' and '.join(parts)}{ctx.where} infinite or NaN;"
            " such a trial counts as covered only if AI revenue >= required annual revenue "
            "still holds (inf >= a finite value does; NaN never does)")


def strip_run_attrs(ds: xr.Dataset) -> xr.Dataset:
    """Drop the attributes that describe the run rather than the result (:data:`RUN_ATTRS`)."""
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if k not in RUN_ATTRS}
    return out


def explain_nulls(obj: Mapping[str, Any], reasons: Mapping[str, str]) -> list[str]:
    """Notes for the nulls of a ``--json`` object that no note explains yet.

    A null is explained when a note names its key path (``p_cover_se``,
    ``importance.weight_mean_se`` or just ``weight_mean_se``) or, within ``outputs.NAME``, when that output has notes
    (they say why its figures are n/a). Otherwise the note is ``reasons[path]`` (or that of
    the nearest enclosing path), else a plain "PATH is null: not a finite number".

    Parameters
    ----------
    obj : mapping
        The JSON object, with its ``notes`` list.
    reasons : mapping
        Known reasons by dotted key path.

    Returns
    -------
    list of str
        The notes to add, each naming the paths it explains.
    """
    have = "\n".join(obj.get("notes", []))
    added: list[str] = []
    for path in _null_paths(obj):
        parts = path.split(".")
        if parts[0] == "outputs" and len(parts) > 2 and obj["outputs"][parts[1]].get("notes"):
            continue
        key = next((".".join(parts[:k]) for k in range(len(parts), 0, -1)
                    if ".".join(parts[:k]) in reasons), None)
        if key is not None:
            if reasons[key] not in added and key not in have:
                added.append(reasons[key])
        elif not any(name in have or any(name in a for a in added)
                     for name in _key_names(parts)):
            added.append(f"{path} is null: not a finite number")
    return added


def _key_names(parts: list[str]) -> list[str]:
    """The names a note may use for a key path: the whole path, and each tail that starts at
    a snake_case key (``importance.weight_mean_se`` -> also ``weight_mean_se``), the names
    of the Dataset's variables; a bare level such as ``0.5`` is never taken for a name."""
    names = [".".join(parts)]
    for k in range(1, len(parts)):
        if "_" in parts[k] and parts[k].replace("_", "").isalnum():
            names.append(".".join(parts[k:]))
    return names


def _null_paths(obj: Any, prefix: str = "") -> list[str]:
    """Dotted key paths of every null (None) in a JSON-like object; list items as ``[i]``."""
    if obj is None:
        return [prefix]
    if isinstance(obj, Mapping):
        return [p for k, v in obj.items() for p in _null_paths(v, f"{prefix}.{k}" if prefix
                                                                 else str(k))]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in _null_paths(v, f"{prefix}[{i}]")]
    return []


def p_cover_is_bound(ds: xr.Dataset) -> bool:
    """True when P(cover) is reported as an upper bound only: an importance-sampling estimate
    whose error could not be computed (:func:`importance_error_unknown`)."""
    return (ds.attrs.get("method") == "importance" and "p_cover_se" in ds
            and not math.isfinite(float(ds["p_cover_se"])))


def notes_of(ds: xr.Dataset) -> list[str]:
    """The Dataset's notes (attrs['notes'], one a line) as a list; [] when there are none."""
    return [line for line in str(ds.attrs.get("notes", "")).splitlines() if line]


def _level(q: float) -> str:
    return repr(float(q))  # shortest round-trip decimal: "0.05", "0.5", "0.95"


def _num(v: Any) -> float | None:
    x = float(v)
    return x if math.isfinite(x) else None
