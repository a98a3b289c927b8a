"""The sweep grid: a ``[sweep]`` table read, checked, and made into one scenario per point.

:class:`SweepKey`, :class:`SweepGrid`, :func:`sweep_grid`, :func:`pin` and
:func:`check_sweep_table`, with the checks of every key and value (a ConfigError naming the key
path, the rule, the value and the fix). :mod:`engine.analyses.sweeps` runs the points (with
:mod:`engine.analyses.points`) and re-exports these names.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

import distributions
from distributions import Distribution, DistributionError

from engine.models.input_rules import _U_MAX, _U_MIN, input_rule
from engine.core.scenario import Input, Scenario
from engine.base.errors import ConfigError
from engine.models.one_year import OUTPUT_ATTRS

from . import corr_sweep

#: Largest grid `sweep` runs unless told otherwise (a guard against runaway products).
MAX_POINTS = 1000
#: The most `max_points` may be raised to: every point is a scenario held in memory and a row
#: of the plan, and runs every trial.
MAX_POINTS_CEILING = 100_000
#: Largest plan (points x inputs) a sweep or tornado builds: about 1 GB with its scenarios.
MAX_PLAN_CELLS = 10**7

_MONEY = OUTPUT_ATTRS["capex"]["units"]
_RANGE_KEYS = ("start", "stop", "num")
_CI_PARAM = re.compile(r"ci\d{1,2}(?:\.\d+)?")
_INPUT_UNITS = {"gpu_spend": _MONEY, "energy_ratio": "1", "margin": "1", "useful_life": "year",
                "cost_of_capital": "1/year", "generation_years": "year",
                "perf_per_dollar_gain": "1"}
_LOG_PARAMS = ("mu",)
_SHAPE_PARAMS = ("sigma", "lambda", "alpha", "beta")


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
        if param is not None and name != corr_sweep.NAME:
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
        if param is not None and name != corr_sweep.NAME:
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
    if corr_sweep.is_key(key):
        return corr_sweep.resolve(scenario, file, key)
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
    corr, assign = corr_sweep.split(assign)
    if corr:
        scenario = corr_sweep.apply(scenario, corr, file, errkey, context)
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
