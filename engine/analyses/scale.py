"""Multiplying inputs by a number: the distribution of ``m * X``, the inputs a ``--scale`` name
stands for, and the multipliers an input's hard range allows.

``capexgap solve`` (:mod:`engine.analyses.solve`) searches for the multiplier on a group of
inputs at which P(cover) reaches a target. Scaling an input by ``m > 0`` replaces its random
variable ``X`` by ``m * X``: every family here is closed under that (location-scale families
scale their location and scale, the lognormal adds ``log m`` to ``mu``), so the scaled input is
a :class:`~distributions.Distribution` of the same family, drawn from the same uniforms: on
common random numbers each trial's value is ``m`` times its value at ``m = 1`` (to rounding),
and P(cover) is a monotone function of ``m`` whenever the model is monotone in the input.

Dependency rule: ``distributions``, ``engine.base``, ``engine.core`` and ``engine.models``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

import distributions
from distributions import Distribution, DistributionError
from engine.base.errors import ConfigError
from engine.core.scenario import Input, Scenario
from engine.models.input_rules import _U_MAX, _U_MIN, input_rule

#: The group name that stands for every company's AI revenue.
REVENUE = "revenue"

# The natural parameters that scale with the variable, per family (the others are shapes:
# a lognormal's sigma, a PERT's lambda, a beta's alpha and beta). A lognormal's mu is the log
# of its scale: it moves by log m instead.
_SCALED = {
    "fixed": ("value",),
    "uniform": ("min", "max"),
    "normal": ("mean", "sd"),
    "lognormal": (),
    "triangular": ("min", "mode", "max"),
    "pert": ("min", "mode", "max"),
    "beta": ("min", "max"),
    "truncnormal": ("mean", "sd", "min", "max"),
}


def scale_distribution(d: Distribution, m: float) -> Distribution:
    """The distribution of ``m * X`` for ``X ~ d``.

    Parameters
    ----------
    d : Distribution
        Any family of :data:`distributions.FAMILIES`.
    m : float
        The multiplier, finite and > 0.

    Returns
    -------
    Distribution
        Same family and key, given by its natural parameters (``mu``/``sigma`` for a lognormal,
        ``min``/``mode``/``max`` for a PERT, ...): its quantiles are ``m`` times those of `d`.
        A fixed input given as a bare number stays a bare number.

    Raises
    ------
    ValueError
        If `m` is not a finite number > 0.
    DistributionError
        If the scaled parameters overflow float64.
    """
    if not (isinstance(m, (int, float)) and math.isfinite(m) and m > 0):
        raise ValueError(f"a multiplier must be a finite number > 0, got {m!r}")
    m = float(m)
    if d.is_fixed and not isinstance(d.spec, Mapping):
        return distributions.parse(d.key, d.param("value") * m)
    spec: dict = {"dist": d.family}
    for name, value in d.params:
        if name in _SCALED[d.family]:
            value = value * m
        elif name == "mu":
            value = value + math.log(m)
        if math.isinf(value) and d.family == "truncnormal":
            continue  # an absent bound stays absent (+-inf times m)
        spec[name] = value
    return distributions.parse(d.key, spec)


@dataclass(frozen=True)
class ScaleTarget:
    """What a ``--scale`` name stands for.

    Attributes
    ----------
    name : str
        As given: ``revenue``, ``gpu_spend``, ``margin``, ``Microsoft``, ``revenue.Microsoft``.
    inputs : tuple of str
        The inputs it multiplies, in the scenario's order.
    what : str
        In words, for reports: ``every company's AI revenue (15 inputs)``.
    """

    name: str
    inputs: tuple[str, ...]
    what: str


def resolve_scale(scenario: Scenario, name: str, key: str = "scale") -> ScaleTarget:
    """The inputs a ``--scale`` name multiplies.

    ``revenue`` is every company's AI revenue (every ``revenue.*`` input); an input's name is
    that input and the inputs given year by year under it (``gpu_spend`` of the multi-year
    model is every ``gpu_spend.<year>``); a company's name is its revenue (``Microsoft`` is
    ``revenue.Microsoft``, or every year of it).

    Raises
    ------
    ConfigError
        Naming the valid names when `name` names nothing in the scenario.
    """
    names = [item.name for item in scenario.all_inputs]

    def under(prefix: str) -> tuple[str, ...]:
        return tuple(n for n in names if n == prefix or n.startswith(prefix + "."))

    if name == REVENUE:
        hit = tuple(n for n in names if n.startswith("revenue."))
        if hit:
            return ScaleTarget(name, hit, f"every company's AI revenue ({_count(hit)})")
    elif under(name):
        hit = under(name)
        what = name if hit == (name,) else f"{name} ({_count(hit)}: {', '.join(hit)})"
        return ScaleTarget(name, hit, what)
    elif under(f"revenue.{name}"):
        hit = under(f"revenue.{name}")
        return ScaleTarget(name, hit, f"the AI revenue of {name}"
                           + ("" if len(hit) == 1 else f" ({_count(hit)})"))
    valid = scale_names(scenario)
    close = difflib.get_close_matches(name, valid + names, n=1, cutoff=0.6)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    raise ConfigError(scenario.source, key, "names no input, group or company of this scenario",
                      name, f"Valid names: {', '.join(valid)}; or any input's full name "
                            f"(e.g. {names[-1]}).{hint}")


def scale_names(scenario: Scenario) -> list[str]:
    """The short names ``--scale`` takes for `scenario`: ``revenue``, each input (a group
    given year by year once), then each company."""
    out = [REVENUE]
    companies = []
    for item in scenario.all_inputs:
        n = item.name
        if n.startswith("revenue."):
            company = _company(scenario, n)
            if company not in companies:
                companies.append(company)
            continue
        head = n.split(".", 1)[0]  # gpu_spend.2024, revenue_growth.OpenAI: their group
        if head not in out:
            out.append(head)
    return out + [c for c in companies if c not in out]


def _company(scenario: Scenario, name: str) -> str:
    """The company of a revenue input: ``revenue.OpenAI.2025`` -> ``OpenAI``."""
    rest = name[len("revenue."):]
    head, _, tail = rest.rpartition(".")
    if head and tail.isdigit() and scenario.model == "vintage":
        return head
    return rest


def _count(names: Sequence[str]) -> str:
    return f"{len(names)} input{'s' if len(names) != 1 else ''}"


@dataclass(frozen=True)
class MultiplierRange:
    """The multipliers an input group may take: ``lo < m < hi`` (or ``<=``), from the search
    range and the inputs' hard ranges.

    Attributes
    ----------
    lo, hi : float
        The ends: multipliers that are allowed (an open limit is moved inside by a relative
        1e-9).
    limits : tuple of str
        Why an end is inside the search range, in words (empty when neither is).
    """

    lo: float
    hi: float
    limits: tuple[str, ...] = ()

    def describe(self) -> str:
        """``between 0.001 and 1.43``, ``below 1.43``, ``above 0.2``."""
        if self.lo > 0 and math.isfinite(self.hi):
            return f"between {self.lo:.6g} and {self.hi:.6g}"
        return f"below {self.hi:.6g}" if math.isfinite(self.hi) else f"above {self.lo:.6g}"


#: An open limit of a hard range is approached to within this relative distance.
_INSIDE = 1e-9


def multiplier_range(scenario: Scenario, inputs: Sequence[str], lo: float,
                     hi: float) -> MultiplierRange:
    """The part of ``[lo, hi]`` in which every input of `inputs`, multiplied, stays inside its
    hard range (:func:`engine.models.input_rules.input_rule`: a margin below 1, a growth rate
    above -1, ...).

    The bounds use the smallest and the largest value the kernel can draw (the quantiles at
    its extreme uniforms), as the loader does; ``m = 1`` is always inside.
    """
    # the tightest lower and upper limit found so far: (multiplier, why) or None
    low: tuple[float, str] | None = None
    high: tuple[float, str] | None = None
    for name in inputs:
        try:
            rule = input_rule(name)
        except KeyError:  # an input of a model added at run time: no range is known for it
            continue
        d = scenario.input(name).dist
        ends = [float(v) for v in d.ppf(np.array([_U_MIN, _U_MAX]))]
        for v in dict.fromkeys(ends):  # both ends, once each
            if v == 0.0:
                continue  # 0 times m is 0, inside the range at m = 1 and so at every m
            for bound, is_open, side in ((rule.lo, rule.lo_open, "lo"),
                                         (rule.hi, rule.hi_open, "hi")):
                limit = bound / v
                if not math.isfinite(bound) or limit <= 0:
                    continue  # no limit, or one that every m > 0 meets
                # m * v >= lo (side lo) or m * v <= hi: a limit from above on m when v and
                # the bound's side agree in sign, from below otherwise.
                is_upper = (v > 0) == (side == "hi")
                if is_open:
                    limit *= (1 - _INSIDE) if is_upper else (1 + _INSIDE)
                why = (f"{name} must stay in {rule.describe()} ({rule.meaning}) and can reach "
                       f"{v:.6g}, so its multiplier must be {'<' if is_upper else '>'}"
                       f"{'' if is_open else '='} {bound / v:.6g}")
                if is_upper and limit < (high[0] if high else math.inf):
                    high = (limit, why)
                elif not is_upper and limit > (low[0] if low else 0.0):
                    low = (limit, why)
    out_lo, out_hi = float(lo), float(hi)
    limits = []
    if low is not None and low[0] > out_lo:
        out_lo = low[0]
        limits.append(low[1])
    if high is not None and high[0] < out_hi:
        out_hi = high[0]
        limits.append(high[1])
    return MultiplierRange(out_lo, out_hi, tuple(limits))


def scale_scenario(scenario: Scenario, inputs: Sequence[str], m: float,
                   key: str = "scale") -> Scenario:
    """The scenario with every input of `inputs` multiplied by `m` (same name and provenance).

    Raises
    ------
    ConfigError
        If `m` is not a finite number > 0, or takes an input outside its hard range (naming
        the input, its range and the multipliers allowed), or overflows float64.
    """
    file = scenario.source
    fix = "Give a multiplier such as 2 (doubles the inputs) or 0.5 (halves them)."
    if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) \
            or m <= 0:
        raise ConfigError(file, key, "a multiplier must be a finite number > 0", m, fix)
    allowed = multiplier_range(scenario, inputs, 0.0, math.inf)
    if not allowed.lo <= m <= allowed.hi:
        raise ConfigError(file, key, f"the multiplier {m:.6g} takes an input outside its "
                                     f"range: {'; '.join(allowed.limits)}", m,
                          f"Keep the multiplier {allowed.describe()}.")
    new: dict[str, Input] = {}
    for name in inputs:
        d = scenario.input(name).dist
        try:
            nd = scale_distribution(d, float(m))
        except DistributionError as exc:
            raise ConfigError(file, key, f"the multiplier {m:.6g} makes {name} invalid: "
                                         f"{exc.rule}", m, exc.fix) from None
        lo_v, hi_v = (float(v) for v in nd.ppf(np.array([_U_MIN, _U_MAX])))
        if not (math.isfinite(lo_v) and math.isfinite(hi_v)):
            raise ConfigError(file, key, f"the multiplier {m:.6g} makes {name}'s values "
                                         "overflow float64", m, fix)
        new[name] = Input(name=name, dist=nd)
    return dataclasses.replace(
        scenario,
        inputs=tuple(new.get(i.name, i) for i in scenario.inputs),
        revenue=tuple(new.get(i.name, i) for i in scenario.revenue))
