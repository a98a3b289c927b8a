"""Sweeps and the tornado: common random numbers, bit-identity with pinned quotes, monotonicity,
variance reduction, an analytic tornado ranking, NetCDF, the CLI and every error path."""

from __future__ import annotations

import json
import math

import numba
import numpy as np
import pytest
import scipy.stats
import xarray as xr

import engine
from engine.cli import main
from engine.core.reduce import BLOCK, SK_NBINS
from engine.analyses.sweeps import sweep_grid

# A small scenario with a moderate P(cover) (about 0.3), every kind of input: the template
# fields are the inputs a test pins by editing the text, independently of engine.pin.
TEMPLATE = """
[scenario]
name = "sweep test"
trials = 20000
seed = 7
[inputs]
gpu_spend = {gpu}
energy_ratio = {{ dist = "triangular", min = 0.5, mode = 1.0, max = 1.5 }}
margin = {margin}
useful_life = {life}
cost_of_capital = {{ dist = "uniform", min = 0.02, max = 0.1 }}
[revenue]
Microsoft = {msft}
Google = {{ dist = "lognormal", ci90 = [10, 40] }}
"Other companies" = 15
"""
DEFAULTS = dict(gpu='{ dist = "lognormal", ci90 = [40, 90] }',
                margin='{ dist = "pert", min = 0.3, mode = 0.5, max = 0.7 }',
                life='{ dist = "triangular", min = 1, mode = 3, max = 6 }',
                msft='{ dist = "lognormal", ci90 = [20, 60] }')
BASE = TEMPLATE.format(**DEFAULTS)
N_ODD = 3 * BLOCK + 77  # several blocks and a partial one

GRID = {"gpu_spend": {"ci90": [[40, 90], [50, 120]]},     # a parameter given as pairs
        "margin": {"mode": [0.45, 0.6]},                  # a scalar parameter
        "revenue": {"Microsoft": [25, 40]},               # a company pinned
        "useful_life": [2, 5]}                            # an input pinned


def strip(ds):
    return engine.strip_run_attrs(ds)


# base_path, base, grid_ds, pinned_by_text: tests/conftest.py (from BASE, GRID, N_ODD,
# TEMPLATE and DEFAULTS above)


# ------------------------------------------------------------------------ bit-identity


@pytest.mark.parametrize("at, fields", [
    ({"gpu_spend.ci90": 0, "margin.mode": 0.45, "revenue.Microsoft": 25.0, "useful_life": 2.0},
     dict(margin='{ dist = "pert", min = 0.3, mode = 0.45, max = 0.7 }', msft="25", life="2")),
    ({"gpu_spend.ci90": 1, "margin.mode": 0.6, "revenue.Microsoft": 40.0, "useful_life": 5.0},
     dict(gpu='{ dist = "lognormal", ci90 = [50, 120] }',
          margin='{ dist = "pert", min = 0.3, mode = 0.6, max = 0.7 }', msft="40", life="5")),
    ({"gpu_spend.ci90": 1, "margin.mode": 0.45, "revenue.Microsoft": 40.0, "useful_life": 2.0},
     dict(gpu='{ dist = "lognormal", ci90 = [50, 120] }',
          margin='{ dist = "pert", min = 0.3, mode = 0.45, max = 0.7 }', msft="40", life="2")),
])
def test_point_is_bit_identical_to_a_pinned_quote(pinned_by_text, grid_ds, at, fields):
    quote = engine.simulate(pinned_by_text(**fields), trials=N_ODD)
    point = engine.sweep_point(grid_ds, at)
    xr.testing.assert_identical(strip(point), strip(quote))
    assert list(point.variables) == list(quote.variables)  # in the same order, too


def test_pin_is_the_sweep_point(base, grid_ds):
    at = {"gpu_spend.ci90": [50, 120], "margin.mode": 0.6, "revenue.Microsoft": 25,
          "useful_life": 2}
    quote = engine.simulate(engine.pin(base, at), trials=N_ODD)
    point = engine.sweep_point(grid_ds, {**at, "gpu_spend.ci90": 1})
    xr.testing.assert_identical(strip(point), strip(quote))


def test_groups_of_points_change_nothing(base, grid_ds):
    # max_memory_mib = 1 leaves room for one point per pass: 16 passes instead of one.
    grouped = engine.sweep(base, GRID, trials=N_ODD, max_memory_mib=1)
    xr.testing.assert_identical(strip(grouped), strip(grid_ds))


