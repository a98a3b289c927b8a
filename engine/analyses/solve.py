"""Goal seek: the multiplier on an input group at which P(cover), or the gap's median, reaches
a target.

:func:`solve` multiplies a group of inputs (:func:`engine.analyses.scale.resolve_scale`:
``revenue`` is every company) by ``m`` and finds the ``m`` at which P(cover) reaches
``p_cover`` (or the gap's median equals ``gap_median``). Every evaluation runs the same seed and
trials (common random numbers): each trial's scaled inputs are ``m`` times their values at
``m = 1``, so P(cover) is a monotone step function of ``m`` (for a model monotone in the
inputs) and a bracket of it can be narrowed like a root of a continuous function.

The search runs in passes of many points each, every pass one plan on the same trials
(:mod:`engine.analyses.points`): first a log-spaced grid over the search range (its ends and
``m = 1`` included), then, pass after pass, :data:`REFINE_POINTS` points inside each bracket
still wider than :data:`RTOL`. Three brackets are narrowed at once: the estimate's, and those
of the two ends of P(cover)'s 95% interval; the multipliers where the upper and the lower end
of the interval cross the target are the 95% interval of the multiplier (the set of ``m``
whose interval holds the target: a test inverted into a confidence set). For the gap's median
the interval's ends are the order statistics that bound the median with 95% confidence
(levels ``0.5 -+ 1.96 * 0.5 / sqrt(n)``).

Layering: uses ``engine.base``, ``engine.core``, ``engine.models``, :mod:`.scale` and
:mod:`.points`; ``engine.cli.solve`` wraps it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from engine.analyses.grid import _input_units
from engine.analyses.points import _MONEY, DEFAULT_MAX_MEMORY_MIB, ProgressFn, _run_points
from engine.analyses.scale import (
    MultiplierRange,
    multiplier_range,
    resolve_scale,
    scale_distribution,
    scale_scenario,
)
from engine.base import fmt
from engine.base.errors import ConfigError
from engine.core.driver import DEFAULT_CHUNK
from engine.core.scenario import Scenario

#: Default search range: multipliers from 1 / this to this.
DEFAULT_MAX_MULTIPLIER = 1000.0
#: The largest --max-multiplier (amounts beyond 10^6 times a config's are no scenario).
MAX_MULTIPLIER_CEILING = 1e6
#: Fewest trials a goal seek runs (the median's interval needs its order statistics).
MIN_TRIALS = 100
#: Points of the first pass: log-spaced over the search range, with its ends and m = 1.
GRID_POINTS = 25
#: Points put inside each bracket still too wide, per refining pass.
REFINE_POINTS = 7
#: A bracket is narrow enough when log(hi / lo) <= RTOL (5 significant digits).
RTOL = 1e-5
#: Refining passes at most (7 points shrink a bracket 8-fold a pass: 13 reach RTOL from 10^12).
MAX_PASSES = 20
_Z95 = 1.959963984540054  # the normal's 97.5% quantile

# The three curves narrowed at once, in the order the helpful direction reaches them.
_OPTIMISTIC, _ESTIMATE, _PESSIMISTIC = "optimistic", "estimate", "pessimistic"


@dataclass
class _Eval:
    """One evaluated multiplier: P(cover), its interval, and medians (in the solved year)."""

    hits: int
    p: float
    ci: tuple[float, float]
    gap_q: tuple[float, ...]  # the gap at the levels asked for (the median's bounds too)
    ai_revenue: float          # median AI revenue
    required: float            # median required annual revenue


def _year_index(scenario: Scenario, year: int | None) -> int | None:
    """Index of the solved year on the multi-year model's axis (None: the one-year model)."""
    if scenario.model != "vintage":
        if year is not None:
            raise ConfigError(scenario.source, "year", "only the multi-year (vintage) model "
                              "has years", year, "Leave out --year for a one-year config.")
        return None
    years = [int(y) for y in scenario.vintage.years]
    if year is None:
        return len(years) - 1  # the last reported year, as the tornado ranks
    if year not in years:
        raise ConfigError(scenario.source, "year", "is not a reported year of this scenario",
                          year, f"Choose one of {years[0]}-{years[-1]}.")
    return years.index(year)


