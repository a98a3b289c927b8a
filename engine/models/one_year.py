"""The one-year model: Cahn's chain for one year of GPU spend (docs/models.md).

Inputs, in kernel order: ``gpu_spend``, ``energy_ratio``, ``margin``, ``useful_life`` (or
``generation_years``), ``cost_of_capital``, (``perf_per_dollar_gain``,) then one revenue input
per company (from index ``rev0``). Outputs per trial::

    capex                   = G (1 + k)
    required_revenue        = capex / (1 - m)
    required_annual_revenue = capex * charge / (1 - m)
    ai_revenue              = sum of the companies' revenue
    gap                     = required_annual_revenue - ai_revenue
    spend_to_revenue        = G / ai_revenue
    covers                  = ai_revenue >= required_annual_revenue

with ``charge`` = CRF(r, L), or r + ln(gain) / generation_years (:func:`charge_rate`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from numba import njit

from distributions._jitcache import CACHE, stable_identity

from ..core.layout import Layout
from ..core.sampling import first_equal
from . import Model

#: Outputs, in kernel order.
OUTPUTS = ("capex", "required_revenue", "required_annual_revenue", "ai_revenue", "gap",
           "spend_to_revenue")
N_OUT = len(OUTPUTS)
O_CAPEX, O_REQ, O_REQ_ANNUAL, O_REV, O_GAP, O_S2R = range(N_OUT)

DEPRECIATION_CODES = {"straight-line": 0, "generational": 1}

#: Units of money throughout.
MONEY = "US$ billion per year"
#: Units and long names of the outputs.
OUTPUT_ATTRS: Mapping[str, dict[str, str]] = {
    "capex": {"long_name": "data-center capex: GPU spend x (1 + energy_ratio)", "units": MONEY},
    "required_revenue": {"long_name": "lifetime revenue needed per year of capex: "
                                      "capex / (1 - margin)", "units": MONEY},
    "required_annual_revenue": {"long_name": "annual revenue needed: capex x CRF(r, L) / "
                                             "(1 - margin)", "units": MONEY},
    "ai_revenue": {"long_name": "AI revenue: sum over companies", "units": MONEY},
    "gap": {"long_name": "required annual revenue minus AI revenue", "units": MONEY},
    "spend_to_revenue": {"long_name": "GPU spend / AI revenue", "units": "1"},
}

LAYOUT = Layout(outputs=OUTPUTS, hits_axis=False, output_attrs=OUTPUT_ATTRS)

# Fields of the packed arguments: (depreciation, rev0, rate_fixed, rate_src, rev_src).
A_DEP, A_REV0, A_RATE_FIXED, A_RATE_SRC, A_REV_SRC = range(5)


@njit(error_model="numpy")
def charge_rate(depreciation: int, life_or_years: float, r: float, gain: float) -> float:
    """Annual capital charge per $1 of capex (docs/models.md): CRF(r, L), or r + ln(gain)/years.

    IEEE semantics (error_model="numpy"): the same value whatever calls it, never an exception.
    """
    if depreciation == 0:
        if r == 0.0:
            return 1.0 / life_or_years
        # capital recovery factor r / (1 - (1+r)^-L), written to stay accurate for small r
        d = -math.expm1(-life_or_years * math.log1p(r))
        if d == 0.0:  # L r underflows (e.g. r subnormal): the r -> 0 limit, 1/L
            return 1.0 / life_or_years
        return r / d
    return r + math.log(gain) / life_or_years


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def block(xs, sp, p, m, margs, work, outs, cover):
    """The model over m trials of point p, its inputs held as columns (see engine.models).

    ``work[q, 0]`` and ``work[q, 1]`` hold point q's capital charge and revenue sum; point p
    computes them only if it is their source (``rate_src[p] == p``, ``rev_src[p] == p``), else
    reads the earlier point's. The loops are branch-free (selects) and vectorise; the
    operations are those of the equations in the module docstring, in that order, so a trial's
    outputs are the same bits wherever it sits in a block.
    """
    depreciation, rev0, rate_fixed, rate_src, rev_src = margs
    n_in = xs.shape[1]
    rp = rate_src[p]
    qp = rev_src[p]
    rate = work[rp, 0]
    rev = work[qp, 1]
    if rp == p:
        q3, q4, q5 = sp[3], sp[4], sp[5] if depreciation == 1 else 0
        if rate_fixed:
            gain = xs[q5, 5, 0] if depreciation == 1 else 1.0
            c = charge_rate(depreciation, xs[q3, 3, 0], xs[q4, 4, 0], gain)
            for i in range(m):
                rate[i] = c
        else:
            for i in range(m):
                gain = xs[q5, 5, i] if depreciation == 1 else 1.0
                rate[i] = charge_rate(depreciation, xs[q3, 3, i], xs[q4, 4, i], gain)
    if qp == p:
        for i in range(m):
            rev[i] = 0.0
        for j in range(rev0, n_in):
            q = sp[j]
            for i in range(m):
                rev[i] += xs[q, j, i]
    q0, q1, q2 = sp[0], sp[1], sp[2]
    c0 = cover[0]
    for i in range(m):
        g = xs[q0, 0, i]
        capex = g * (1.0 + xs[q1, 1, i])
        keep = 1.0 - xs[q2, 2, i]
        revenue = rev[i]
        required_annual = capex * rate[i] / keep
        outs[O_CAPEX, i] = capex
        outs[O_REQ, i] = capex / keep
        outs[O_REQ_ANNUAL, i] = required_annual
        outs[O_REV, i] = revenue
        outs[O_GAP, i] = required_annual - revenue
        outs[O_S2R, i] = g / revenue if revenue != 0.0 else math.inf
        c0[i] = revenue >= required_annual


def pack(scenarios: Sequence[Any], names: tuple[str, ...]) -> tuple:
    """(depreciation code, index of the first revenue input, charge fixed?, rate_src, rev_src).

    The last three are filled per run by :func:`share`.
    """
    first = scenarios[0]
    if any(sc.depreciation != first.depreciation for sc in scenarios):
        raise ValueError("all points of a plan must use the same depreciation form")
    n_p = len(scenarios)
    own = np.arange(n_p, dtype=np.int64)
    return (DEPRECIATION_CODES[first.depreciation], len(first.inputs), False, own, own.copy())


def share(margs: tuple, src: np.ndarray, is_random: np.ndarray) -> tuple:
    """The arguments for a run whose points hold input columns as ``src`` says: the first point
    with the same capital-charge inputs (life, cost of capital, gain) and the same revenue
    inputs computes the charge and the revenue sum for the others."""
    depreciation, rev0 = margs[A_DEP], margs[A_REV0]
    rate_fixed = not (is_random[3] or is_random[4] or (depreciation == 1 and is_random[5]))
    rate_src = first_equal(src[:, 3:rev0])
    rev_src = first_equal(src[:, rev0:])
    return (depreciation, rev0, bool(rate_fixed), rate_src, rev_src)


def output_inputs(names: tuple[str, ...], margs: tuple) -> list[list[int]]:
    """The inputs of every output (for sharing outputs between sweep points)."""
    rev0 = margs[A_REV0]
    n_j = len(names)
    rev = list(range(rev0, n_j))
    deps = {O_CAPEX: [0, 1], O_REQ: [0, 1, 2], O_REQ_ANNUAL: list(range(rev0)), O_REV: rev,
            O_GAP: list(range(n_j)), O_S2R: [0] + rev}
    return [deps[o] for o in range(N_OUT)]


def cover_margin(outs: np.ndarray, margs: tuple) -> np.ndarray:
    """log(ai_revenue / required_annual_revenue) of each row of outputs (>= 0: covers)."""
    return np.log(outs[:, O_REV]) - np.log(outs[:, O_REQ_ANNUAL])


def cover_direction(names: tuple[str, ...]) -> np.ndarray:
    """+1 for the inputs whose larger values help cover (revenue, a longer life or generation),
    -1 for the others (spend, energy, margin, cost of capital, gain per generation)."""
    return np.array([1.0 if n.startswith("revenue.") or n in ("useful_life", "generation_years")
                     else -1.0 for n in names])


def reference(scenario: Any, x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model on whole arrays with NumPy (the test oracle): every output and ``covers``."""
    g = x["gpu_spend"]
    capex = g * (1.0 + x["energy_ratio"])
    keep = 1.0 - x["margin"]
    r = x["cost_of_capital"]
    if scenario.depreciation == "straight-line":
        life = x["useful_life"]
        with np.errstate(divide="ignore", invalid="ignore"):
            annuity = r / -np.expm1(-life * np.log1p(r))
        rate = np.where(r == 0.0, 1.0 / life, annuity)
    else:
        rate = r + np.log(x["perf_per_dollar_gain"]) / x["generation_years"]
    revenue = np.zeros_like(g)
    for item in scenario.revenue:
        revenue = revenue + x[item.name]
    required_annual = capex * rate / keep
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


MODEL = Model(
    name="one-year", block=block, layout=lambda scenario: LAYOUT, pack=pack,
    reference=reference, work_rows=lambda margs: 2, cached=True, work_per_point=True,
    output_inputs=output_inputs, share=share, cover_margin=cover_margin,
    cover_direction=cover_direction,
    description="one year of GPU spend against one year of AI revenue")
