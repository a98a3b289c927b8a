"""The checks every config reader shares: known keys, tables, strings, whole numbers, sizes,
the depreciation form and the limits on companies and years (the one-year reader in
:mod:`engine.io.config` and the vintage reader in :mod:`engine.io.vintage_config`).
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Mapping

import numpy as np

from engine.base.errors import ConfigError
from engine.models.input_rules import _U_MAX, _U_MIN  # noqa: F401  (the sweeps read them here)
from engine.base.names import (clean_name, key_path)


#: Most companies a [revenue] table may list: time and memory grow with the inputs (plain
#: Monte Carlo ~3 us per trial per 1,000 companies; importance sampling's design-point search
#: about linearly beyond 64 random inputs; a tornado's plan with their square, which
#: --max-points bounds).
MAX_COMPANIES = 10_000


#: Years the multi-year model accepts (four-digit calendar years).
MIN_YEAR, MAX_YEAR = 1000, 9999


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


def _allow_list(source: str, value: Any) -> tuple[str, ...]:
    """``[scenario] allow_implausible``: input names (cleaned like names), checked later
    against the scenario's inputs."""
    key = "scenario.allow_implausible"
    fix = 'Give a list of input names, e.g. allow_implausible = ["cost_of_capital"].'
    if not isinstance(value, list):
        raise ConfigError(source, key, "must be a list of input names", value, fix)
    return tuple(clean_name(source, f"{key}[{i}]", v, "an input name") if isinstance(v, str)
                 else _string(source, f"{key}[{i}]", v) for i, v in enumerate(value))


def _check_keys(source: str, where: str, table: Mapping[str, Any], valid: tuple[str, ...],
                what: str = "key") -> None:
    for key in table:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            path = key_path(where, key) if where else key_path(key)
            raise ConfigError(source, path, f"unknown {what}", None,
                              f"Valid {what}s here: {', '.join(valid)}.{hint}")


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


def revenue_table(source: str, doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``[revenue]`` table of a config, every model's: present, at least one company, at
    most :data:`MAX_COMPANIES` (checked before any entry is parsed: the cost grows with the
    count)."""
    raw_rev = _table(source, "revenue", doc.get("revenue"), required=True)
    if not raw_rev:
        raise ConfigError(source, "revenue", "needs at least one company", "{}",
                          "Add a line such as "
                          "`Microsoft = { dist = \"lognormal\", ci90 = [5, 20] }` under [revenue].")
    if len(raw_rev) > MAX_COMPANIES:
        raise ConfigError(source, "revenue", f"has {len(raw_rev):,} companies, more than the "
                          f"limit of {MAX_COMPANIES:,}", len(raw_rev),
                          "Group the smaller companies into a few entries (e.g. "
                          "\"Other companies\"); the sum of their revenues is what counts.")
    return raw_rev


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
