"""TOML config -> validated, frozen :class:`Scenario`.

Validation happens here, once, at the edge: nothing downstream re-checks. Every error is a
:class:`~engine.errors.ConfigError` naming the file, the key path, the rule, the value and the fix.

The public format (docs/configs.md)::

    [scenario]   name, description, trials, seed, quantiles, allow_implausible
    [inputs]     gpu_spend, energy_ratio, margin, useful_life | (generation_years,
                 perf_per_dollar_gain), cost_of_capital   -- a number or a distribution table
    [revenue]    one entry per company, free-text names
    [sweep]      optional grid for `capexgap sweep` (kept as given; validated by the sweep code)

Names (the scenario's, the companies') are plain text: :func:`clean_name` refuses control and
format characters, normalises them to NFC and strips surrounding spaces. Every input has a hard
range (a margin below 1) and a plausible one (a cost of capital of at most 0.5): a value outside
the plausible range is refused as a likely typo (8 for 8%, dollars for $B) unless the input is
named in ``[scenario] allow_implausible``.

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
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

import distributions as dist_mod
from distributions import Distribution, DistributionError

from .errors import ConfigError, Shown
from .safetext import escape, is_unsafe

#: Quantile levels reported unless the config asks for others.
DEFAULT_QUANTILES: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
DEFAULT_TRIALS = 1_000_000
DEFAULT_SEED = 1
#: Most trials one run may ask for: moments count trials in float64, exact up to 2**53.
MAX_TRIALS = 2**53
#: Most companies a [revenue] table may list: time and memory grow with the inputs (plain
#: Monte Carlo ~3 us per trial per 1,000 companies; importance sampling's design-point search
#: with their cube; a tornado's plan with their square).
MAX_COMPANIES = 1000
#: The bundled default scenario of `capexgap quote` with no config.
DEFAULT_CONFIG = "ai-capex-2024.toml"

# Smallest and largest uniforms the generator can produce (53-bit grid, open interval): the
# support checks below use the values a distribution can really produce in the kernel.
_U_MIN = 2.0**-53
_U_MAX = 1.0 - 2.0**-53

_TOP_KEYS = ("scenario", "inputs", "revenue", "revenue_growth", "sweep")
_SCENARIO_KEYS = ("name", "description", "trials", "seed", "quantiles", "model", "years",
                  "allow_implausible")
#: Longest name (scenario, company) a config may give.
MAX_NAME_LENGTH = 200
#: Years the multi-year model accepts (four-digit calendar years).
MIN_YEAR, MAX_YEAR = 1000, 9999
_MODELS = ("one-year", "vintage")
#: Keys that only the vintage model reads: (where, key).
_VINTAGE_ONLY = (("scenario", "years"), ("", "revenue_growth"))


@dataclass(frozen=True)
class InputRule:
    """What values an economic input may take.

    ``lo``/``hi`` (open or closed) is the hard range: a value outside it cannot be modelled
    (a margin of 1 or more) and is always refused. ``plausible`` is the closed range of values
    a real scenario has; a value outside it is refused as a likely typo unless the input is
    named in ``[scenario] allow_implausible``. ``unit`` says which typo to suggest: ``fraction``
    (8 for 0.08), ``amount`` (dollars or millions for $B), ``years`` (months for years),
    ``factor`` (a percentage gain for a factor).
    """

    lo: float
    hi: float
    lo_open: bool
    hi_open: bool
    meaning: str
    default: float | None
    plausible: tuple[float, float] | None = None
    unit: str = ""

    def describe(self) -> str:
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"{left}{_num(self.lo)}, {_num(self.hi)}{right}"

    def describe_plausible(self) -> str:
        """The plausible range as text, e.g. ``[0, 0.5]``."""
        lo, hi = self.plausible if self.plausible is not None else (self.lo, self.hi)
        return f"[{_num(lo)}, {_num(hi)}]"

    def is_plausible(self, lo: float, hi: float) -> bool:
        """True if every value in ``[lo, hi]`` lies in the plausible range."""
        if self.plausible is None:
            return True
        return self.plausible[0] <= lo and hi <= self.plausible[1]

    def admits(self, lo: float, hi: float) -> bool:
        ok_lo = lo > self.lo if self.lo_open else lo >= self.lo
        ok_hi = hi < self.hi if self.hi_open else hi <= self.hi
        return ok_lo and ok_hi


INF = math.inf
#: The economic inputs of the one-year model (docs/models.md): hard range, meaning, default,
#: plausible range and the unit a typo is looked for in. The plausible ranges:
#:
#: - gpu_spend, revenue: [0, 10,000] $B/yr -- $10T a year, a tenth of world GDP, is no
#:   company's or industry's spend; beyond it the amount was typed in dollars or millions;
#: - energy_ratio: [0, 10] -- $10 of buildings and power per $1 of GPU (a typical ratio is
#:   0.5-1.6); 80 is a percentage;
#: - margin: [0, 0.95] -- a gross margin above 95% is no business's; 50 (hard error anyway)
#:   is a percentage;
#: - useful_life: [0.25, 50] years -- a quarter to half a century; 60 is months;
#: - cost_of_capital: [0, 0.5] -- 50% a year is beyond venture debt; 8 is a percentage;
#: - generation_years: [0.5, 10] -- GPU generations come every ~2 years; 24 is months;
#: - perf_per_dollar_gain: [1, 25] -- vendors claim up to 10-25x per generation; 40 is a 40%
#:   gain (the factor 1.4);
#: - growth rates (vintage): [-0.9, 5] -- from -90% to six-fold in a year; 20 is a percentage.
INPUT_RULES: Mapping[str, InputRule] = MappingProxyType({
    "gpu_spend": InputRule(0.0, INF, False, True,
                           "annual spend on data-center GPUs, $B/yr", None,
                           (0.0, 10_000.0), "amount"),
    "energy_ratio": InputRule(0.0, INF, False, True,
                              "other data-center cost per $1 of GPU", None,
                              (0.0, 10.0), "fraction"),
    "margin": InputRule(0.0, 1.0, False, True, "end users' gross margin", None,
                        (0.0, 0.95), "fraction"),
    "useful_life": InputRule(0.0, INF, True, True,
                             "years over which a year of capex is paid back", 1.0,
                             (0.25, 50.0), "years"),
    "cost_of_capital": InputRule(0.0, INF, False, True, "annual rate", 0.0,
                                 (0.0, 0.5), "fraction"),
    "generation_years": InputRule(0.0, INF, True, True, "years between GPU generations", None,
                                  (0.5, 10.0), "years"),
    "perf_per_dollar_gain": InputRule(1.0, INF, True, True,
                                      "performance per dollar gained each generation", None,
                                      (1.0, 25.0), "factor"),
})
REQUIRED_INPUTS = ("gpu_spend", "energy_ratio", "margin")
REVENUE_RULE = InputRule(0.0, INF, False, True, "annual AI revenue, $B/yr", None,
                         (0.0, 10_000.0), "amount")
#: Annual growth rates (vintage model): above -1, so that a series stays positive.
GROWTH_RULE = InputRule(-1.0, INF, True, True, "annual growth rate, above -1 (-0.2 = -20% a year)",
                        None, (-0.9, 5.0), "fraction")


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
    except ValueError:
        # tomllib lets int() fail on a whole number of more than 4,300 digits.
        m = _LONG_INT.search(text)
        line = f" (line {text.count(chr(10), 0, m.start()) + 1})" if m else ""
        raise ConfigError(source, "", f"holds a whole number too long to read{line}", None,
                          "Write numbers of a sensible magnitude (amounts are in $B).") from None
    return _build(doc, text, source)


_LONG_INT = re.compile(r"[0-9_]{4000,}")


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
    if "name" in sc:
        name = clean_name(source, "scenario.name",
                          _string(source, "scenario.name", sc["name"]), "the scenario's name")
    else:  # the file's name, made safe: a file name is not worth an error
        name = unicodedata.normalize("NFC", escape(Path(source).stem)).strip() or "scenario"
    description = _clean_text(source, "scenario.description",
                              _string(source, "scenario.description", sc.get("description", "")))
    trials = _int(source, "scenario.trials", sc.get("trials", DEFAULT_TRIALS), lo=1,
                  hi=MAX_TRIALS, cap="2**53 (9,007,199,254,740,992)",
                  fix="Set trials to a positive whole number such as 1_000_000.")
    seed = _int(source, "scenario.seed", sc.get("seed", DEFAULT_SEED), lo=0, hi=2**64 - 1,
                fix="Use a whole number between 0 and 2**64 - 1.")
    quantiles = _quantiles(source, sc.get("quantiles", list(DEFAULT_QUANTILES)))
    allowed = _allow_list(source, sc.get("allow_implausible", []))
    common = dict(name=name, description=description, trials=trials, seed=seed,
                  quantiles=quantiles, source=source, text=text,
                  sweep=MappingProxyType(_clean_sweep(
                      source, _table(source, "sweep", doc.get("sweep", {})))))
    if model == "vintage":
        from .vintage import build_scenario  # the vintage model's own keys and rules
        scenario = build_scenario(doc, sc, common)
    else:
        scenario = _build_one_year(doc, sc, common)
    check_plausible(scenario, allowed, listed="allow_implausible" in sc)
    return scenario


def _build_one_year(doc: Mapping[str, Any], sc: Mapping[str, Any],
                    common: Mapping[str, Any]) -> Scenario:
    source = common["source"]
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
    if len(raw_rev) > MAX_COMPANIES:  # before any is parsed: the cost grows with the count
        raise ConfigError(source, "revenue", f"has {len(raw_rev):,} companies, more than the "
                          f"limit of {MAX_COMPANIES:,}", len(raw_rev),
                          "Group the smaller companies into a few entries (e.g. "
                          "\"Other companies\"); the sum of their revenues is what counts.")
    revenue = []
    for company, raw in clean_names(source, "revenue", raw_rev).items():
        # name: the input's identity (its random stream); key: how messages show it
        revenue.append(_input(source, f"revenue.{company}", key_path("revenue", raw),
                              raw_rev[raw], REVENUE_RULE))

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
        raise ConfigError(source, exc.key, exc.rule, Shown(exc.value), exc.fix) from None
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
            hint = _typo_hint(rule, lo, lo)
            raise ConfigError(source, key, f"must lie in {rule.describe()} ({rule.meaning})",
                              Shown(_num(lo)), hint or "Change the value.")
        tail = (" (its tail overflows float64's largest number, 1.8e308)"
                if math.isinf(lo) or math.isinf(hi) else "")
        q05, q95 = (float(v) for v in dist.ppf(np.array([0.05, 0.95])))
        raise ConfigError(
            source, key,
            f"must lie in {rule.describe()} ({rule.meaning}), but this {dist.family} "
            f"distribution can produce values from {_num(lo)} to {_num(hi)}{tail}",
            None,
            _typo_hint(rule, q05, q95, fixed=False) or
            "Narrow the distribution or choose a family bounded to the allowed range "
            "(lognormal for positive amounts; beta, pert, triangular or uniform for a bounded "
            "range such as a margin).")
    return Input(name=name, dist=dist)


def _allow_list(source: str, value: Any) -> tuple[str, ...]:
    """``[scenario] allow_implausible``: input names (cleaned like names), checked later
    against the scenario's inputs."""
    key = "scenario.allow_implausible"
    fix = 'Give a list of input names, e.g. allow_implausible = ["cost_of_capital"].'
    if not isinstance(value, list):
        raise ConfigError(source, key, "must be a list of input names", value, fix)
    return tuple(clean_name(source, f"{key}[{i}]", v, "an input name") if isinstance(v, str)
                 else _string(source, f"{key}[{i}]", v) for i, v in enumerate(value))


