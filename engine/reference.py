"""A plain NumPy/SciPy implementation of the one-year model: the test oracle and the benchmark
baseline.

It shares nothing with the kernel but the config and (optionally) the uniforms: inputs are
transformed with scipy.stats' own quantile functions and the model is written with whole-array
NumPy operations, so agreement between the two is evidence, not tautology.
"""

from __future__ import annotations

from typing import Literal, Mapping

import numpy as np

from .config import Scenario
from .rng import stream_id, uniforms

Source = Literal["capexgap", "numpy"]


def sample_inputs(scenario: Scenario, first: int, n: int, seed: int,
                  source: Source = "capexgap") -> dict[str, np.ndarray]:
    """Draw inputs for trials ``first .. first+n-1`` with scipy's quantile functions.

    Parameters
    ----------
    source : {"capexgap", "numpy"}
        ``"capexgap"``: the engine's counter-based uniforms, so each trial matches the kernel's
        trial. ``"numpy"``: numpy's default Generator (PCG64) seeded with `seed`, the way a
        NumPy user would write it (for the benchmark baseline).
    """
    rng = np.random.default_rng(seed) if source == "numpy" else None
    x: dict[str, np.ndarray] = {}
    for item in scenario.all_inputs:
        if item.dist.is_fixed:
            x[item.name] = np.full(n, float(item.dist.ppf(np.array([0.5]))[0]))
            continue
        u = rng.random(n) if rng is not None else uniforms(seed, stream_id(item.name), first, n)
        x[item.name] = item.dist.scipy().ppf(u)
    return x


def evaluate(scenario: Scenario, x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model of docs/models.md on whole arrays; returns every output and ``covers``."""
    g = x["gpu_spend"]
    capex = g * (1.0 + x["energy_ratio"])
    keep = 1.0 - x["margin"]
    r = x["cost_of_capital"]
    if scenario.depreciation == "straight-line":
        life = x["useful_life"]
        with np.errstate(divide="ignore", invalid="ignore"):
            annuity = r / -np.expm1(-life * np.log1p(r))
        charge_rate = np.where(r == 0.0, 1.0 / life, annuity)
    else:
        charge_rate = r + np.log(x["perf_per_dollar_gain"]) / x["generation_years"]
    revenue = np.zeros_like(g)
    for item in scenario.revenue:
        revenue = revenue + x[item.name]
    required_annual = capex * charge_rate / keep
    with np.errstate(divide="ignore"):
        s2r = np.where(revenue != 0.0, g / np.where(revenue != 0.0, revenue, 1.0), np.inf)
    return {
        "capex": capex,
        "required_revenue": capex / keep,
        "required_annual_revenue": required_annual,
        "ai_revenue": revenue,
        "gap": required_annual - revenue,
        "spend_to_revenue": s2r,
        "covers": revenue >= required_annual,
    }


def simulate_numpy(scenario: Scenario, trials: int, seed: int, *, source: Source = "numpy",
                   levels: tuple[float, ...] = (0.05, 0.5, 0.95)) -> dict[str, object]:
    """Whole-array Monte Carlo: P(cover), and the gap's mean and quantiles (np.quantile).

    Memory grows with `trials` (every trial is stored): this is the idiomatic baseline, not a
    way to run a billion trials.
    """
    out = evaluate(scenario, sample_inputs(scenario, 0, trials, seed, source))
    gap = out["gap"]
    return {
        "p_cover": float(out["covers"].mean()),
        "gap_mean": float(gap.mean()),
        "gap_quantiles": dict(zip(levels, np.quantile(gap, levels).tolist())),
    }
