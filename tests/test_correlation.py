"""Correlated inputs (the Gaussian copula) through the engine, against independent statements.

Stochastic checks use fixed seeds and tolerances of k standard errors with k stated; the
goodness-of-fit test states its alpha.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import xarray as xr

import engine
from engine.analyses import precision, sweeps
from engine.core import runner
from engine.models import make_plan, one_year
from helpers import assert_trace_recomputes_the_run, load_written, run_cli

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = (ROOT / "configs" / "ai-capex-2024.toml").read_text(encoding="utf-8")
VINTAGE = (ROOT / "configs" / "vintage-2024-2032.toml").read_text(encoding="utf-8")

#: A correlated default scenario: a common factor among companies, spend with revenue, and a
#: negative pair (margin against energy cost) so that both signs go through the copula.
CORRELATED = """
[correlation]
groups = [{ members = "revenue", rho = 0.5 }]
pairs = [{ between = ["gpu_spend", "revenue"], rho = 0.3 },
         { between = ["margin", "energy_ratio"], rho = -0.4 }]
"""


def _independent(text: str) -> str:
    """The config text without its [correlation] section (the bundled default may have one)."""
    head, sep, tail = text.partition("\n[correlation]")
    if not sep:
        return text
    rest = tail.split("\n[", 1)
    return head + ("\n[" + rest[1] if len(rest) > 1 else "\n")


def _load(text: str, write_config, name: str = "c.toml"):
    return engine.load_config(write_config(text, name))


@pytest.fixture(scope="module")
def correlated(tmp_path_factory):
    return load_written(tmp_path_factory, "corr", "correlated.toml",
                        _independent(DEFAULT) + CORRELATED)


def _reference_draws(scenario, n: int, seed: int) -> dict[str, np.ndarray]:
    """The same copula built with numpy and scipy alone: numpy's generator for the scores,
    numpy's Cholesky of 2 sin(pi rho / 6), scipy.stats' own quantile functions."""
    names = [i.name for i in scenario.all_inputs]
    rand = [n_ for n_ in names if not scenario.input(n_).dist.is_fixed]
    idx = {n_: k for k, n_ in enumerate(rand)}
    rho = np.eye(len(rand))
    corr = scenario.correlation
    for g in corr.groups:
        for a in g.members:
            for b in g.members:
                if a != b:
                    rho[idx[a], idx[b]] = g.rho
    for p in corr.pairs:
        for a in p.a:
            for b in p.b:
                rho[idx[a], idx[b]] = rho[idx[b], idx[a]] = p.rho
    r = 2.0 * np.sin(np.pi * rho / 6.0)
    np.fill_diagonal(r, 1.0)
    z = np.random.default_rng(seed).standard_normal((n, len(rand))) @ np.linalg.cholesky(r).T
    x = {}
    for n_ in names:
        d = scenario.input(n_).dist
        x[n_] = (np.full(n, d.param("value")) if d.is_fixed
                 else d.scipy().ppf(scipy.stats.norm.cdf(z[:, idx[n_]])))
    return x


def test_engine_matches_a_numpy_scipy_copula(correlated):
    # P(cover) and every output's mean against the copula written with numpy/scipy: within
    # K combined standard errors.
    K = 4.0
    n = 400_000
    ds = engine.simulate(correlated, trials=n, seed=11)
    ref = one_year.reference(correlated, _reference_draws(correlated, n, seed=12))
    p_e, p_r = float(ds["p_cover"]), float(ref["covers"].mean())
    se = math.sqrt(p_e * (1 - p_e) / n + p_r * (1 - p_r) / n)
    assert abs(p_e - p_r) <= K * se, (p_e, p_r, se)
    # the correlation matters: the independent answer is far outside those errors
    ind = engine.simulate(engine.loads(_independent(DEFAULT)), trials=n, seed=11)
    assert abs(float(ind["p_cover"]) - p_r) > 10 * se
    for name in ("gap", "ai_revenue", "required_annual_revenue", "capex"):
        m_r, s_r = ref[name].mean(), ref[name].std()
        se_m = math.sqrt(float(ds[f"{name}_std"]) ** 2 / n + s_r**2 / n)
        assert abs(float(ds[f"{name}_mean"]) - m_r) <= K * se_m, name


COMONOTONE = """
[scenario]
name = "comonotone"
seed = 5
[inputs]
gpu_spend = 60
energy_ratio = 1.0
margin = 0.5
useful_life = 1
cost_of_capital = 0.0
[revenue]
A = {{ dist = "lognormal", mu = 2.0, sigma = {s} }}
B = {{ dist = "lognormal", mu = 2.5, sigma = {s} }}
C = {{ dist = "lognormal", mu = 1.0, sigma = {s} }}
[correlation]
groups = [{{ members = "revenue", rho = 1.0 }}]
"""


def test_comonotone_companies_match_the_closed_form(write_config):
    # rho = 1 among equal-sigma lognormals: the sum is exp(sigma Z) * sum(exp(mu_i)), one
    # lognormal, so P(sum >= 240) = Phi((log sum(exp(mu_i)) - log 240) / sigma). K = 4 SE.
    K = 4.0
    s = 0.9
    sc = _load(COMONOTONE.format(s=s), write_config)
    n = 1_000_000
    ds = engine.simulate(sc, trials=n)
    exact = scipy.stats.norm.cdf((math.log(math.exp(2.0) + math.exp(2.5) + math.exp(1.0))
                                  - math.log(240.0)) / s)
    se = math.sqrt(exact * (1 - exact) / n)
    assert abs(float(ds["p_cover"]) - exact) <= K * se, (float(ds["p_cover"]), exact)
    # and trial by trial: every company's normal score is the same one
    tr = engine.trace(sc, 0, 2000)
    za = np.log(tr["revenue.A"].values) - 2.0
    for c, mu in (("B", 2.5), ("C", 1.0)):
        np.testing.assert_allclose(np.log(tr[f"revenue.{c}"].values) - mu, za, rtol=0,
                                   atol=1e-12)


THREE = """
[scenario]
name = "three"
seed = 3
[inputs]
gpu_spend = { dist = "lognormal", ci90 = [100, 200] }
energy_ratio = { dist = "triangular", min = 0.6, mode = 1.0, max = 1.6 }
margin = { dist = "pert", min = 0.3, mode = 0.5, max = 0.7 }
useful_life = 3
cost_of_capital = 0.05
[revenue]
A = { dist = "uniform", min = 5, max = 20 }
B = { dist = "lognormal", ci90 = [5, 20] }
[correlation]
pairs = [{ between = ["gpu_spend", "A"], rho = 0.6 },
         { between = ["energy_ratio", "margin"], rho = -0.5 },
         { between = ["A", "B"], rho = 0.3 }]