def _allows(allowed: tuple[str, ...], name: str) -> bool:
    """An entry allows the input it names, and those under it (``revenue`` allows every
    company, ``gpu_spend`` every year of a spend given by year)."""
    return any(name == a or name.startswith(a + ".") for a in allowed)


def check_plausible(scenario: Scenario, allowed: tuple[str, ...] = (),
                    listed: bool = False) -> None:
    """Refuse an input outside its plausible range (:class:`InputRule`) unless `allowed`.

    A fixed input is checked by its value; a distribution by its central 90% (its 5% and 95%
    quantiles: the numbers a config states, not an unbounded tail that any lognormal has).

    Parameters
    ----------
    scenario : Scenario
        A scenario whose inputs already passed their hard ranges.
    allowed : tuple of str
        ``[scenario] allow_implausible``: input names (or a prefix such as ``revenue``).
    listed : bool
        Whether the config has an ``allow_implausible`` list (the fix then says to add to it).

    Raises
    ------
    ConfigError
        Naming the input, its plausible range, the likely typo, and what to write to insist;
        or naming an entry of `allowed` that matches no input.
    """
    source = scenario.source
    names = [item.name for item in scenario.all_inputs]
    for i, entry in enumerate(allowed):
        if not any(n == entry or n.startswith(entry + ".") for n in names):
            close = difflib.get_close_matches(entry, names, n=1, cutoff=0.6)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            raise ConfigError(source, f"scenario.allow_implausible[{i}]", "names no input of "
                              "this scenario", entry, f"The inputs are: {', '.join(names)}.{hint}")
    for item in scenario.all_inputs:
        rule = input_rule(item.name)
        d = item.dist
        if rule.plausible is None or _allows(allowed, item.name):
            continue
        if d.is_fixed:
            lo = hi = d.param("value")
            what = f"is outside the plausible range {rule.describe_plausible()} ({rule.meaning})"
            shown: Any = Shown(f"{lo:.15g}")  # all digits: 0.96 is not shown rounded to 1
        else:
            lo, hi = (float(v) for v in d.ppf(np.array([0.05, 0.95])))
            what = (f"this {d.family} distribution's central 90% runs from {_num(lo)} to "
                    f"{_num(hi)}, outside the plausible range {rule.describe_plausible()} "
                    f"({rule.meaning})")
            shown = None
        if rule.is_plausible(lo, hi):
            continue
        entry = json.dumps(item.name, ensure_ascii=False)
        insist = (f"add {entry} to allow_implausible under [scenario]" if listed else
                  f"add allow_implausible = [{entry}] under [scenario]")
        hint = _typo_hint(rule, lo, hi, fixed=d.is_fixed)
        raise ConfigError(source, d.key, what, shown,
                          f"{hint + ' ' if hint else ''}If the value is meant, {insist}.")


