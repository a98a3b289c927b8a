"""Plain NumPy/SciPy runs of any model: the test oracle and the benchmark baseline.

They share nothing with the runner but the config and (optionally) the uniforms: inputs are
transformed with scipy.stats' own quantile functions and the model is its NumPy statement
(``engine.models.get(scenario.model).reference``, whole-array operations), so agreement
between the two is evidence, not tautology.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from engine.core.scenario import Scenario
from engine.core.rng import stream_id, uniforms
from engine.models import get

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
    """The scenario's model on whole arrays (its NumPy reference, docs/models.md): every
    output and every cover indicator, by name."""
    return get(scenario.model).reference(scenario, x)


def simulate_numpy(scenario: Scenario, trials: int, seed: int, *, source: Source = "numpy",
                   levels: tuple[float, ...] = (0.05, 0.5, 0.95), output: str = "gap"
                   ) -> dict[str, object]:
    """Whole-array Monte Carlo of any model: P(cover), and one output's mean and quantiles
    (np.quantile).

    The headline indicator is the model's first cover indicator. For a model with a second
    dimension (the vintage model's years) every figure is a list along it.

    Memory grows with `trials` (every trial is stored): this is the idiomatic baseline, not a
    way to run a billion trials.
    """
    model = get(scenario.model)
    out = evaluate(scenario, sample_inputs(scenario, 0, trials, seed, source))
    covers = out[model.layout(scenario).covers[0]]
    values = out[output]
    q = np.quantile(values, levels, axis=0)
    return {
        "p_cover": _plain(covers.mean(axis=0)),
        f"{output}_mean": _plain(values.mean(axis=0)),
        f"{output}_quantiles": {lv: _plain(q[k]) for k, lv in enumerate(levels)},
    }


def _plain(a) -> float | list[float]:
    """A NumPy scalar as a float, an array as a list (JSON-able)."""
    a = np.asarray(a, dtype=np.float64)
    return float(a) if a.ndim == 0 else a.tolist()
