"""The fast paths against their plain statements, bit for bit.

Speed work happens in ``distributions.sample_block`` (vectorised quantile transforms),
``engine.core.runner.run_blocks`` (the runner: sub-blocks as columns, shared columns and
outputs between sweep points), ``engine.core.reduce.reduce_rows`` (vectorised sketch bins, an
AVX-512 fold) and ``engine.core.rng.fill_uniforms`` (vectorised Philox). Each is held here to a
straightforward scalar twin with exact equality, so no optimisation can change an answer
silently.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from numba import njit

import engine
from distributions import _blocks as B
from distributions import _kernels as K
from distributions import pack, parse
from engine.core import reduce, rng, runner
from engine.core.reduce import N_MOM, SK_NBINS, padded_rows, reduce_rows
from engine.core.sampling import importance, input_sources, output_sources, plain
from engine.models import make_plan, one_year
from helpers import SPECS as ALL_SPECS, assert_trace_recomputes_the_run

ROOT = Path(__file__).resolve().parents[1]
VINTAGE = str(ROOT / "configs" / "vintage-2024-2032.toml")

# The families and shapes of helpers.SPECS that reach every branch of the transforms from
# uniforms: both sides of the uniform and triangular splits, the table's tails, truncation, and
# exp's libm fallback (a lognormal whose log-value leaves [-708, 708] for |z| > 2.4).
SPECS = {name: ALL_SPECS[name] for name in (
    "fixed", "uniform", "normal", "lognormal", "lognormal-wide", "lognormal-far", "triangular",
    "triangular-mode-at-min", "pert", "beta", "truncnormal")}

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
        B.ppf_block_many(codes[0], params[0], u, tables, got)
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
    reduce.sketch_bins_row(v, v.size, out)


def test_vectorised_sketch_bins_equal_scalar():
    rs = np.random.default_rng(5)
    v = np.concatenate([rs.normal(0, 1e3, 50_000), rs.lognormal(0, 20, 50_000),
                        -rs.lognormal(0, 20, 50_000),
                        [0.0, -0.0, 2.0**-20, -(2.0**-20), 2.0**-21, 2.0**44, -(2.0**44),
                         1e300, -1e300, math.inf, -math.inf, math.nan]])
    got = np.empty(v.size, dtype=np.int64)
    _bins(v, got)
    want = np.array([reduce.sketch_bin(x) if math.isfinite(x) else -1 for x in v])
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


def _config(text, write_config):
    return engine.load_config(VINTAGE if text == "vintage" else write_config(text))


@pytest.mark.parametrize("text", [BENCH, FIXED_RATE, "vintage"],
                         ids=["mixed", "fixed-rate", "vintage"])
def test_runner_dataset_equals_scalar_reference_runner(text, write_config, monkeypatch):
    # The runner (sub-blocks of columns, vectorised draws, the model's block, reduce_rows on
    # threads) against the one-trial-at-a-time statement of the same run, for both models.
    sc = _config(text, write_config)
    n = 3 * 4096 + 777  # several blocks and a partial one
    fast = engine.simulate(sc, trials=n, seed=99, threads=2)
    monkeypatch.setattr(runner, "run_blocks", runner.run_blocks_reference)
    slow = engine.simulate(sc, trials=n, seed=99, threads=1)
    xr.testing.assert_identical(engine.strip_run_attrs(fast), engine.strip_run_attrs(slow))


def test_runner_trials_equal_trace():
    # Per-trial identity, through the Dataset's extremes: a run's min and max of every output
    # are values that engine.trace recomputes bit for bit.
    assert_trace_recomputes_the_run(engine.load_config(None), 20_000, seed=4)


def test_wilson_interval_equals_scipy():
    # engine.core.stats computes Wilson's interval itself (no scipy.stats import per quote).
    from scipy import stats

    from engine.core.stats import proportion_interval

    rs = np.random.default_rng(1)
    cases = [(10, 20), (1644, 10**6), (999_990, 10**6), (12_345, 10**8)]
    cases += [(int(k), int(n)) for k, n in zip(rs.integers(10, 5000, 200),
                                               rs.integers(10_000, 10**7, 200))]
    for k, n in cases:
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert proportion_interval(k, n) == (float(ci.low), float(ci.high), "wilson"), (k, n)


def test_exact_intervals_equal_scipy_and_repeat_exactly():
    # The Clopper-Pearson branches (few hits or misses, none, all) are scipy's own, and a
    # repeated call (remembered: a sweep's summary asks once per point) gives the same tuple.
    from scipy import stats

    from engine.core.stats import proportion_interval

    for k, n in [(0, 20_000), (3, 20_000), (9, 4_096), (4_090, 4_096), (4_096, 4_096)]:
        if k == 0:
            want = (0.0, stats.binomtest(0, n, alternative="less").proportion_ci(0.95).high,
                    "clopper-pearson one-sided (no hits)")
        elif k == n:
            want = (stats.binomtest(n, n, alternative="greater").proportion_ci(0.95).low, 1.0,
                    "clopper-pearson one-sided (all hits)")
        else:
            ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
            want = (ci.low, ci.high, "clopper-pearson")
        want = (float(want[0]), float(want[1]), want[2])
        assert proportion_interval(k, n) == want, (k, n)
        assert proportion_interval(np.int64(k), np.int64(n)) == want, (k, n)


@pytest.mark.parametrize("config", [None, VINTAGE], ids=["one-year", "vintage"])
def test_zero_blocks_call_compiles_only(config):
    # A run_blocks call with no blocks (used to time the compile apart) does no work.
    plan = make_plan(engine.load_config(config))
    prep = runner.prepare(plan, plain(plan.n_points, len(plan.names)))
    n_r, n_h = prep.n_rows, plan.layout.n_covers
    blk = np.full((1, 1, n_r, N_MOM), -1.0)
    hits = np.full((1, 1, n_h), -1, dtype=np.int64)
    nf = np.full((1, 1, n_r), -1, dtype=np.int64)
    hist = np.zeros((2, 1, n_r, SK_NBINS), dtype=np.int64)
    runner.run_blocks(prep, np.uint64(1), np.uint64(0), 10, 0, 0, 16, blk, hits, nf, hist)
    assert (hits == -1).all() and (nf == -1).all() and (blk == -1.0).all()
    assert not hist.any()


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
    # the vintage model shares input columns (its outputs are its own at every point)
    ("vintage", {"useful_life": [2, 4], "gpu_spend_growth": [-0.1, 0.3]}),
]


@pytest.mark.parametrize("text,grid", REUSE_GRIDS, ids=["margin-life", "revenue-rate",
                                                         "generational", "vintage"])
def test_sweep_reusing_points_equals_reference_runner(text, grid, write_config, monkeypatch):
    # The runner skips whatever an earlier point has (input columns, the one-year model's
    # capital charge and revenue sum, an output's moments and sketch); the reference runner
    # computes every point in full. Same Dataset, bit for bit.
    sc = _config(text, write_config)
    n = 2 * 4096 + 321
    fast = engine.sweep(sc, grid, trials=n, seed=7, threads=2)
    monkeypatch.setattr(runner, "run_blocks", runner.run_blocks_reference)
    slow = engine.sweep(sc, grid, trials=n, seed=7, threads=1)
    xr.testing.assert_identical(engine.strip_run_attrs(fast), engine.strip_run_attrs(slow))


def _margin_life_plan(write_config):
    from engine.analyses.sweeps import sweep_grid

    sc = engine.load_config(write_config(BENCH))
    return make_plan(sweep_grid(sc, {"margin": [0.4, 0.5], "useful_life": [1, 2]}).scenarios)


def test_output_sources_by_hand(write_config):
    # Points in C order: (margin, life) = (0.4, 1), (0.4, 2), (0.5, 1), (0.5, 2).
    plan = _margin_life_plan(write_config)
    src = input_sources(plan.codes, plan.params)
    j = {name: k for k, name in enumerate(plan.names)}
    assert src[:, j["margin"]].tolist() == [0, 0, 2, 2]
    assert src[:, j["useful_life"]].tolist() == [0, 1, 0, 1]
    assert src[:, j["gpu_spend"]].tolist() == [0, 0, 0, 0]
    margs = plan.model.share(plan.margs, src, plan.is_random)
    assert margs[one_year.A_RATE_SRC].tolist() == [0, 1, 0, 1]  # life and cost of capital
    assert margs[one_year.A_REV_SRC].tolist() == [0, 0, 0, 0]
    out_src = output_sources(src, plan.model.output_inputs(plan.names, plan.margs))
    want = {"capex": [0, 0, 0, 0], "required_revenue": [0, 0, 2, 2],
            "required_annual_revenue": [0, 1, 2, 3], "ai_revenue": [0, 0, 0, 0],
            "gap": [0, 1, 2, 3], "spend_to_revenue": [0, 0, 0, 0]}
    for o, name in enumerate(one_year.OUTPUTS):
        assert out_src[:, o].tolist() == want[name], name
    # the runner folds exactly the rows a point is the source of
    prep = runner.prepare(plan, plain(plan.n_points, len(plan.names)))
    assert np.array_equal(prep.out_src, out_src)
    assert np.array_equal(prep.live, out_src == np.arange(4)[:, None])
    # shifted normal scores are never shared: every point folds its own rows
    prep = runner.prepare(plan, importance(np.zeros(src.shape)))
    assert np.array_equal(prep.src, np.repeat(np.arange(4)[:, None], src.shape[1], axis=1))
    assert prep.live.all()


def test_sources_are_worked_out_once_per_run(write_config, monkeypatch):
    # The runner is called every wave; what points share is worked out once per run, from
    # that run's arrays (another plan, even one whose points are equal, gets its own answer).
    from engine.core.driver import run_plan

    plan = _margin_life_plan(write_config)
    calls = {"prepare": 0, "run_blocks": 0}
    prepare, run_blocks = runner.prepare, runner.run_blocks

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(runner, "prepare", counted("prepare", prepare))
    monkeypatch.setattr(runner, "run_blocks", counted("run_blocks", run_blocks))
    run_plan(plan, trials=6 * 4096, seed=1, threads=1, chunk_size=4096)
    assert calls["prepare"] == 1 and calls["run_blocks"] >= 3  # a compile call and >= 2 waves
    first = prepare(plan, plain(4, len(plan.names)))
    params = plan.params.copy()
    params[1] = params[0]  # point 1 now equals point 0
    import dataclasses

    other = prepare(dataclasses.replace(plan, params=params), plain(4, len(plan.names)))
    assert other.out_src[1].tolist() == [0] * one_year.N_OUT
    assert first.out_src[1].tolist() != [0] * one_year.N_OUT


def test_sketch_bin_from_python_equals_compiled():
    rs = np.random.default_rng(11)
    v = np.concatenate([rs.normal(0, 1e3, 5_000), rs.lognormal(0, 20, 5_000),
                        -rs.lognormal(0, 20, 5_000),
                        [0.0, -0.0, 2.0**-20, -(2.0**-20), np.nextafter(2.0**-20, 0), 2.0**44,
                         -(2.0**44), np.nextafter(2.0**44, 0), 1.0, -1.0, 1e300, -1e300]])
    assert [reduce.sketch_bin_of(x) for x in v] == [reduce.sketch_bin(x) for x in v]


def test_sparse_zeros_is_writable_zeros():
    a = reduce.sparse_zeros((3, 1 << 20))  # 24 MiB: the mmap path
    b = reduce.sparse_zeros((3, 4))        # small: plain numpy
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
def _reduce_rows(v, n_rows, m, live, a, cnt, bad, hrows, sketch):
    bins = np.empty((v.shape[0], max(m, 1)), dtype=np.int64)
    reduce_rows(v, n_rows, m, live, a, cnt, bad, hrows, sketch, bins, np.zeros((5, 8)))


def _reduce_rows_by_hand(v, n_rows, m, live, a, cnt, bad, hrows, sketch):
    # The statement: each live row's values in trial order, one at a time (reduce._fold);
    # a non-finite value is counted, never folded or sketched; other rows are not touched.
    fold = reduce._fold.py_func
    for o in range(n_rows):
        if not live[o]:
            continue
        n, h, s1, s2, lo, hi = int(cnt[o]), *(float(x) for x in a[o])
        for i in range(m):
            x = float(v[o, i])
            if not math.isfinite(x):
                bad[o] += 1
                continue
            n, h, s1, s2, lo, hi = fold(x, n, h, s1, s2, lo, hi)
            if sketch:
                hrows[o, reduce.sketch_bin_of(x)] += 1
        cnt[o] = n
        a[o] = (h, s1, s2, lo, hi)


@pytest.mark.parametrize("m", [1, 7, 8, 13, 256])
def test_reduce_rows_equals_folding_one_value_at_a_time(m):
    # reduce_rows folds eight rows side by side (AVX-512, when every live value is finite and
    # m >= 8) or row by row; both must be the by-hand fold in trial order, bit for bit. Rows
    # 1..20 (partial groups of eight), rows that are not live (holding nan: never read),
    # padding rows of nan, values of both signs with ties for min/max (a repeated value, -0.0
    # and 0.0), non-finite values in some calls (the row-by-row path), calls that start a
    # block (count 0) or go on one, with and without the sketch.
    rs = np.random.default_rng(m)
    fast_path_calls = 0
    for n_rows in range(1, 21):
        live = rs.random(n_rows) < 0.8
        live[0] = True
        n_pad = padded_rows(n_rows)
        got = (np.zeros((n_rows, 5)), np.zeros(n_rows, dtype=np.int64),
               np.zeros(n_rows, dtype=np.int64), np.zeros((n_rows, SK_NBINS), dtype=np.int64))
        want = tuple(x.copy() for x in got)
        for k in range(8):
            v = np.full((n_pad, m), math.nan)
            v[:n_rows] = rs.lognormal(3, 2, size=(n_rows, m)) - 50 * rs.random((n_rows, 1))
            v[0, ::3] = v[0, 0]
            if n_rows > 2:
                v[2, : (m + 1) // 2] = -0.0
                v[2, (m + 1) // 2:] = 0.0
            v[:n_rows][~live] = math.nan
            if k % 3 == 1:  # non-finite values in live rows
                v[0, m // 2] = math.inf
                v[n_rows - 1, 0] = -math.inf if live[n_rows - 1] else v[n_rows - 1, 0]
                v[n_rows // 2, m - 1] = math.nan
            elif m >= 8:
                fast_path_calls += 1
            if k % 4 == 0:
                got[1][:] = 0
                want[1][:] = 0
            sketch = k % 4 != 3
            _reduce_rows(v, n_rows, m, live, *got, sketch)
            _reduce_rows_by_hand(v, n_rows, m, live, *want, sketch)
            for g, w in zip(got, want):
                assert np.array_equal(g.view(np.int64), w.view(np.int64)), (n_rows, k)
        assert want[1][live].min() > 0 and not want[1][~live].any()
        assert want[2][live].sum() > 0  # the non-finite calls were counted
    assert fast_path_calls > 0 or m < 8


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


# -- The model at given normal scores, and point 0's inputs, through the block path.

AI_CAPEX = str(ROOT / "configs" / "ai-capex-2024.toml")  # 16 correlated inputs


def _inputs_at_z(plan, z):
    """Point 0's inputs at independent scores z[n, J], written one value at a time: the
    copula's mix in l order (numpy, elementwise), then the scalar ``sample_z``
    (``ppf_z_many``); an input that is not random takes its value at z = 0."""
    n, n_j = z.shape
    z = np.where(plan.is_random, z, 0.0)
    mixed = z.copy()
    c = plan.chol[0]
    for k, j in enumerate(plan.cidx):
        acc = c[k, 0] * z[:, plan.cidx[0]]
        for lv in range(1, k + 1):
            acc = acc + c[k, lv] * z[:, plan.cidx[lv]]
        mixed[:, j] = acc
    x = np.empty((n, n_j))
    for j in range(n_j):
        K.ppf_z_many(plan.codes[0, j], plan.params[0, j], np.ascontiguousarray(mixed[:, j]),
                     plan.tables, x[:, j])
    return x


@pytest.mark.parametrize("config", [AI_CAPEX, VINTAGE], ids=["correlated", "vintage"])
def test_evaluate_at_z_is_the_scalar_path(config):
    # The importance search evaluates the model at chosen scores through the block path
    # (sample_block_zp, copula_columns); it must give, bit for bit, the model on the inputs
    # the scalar sample_z gives, tails and odd lengths (not a multiple of SUB) included.
    sc = engine.load_config(config)
    plan = make_plan(sc)
    n = runner.SUB + 37
    z = np.random.default_rng(5).standard_normal((n, len(plan.names))) * 2.5
    z[::9] *= 4.0
    z[3, :] = 9.0
    z[4, :] = -9.0
    outs, covers = runner.evaluate_at_z(plan, z)
    x = _inputs_at_z(plan, z)
    # the same model block on those inputs, one trial at a time (xs held as a 1-trial column)
    own = runner.own_sources(*plan.codes.shape)
    margs = plan.model.share(plan.margs, own, plan.is_random)
    want_o = np.empty_like(outs)
    want_c = np.empty_like(covers)
    work = np.empty((1, max(plan.model.work_rows(margs), 1), 1))
    o1 = np.empty((padded_rows(outs.shape[1]), 1))
    c1 = np.empty((max(covers.shape[1], 1), 1), dtype=np.bool_)
    sp = np.zeros(len(plan.names), dtype=np.int64)
    for i in range(n):
        xs = np.ascontiguousarray(x[i][None, :, None])
        plan.model.block(xs, sp, 0, 1, margs, work, o1, c1)
        want_o[i] = o1[:outs.shape[1], 0]
        want_c[i] = c1[:covers.shape[1], 0]
    np.testing.assert_array_equal(outs, want_o)
    np.testing.assert_array_equal(covers, want_c)


@pytest.mark.parametrize("config", [AI_CAPEX, VINTAGE], ids=["correlated", "vintage"])
def test_draw_inputs_are_the_traced_inputs(config):
    # Point 0's inputs drawn by the run's own draw (what the achieved Spearman is measured on)
    # are the trace's scalar recomputation, bit for bit, from any first trial.
    plan = make_plan(engine.load_config(config))
    for first, n in ((0, 300), (4093, 517)):
        got = runner.draw_inputs(plan, 17, 0, first, n)
        want, _, _ = runner.trace_trials(plan, 17, 0, first, n)
        np.testing.assert_array_equal(got, want)