"""


def test_achieved_spearman_is_the_target_and_marginals_are_unchanged(write_config):
    sc = _load(THREE, write_config)
    ds = engine.simulate(sc, trials=100_000)
    ach, tgt = ds["correlation_achieved"].values, ds["correlation_target"].values
    n = int(ds["correlation_achieved"].attrs["trials"])
    assert n == 65_536
    # Fisher's z of a Spearman coefficient under a normal copula has SE sqrt(1.06 / (n - 3))
    # (Fieller, Hartley & Pearson 1957): within K = 3 of it, for every pair.
    K = 3.0
    se = math.sqrt(1.06 / (n - 3))
    off = ~np.eye(len(tgt), dtype=bool)
    assert np.all(np.abs(np.arctanh(ach[off]) - np.arctanh(tgt[off])) <= K * se), (ach, tgt)
    assert np.abs(tgt[off]).max() == pytest.approx(0.6, abs=1e-12)
    # Each marginal as without the section: two-sample KS of the correlated run's column
    # against the independent run's (disjoint trials, so the samples are independent),
    # alpha = 0.001.
    ALPHA = 1e-3
    ind = engine.loads(_independent(THREE))
    a = engine.trace(sc, 0, 20_000)
    b = engine.trace(ind, 20_000, 20_000)
    for name in ("gpu_spend", "energy_ratio", "margin", "revenue.A", "revenue.B"):
        assert scipy.stats.ks_2samp(a[name].values, b[name].values).pvalue > ALPHA, name
    # an input outside the copula keeps its draws bit for bit
    c = engine.trace(ind, 0, 20_000)
    assert np.array_equal(a["useful_life"].values, c["useful_life"].values)


def test_bit_identical_for_any_threads_and_chunks_and_the_scalar_runner(correlated,
                                                                        monkeypatch):
    n = 3 * 4096 + 555
    a = engine.simulate(correlated, trials=n, seed=8, threads=1, chunk_size=4096)
    b = engine.simulate(correlated, trials=n, seed=8, threads=2, chunk_size=8192)
    xr.testing.assert_identical(engine.strip_run_attrs(a), engine.strip_run_attrs(b))
    monkeypatch.setattr(runner, "run_blocks", runner.run_blocks_reference)
    c = engine.simulate(correlated, trials=n, seed=8, threads=1)
    xr.testing.assert_identical(engine.strip_run_attrs(a), engine.strip_run_attrs(c))


def test_trace_recomputes_the_run(correlated):
    assert_trace_recomputes_the_run(correlated, 20_000, seed=4)


def test_sweep_over_a_group_rho_is_monotone_and_each_point_is_its_quote(correlated):
    values = [0.1, 0.25, 0.5, 0.75, 1.0]  # below ~0.05 the spend pairs make it invalid
    n = 200_000
    sw = sweeps.sweep(correlated, {"correlation.groups.0.rho": values}, trials=n)
    p = sw["p_cover"].values
    assert np.all(np.diff(p) > 0), p
    assert sw["correlation_target"].dims == ("correlation.groups.0.rho", "correlated",
                                             "correlated_with")
    one = sweeps.sweep_point(sw, {"correlation.groups.0.rho": 0.75})
    pinned = sweeps.pin(correlated, {"correlation.groups.0.rho": 0.75})
    q = engine.simulate(pinned, trials=n)
    assert float(one["p_cover"]) == float(q["p_cover"])
    assert float(one["gap_mean"]) == float(q["gap_mean"])


def test_a_sweep_point_that_breaks_the_matrix_is_refused(correlated):
    with pytest.raises(engine.ConfigError, match="not positive semi-definite"):
        sweeps.sweep(correlated, {"correlation.groups.0.rho": [0.5, -0.5]}, trials=1000)
    with pytest.raises(engine.ConfigError, match="there is no group 3"):
        sweeps.sweep(correlated, {"correlation.groups.3.rho": [0.5]}, trials=1000)


def test_importance_sampling_with_correlation_agrees_with_plain_monte_carlo(correlated):
    # The shift moves the independent scores before the copula: the weighted estimate agrees
    # with plain Monte Carlo within K combined standard errors.
    K = 4.0
    n = 2_000_000
    mc = engine.simulate(correlated, trials=n, seed=21)
    q = precision.quote(correlated, method="importance", trials=200_000, seed=22)
    assert q.attrs["method"] == "importance"
    p_mc = float(mc["p_cover"])
    se = math.sqrt(p_mc * (1 - p_mc) / n + float(q["p_cover_se"]) ** 2)
    assert abs(float(q["p_cover"]) - p_mc) <= K * se
    assert "correlation_target" in q


def test_vintage_model_with_a_revenue_group(write_config):
    text = _independent(VINTAGE) + """
