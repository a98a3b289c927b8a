"""Goal seek (``capexgap solve``): scaled distributions, the closed form of a lognormal revenue
against a fixed requirement, a multi-company case against quotes of the scaled scenario,
the median-gap target, bit-identity across threads, hard ranges and the CLI's errors and notes.

Stochastic checks use fixed seeds and tolerances of k standard errors, k stated where used.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats
import xarray as xr

import engine
from distributions import parse
from engine.analyses.scale import (
    multiplier_range,
    resolve_scale,
    scale_distribution,
    scale_names,
    scale_scenario,
)
from engine.analyses.solve import RTOL, _bracket, solve
from engine.base.errors import ConfigError
from engine.cli import main

# One company, lognormal(mu, sigma), against a fixed required annual revenue R = 200
# (GPU spend 100, energy 1 -> capex 200; margin 0.5 -> 400 over a 2-year life, no interest):
# P(cover)(m) = Phi((mu + log m - log R) / sigma).
MU, SIGMA, R = 3.0, 0.5, 200.0
CLOSED = f"""
[scenario]
name = "solve closed form"
trials = 40000
seed = 3
[inputs]
gpu_spend = 100
energy_ratio = 1
margin = 0.5
useful_life = 2
cost_of_capital = 0
[revenue]
Solo = {{ dist = "lognormal", mu = {MU}, sigma = {SIGMA} }}
"""

# Three companies (lognormal, PERT, fixed), correlated, against uncertain costs. The company
# fields are written scaled by m in the text, independently of scale_distribution.
MULTI = """
[scenario]
name = "solve multi"
trials = 20000
seed = 5
[inputs]
gpu_spend = {{ dist = "lognormal", ci90 = [60, 120] }}
energy_ratio = {{ dist = "triangular", min = 0.5, mode = 1.0, max = 1.5 }}
margin = {{ dist = "pert", min = 0.3, mode = 0.5, max = 0.7 }}
useful_life = {{ dist = "triangular", min = 1, mode = 3, max = 6 }}
cost_of_capital = 0.05
[revenue]
A = {{ dist = "lognormal", mu = {mu!r}, sigma = 0.6 }}
B = {{ dist = "pert", min = {b0!r}, mode = {b1!r}, max = {b2!r} }}
C = {c!r}
[correlation]
groups = [{{ members = "revenue", rho = 0.5 }}]
"""


def multi_text(m: float) -> str:
    """MULTI with every company's revenue multiplied by m (written out by hand)."""
    return MULTI.format(mu=2.5 + math.log(m), b0=2.0 * m, b1=6.0 * m, b2=20.0 * m, c=4.0 * m)


@pytest.fixture(scope="module")
def closed():
    return engine.loads(CLOSED, source="closed.toml")


@pytest.fixture(scope="module")
def multi():
    return engine.loads(multi_text(1.0), source="multi.toml")


def _se_log(n: int) -> float:
    """Standard error of log m at P = 0.5 in the closed form: se(p) / (dP / dlog m)."""
    return math.sqrt(0.25 / n) * SIGMA / scipy.stats.norm.pdf(0.0)


# ------------------------------------------------------------------- scaled distributions


@pytest.mark.parametrize("spec", [
    12.5, {"dist": "fixed", "value": 3.0}, {"dist": "uniform", "min": -1, "max": 4},
    {"dist": "normal", "mean": -2, "sd": 3}, {"dist": "lognormal", "ci90": [5, 50]},
    {"dist": "triangular", "min": 1, "mode": 2, "max": 6},
    {"dist": "pert", "min": 0.3, "mode": 0.5, "max": 0.7, "lambda": 6},
    {"dist": "beta", "alpha": 2, "beta": 5, "min": 1, "max": 3},
    {"dist": "beta", "mean": 0.3, "sd": 0.1},
    {"dist": "truncnormal", "mean": 1, "sd": 2, "min": 0},
    {"dist": "truncnormal", "mean": 1, "sd": 2, "min": -1, "max": 2.5},
])
@pytest.mark.parametrize("m", [0.37, 3.0, 250.0])
def test_scaled_quantiles_are_m_times_the_originals(spec, m):
    d = parse("x", spec)
    s = scale_distribution(d, m)
    assert s.family == d.family
    qs = np.array([1e-6, 0.01, 0.1, 0.5, 0.9, 0.99, 1 - 1e-6])
    # scipy's reference and the kernel's own quantile function; truncnormal's far tail is
    # computed through a difference of CDFs, accurate to ~1e-11 relative
    rtol = 1e-10 if d.family == "truncnormal" else 1e-14
    want = m * np.array([d.quantile(q) for q in qs])
    np.testing.assert_allclose([s.quantile(q) for q in qs], want, rtol=rtol)
    np.testing.assert_allclose(s.ppf(qs), m * d.ppf(qs), rtol=rtol)


