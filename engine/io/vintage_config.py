"""The multi-year (vintage) model: its config keys, its plan, and a plain NumPy reference.

Years ``t0 .. T`` are reported; GPU spend may start earlier (cohorts bought before ``t0`` are
still being paid for). Per trial (US$ billions):

- GPU spend ``G_v`` of cohort year v: a level per year (a number or distribution each), then
  ``G_v = G_{v-1} (1 + g_v)`` with an uncertain growth rate (one draw per trial for every later
  year, or one per year);
- capex ``C_v = G_v (1 + k)``;
- the capital charge of year t sums over cohorts ``v <= t``: ``charge_t = sum_v C_v w(t - v)``
  with, at age a,

  - straight-line/annuity over life L at cost of capital r:
    ``w(a) = CRF(r, L) min(1, max(0, L - a))``, ``CRF(r, L) = r / (1 - (1 + r)^-L)``,
    ``CRF(0, L) = 1 / L``: with r = 0 a cohort's charges sum to its capex (fractional L too); with
    r > 0 and whole L their present value at r (charges at the ends of years) is its capex;
  - generational: book value ``e^(-delta a)`` with ``delta = ln(perf_per_dollar_gain) /
    generation_years``; ``w(a) = e^(-delta a) (1 - e^-delta + r)``, the year's loss of book value
    plus r on the opening book (present value at r of all charges: exactly the capex);

- required revenue ``required_t = charge_t / (1 - m)``;
- each company's AI revenue: a level per year, then its own growth rate, summed over companies;
- ``covers_t = revenue_t >= required_t``; the break-even year is the first t that covers
  (+inf, "not by T", when none does).

One year with L >= 1 is the one-year model exactly (``w(0) = CRF(r, L)``).

Config (``[scenario] model = "vintage"``)::

    [scenario]
    model = "vintage"
    years = [2024, 2032]              # first and last reported year

    [inputs]                          # energy_ratio, margin, depreciation as in the one-year model
    gpu_spend = 115.2                 # spend in the first reported year, or a table by year:
    # [inputs.gpu_spend]  2023 = 47.5  2024 = 115.2  2025 = { dist = ... }   (may start earlier)
    gpu_spend_growth = { dist = ... } # growth after the last given year; or a table by year

    [revenue]                         # each company: its first-year revenue, or a table by year
    Microsoft = { dist = ... }
    [revenue_growth]                  # each company: growth after its last given year
    Microsoft = { dist = ... }

Every input has its own named random stream: ``gpu_spend`` (or ``gpu_spend.<year>``),
``gpu_spend_growth`` (or ``gpu_spend_growth.<year>``), ``revenue.<company>`` (or
``revenue.<company>.<year>``), ``revenue_growth.<company>`` (or ``.<year>``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from engine.models.input_rules import GROWTH_RULE, INPUT_RULES, REVENUE_RULE, InputRule, _input
from engine.io.toml_checks import (MAX_YEAR, MIN_YEAR, _check_keys, _table, depreciation_form,
                                    revenue_table)
from engine.base.errors import ConfigError
from engine.core.scenario import Input, Scenario
from engine.base.names import clean_names, key_path

#: The largest span of cohort years (first GPU-spend year .. last reported year).
MAX_YEARS = 100
VINTAGE_INPUT_KEYS = ("gpu_spend", "gpu_spend_growth", "energy_ratio", "margin", "useful_life",
                      "cost_of_capital", "generation_years", "perf_per_dollar_gain")
REQUIRED_INPUTS = ("gpu_spend", "energy_ratio", "margin")


@dataclass(frozen=True)
class Series:
    """A quantity by year: levels for its first years, then growth.

    Attributes
    ----------
    name : str
        ``gpu_spend`` or ``revenue.<company>``.
    first_year : int
        Year of the first level.
    levels : tuple of str
        Input names of the levels of ``first_year, first_year + 1, ...``.
    growth : tuple of str
        Input names of the growth rates of the following years, one per year (a single rate
        drawn once per trial repeats its name).
    """

    name: str
    first_year: int
    levels: tuple[str, ...]
    growth: tuple[str, ...]

    @property
    def last_year(self) -> int:
        return self.first_year + len(self.levels) + len(self.growth) - 1


@dataclass(frozen=True)
class VintageSpec:
    """Years and series of a vintage scenario (inputs are referred to by name)."""

    first_year: int            # t0, first reported year
    last_year: int             # T, last reported year
    gpu: Series                # GPU spend; starts at or before t0 (earlier cohorts)
    revenue: tuple[Series, ...]  # one per company, from t0

    @property
    def years(self) -> tuple[int, ...]:
        """The reported years t0 .. T."""
        return tuple(range(self.first_year, self.last_year + 1))

    @property
    def first_cohort(self) -> int:
        """The first year with GPU spend."""
        return self.gpu.first_year


# --------------------------------------------------------------------------- config


def build_scenario(doc: Mapping[str, Any], sc: Mapping[str, Any],
                   common: Mapping[str, Any]) -> Scenario:
    """Validate the vintage model's keys of a parsed config (called by the config loader).

    Parameters
    ----------
    doc : mapping
        The whole TOML document.
    sc : mapping
        Its ``[scenario]`` table (keys already checked).
    common : mapping
        The validated fields shared with the one-year model (name, trials, seed, ...).
    """
    source = common["source"]
    t0, t_end = _years(source, sc.get("years"))
    raw_inputs = _table(source, "inputs", doc.get("inputs"), required=True)
    _check_keys(source, "inputs", raw_inputs, VINTAGE_INPUT_KEYS)
    for req in REQUIRED_INPUTS:
        if req not in raw_inputs:
            meaning = ("GPU spend: a number or distribution for the first year, or a table "
                       "by year" if req == "gpu_spend" else INPUT_RULES[req].meaning)
            raise ConfigError(source, f"inputs.{req}", "is required", None,
                              f"Add `{req} = <number or distribution>` under [inputs] "
                              f"({meaning}).")
    generational, depreciation_keys = depreciation_form(source, raw_inputs)
    inputs: list[Input] = []
    for key in ["energy_ratio", "margin"] + depreciation_keys:
        rule = INPUT_RULES[key]
        inputs.append(_input(source, key, f"inputs.{key}", raw_inputs.get(key, rule.default),
                             rule))
    gpu, gpu_inputs = _series(
        source, name="gpu_spend", key="inputs.gpu_spend", spec=raw_inputs["gpu_spend"],
        growth_name="gpu_spend_growth", growth_key="inputs.gpu_spend_growth",
        growth_spec=raw_inputs.get("gpu_spend_growth"), rule=INPUT_RULES["gpu_spend"],
        t0=t0, t_end=t_end, earlier=True)
    inputs += gpu_inputs

    raw_rev = revenue_table(source, doc)
    companies = clean_names(source, "revenue", raw_rev)  # {cleaned name: as written}
    raw_growth = _table(source, "revenue_growth", doc.get("revenue_growth", {}))
    growth_of = clean_names(source, "revenue_growth", raw_growth)
    for company, raw in growth_of.items():
        if company not in companies:
            close = difflib.get_close_matches(company, list(companies), n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            raise ConfigError(source, key_path("revenue_growth", raw),
                              "names no company of [revenue]", None,
                              f"Companies: {', '.join(companies)}.{hint}")
    revenue: list[Input] = []
    series = []
    for company, raw in companies.items():
        graw = growth_of.get(company)
        s, items = _series(
            source, name=f"revenue.{company}", key=key_path("revenue", raw), spec=raw_rev[raw],
            growth_name=f"revenue_growth.{company}",
            growth_key=key_path("revenue_growth", company if graw is None else graw),
            growth_spec=None if graw is None else raw_growth[graw], rule=REVENUE_RULE, t0=t0,
            t_end=t_end, earlier=False)
        series.append(s)
        revenue += items
    seen: dict[str, str] = {}
    for item in inputs + revenue:
        if item.name in seen:  # e.g. a company called "A.2025" beside "A" given by year
            raise ConfigError(source, item.name, "names the same random input twice", None,
                              "Rename the company: input names must be unique.")
        seen[item.name] = item.name
    spec_ = VintageSpec(first_year=t0, last_year=t_end, gpu=gpu, revenue=tuple(series))
    return Scenario(depreciation="generational" if generational else "straight-line",
                    inputs=tuple(inputs), revenue=tuple(revenue), model="vintage",
                    vintage=spec_, **common)


def _years(source: str, value: Any) -> tuple[int, int]:
    key = "scenario.years"
    fix = "Give the first and last reported year, e.g. years = [2024, 2032]."
    if value is None:
        raise ConfigError(source, key, "is required by the multi-year model", None, fix)
    if (not isinstance(value, list) or len(value) != 2
            or any(isinstance(y, bool) or not isinstance(y, int) for y in value)):
        raise ConfigError(source, key, "must be a list of two whole years", value, fix)
    for i, y in enumerate(value):
        if not MIN_YEAR <= y <= MAX_YEAR:
            raise ConfigError(source, f"{key}[{i}]", f"must be a year from {MIN_YEAR} to "
                              f"{MAX_YEAR}", y, fix)
    first, last = value
    if last < first:
        raise ConfigError(source, key, "must be in order: the first year, then the last",
                          value, f"Write years = [{last}, {first}].")
    return first, last


def _is_year_table(spec: Any) -> bool:
    # isdigit, not only ASCII: "２０２５" or "²" is taken for a year and refused as one below.
    return isinstance(spec, dict) and bool(spec) and all(
        isinstance(k, str) and k.isdigit() for k in spec)


def _year_table(source: str, key: str, spec: Mapping[str, Any]) -> dict[int, Any]:
    """A table keyed by year -> {year: spec}, checked to be consecutive."""
    for k in spec:
        if not (k.isascii() and len(k) == 4 and k == str(int(k))):
            as_int = int(k) if k.isdecimal() and len(k) <= 8 else None
            fix = (f"Write {as_int}." if as_int is not None and MIN_YEAR <= as_int <= MAX_YEAR
                   else f"Write a year from {MIN_YEAR} to {MAX_YEAR} in ASCII digits, e.g. 2025.")
            raise ConfigError(source, key_path(key, k), "is not written as a year", k, fix)
    years = sorted(int(k) for k in spec)
    for a, b in zip(years, years[1:]):
        if b != a + 1:
            raise ConfigError(source, key, f"misses year {a + 1}: years must be consecutive",
                              ", ".join(str(y) for y in years),
                              f"Add {a + 1} = <number or distribution>.")
    return {y: spec[str(y)] for y in years}


def _mixed(source: str, key: str, spec: Any) -> None:
    if isinstance(spec, dict) and any(isinstance(k, str) and k.isdigit() for k in spec) \
            and not _is_year_table(spec):
        others = [k for k in spec if not k.isdigit()]
        raise ConfigError(source, key, "mixes years and distribution keys", ", ".join(others),
                          "Give either one distribution, or a table with one entry per year "
                          "(2025 = { dist = ... }).")


def _series(source: str, *, name: str, key: str, spec: Any, growth_name: str, growth_key: str,
            growth_spec: Any, rule: InputRule, t0: int, t_end: int,
            earlier: bool) -> tuple[Series, list[Input]]:
    """Levels (one distribution for t0, or a table by year) then growth up to t_end."""
    _mixed(source, key, spec)
    items: list[Input] = []
    if _is_year_table(spec):
        table = _year_table(source, key, spec)
        first, last = min(table), max(table)
        if earlier and first > t0:
            raise ConfigError(source, f"{key}.{first}",
                              f"must start at or before the first reported year {t0}", first,
                              f"Add {t0} = <number or distribution> (earlier years add "
                              "cohorts still being paid for).")
        if not earlier and first != t0:
            rule_txt = (f"starts after the first reported year {t0}" if first > t0 else
                        f"is before the first reported year {t0} (not used)")
            raise ConfigError(source, f"{key}.{first}", rule_txt, first,
                              f"Start the table at {t0}.")
        if last > t_end:
            raise ConfigError(source, f"{key}.{last}", f"is after the last reported year {t_end}",
                              last, "Remove it, or extend scenario.years.")
        if t_end - first + 1 > MAX_YEARS:
            raise ConfigError(source, f"{key}.{first}",
                              f"spans more than {MAX_YEARS} years to {t_end}", first,
                              "Start later.")
        names = []
        for year, item in table.items():
            names.append(f"{name}.{year}")
            items.append(_input(source, f"{name}.{year}", f"{key}.{year}", item, rule))
    else:
        first, last = t0, t0
        if t_end - first + 1 > MAX_YEARS:
            raise ConfigError(source, "scenario.years", f"spans more than {MAX_YEARS} years",
                              [t0, t_end], "Shorten it.")
        names = [name]
        items.append(_input(source, name, key, spec, rule))
    need = list(range(last + 1, t_end + 1))
    growth: list[str] = []
    if need and growth_spec is None:
        raise ConfigError(source, growth_key, f"is required: {key} stops at {last}", None,
                          f"Give the growth rate of {last + 1}..{t_end} (one distribution, or a "
                          f"table by year), or levels up to {t_end}.")
    if not need and growth_spec is not None:
        raise ConfigError(source, growth_key, f"is not used: {key} gives every year to {t_end}",
                          None, "Remove it, or give fewer years of levels.")
    if need:
        _mixed(source, growth_key, growth_spec)
        if _is_year_table(growth_spec):
            table = _year_table(source, growth_key, growth_spec)
            if sorted(table) != need:
                raise ConfigError(source, growth_key,
                                  f"must give exactly the years {need[0]}..{need[-1]} (after "
                                  f"the last level of {key})",
                                  ", ".join(str(y) for y in sorted(table)),
                                  "One growth rate per year without a level.")
            for year, item in table.items():
                growth.append(f"{growth_name}.{year}")
                items.append(_input(source, f"{growth_name}.{year}", f"{growth_key}.{year}",
                                    item, GROWTH_RULE))
        else:
            growth = [growth_name] * len(need)
            items.append(_input(source, growth_name, growth_key, growth_spec, GROWTH_RULE))
    return Series(name=name, first_year=first, levels=tuple(names), growth=tuple(growth)), items


# --------------------------------------------------------------------------- plan


def evaluate(scenario: Scenario, x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The vintage model on whole arrays (:func:`engine.models.vintage.reference`)."""
    from engine.models.vintage import reference

    return reference(scenario, x)
