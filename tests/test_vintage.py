"""The multi-year (vintage) model: equal to the one-year model on one year, hand-computed
cohorts, conservation of capex, the break-even year, exact equivalence of execution paths, the
NumPy reference, the Dataset/JSON/text contracts and the config rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats
import xarray as xr

import engine
from engine.io import vintage_config as vintage
from engine.analyses import reference
from engine.models import vintage as vk
from engine.cli import main
from engine.core.reduce import BLOCK, SK_ABS_ZERO, SK_REL_ERROR
from engine.core.runner import SUB
from engine.models import make_plan
from engine.core.dataset import build_dataset
from engine.core.driver import run_plan
from engine.models.vintage import OUTPUTS as VINTAGE_OUTPUTS
from helpers import load_written

SHARED = ("capex", "required_revenue", "required_annual_revenue", "ai_revenue", "gap",
          "spend_to_revenue")
STATS = ("mean", "std", "min", "max", "quantile", "nonfinite")

# One year of random inputs, in both models. useful_life >= 1, so the cohort's first-year
# charge is C * CRF(r, L), the one-year model's annual charge.
ONE_YEAR_INPUTS = """
[inputs]
gpu_spend = { dist = "lognormal", ci90 = [100, 200] }
energy_ratio = { dist = "triangular", min = 0.6, mode = 1.0, max = 1.6 }
margin = { dist = "uniform", min = 0.35, max = 0.65 }
useful_life = { dist = "truncnormal", mean = 3, sd = 1.5, min = 1, max = 8 }
cost_of_capital = { dist = "uniform", min = 0.0, max = 0.1 }
[revenue]
A = { dist = "lognormal", ci90 = [5, 300] }
B = { dist = "normal", mean = 30, sd = 3 }
C = 10
"""

# Straight-line, cohorts before the first reported year, per-year levels and growth tables.
MIXED = """
[scenario]
name = "vintage, mixed"
model = "vintage"
years = [2024, 2028]
[inputs]
energy_ratio = { dist = "triangular", min = 0.6, mode = 1.0, max = 1.6 }
margin = { dist = "uniform", min = 0.35, max = 0.65 }
useful_life = { dist = "truncnormal", mean = 3, sd = 1.5, min = 0.5, max = 8 }
cost_of_capital = { dist = "uniform", min = 0.0, max = 0.1 }
[inputs.gpu_spend]
2022 = 15
2023 = 47.5
2024 = { dist = "lognormal", ci90 = [100, 130] }
[inputs.gpu_spend_growth]
2025 = { dist = "uniform", min = 0.2, max = 1.0 }
2026 = { dist = "uniform", min = -0.2, max = 0.6 }
2027 = { dist = "triangular", min = -0.3, mode = 0.1, max = 0.4 }
2028 = { dist = "triangular", min = -0.3, mode = 0.1, max = 0.4 }
[revenue]
A = { dist = "lognormal", ci90 = [20, 60] }
B = 10
[revenue.C]
2024 = 5
2025 = { dist = "lognormal", ci90 = [8, 15] }
[revenue_growth]
A = { dist = "uniform", min = 0.0, max = 0.9 }
B = 0.25
C = { dist = "triangular", min = -0.2, mode = 0.5, max = 1.5 }
"""

GENERATIONAL = MIXED.replace(
    'useful_life = { dist = "truncnormal", mean = 3, sd = 1.5, min = 0.5, max = 8 }',
    'generation_years = { dist = "uniform", min = 1.5, max = 3 }\n'
    'perf_per_dollar_gain = { dist = "pert", min = 1.3, mode = 2, max = 4 }')


def _vintage_header(first: int, last: int) -> str:
    return f'[scenario]\nname = "v"\nmodel = "vintage"\nyears = [{first}, {last}]\n'


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return load_written(tmp_path_factory, "vintage", "mixed.toml", MIXED)


@pytest.fixture(scope="module")
def generational(tmp_path_factory):
    return load_written(tmp_path_factory, "vintage", "gen.toml", GENERATIONAL)


# ----------------------------------------------------------------- one year = one-year model


def test_one_year_equals_the_one_year_model_exactly():
    # Same seed, same trials, same input names (hence the same random streams): every shared
    # output's moments, quantiles and non-finite counts, and the hits, are bit-identical.
    one = engine.loads("[scenario]\nname = \"o\"\n" + ONE_YEAR_INPUTS)
    vin = engine.loads(_vintage_header(2024, 2024) + ONE_YEAR_INPUTS)
    n = 2 * BLOCK * 16 + 77
    a = engine.simulate(one, trials=n, seed=8)
    b = engine.simulate(vin, trials=n, seed=8).sel(year=2024)
    assert int(a["hits"]) == int(b["hits"]) and 0 < int(a["hits"]) < n
    for var in ("p_cover", "p_cover_ci95", "hits", "gap_hist"):
        np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)
    for name in SHARED:
        for stat in STATS:
            np.testing.assert_array_equal(a[f"{name}_{stat}"].values,
                                          b[f"{name}_{stat}"].values, err_msg=f"{name}_{stat}")
    # ... and with one year the break-even year is that year exactly when revenue covers.
    assert int(b["breakeven_by_trials"]) == int(b["hits"])


def test_one_year_life_one_no_cost_of_capital_is_cahns_chain():
    # L = 1, r = 0: required = C / (1 - m), the one-year model's (and Cahn's) 600 for 2024.
    text = (_vintage_header(2024, 2024) + "[inputs]\ngpu_spend = 150\nenergy_ratio = 1\n"
            "margin = 0.5\nuseful_life = 1\ncost_of_capital = 0\n[revenue]\nAll = 100\n")
    tr = engine.trace(engine.loads(text), 0, 4)
    assert (tr["required_annual_revenue"].values == 600.0).all()
    assert (tr["gap"].values == 500.0).all()
    # r > 0, L = 1: C (1 + r) / (1 - m) = the one-year model's C CRF(r, 1) / (1 - m).
    r_text = text.replace("cost_of_capital = 0", "cost_of_capital = 0.1")
    tr = engine.trace(engine.loads(r_text), 0, 1)
    assert float(tr["required_annual_revenue"][0, 0]) == pytest.approx(600 * 1.1, rel=1e-15)


# ----------------------------------------------------------------- hand-computed cohorts


HAND = _vintage_header(2024, 2026) + """
[inputs]
energy_ratio = 1
margin = 0.5
useful_life = 2
cost_of_capital = 0
[inputs.gpu_spend]
2024 = 100
2025 = 200
2026 = 0
[revenue]
A = 100
B = 50
[revenue_growth]
A = 0.5
B = 1.0
"""


def test_hand_computed_three_years_two_cohorts():
    # Capex C = G (1 + k): 2024: 200, 2025: 400, 2026: 0 (two cohorts in three years).
    # Straight-line over L = 2 with r = 0: each cohort pays C/2 in its first two years.
    #   charge 2024 = 200/2                 = 100
    #   charge 2025 = 200/2 + 400/2         = 300
    #   charge 2026 = 0 (2024's life is over) + 400/2 + 0 = 200
    # required = charge / (1 - 0.5): 200, 600, 400.
    # Revenue: A = 100 growing 50% -> 100, 150, 225; B = 50 growing 100% -> 50, 100, 200;
    #   total 150, 250, 425.  Gap = required - revenue: 50, 350, -25.
    # Covers only in 2026 (425 >= 400): break-even year 2026.
    # Cumulative: capex 200, 600, 600; revenue 150, 400, 825; gap 50, 400, 375.
    # Spend/revenue: 100/150, 200/250 = 0.8, 0/425 = 0.
    # Every number is exact in binary floating point, so equality is exact.
    tr = engine.trace(engine.loads(HAND), 0, 3)
    expect = {
        "annual_gpu_spend": [100, 200, 0], "capex": [200, 400, 0],
        "capital_charge": [100, 300, 200], "required_revenue": [400, 800, 0],
        "required_annual_revenue": [200, 600, 400], "ai_revenue": [150, 250, 425],
        "gap": [50, 350, -25], "spend_to_revenue": [100 / 150, 0.8, 0.0],
        "cum_capex": [200, 600, 600], "cum_revenue": [150, 400, 825], "cum_gap": [50, 400, 375],
        "covers": [False, False, True], "breakeven_by": [False, False, True],
    }
    for name, values in expect.items():
        for t in range(3):
            np.testing.assert_array_equal(tr[name].values[t], values, err_msg=name)
    assert (tr["breakeven_year"].values == 2026).all()
    ds = engine.simulate(engine.loads(HAND), trials=BLOCK)
    np.testing.assert_array_equal(ds["p_cover"].values, [0, 0, 1])
    assert float(ds["p_breakeven_never"]) == 0.0
    assert (ds["breakeven_year_quantile"].values == 2026).all()


def test_hand_computed_cost_of_capital_and_generations():
    # One cohort C = 200 in 2024 (later spend 0), m = 0.5.
    # Annuity, L = 2, r = 10%: CRF = 0.1 / (1 - 1.1**-2) = 0.5761904761904762; the cohort pays
    # 200 * CRF = 115.238... in 2024 and 2025, nothing in 2026.
    base = HAND.replace("2025 = 200", "2025 = 0")
    tr = engine.trace(engine.loads(base.replace("cost_of_capital = 0", "cost_of_capital = 0.1")),
                      0, 1)
    crf = 0.1 / (1 - 1.1**-2)
    np.testing.assert_allclose(tr["capital_charge"].values[0], [200 * crf, 200 * crf, 0.0],
                               rtol=1e-14)
    # Generational, gain 4 per 2-year generation: delta = ln 4 / 2 = ln 2, book value halves
    # each year: 200, 100, 50. With r = 10% the charge is the loss of book value plus 10% of
    # the opening book: 100 + 20 = 120, 50 + 10 = 60, 25 + 5 = 30.
    gen = base.replace("useful_life = 2", "generation_years = 2\nperf_per_dollar_gain = 4") \
        .replace("cost_of_capital = 0", "cost_of_capital = 0.1")
    tr = engine.trace(engine.loads(gen), 0, 1)
    np.testing.assert_allclose(tr["capital_charge"].values[0], [120.0, 60.0, 30.0], rtol=1e-14)
    np.testing.assert_allclose(tr["required_annual_revenue"].values[0], [240.0, 120.0, 60.0],
                               rtol=1e-14)


# ----------------------------------------------------------------- conservation


def _one_cohort(depreciation: str, r: str, years: int = 12) -> engine.Scenario:
    # One random cohort in 2024 and no spend after it, over `years` reported years.
    zeros = "\n".join(f"{2025 + i} = 0" for i in range(years - 1))
    return engine.loads(
        _vintage_header(2024, 2023 + years) + "[inputs]\n"
        'energy_ratio = { dist = "uniform", min = 0.5, max = 1.5 }\nmargin = 0.5\n'
        f"{depreciation}\ncost_of_capital = {r}\n"
        '[inputs.gpu_spend]\n2024 = { dist = "lognormal", ci90 = [50, 200] }\n'
        f"{zeros}\n[revenue]\nA = 1\n[revenue_growth]\nA = 0\n")


def test_straight_line_charges_sum_to_capex():
    # r = 0: sum over ages of CRF(0, L) min(1, max(0, L - a)) = (1/L) * L = 1, fractional L too.
    sc = _one_cohort('useful_life = { dist = "uniform", min = 0.3, max = 11.5 }', "0")
    tr = engine.trace(sc, 0, 2000, seed=4)
    capex = tr["capex"].values[:, 0]
    np.testing.assert_allclose(tr["capital_charge"].values.sum(axis=1), capex, rtol=1e-13)
    assert (tr["cum_capex"].values[:, -1] == capex).all()


@pytest.mark.parametrize("life", [1, 3, 5, 11])
def test_annuity_repays_principal_plus_interest(life):
    # r > 0, whole L: the charges, each at the end of its year, have present value C at r.
    sc = _one_cohort(f"useful_life = {life}",
                     '{ dist = "uniform", min = 0.001, max = 0.3 }')
    tr = engine.trace(sc, 0, 2000, seed=5)
    r = tr["cost_of_capital"].values[:, None]
    ages = np.arange(tr.sizes["year"])[None, :]
    charge = tr["capital_charge"].values
    pv = (charge / (1 + r) ** (ages + 1)).sum(axis=1)
    np.testing.assert_allclose(pv, tr["capex"].values[:, 0], rtol=1e-13)
    assert (charge[:, life:] == 0).all() and (charge[:, :life] > 0).all()


@pytest.mark.parametrize("r", ["0", '{ dist = "uniform", min = 0.001, max = 0.3 }'])
def test_generational_charges_plus_book_value_conserve_capex(r):
    # Book value C e^(-delta a); the charges so far plus the book value left are the capex
    # (r = 0), and in present value at r (r > 0): the sum telescopes.
    sc = _one_cohort("generation_years = { dist = \"uniform\", min = 1, max = 4 }\n"
                     "perf_per_dollar_gain = { dist = \"uniform\", min = 1.2, max = 5 }", r)
    tr = engine.trace(sc, 0, 2000, seed=6)
    delta = np.log(tr["perf_per_dollar_gain"].values) / tr["generation_years"].values
    rate = tr["cost_of_capital"].values
    n_age = tr.sizes["year"]
    capex = tr["capex"].values[:, 0]
    book_left = capex * np.exp(-delta * n_age)
    ages = np.arange(n_age)[None, :]
    disc = (1 + rate[:, None]) ** -(ages + 1)
    pv = (tr["capital_charge"].values * disc).sum(axis=1) + book_left * disc[:, -1]
    np.testing.assert_allclose(pv, capex, rtol=1e-12)


# ----------------------------------------------------------------- break-even year


def _growth_race(revenue_growth: str, years: int = 4) -> str:
    # Required revenue is 400 a year (G = 100, k = 1, m = 0.5, L = 1, r = 0, no growth).
    return (_vintage_header(2024, 2023 + years) + "[inputs]\ngpu_spend = 100\n"
            "gpu_spend_growth = 0\nenergy_ratio = 1\nmargin = 0.5\nuseful_life = 1\n"
            f"cost_of_capital = 0\n[revenue]\nA = 100\n[revenue_growth]\nA = {revenue_growth}\n")


def test_breakeven_year_by_hand(capsys, write_config):
    # Revenue 100 doubling each year: 100, 200, 400 -> covers 400 first in 2026.
    ds = engine.simulate(engine.loads(_growth_race("1.0")), trials=BLOCK)
    assert (ds["breakeven_year_quantile"].values == 2026).all()
    np.testing.assert_array_equal(ds["p_breakeven_by"].values, [0, 0, 1, 1])
    assert float(ds["p_breakeven_never"]) == 0.0
    # Growing 50%: 100, 150, 225, 337.5 < 400: no break-even by 2027.
    ds = engine.simulate(engine.loads(_growth_race("0.5")), trials=BLOCK)
    assert np.isinf(ds["breakeven_year_quantile"].values).all()
    assert float(ds["p_breakeven_never"]) == 1.0
    code = main(["quote", str(write_config(_growth_race("0.5"))), "--json"])
    obj = json.loads(capsys.readouterr().out)
    assert code == 0 and obj["breakeven_year"]["p_never"] == 1.0
    assert set(obj["breakeven_year"]["quantiles"].values()) == {None}  # null: not by 2027


def test_breakeven_distribution_closed_form():
    # Revenue R0 ~ lognormal(mu, s) growing at h, required Q = 400 a year: revenue covers in
    # year t (t = 0 for 2024) iff ln R0 >= ln Q - t ln(1 + h); once it covers it keeps
    # covering, so P(break-even by t) = 1 - Phi((ln Q - t ln(1 + h) - mu) / s).
    mu, s, h = math.log(150), 0.8, 0.4
    text = _growth_race(str(h), years=6).replace(
        "A = 100\n[", f'A = {{ dist = "lognormal", mu = {mu!r}, sigma = {s} }}\n[')
    sc = engine.loads(text)
    n = 200_000
    ds = engine.simulate(sc, trials=n, seed=21)
    t = np.arange(6)
    expect = 1 - scipy.stats.norm.cdf((math.log(400) - t * math.log1p(h) - mu) / s)
    assert (0.05 < expect).all() and (expect < 0.95).all()  # meaningful bounds
    se = np.sqrt(expect * (1 - expect) / n)
    k = 5  # standard errors
    got = ds["p_breakeven_by"].values
    assert (abs(got - expect) < k * se).all(), (got, expect, se)
    assert abs(float(ds["p_breakeven_never"]) - (1 - expect[-1])) < k * se[-1]
    # The quantiles are exact years: numpy's inverted_cdf on the same trials, traced one by one.
    tr = engine.trace(sc, 0, n, seed=21)
    exact = np.quantile(tr["breakeven_year"].values, ds["quantile"].values,
                        method="inverted_cdf")
    np.testing.assert_array_equal(ds["breakeven_year_quantile"].values, exact)
    assert np.isinf(exact[-1]) and np.isfinite(exact[0])  # both kinds occur


# ----------------------------------------------------------------- execution paths


def test_threads_and_chunk_sizes_bit_identical(mixed):
    n = 3 * BLOCK * 16 + 123  # several chunks and a partial final block
    one = engine.simulate(mixed, trials=n, seed=5, threads=1)
    two = engine.simulate(mixed, trials=n, seed=5, threads=2)
    xr.testing.assert_identical(engine.strip_run_attrs(one), engine.strip_run_attrs(two))
    big = engine.simulate(mixed, trials=n, seed=5, chunk_size=64 * BLOCK)
    small = engine.simulate(mixed, trials=n, seed=5, chunk_size=BLOCK)
    xr.testing.assert_identical(engine.strip_run_attrs(one), engine.strip_run_attrs(big))
    xr.testing.assert_identical(engine.strip_run_attrs(one), engine.strip_run_attrs(small))


def _run_block(xs, m, margs, n_out, n_cov):
    """The model's block over columns 0..m-1 of xs[J, SUB] (scratch and outputs start NaN)."""
    n_in = xs.shape[0]
    outs = np.full((n_out, SUB), np.nan)
    cover = np.zeros((n_cov, SUB), dtype=np.bool_)
    work = np.full((1, vk.MODEL.work_rows(margs), SUB), np.nan)
    vk.block(np.ascontiguousarray(xs[None]), np.zeros(n_in, dtype=np.int64), 0, m, margs, work,
             outs, cover)
    return outs, cover