[correlation]
groups = [{ members = "revenue_growth", rho = 0.6 }]
"""
    sc = _load(text, write_config)
    plan = make_plan(sc)
    assert all(plan.names[j].startswith("revenue_growth.") for j in plan.cidx)
    assert len(plan.cidx) >= 2
    n = 3 * 4096 + 99
    a = engine.simulate(sc, trials=n, threads=1, chunk_size=4096)
    b = engine.simulate(sc, trials=n, threads=2)
    xr.testing.assert_identical(engine.strip_run_attrs(a), engine.strip_run_attrs(b))
    ind = engine.simulate(engine.loads(_independent(VINTAGE)), trials=n)
    # revenue growth moving together widens the spread of total revenue in the last year
    last = {"year": a["year"].values[-1]}
    assert float(a["ai_revenue_std"].sel(last)) > float(ind["ai_revenue_std"].sel(last))


def test_achieved_spearman_is_scipys(write_config):
    sc = _load(THREE, write_config)
    plan = make_plan(sc)
    from engine.analyses.correlation import achieved_spearman
    got = achieved_spearman(plan, 3, 5000)
    xs, _, _ = runner.trace_trials(plan, 3, 0, 0, 5000)
    want = scipy.stats.spearmanr(xs[:, plan.cidx]).statistic
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_cli_independent_and_repair(capsys, write_config):
    code, out, _ = run_cli(capsys, "quote", "--trials", 20_000, "--json", "--independent")
    assert code == 0 and "correlation" not in json.loads(out)
    code, out, _ = run_cli(capsys, "quote", "--trials", 20_000, "--json")
    obj = json.loads(out)
    assert code == 0 and len(obj["correlation"]["inputs"]) == 16
    assert obj["correlation"]["achieved_trials"] == 20_000
    bad = write_config(_independent(THREE) + """
[correlation]
pairs = [{ between = ["gpu_spend", "A"], rho = 0.9 },
         { between = ["A", "B"], rho = 0.9 },
         { between = ["gpu_spend", "B"], rho = -0.9 }]
""", "bad.toml")
    code, out, err = run_cli(capsys, "quote", bad, "--trials", 1000)
    assert code == 2 and out == "" and "correlation" in err and "smallest eigenvalue" in err
    assert "Traceback" not in err
    code, out, err = run_cli(capsys, "quote", bad, "--trials", 20_000, "--repair-correlation",
                             "--json")
    obj = json.loads(out)
    assert code == 0 and any("nearest valid" in n for n in obj["notes"])
    # the matrix used is valid (the JSON's 6 decimals move an eigenvalue by up to ~1e-6) and
    # not the one asked for, whose smallest eigenvalue is about -0.9
    tgt = np.array(obj["correlation"]["target_spearman"])
    assert np.linalg.eigvalsh(2 * np.sin(np.pi * tgt / 6)).min() >= -1e-5