def _typo_hint(rule: InputRule, lo: float, hi: float, fixed: bool = True) -> str:
    """The likely typo behind a value outside a rule's range, as a sentence ("" if none):
    the value divided by 100, 1,000, 10^9 or 12 (or 1 + it / 100 for a factor), if that
    lands inside both ranges."""
    def fits(a: float, b: float) -> bool:
        return rule.admits(a, b) and rule.is_plausible(a, b)

    unit = rule.unit
    # A percentage typed for a fraction is above 1 in size (0.99 is no typo for 0.0099).
    if unit == "fraction" and max(abs(lo), abs(hi)) > 1.0 and fits(lo / 100, hi / 100):
        if fixed:
            return f"{_num(lo)} looks like a percentage: write {_num(lo / 100)}."
        return "Its numbers look like percentages: divide them by 100 (0.08 for 8%)."
    if unit == "amount":
        for factor, what in ((1e3, "millions of dollars"), (1e9, "dollars")):
            if lo >= factor and fits(lo / factor, hi / factor):
                if fixed:
                    return (f"{_num(lo)} looks like {what}: amounts are in US$ billions, so "
                            f"write {_num(lo / factor)}.")
                return (f"Its numbers look like {what}: amounts are in US$ billions (divide "
                        f"by {factor:,.0f}).")
    if unit == "years" and fits(lo / 12, hi / 12):
        if fixed:
            return f"{_num(lo)} looks like months: write {_num(lo / 12)} (years)."
        return "Its numbers look like months: give years (divide by 12)."
    if unit == "factor":
        if fixed and 0.0 < lo <= 1.0 and fits(1.0 + lo, 1.0 + lo):
            return (f"It is a factor (2 = twice the performance per dollar): for a gain of "
                    f"{_num(lo * 100)}% write {_num(1.0 + lo)}.")
        if fits(1.0 + lo / 100, 1.0 + hi / 100):
            if fixed:
                return (f"{_num(lo)} looks like a percentage gain: it is a factor, so a gain "
                        f"of {_num(lo)}% is {_num(1.0 + lo / 100)}.")
            return ("Its numbers look like percentage gains: it is a factor (a gain of 40% is "
                    "1.4).")
    return ""


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
    control or format characters) is quoted with escapes, e.g. ``revenue."\\n"``; the result
    holds no control or format character."""
    return ".".join(p if p and p.isprintable() and p == p.strip()
                    else escape(json.dumps(p, ensure_ascii=False), limit=None) for p in parts)


# --------------------------------------------------------------------------- names

#: Zero-width (non-)joiners: format characters that emoji sequences and some scripts need.
_JOINERS = frozenset({"\u200c", "\u200d"})


def clean_name(source: str, key: str, raw: str, what: str = "name") -> str:
    """A name from a config, checked and normalised: the one rule for every name.

    Strips surrounding whitespace (a stray tab or newline at an end included); refuses control
    characters (C0 including NUL, DEL, C1), format characters (bidi overrides, zero-width
    spaces; a zero-width joiner only between two non-ASCII characters, as in emoji and some
    scripts) and the other characters :func:`engine.safetext.escape` would escape in what is
    left; then normalises to NFC. Accents, CJK and emoji are kept.

    Parameters
    ----------
    source : str
        The config file (for messages).
    key : str
        The key path of the name (for messages), e.g. ``scenario.name`` or ``revenue."A "``.
    raw : str
        The name as written.
    what : str
        What the name names, for messages ("company name").

    Returns
    -------
    str
        The name in NFC, without surrounding whitespace.

    Raises
    ------
    ConfigError
        For an unsafe character, a name that is empty after stripping, or one longer than
        :data:`MAX_NAME_LENGTH` characters.
    """
    if not isinstance(raw, str):
        raise ConfigError(source, key, f"{what} must be a string", raw, "Quote it: \"...\".")
    text = raw.strip()
    lead = len(raw) - len(raw.lstrip())
    for i, ch in enumerate(text):
        if not is_unsafe(ch):
            continue
        if (ch in _JOINERS and 0 < i < len(text) - 1 and not text[i - 1].isascii()
                and not text[i + 1].isascii()):
            continue
        raise ConfigError(source, key, f"{what} holds {_char_label(ch)} at position "
                          f"{lead + i + 1}: control and format characters could repaint a terminal or "
                          "hide text", raw,
                          "Remove it: a name is plain text (letters, digits, spaces, punctuation, "
                          "emoji).")
    name = unicodedata.normalize("NFC", text).strip()
    if not name:
        raise ConfigError(source, key, f"{what} is empty (or only spaces)", raw,
                          "Give it a name" + (", e.g. `Microsoft = 10`." if "company" in what
                                              else "."))
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(source, key, f"{what} is longer than {MAX_NAME_LENGTH} characters",
                          Shown(f"{len(name):,} characters"), "Shorten it.")
    return name


def clean_names(source: str, where: str, table: Mapping[str, Any],
                what: str = "company name") -> dict[str, str]:
    """``{clean name: name as written}`` for the keys of `table` (``[revenue]``), each through
    :func:`clean_name`; two keys that are the same name once cleaned are an error naming both
    spellings (``Microsoft`` and ``"Microsoft "``, or an accent written two ways)."""
    out: dict[str, str] = {}
    for raw in table:
        name = clean_name(source, key_path(where, raw), raw, what)
        if name in out:
            first = out[name]
            # Spellings that differ only in Unicode form look the same: show their code points.
            same_look = (unicodedata.normalize("NFC", first) == unicodedata.normalize("NFC", raw))
            plain = (json.dumps(first, ensure_ascii=same_look),
                     json.dumps(raw, ensure_ascii=same_look))
            raise ConfigError(source, key_path(where, raw),
                              f"is the same {what} as {plain[0]} (names are compared in Unicode "
                              "NFC form, without surrounding spaces)", Shown(plain[1]),
                              "Keep one spelling of the name.")
        out[name] = raw
    return out


def _clean_text(source: str, key: str, raw: str) -> str:
    """Free text (a description): like :func:`clean_name`, but line breaks and tabs are kept
    and it is neither stripped nor limited in length."""
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n"))
    for i, ch in enumerate(text):
        if ch in "\n\t" or not is_unsafe(ch):
            continue
        if ch in _JOINERS and 0 < i < len(text) - 1 and not text[i - 1].isascii() \
                and not text[i + 1].isascii():
            continue
        raise ConfigError(source, key, f"holds {_char_label(ch)} at position {i + 1}: control and format characters could repaint a terminal or "
                          "hide text", raw, "Remove it (line breaks and tabs are fine).")
    return text


def _char_label(ch: str) -> str:
    """``U+001B (a control character)`` or ``U+202E RIGHT-TO-LEFT OVERRIDE``."""
    name = unicodedata.name(ch, "")
    if name:
        return f"U+{ord(ch):04X} {name}"
    kind = {"Cc": "a control character", "Co": "a private-use character",
            "Cn": "an unassigned character"}.get(unicodedata.category(ch), "a format character")
    return f"U+{ord(ch):04X} ({kind})"


def _clean_sweep(source: str, table: Mapping[str, Any], path: tuple[str, ...] = ()
                 ) -> dict[str, Any]:
    """The ``[sweep]`` table with every key cleaned like a name (so ``revenue.<company>`` names
    a company as its cleaned name does) and every whole number checked to fit a float64."""
    out: dict[str, Any] = {}
    raw_of: dict[str, str] = {}
    for raw, value in table.items():
        key = clean_name(source, key_path("sweep", *path, raw), raw, "sweep key")
        if key in raw_of:
            raise ConfigError(source, key_path("sweep", *path, raw),
                              f"is the same sweep key as {json.dumps(raw_of[key])} once "
                              "normalised", Shown(json.dumps(raw)), "Keep one of the two.")
        raw_of[key] = raw
        where = (*path, key)
        if isinstance(value, dict):
            out[key] = _clean_sweep(source, value, where)
        else:
            _check_sizes(source, key_path("sweep", *where), value)
            out[key] = value
    return out


def _check_sizes(source: str, key: str, value: Any) -> None:
    """Refuse a whole number beyond float64's range anywhere in `value` (lists included)."""
    if isinstance(value, list):
        for i, v in enumerate(value):
            _check_sizes(source, f"{key}[{i}]", v)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_sizes(source, key_path(key, k), v)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _FLOAT_MAX:
        raise ConfigError(source, key, "is too large: beyond float64's range (about 1.8e308)",
                          value, "Write a number of a sensible magnitude.")


_FLOAT_MAX = int(np.finfo(np.float64).max)


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