@pytest.mark.parametrize("which", ["mixed", "generational"])
@pytest.mark.parametrize("m", [SUB, 77])
def test_block_model_is_the_same_for_a_trial_alone(which, m, request):
    # The kernel's block model on a sub-block against the same model on each trial alone
    # (what engine.trace computes), on random inputs (not the configs' distributions):
    # fractional lives below and above 1, r = 0 in half the trials, a trial with no revenue
    # (spend/revenue inf) and one with a margin of 1 (inf required revenue). Columns from m
    # on are never written. The values themselves are held to the NumPy reference below.
    margs = make_plan(request.getfixturevalue(which)).margs
    meta, src, kind = margs
    n_in, n_y = int(max(src.max(), meta.max())) + 1, src.shape[1]
    rng = np.random.default_rng(11 + m)
    xs = rng.uniform(-0.3, 2.0, (n_in, SUB))  # growth rates, energy ratio
    levels = np.unique(src[(kind == 0) & (src >= 0)])
    xs[levels] = rng.uniform(0, 300, (len(levels), SUB))
    xs[meta[vk.MD_M]] = rng.uniform(0.2, 0.8, SUB)
    xs[meta[vk.MD_LIFE]] = rng.uniform(0.3, 8, SUB)
    xs[meta[vk.MD_LIFE], :8] = [1, 2, 3, 0.5, 4, 5, 1, 2]  # whole lives too
    xs[meta[vk.MD_R]] = np.where(np.arange(SUB) % 2 == 0, 0.0, rng.uniform(0.001, 0.3, SUB))
    if meta[vk.MD_DEP] == 1:
        xs[meta[vk.MD_GAIN]] = rng.uniform(1.2, 4, SUB)
    xs[np.unique(src[1:, meta[vk.MD_Y0]:]), 3] = 0.0  # trial 3: no revenue in any year
    xs[meta[vk.MD_M], 5] = 1.0  # trial 5: nothing left after the margin
    n_rep = n_y - meta[vk.MD_Y0]
    n_out, n_cov = vk.N_OUT * n_rep, len(vk.COVERS) * n_rep
    out_b, cov_b = _run_block(xs, m, margs, n_out, n_cov)
    for i in range(m):
        out_1, cov_1 = _run_block(np.ascontiguousarray(xs[:, i:i + 1].repeat(SUB, axis=1)), 1,
                                  margs, n_out, n_cov)
        np.testing.assert_array_equal(out_b[:, i].view(np.uint64), out_1[:, 0].view(np.uint64))
        np.testing.assert_array_equal(cov_b[:, i], cov_1[:, 0])
    assert np.isnan(out_b[:, m:]).all() and not cov_b[:, m:].any()
    assert np.isinf(out_b[vk.V_S2R * n_rep:(vk.V_S2R + 1) * n_rep, 3]).all()
    assert np.isinf(out_b[vk.V_REQ * n_rep:(vk.V_REQ + 1) * n_rep, 5]).any()
    assert cov_b[:, :m].any() and not cov_b[:, :m].all()


