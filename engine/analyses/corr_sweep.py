"""Sweeping a rank correlation: ``correlation.groups.0.rho`` or ``correlation.pairs.1.rho``.

A sweep (or ``pin``) key under ``correlation.`` names one group or pair of the scenario's
``[correlation]`` section by its position and replaces its ``rho``; every point is checked as
the config is (``|rho| <= 1``; a matrix that is not positive semi-definite is refused unless
the section asked to be repaired).

Dependency rule: ``engine.base`` and ``engine.core``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Sequence

from engine.base.errors import ConfigError
from engine.core import copula
from engine.core.scenario import Scenario

#: The input name a correlation sweep key resolves to (its "parameter" is the rest).
NAME = "correlation"
_KEY = re.compile(r"(groups|pairs)\.(\d+)\.rho")


def is_key(key: str) -> bool:
    """Whether a sweep key changes the correlation section."""
    return key == NAME or key.startswith(NAME + ".")


def resolve(scenario: Scenario, file: str, key: str) -> tuple[str, str]:
    """``(NAME, "groups.0.rho")`` for a valid key, else a ConfigError naming it."""
    corr = scenario.correlation
    rest = key[len(NAME) + 1:]
    m = _KEY.fullmatch(rest)
    if corr is None or corr.is_empty:
        raise ConfigError(file, f"sweep.{key}", "sweeps a rank correlation, but the config has "
                          "no [correlation] section", None,
                          "Add a [correlation] section with the group or pair to sweep.")
    if not m:
        raise ConfigError(file, f"sweep.{key}", "is not a correlation parameter", None,
                          "Sweep `correlation.groups.<i>.rho` or `correlation.pairs.<i>.rho` "
                          "(i counts from 0 in file order).")
    kind, i = m.group(1), int(m.group(2))
    items = corr.groups if kind == "groups" else corr.pairs
    if i >= len(items):
        raise ConfigError(file, f"sweep.{key}", f"there is no {kind[:-1]} {i}: the config has "
                          f"{len(items)} {kind}", None,
                          f"Use an index from 0 to {len(items) - 1}." if items else
                          f"Add a [[correlation.{kind}]] entry first.")
    return NAME, rest


def apply(scenario: Scenario, items: Sequence[tuple[str, Any]], file: str, errkey: str,
          context: str = "") -> Scenario:
    """The scenario with each ``(param, rho)`` set, checked as the config is."""
    corr = scenario.correlation
    assert corr is not None
    groups, pairs = list(corr.groups), list(corr.pairs)
    for param, value in items:
        kind, i, _ = param.split(".")
        rho = float(value)
        if not abs(rho) <= 1.0:
            raise ConfigError(file, errkey, f"{context}sets a rank correlation outside "
                              "[-1, 1]", value, "Sweep rho between -1 and 1.")
        target = groups if kind == "groups" else pairs
        target[int(i)] = dataclasses.replace(target[int(i)], rho=rho)
    new = dataclasses.replace(corr, groups=tuple(groups), pairs=tuple(pairs))
    if not new.repair:
        names = [i.name for i in scenario.all_inputs if not i.dist.is_fixed]
        r = copula.pearson_from_spearman(copula.spearman_matrix(new, names))
        if not copula.is_psd(r):
            raise ConfigError(
                file, errkey, f"{context}makes the correlation matrix not positive "
                f"semi-definite (smallest eigenvalue {copula.min_eigenvalue(r):.4g})", None,
                "Sweep rho over a range where the matrix stays valid (for a group of n "
                "inputs, rho >= -1/(n-1) roughly), or run with --repair-correlation.")
    return dataclasses.replace(scenario, correlation=new)


def split(assign: Sequence[tuple[str, str | None, Any]]
          ) -> tuple[list[tuple[str, Any]], list[tuple[str, str | None, Any]]]:
    """The correlation items ``(param, value)`` and the input items of an assignment."""
    corr = [(p, v) for n, p, v in assign if n == NAME and p is not None]
    rest = [(n, p, v) for n, p, v in assign if n != NAME]
    return corr, rest
