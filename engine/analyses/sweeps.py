"""Sensitivity sweeps: a grid of "what if" points, run on common random numbers.

A sweep evaluates many *points*: variants of one scenario that differ only in some inputs'
distributions (an input pinned to a number, or one parameter of its distribution replaced).
Every point sees the same trials: the uniform of (seed, input, trial) depends on the input's
*name*, never on the point (common random numbers), so differences between points are the
effect of the change, not Monte Carlo noise, and each point is bit-identical to a separate
``simulate`` of its own scenario with the same seed and trials.

The points are packed into one plan (:func:`engine.plan.make_plan`) and run in one pass over
the trials, in groups when their sketches would not fit in ``max_memory_mib`` (each group is
one pass; a point's result does not depend on its group, since it is a pure function of its
own distributions and the shared streams). :mod:`engine.analyses.tornado` runs its points the
same way (:func:`pin`, ``_run_points``).

Both models work: a point of the multi-year (vintage) model is a vintage quote, so every
variable keeps its ``year`` dimension after the point dimensions (the break-even variables
too), and memory is estimated from the plan's :class:`~engine.plan.Layout` (outputs x years).
Keys may name any input of either model (:func:`engine.models.input_rules.input_rule` gives its range):
``gpu_spend_growth``, ``revenue_growth.<company>``, one year of a table (``gpu_spend.2026``).

Layering: uses ``engine.base``, ``engine.core`` and ``engine.models``; the JSON summary is
:mod:`engine.io.sweep_summary`; ``engine.cli`` wraps it.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numba
import numpy as np
import xarray as xr

import distributions
from distributions import Distribution, DistributionError

from engine.models.input_rules import _U_MAX, _U_MIN, input_rule
from engine.core.scenario import Input, Scenario
from engine.base.errors import ConfigError
from engine.core.runner import live_rows
from engine.core.reduce import BLOCK, N_MOM, SK_NBINS, sketch_bin_bounds
from engine.core.layout import Layout
from engine.models import make_plan
from engine.models.one_year import LAYOUT as ONE_YEAR_LAYOUT
from engine.core.dataset import build_dataset
from engine.core.stats import proportion_interval
from engine.models.one_year import OUTPUT_ATTRS
from engine.core.driver import DEFAULT_CHUNK, WAVE_TRIALS, _check_run_args, run_plan

#: Largest grid `sweep` runs unless told otherwise (a guard against runaway products).
MAX_POINTS = 1000
#: The most `max_points` may be raised to: every point is a scenario held in memory and a row
#: of the plan, and runs every trial.
MAX_POINTS_CEILING = 100_000
#: Largest plan (points x inputs) a sweep or tornado builds: about 1 GB with its scenarios.
MAX_PLAN_CELLS = 10**7
#: Memory (MiB) the per-pass accumulators of one group of points may take.
DEFAULT_MAX_MEMORY_MIB = 512
#: Default cap on the trials per point of a sweep with a precision target (a point whose
#: P(cover) is 0 or tiny never meets a relative target).
SWEEP_MAX_TRIALS = 10**7

_MONEY = OUTPUT_ATTRS["capex"]["units"]
_RANGE_KEYS = ("start", "stop", "num")
_CI_PARAM = re.compile(r"ci\d{1,2}(?:\.\d+)?")
_SWEEP_ATTRS = ("analysis", "sweep_dims", "tornado_sort", "tornado_rank_year")
_INPUT_UNITS = {"gpu_spend": _MONEY, "energy_ratio": "1", "margin": "1", "useful_life": "year",
                "cost_of_capital": "1/year", "generation_years": "year",
                "perf_per_dollar_gain": "1"}
_LOG_PARAMS = ("mu",)
_SHAPE_PARAMS = ("sigma", "lambda", "alpha", "beta")
_BIN_LOWER, _BIN_UPPER = sketch_bin_bounds()

ProgressFn = Callable[[int], None]
# --------------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class SweepKey:
    """One swept key: an input pinned to each value, or one parameter of its distribution.

    Attributes
    ----------
    key : str
        As written in ``[sweep]`` (dotted): ``margin``, ``revenue.Microsoft``, ``gpu_spend.ci90``.
    input : str
        The input it changes (``margin``, ``revenue.Microsoft``).
    param : str or None
        The distribution parameter it replaces; None pins the whole input to each value.
    values : tuple
        The values, in order: floats, or ``(lo, hi)`` pairs for a ``ciNN`` parameter.
    """

    key: str
    input: str
    param: str | None
    values: tuple

    @property
    def is_pair(self) -> bool:
        """True for a ``ciNN`` parameter, whose values are ``(lo, hi)`` pairs."""
        return self.param is not None and _CI_PARAM.fullmatch(self.param) is not None

    @property
    def units(self) -> str:
        unit = _input_units(self.input)
        if self.param in _LOG_PARAMS:
            return f"log of {unit}"
        if self.param in _SHAPE_PARAMS:
            return "1"
        return unit


@dataclass(frozen=True)
class SweepGrid:
    """A validated sweep: its keys and one scenario per grid point (C order, last key fastest).

    Build it with :func:`sweep_grid`.
    """

    keys: tuple[SweepKey, ...]
    scenarios: tuple[Scenario, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(k.values) for k in self.keys)

    @property
    def n_points(self) -> int:
        return len(self.scenarios)

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(k.key for k in self.keys)


def _grid_keys(scenario: Scenario, grid: Mapping[str, Any] | None
               ) -> tuple[list[SweepKey], dict]:
    """The keys of a ``[sweep]`` table (default ``scenario.sweep``), each value checked; and
    the cache of the distributions built on the way."""
    file = scenario.source
    raw = scenario.sweep if grid is None else grid
    if not isinstance(raw, Mapping):
        raise ConfigError(file, "sweep", "must be a table", raw,
                          "Write it as a [sweep] section of key = values lines.")
    if not raw:
        raise ConfigError(file, "sweep", "is missing or empty: a sweep needs at least one key",
                          None, "Add a [sweep] table, e.g. `margin = [0.3, 0.5, 0.7]` "
                          "(see configs/sweep-margin-life.toml).")
    keys: list[SweepKey] = []
    cache: dict = {}
    for key, spec in _flatten(file, raw, ""):
        name, param = _resolve(scenario, file, key)
        for other in keys:
            if other.key == key:
                raise ConfigError(file, f"sweep.{key}", "is given twice", None,
                                  "Keep one of the two spellings.")
            if other.input == name and (other.param is None or param is None
                                        or other.param == param):
                raise ConfigError(
                    file, f"sweep.{key}", f"conflicts with sweep.{other.key}: both change {name}",
                    None, "Pin the input or sweep its parameters, not both.")
        if param is not None:
            _check_param(scenario, file, key, name, param)
        pair = param is not None and _CI_PARAM.fullmatch(param) is not None
        values = _values(file, key, spec, pair)
        for i, v in enumerate(values):
            _apply(scenario, [(name, param, v)], file, f"sweep.{key}[{i}]", cache=cache)
        keys.append(SweepKey(key=key, input=name, param=param, values=tuple(values)))
    return keys, cache


def _grid_size(file: str, raw: Any) -> tuple[int, list[tuple[str, int]]]:
    """The number of points of a ``[sweep]`` table and each key's number of values, read from
    its lists' lengths and its ``num`` entries without making any value (a ``num`` of 10^10
    costs nothing here). Entries that are not well formed count one value: building the keys
    then says what is wrong with them."""
    sizes: list[tuple[str, int]] = []
    if isinstance(raw, Mapping):
        for key, spec in _flatten(file, raw, ""):
            size = 1
            if isinstance(spec, list):
                size = len(spec) or 1
            elif isinstance(spec, Mapping):
                if isinstance(spec.get("values"), list):
                    size = len(spec["values"]) or 1
                elif "values" not in spec:
                    num = spec.get("num")
                    if isinstance(num, int) and not isinstance(num, bool) and num >= 1:
                        size = num
            sizes.append((key, size))
    return math.prod(n for _, n in sizes), sizes  # exact: Python integers do not overflow


def _check_points(file: str, raw: Any, max_points: int) -> int:
    """Refuse a grid of more than `max_points` points before any value is made."""
    n, sizes = _grid_size(file, raw)
    if n > max_points:
        shown = " x ".join(f"{k} {v:,}" for k, v in sizes)
        raise ConfigError(
            file, "sweep", f"the grid has {n:,} points ({shown}), more than the limit of "
            f"{max_points:,}", None,
            "Give fewer values per key (a smaller num, shorter lists) or sweep fewer keys, or "
            f"raise the limit with --max-points (at most {MAX_POINTS_CEILING:,}; "
            "engine.sweep(..., max_points=...)).")
    return n


def _check_cells(scenario: Scenario, n_points: int) -> None:
    """Refuse a plan of more than :data:`MAX_PLAN_CELLS` point-inputs (before building it)."""
    n_in = len(scenario.all_inputs)
    if n_points * n_in > MAX_PLAN_CELLS:
        raise ConfigError(
            scenario.source, "sweep", f"{n_points:,} points x {n_in:,} inputs = "
            f"{n_points * n_in:,} point-inputs, more than the limit of {MAX_PLAN_CELLS:,} "
            "(about 1 GB of plan)", None, "Run fewer points (fewer values or --levels), or "
            "give the scenario fewer inputs.")


def check_sweep_table(scenario: Scenario) -> int:
    """Validate the scenario's ``[sweep]`` table as :func:`sweep_grid` does, without building
    its points; return the number of points (0: no table).

    A table of more than :data:`MAX_POINTS_CEILING` points, which no sweep runs, is refused
    (before any value is made)."""
    if not scenario.sweep:
        return 0
    _check_points(scenario.source, scenario.sweep, MAX_POINTS_CEILING)
    return math.prod(len(k.values) for k in _grid_keys(scenario, None)[0])


def sweep_grid(scenario: Scenario, grid: Mapping[str, Any] | None = None, *,
               max_points: int = MAX_POINTS) -> SweepGrid:
    """Validate a ``[sweep]`` table and build the scenario of every grid point.

    Parameters
    ----------
    scenario : Scenario
        The base scenario.
    grid : mapping, optional
        ``{key: values}`` in the ``[sweep]`` syntax (a list, ``{start, stop, num}`` or
        ``{values = [...]}``; nested tables as TOML gives dotted keys); default
        ``scenario.sweep``.
    max_points : int
        Refuse grids with more points than this.

    Raises
    ------
    ConfigError
        Naming the file, the key path (``sweep.margin[3]``), the rule, the value and the fix.
    """
    file = scenario.source
    _check_int(max_points, "max_points", 1, "Pass a whole number such as 1000.")
    if max_points > MAX_POINTS_CEILING:
        raise ConfigError(None, "max_points", f"must be at most {MAX_POINTS_CEILING:,}",
                          max_points, "A grid that large would not finish; sweep fewer "
                          "values, or split the grid into several sweeps.")
    # The size first, from the table alone: a `num` of 10^10 must not make 10^10 values.
    _check_cells(scenario, _check_points(file, scenario.sweep if grid is None else grid,
                                         max_points))
    keys, cache = _grid_keys(scenario, grid)
    scenarios = []
    for combo in itertools.product(*(k.values for k in keys)):
        assign = [(k.input, k.param, v) for k, v in zip(keys, combo)]
        where = ", ".join(f"{k.key} = {_show(v)}" for k, v in zip(keys, combo))
        scenarios.append(_apply(scenario, assign, file, "sweep", f"at the point {where}: ",
                                cache=cache))
    return SweepGrid(keys=tuple(keys), scenarios=tuple(scenarios))


def pin(scenario: Scenario, values: Mapping[str, Any]) -> Scenario:
    """The scenario with inputs pinned or distribution parameters replaced.

    Parameters
    ----------
    scenario : Scenario
    values : mapping
        ``{key: value}`` with sweep keys: ``{"margin": 0.4}`` pins margin to 0.4 (its
        distribution becomes the fixed number), ``{"gpu_spend.ci90": [100, 200]}`` replaces one
        parameter (``Distribution.replace``), ``{"revenue.Microsoft": 12}`` pins a company.

    Returns
    -------
    Scenario
        Same name, source and text (provenance); only the named inputs differ. A sweep point is
        ``pin(scenario, {key: value, ...})`` of its coordinates.
    """
    file = scenario.source
    assign = []
    for key, value in values.items():
        name, param = _resolve(scenario, file, str(key))
        if param is not None:
            _check_param(scenario, file, key, name, param)
        pair = param is not None and _CI_PARAM.fullmatch(param) is not None
        assign.append((name, param, _values(file, key, [value], pair)[0]))
    return _apply(scenario, assign, file, "pin")


def _flatten(file: str, table: Mapping[str, Any], prefix: str):
    """(dotted key, spec) pairs: TOML turns ``gpu_spend.ci90 = ...`` into nested tables."""
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and not (set(v) & {*_RANGE_KEYS, "values"}):
            if not v:
                raise ConfigError(file, f"sweep.{key}", "is an empty table", "{}",
                                  "Give values, e.g. `margin = [0.3, 0.5]`.")
            yield from _flatten(file, v, f"{key}.")
        else:
            yield key, v


def _resolve(scenario: Scenario, file: str, key: str) -> tuple[str, str | None]:
    """Split a sweep key into (input name, parameter or None)."""
    names = [item.name for item in scenario.all_inputs]
    best = None
    for n in names:
        if (key == n or key.startswith(n + ".")) and (best is None or len(n) > len(best)):
            best = n
    if best is None:
        by_year = [n for n in names if n.startswith(key + ".") and n[len(key) + 1:].isdigit()]
        if by_year and scenario.model == "vintage":  # given year by year: revenue.OpenAI
            raise ConfigError(file, f"sweep.{key}", "is given year by year in this config, so "
                                                    "it is several inputs", None,
                              f"Sweep one year's input: {', '.join(by_year)}.")
        head = key[len("inputs."):] if key.startswith("inputs.") else key
        close = difflib.get_close_matches(head, names, n=1, cutoff=0.6)
        if not close and "." in head:  # a parameter of a misspelt input: gpu_spnd.ci90
            first, rest = head.split(".", 1)
            hit = difflib.get_close_matches(first, names, n=1, cutoff=0.6)
            close = [f"{hit[0]}.{rest}"] if hit else []
        hint = f" Did you mean `{close[0]}`?" if close else ""
        valid = ", ".join(names)
        raise ConfigError(file, f"sweep.{key}", "unknown input", None,
                          f"Sweep keys name an input or `input.parameter`; the inputs here are: "
                          f"{valid}.{hint}")
    param = key[len(best) + 1:] or None
    return best, param


def _check_param(scenario: Scenario, file: str, key: str, name: str, param: str) -> None:
    d = scenario.input(name).dist
    if not isinstance(d.spec, Mapping):
        raise ConfigError(
            file, f"sweep.{key}", f"{name} is the fixed number {_num(d.param('value'))} in "
                                  "this config, so it has no parameter to sweep", None,
            f"Sweep the input itself (`{name} = [...]`), or give it a distribution table.")
    if param == "dist":
        raise ConfigError(file, f"sweep.{key}", "the distribution family cannot be swept", None,
                          "Sweep a numeric parameter (e.g. mode, ci90) or pin the input.")
    probe: Any = d.spec.get(param, [1.0, 2.0] if _CI_PARAM.fullmatch(param) else 1.0)
    try:
        d.replace(param, probe)
    except DistributionError as exc:
        if exc.rule.startswith("unknown parameter"):
            raise ConfigError(file, f"sweep.{key}",
                              f"unknown parameter of {name} (a {d.family} distribution)", None,
                              exc.fix) from None


def _values(file: str, key: str, spec: Any, pair: bool) -> list:
    path = f"sweep.{key}"
    fix = ("Write a list such as [0.3, 0.5, 0.7], or { start = 0.3, stop = 0.7, num = 5 }, or "
           "{ values = [...] }.")
    if pair:
        fix = "Write a list of [lo, hi] pairs, e.g. [[100, 200], [150, 300]]."
    if isinstance(spec, Mapping):
        if "values" in spec:
            if set(spec) != {"values"}:
                raise ConfigError(file, path, "give either values or start/stop/num, not both",
                                  dict(spec), fix)
            spec = spec["values"]
            if not isinstance(spec, list):
                raise ConfigError(file, f"{path}.values", "must be a list", spec, fix)
        else:
            for k in spec:
                if k not in _RANGE_KEYS:
                    close = difflib.get_close_matches(str(k), [*_RANGE_KEYS, "values"], n=1)
                    hint = f" Did you mean `{close[0]}`?" if close else ""
                    raise ConfigError(file, f"{path}.{k}", "unknown key", None,
                                      f"Valid keys here: start, stop, num, or values.{hint}")
            if pair:
                raise ConfigError(file, path, f"{key.rsplit('.', 1)[-1]} takes [lo, hi] pairs, "
                                              "which start/stop/num cannot generate", dict(spec),
                                  fix)
            missing = [k for k in _RANGE_KEYS if k not in spec]
            if missing:
                raise ConfigError(file, path, f"needs start, stop and num; missing "
                                              f"{', '.join(missing)}", dict(spec),
                                  "Write e.g. { start = 1, stop = 6, num = 6 } (num evenly "
                                  "spaced values from start to stop, both included).")
            start = _finite(file, f"{path}.start", spec["start"], fix)
            stop = _finite(file, f"{path}.stop", spec["stop"], fix)
            num = spec["num"]
            if isinstance(num, bool) or not isinstance(num, int):
                raise ConfigError(file, f"{path}.num", "must be a whole number", num,
                                  "Give the number of values, e.g. num = 5.")
            if num < 1:
                raise ConfigError(file, f"{path}.num", "must be >= 1", num,
                                  "Give the number of values, e.g. num = 5.")
            # Rounded to 12 significant digits, so that 0.3 .. 0.7 in 5 steps gives 0.6, not
            # 0.6000000000000001: a coordinate a user can select and retype.
            spec = [float(f"{x:.12g}") for x in np.linspace(start, stop, num)]
    if not isinstance(spec, list):
        raise ConfigError(file, path, "must be a list of values, or a table { start, stop, num } "
                                      "or { values = [...] }", spec, fix)
    if not spec:
        raise ConfigError(file, path, "is an empty list", "[]", "Give at least one value.")
    out: list = []
    for i, v in enumerate(spec):
        where = f"{path}[{i}]"
        if pair:
            if not isinstance(v, (list, tuple)) or len(v) != 2:
                raise ConfigError(file, where, "must be a pair [lo, hi]", v, fix)
            item: Any = (_finite(file, where, v[0], fix), _finite(file, where, v[1], fix))
        else:
            item = _finite(file, where, v, fix)
        if item in out:
            raise ConfigError(file, where, f"repeats the value at [{out.index(item)}]", v,
                              "Give each value once (a coordinate must be unique).")
        out.append(item)
    return out


def _finite(file: str, key: str, v: Any, fix: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        kind = "a boolean" if isinstance(v, bool) else f"a {type(v).__name__}"
        raise ConfigError(file, key, f"must be a number, not {kind}", v, fix)
    if not math.isfinite(v):
        raise ConfigError(file, key, "must be a finite number", v, fix)
    return float(v)


def _apply(scenario: Scenario, assign: Sequence[tuple[str, str | None, Any]], file: str,
           errkey: str, context: str = "", cache: dict | None = None) -> Scenario:
    """The scenario with each (input, param or None, value) applied, validated."""
    by_input: dict[str, list[tuple[str | None, Any]]] = {}
    for name, param, value in assign:
        by_input.setdefault(name, []).append((param, value))
    new: dict[str, Input] = {}
    for name, items in by_input.items():
        ck = (name, tuple(items))
        if cache is not None and ck in cache:
            new[name] = cache[ck]
            continue
        d = scenario.input(name).dist
        shown = _raw(items[0][1]) if len(items) == 1 else None
        try:
            if items[0][0] is None:  # pin: the distribution becomes the fixed number
                nd = distributions.parse(d.key, items[0][1])
            else:
                spec = dict(d.spec)  # type: ignore[arg-type]  # checked by _check_param
                for p, v in items[:-1]:
                    spec[p] = list(v) if isinstance(v, tuple) else v
                p, v = items[-1]
                # replace() drops the keys of the parameterisation the last key does not
                # belong to; the earlier keys are set first so that no intermediate spec is
                # validated on its own.
                nd = dataclasses.replace(d, spec=spec).replace(
                    p, list(v) if isinstance(v, tuple) else v)
        except DistributionError as exc:
            raise ConfigError(file, errkey, f"{context}makes {name} invalid: {exc.rule} "
                                            f"({exc.key})", shown, exc.fix) from None
        _check_range(file, errkey, context, name, nd, shown)
        new[name] = Input(name=name, dist=nd)
        if cache is not None:
            cache[ck] = new[name]
    return dataclasses.replace(
        scenario,
        inputs=tuple(new.get(i.name, i) for i in scenario.inputs),
        revenue=tuple(new.get(i.name, i) for i in scenario.revenue))


def _check_range(file: str, errkey: str, context: str, name: str, d: Distribution,
                 shown: Any) -> None:
    try:
        rule = input_rule(name)
    except KeyError:  # an input of a model added at run time: no range is known for it
        return
    lo, hi = (float(v) for v in d.ppf(np.array([_U_MIN, _U_MAX])))
    if rule.admits(lo, hi):
        return
    if d.is_fixed:
        what = f"pins {name} to {_num(lo)}"
    else:
        what = (f"makes {name}'s {d.family} distribution produce values from {_num(lo)} to "
                f"{_num(hi)}")
    raise ConfigError(file, errkey, f"{context}{what}, outside {rule.describe()} ({rule.meaning})",
                      shown, "Keep every value inside the input's range (a margin below 1, a "
                             "positive life, non-negative spend and revenue, growth above "
                             "-1).")


# ------------------------------------------------------------------------------ running points


def points_per_group(max_memory_mib: float = DEFAULT_MAX_MEMORY_MIB,
                     layout: Layout = ONE_YEAR_LAYOUT) -> int:
    """How many points one pass may hold within ``max_memory_mib`` MiB of accumulators.

    Per point, a pass holds one quantile sketch per flat output of the model (`layout`: 6 for
    the one-year model, 11 per reported year for the vintage model) and per possible numba
    thread (``NUMBA_NUM_THREADS`` rows, plus their sum): ``(threads + 1) x outputs x 131,075 x
    8`` bytes, about 6.3 MB per thread row for the one-year model (104 MB for a 9-year vintage
    model), plus ``WAVE_TRIALS / BLOCK`` block records of moments. At least one point runs per
    pass, even when that one point needs more than the budget.
    """
    if isinstance(max_memory_mib, bool) or not isinstance(max_memory_mib, (int, float)) \
            or not (math.isfinite(max_memory_mib) and max_memory_mib > 0):
        raise ConfigError(None, "max_memory", "must be a positive number of MiB", max_memory_mib,
                          "Pass e.g. --max-memory 1024.")
    return max(1, int(max_memory_mib * 2**20 // bytes_per_point(layout)))


def bytes_per_point(layout: Layout = ONE_YEAR_LAYOUT) -> int:
    """Accumulator bytes one point of a model with this `layout` takes during a pass (see
    :func:`points_per_group`); :func:`plan_layout` gives a scenario's layout."""
    rows = numba.config.NUMBA_NUM_THREADS + 1
    wave_blocks = WAVE_TRIALS // BLOCK
    n_out = layout.n_outputs
    return rows * n_out * SK_NBINS * 8 + wave_blocks * n_out * (N_MOM + 1) * 8