@pytest.mark.parametrize("which", ["mixed", "generational"])
def test_kernel_matches_numpy_reference_trial_by_trial(which, request):
    sc = request.getfixturevalue(which)
    first, n = 333, 5000
    tr = engine.trace(sc, first, n, seed=3)
    x = reference.sample_inputs(sc, first, n, seed=3, source="capexgap")
    for name, values in x.items():
        # atol: an input that crosses zero (a normal growth rate, mean + sd z ~ 0) keeps only
        # the absolute accuracy of its terms (a few ulp of sd), not a relative one
        np.testing.assert_allclose(tr[name].values, values, rtol=1e-12,
                                   atol=1e-15 * np.abs(values).max(), err_msg=name)
    ref = vintage.evaluate(sc, x)
    for name in VINTAGE_OUTPUTS:
        scale = np.abs(ref["required_annual_revenue"]).max()
        np.testing.assert_allclose(tr[name].values, ref[name], rtol=1e-12,
                                   atol=1e-12 * scale if "gap" in name else 0, err_msg=name)
    for name in ("covers", "breakeven_by", "breakeven_year"):
        np.testing.assert_array_equal(tr[name].values, ref[name], err_msg=name)
    assert ref["covers"].any() and not ref["covers"].all()


def test_streaming_reductions_equal_direct_ones(mixed):
    n = 60_000
    ds = engine.simulate(mixed, trials=n, seed=9)
    tr = engine.trace(mixed, 0, n, seed=9)
    np.testing.assert_array_equal(ds["hits"].values, tr["covers"].values.sum(axis=0))
    np.testing.assert_array_equal(ds["breakeven_by_trials"].values,
                                  tr["breakeven_by"].values.sum(axis=0))
    levels = ds["quantile"].values
    for name in ("capital_charge", "ai_revenue", "gap", "cum_gap"):
        for y, year in enumerate(ds["year"].values):
            v = tr[name].values[:, y]
            d = ds.sel(year=year)
            assert float(d[f"{name}_min"]) == v.min() and float(d[f"{name}_max"]) == v.max()
            np.testing.assert_allclose(float(d[f"{name}_mean"]), v.mean(), rtol=1e-11)
            np.testing.assert_allclose(float(d[f"{name}_std"]), v.std(ddof=1), rtol=1e-10)
            s = np.sort(v)
            h = levels * (n - 1)
            bound = SK_REL_ERROR * np.maximum(abs(s[np.floor(h).astype(int)]),
                                              abs(s[np.ceil(h).astype(int)])) + SK_ABS_ZERO
            exact = np.quantile(v, levels)
            assert (abs(d[f"{name}_quantile"].values - exact) <= bound).all(), (name, year)
    exact = np.quantile(tr["breakeven_year"].values, levels, method="inverted_cdf")
    np.testing.assert_array_equal(ds["breakeven_year_quantile"].values, exact)


