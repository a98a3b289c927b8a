"""What values an input may take: hard and plausible ranges, the check of one parsed input
against its hard range, of a whole scenario against the plausible ranges, and the hint at the
likely typo behind a value outside them.

Every input has a hard range (a margin below 1) and a plausible one (a cost of capital of at
most 0.5): a value outside the plausible range is refused as a likely typo (8 for 8%, dollars
for $B) unless the input is named in ``[scenario] allow_implausible``.

Dependency rule: the stdlib, numpy, ``distributions``, ``engine.base`` and ``engine.core.scenario``
only.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

import distributions as dist_mod
from distributions import DistributionError
from engine.base.errors import ConfigError, Shown
from engine.core.scenario import Input, Scenario

# Smallest and largest uniforms the generator can produce (53-bit grid, open interval): the
# support checks below use the values a distribution can really produce in the kernel.
_U_MIN = 2.0**-53
_U_MAX = 1.0 - 2.0**-53


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


def _num(x: float) -> str:
    return f"{x:.6g}"