def test_passes_count_only_rows_a_point_computes_itself(base):
    # Along margin alone, capex, AI revenue and spend/revenue are the same numbers at every
    # point: a pass holds them once. The passes then fit more points than the worst case of
    # six rows per point, every pass but one-point passes fits its budget, and a budget of
    # exactly the whole grid's rows is one pass.
    from engine.core.runner import live_rows
    from engine.models import make_plan
    from engine.analyses.sweeps import bytes_per_point, group_edges, points_per_group, sweep_grid

    pts = sweep_grid(base, {"margin": [0.3 + 0.01 * i for i in range(40)]}).scenarios
    row = (numba.config.NUMBA_NUM_THREADS + 1) * (SK_NBINS * 8 + BLOCK * 4)  # sketch + bins
    records = bytes_per_point() - 6 * row

    def need(lo, hi):
        plan = make_plan(pts[lo:hi])
        return int(live_rows(plan, 0, hi - lo).sum()) * row + (hi - lo) * records

    for mib in (30.0, 100.0, 250.0):
        edges = group_edges(pts, mib)
        assert edges[0] == 0 and edges[-1] == len(pts) and all(np.diff(edges) >= 1)
        for lo, hi in zip(edges[:-1], edges[1:]):
            assert hi - lo == 1 or need(lo, hi) <= mib * 2**20
            assert hi == len(pts) or need(lo, hi + 1) > mib * 2**20  # as many as fit
        assert len(edges) - 1 < -(-len(pts) // points_per_group(mib))
    assert len(group_edges(pts, need(0, len(pts)) / 2**20)) == 2


def test_dataset_layout(grid_ds):
    assert grid_ds["p_cover"].dims == ("gpu_spend.ci90", "margin.mode", "revenue.Microsoft",
                                       "useful_life")
    assert grid_ds["gap_quantile"].dims[-1] == "quantile"
    assert grid_ds["p_cover_ci95"].dims[-1] == "bound"
    assert list(grid_ds["gpu_spend.ci90"].values) == [0, 1]
    assert list(grid_ds["gpu_spend.ci90_lo"].values) == [40, 50]
    assert list(grid_ds["gpu_spend.ci90_hi"].values) == [90, 120]
    assert list(grid_ds["margin.mode"].values) == [0.45, 0.6]
    assert grid_ds.attrs["analysis"] == "sweep"
    for name in ("margin.mode", "useful_life", "revenue.Microsoft"):
        assert {"long_name", "units"} <= set(grid_ds[name].attrs)
    for name, var in grid_ds.data_vars.items():
        assert {"long_name", "units"} <= set(var.attrs), name
    lo, hi = grid_ds["p_cover_ci95"].sel(bound="lower"), grid_ds["p_cover_ci95"].sel(bound="upper")
    assert bool(((lo <= grid_ds["p_cover"]) & (grid_ds["p_cover"] <= hi)).all())


# ------------------------------------------------------- common random numbers, in effect


def test_p_cover_monotone_along_margin_and_life(base):
    # Per trial, covering at a margin implies covering at every lower margin, and covering at
    # a life implies covering at every longer life (the annual charge falls with L). On common
    # trials the counts are therefore exactly monotone: no tolerance.
    ds = engine.sweep(base, {"margin": [0.3, 0.4, 0.5, 0.6, 0.7], "useful_life": [1, 2, 3, 4, 6]},
                      trials=50_000)
    hits = ds["hits"].transpose("margin", "useful_life").values
    assert (np.diff(hits, axis=0) <= 0).all(), hits
    assert (np.diff(hits, axis=1) >= 0).all(), hits
    assert (np.diff(hits, axis=0) < 0).sum() > 10 and (np.diff(hits, axis=1) > 0).sum() > 10


def test_paired_difference_variance_is_far_smaller(base):
    # Neighbouring points margin 0.50 and 0.55, trial by trial (engine.trace recomputes the
    # kernel's own trials). Paired: both points on the same trials, as in a sweep. Independent:
    # the second point on another seed, as two separate runs with different seeds would be.
    n, seed = 100_000, 7
    a = engine.trace(engine.pin(base, {"margin": 0.50}), 0, n, seed=seed)
    b = engine.trace(engine.pin(base, {"margin": 0.55}), 0, n, seed=seed)
    b_ind = engine.trace(engine.pin(base, {"margin": 0.55}), 0, n, seed=seed + 1)
    ca, cb, cb_ind = (x["covers"].values.astype(np.int64) for x in (a, b, b_ind))
    d = ca - cb
    assert d.min() >= 0  # nested: a trial covering at 0.55 covers at 0.50
    # The sweep's counts are these trials' counts.
    sw = engine.sweep(base, {"margin": [0.50, 0.55]}, trials=n, seed=seed)
    assert int(sw["hits"][0] - sw["hits"][1]) == int(d.sum())

    pa, pb = ca.mean(), cb.mean()
    assert 0.1 < pb < pa < 0.9  # a regime where the comparison is meaningful
    ratio_cover = (ca - cb_ind).var() / d.var()
    # For nested indicators Var(d) = (pa - pb)(1 - pa + pb), while independent runs give
    # pa(1 - pa) + pb(1 - pb): with pa ~ 0.36 and pb ~ 0.28 here the expected ratio is about
    # 5.6 (about 5.6 times fewer trials for the same precision of the difference). With
    # n = 1e5 the ratio is estimated to about 2%, so a threshold of 4 cannot fail by chance,
    # while without common random numbers the ratio would be about 1.
    expected = (pa * (1 - pa) + pb * (1 - pb)) / ((pa - pb) * (1 - pa + pb))
    assert expected > 5
    assert ratio_cover > 4, (ratio_cover, expected)

    ga, gb, gb_ind = (x["gap"].values for x in (a, b, b_ind))
    ratio_gap = (ga - gb_ind).var() / (ga - gb).var()
    # gap = C x CRF / (1 - m) - R: the paired difference is C x CRF x (1/0.45 - 1/0.5), about
    # a tenth of either point's own capital term, so its variance is ~1/100 of theirs and the
    # ratio is about 200; 50 is far below that and far above 1.
    assert ratio_gap > 50, ratio_gap


# ---------------------------------------------------------------------------- tornado

# Cover iff R >= 4 G / L (k = 1, m = 0.5, r = 0): ln R + ln L - ln G - ln 4 is normal with mean
# 0 here and variance V = sG^2 + sL^2 + sR^2. Pinning input X (sigma s) at its q-quantile
# leaves the others random: P = Phi(+-s z_q / sqrt(V - s^2)), so the swing between z_0.1 and
# z_0.9 is 2 Phi(1.2816 s / sqrt(V - s^2)) - 1, increasing in s: the ranking follows sigma.
SIGMAS = {"gpu_spend": 0.5, "useful_life": 0.3, "revenue.All": 0.2}
TORNADO = f"""
[scenario]
name = "analytic tornado"
[inputs]
gpu_spend = {{ dist = "lognormal", mu = {math.log(150)}, sigma = 0.5 }}
energy_ratio = 1.0
margin = 0.5
useful_life = {{ dist = "lognormal", mu = {math.log(2)}, sigma = 0.3 }}
cost_of_capital = 0
[revenue]
All = {{ dist = "lognormal", mu = {math.log(300)}, sigma = 0.2 }}
"""


@pytest.fixture(scope="module")
def tornado_case(tmp_path_factory):
    path = tmp_path_factory.mktemp("tornado") / "tornado.toml"
    path.write_text(TORNADO)
    sc = engine.load_config(path)
    return sc, engine.tornado(sc, trials=100_000, seed=3)


def test_tornado_ranking_matches_the_closed_form(tornado_case):
    sc, ds = tornado_case
    assert list(ds["input"].values) == ["gpu_spend", "useful_life", "revenue.All"]
    assert ds["p_cover"].dims == ("input", "level")
    assert list(ds["level"].values) == [0.1, 0.9]
    n = int(ds.attrs["trials"])
    v = sum(s * s for s in SIGMAS.values())
    z = scipy.stats.norm.ppf([0.1, 0.9])
    for name, s in SIGMAS.items():
        sign = -1.0 if name == "gpu_spend" else 1.0
        p = scipy.stats.norm.cdf(sign * s * z / math.sqrt(v - s * s))
        got = ds["p_cover"].sel(input=name).values
        # SE of a difference of two proportions on shared trials is at most sd_lo + sd_hi
        # (whatever their correlation); k = 5 standard errors.
        se = (math.sqrt(p[0] * (1 - p[0])) + math.sqrt(p[1] * (1 - p[1]))) / math.sqrt(n)
        assert abs(float(ds["swing_p_cover"].sel(input=name)) - (p[1] - p[0])) < 5 * se
        assert np.all(np.abs(got - p) < 5 * np.sqrt(p * (1 - p) / n))
        np.testing.assert_array_equal(ds["pinned_value"].sel(input=name).values,
                                      [sc.input(name).dist.quantile(q) for q in (0.1, 0.9)])
    # The baseline sits at P = 1/2 (mean 0 above).
    assert abs(float(ds["baseline_p_cover"]) - 0.5) < 5 * math.sqrt(0.25 / n)
    assert float(ds["swing_gap_median"].sel(input="gpu_spend")) > 0


def test_tornado_points_are_pinned_quotes(tornado_case):
    sc, ds = tornado_case
    base = engine.simulate(sc, trials=100_000, seed=3)
    for var in ("hits", "gap_quantile", "capex_mean"):
        np.testing.assert_array_equal(ds[f"baseline_{var}"].values, base[var].values)
    x = float(ds["pinned_value"].sel(input="useful_life", level=0.9))
    one = engine.simulate(engine.pin(sc, {"useful_life": x}), trials=100_000, seed=3)
    for var in ("hits", "gap_quantile", "required_annual_revenue_std"):
        np.testing.assert_array_equal(ds[var].sel(input="useful_life", level=0.9).values,
                                      one[var].values)


# ----------------------------------------------------------------------------- NetCDF


def test_netcdf_round_trip(base, tornado_case, tmp_path):
    ds = engine.sweep(base, {"revenue": {"Other companies": [10, 20]},
                             "gpu_spend.ci90": [[40, 90], [50, 120]]}, trials=BLOCK)
    for name, d in (("sweep", ds), ("tornado", tornado_case[1])):
        back = engine.open_result(engine.write_netcdf(d, tmp_path / f"{name}.nc"))
        xr.testing.assert_identical(d, back)
    back = engine.open_result(tmp_path / "sweep.nc")
    at = {"revenue.Other companies": 20.0, "gpu_spend.ci90": 0}
    xr.testing.assert_identical(engine.sweep_point(back, at), engine.sweep_point(ds, at))


# -------------------------------------------------------------------- example configs


def test_example_configs(configs):
    ml = sweep_grid(engine.load_config(configs / "sweep-margin-life.toml"))
    assert ml.dims == ("margin", "useful_life") and ml.shape == (5, 6)
    assert ml.keys[0].values == (0.3, 0.4, 0.5, 0.6, 0.7)  # 0.6, not 0.6000000000000001
    es = sweep_grid(engine.load_config(configs / "sweep-energy-spend.toml"))
    assert es.dims == ("energy_ratio", "gpu_spend") and es.shape == (5, 7)
    assert es.keys[1].values == (100, 150, 200, 250, 300, 350, 400)


# -------------------------------------------------------------------------------- CLI


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_sweep_json_text_and_out(capsys, tmp_path, base_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(BASE + '\n[sweep]\nmargin = [0.4, 0.6]\nrevenue.Microsoft = [25, 40]\n')
    code, out, err = run(capsys, "sweep", cfg, "--json", "--trials", 4096)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["n_points"] == 4 and obj["trials"] == 4096 and obj["seed"] == 7
    assert obj["dims"] == {"margin": [0.4, 0.6], "revenue.Microsoft": [25.0, 40.0]}
    assert [p["at"] for p in obj["points"]][1] == {"margin": 0.4, "revenue.Microsoft": 40.0}
    for p in obj["points"]:
        assert p["p_cover_ci95"][0] <= p["p_cover"] <= p["p_cover_ci95"][1]
        assert {"0.05", "0.5", "0.95"} <= set(p["outputs"]["gap"]["quantiles"])
    code, out, _ = run(capsys, "sweep", cfg, "--trials", 4096, "--out", tmp_path / "s.nc")
    assert code == 0
    assert "margin (2 values) x revenue.Microsoft (2 values) = 4 points" in out
    assert "P(cover)" in out and "gap median" in out
    assert engine.open_result(tmp_path / "s.nc").attrs["analysis"] == "sweep"
    code, _, err = run(capsys, "sweep", cfg, "--out", tmp_path / "s.nc")
    assert code == 2 and "file exists" in err and "--force" in err


def test_cli_tornado_json_and_text(capsys, tmp_path):
    cfg = tmp_path / "t.toml"
    cfg.write_text(TORNADO)
    code, out, err = run(capsys, "tornado", cfg, "--json", "--trials", 8192)
    assert code == 0, err
    obj = json.loads(out)
    assert [r["input"] for r in obj["inputs"]] == ["gpu_spend", "useful_life", "revenue.All"]
    assert obj["levels"] == [0.1, 0.9] and set(obj["inputs"][0]["p_cover"]) == {"0.1", "0.9"}
    code, out, _ = run(capsys, "tornado", cfg, "--trials", 8192, "--levels", 0.05, 0.95,
                       "--sort-by", "gap_median")
    assert code == 0
    assert "Baseline: P(cover)" in out and "at 95%" in out and "gpu_spend" in out


@pytest.mark.parametrize("command, options", [
    ("sweep", ("--trials", "--seed", "--threads", "--json", "--out", "--force", "--quiet",
               "--max-points", "--max-memory", "[sweep]", "start, stop, num")),
    ("tornado", ("--levels", "--sort-by", "--trials", "--seed", "--threads", "--json", "--out",
                 "--force", "--quiet", "--max-memory")),
])
def test_help_explains_every_option(capsys, command, options):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in options:
        assert opt in out, opt


# --------------------------------------------------------------------------- errors

BAD_SWEEPS = [
    ("margn = [0.3]", "sweep.margn", "unknown input", "Did you mean `margin`"),
    ("revenue.Microsft = [5]", "sweep.revenue.Microsft", "unknown input",
     "Did you mean `revenue.Microsoft`"),
    ("revenue = [5]", "sweep.revenue", "unknown input", ""),
    ("margin.modee = [0.5]", "sweep.margin.modee", "unknown parameter of margin",
     "did you mean 'mode'"),
    ("margin.dist = [0.5]", "sweep.margin.dist", "family cannot be swept", ""),
    ("margin = [0.3, 0.5, 0.7, 1.0]", "sweep.margin[3]", "pins margin to 1, outside [0, 1)",
     "got 1.0"),
    ("useful_life = [0, 1]", "sweep.useful_life[0]", "pins useful_life to 0, outside (0, inf)",
     ""),
    ("margin.mode = [0.5, 0.8]", "sweep.margin.mode[1]",
     "makes margin invalid: a pert needs min <= mode <= max", "got 0.8"),
    ("margin.max = [1.2]", "sweep.margin.max[0]",
     "makes margin's pert distribution produce values from", "outside [0, 1)"),
    ("cost_of_capital.max = [0.01]", "sweep.cost_of_capital.max[0]", "a uniform needs min < max",
     ""),
    ("gpu_spend.ci90 = [[-10, 100]]", "sweep.gpu_spend.ci90[0]", "quantiles must be > 0", ""),
    ("gpu_spend.ci90 = [[200, 100]]", "sweep.gpu_spend.ci90[0]",
     "the lower quantile must be < the upper quantile", ""),
    ("gpu_spend.ci90 = [100, 200]", "sweep.gpu_spend.ci90[0]", "must be a pair [lo, hi]", ""),
    ("gpu_spend.ci90 = { start = 1, stop = 2, num = 2 }", "sweep.gpu_spend.ci90",
     "takes [lo, hi] pairs", ""),
    ('revenue."Other companies".ci90 = [[1, 2]]', "sweep.revenue.Other companies.ci90",
     "is the fixed number 15", "Sweep the input itself"),
    ("margin = []", "sweep.margin", "is an empty list", ""),
    ("margin = 0.5", "sweep.margin", "must be a list of values", ""),
    ('margin = [0.3, "high"]', "sweep.margin[1]", "must be a number, not a str", ""),
    ("margin = [0.3, true]", "sweep.margin[1]", "must be a number, not a boolean", ""),
    ("margin = [0.3, nan]", "sweep.margin[1]", "must be a finite number", ""),
    ("margin = [0.3, 0.3]", "sweep.margin[1]", "repeats the value at [0]", ""),
    ("useful_life = { start = 1, stop = 6, num = 0 }", "sweep.useful_life.num", "must be >= 1",
     ""),
    ("useful_life = { start = 1, stop = 6, num = 2.5 }", "sweep.useful_life.num",
     "must be a whole number", ""),
    ("useful_life = { start = 1, stop = 6 }", "sweep.useful_life", "missing num", ""),
    ("useful_life = { start = 1, stop = 6, num = 6, step = 1 }", "sweep.useful_life.step",
     "unknown key", "start, stop, num, or values"),
    ("useful_life = { values = [1, 2], num = 2 }", "sweep.useful_life",
     "give either values or start/stop/num", ""),
    ('margin = [0.4]\n"margin.mode" = [0.5]', "sweep.margin.mode",
     "conflicts with sweep.margin", ""),
    ("margin.min = [0.1, 0.45]\nmargin.mode = [0.4, 0.6]", "sweep",
     "at the point margin.min = 0.45, margin.mode = 0.4: makes margin invalid", ""),
    ("[sweep.margin]", "sweep.margin", "is an empty table", ""),
    ("", "sweep", "is missing or empty", "configs/sweep-margin-life.toml"),
]


@pytest.mark.parametrize("table, key, rule, extra", BAD_SWEEPS)
def test_sweep_errors(capsys, tmp_path, table, key, rule, extra):
    path = tmp_path / "bad.toml"
    sweep = table if table.startswith("[sweep.") else f"[sweep]\n{table}"
    path.write_text(BASE + "\n" + sweep + "\n")
    code, out, err = run(capsys, "sweep", path, "--trials", 4096)
    assert code == 2
    assert out == "" and "Traceback" not in err
    assert err.startswith(f"capexgap: error: {path}: {key}: "), err
    assert rule in err and extra in err, err


@pytest.mark.parametrize("table, key, rule, extra", [b for b in BAD_SWEEPS if b[1] != "sweep"])
def test_quote_checks_the_sweep_table_too(capsys, tmp_path, table, key, rule, extra):
    # `quote` of a config with a broken [sweep] key fails the same way, before running (the
    # grid as a whole, e.g. a combination of values, is the sweep's business).
    path = tmp_path / "bad.toml"
    sweep = table if table.startswith("[sweep.") else f"[sweep]\n{table}"
    path.write_text(BASE + "\n" + sweep + "\n")
    code, out, err = run(capsys, "quote", path, "--trials", 4096)
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith(f"capexgap: error: {path}: {key}: "), err
    assert rule in err and extra in err, err


def test_quote_of_a_sweep_config_says_the_grid_is_not_run(capsys, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(BASE + "\n[sweep]\nmargin = [0.4, 0.6]\nuseful_life = [1, 2, 3]\n")
    code, out, err = run(capsys, "quote", path, "--trials", 4096)
    assert code == 0 and "P(AI revenue covers" in out
    assert f"{path} has a [sweep] table (6 points); quote runs the scenario as written" in err
    code, out, err = run(capsys, "quote", path, "--trials", 4096, "--quiet")
    assert code == 0 and "[sweep]" not in err


def test_sweep_without_table(capsys, base_path):
    code, out, err = run(capsys, "sweep", base_path)
    assert code == 2 and out == ""
    assert f"{base_path}: sweep: is missing or empty" in err


def test_grid_size_guard(capsys, configs):
    path = configs / "sweep-margin-life.toml"
    code, out, err = run(capsys, "sweep", path, "--max-points", 10)
    assert code == 2 and out == ""
    assert (f"{path}: sweep: the grid has 30 points (margin 5 x useful_life 6), more than the "
            "limit of 10") in err
    assert "--max-points" in err and "fewer values" in err


@pytest.mark.parametrize("argv, msg", [
    (["--levels", "0.5"], "levels: needs at least two distinct levels"),
    (["--levels", "0.1", "1.5"], "levels: each level must lie strictly between 0 and 1"),
    (["--levels", "0.1", "x"], "expected a number in (0, 1)"),
    (["--max-memory", "0"], "must be > 0"),
])
def test_tornado_option_errors(capsys, tmp_path, argv, msg):
    cfg = tmp_path / "t.toml"
    cfg.write_text(TORNADO)
    try:
        code = main(["tornado", str(cfg), *argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "Traceback" not in err
    assert msg in err, err


def test_tornado_needs_an_uncertain_input(capsys, configs):
    path = configs / "sequoia-200b-2023.toml"
    code, out, err = run(capsys, "tornado", path)
    assert code == 2 and out == ""
    assert f"{path}: inputs: has no uncertain input" in err