def test_plan_with_points_equals_separate_runs(mixed):
    # The sweep mechanism: P points in one plan share the trials; each equals its own run.
    other = engine.loads(MIXED.replace("max = 0.65", "max = 0.45"))
    n = 20_000
    totals = run_plan(make_plan([mixed, other]), trials=n, seed=2)
    both = build_dataset(mixed, totals, seed=2, requested_trials=n,
                         point_dims={"point": [0, 1]})
    for p, sc in enumerate((mixed, other)):
        alone = engine.simulate(sc, trials=n, seed=2)
        for var in ("p_cover", "gap_quantile", "cum_capex_mean", "breakeven_year_quantile",
                    "p_breakeven_never"):
            np.testing.assert_array_equal(both[var].values[p], alone[var].values, err_msg=var)


def test_totals_shapes(mixed):
    # Totals keep the kernel's shapes: one-year hits [P] as before; vintage [P, 2 x years].
    one = engine.loads("[scenario]\nname = \"o\"\n" + ONE_YEAR_INPUTS)
    t1 = run_plan(make_plan(one), trials=BLOCK, seed=1)
    assert t1.hits.shape == (1,) and t1.moments.shape[:2] == (1, 6)
    tv = run_plan(make_plan(mixed), trials=BLOCK, seed=1)
    assert tv.hits.shape == (1, 2 * 5) and tv.moments.shape[:2] == (1, 11 * 5)
    assert tv.layout.n_outputs == 55 and tv.layout.dim == "year"