def test_scale_distribution_refuses_a_multiplier_that_is_not_positive():
    d = parse("x", {"dist": "lognormal", "ci90": [5, 50]})
    for m in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="finite number > 0"):
            scale_distribution(d, m)


def test_scale_names_groups_and_companies(multi):
    assert resolve_scale(multi, "revenue").inputs == ("revenue.A", "revenue.B", "revenue.C")
    assert resolve_scale(multi, "B").inputs == ("revenue.B",)
    assert resolve_scale(multi, "revenue.C").inputs == ("revenue.C",)
    assert resolve_scale(multi, "margin").inputs == ("margin",)
    assert scale_names(multi)[:2] == ["revenue", "gpu_spend"]
    with pytest.raises(ConfigError, match=r"Valid names: revenue, gpu_spend.*A, B, C"):
        resolve_scale(multi, "revenu")


def test_a_hard_range_bounds_the_multiplier(multi):
    # margin's PERT reaches (almost) 0.7 in the kernel and must stay below 1: m < ~1/0.7
    rng = multiplier_range(multi, ["margin"], 1e-3, 1e3)
    top = float(multi.input("margin").dist.ppf(np.array([1 - 2.0**-53]))[0])
    assert 1 - 1e-8 < rng.hi * top < 1 and rng.lo == 1e-3
    scale_scenario(multi, ["margin"], rng.hi)  # the end itself is allowed
    assert "margin must stay in [0, 1)" in rng.limits[0]
    sc = scale_scenario(multi, ["margin"], 1.2)
    assert sc.input("margin").dist.param("max") == pytest.approx(0.84, rel=1e-15)
    with pytest.raises(ConfigError, match=r"outside its range: margin must stay in \[0, 1\).*"
                                          r"must be < 1\.42857.*Keep the multiplier below"):
        scale_scenario(multi, ["margin"], 1.5)


# ------------------------------------------------------------------------------ the solver


def test_closed_form_multiplier_inside_its_interval(closed):
    n = closed.trials
    ds = solve(closed, "revenue", p_cover=0.5)
    truth = R / math.exp(MU)  # P = 0.5 where mu + log m = log R
    m = float(ds["solution"])
    lo, hi = (float(v) for v in ds["solution_ci95"].values)
    assert ds.attrs["solve_status"] == "found" and lo < truth < hi
    k = 4  # the estimate within k standard errors of the truth
    assert abs(math.log(m / truth)) < k * _se_log(n)
    # the interval's width is that of P(cover)'s 95% interval carried through the slope:
    # 2 x 1.96 x se(log m); its own noise is ~1/sqrt(trials inside it) ~ 5% (k = 4: 20%)
    assert math.log(hi / lo) == pytest.approx(2 * 1.959964 * _se_log(n), rel=0.2)
    # every evaluation against the closed form, within k = 5 standard errors
    ms = ds["multiplier"].values
    exact = scipy.stats.norm.cdf((MU + np.log(ms) - math.log(R)) / SIGMA)
    se = np.sqrt(exact * (1 - exact) / n) + 1 / n
    assert np.all(np.abs(ds["p_cover"].values - exact) <= 5 * se)
    assert np.all(np.diff(ds["hits"].values) >= 0)  # common random numbers: monotone
    # the solution is an evaluation that reaches the target, its bracket within RTOL
    at = int(np.flatnonzero(ms == m)[0])
    assert ds["p_cover"].values[at] >= 0.5 > ds["p_cover"].values[at - 1]
    assert math.log(m / ms[at - 1]) <= RTOL


