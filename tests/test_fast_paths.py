"""The fast paths against their plain statements, bit for bit.

Speed work happens in ``distributions.sample_block`` (vectorised quantile transforms),
``engine.kernel.run_blocks`` (fused, vectorised kernel) and ``engine.rng.fill_uniforms``
(vectorised Philox). Each is held here to a straightforward scalar twin with exact equality,
so no optimisation can change an answer silently.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import xarray as xr
from numba import njit

import engine
from distributions import _kernels as K
from distributions import pack, parse
from engine import kernel, rng
from engine.kernel import SK_NBINS

simulate_mod = importlib.import_module("engine.simulate")

# Every family, with shapes that reach every branch: both sides of the uniform and triangular
# splits, the table's tails, truncation, and exp's libm fallback (a lognormal whose log-value
# leaves [-708, 708] for |z| > 2.4).
SPECS = {
    "fixed": 7.5,
    "uniform": {"dist": "uniform", "min": 0.35, "max": 0.65},
    "normal": {"dist": "normal", "mean": 1.0, "sd": 2.0},
    "lognormal": {"dist": "lognormal", "ci90": [100, 200]},
    "lognormal-wide": {"dist": "lognormal", "mu": 0.0, "sigma": 300.0},
    # |mu| + 1.5 sigma > 708: central lanes can leave exp's fast range too (checked per lane)
    "lognormal-far": {"dist": "lognormal", "mu": 700.0, "sigma": 10.0},
    "triangular": {"dist": "triangular", "min": 0.6, "mode": 1.0, "max": 1.6},
    "triangular-mode-at-min": {"dist": "triangular", "min": 0.0, "mode": 0.0, "max": 1.0},
    "pert": {"dist": "pert", "min": 0.3, "mode": 0.5, "max": 0.7},
    "beta": {"dist": "beta", "alpha": 0.5, "beta": 5},
    "truncnormal": {"dist": "truncnormal", "mean": 0.0, "sd": 1.0, "min": -1, "max": 2},
}

# The generator's own uniforms, plus the extremes it can produce and points around every
# branch boundary of AS241 (|p - 0.5| = 0.425, the far tail p < exp(-25)).
_EDGES = [2.0**-53, 1.0 - 2.0**-53, 1e-300, 1e-15, 1e-11, 1.3887943864964021e-11, 1e-10,
          0.075, 0.075 + 2.0**-53, 0.075 - 2.0**-53, 0.925, 0.925 - 2.0**-53, 0.925 + 2.0**-53,
          0.5, 0.5 - 2.0**-53, 0.5 + 2.0**-53, 1 - 1e-11, 1 - 1e-15]
U = np.concatenate([np.array(_EDGES), rng.uniforms(2024, 77, 0, 200_000)])


@njit
def _scalar(code, par, u, tables, out):
    for i in range(u.size):
        out[i] = K.sample_u(code, par, u[i], tables)


@pytest.mark.parametrize("name", list(SPECS))
def test_block_transform_equals_scalar_bitwise(name):
    codes, params, tables = pack([parse(f"inputs.{name}", SPECS[name])])
    for u in (U, U[::-1].copy(), 1.0 - U):  # block boundaries fall elsewhere; mirrored tails
        want = np.empty(u.size)
        got = np.empty(u.size)
        _scalar(codes[0], params[0], u, tables, want)
        K.ppf_block_many(codes[0], params[0], u, tables, got)
        assert np.array_equal(got, want, equal_nan=True), name
        diff = np.flatnonzero(got.view(np.int64) != want.view(np.int64))
        assert diff.size == 0, (name, u[diff[:5]], got[diff[:5]], want[diff[:5]])


def test_exp_and_log_within_one_ulp_of_libm():
    rs = np.random.default_rng(3)
    x = np.concatenate([rs.uniform(-708, 708, 100_000), rs.normal(0, 3, 100_000),
                        [0.0, -0.0, 1e-300, -1e-300, 708.0, -708.0]])
    got = np.array([K.exp(v) for v in x[:20_000]] + [K.exp(v) for v in x[-6:]])
    ref = np.exp(np.concatenate([x[:20_000], x[-6:]]))
    assert np.all(np.abs(got - ref) <= np.spacing(ref)), "exp beyond 1 ulp"
    y = np.concatenate([np.exp(rs.uniform(-700, 700, 20_000)), [2.2250738585072014e-308, 1.0,
                                                                  0.5, 2.0, 1e308]])
    got = np.array([K.log(v) for v in y])
    ref = np.log(y)
    assert np.all(np.abs(got - ref) <= np.spacing(np.abs(ref)) + (ref == 0)), "log beyond 1 ulp"
    # outside the fast ranges: libm's answers
    for v in (709.5, 800.0, -745.0, -800.0, math.inf, -math.inf):
        assert K.exp(v) == math.exp(v) if v < 710 else K.exp(v) == math.inf
    assert math.isnan(K.exp(math.nan)) and math.isnan(K.log(-1.0)) and math.isnan(K.log(math.nan))
    assert K.log(0.0) == -math.inf and K.log(math.inf) == math.inf
    assert K.log(5e-324) == math.log(5e-324)


def test_central_branch_bound_used_by_the_lognormal_range_check():
    for q in (K.NDTRI_CENTRAL, -K.NDTRI_CENTRAL):
        assert abs(K.ndtri(0.5 + q)) <= K.NDTRI_CENTRAL_ZMAX
    assert K.ndtri(0.925) > 1.4395


@njit
def _exp_many(x, out):
    for i in range(x.size):
        out[i] = K.exp(x[i])


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs x87 long double")
def test_exp_error_against_long_double():
    # The true value to ~1e-19 (long double exp), so this measures our exp itself, not its
    # distance to libm: the final rounding (0.5 ulp) plus the reduction's and the polynomial's
    # (a cheaper degree-11 fit measured 1.09 ulp here, the Taylor series 1.03).
    rs = np.random.default_rng(11)
    x = np.concatenate([rs.uniform(-708, 708, 300_000), rs.normal(0, 3, 300_000),
                        rs.uniform(-0.35, 0.35, 300_000)])
    got = np.empty_like(x)
    _exp_many(x, got)
    ref = np.exp(x.astype(np.longdouble))
    err = np.abs((got.astype(np.longdouble) - ref) / np.spacing(ref.astype(np.float64)))
    assert float(err.max()) <= 1.05, f"exp: worst error {float(err.max()):.3f} ulp > 1.05"


@njit
def _bins(v, out):
    kernel.sketch_bins_row(v, v.size, out)


def test_vectorised_sketch_bins_equal_scalar():
    rs = np.random.default_rng(5)
    v = np.concatenate([rs.normal(0, 1e3, 50_000), rs.lognormal(0, 20, 50_000),
                        -rs.lognormal(0, 20, 50_000),
                        [0.0, -0.0, 2.0**-20, -(2.0**-20), 2.0**-21, 2.0**44, -(2.0**44),
                         1e300, -1e300, math.inf, -math.inf, math.nan]])
    got = np.empty(v.size, dtype=np.int64)
    _bins(v, got)
    want = np.array([kernel.sketch_bin(x) if math.isfinite(x) else -1 for x in v])
    assert np.array_equal(got, want)
    assert got.max() < SK_NBINS


BENCH = """
[scenario]
name = "fast vs reference"
[inputs]
gpu_spend = { dist = "lognormal", ci90 = [100, 200] }
energy_ratio = { dist = "lognormal", ci90 = [0.6, 1.5] }
margin = { dist = "pert", min = 0.35, mode = 0.5, max = 0.65 }
useful_life = { dist = "triangular", min = 1, mode = 3, max = 6 }
cost_of_capital = { dist = "uniform", min = 0.0, max = 0.1 }
[revenue]
A = { dist = "lognormal", ci90 = [5, 20] }
B = { dist = "truncnormal", mean = 1, sd = 2, min = 0 }
C = { dist = "beta", alpha = 2, beta = 5, min = 0, max = 8 }
D = { dist = "normal", mean = 30, sd = 3 }
E = 0
"""

FIXED_RATE = """
[scenario]
name = "fixed life and rate, zero revenue possible"
[inputs]
gpu_spend = { dist = "lognormal", ci90 = [100, 200] }
energy_ratio = 1.0
margin = { dist = "uniform", min = 0.35, max = 0.65 }
useful_life = 1
cost_of_capital = 0
[revenue]
A = { dist = "uniform", min = 0, max = 1e-300 }
"""


@pytest.mark.parametrize("text", [BENCH, FIXED_RATE], ids=["mixed", "fixed-rate"])
def test_kernel_dataset_equals_scalar_reference_kernel(text, write_config, monkeypatch):
    sc = engine.load_config(write_config(text))
    n = 3 * 4096 + 777  # several blocks and a partial one
    fast = engine.simulate(sc, trials=n, seed=99, threads=2)
    # the driver finds the kernel either as an imported name or through engine.kernel
    monkeypatch.setattr(kernel, "run_blocks", kernel.run_blocks_reference)
    monkeypatch.setattr(simulate_mod, "run_blocks", kernel.run_blocks_reference, raising=False)
    slow = engine.simulate(sc, trials=n, seed=99, threads=1)
    xr.testing.assert_identical(engine.strip_run_attrs(fast), engine.strip_run_attrs(slow))


def test_kernel_trials_equal_trace():
    # Per-trial identity, through the Dataset's extremes: a run's min and max of every output
    # are values that engine.trace recomputes bit for bit.
    sc = engine.load_config(None)
    n = 20_000
    ds = engine.simulate(sc, trials=n, seed=4)
    tr = engine.trace(sc, 0, n, seed=4)
    for name in kernel.OUTPUTS:
        assert float(ds[f"{name}_min"]) == tr[name].values.min(), name
        assert float(ds[f"{name}_max"]) == tr[name].values.max(), name
    assert int(ds["hits"]) == int(tr["covers"].sum())


def test_wilson_interval_equals_scipy():
    # engine.result computes Wilson's interval itself (no scipy.stats import per quote).
    from scipy import stats

    from engine.result import proportion_interval

    rs = np.random.default_rng(1)
    cases = [(10, 20), (1644, 10**6), (999_990, 10**6), (12_345, 10**8)]
    cases += [(int(k), int(n)) for k, n in zip(rs.integers(10, 5000, 200),
                                               rs.integers(10_000, 10**7, 200))]
    for k, n in cases:
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert proportion_interval(k, n) == (float(ci.low), float(ci.high), "wilson"), (k, n)


def test_bench13_file_is_the_embedded_scenario():
    from pathlib import Path

    from engine.bench import BENCH13

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "scenarios" / "bench-13.toml"
    assert path.read_text(encoding="utf-8") == BENCH13


def test_numpy_baselines_model_the_same_thing():
    # The benchmark's NumPy implementations answer the same question as the engine (different
    # random numbers, so within k standard errors, k = 6).
    from engine import bench, reference

    sc = bench.bench13()
    n = 200_000
    ds = engine.simulate(sc, trials=n, seed=1)
    mean, sd = float(ds["gap_mean"]), float(ds["gap_std"])
    p = float(ds["p_cover"])
    for res in (bench.numpy_careful(sc, n, 7, threads=2, chunk=1 << 14),
                reference.simulate_numpy(sc, n, seed=7, source="numpy")):
        assert abs(res["gap_mean"] - mean) < 6 * sd * math.sqrt(2 / n)
        assert abs(res["p_cover"] - p) < 6 * math.sqrt(2 * p * (1 - p) / n) + 1e-12
        assert abs(res["gap_quantiles"][0.5] - float(ds["gap_quantile"].sel(quantile=0.5))) \
            < 0.05 * sd


def test_bench_command_runs(capsys):
    # Plumbing only (benchmarks are not tests: no timing is asserted).
    from engine.cli import main

    assert main(["bench", "--trials", "8192", "--repeat", "1", "--numpy-trials", "4096",
                 "--memory", "--no-startup", "--json"]) == 0
    import json

    res = json.loads(capsys.readouterr().out)
    assert res["speedup_vs_numpy_idiomatic"] > 0 and res["speedup_vs_numpy_careful"] > 0
    assert "targets" not in res  # measurements only: what to aim for is not the tool's to say
    assert res["engine"]["ns_per_trial_all_threads"] > 0


def test_zero_blocks_call_compiles_only():
    # A run_blocks call with no blocks (used to time the compile apart) does no work.
    from engine.kernel import N_MOM, N_OUT

    plan = make_plan_default()
    blk = np.zeros((1, 1, N_OUT, N_MOM))
    hits = np.full((1, 1), -1, dtype=np.int64)
    nf = np.zeros((1, 1, N_OUT), dtype=np.int64)
    hist = np.zeros((2, 1, N_OUT, SK_NBINS), dtype=np.int64)
    kernel.run_blocks(*plan.kernel_args(), np.uint64(1), np.uint64(0), 10, 0, 0, 16, blk, hits,
                      nf, hist)
    assert hits[0, 0] == -1 and not hist.any()


def make_plan_default():
    from engine.plan import make_plan

    return make_plan(engine.load_config(None))


# -- One-pass sweeps: what an earlier point already has is reused, not recomputed.

GENERATIONAL = """
[scenario]
name = "generational depreciation"
[inputs]
gpu_spend = { dist = "lognormal", ci90 = [100, 200] }
energy_ratio = { dist = "lognormal", ci90 = [0.6, 1.5] }
margin = { dist = "uniform", min = 0.35, max = 0.65 }
generation_years = { dist = "triangular", min = 1.5, mode = 2, max = 3 }
perf_per_dollar_gain = { dist = "uniform", min = 2, max = 4 }
cost_of_capital = { dist = "uniform", min = 0.0, max = 0.1 }
[revenue]
A = { dist = "lognormal", ci90 = [5, 20] }
B = { dist = "normal", mean = 30, sd = 3 }
"""

# Grids whose points share inputs with points that are not their neighbours (every life
# value recurs once per margin), pin a random input (revenue.A), and change the capital
# charge's inputs.
REUSE_GRIDS = [
    (BENCH, {"margin": [0.4, 0.5, 0.6], "useful_life": [1, 3]}),
    (BENCH, {"revenue.A": [5.0, 12.0], "cost_of_capital": [0.0, 0.08]}),
    (GENERATIONAL, {"perf_per_dollar_gain": [2.0, 3.0, 4.0], "gpu_spend.ci90": [[100, 200],
                                                                               [120, 180]]}),
]


@pytest.mark.parametrize("text,grid", REUSE_GRIDS, ids=["margin-life", "revenue-rate",
                                                         "generational"])
def test_sweep_reusing_points_equals_reference_kernel(text, grid, write_config, monkeypatch):
    # The fast kernel skips whatever an earlier point has (input columns, the capital charge,
    # the revenue sum, an output's moments and sketch); the reference kernel computes every
    # point in full. Same Dataset, bit for bit.
    sc = engine.load_config(write_config(text))
    n = 2 * 4096 + 321
    fast = engine.sweep(sc, grid, trials=n, seed=7, threads=2)
    monkeypatch.setattr(kernel, "run_blocks", kernel.run_blocks_reference)
    slow = engine.sweep(sc, grid, trials=n, seed=7, threads=1)
    xr.testing.assert_identical(engine.strip_run_attrs(fast), engine.strip_run_attrs(slow))


def test_output_sources_by_hand(write_config):
    # Points in C order: (margin, life) = (0.4, 1), (0.4, 2), (0.5, 1), (0.5, 2).
    from engine.plan import make_plan
    from engine.sweeps import sweep_grid

    sc = engine.load_config(write_config(BENCH))
    plan = make_plan(sweep_grid(sc, {"margin": [0.4, 0.5], "useful_life": [1, 2]}).scenarios)
    src, rate_src, out_src = kernel.output_sources(plan.codes, plan.params, plan.rev0)
    j = {name: k for k, name in enumerate(plan.names)}
    assert src[:, j["margin"]].tolist() == [0, 0, 2, 2]
    assert src[:, j["useful_life"]].tolist() == [0, 1, 0, 1]
    assert src[:, j["gpu_spend"]].tolist() == [0, 0, 0, 0]
    assert rate_src.tolist() == [0, 1, 0, 1]  # life and cost of capital
    want = {"capex": [0, 0, 0, 0], "required_revenue": [0, 0, 2, 2],
            "required_annual_revenue": [0, 1, 2, 3], "ai_revenue": [0, 0, 0, 0],
            "gap": [0, 1, 2, 3], "spend_to_revenue": [0, 0, 0, 0]}
    for o, name in enumerate(kernel.OUTPUTS):
        assert out_src[:, o].tolist() == want[name], name


def test_plan_sources_are_worked_out_once_per_plan(write_config):
    # The kernel asks for them every wave: the same arrays give the cached answer, other
    # arrays (another plan, even with equal values) their own.
    from engine.plan import make_plan
    from engine.sweeps import sweep_grid

    sc = engine.load_config(write_config(BENCH))
    plan = make_plan(sweep_grid(sc, {"margin": [0.4, 0.5], "useful_life": [1, 2]}).scenarios)
    first = kernel.plan_sources(plan.codes, plan.params, plan.rev0)
    assert kernel.plan_sources(plan.codes, plan.params, plan.rev0) is first
    params = plan.params.copy()
    params[1] = params[0]  # point 1 now equals point 0
    other = kernel.plan_sources(plan.codes, params, plan.rev0)
    assert other is not first and other[2][1].tolist() == [0] * kernel.N_OUT
    assert first[2][1].tolist() != [0] * kernel.N_OUT


def test_sketch_bin_from_python_equals_compiled():
    rs = np.random.default_rng(11)
    v = np.concatenate([rs.normal(0, 1e3, 5_000), rs.lognormal(0, 20, 5_000),
                        -rs.lognormal(0, 20, 5_000),
                        [0.0, -0.0, 2.0**-20, -(2.0**-20), np.nextafter(2.0**-20, 0), 2.0**44,
                         -(2.0**44), np.nextafter(2.0**44, 0), 1.0, -1.0, 1e300, -1e300]])
    assert [kernel.sketch_bin_of(x) for x in v] == [kernel.sketch_bin(x) for x in v]


def test_sparse_zeros_is_writable_zeros():
    a = kernel.sparse_zeros((3, 1 << 20))  # 24 MiB: the mmap path
    b = kernel.sparse_zeros((3, 4))        # small: plain numpy
    for x in (a, b):
        assert x.dtype == np.int64 and x.flags.writeable and not x.any()
        x[1, 2] += 5
        assert int(x.sum()) == 5


# -- The AVX-512 paths (taken where LLVM compiles for AVX-512) against the plain loops. Both
# -- compile on any x86-64 CPU (LLVM expands 8-lane vectors it has no instructions for), so
# -- these run everywhere; the subprocess test below runs a whole simulation on each path.


@njit
def _tail_lists(u, m):
    idx = (np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64))
    zt = (np.zeros(m), np.zeros(m))
    n0 = K.list_tail(K.addr(u), m, K.addr(idx[0]), K.addr(zt[0]))
    n1 = K.list_tail_avx512(K.addr(u), m, K.addr(idx[1]), K.addr(zt[1]))
    return idx[0][:n0], idx[1][:n1], zt[0][:n0], zt[1][:n1]


@pytest.mark.parametrize("m", [1, 7, 8, 9, 64, 255, 256])
def test_tail_listing_avx512_equals_plain(m):
    # U's first lanes are the AS241 branch edges; nan is listed as a tail lane by both.
    listed = 0
    for start in range(0, 400, 37):
        u = U[start:start + m].copy()
        if start == 74:
            u[m // 2] = math.nan
        i0, i1, t0, t1 = _tail_lists(u, m)
        assert np.array_equal(i0, i1)
        assert np.array_equal(t0.view(np.int64), t1.view(np.int64))
        assert np.array_equal(i0, np.flatnonzero(~(np.abs(u - 0.5) <= K.NDTRI_CENTRAL)))
        listed += i0.size
    assert listed > 0  # some windows held tail lanes: the comparisons were not empty


@njit
def _fold_both(outs, m, a0, c0, a1, c1):
    bins = np.empty(outs.shape, dtype=np.int64)
    for o in range(outs.shape[0]):
        kernel.sketch_bins_row(outs[o], m, bins[o])
    kernel._fold_outputs(outs, m, a0, c0, bins)
    kernel._fold_outputs_avx512(outs, m, a1, c1, np.zeros((5, 8)))


@pytest.mark.parametrize("m", [1, 7, 8, 13, 256])
def test_output_fold_avx512_equals_plain(m):
    # Finite values (the AVX-512 fold's precondition) of both signs, ties for min/max (a
    # repeated value, -0.0 and 0.0), and sub-blocks that start a block (count 0) or go on one.
    rs = np.random.default_rng(m)
    a0, a1 = np.zeros((kernel.N_OUT, 5)), np.zeros((kernel.N_OUT, 5))
    c0, c1 = np.zeros(kernel.N_OUT, dtype=np.int64), np.zeros(kernel.N_OUT, dtype=np.int64)
    for k in range(12):
        outs = rs.lognormal(3, 2, size=(kernel.N_OUT, m)) - 50 * rs.random((kernel.N_OUT, 1))
        outs[1, ::3] = outs[1, 0]
        outs[2, : (m + 1) // 2] = -0.0
        outs[2, (m + 1) // 2:] = 0.0
        if k % 5 == 0:
            c0[:] = 0
            c1[:] = 0
        _fold_both(outs, m, a0, c0, a1, c1)
        assert np.array_equal(c0, c1)
        assert np.array_equal(a0.view(np.int64), a1.view(np.int64)), (k, a0, a1)
    assert c0.min() > 0


_PLAIN_CPU = ("+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+fxsr,+lzcnt,+mmx,+movbe,"
              "+pclmul,+popcnt,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave")

_RUN_PLAIN = """
import sys, engine
from distributions import _kernels
assert not _kernels.AVX512
sc = engine.load_config(sys.argv[1])
engine.strip_run_attrs(engine.simulate(sc, trials=int(sys.argv[2]), seed=99, threads=2)
                       ).to_netcdf(sys.argv[3])
"""


@pytest.mark.skipif(not K.AVX512, reason="this CPU runs the plain path already")
def test_whole_run_on_the_plain_path_equals_avx512(write_config, tmp_path):
    # The same simulation compiled for AVX2 (numba's NUMBA_CPU_NAME/FEATURES: no AVX-512, so
    # the plain loops) in a fresh process, against this process's AVX-512 build.
    import os
    import subprocess
    import sys

    cfg = write_config(BENCH)
    n = 3 * 4096 + 777
    out = tmp_path / "plain.nc"
    env = dict(os.environ, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES=_PLAIN_CPU,
               CAPEXGAP_CACHE_DIR=str(tmp_path / "cache"))
    subprocess.run([sys.executable, "-c", _RUN_PLAIN, str(cfg), str(n), str(out)], env=env,
                   check=True, timeout=600)
    here = engine.strip_run_attrs(engine.simulate(engine.load_config(cfg), trials=n, seed=99,
                                                  threads=2))
    xr.testing.assert_identical(xr.load_dataset(out), here)
