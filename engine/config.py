"""TOML config -> validated, frozen :class:`Scenario`.

Validation happens here, once, at the edge: nothing downstream re-checks. Every error is a
:class:`~engine.errors.ConfigError` naming the file, the key path, the rule, the value and the fix.

The public format (DESIGN.md §4b)::

    [scenario]   name, description, trials, seed, quantiles
    [inputs]     gpu_spend, energy_ratio, margin, useful_life | (generation_years,
                 perf_per_dollar_gain), cost_of_capital   -- a number or a distribution table
    [revenue]    one entry per company, free-text names
    [sweep]      optional grid for `capexgap sweep` (kept as given; validated by the sweep code)

``[scenario] model`` picks the model: ``"one-year"`` (the default, above) or ``"vintage"`` (the
multi-year cohort model; its keys are read by :func:`engine.vintage.build_scenario`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

import distributions as dist_mod
from distributions import Distribution, DistributionError

from .errors import ConfigError

#: Quantile levels reported unless the config asks for others.
DEFAULT_QUANTILES: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
DEFAULT_TRIALS = 1_000_000
DEFAULT_SEED = 1
#: Most trials one run may ask for: moments count trials in float64, exact up to 2**53.
MAX_TRIALS = 2**53
#: The bundled default scenario of `capexgap quote` with no config.
DEFAULT_CONFIG = "ai-capex-2024.toml"

# Smallest and largest uniforms the generator can produce (53-bit grid, open interval): the
# support checks below use the values a distribution can really produce in the kernel.
_U_MIN = 2.0**-53
_U_MAX = 1.0 - 2.0**-53

_TOP_KEYS = ("scenario", "inputs", "revenue", "revenue_growth", "sweep")
_SCENARIO_KEYS = ("name", "description", "trials", "seed", "quantiles", "model", "years")
_MODELS = ("one-year", "vintage")
#: Keys that only the vintage model reads: (where, key).
_VINTAGE_ONLY = (("scenario", "years"), ("", "revenue_growth"))


@dataclass(frozen=True)
class InputRule:
    """What values an economic input may take."""

    lo: float
    hi: float
    lo_open: bool
    hi_open: bool
    meaning: str
    default: float | None

    def describe(self) -> str:
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"{left}{_num(self.lo)}, {_num(self.hi)}{right}"

    def admits(self, lo: float, hi: float) -> bool:
        ok_lo = lo > self.lo if self.lo_open else lo >= self.lo
        ok_hi = hi < self.hi if self.hi_open else hi <= self.hi
        return ok_lo and ok_hi


INF = math.inf
#: The economic inputs of the one-year model (DESIGN.md §1), with their allowed ranges.
INPUT_RULES: Mapping[str, InputRule] = MappingProxyType({
    "gpu_spend": InputRule(0.0, INF, False, True,
                           "annual spend on data-center GPUs, $B/yr", None),
    "energy_ratio": InputRule(0.0, INF, False, True,
                              "other data-center cost per $1 of GPU", None),
    "margin": InputRule(0.0, 1.0, False, True, "end users' gross margin", None),
    "useful_life": InputRule(0.0, INF, True, True,
                             "years over which a year of capex is paid back", 1.0),
    "cost_of_capital": InputRule(0.0, INF, False, True, "annual rate", 0.0),
    "generation_years": InputRule(0.0, INF, True, True, "years between GPU generations", None),
    "perf_per_dollar_gain": InputRule(1.0, INF, True, True,
                                      "performance per dollar gained each generation", None),
})
REQUIRED_INPUTS = ("gpu_spend", "energy_ratio", "margin")
REVENUE_RULE = InputRule(0.0, INF, False, True, "annual AI revenue, $B/yr", None)
#: Annual growth rates (vintage model): above -1, so that a series stays positive.
GROWTH_RULE = InputRule(-1.0, INF, True, True, "annual growth rate, above -1 (-0.2 = -20% a year)",
                        None)


def input_rule(name: str) -> InputRule:
    """The allowed range of the input called `name`, for either model.

    ``revenue.<company>`` (and ``revenue.<company>.<year>``) -> :data:`REVENUE_RULE`;
    ``gpu_spend_growth``/``revenue_growth.<company>`` (and ``.<year>``) -> :data:`GROWTH_RULE`;
    ``gpu_spend.<year>`` -> the rule of ``gpu_spend``; otherwise :data:`INPUT_RULES`.
    """
    if name.startswith("revenue."):
        return REVENUE_RULE
    if name.startswith(("revenue_growth.", "gpu_spend_growth")):
        return GROWTH_RULE
    return INPUT_RULES[name.split(".", 1)[0]]


@dataclass(frozen=True)
class Input:
    """One named model input and its distribution (fixed inputs are degenerate)."""

    name: str
    dist: Distribution


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: everything a run needs, immutable.

    Attributes
    ----------
    name, description : str
        Human-readable labels from ``[scenario]``.
    trials, seed : int
        Defaults for a run; ``simulate`` arguments override them.
    depreciation : {"straight-line", "generational"}
        Straight-line/annuity over ``useful_life`` or economic decay at
        ``ln(perf_per_dollar_gain) / generation_years``.
    inputs : tuple of Input
        Economic inputs in canonical order (see :data:`INPUT_RULES`).
    revenue : tuple of Input
        One input per company, named ``revenue.<company>``, in file order.
    quantiles : tuple of float
        Quantile levels to report.
    sweep : Mapping
        The raw ``[sweep]`` table (validated by the sweep code), empty if absent.
    source, text : str
        Where the config came from and its exact text (for provenance).
    model : {"one-year", "vintage"}
        Which model the scenario runs.
    vintage : engine.vintage.VintageSpec or None
        The years and the per-year series of the vintage model (None for one-year); the series
        refer to inputs by name, so replacing an input's distribution (a sweep) is honoured.
    """

    name: str
    description: str
    trials: int
    seed: int
    depreciation: str
    inputs: tuple[Input, ...]
    revenue: tuple[Input, ...]
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    sweep: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source: str = "<string>"
    text: str = ""
    model: str = "one-year"
    vintage: Any = None

    @property
    def sha256(self) -> str:
        """sha256 of the config text (provenance)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def all_inputs(self) -> tuple[Input, ...]:
        """Economic inputs then revenues: the order of the kernel's input vector."""
        return self.inputs + self.revenue

    def input(self, name: str) -> Input:
        """Return the input called `name` (e.g. ``margin`` or ``revenue.Microsoft``)."""
        for item in self.all_inputs:
            if item.name == name:
                return item
        raise KeyError(name)