def test_median_gap_target_has_its_known_answer(closed):
    n = closed.trials
    x = 50.0  # median gap = R - m * exp(mu): 50 at m = (R - 50) / exp(mu)
    ds = solve(closed, "revenue", gap_median=x)
    truth = (R - x) / math.exp(MU)
    lo, hi = (float(v) for v in ds["solution_ci95"].values)
    assert lo < truth < hi
    k = 4  # the sample median's log-error has the same standard error as above
    assert abs(math.log(float(ds["solution"]) / truth)) < k * _se_log(n) + 1e-3
    # and --gap-median 0 lands where --p-cover 0.5 does (gap <= 0 is cover)
    zero = solve(closed, "revenue", gap_median=0.0)
    half = solve(closed, "revenue", p_cover=0.5)
    assert float(zero["solution"]) == pytest.approx(float(half["solution"]), rel=2e-3)
    assert "gap_median_ci95" in zero and "gap_median_ci95" not in half


def test_multi_company_solution_against_quotes_of_the_scaled_config(multi):
    ds = solve(multi, "revenue", p_cover=0.3)
    m = float(ds["solution"])
    assert ds.attrs["solve_status"] == "found" and ds.attrs["solve_direction"] == 1

    def p_at(mult: float) -> float:
        sc = engine.loads(multi_text(mult), source="multi.toml")
        return float(engine.simulate(sc)["p_cover"])

    # the solution is a quote of the config with the companies scaled in its text, bit for
    # bit; just below the solution's bracket the target is not reached
    at = ds.sel(evaluation=int(np.flatnonzero(ds["multiplier"].values == m)[0]))
    assert p_at(m) == float(at["p_cover"]) >= 0.3
    assert p_at(m * math.exp(-2 * RTOL)) < 0.3
    # a coarse sweep of the multiplier brackets it
    grid = [0.5, 1.0, 2.0, 4.0, 8.0]
    ps = [p_at(g) for g in grid]
    assert ps == sorted(ps)
    k = next(i for i, p in enumerate(ps) if p >= 0.3)
    assert grid[k - 1] < m <= grid[k]
    assert float(ds.sel(evaluation=int(np.flatnonzero(ds["multiplier"].values == 1.0)[0]))
                 ["p_cover"]) == ps[1]
    # medians before and after: m times, for every scaled input
    np.testing.assert_allclose(ds["input_median_solution"].values,
                               m * ds["input_median_baseline"].values, rtol=1e-12)


def test_decreasing_direction_and_bit_identity_across_threads(multi):
    one = solve(multi, "gpu_spend", p_cover=0.5, threads=1, trials=8192)
    two = solve(multi, "gpu_spend", p_cover=0.5, threads=2, trials=8192, max_memory_mib=8)
    assert one.attrs["solve_direction"] == -1  # more spend, less cover
    run = ("elapsed_s", "compile_s", "threads", "created", "chunk_size")
    for ds in (one, two):
        ds.attrs = {k: v for k, v in ds.attrs.items() if k not in run}
    xr.testing.assert_identical(one, two)


def test_unreachable_target_gives_a_note_and_no_answer(closed):
    ds = solve(closed, "revenue", p_cover=0.5, max_multiplier=2.0)  # needs about 9.96
    assert ds.attrs["solve_status"] == "unreachable"
    assert math.isnan(float(ds["solution"]))
    assert np.isnan(ds["solution_ci95"].values).all()
    assert "Not reachable" in ds.attrs["solve_note"]
    assert "--max-multiplier 2" in ds.attrs["solve_note"]
    assert ds.attrs["passes"] == 1  # nothing to refine


def test_interval_end_beyond_the_range_is_said(closed):
    # the target is reached just inside the range; the upper end of the interval is beyond it
    ds = solve(closed, "revenue", p_cover=0.5, max_multiplier=9.96)
    assert ds.attrs["solve_status"] == "found"
    lo, hi = (float(v) for v in ds["solution_ci95"].values)
    assert math.isfinite(lo) and math.isnan(hi)
    assert "upper end lies beyond" in ds.attrs["solve_note"]


def test_bracket_picks_the_crossing_nearest_one():
    ms = [0.1, 0.5, 0.9, 2.0, 10.0]
    flags = dict(zip(ms, [False, True, True, False, False]))
    assert _bracket(ms, flags.__getitem__) == ((0.9, 2.0), 2)
    assert _bracket(ms, lambda m: True) == (None, 0)