def test_named_streams_common_random_numbers(mixed):
    # Adding a company, or pinning another input, leaves every other input's draws unchanged.
    more = engine.loads(MIXED + "[revenue.D]\n2024 = 1\n2025 = 2\n2026 = 3\n2027 = 4\n2028 = 5\n")
    pinned = engine.loads(MIXED.replace('A = { dist = "uniform", min = 0.0, max = 0.9 }',
                                        "A = 0.3"))
    a = engine.trace(mixed, 0, 200, seed=1)
    for sc in (more, pinned):
        b = engine.trace(sc, 0, 200, seed=1)
        for name in ("gpu_spend_growth.2026", "revenue.A", "revenue_growth.C", "margin"):
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


# ----------------------------------------------------------------- Dataset, JSON, text


def test_dataset_contract_and_netcdf_round_trip(mixed, tmp_path):
    ds = engine.simulate(mixed, trials=10_000, seed=2)
    assert ds.attrs["model"] == "vintage" and int(ds.attrs["first_cohort_year"]) == 2022
    assert list(ds["year"].values) == [2024, 2025, 2026, 2027, 2028]
    for name in ("p_cover", "gap_quantile", "cum_capex_mean", "cum_revenue_mean"):
        assert "year" in ds[name].dims, name
    assert ds["breakeven_year_quantile"].dims == ("quantile",)
    assert ds["p_breakeven_never"].dims == ()
    for name, var in ds.data_vars.items():
        assert "long_name" in var.attrs and "units" in var.attrs, name
    for key in ("capexgap_version", "created", "seed", "trials", "sampler", "config_text",
                "config_sha256", "quantile_method", "quantile_accuracy",
                "breakeven_quantile_method"):
        assert key in ds.attrs, key
    back = engine.open_result(engine.write_netcdf(ds, tmp_path / "v.nc"))
    xr.testing.assert_identical(ds, back)


