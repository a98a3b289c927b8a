"""Randomized quasi-Monte Carlo and Latin hypercubes (engine.core.qmc, engine.core.lhs,
engine.analyses.qmc, quote --sampler sobol|lhs).

Closed-form oracle: lognormal GPU spend G and company revenues R_c with fixed ratios (k = 1,
m = 0.5, life 1, no cost of capital), so the gap is ``4 G - sum_c R_c`` and its mean is
``4 exp(mu_G + s_G^2 / 2) - sum_c exp(mu_c + s_c^2 / 2)``; with one company P(cover) =
Phi((mu_R - mu_G - ln 4) / sqrt(s_G^2 + s_R^2)).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats
import xarray as xr
from scipy.stats import qmc as scipy_qmc

import engine
from engine.analyses.qmc import points_per_replicate, simulate_qmc
from engine.cli import main
from engine.core import lhs, qmc
from engine.core.reduce import BLOCK

ORACLE = """
[scenario]
name = "qmc oracle"
seed = {seed}
[inputs]
gpu_spend = {{ dist = "lognormal", mu = 5.0, sigma = 0.3 }}
energy_ratio = 1.0
margin = 0.5
useful_life = 1
cost_of_capital = 0
[revenue]
{revenue}
"""
COMPANIES = ((4.0, 0.4), (3.5, 0.5), (3.0, 0.6))


def oracle(seed: int = 1) -> tuple[engine.Scenario, float]:
    """Three lognormal companies: the scenario and its exact mean gap."""
    rev = "\n".join(f'C{i} = {{ dist = "lognormal", mu = {m}, sigma = {s} }}'
                    for i, (m, s) in enumerate(COMPANIES))
    sc = engine.loads(ORACLE.format(seed=seed, revenue=rev), source="oracle.toml")
    truth = 4 * math.exp(5.0 + 0.3**2 / 2) - sum(math.exp(m + s * s / 2) for m, s in COMPANIES)
    return sc, truth


def oracle_p(seed: int = 1) -> tuple[engine.Scenario, float]:
    """One company: the scenario and its exact P(cover) (about 0.2)."""
    mu_r, s_r = 6.0, 0.6
    rev = f'All = {{ dist = "lognormal", mu = {mu_r}, sigma = {s_r} }}'
    sc = engine.loads(ORACLE.format(seed=seed, revenue=rev), source="oracle.toml")
    p = float(scipy.stats.norm.cdf((mu_r - 5.0 - math.log(4)) / math.hypot(0.3, s_r)))
    return sc, p


# -- the points


def test_unscrambled_points_are_scipys_bit_for_bit():
    n, d = 2**16, 50
    ours = qmc.points(n, d, scramble=False)
    theirs = scipy_qmc.Sobol(d, scramble=False, bits=32).random(n)
    assert np.array_equal(ours, theirs)  # x * 2**-32 both sides: exact
    # any run of indices alone (a chunk) gives the same points
    assert np.array_equal(qmc.points(1000, d, scramble=False, first=12345),
                          theirs[12345:13345])


@pytest.mark.parametrize("k", [4, 10, 16])
def test_scrambled_points_keep_one_point_per_interval(k):
    """Each 1-D projection of 2**k scrambled points: one point in each of 2**k intervals
    (a nested scramble keeps the net), strictly inside (0, 1)."""
    for seed, rep in ((0, 0), (7, 3), (2**64 - 1, 15)):
        x = qmc.points(2**k, 20, seed=seed, replicate=rep)
        assert np.all((x > 0.0) & (x < 1.0))
        for j in range(x.shape[1]):
            assert np.array_equal(np.sort(np.floor(x[:, j] * 2**k)), np.arange(2**k))
    # dimensions 0 and 1 are a (0, m, 2)-net: one point in each 2**a x 2**(k - a) box
    x = qmc.points(2**k, 2, seed=5)
    for a in range(k + 1):
        cell = np.floor(x[:, 0] * 2**a) * 2**(k - a) + np.floor(x[:, 1] * 2**(k - a))
        assert np.array_equal(np.sort(cell), np.arange(2**k))


def test_scrambles_differ_by_seed_replicate_and_stream_and_keep_with_more_inputs():
    base = qmc.points(256, 3, seed=1, replicate=0, streams=[11, 22, 33])
    assert not np.array_equal(base, qmc.points(256, 3, seed=2, replicate=0,
                                               streams=[11, 22, 33]))
    assert not np.array_equal(base, qmc.points(256, 3, seed=1, replicate=1,
                                               streams=[11, 22, 33]))
    # an input added after the others leaves their dimensions and scrambles as they were
    more = qmc.points(256, 4, seed=1, replicate=0, streams=[11, 22, 33, 44])
    assert np.array_equal(base, more[:, :3])


def test_points_per_replicate_is_a_power_of_two():
    assert points_per_replicate(2**20, 16) == 2**16
    assert points_per_replicate(1_000_000, 16) == 2**16
    assert points_per_replicate(1, 16) == 1
    assert points_per_replicate(100, 3) == 64


# -- the engine


def test_rmse_falls_at_least_as_n_to_the_minus_0_9():
    """Mean gap (smooth: linear in four lognormals) over 16 replicates, N = 2**12 .. 2**20
    points per replicate: the least-squares slope of log RMSE on log N is <= -0.9 (plain
    Monte Carlo: -0.5)."""
    sc, truth = oracle(seed=7)
    ks = np.arange(12, 21, 2)
    rmse = []
    for k in ks:
        ds = simulate_qmc(sc, trials=16 * 2**int(k), replicates=16)
        est = ds["gap_mean_replicates"].values
        rmse.append(math.sqrt(np.mean((est - truth) ** 2)))
    slope = np.polyfit(ks * math.log(2), np.log(rmse), 1)[0]
    assert slope <= -0.9, (slope, rmse)


def test_replicate_intervals_cover_the_truth():
    """20 seeds, 16 replicates of 1,024: the t intervals of the mean gap and of P(cover)
    cover the exact values at least 17 times of 20 (nominal 19; P(17 or fewer | 0.95) =
    0.075)."""
    sc, truth = oracle()
    scp, p = oracle_p()
    hit_mean = hit_p = 0
    for seed in range(20):
        ds = simulate_qmc(sc, trials=2**14, seed=seed)
        t = scipy.stats.t.ppf(0.975, 15)
        hit_mean += abs(float(ds["gap_mean"]) - truth) <= t * float(ds["gap_mean_se"])
        dp = simulate_qmc(scp, trials=2**14, seed=seed)
        lo, hi = dp["p_cover_ci95"].values
        hit_p += lo <= p <= hi
    assert hit_mean >= 17 and hit_p >= 17, (hit_mean, hit_p)


@pytest.mark.parametrize("sampler", ["sobol", "lhs"])
def test_bit_identical_for_any_thread_count_and_chunk_size(sampler):
    sc = engine.load_config(None)  # correlated inputs
    a = simulate_qmc(sc, trials=4 * 4 * BLOCK, replicates=4, threads=1, chunk_size=BLOCK,
                     sampler=sampler)
    b = simulate_qmc(sc, trials=4 * 4 * BLOCK, replicates=4, threads=2,
                     chunk_size=2 * BLOCK, sampler=sampler)
    assert a.attrs["method"] == sampler
    xr.testing.assert_identical(engine.strip_run_attrs(a), engine.strip_run_attrs(b))


def test_correlated_default_agrees_with_monte_carlo():
    """The default scenario (a Gaussian copula over 16 inputs): P(cover) and the mean gap of
    a Sobol' quote agree with plain Monte Carlo within k = 4 combined standard errors."""
    k = 4.0
    sc = engine.load_config(None)
    q = simulate_qmc(sc, trials=2**20, seed=3)
    m = engine.simulate(sc, trials=2**20, seed=4)
    n = int(m.attrs["trials"])
    p_m = float(m["p_cover"])
    se_p = math.hypot(float(q["p_cover_se"]), math.sqrt(p_m * (1 - p_m) / n))
    assert abs(float(q["p_cover"]) - p_m) <= k * se_p
    se_g = math.hypot(float(q["gap_mean_se"]), float(m["gap_std"]) / math.sqrt(n))
    assert abs(float(q["gap_mean"]) - float(m["gap_mean"])) <= k * se_g
    # and the QMC error of the smooth mean is far below Monte Carlo's at the same trials
    assert float(q["gap_mean_se"]) < float(m["gap_std"]) / math.sqrt(n) / 10


