"""Mixture importance sampling (engine.analyses.mixture, engine.core.mixture): every way to
cover gets proposal mass.

Oracle: n identical lognormal companies R_i = exp(MU + S Z_i) against a fixed requirement
(fixed spend G, energy ratio 1, margin 0.5, one-year life, no cost of capital: required = 4 G,
as in test_precision.py), P(cover) = P(R_1 + ... + R_n >= 4 G). The most likely covering
points are the n corners where one company carries the sum; the symmetric point (all shifted
equally) is far less likely. The truth is the Asmussen-Kroese identity

    P(S_n >= c) = n E[ Fbar(max(M_{n-1}, c - S_{n-1})) ]

(M_{n-1}, S_{n-1}: the max and the sum of n - 1 companies, Fbar a company's survival), taken
by trapezoidal integration over the n - 1 normal scores (n = 2, 3) or by a long Monte Carlo
of it (n = 5, with its own standard error).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.special

import engine
from engine.analyses.precision import quote
from engine.core.reduce import BLOCK

TEXT = """
[scenario]
name = "identical companies"
seed = {seed}
[inputs]
gpu_spend = {g}
energy_ratio = 1.0
margin = 0.5
useful_life = 1
cost_of_capital = 0
[revenue]
{companies}
"""
G, S = 150.0, 1.0
#: mu of each company's log revenue, per number of companies: P(cover) ~ 1e-10
MU = {2: math.log(4 * G) - 6.3 * S, 3: math.log(4 * G) - 6.2 * S, 5: math.log(4 * G) - 6.0 * S}


def identical(n: int, seed: int) -> engine.Scenario:
    comp = "\n".join(f'C{i} = {{ dist = "lognormal", mu = {MU[n]!r}, sigma = {S} }}'
                     for i in range(n))
    return engine.loads(TEXT.format(seed=seed, g=G, companies=comp), source="identical.toml")


def _fbar(x: np.ndarray, mu: float) -> np.ndarray:
    """A company's survival P(R > x) (1 for x <= 0), accurate far in the tail (ndtr)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, scipy.special.ndtr(-(np.log(np.maximum(x, 1e-300)) - mu) / S),
                        1.0)


def truth(n: int) -> tuple[float, float]:
    """(P(cover), its standard error: 0 for the quadratures) by Asmussen-Kroese."""
    c, mu = 4 * G, MU[n]
    if n in (2, 3):
        z = np.linspace(-10.0, 10.0, 4001 if n == 2 else 1601)
        h = z[1] - z[0]
        wz = scipy.special.ndtr(z + h / 2) - scipy.special.ndtr(z - h / 2)  # cell masses
        r = np.exp(mu + S * z)
        if n == 2:
            return float(n * np.sum(wz * _fbar(np.maximum(r, c - r), mu))), 0.0
        r1, r2 = r[:, None], r[None, :]
        f = _fbar(np.maximum(np.maximum(r1, r2), c - r1 - r2), mu)
        return float(n * wz @ f @ wz), 0.0
    rng = np.random.default_rng(20260)
    vals = np.empty(0)
    for _ in range(8):  # 8 x 250,000 draws of the other n - 1 companies
        r = np.exp(mu + S * rng.standard_normal((250_000, n - 1)))
        vals = np.concatenate([vals, n * _fbar(np.maximum(r.max(1), c - r.sum(1)), mu)])
    return float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(vals.size))


def test_truth_is_rare_and_the_quadrature_agrees_with_its_monte_carlo():
    for n in (2, 3, 5):
        p, _ = truth(n)
        assert 1e-12 < p < 1e-8, (n, p)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_identical_companies_every_corner(n):
    p_true, se_true = truth(n)
    covered, times = 0, []
    for seed in range(20):
        t0 = time.perf_counter()
        ds = quote(identical(n, seed), precision=0.1, method="importance", pilot_trials=BLOCK)
        times.append(time.perf_counter() - t0)
        p, se = float(ds["p_cover"]), float(ds["p_cover_se"])
        lo, hi = ds["p_cover_ci95"].values
        assert int(ds.attrs["trials"]) <= 2_000_000
        met = int(ds.attrs["precision_met"]) == 1
        assert met, ds.attrs["precision_stop"]
        k = 5  # standard errors: a run that says "met" never misses the truth by more
        assert abs(p - p_true) <= k * math.hypot(se, se_true), (seed, p, p_true, se)
        covered += lo <= p_true <= hi
        # the weights' mean is 1 in expectation (each weight is at most 1 / the nominal share)
        k_w = 4  # standard errors
        assert abs(float(ds["weight_mean"]) - 1.0) <= k_w * float(ds["weight_mean_se"]), seed
        assert int(ds["importance_components"].sizes["component"]) >= n
    print(f"\n{n} identical companies: P = {p_true:.4g}, the 95% interval covered it in "
          f"{covered} of 20 seeds, {np.median(times):.2f} s per run")
    assert covered >= 17