def test_quote_json_and_text(capsys, write_config):
    path = str(write_config(MIXED))
    assert main(["quote", path, "--trials", "20000", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["years"] == [2024, 2025, 2026, 2027, 2028] and obj["p_cover_year"] == 2028
    assert len(obj["p_cover_by_year"]) == 5 and obj["p_cover"] == obj["p_cover_by_year"][-1]
    be = obj["breakeven_year"]
    assert {"0.05", "0.5", "0.95"} <= set(be["quantiles"]) and 0 <= be["p_never"] <= 1
    for key in ("trials", "seed", "elapsed_s", "hits", "completed", "p_cover_ci95",
                "p_cover_ci_method"):
        assert key in obj, key
    for name in ("gap", "required_annual_revenue", "ai_revenue", "cum_capex", "cum_revenue"):
        o = obj["outputs"][name]
        assert len(o["mean"]) == 5 and len(o["quantiles"]["0.5"]) == 5
    assert main(["quote", path, "--trials", "20000"]) == 0
    out = capsys.readouterr().out
    assert "Multi-year (vintage) model, 2024-2028" in out
    assert all(line.split()[0] in out for line in ("2024", "2028"))
    assert "Break-even year (the first year AI revenue >= required revenue): median " in out
    assert "P(no break-even by 2028) = " in out


def test_bundled_vintage_config_runs(configs):
    sc = engine.load_config(configs / "vintage-2024-2032.toml")
    assert sc.model == "vintage" and sc.vintage.first_cohort == 2023
    assert sc.vintage.years == tuple(range(2024, 2033))
    ds = engine.simulate(sc, trials=BLOCK)
    # Reported NVIDIA data-center revenue is fixed: FY2025 and FY2026 as 2024 and 2025.
    np.testing.assert_array_equal(ds["annual_gpu_spend_min"].values[:2], [115.2, 193.7])
    assert (np.diff(ds["cum_capex_mean"].values) > 0).all()


# ----------------------------------------------------------------- config rules


GOOD = _vintage_header(2024, 2026) + """
[inputs]
gpu_spend = 100
gpu_spend_growth = 0.1
energy_ratio = 1
margin = 0.5
[revenue]
A = 10
[revenue_growth]
A = 0.3
"""


@pytest.mark.parametrize("text, key, rule", [
    (GOOD.replace("years = [2024, 2026]", "years = [2026, 2024]"), "scenario.years",
     "must be in order"),
    (GOOD.replace("years = [2024, 2026]", "years = [2024]"), "scenario.years",
     "two whole years"),
    (GOOD.replace("years = [2024, 2026]\n", ""), "scenario.years", "is required"),
    (GOOD.replace('"vintage"', '"vintag"'), "scenario.model", "Did you mean `vintage`"),
    (GOOD.replace("gpu_spend_growth = 0.1", "gpu_spend_growth = -1"),
     "inputs.gpu_spend_growth", "must lie in (-1, inf)"),
    (GOOD.replace("A = 0.3", 'A = { dist = "normal", mean = 0.2, sd = 0.5 }'),
     "revenue_growth.A", "can produce values from"),
    (GOOD.replace("gpu_spend_growth = 0.1", "gpu_spend_grwth = 0.1"),
     "inputs.gpu_spend_grwth", "Did you mean `gpu_spend_growth`"),
    (GOOD.replace("gpu_spend_growth = 0.1\n", ""), "inputs.gpu_spend_growth",
     "is required: inputs.gpu_spend stops at 2024"),
    (GOOD.replace("[revenue_growth]\nA = 0.3", "[revenue_growth]\nAA = 0.3"),
     "revenue_growth.AA", "Did you mean `A`"),
    (GOOD.replace("[revenue_growth]\nA = 0.3\n", ""), "revenue_growth.A", "is required"),
    (GOOD.replace("gpu_spend = 100", "gpu_spend = { 2024 = 100, 2026 = 5 }"),
     "inputs.gpu_spend", "misses year 2025"),
    (GOOD.replace("gpu_spend = 100", "gpu_spend = { 2025 = 100 }"), "inputs.gpu_spend.2025",
     "must start at or before the first reported year 2024"),
    (GOOD.replace("A = 10", "A = { 2023 = 1, 2024 = 10 }"), "revenue.A.2023",
     "is before the first reported year 2024"),
    (GOOD.replace("gpu_spend = 100", "gpu_spend = { 2024 = 1, 2025 = 2, 2026 = 3, 2027 = 4 }"),
     "inputs.gpu_spend.2027", "is after the last reported year 2026"),
    (GOOD.replace("gpu_spend = 100", "gpu_spend = { 2024 = 1, 2025 = 2, 2026 = 3 }"),
     "inputs.gpu_spend_growth", "is not used"),
    (GOOD.replace("gpu_spend_growth = 0.1", "gpu_spend_growth = { 2026 = 0.1 }"),
     "inputs.gpu_spend_growth", "must give exactly the years 2025..2026"),
    (GOOD.replace("A = 0.3", 'A = { 2025 = 0.3, dist = "uniform" }'), "revenue_growth.A",
     "mixes years and distribution keys"),
    (GOOD.replace("gpu_spend = 100", "gpu_spend = -5"), "inputs.gpu_spend",
     "must lie in [0, inf)"),
    (GOOD.replace("margin = 0.5", "margin = 0.5\nuseful_life = 0"), "inputs.useful_life",
     "must lie in (0, inf)"),
    ("[scenario]\nyears = [2024, 2025]\n[inputs]\ngpu_spend = 1\nenergy_ratio = 1\n"
     "margin = 0.5\n[revenue]\nA = 1\n", "scenario.years", "only used by the multi-year model"),
    ("[inputs]\ngpu_spend = 1\nenergy_ratio = 1\nmargin = 0.5\n[revenue]\nA = 1\n"
     "[revenue_growth]\nA = 0.1\n", "revenue_growth", "only used by the multi-year model"),
])
def test_config_errors(capsys, write_config, text, key, rule):
    path = write_config(text)
    code = main(["quote", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "Traceback" not in err
    assert str(path) in err and key in err and rule in err, err


def test_input_rule_covers_every_vintage_input_name(mixed):
    # One lookup gives the allowed range of any input name (used by the loader; for sweeps).
    from engine.models.input_rules import GROWTH_RULE, INPUT_RULES, REVENUE_RULE, input_rule
    assert input_rule("gpu_spend.2024") is INPUT_RULES["gpu_spend"]
    assert input_rule("gpu_spend_growth.2026") is GROWTH_RULE
    assert input_rule("revenue_growth.A") is GROWTH_RULE
    assert input_rule("revenue.C.2025") is REVENUE_RULE
    assert input_rule("margin") is INPUT_RULES["margin"]
    for item in mixed.all_inputs:  # every input of a loaded scenario has a rule it obeys
        lo, hi = (float(v) for v in item.dist.ppf(np.array([2.0**-53, 1 - 2.0**-53])))
        assert input_rule(item.name).admits(lo, hi), item.name