def load_config(path: str | Path | None = None) -> Scenario:
    """Read and validate a TOML config.

    Parameters
    ----------
    path : str or Path, optional
        The config file. ``None`` loads the bundled default scenario
        (``ai-capex-2024.toml``, shipped inside the package).

    Returns
    -------
    Scenario

    Raises
    ------
    ConfigError
        If the file cannot be read, is not valid TOML, or breaks any rule; the message names
        the file, the key, the rule, the value and the fix.
    """
    if path is None:
        return loads(bundled_config_text(DEFAULT_CONFIG), source=f"<bundled {DEFAULT_CONFIG}>")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), "", "file not found", None,
                          "Check the path, or run `capexgap quote` without a config for the "
                          "bundled default scenario.") from None
    except IsADirectoryError:
        raise ConfigError(str(p), "", "is a directory, not a config file", None,
                          "Pass a .toml file.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), "", f"is not UTF-8 text ({exc.reason} at byte {exc.start})",
                          None, "Save the config as UTF-8 TOML.") from None
    except OSError as exc:
        raise ConfigError(str(p), "", f"cannot be read: {exc.strerror}", None,
                          "Check the file's permissions.") from None
    return loads(text, source=str(p))


def bundled_config_text(name: str) -> str:
    """Text of a config shipped with the package.

    A wheel carries ``configs/`` as the package ``engine.configs``; an editable install or a bare
    checkout finds the same files in ``configs/`` beside ``engine/``.
    """
    try:
        return resources.files("engine.configs").joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return (Path(__file__).resolve().parent.parent / "configs" / name).read_text(
            encoding="utf-8")