def _check(scenario: Scenario, p_cover: float | None, gap_median: float | None,
           max_multiplier: float, trials: int) -> None:
    """Refuse a target, a search range or a trial count that no search can use."""
    file = scenario.source
    if (p_cover is None) == (gap_median is None):
        raise ConfigError(None, "target", "give exactly one target: p_cover or gap_median",
                          None, "Pass --p-cover 0.5 (P(cover) reaches 50%) or --gap-median 0 "
                                "(the median gap is 0).")
    for key, v in (("p_cover", p_cover), ("gap_median", gap_median), ("max_multiplier",
                                                                        max_multiplier)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not math.isfinite(v)):
            raise ConfigError(None, key, "must be a finite number", v,
                              "Pass e.g. --p-cover 0.5, --gap-median 0, --max-multiplier 1000.")
    if p_cover is not None and not 0.0 < p_cover < 1.0:
        raise ConfigError(None, "p_cover", "must lie strictly between 0 and 1 (P(cover) is "
                                           "always >= 0 and <= 1)", p_cover,
                          "Pass a probability such as --p-cover 0.5.")
    if not 1.0 < max_multiplier <= MAX_MULTIPLIER_CEILING:
        raise ConfigError(None, "max_multiplier", f"must be > 1 and at most "
                                                  f"{MAX_MULTIPLIER_CEILING:g}", max_multiplier,
                          "The search runs from 1/M to M; pass e.g. --max-multiplier 1000.")
    if isinstance(trials, (int, np.integer)) and not isinstance(trials, bool) \
            and trials < MIN_TRIALS:
        raise ConfigError(file, "trials", f"a goal seek needs at least {MIN_TRIALS} trials",
                          trials, "Pass e.g. --trials 1000000.")