def test_vintage_quote_by_year(configs):
    sc = engine.load_config(configs / "vintage-2024-2032.toml")
    q = simulate_qmc(sc, trials=2**15, seed=1)
    m = engine.simulate(sc, trials=2**18, seed=2)
    assert q["p_cover_se"].dims == q["p_cover"].dims == ("year",)
    assert q["gap_mean_se"].dims == ("year",)
    n = int(m.attrs["trials"])
    p_q, p_m = q["p_cover"].values, m["p_cover"].values
    se = np.hypot(q["p_cover_se"].values, np.sqrt(p_m * (1 - p_m) / n))
    assert np.all(np.abs(p_q - p_m) <= 4.0 * se + 1e-12)  # k = 4


# -- the command line


def test_cli_json_says_how_the_interval_was_obtained(capsys):
    assert main(["quote", "--sampler", "sobol", "--replicates", "8", "--trials", "60000",
                 "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trials"] == 8 * 8192 and out["method"] == "sobol"
    smp = out["sampler"]
    assert smp["name"] == "sobol" and smp["replicates"] == 8
    assert smp["points_per_replicate"] == 8192 and "Student t" in smp["interval"]
    assert smp["mean_se"]["gap"] > 0 and smp["p_cover_se"] > 0
    assert any("powers of two" in n for n in out["notes"])


@pytest.mark.parametrize("argv, needle", [
    (["--sampler", "sobol", "--method", "importance"], "--method"),
    (["--sampler", "sobol", "--replicates", "1"], "--replicates"),
    (["--replicates", "4"], "--replicates"),
    (["--sampler", "lhs", "--max-trials", "1000"], "--max-trials"),
    (["--sampler", "halton"], "--sampler"),
])
def test_cli_refuses_what_does_not_combine(capsys, argv, needle):
    try:
        code = main(["quote", *argv, "--quiet"])
    except SystemExit as exc:  # argparse's own usage errors (an unknown --sampler)
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_a_stop_keeps_whole_replicates_only():
    """Stopped after the first replicate: a partial result of its trials, marked so, with the
    binomial interval (one replicate has no spread)."""
    sc, _ = oracle()
    ds = simulate_qmc(sc, trials=4 * 2**14, replicates=4, should_stop=lambda: True)
    assert int(ds.attrs["completed"]) == 0 and int(ds.attrs["trials"]) == 2**14
    assert "p_cover_se" not in ds and "stopped before two replicates" in ds.attrs["sampler"]



def test_a_stop_mid_replicate_keeps_the_whole_ones_bit_for_bit():
    """Stopped in the third replicate: the result is the first two, the quantiles from their
    sketch counts included (whole replicates bin straight into the sum; the stopped one's
    counts must not reach it)."""
    sc, _ = oracle()
    per = 2**14
    seen = {"done": 0}
    ds = simulate_qmc(sc, trials=4 * per, replicates=4, threads=1, chunk_size=BLOCK,
                      progress=lambda k: seen.update(done=k),
                      should_stop=lambda: seen["done"] > 2 * per)
    assert int(ds.attrs["completed"]) == 0 and int(ds.attrs["trials"]) == 2 * per
    ref = simulate_qmc(sc, trials=2 * per, replicates=2, threads=1, chunk_size=BLOCK)
    assert set(ds.data_vars) == set(ref.data_vars)
    assert any(name.endswith("_quantile") for name in ref.data_vars)
    for name in ref.data_vars:
        np.testing.assert_array_equal(ds[name].values, ref[name].values, err_msg=name)

# -- Latin hypercubes


@pytest.mark.parametrize("k", [0, 1, 4, 10, 16])
def test_latin_hypercube_has_one_point_per_stratum(k):
    n = 2**k
    for seed, rep in ((0, 0), (9, 5), (2**64 - 1, 15)):
        x = lhs.points(n, 12, seed=seed, replicate=rep)
        assert np.all((x > 0.0) & (x < 1.0))
        for j in range(x.shape[1]):
            assert np.array_equal(np.sort(np.floor(x[:, j] * n)), np.arange(n))
    x = lhs.points(n, 3, seed=4)
    if n > 8:  # any run of indices alone (a chunk) gives the same points
        assert np.array_equal(lhs.points(n, 3, seed=4, first=5, count=n // 2),
                              x[5:5 + n // 2])
    # an input added after the others keeps the others' permutations
    assert np.array_equal(lhs.points(n, 4, seed=4)[:, :3], x)


def test_latin_hypercube_error_bars_and_variance_reduction():
    """The gap is additive in the inputs, which a Latin hypercube stratifies: its mean's
    error is far below plain Monte Carlo's (std / sqrt N), and the replicates' t intervals
    cover the exact mean at least 17 times in 20 seeds (nominal 19)."""
    sc, truth = oracle()
    t = scipy.stats.t.ppf(0.975, 15)
    covered = 0
    for seed in range(20):
        ds = simulate_qmc(sc, trials=2**14, seed=seed, sampler="lhs")
        covered += abs(float(ds["gap_mean"]) - truth) <= t * float(ds["gap_mean_se"])
    assert covered >= 17, covered
    mc_se = float(ds["gap_std"]) / math.sqrt(int(ds.attrs["trials"]))
    assert float(ds["gap_mean_se"]) < mc_se / 10


def test_cli_lhs_json(capsys):
    assert main(["quote", "--sampler", "lhs", "--replicates", "4", "--trials", "16384",
                 "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "lhs" and out["sampler"]["name"] == "lhs"
    assert out["sampler"]["points_per_replicate"] == 4096