def plan_layout(scenario: Scenario) -> Layout:
    """What the model of `scenario` writes (outputs x years for the vintage model)."""
    return make_plan(scenario).layout


def group_edges(points: Sequence[Scenario], max_memory_mib: float = DEFAULT_MAX_MEMORY_MIB
                ) -> list[int]:
    """How a sweep's points split into passes: pass g runs ``points[edges[g]:edges[g + 1]]``.

    A pass holds ``NUMBA_NUM_THREADS + 1`` sketch rows of ``SK_NBINS`` counts (8 bytes each)
    per output a point computes itself, plus its block records (:func:`bytes_per_point`).
    The runner computes an output once for all the points of a pass where it is the same
    numbers, for a model that says what its outputs depend on (:func:`engine.core.runner.
    live_rows`: along a one-year margin sweep, capex, AI revenue and spend/revenue are one
    output for every point), so a pass takes as many points as their own rows fit, at least
    one. Other models: equal passes of :func:`points_per_group` points.
    """
    n = len(points)
    per_point = points_per_group(max_memory_mib, plan_layout(points[0]))  # validates the budget
    plan = make_plan(list(points))
    if plan.model.output_inputs is None:
        n_groups = -(-n // per_point)
        return [round(g * n / n_groups) for g in range(n_groups + 1)]
    row = (numba.config.NUMBA_NUM_THREADS + 1) * SK_NBINS * 8
    records = (WAVE_TRIALS // BLOCK) * plan.layout.n_outputs * (N_MOM + 1) * 8
    budget = max_memory_mib * 2**20

    def fits(lo: int, hi: int) -> bool:
        own = int(live_rows(plan, lo, hi).sum())
        return own * row + (hi - lo) * records <= budget

    edges = [0]
    while edges[-1] < n:
        # the most points that fit (more points never need less): gallop, then bisect
        lo = edges[-1]
        good, bad, step = lo + 1, n + 1, 1
        while good < n:
            cand = min(n, good + step)
            if not fits(lo, cand):
                bad = cand
                break
            good, step = cand, 2 * step
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if fits(lo, mid) else (good, mid)
        edges.append(good)
    return edges


def n_passes(points: Sequence[Scenario], max_memory_mib: float = DEFAULT_MAX_MEMORY_MIB
             ) -> int:
    """Passes (groups of points) that a run of these points takes (:func:`group_edges`)."""
    return len(group_edges(points, max_memory_mib)) - 1


@dataclass
class _Flat:
    """Results of P points: every variable with a leading point axis, and the gap sketch."""

    vars: dict[str, tuple[tuple[str, ...], np.ndarray, dict]]  # name -> (dims after point, ..)
    hist: np.ndarray           # int64[P, ..., b1 - b0]: gap sketch counts, global bins b0 ..
    b0: int
    hist_dims: tuple[str, ...]  # dims of hist between point and gap_bin: () or ("year",)
    coords: dict[str, Any]     # quantile, bound, the model's dim (year) as build_dataset made
    layout: Layout
    attrs: dict[str, Any]
    trials: int
    n_groups: int


def _run_points(base: Scenario, scenarios: Sequence[Scenario], *, trials: int | None,
                seed: int | None, threads: int | None, chunk_size: int,
                max_memory_mib: float, progress: ProgressFn | None,
                target: Any = None, max_trials: int | None = None) -> _Flat:
    """Run every scenario as one point of a plan, in as few passes as memory allows.

    With a precision `target` (:class:`engine.precision.Target`) each group of points runs
    until every one of its points meets it (a group never stops before the trial count an
    earlier group needed), then groups that stopped earlier are run again at the final count:
    every point gets the same trials N, and a point is identical to a fixed run of N.
    """
    seed = base.seed if seed is None else seed
    if target is None:
        trials = base.trials if trials is None else trials
        _check_run_args(trials, seed, chunk_size)
    else:
        cap = SWEEP_MAX_TRIALS if max_trials is None else max_trials
        _check_run_args(cap, seed, chunk_size)
    n = len(scenarios)
    layout = plan_layout(scenarios[0])
    edges = group_edges(scenarios, max_memory_mib)
    n_groups = len(edges) - 1
    compile_s = 0.0
    start = time.perf_counter()
    done_before = 0  # point-trials of the groups already run (progress)

    def run_group(g: int, n_trials: int, monitor: Any = None) -> tuple[xr.Dataset, int]:
        nonlocal compile_s, done_before
        lo, hi = edges[g], edges[g + 1]

        def _progress(done: int, size: int = hi - lo, base_: int = done_before) -> None:
            if progress is not None:
                progress(base_ + done * size)

        totals = run_plan(make_plan(list(scenarios[lo:hi])), trials=n_trials, seed=seed,
                          threads=threads, chunk_size=chunk_size, progress=_progress,
                          monitor=monitor)
        if monitor is not None:  # stopped by its target: a complete run of those trials
            totals = dataclasses.replace(totals, completed=True)
        part = build_dataset(base, totals, seed=seed, requested_trials=totals.trials,
                             run_attrs={"threads": numba.get_num_threads(),
                                        "chunk_size": chunk_size, "compile_s": 0.0},
                             point_dims={"point": np.arange(lo, hi)})
        compile_s += float(totals.extra.get("compile_s", 0.0))
        done_before += totals.trials * (hi - lo)
        return part, totals.trials

    if target is None:
        parts = [run_group(g, trials)[0] for g in range(n_groups)]
    else:
        from engine.analyses.precision import _McMonitor
        runs = []
        at_least = 0
        for g in range(n_groups):
            monitor = _McMonitor(target, cap, pilot_end=None, at_least=at_least)
            runs.append(run_group(g, cap, monitor))
            at_least = max(at_least, runs[-1][1])
        final = max(k for _, k in runs)
        parts = [part if k == final else run_group(g, final)[0]
                 for g, (part, k) in enumerate(runs)]
    vals: dict[str, list[np.ndarray]] = {}
    meta: dict[str, tuple[tuple[str, ...], dict]] = {}
    hists: list[tuple[int, np.ndarray]] = []  # (first global bin, counts[points, ..., bins])
    for part in parts:
        for name, var in part.data_vars.items():
            if name == "gap_hist":
                b0 = int(np.searchsorted(_BIN_LOWER, part["gap_bin_lower"].values[0]))
                hists.append((b0, var.values))
                continue
            vals.setdefault(name, []).append(var.values)
            meta[name] = (var.dims[1:], dict(var.attrs))
    first = parts[0]
    b0 = min(b for b, _ in hists)
    b1 = max(b + h.shape[-1] for b, h in hists)
    hist = np.zeros((n,) + hists[0][1].shape[1:-1] + (b1 - b0,), dtype=np.int64)
    row = 0
    for b, h in hists:
        hist[row:row + h.shape[0], ..., b - b0:b - b0 + h.shape[-1]] = h
        row += h.shape[0]
    attrs = dict(first.attrs)
    # As for a quote: elapsed_s is the run, compile_s the kernels' compile/load (run attrs).
    attrs["compile_s"] = round(compile_s, 3)
    attrs["elapsed_s"] = time.perf_counter() - start - compile_s
    if target is not None:
        hits = np.concatenate(vals["hits"])
        n_final = int(first.attrs["trials"])
        ok = [target.met(int(h) / n_final, *proportion_interval(int(h), n_final)[:2])
              for h in hits]
        attrs["precision_target"] = target.describe() + ", every point"
        attrs["precision_met"] = np.int8(1 if all(ok) else 0)
        attrs["precision_max_trials"] = np.int64(cap)
        attrs["precision_stop"] = (f"met at every point after {n_final:,} trials" if all(ok)
                                   else f"NOT met at {len(ok) - sum(ok)} of {len(ok)} points: "
                                        + ("the cap of " if n_final >= cap else "stopped at ")
                                        + f"{n_final:,} trials")
    # quantile, bound and the model's own dimension (year); the gap bins are per selection.
    coords = {name: first[name].variable.copy() for name in first.coords
              if name not in ("point", "gap_bin_lower", "gap_bin_upper")}
    return _Flat(vars={k: (meta[k][0], np.concatenate(v), meta[k][1]) for k, v in vals.items()},
                 hist=hist, b0=b0, hist_dims=tuple(first["gap_hist"].dims[1:-1]), coords=coords,
                 layout=layout, attrs=attrs, trials=int(first.attrs["trials"]),
                 n_groups=n_groups)


def _hist_range(counts: np.ndarray, b0: int) -> tuple[int, int]:
    """Global [lo, hi) of the non-empty bins of counts (summed over points), as build_dataset."""
    nz = np.flatnonzero(counts.reshape(-1, counts.shape[-1]).sum(axis=0))
    if nz.size == 0:
        return SK_NBINS // 2, SK_NBINS // 2 + 1
    return b0 + int(nz[0]), b0 + int(nz[-1]) + 1


def _hist_slice(counts: np.ndarray, b0: int, lo: int, hi: int) -> np.ndarray:
    """counts (bins b0 ..) re-expressed on global bins lo .. hi-1 (zeros outside)."""
    out = np.zeros(counts.shape[:-1] + (hi - lo,), dtype=np.int64)
    a, b = max(lo, b0), min(hi, b0 + counts.shape[-1])
    if a < b:
        out[..., a - lo:b - lo] = counts[..., a - b0:b - b0]
    return out


def _ci_method(hits: np.ndarray, trials: int) -> str:
    return "; ".join(sorted({proportion_interval(int(h), trials)[2]
                             for h in np.asarray(hits).reshape(-1)}))


def _shaped(flat: _Flat, idx: Sequence[int], dims: tuple[str, ...], shape: tuple[int, ...],
            prefix: str = "", bins: tuple[int, int] | None = None) -> tuple[dict, dict]:
    """Data variables and gap-bin coordinates of the points `idx`, reshaped to `shape`."""
    idx = np.asarray(idx, dtype=np.int64)
    data: dict[str, Any] = {}
    for name, (rest, values, attrs) in flat.vars.items():
        v = values[idx]
        data[prefix + name] = (dims + rest, v.reshape(shape + v.shape[1:]), dict(attrs))
    data[prefix + "p_cover_ci95"][2]["method"] = _ci_method(flat.vars["hits"][1][idx],
                                                            flat.trials)
    lo, hi = bins if bins is not None else _hist_range(flat.hist[idx], flat.b0)
    gh = _hist_slice(flat.hist[idx], flat.b0, lo, hi)
    data[prefix + "gap_hist"] = (dims + flat.hist_dims + ("gap_bin",),
                                 gh.reshape(shape + gh.shape[1:]), {
        "long_name": "trials per gap bin (log-linear sketch)", "units": "1"})
    coords = {"gap_bin_lower": ("gap_bin", _BIN_LOWER[lo:hi], {"units": _MONEY}),
              "gap_bin_upper": ("gap_bin", _BIN_UPPER[lo:hi], {"units": _MONEY})}
    return data, coords


# ---------------------------------------------------------------------------------- sweep


def sweep(scenario: Scenario, grid: Mapping[str, Any] | SweepGrid | None = None, *,
          trials: int | None = None, seed: int | None = None, threads: int | None = None,
          chunk_size: int = DEFAULT_CHUNK, max_points: int = MAX_POINTS,
          max_memory_mib: float = DEFAULT_MAX_MEMORY_MIB,
          progress: ProgressFn | None = None, precision: float | None = None,
          abs_precision: float | None = None, max_trials: int | None = None) -> xr.Dataset:
    """Run every point of a sweep grid on the same trials; one labelled Dataset.

    Parameters
    ----------
    scenario : Scenario
        The base scenario (``[sweep]`` is its grid unless `grid` is given).
    grid : mapping or SweepGrid, optional
        ``{key: values}`` in the ``[sweep]`` syntax, or a grid from :func:`sweep_grid`.
    trials, seed : int, optional
        Override the scenario's defaults; every point runs these same trials.
    threads, chunk_size
        As for :func:`engine.simulate`; never change the result.
    max_points : int
        Refuse larger grids (ConfigError naming the product and the limit).
    max_memory_mib : float
        Budget for one pass's accumulators; points beyond it run in further passes (groups).
        Never changes the result.
    progress : callable, optional
        Called with the number of point-trials done (of ``trials x points``).
    precision, abs_precision : float, optional
        Instead of `trials`: run (plain Monte Carlo) until the 95% interval of P(cover) at
        *every* point is within these relative / absolute half-widths (as
        :func:`engine.precision.quote`), or until `max_trials` per point (default
        :data:`SWEEP_MAX_TRIALS`). Every point gets the same trials N and is identical to a
        fixed sweep of N trials (attributes ``precision_*`` apart). A point whose P(cover) is 0
        never meets a relative target: give `abs_precision` for grids with such points.

    Returns
    -------
    xarray.Dataset
        Every variable of :func:`engine.simulate`, with one leading dimension per swept key
        (named after it, in file order; its values as coordinate). A ``ciNN`` key's coordinate
        is the index 0..n-1 of its pairs, with the pairs as coordinates ``<key>_lo`` and
        ``<key>_hi``. Attributes as for a quote, plus ``analysis = "sweep"`` and
        ``sweep_dims`` (a JSON list of the swept keys). :func:`sweep_point` gives back one
        point as ``simulate`` returns it. For the vintage model the quote's ``year``
        dimension follows the swept ones (``gap_hist``: swept dims, ``year``, ``gap_bin``).
    """
    target = _target(scenario, trials, precision, abs_precision, max_trials)
    g = grid if isinstance(grid, SweepGrid) else sweep_grid(scenario, grid, max_points=max_points)
    flat = _run_points(scenario, g.scenarios, trials=trials, seed=seed, threads=threads,
                       chunk_size=chunk_size, max_memory_mib=max_memory_mib, progress=progress,
                       target=target, max_trials=max_trials)
    data, coords = _shaped(flat, range(g.n_points), g.dims, g.shape)
    coords.update(flat.coords)
    for k in g.keys:
        d = scenario.input(k.input).dist
        what = (f"{k.input} pinned to this value" if k.param is None
                else f"{k.param} of {k.input}'s distribution ({d.family} in the config)")
        if k.is_pair:
            coords[k.key] = (k.key, np.arange(len(k.values), dtype=np.int64), {
                "long_name": f"index of the {k.key} pairs (see {k.key}_lo, {k.key}_hi)",
                "units": "1", "sweep": what})
            for end, j in (("lo", 0), ("hi", 1)):
                coords[f"{k.key}_{end}"] = (k.key, np.array([v[j] for v in k.values]), {
                    "long_name": f"{'lower' if j == 0 else 'upper'} end of {k.key}",
                    "units": k.units})
        else:
            coords[k.key] = (k.key, np.array(k.values, dtype=np.float64),
                             {"long_name": what, "units": k.units, "sweep": what})
    attrs = dict(flat.attrs)
    attrs["analysis"] = "sweep"
    attrs["sweep_dims"] = json.dumps(list(g.dims))
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _target(scenario: Scenario, trials: int | None, precision: float | None,
            abs_precision: float | None, max_trials: int | None, flags: bool = False) -> Any:
    """The precision target of a sweep (validated as for a quote), or None."""
    from engine.analyses.precision import check_options

    return check_options(scenario, method="mc", trials=trials, precision=precision,
                         abs_precision=abs_precision, max_trials=max_trials, flags=flags)


def sweep_point(ds: xr.Dataset, indexers: Mapping[str, Any] | None = None,
                **indexers_kwargs: Any) -> xr.Dataset:
    """One point of a sweep, exactly as :func:`engine.simulate` returns its scenario.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`sweep` (or read back from NetCDF).
    indexers : mapping, optional
        One coordinate value per swept key (``{"revenue.Microsoft": 10}``); keyword arguments
        for names that are identifiers (``margin=0.4``). A ``ciNN`` key is selected by index.

    Returns
    -------
    xarray.Dataset
        Scalar variables (per ``year`` for the vintage model), ``gap_hist`` trimmed to the
        point's own bins, the interval method of the point, sweep coordinates and attributes
        dropped: ``assert_identical`` with a separate ``simulate`` of ``pin(scenario, point)``
        (after ``strip_run_attrs``).
    """
    sel = dict(indexers or {}, **indexers_kwargs)
    dims = json.loads(ds.attrs.get("sweep_dims", "[]"))
    missing = [d for d in dims if d not in sel]
    unknown = [k for k in sel if k not in dims]
    if missing or unknown:
        raise ValueError(f"select one value of every swept key {dims}; "
                         f"missing {missing}, unknown {unknown}")
    one = ds.sel(sel)
    # The swept keys' coordinates (scalars now) and a ciNN key's _lo/_hi; the model's own
    # coordinates (quantile, bound, year) stay.
    swept = set(dims) | {f"{d}_{end}" for d in dims for end in ("lo", "hi")}
    one = one.drop_vars([c for c in one.coords if c in swept])
    counts = one["gap_hist"].values  # [..., gap_bin]: (year,) first for the vintage model
    b0 = int(np.searchsorted(_BIN_LOWER, one["gap_bin_lower"].values[0]))
    lo, hi = _hist_range(counts, b0)
    gh = _hist_slice(counts, b0, lo, hi)
    hist_dims = one["gap_hist"].dims
    one = one.drop_vars(["gap_hist", "gap_bin_lower", "gap_bin_upper"])
    one["gap_hist"] = xr.Variable(hist_dims, gh, dict(ds["gap_hist"].attrs))
    one = one.assign_coords(gap_bin_lower=("gap_bin", _BIN_LOWER[lo:hi], {"units": _MONEY}),
                            gap_bin_upper=("gap_bin", _BIN_UPPER[lo:hi], {"units": _MONEY}))
    ci = one["p_cover_ci95"].variable.copy(deep=False)
    ci.attrs = {**ci.attrs, "method": _ci_method(one["hits"].values, int(ds.attrs["trials"]))}
    one["p_cover_ci95"] = ci
    one.attrs = {k: v for k, v in ds.attrs.items() if k not in _SWEEP_ATTRS}
    return one


def _check_int(value: Any, key: str, lo: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ConfigError(None, key, f"must be a whole number >= {lo}", value, fix)


def _input_units(name: str) -> str:
    """Units of an input of either model: ``revenue.<company>[.<year>]`` and
    ``gpu_spend[.<year>]`` are money, growth rates (vintage) are per year."""
    if name.startswith("revenue."):
        return _MONEY
    if name.startswith(("revenue_growth.", "gpu_spend_growth")):
        return "1/year"
    return _INPUT_UNITS.get(name.split(".", 1)[0], "1")


def _num(x: float) -> str:
    return f"{x:.6g}"


def _raw(v: Any) -> Any:
    """A value as the user wrote it, for messages (pairs as lists)."""
    return [v[0], v[1]] if isinstance(v, tuple) else v


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return f"[{_num(v[0])}, {_num(v[1])}]"
    if isinstance(v, float):
        return _num(v)
    return str(v)