def loads(text: str, source: str = "<string>") -> Scenario:
    """Validate config `text` (TOML); `source` names it in error messages."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"is not valid TOML: {exc}{_excerpt(text, str(exc))}",
                          None, "Fix the TOML syntax at the position shown (https://toml.io)."
                          ) from None
    except RecursionError:
        raise ConfigError(source, "", "is not a usable config: its arrays or tables nest too "
                          "deeply to parse", None, "A capexgap config nests at most two levels "
                          "(a table of inline tables).") from None
    return _build(doc, text, source)


_TOML_POS = re.compile(r"\(at line (\d+), column \d+\)")


def _excerpt(text: str, message: str) -> str:
    """`: line N reads "..."` for a TOML error at line N, so the message shows the key.

    tomllib's messages give a position but not the key (e.g. a duplicate key says only
    "Cannot overwrite a value (at line 9, column 15)").
    """
    lines = text.splitlines()
    if "(at end of document)" in message:
        last = [line.strip() for line in lines if line.strip()]
        return f"; its last line reads {_clip(last[-1])!r}" if last else ""
    m = _TOML_POS.search(message)
    if not m:
        return ""
    n = int(m.group(1))
    if not 1 <= n <= len(lines) or not lines[n - 1].strip():
        return ""
    return f"; line {n} reads {_clip(lines[n - 1].strip())!r}"


def _clip(line: str) -> str:
    return line if len(line) <= 80 else line[:77] + "..."


# --------------------------------------------------------------------------- validation


def _build(doc: Mapping[str, Any], text: str, source: str) -> Scenario:
    _check_keys(source, "", doc, _TOP_KEYS, what="table")
    sc = _table(source, "scenario", doc.get("scenario", {}))
    _check_keys(source, "scenario", sc, _SCENARIO_KEYS)
    model = sc.get("model", "one-year")
    if model not in _MODELS:
        close = difflib.get_close_matches(str(model), _MODELS, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise ConfigError(source, "scenario.model", "unknown model", model,
                          f"Valid models: {', '.join(_MODELS)}.{hint}")
    name = _string(source, "scenario.name", sc.get("name", Path(source).stem))
    description = _string(source, "scenario.description", sc.get("description", ""))
    trials = _int(source, "scenario.trials", sc.get("trials", DEFAULT_TRIALS), lo=1,
                  hi=MAX_TRIALS, cap="2**53 (9,007,199,254,740,992)",
                  fix="Set trials to a positive whole number such as 1_000_000.")
    seed = _int(source, "scenario.seed", sc.get("seed", DEFAULT_SEED), lo=0, hi=2**64 - 1,
                fix="Use a whole number between 0 and 2**64 - 1.")
    quantiles = _quantiles(source, sc.get("quantiles", list(DEFAULT_QUANTILES)))
    common = dict(name=name, description=description, trials=trials, seed=seed,
                  quantiles=quantiles, source=source, text=text,
                  sweep=MappingProxyType(dict(_table(source, "sweep", doc.get("sweep", {})))))
    if model == "vintage":
        from .vintage import build_scenario  # the vintage model's own keys and rules
        return build_scenario(doc, sc, common)
    for where, key in _VINTAGE_ONLY:
        table = sc if where == "scenario" else doc
        if key in table:
            raise ConfigError(source, f"{where}.{key}" if where else key,
                              "is only used by the multi-year model", None,
                              "Add model = \"vintage\" under [scenario], or remove it.")

    raw_inputs = _table(source, "inputs", doc.get("inputs"), required=True)
    _check_keys(source, "inputs", raw_inputs, tuple(INPUT_RULES))
    for req in REQUIRED_INPUTS:
        if req not in raw_inputs:
            raise ConfigError(source, f"inputs.{req}", "is required", None,
                              f"Add `{req} = <number or distribution>` under [inputs] "
                              f"({INPUT_RULES[req].meaning}).")
    generational, depreciation_keys = depreciation_form(source, raw_inputs)
    order = ["gpu_spend", "energy_ratio", "margin"] + depreciation_keys
    inputs = []
    for key in order:
        rule = INPUT_RULES[key]
        spec = raw_inputs.get(key, rule.default)
        inputs.append(_input(source, key, f"inputs.{key}", spec, rule))

    raw_rev = _table(source, "revenue", doc.get("revenue"), required=True)
    if not raw_rev:
        raise ConfigError(source, "revenue", "needs at least one company", "{}",
                          "Add a line such as `Microsoft = { dist = \"lognormal\", ci90 = [5, 20] }`"
                          " under [revenue].")
    revenue = []
    for company, spec in raw_rev.items():
        if not company.strip():
            raise ConfigError(source, key_path("revenue", company),
                              "company names must not be blank",
                              company, "Name the company, e.g. `Microsoft = 10`.")
        # name: the input's identity (its random stream); key: how messages show it
        revenue.append(_input(source, f"revenue.{company}", key_path("revenue", company), spec,
                              REVENUE_RULE))

    return Scenario(depreciation="generational" if generational else "straight-line",
                    inputs=tuple(inputs), revenue=tuple(revenue), **common)


def depreciation_form(source: str, raw_inputs: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """Whether `raw_inputs` give depreciation by GPU generations, and the depreciation keys.

    Returns ``(generational, keys)`` with keys ``[useful_life, cost_of_capital]`` or
    ``[generation_years, cost_of_capital, perf_per_dollar_gain]`` (the one-year kernel's order).
    """
    generational = "generation_years" in raw_inputs or "perf_per_dollar_gain" in raw_inputs
    if generational:
        for req in ("generation_years", "perf_per_dollar_gain"):
            if req not in raw_inputs:
                raise ConfigError(source, f"inputs.{req}",
                                  "is required when depreciation is given by GPU generations",
                                  None, "Give both generation_years and perf_per_dollar_gain, "
                                  "or neither and use useful_life.")
        if "useful_life" in raw_inputs:
            raise ConfigError(source, "inputs.useful_life",
                              "cannot be combined with generation_years/perf_per_dollar_gain",
                              raw_inputs["useful_life"],
                              "Give depreciation either as useful_life or as GPU generations, "
                              "not both.")
        return True, ["generation_years", "cost_of_capital", "perf_per_dollar_gain"]
    return False, ["useful_life", "cost_of_capital"]


def _input(source: str, name: str, key: str, spec: Any, rule: InputRule) -> Input:
    try:
        dist = dist_mod.parse(key, spec)
    except DistributionError as exc:
        raise ConfigError(source, exc.key, exc.rule, exc.value, exc.fix) from None
    # The smallest, the median and the largest value the kernel can draw: a quantile function
    # is non-decreasing, so these bound every draw (checked, so an overflow cannot slip by).
    lo, mid, hi = (float(v) for v in dist.ppf(np.array([_U_MIN, 0.5, _U_MAX])))
    if not lo <= mid <= hi:
        raise ConfigError(source, key, f"this {dist.family} distribution cannot be sampled in "
                          f"float64 (its values run from {_num(lo)} through {_num(mid)} to "
                          f"{_num(hi)})", None,
                          "Use parameters of a sensible magnitude (amounts are in $B).")
    if not rule.admits(lo, hi):
        if dist.is_fixed:
            raise ConfigError(source, key, f"must lie in {rule.describe()} ({rule.meaning})",
                              _num(lo), "Change the value.")
        tail = (" (its tail overflows float64's largest number, 1.8e308)"
                if math.isinf(lo) or math.isinf(hi) else "")
        raise ConfigError(
            source, key,
            f"must lie in {rule.describe()} ({rule.meaning}), but this {dist.family} "
            f"distribution can produce values from {_num(lo)} to {_num(hi)}{tail}",
            None,
            "Narrow the distribution or choose a family bounded to the allowed range "
            "(lognormal for positive amounts; beta, pert, triangular or uniform for a bounded "
            "range such as a margin).")
    return Input(name=name, dist=dist)


def _check_keys(source: str, where: str, table: Mapping[str, Any], valid: tuple[str, ...],
                what: str = "key") -> None:
    for key in table:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            path = key_path(where, key) if where else key_path(key)
            raise ConfigError(source, path, f"unknown {what}", None,
                              f"Valid {what}s here: {', '.join(valid)}.{hint}")


def key_path(*parts: str) -> str:
    """A dotted key path for messages; a part that would not show (empty, blank at an end,
    control characters) is quoted with escapes, e.g. ``revenue."\\n"``."""
    return ".".join(p if p and p.isprintable() and p == p.strip()
                    else json.dumps(p, ensure_ascii=False) for p in parts)


def _table(source: str, key: str, value: Any, required: bool = False) -> Mapping[str, Any]:
    if value is None:
        if required:
            raise ConfigError(source, key, "table is required", None,
                              f"Add a [{key}] table (see configs/ for examples).")
        return {}
    if not isinstance(value, dict):
        raise ConfigError(source, key, "must be a table", value,
                          f"Write it as a [{key}] section.")
    return value


def _string(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(source, key, "must be a string", value, "Quote it: \"...\".")
    return value


def _int(source: str, key: str, value: Any, lo: int, hi: int | None = None,
         fix: str = "", cap: str | None = None) -> int:
    """A whole number in [lo, hi]; `cap` names a hi that is a limit of the engine, not of
    the quantity (then a value below lo is told ">= lo" and one above hi "at most cap")."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)
        else:
            raise ConfigError(source, key, "must be a whole number", value, fix)
    if cap is not None and hi is not None and value > hi:
        raise ConfigError(source, key, f"must be at most {cap}", value, fix)
    if value < lo or (hi is not None and value > hi and cap is None):
        rng = f">= {lo}" if hi is None or cap is not None else f"between {lo} and {hi}"
        raise ConfigError(source, key, f"must be {rng}", value, fix)
    return value


def _quantiles(source: str, value: Any) -> tuple[float, ...]:
    key = "scenario.quantiles"
    fix = "Give a list of levels strictly between 0 and 1, e.g. [0.05, 0.5, 0.95]."
    if not isinstance(value, list) or not value:
        raise ConfigError(source, key, "must be a non-empty list", value, fix)
    out = []
    for i, q in enumerate(value):
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.0 < q < 1.0:
            raise ConfigError(source, f"{key}[{i}]", "must be a number strictly between 0 and 1",
                              q, fix)
        out.append(float(q))
    # 0.05, 0.5 and 0.95 are always reported (the JSON contract promises them).
    return tuple(sorted(set(out) | {0.05, 0.5, 0.95}))


def _num(x: float) -> str:
    return f"{x:.6g}"