@pytest.mark.parametrize("kwargs, match", [
    ({}, "give exactly one target"),
    ({"p_cover": 0.5, "gap_median": 0.0}, "give exactly one target"),
    ({"p_cover": 1.0}, "strictly between 0 and 1"),
    ({"p_cover": math.nan}, "finite number"),
    ({"p_cover": 0.5, "max_multiplier": 1.0}, "must be > 1"),
    ({"p_cover": 0.5, "trials": 50}, "at least 100 trials"),
    ({"p_cover": 0.5, "year": 2030}, "only the multi-year"),
])
def test_bad_options_are_config_errors(closed, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        solve(closed, "revenue", **kwargs)


# ------------------------------------------------------------------------------- the CLI


def test_cli_json_and_text(tmp_path, capsys):
    path = tmp_path / "closed.toml"
    path.write_text(CLOSED, encoding="utf-8")
    args = ["solve", str(path), "--scale", "Solo", "--p-cover", "0.5", "--quiet"]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "found" and out["inputs"] == ["revenue.Solo"]
    lo, hi = out["multiplier_ci95"]
    assert lo < R / math.exp(MU) < hi
    assert out["at_solution"]["p_cover"] >= 0.5 > out["baseline"]["p_cover"]
    med = out["input_medians"][0]
    assert med["solution"] == pytest.approx(out["multiplier"] * med["baseline"], rel=1e-12)
    assert out["evaluations"] == len(out["curve"]) and out["trials"] == 40000
    assert main(args) == 0
    text = capsys.readouterr().out
    assert f"Solo x {out['multiplier']:.5g} (95% CI {lo:.5g} to {hi:.5g})" in text
    assert "revenue.Solo, median" in text and "$20.1B" in text


def test_cli_unreachable_json(tmp_path, capsys):
    path = tmp_path / "closed.toml"
    path.write_text(CLOSED, encoding="utf-8")
    assert main(["solve", str(path), "--scale", "revenue", "--p-cover", "0.5",
                 "--max-multiplier", "2", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "unreachable" and out["multiplier"] is None
    assert out["multiplier_ci95"] == [None, None] and out["at_solution"] is None
    assert out["note"].startswith("Not reachable")


@pytest.mark.parametrize("extra, message", [
    (["--scale", "Sloo", "--p-cover", "0.5"], "Valid names: revenue, gpu_spend, energy_ratio"),
    (["--scale", "revenue", "--p-cover", "2"], "must lie strictly between 0 and 1"),
    (["--scale", "revenue"], "one of the arguments --p-cover --gap-median is required"),
    (["--scale", "revenue", "--p-cover", "0.5", "--max-multiplier", "0.5"], "must be > 1"),
    # a refused infinity suggests the option's own default, not --max-memory's
    (["--scale", "revenue", "--p-cover", "0.5", "--max-multiplier", "inf"],
     "must be a finite number, got 'inf' (give e.g. 1000)"),
    (["--scale", "revenue", "--p-cover", "0.5", "--max-memory", "nan"],
     "must be a finite number, got 'nan' (give e.g. 512)"),
    (["--scale", "revenue", "--p-cover", "0.5", "--year", "2030"], "only the multi-year"),
])
def test_cli_bad_input_exits_2(tmp_path, capsys, extra, message):
    path = tmp_path / "closed.toml"
    path.write_text(CLOSED, encoding="utf-8")
    try:
        code = main(["solve", str(path), *extra])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    if "Sloo" in extra:
        assert "Solo" in err  # the company is among the valid names


VINTAGE = """
[scenario]
name = "vintage solve"
model = "vintage"
years = [2024, 2025]
trials = 4096
seed = 11
[inputs]
energy_ratio = 1.0
margin = { dist = "uniform", min = 0.35, max = 0.65 }
useful_life = 3
cost_of_capital = 0.05
gpu_spend_growth = 0.2
[inputs.gpu_spend]
2024 = 100
[revenue]
A = { dist = "lognormal", ci90 = [20, 60] }
[revenue_growth]
A = { dist = "uniform", min = 0.0, max = 0.9 }
"""


def test_vintage_year_and_bit_identity_with_a_quote():
    sc = engine.loads(VINTAGE, source="vintage.toml")
    ds = solve(sc, "A", p_cover=0.5, year=2024)
    assert ds.attrs["solve_year"] == 2024 and ds.attrs["solve_status"] == "found"
    m = float(ds["solution"])
    quote = engine.simulate(scale_scenario(sc, ["revenue.A"], m))
    at = ds.sel(evaluation=int(np.flatnonzero(ds["multiplier"].values == m)[0]))
    assert float(quote["p_cover"].sel(year=2024)) == float(at["p_cover"]) >= 0.5
    with pytest.raises(ConfigError, match="not a reported year"):
        solve(sc, "A", p_cover=0.5, year=2030)
