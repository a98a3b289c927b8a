"""The kernel: closed-form oracle, exact equivalence of execution paths, NumPy cross-check,
quantile accuracy and NetCDF round-trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

import engine
from engine.analyses import reference
from engine.core.reduce import BLOCK, SK_ABS_ZERO, SK_REL_ERROR
from helpers import load_written, oracle_p, oracle_text

# A scenario exercising every family whose scipy ppf is exact (tight NumPy cross-check).
MIXED = """
[scenario]
name = "mixed families"
[inputs]
gpu_spend = { dist = "lognormal", ci90 = [100, 200] }
energy_ratio = { dist = "triangular", min = 0.6, mode = 1.0, max = 1.6 }
margin = { dist = "uniform", min = 0.35, max = 0.65 }
useful_life = { dist = "truncnormal", mean = 3, sd = 1.5, min = 0.5, max = 8 }
cost_of_capital = { dist = "uniform", min = 0.0, max = 0.1 }
[revenue]
A = { dist = "lognormal", ci90 = [5, 20] }
B = { dist = "normal", mean = 30, sd = 3 }
C = 10
"""


def test_closed_form_oracle(write_config):
    # helpers.ORACLE: P(cover) in closed form (helpers.oracle_p).
    par = dict(mu_g=math.log(150), s_g=0.3, mu_r=math.log(450), s_r=0.6)
    p = oracle_p(**par)
    assert 0.1 < p < 0.5  # the bound below is meaningful only away from 0 and 1
    n = 1_000_000
    ds = engine.simulate(engine.load_config(write_config(oracle_text(seed=11, **par))),
                         trials=n, seed=11)
    se = math.sqrt(p * (1 - p) / n)
    k = 5  # standard errors
    assert abs(float(ds["p_cover"]) - p) < k * se, (float(ds["p_cover"]), p, se)
    lo, hi = ds["p_cover_ci95"].values
    assert hi - lo < 6 * se  # a 95% interval spans about 3.92 SE


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return load_written(tmp_path_factory, "mixed", "mixed.toml", MIXED)


def test_threads_bit_identical(mixed):
    n = 3 * BLOCK * 16 + 123  # several chunks and a partial final block
    one = engine.simulate(mixed, trials=n, seed=5, threads=1)
    two = engine.simulate(mixed, trials=n, seed=5, threads=2)
    xr.testing.assert_identical(engine.strip_run_attrs(one), engine.strip_run_attrs(two))


def test_chunk_sizes_bit_identical(mixed):
    n = 200_001
    a = engine.simulate(mixed, trials=n, seed=5, chunk_size=BLOCK)
    b = engine.simulate(mixed, trials=n, seed=5, chunk_size=64 * BLOCK)
    xr.testing.assert_identical(engine.strip_run_attrs(a), engine.strip_run_attrs(b))


def test_seed_changes_result(mixed):
    a = engine.simulate(mixed, trials=50_000, seed=1)
    b = engine.simulate(mixed, trials=50_000, seed=2)
    assert float(a["gap_mean"]) != float(b["gap_mean"])


def test_kernel_matches_numpy_reference_trial_by_trial(mixed):
    # The same uniforms through scipy's ppf and a whole-array NumPy model: the kernel's
    # AS241/closed-form quantile functions agree to ~1e-15, so 1e-12 is a real bound.
    first, n = 777, 20_000
    tr = engine.trace(mixed, first, n, seed=3)
    x = reference.sample_inputs(mixed, first, n, seed=3, source="capexgap")
    for name, values in x.items():
        np.testing.assert_allclose(tr[name].values, values, rtol=1e-12, err_msg=name)
    ref = reference.evaluate(mixed, x)
    for name in ("capex", "required_revenue", "required_annual_revenue", "ai_revenue",
                 "spend_to_revenue"):
        np.testing.assert_allclose(tr[name].values, ref[name], rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(tr["gap"].values, ref["gap"], rtol=1e-12, atol=1e-9)
    assert (tr["covers"].values == ref["covers"]).all()


def test_streaming_reductions_equal_direct_ones(mixed):
    # Everything the kernel folds on the fly, recomputed from the stored trials.
    n = 100_000
    ds = engine.simulate(mixed, trials=n, seed=9)
    tr = engine.trace(mixed, 0, n, seed=9)
    assert int(ds["hits"]) == int(tr["covers"].sum())
    for name in ("capex", "required_annual_revenue", "ai_revenue", "gap", "spend_to_revenue"):
        v = tr[name].values
        assert float(ds[f"{name}_min"]) == v.min() and float(ds[f"{name}_max"]) == v.max()
        np.testing.assert_allclose(float(ds[f"{name}_mean"]), v.mean(), rtol=1e-12)
        np.testing.assert_allclose(float(ds[f"{name}_std"]), v.std(ddof=1), rtol=1e-10)
        levels = ds["quantile"].values
        exact = np.quantile(v, levels)
        est = ds[f"{name}_quantile"].values
        # The stated accuracy: each order statistic within SK_REL_ERROR relative (plus
        # SK_ABS_ZERO near zero), so the interpolated quantile too.
        s = np.sort(v)
        h = levels * (n - 1)
        bound = SK_REL_ERROR * np.maximum(abs(s[np.floor(h).astype(int)]),
                                          abs(s[np.ceil(h).astype(int)])) + SK_ABS_ZERO
        assert (abs(est - exact) <= bound).all(), (name, est, exact, bound)


def test_any_trial_recomputed_alone(mixed):
    whole = engine.trace(mixed, 0, 64, seed=4)
    for t in (0, 3, 5, 63):
        one = engine.trace(mixed, t, 1, seed=4)
        for name in ("gpu_spend", "margin", "gap"):
            assert float(one[name][0]) == float(whole[name][t])


def test_netcdf_round_trip(mixed, tmp_path):
    ds = engine.simulate(mixed, trials=20_000, seed=2)
    path = engine.write_netcdf(ds, tmp_path / "r.nc")
    back = engine.open_result(path)
    xr.testing.assert_identical(ds, back)
    assert not list(tmp_path.glob(".*part"))  # no temporary file left behind


def test_dataset_contract(mixed):
    ds = engine.simulate(mixed, trials=10_000, seed=2)
    for key in ("capexgap_version", "numpy_version", "numba_version", "xarray_version",
                "created", "seed", "trials", "sampler", "config_text", "config_sha256",
                "quantile_method", "quantile_accuracy"):
        assert key in ds.attrs, key
    assert ds.attrs["config_text"] == MIXED
    for name, var in ds.data_vars.items():
        assert "long_name" in var.attrs and "units" in var.attrs, name
    assert set(ds["quantile"].values) >= {0.05, 0.5, 0.95}
    # The CI contains the point estimate.
    lo, hi = ds["p_cover_ci95"].values
    assert lo <= float(ds["p_cover"]) <= hi


def test_memory_does_not_hold_trials(mixed):
    # The accumulators a run allocates do not depend on the trial count.
    from engine.models import make_plan
    from engine.core.driver import run_plan
    plan = make_plan(mixed)
    small = run_plan(plan, trials=10_000, seed=1)
    large = run_plan(plan, trials=2_000_000, seed=1)
    assert small.sketch.nbytes == large.sketch.nbytes
    assert small.moments.nbytes == large.moments.nbytes