def solve(scenario: Scenario, scale: str, *, p_cover: float | None = None,
          gap_median: float | None = None, trials: int | None = None, seed: int | None = None,
          threads: int | None = None, chunk_size: int = DEFAULT_CHUNK,
          max_multiplier: float = DEFAULT_MAX_MULTIPLIER, year: int | None = None,
          max_memory_mib: float = DEFAULT_MAX_MEMORY_MIB,
          progress: ProgressFn | None = None) -> xr.Dataset:
    """The multiplier on an input group at which P(cover) (or the gap's median) hits a target.

    Parameters
    ----------
    scenario : Scenario
    scale : str
        What to multiply (:func:`engine.analyses.scale.resolve_scale`): ``revenue`` (every
        company), an input (``gpu_spend``, ``margin``; a series given year by year: every
        year), a company (``Microsoft``) or any input's full name.
    p_cover, gap_median : float
        Exactly one target: P(cover) reaches `p_cover` (in (0, 1)), or the gap's median equals
        `gap_median` ($B/yr; 0: revenue's and required revenue's medians meet).
    trials, seed, threads, chunk_size, max_memory_mib, progress
        As for :func:`engine.sweep`; every evaluation runs the same trials (at least
        :data:`MIN_TRIALS`). `progress` gets the point-trials done so far (the total is not
        known in advance). The result never depends on threads, chunk size or memory.
    max_multiplier : float
        The search range is ``1 / max_multiplier`` to ``max_multiplier``, narrowed where an
        input's hard range requires (a margin stays below 1).
    year : int, optional
        Multi-year (vintage) model: the year whose P(cover) or gap is solved for (default: the
        last reported year).

    Returns
    -------
    xarray.Dataset
        ``solution`` (the multiplier; NaN when the target is not reached in the search range)
        and ``solution_ci95`` (bound; an end beyond the search range is NaN); per evaluated
        multiplier (dimension ``evaluation``, coordinate ``multiplier``, ascending):
        ``p_cover``, ``p_cover_ci95``, ``hits``, ``gap_median``, ``ai_revenue_median``,
        ``required_annual_revenue_median`` (and ``gap_median_ci95`` for a median target);
        per scaled input (``scaled_input``): ``input_median_baseline`` and
        ``input_median_solution``. Attributes: ``analysis = "solve"``, ``solve_status``
        (``found`` / ``unreachable``), ``solve_note`` (why, in words), ``solve_target``,
        ``search_lo``/``search_hi`` and ``search_limits``, ``passes``, ``evaluations``,
        ``trials``, ``seed``, and the run's.
    """
    trials = scenario.trials if trials is None else trials
    seed = scenario.seed if seed is None else seed
    _check(scenario, p_cover, gap_median, max_multiplier, trials)
    target = resolve_scale(scenario, scale)
    yi = _year_index(scenario, year)
    rng = multiplier_range(scenario, target.inputs, 1.0 / max_multiplier, max_multiplier)
    if not rng.lo < 1.0 < rng.hi:  # m = 1 is the config itself, inside its hard ranges
        raise ConfigError(scenario.source, "scale", "leaves no room to search: "
                          + "; ".join(rng.limits), scale,
                          "Scale another input, or widen the distribution's range.")
    by_median = gap_median is not None
    delta = _Z95 * 0.5 / math.sqrt(trials) if isinstance(trials, (int, np.integer)) else 0.0
    levels = (0.5 - delta, 0.5, 0.5 + delta) if by_median else (0.5,)
    base = dataclasses.replace(scenario, quantiles=levels)
    evals: dict[float, _Eval] = {}
    state = {"done": 0, "passes": 0, "elapsed": 0.0, "compile": 0.0}
    notes: set[str] = set()
    attrs: dict = {}

    def evaluate(ms: Sequence[float]) -> None:
        new = sorted(set(ms) - set(evals))
        if not new:
            return
        points = [base if m == 1.0 else scale_scenario(base, target.inputs, m) for m in new]
        done0 = state["done"]

        def _progress(n: int) -> None:
            if progress is not None:
                progress(done0 + n)

        flat = _run_points(base, points, trials=trials, seed=seed, threads=threads,
                           chunk_size=chunk_size, max_memory_mib=max_memory_mib,
                           progress=_progress)
        state["done"] += flat.trials * len(new)
        state["passes"] += 1
        state["elapsed"] += float(flat.attrs["elapsed_s"])
        state["compile"] += float(flat.attrs.get("compile_s", 0.0))
        notes.update(x for x in str(flat.attrs.get("notes", "")).split("\n") if x)
        if not attrs:
            attrs.update(flat.attrs)
        for i, m in enumerate(new):
            evals[m] = _extract(flat.vars, i, yi, len(levels) // 2)

    # the value each curve compares with the target, and whether it has reached it
    if by_median:
        t = float(gap_median)
        pick = {_OPTIMISTIC: lambda e: e.gap_q[0], _ESTIMATE: lambda e: e.gap_q[1],
                _PESSIMISTIC: lambda e: e.gap_q[2]}

        def reached(v: float) -> bool:
            return v <= t  # a NaN (beyond the sketch's range) never has
    else:
        t = float(p_cover)
        pick = {_OPTIMISTIC: lambda e: e.ci[1], _ESTIMATE: lambda e: e.p,
                _PESSIMISTIC: lambda e: e.ci[0]}

        def reached(v: float) -> bool:
            return v >= t
    flags: dict[str, Callable[[float], bool]] = {
        c: (lambda m, c=c: reached(pick[c](evals[m]))) for c in pick}

    grid = [float(m) for m in np.exp(np.linspace(math.log(rng.lo), math.log(rng.hi),
                                                 GRID_POINTS))]
    grid[0], grid[-1] = rng.lo, rng.hi  # exactly the ends, not their exp(log(.))
    evaluate(grid + [1.0])
    brackets: dict[str, tuple[float, float] | None] = {}
    switches: dict[str, int] = {}
    for c, flag in flags.items():
        brackets[c], switches[c] = _bracket(sorted(evals), flag)
    while state["passes"] <= MAX_PASSES:
        wide = [b for b in brackets.values() if b is not None and math.log(b[1] / b[0]) > RTOL]
        if not wide:
            break
        new = []
        for a, b in wide:
            la, lb = math.log(a), math.log(b)
            new += [math.exp(la + (lb - la) * j / (REFINE_POINTS + 1))
                    for j in range(1, REFINE_POINTS + 1)]
        evaluate(new)
        for c, b in brackets.items():
            if b is not None:
                brackets[c] = _bracket([m for m in sorted(evals) if b[0] <= m <= b[1]],
                                       flags[c])[0]
    direction = 0
    est = brackets[_ESTIMATE]
    solution, ci = math.nan, (math.nan, math.nan)
    if est is not None:
        direction = 1 if flags[_ESTIMATE](est[1]) else -1
        solution = est[1] if direction > 0 else est[0]  # an evaluated m that reaches it
        opt, pess = brackets[_OPTIMISTIC], brackets[_PESSIMISTIC]
        # the outer end of each bracket: the interval is never narrower than it is
        if direction > 0:
            ci = (opt[0] if opt else math.nan, pess[1] if pess else math.nan)
        else:
            ci = (pess[0] if pess else math.nan, opt[1] if opt else math.nan)
    kind = "gap_median" if by_median else "p_cover"
    what = _target_text(kind, t, yi, scenario)
    note = _note(evals, rng, kind, t, what, est is not None, ci, switches[_ESTIMATE],
                 direction, max_multiplier)
    ds = _dataset(scenario, target.inputs, evals, solution, ci, by_median, attrs)
    ds.attrs.update({
        "analysis": "solve", "solve_scale": scale, "solve_scaled": target.what,
        "solve_inputs": json.dumps(list(target.inputs)), "solve_target": what,
        "solve_target_kind": kind, "solve_target_value": t,
        "solve_status": "found" if est is not None else "unreachable",
        "solve_direction": np.int8(direction), "solve_note": note,
        "solve_interval": ("the multipliers at which the lower and the upper order statistic "
                           "bounding the median (95%) equal the target" if by_median else
                           "the multipliers at which the upper and the lower end of P(cover)'s "
                           "95% interval reach the target"),
        "search_lo": rng.lo, "search_hi": rng.hi, "search_limits": "\n".join(rng.limits),
        "max_multiplier": float(max_multiplier), "passes": np.int64(state["passes"]),
        "evaluations": np.int64(len(evals)), "elapsed_s": state["elapsed"],
        "compile_s": round(state["compile"], 3), "notes": "\n".join(sorted(notes)),
    })
    if yi is not None:
        ds.attrs["solve_year"] = np.int64(scenario.vintage.years[yi])
    return ds


def _extract(vars_: dict, i: int, yi: int | None, q50: int) -> _Eval:
    """Point `i`'s figures (in year `yi` of a multi-year model) from :func:`_run_points`."""
    def one(name: str) -> np.ndarray:
        v = vars_[name][1][i]
        return v[yi] if yi is not None else v

    return _Eval(hits=int(one("hits")), p=float(one("p_cover")),
                 ci=tuple(float(x) for x in one("p_cover_ci95")),  # type: ignore[arg-type]
                 gap_q=tuple(float(x) for x in one("gap_quantile")),
                 ai_revenue=float(one("ai_revenue_quantile")[q50]),
                 required=float(one("required_annual_revenue_quantile")[q50]))


def _bracket(ms: Sequence[float], flag: Callable[[float], bool]
             ) -> tuple[tuple[float, float] | None, int]:
    """The neighbouring multipliers (ascending `ms`) between which `flag` changes, and the
    number of such changes. Several (a model not monotone in the input): the change nearest
    to m = 1. None: no change."""
    f = [flag(m) for m in ms]
    at = [k for k in range(len(ms) - 1) if f[k] != f[k + 1]]
    if not at:
        return None, 0
    k = min(at, key=lambda k: (abs(math.log(ms[k]) + math.log(ms[k + 1])), k))
    return (ms[k], ms[k + 1]), len(at)


def _target_text(kind: str, t: float, yi: int | None, scenario: Scenario) -> str:
    year = f" in {scenario.vintage.years[yi]}" if yi is not None else ""
    if kind == "p_cover":
        return f"P(cover){year} = {fmt.pct(t)}"
    return f"median gap{year} = {fmt.usd(t)}"


def _note(evals: dict[float, _Eval], rng: MultiplierRange, kind: str, t: float, what: str,
          found: bool, ci: tuple[float, float], n_switch: int, direction: int,
          max_multiplier: float) -> str:
    """Why there is no answer, or what to know about the one given ("" if nothing)."""
    ms = sorted(evals)
    where = f"the search range {ms[0]:.6g} to {ms[-1]:.6g}"
    why = (" (" + "; ".join(rng.limits) + ")") if rng.limits else \
        f" (--max-multiplier {max_multiplier:g})"
    lines = []
    if not found:
        def value(m: float) -> str:
            e = evals[m]
            return fmt.pct(e.p) if kind == "p_cover" else fmt.usd(e.gap_q[len(e.gap_q) // 2])
        name = "P(cover)" if kind == "p_cover" else "the median gap"
        lines.append(f"Not reachable: {name} is {value(ms[0])} at x {ms[0]:.6g} and "
                     f"{value(ms[-1])} at x {ms[-1]:.6g}, and {what} is reached nowhere in "
                     f"{where}{why}; no multiplier is reported.")
    else:
        lo, hi = ci
        if math.isnan(lo) or math.isnan(hi):
            side = " and ".join(s for s, v in (("lower", lo), ("upper", hi)) if math.isnan(v))
            ends = "ends lie" if " and " in side else "end lies"
            lines.append(f"The interval's {side} {ends} beyond {where}{why}.")
        if n_switch > 1:
            lines.append(f"The target is crossed {n_switch} times in the search range (the "
                         "model is not monotone in this multiplier): the crossing nearest "
                         "x 1 is reported.")
    return "\n".join(lines)


def _dataset(scenario: Scenario, inputs: Sequence[str], evals: dict[float, _Eval],
             solution: float, ci: tuple[float, float], by_median: bool,
             run_attrs: dict) -> xr.Dataset:
    ms = np.array(sorted(evals))
    es = [evals[m] for m in ms]
    ev = ("evaluation",)
    data: dict = {
        "p_cover": (ev, np.array([e.p for e in es]), {
            "long_name": "P(AI revenue covers the required annual revenue) at this multiplier",
            "units": "1"}),
        "p_cover_ci95": (ev + ("bound",), np.array([e.ci for e in es]), {
            "long_name": "95% interval of p_cover", "units": "1"}),
        "hits": (ev, np.array([e.hits for e in es], dtype=np.int64), {
            "long_name": "covering trials", "units": "1"}),
        "gap_median": (ev, np.array([e.gap_q[len(e.gap_q) // 2] for e in es]), {
            "long_name": "median of the gap (required annual revenue minus AI revenue)",
            "units": _MONEY}),
        "ai_revenue_median": (ev, np.array([e.ai_revenue for e in es]), {
            "long_name": "median AI revenue", "units": _MONEY}),
        "required_annual_revenue_median": (ev, np.array([e.required for e in es]), {
            "long_name": "median required annual revenue", "units": _MONEY}),
        "solution": ((), solution, {
            "long_name": "multiplier at which the target is reached (NaN: not in the search "
                         "range)", "units": "1"}),
        "solution_ci95": (("bound",), np.array(ci), {
            "long_name": "95% interval of the multiplier (NaN: an end beyond the search "
                         "range)", "units": "1"}),
    }
    if by_median:
        data["gap_median_ci95"] = (ev + ("bound",), np.array([(e.gap_q[0], e.gap_q[2])
                                                              for e in es]), {
            "long_name": "order statistics bounding the gap's median with 95% confidence",
            "units": _MONEY})
    before, after = [], []
    for name in inputs:
        d = scenario.input(name).dist
        before.append(d.quantile(0.5))
        after.append(scale_distribution(d, solution).quantile(0.5)
                     if math.isfinite(solution) else math.nan)
    data["input_median_baseline"] = (("scaled_input",), np.array(before), {
        "long_name": "median of the scaled input at multiplier 1", "units": "see input_units"})
    data["input_median_solution"] = (("scaled_input",), np.array(after), {
        "long_name": "median of the scaled input at the solution", "units": "see input_units"})
    coords = {
        "multiplier": (ev, ms, {"long_name": "multiplier on the scaled inputs", "units": "1"}),
        "bound": ("bound", np.array(["lower", "upper"], dtype=object)),
        "scaled_input": ("scaled_input", np.array(list(inputs), dtype=object)),
        "input_units": ("scaled_input", np.array([_input_units(n) for n in inputs],
                                                 dtype=object)),
    }
    keep = ("title", "description", "capexgap_version", "model", "depreciation",
            "seed", "trials", "config_source", "config_sha256", "config_text", "threads",
            "chunk_size", "p_cover_interval", "quantile_accuracy", "created")
    attrs = {k: v for k, v in run_attrs.items() if k in keep}
    return xr.Dataset(data, coords=coords, attrs=attrs)
