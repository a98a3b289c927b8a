"""Replicated samplers (sobol, lhs) in sweeps, the tornado and precision runs: every sweep
point is the replicated quote of its pinned scenario, bit for bit, on the same points (common
random numbers); a precision run adds whole replicates until P(cover)'s t interval meets the
target and is then the fixed run of that many replicates; the Python API and the CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import xarray as xr

import engine
from engine.analyses.qmc import simulate_qmc
from engine.analyses.qmc_precision import MIN_LOOK
from engine.cli import main

# Fixed inputs between random ones ("Other companies", energy_ratio at some points): pinning
# an input must not move the other inputs' Sobol' dimensions.
TEMPLATE = """
[scenario]
name = "qmc sweep test"
trials = 4096
seed = 11
[inputs]
gpu_spend = {{ dist = "lognormal", ci90 = [40, 90] }}
energy_ratio = 1.0
margin = {margin}
useful_life = {life}
cost_of_capital = {{ dist = "uniform", min = 0.02, max = 0.1 }}
[revenue]
Microsoft = {{ dist = "lognormal", ci90 = [20, 60] }}
"Other companies" = 15
Google = {{ dist = "lognormal", ci90 = [10, 40] }}
"""
PERT = '{{ dist = "pert", min = 0.3, mode = {mode}, max = 0.7 }}'
LIFE = '{ dist = "triangular", min = 1, mode = 3, max = 6 }'
BASE = TEMPLATE.format(margin=PERT.format(mode=0.5), life=LIFE) + """
[sweep]
margin.mode = [0.45, 0.6]
useful_life = [2, 5]
"""
GRID = {"margin.mode": [0.45, 0.6], "useful_life": [2, 5]}
# 9 x 1,024 points: 8 or more replicates, where numpy's sums turn pairwise (a point's spread
# must not depend on how many points its pass holds)
KW = {"trials": 9 * 1024, "replicates": 9}


def strip(ds):
    return engine.strip_run_attrs(ds)


@pytest.fixture(scope="module", params=["sobol", "lhs"])
def qmc_sweep(request, base):
    # one point per pass (max_memory_mib=1) for Sobol': passes change nothing either
    mem = {"max_memory_mib": 1} if request.param == "sobol" else {}
    return request.param, engine.sweep(base, GRID, sampler=request.param, **KW, **mem)


def test_sweep_point_is_the_replicated_quote_of_its_pinned_scenario(base, qmc_sweep):
    sampler, ds = qmc_sweep
    assert ds["p_cover_replicates"].dims == ("margin.mode", "useful_life", "replicate")
    assert ds.attrs["method"] == sampler and int(ds.attrs["replicates"]) == 9
    # pinned through engine.pin, and by editing the config's text (useful_life = 5)
    at = {"margin.mode": 0.6, "useful_life": 2.0}
    quote = engine.quote(engine.pin(base, at), sampler=sampler, **KW)
    xr.testing.assert_identical(strip(engine.sweep_point(ds, at)), strip(quote))
    text = engine.loads(TEMPLATE.format(margin=PERT.format(mode=0.45), life="5"),
                        source=base.source)
    quote = engine.quote(dataclasses.replace(text, text=base.text), sampler=sampler, **KW)
    point = engine.sweep_point(ds, {"margin.mode": 0.45, "useful_life": 5.0})
    xr.testing.assert_identical(strip(point), strip(quote))
    assert "Student t over 9" in point["p_cover_ci95"].attrs["method"]


def test_tornado_points_are_replicated_quotes_on_common_points():
    """The correlated default scenario: the baseline and a pinned variant (an input outside
    the copula: pinning a correlated one changes the copula, as in plain Monte Carlo) are the
    quotes of their scenarios."""
    sc = engine.load_config(None)
    ds = engine.tornado(sc, sampler="sobol", levels=(0.1, 0.9), **KW)
    base = engine.quote(sc, sampler="sobol", **KW)
    # values and dims (the tornado's attributes describe all its points)
    for var in ("p_cover", "p_cover_ci95", "p_cover_replicates", "gap_mean_se", "hits"):
        xr.testing.assert_equal(ds[f"baseline_{var}"].variable, base[var].variable)
    x = float(ds["pinned_value"].sel(input="useful_life", level=0.9))
    one = engine.quote(engine.pin(sc, {"useful_life": x}), sampler="sobol", **KW)
    got = ds.sel(input="useful_life", level=0.9, drop=True)
    for var in ("p_cover_ci95", "gap_mean_replicates", "gap_quantile", "hits"):
        xr.testing.assert_equal(got[var].variable, one[var].variable)


def test_vintage_sweep_point_is_the_replicated_quote(configs):
    """The multi-year model (fixed inputs among random ones, a year table): a point keeps its
    replicates by year."""
    sc = engine.load_config(configs / "vintage-2024-2032.toml")
    v = float(sc.input("margin").dist.quantile(0.3))
    kw = {"trials": 2048, "sampler": "sobol", "replicates": 2}
    ds = engine.sweep(sc, {"margin": [v, 0.6]}, **kw)
    assert ds["p_cover_replicates"].dims == ("margin", "replicate", "year")
    quote = engine.quote(engine.pin(sc, {"margin": v}), **kw)
    xr.testing.assert_identical(strip(engine.sweep_point(ds, margin=v)), strip(quote))


# ------------------------------------------------------------------------ precision runs


@pytest.fixture(scope="module")
def precise(base):
    return engine.quote(base, sampler="sobol", abs_precision=0.004, **KW)


def test_precision_run_adds_replicates_until_met_and_is_the_fixed_run(base, precise):
    k, per = int(precise.attrs["replicates"]), int(precise.attrs["points_per_replicate"])
    assert per == 1024 and k >= MIN_LOOK and int(precise.attrs["precision_met"]) == 1
    assert precise.attrs["precision_stop"].startswith(f"met after {k} replicates")
    lo, hi = precise["p_cover_ci95"].values
    assert max(hi - float(precise["p_cover"]), float(precise["p_cover"]) - lo) <= 0.004
    fixed = engine.quote(base, sampler="sobol", trials=k * per, replicates=k)
    xr.testing.assert_identical(strip(precise), strip(fixed))
    if k > MIN_LOOK:  # one replicate fewer did not meet it
        prev = simulate_qmc(base, trials=(k - 1) * per, replicates=k - 1)
        lo, hi = prev["p_cover_ci95"].values
        assert max(hi - float(prev["p_cover"]), float(prev["p_cover"]) - lo) > 0.004


def test_precision_sweep_adds_replicates_until_every_point_meets_it(base):
    """One point per pass: later passes never stop before an earlier one, passes that stopped
    earlier run again at the final count, and the result is the fixed sweep of k replicates."""
    ds = engine.sweep(base, GRID, sampler="lhs", abs_precision=0.006, max_memory_mib=1, **KW)
    k, per = int(ds.attrs["replicates"]), int(ds.attrs["points_per_replicate"])
    assert per == 1024 and k >= MIN_LOOK and int(ds.attrs["precision_met"]) == 1
    p, ci = ds["p_cover"].values, ds["p_cover_ci95"].values
    assert (np.maximum(ci[..., 1] - p, p - ci[..., 0]) <= 0.006).all()
    fixed = engine.sweep(base, GRID, sampler="lhs", trials=k * per, replicates=k)
    xr.testing.assert_identical(strip(ds), strip(fixed))


def test_precision_run_honours_the_cap(base):
    ds = engine.quote(base, sampler="lhs", precision=1e-4, max_trials=6 * 1024 + 5, **KW)
    assert int(ds.attrs["precision_met"]) == 0 and int(ds.attrs["replicates"]) == 6
    assert "the cap of 6,149 trials" in ds.attrs["precision_stop"]
    with pytest.raises(engine.ConfigError, match="max_trials"):  # fewer than MIN_LOOK fit
        engine.quote(base, sampler="lhs", precision=0.1, max_trials=3 * 1024, **KW)


@pytest.mark.parametrize("kw, key", [
    ({"sampler": "mc", "replicates": 4}, "replicates"),
    ({"sampler": "halton"}, "sampler"),
    ({"sampler": "sobol", "method": "importance"}, "method"),
    ({"sampler": "sobol", "replicates": 1}, "replicates"),
])
def test_python_api_refuses_what_does_not_combine(base, kw, key):
    with pytest.raises(engine.ConfigError, match=key):
        engine.quote(base, **kw)
    if kw.get("sampler") != "sobol" or "method" not in kw:
        with pytest.raises(engine.ConfigError, match=key):
            engine.sweep(base, GRID, **{k: v for k, v in kw.items() if k != "method"})


# ------------------------------------------------------------------------ command line


def test_cli_precision_with_a_sampler(capsys, base_path):
    argv = ["quote", str(base_path), "--sampler", "sobol", "--replicates", "4", "--trials",
            "4096", "--quiet", "--json"]
    assert main([*argv, "--abs-precision", "0.004"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["precision"]["met"] and out["sampler"]["points_per_replicate"] == 1024
    assert out["sampler"]["replicates"] >= MIN_LOOK
    assert main([*argv, "--precision", "0.0001", "--max-trials", "5000"]) == 4  # not met
    out = json.loads(capsys.readouterr().out)
    assert not out["precision"]["met"] and out["trials"] == 4 * 1024


def test_cli_sweep_and_tornado_with_a_sampler(capsys, base_path, tmp_path):
    assert main(["sweep", str(base_path), "--sampler", "lhs", "--replicates", "4",
                 "--trials", "4096", "--quiet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sampler"]["name"] == "lhs" and out["sampler"]["points_per_replicate"] == 1024
    assert all(p["sampler"]["replicates"] == 4 for p in out["points"])
    assert main(["tornado", str(base_path), "--sampler", "sobol", "--replicates", "4",
                 "--trials", "4000", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "Sampler: scrambled Sobol' points, 4 independent replicates of 1,024" in text
    assert main(["sweep", str(base_path), "--sampler", "sobol", "--replicates", "4", "--trials",
                 "4096", "--abs-precision", "0.0001", "--max-trials", "5000", "--quiet"]) == 4
    assert "NOT met" in capsys.readouterr().err
    assert main(["sweep", str(base_path), "--replicates", "4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--replicates" in err and "Traceback" not in err