# ------------------------------------------------------------ companies that differ: sequoia


def _lognormal(a: float, b: float) -> tuple[float, float]:
    """(mu, sigma) of a lognormal with 90% interval [a, b] (the configs' ``ci90``)."""
    z95 = float(scipy.special.ndtri(0.95))
    return (math.log(a) + math.log(b)) / 2, (math.log(b) - math.log(a)) / (2 * z95)


def sequoia_reference(companies: dict[str, tuple[float, float]], n: int = 50_000,
                      seed: int = 600) -> tuple[float, float]:
    """P(sum of the companies >= spend (1 + energy) / margin) for the inputs of
    configs/sequoia-600b-uncertain.toml, independent of the engine: the Asmussen-Kroese
    identity for independent companies, ``P(S >= c) = sum_i E[Fbar_i(max(M_-i, c - S_-i))]``
    (company i the largest; ``M_-i``, ``S_-i``: the max and sum of the others), each term a
    numpy Monte Carlo mean over the energy ratio (lognormal, ci90), the margin (PERT
    0.4/0.5/0.6 = 0.4 + 0.2 Beta(3, 3)) and the other companies, of the conditional
    probability integrated over the spend's normal score (trapezoidal cell masses on
    [-8, 8]). Returns (P, standard error)."""
    rng = np.random.default_rng(seed)
    mg, sg = _lognormal(120, 180)
    me, se_ = _lognormal(0.75, 1.33)
    zg = np.linspace(-8.0, 8.0, 161)
    h = zg[1] - zg[0]
    wg = scipy.special.ndtr(zg + h / 2) - scipy.special.ndtr(zg - h / 2)
    spend = np.exp(mg + sg * zg)[None, :]
    params = [_lognormal(*ci) for ci in companies.values()]
    total, var = 0.0, 0.0
    for i, (mi, si) in enumerate(params):
        terms = []
        for _ in range(n // 10_000):
            energy = np.exp(me + se_ * rng.standard_normal(10_000))
            margin = 0.4 + 0.2 * rng.beta(3.0, 3.0, 10_000)
            others = np.stack([np.exp(m + s * rng.standard_normal(10_000))
                               for k, (m, s) in enumerate(params) if k != i], axis=1)
            c = spend * ((1 + energy) / margin)[:, None]
            x = np.maximum(others.max(1)[:, None], c - others.sum(1)[:, None])
            terms.append(scipy.special.ndtr(-(np.log(x) - mi) / si) @ wg)
        term = np.concatenate(terms)
        total += term.mean()
        var += term.var(ddof=1) / term.size
    return float(total), math.sqrt(var)


SEQUOIA = {"Google": (5, 20), "Microsoft": (5, 20), "Apple": (5, 20), "Meta": (5, 20),
           "Oracle": (2.5, 10), "ByteDance": (2.5, 10), "Alibaba": (2.5, 10),
           "Tencent": (2.5, 10), "X": (2.5, 10), "Tesla": (2.5, 10)}
OTHER = '"Other (a few more companies)" = { dist = "lognormal", ci90 = [15, 60] }'


@pytest.mark.parametrize("other", [True, False], ids=["with-other", "without-other"])
def test_sequoia_agrees_with_an_independent_reference(configs, other):
    text = (configs / "sequoia-600b-uncertain.toml").read_text(encoding="utf-8")
    companies = dict(SEQUOIA)
    if other:
        companies["Other"] = (15, 60)
    else:
        assert OTHER in text
        text = text.replace(OTHER, "")
    sc = engine.loads(text, source="sequoia.toml")
    ref, ref_se = sequoia_reference(companies)
    ds = quote(sc, precision=0.05, method="importance", pilot_trials=BLOCK)
    p, se = float(ds["p_cover"]), float(ds["p_cover_se"])
    assert int(ds.attrs["precision_met"]) == 1
    k = 3  # standard errors of the difference
    assert ref_se < 0.05 * ref  # the reference is precise enough to mean something
    assert abs(p - ref) < k * math.hypot(se, ref_se), (p, se, ref, ref_se)
    print(f"\nsequoia {'with' if other else 'without'} Other: {p:.4g} +- {se:.2g} (SE), "
          f"reference {ref:.4g} +- {ref_se:.2g}, {int(ds.attrs['trials']):,} trials, "
          f"{int(ds['importance_components'].sizes['component'])} components")
