"""Precision targets on P(cover)'s 95% interval, and the checks of a quote's options.

:class:`Target` (relative and absolute half-widths), :func:`check_options` (every option of
:func:`engine.analyses.precision.quote` checked before any work) and
:func:`precision_attrs` (how a precision run ended). Shared by plain Monte Carlo, importance
sampling (:mod:`engine.analyses.precision`) and replicated samplers
(:mod:`engine.analyses.qmc_precision`).

Dependency rule: ``engine.base``, ``engine.core`` and ``engine.models``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from engine import models
from engine.base.errors import ConfigError
from engine.core.driver import MAX_TRIALS
from engine.core.scenario import Scenario

#: The estimators of P(cover) a quote picks between (:func:`engine.analyses.precision.quote`).
METHODS = ("auto", "mc", "importance")


@dataclass(frozen=True)
class Target:
    """A precision target on the 95% interval of P(cover): every given bound must hold.

    ``rel``: half-width <= rel * p (never met while p = 0); ``abs``: half-width <= abs.
    The half-width of an interval [lo, hi] around p is ``max(hi - p, p - lo)``.
    """

    rel: float | None = None
    abs: float | None = None

    def halfwidth_goal(self, p: float) -> float:
        """The largest half-width that meets the target at estimate p (0 if none can)."""
        goal = math.inf
        if self.rel is not None:
            goal = min(goal, self.rel * p)
        if self.abs is not None:
            goal = min(goal, self.abs)
        return goal

    def met(self, p: float, lo: float, hi: float) -> bool:
        hw = max(hi - p, p - lo)
        goal = self.halfwidth_goal(p)
        return goal > 0.0 and hw <= goal

    def factor(self, p: float, lo: float, hi: float) -> float:
        """How many times the trials done the target needs (half-width ~ 1/sqrt(n))."""
        hw = max(hi - p, p - lo)
        goal = self.halfwidth_goal(p)
        if goal <= 0.0:
            return math.inf
        ratio = hw / goal
        return ratio * ratio  # a float product gives inf where ** raises OverflowError

    def describe(self) -> str:
        parts = []
        if self.rel is not None:
            parts.append(f"+-{_g(100 * self.rel)}% relative")
        if self.abs is not None:
            parts.append(f"+-{_g(self.abs)} absolute")
        return " and ".join(parts) + " (half-width of the 95% interval)"


def _g(x: float) -> str:
    return f"{x:.4g}"


def check_options(scenario: Scenario, *, method: str = "auto", trials: int | None = None,
                  precision: float | None = None, abs_precision: float | None = None,
                  max_trials: int | None = None, pilot_trials: int | None = None,
                  flags: bool = False) -> Target | None:
    """Validate the options of :func:`quote` (before any work); return the target, if any.

    ``flags=True`` names the command-line flags in messages (``--precision``) instead of the
    keyword arguments.
    """
    def name(key: str) -> str:
        return "--" + key.replace("_", "-") if flags else key

    if method not in METHODS:
        raise ConfigError(None, name("method"), "must be auto, mc or importance", method,
                          "auto picks importance sampling when plain Monte Carlo sees too "
                          "few covering trials.")
    for key, value, hi, what in (("precision", precision, 1.0, "0.01 for +-1% of P(cover)"),
                                 ("abs_precision", abs_precision, 0.5,
                                  "0.001 for +-0.1 percentage points")):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not (math.isfinite(value) and 0.0 < value <= hi):
            raise ConfigError(None, name(key), f"must be a number in (0, {_g(hi)}]", value,
                              f"Give the half-width of the 95% interval, e.g. {what}.")
    target = Target(precision, abs_precision) \
        if precision is not None or abs_precision is not None else None
    if target is not None and trials is not None:
        raise ConfigError(None, name("trials"), f"cannot be combined with {name('precision')} "
                          f"or {name('abs_precision')}", trials,
                          "A precision run decides its own number of trials; cap it with "
                          f"{name('max_trials')} (or {name('max_seconds')}).")
    if max_trials is not None:
        if target is None:
            raise ConfigError(None, name("max_trials"), f"only applies with {name('precision')}"
                              f" or {name('abs_precision')}", max_trials,
                              f"Give {name('trials')} for a fixed number of trials, or add a "
                              "precision target.")
        _check_count(max_trials, name("max_trials"))
    if pilot_trials is not None:
        _check_count(pilot_trials, name("pilot_trials"))
    model = models.get(scenario.model)
    if method == "importance" and model.cover_margin is None:
        raise ConfigError(scenario.source, "scenario.model", "importance sampling supports "
                          "models with one headline P(cover) only", scenario.model,
                          f"Use --method mc (or auto) for the {scenario.model} model.")
    if target is not None and model.layout(scenario).dim is not None:
        raise ConfigError(scenario.source, "scenario.model", "precision targets support models "
                          f"with one headline P(cover) only (the {scenario.model} model has one "
                          f"per {model.layout(scenario).dim})", scenario.model,
                          f"Give --trials for the {scenario.model} model.")
    return target


def _check_count(value: Any, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not 1 <= value <= MAX_TRIALS:
        raise ConfigError(None, key, "must be a whole number in [1, 2**53]", value,
                          "Pass e.g. 100000000.")




def precision_attrs(ds: xr.Dataset, target: Target, ok: bool, cap: int, stop: str
                     ) -> xr.Dataset:
    """``ds`` with the attributes that say how a precision run ended (run attributes:
    :data:`engine.core.dataset.RUN_ATTRS`)."""
    ds.attrs["precision_target"] = target.describe()
    ds.attrs["precision_met"] = np.int8(1 if ok else 0)
    ds.attrs["precision_max_trials"] = np.int64(cap)
    ds.attrs["precision_stop"] = stop
    return ds
