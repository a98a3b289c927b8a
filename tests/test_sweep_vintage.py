"""Sweeps and the tornado on the multi-year (vintage) model: every point bit-identical to a
separate quote of its pinned scenario (per-year table inputs included), P(cover) monotone in
every year where the model says it must be, the tornado ranked by the last year, grouping,
NetCDF, JSON/text and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import engine
from engine.cli import main
from engine.core.reduce import BLOCK
from engine.models.one_year import LAYOUT as ONE_YEAR_LAYOUT
from engine.analyses.sweeps import bytes_per_point, plan_layout, points_per_group, sweep_grid
from engine.io.sweep_summary import sweep_summary, tornado_summary

# Three reported years, a cohort before them, per-year tables (gpu_spend, revenue.C) and
# single growth rates; P(cover) is about 0.3-0.4 in every year. The template fields are the
# inputs a test pins by editing the text, independently of engine.pin.
TEMPLATE = """
[scenario]
name = "vintage sweep test"
model = "vintage"
years = [2024, 2026]
trials = 20000
seed = 11
[inputs]
energy_ratio = {{ dist = "triangular", min = 0.6, mode = 1.0, max = 1.6 }}
margin = {{ dist = "uniform", min = 0.35, max = 0.65 }}
useful_life = {life}
cost_of_capital = {r}
gpu_spend_growth = {growth}
[inputs.gpu_spend]
2023 = 40
2024 = {gpu2024}
[revenue]
A = {{ dist = "lognormal", ci90 = [90, 300] }}
B = 10
[revenue.C]
2024 = 5
2025 = {c2025}
[revenue_growth]
A = {growth_a}
B = 0.25
C = {{ dist = "triangular", min = -0.2, mode = 0.5, max = 1.5 }}
"""
DEFAULTS = dict(life='{ dist = "triangular", min = 1, mode = 3, max = 6 }',
                r='{ dist = "uniform", min = 0.0, max = 0.1 }',
                growth='{ dist = "uniform", min = -0.2, max = 0.5 }',
                gpu2024='{ dist = "lognormal", ci90 = [80, 130] }',
                c2025='{ dist = "lognormal", ci90 = [8, 15] }',
                growth_a='{ dist = "uniform", min = 0.0, max = 0.9 }')
BASE = TEMPLATE.format(**DEFAULTS)
N_ODD = 3 * BLOCK + 77  # several blocks and a partial one
YEARS = [2024, 2025, 2026]

# An input pinned, a growth rate pinned, one parameter of a per-year level (pairs).
GRID = {"useful_life": [2, 5],
        "gpu_spend_growth": [0.0, 0.4],
        "revenue": {"C": {"2025": {"ci90": [[8, 15], [12, 25]]}}}}


def strip(ds):
    return engine.strip_run_attrs(ds)


# base_path, base, grid_ds, pinned_by_text: tests/conftest.py (from BASE, GRID, N_ODD,
# TEMPLATE and DEFAULTS above)


# ------------------------------------------------------------------------ bit-identity


@pytest.mark.parametrize("at, fields", [
    ({"useful_life": 2.0, "gpu_spend_growth": 0.0, "revenue.C.2025.ci90": 0},
     dict(life="2", growth="0.0")),
    ({"useful_life": 5.0, "gpu_spend_growth": 0.4, "revenue.C.2025.ci90": 1},
     dict(life="5", growth="0.4", c2025='{ dist = "lognormal", ci90 = [12, 25] }')),
])
def test_point_is_bit_identical_to_a_pinned_quote(pinned_by_text, grid_ds, at, fields):
    quote = engine.simulate(pinned_by_text(**fields), trials=N_ODD)
    point = engine.sweep_point(grid_ds, at)
    assert point["p_cover"].dims == ("year",)
    assert point["gap_hist"].dims == ("year", "gap_bin")
    xr.testing.assert_identical(strip(point), strip(quote))


@pytest.mark.parametrize("key, values, fields", [
    ("revenue_growth.A", [0.2, 0.6], dict(growth_a="0.6")),      # a company's growth
    ("gpu_spend.2024", [90, 120], dict(gpu2024="120")),          # one year of a year table
    ("revenue.C.2025", [9, 14], dict(c2025="14")),               # a company's year
    ("gpu_spend_growth.max", [0.3, 0.5], dict(growth='{ dist = "uniform", min = -0.2, '
                                                     'max = 0.5 }')),
])
def test_per_year_and_growth_inputs_pin_exactly(base, pinned_by_text, key, values, fields):
    ds = engine.sweep(base, {key: values}, trials=N_ODD)
    assert ds["p_cover"].dims == (key, "year")
    quote = engine.simulate(pinned_by_text(**fields), trials=N_ODD)
    xr.testing.assert_identical(strip(engine.sweep_point(ds, {key: values[1]})), strip(quote))
    via_pin = engine.simulate(engine.pin(base, {key: values[1]}), trials=N_ODD)
    xr.testing.assert_identical(strip(via_pin), strip(quote))


def test_groups_of_points_change_nothing(base, grid_ds):
    # max_memory_mib = 1: one point per pass (8 passes) instead of a few points per pass.
    grouped = engine.sweep(base, GRID, trials=N_ODD, max_memory_mib=1)
    xr.testing.assert_identical(strip(grouped), strip(grid_ds))


def test_dataset_layout_keeps_years_and_breakeven(base, grid_ds):
    dims = ("useful_life", "gpu_spend_growth", "revenue.C.2025.ci90")
    assert grid_ds["p_cover"].dims == dims + ("year",)
    assert grid_ds["p_cover_ci95"].dims == dims + ("year", "bound")
    assert grid_ds["gap_quantile"].dims == dims + ("year", "quantile")
    assert grid_ds["gap_hist"].dims == dims + ("year", "gap_bin")
    assert list(grid_ds["year"].values) == YEARS
    assert grid_ds["year"].attrs["units"] == "year"
    # The break-even variables of a vintage quote survive, per point.
    assert grid_ds["p_breakeven_by"].dims == dims + ("year",)
    assert grid_ds["breakeven_year_quantile"].dims == dims + ("quantile",)
    assert grid_ds["p_breakeven_never"].dims == dims
    assert grid_ds["breakeven_by_trials"].dims == dims + ("year",)
    assert grid_ds.attrs["model"] == "vintage" and grid_ds.attrs["analysis"] == "sweep"
    assert grid_ds["gpu_spend_growth"].attrs["units"] == "1/year"
    assert list(grid_ds["revenue.C.2025.ci90_hi"].values) == [15, 25]
    # The units of per-year inputs: money for gpu_spend.<year> and revenue.<company>.<year>.
    g = sweep_grid(base, {"gpu_spend.2024": [90], "revenue.C.2025": [9]})
    assert [k.units for k in g.keys] == ["US$ billion per year"] * 2


def test_netcdf_round_trip(grid_ds, tmp_path):
    back = engine.open_result(engine.write_netcdf(grid_ds, tmp_path / "v.nc"))
    xr.testing.assert_identical(back, grid_ds)
    at = {"useful_life": 5.0, "gpu_spend_growth": 0.0, "revenue.C.2025.ci90": 1}
    xr.testing.assert_identical(engine.sweep_point(back, at), engine.sweep_point(grid_ds, at))


# ------------------------------------------------------------- common random numbers


def test_p_cover_monotone_along_useful_life_in_every_year(pinned_by_text):
    # With no cost of capital a cohort's charges are its capex spread evenly over its life, and
    # the year's charge is a weighted mean of the cohorts' capex whose weights move to older
    # cohorts as the life grows. When spend never shrinks (growth >= 0, 2023 < 2024) older
    # cohorts are smaller, so on every trial the charge can only fall and P(cover) only rise
    # with the life, in every year: exactly, since every point sees the same trials.
    sc = pinned_by_text(r="0", growth='{ dist = "uniform", min = 0.0, max = 0.5 }',
                        gpu2024='{ dist = "uniform", min = 60, max = 130 }')
    lives = [0.5, 1, 2, 3.5, 5, 8]
    ds = engine.sweep(sc, {"useful_life": lives}, trials=N_ODD)
    hits = ds["hits"].transpose("useful_life", "year").values
    assert np.all(np.diff(hits, axis=0) >= 0), hits
    assert np.all(hits[-1] > hits[0])  # and it does rise, in every year
    p = ds["p_cover"].transpose("useful_life", "year").values
    assert np.all(np.diff(p, axis=0) >= 0)
    # The break-even year can only come earlier: P(broke even by t) rises too.
    by = ds["breakeven_by_trials"].transpose("useful_life", "year").values
    assert np.all(np.diff(by, axis=0) >= 0)


def test_p_cover_monotone_along_growth_in_every_year(grid_ds):
    # Faster growth of GPU spend only adds capex (cohorts 2025 on): P(cover) can only fall.
    hits = grid_ds["hits"].transpose("gpu_spend_growth", ...).values
    assert np.all(hits[1] <= hits[0])
    assert np.all(hits[1, ..., 0] == hits[0, ..., 0])  # 2024 has no grown cohort yet
    assert np.any(hits[1] < hits[0])


# ------------------------------------------------------------------------------ tornado


@pytest.fixture(scope="module")
def tornado_case(base):
    return engine.tornado(base, trials=N_ODD, seed=5)


def test_tornado_runs_ranks_by_the_last_year_and_keeps_years(base, tornado_case):
    ds = tornado_case
    uncertain = [i.name for i in base.all_inputs if not i.dist.is_fixed]
    assert sorted(ds["input"].values) == sorted(uncertain)
    assert ds["p_cover"].dims == ("input", "level", "year")
    assert ds["baseline_p_cover"].dims == ("year",)
    assert ds["swing_p_cover"].dims == ("input", "year")
    assert ds["baseline_breakeven_year_quantile"].dims == ("quantile",)
    assert ds["breakeven_year_quantile"].dims == ("input", "level", "quantile")
    assert list(ds["year"].values) == YEARS
    assert int(ds.attrs["tornado_rank_year"]) == 2026
    assert "in 2026" in ds.attrs["tornado_sort"]
    # Ranked by |swing| in the last year (ties by the median gap's swing then).
    last = np.abs(ds["swing_p_cover"].isel(year=-1).values)
    assert np.all(np.diff(last) <= 0)
    # The swing is the difference of the per-year P(cover) at the two levels.
    np.testing.assert_array_equal(
        ds["swing_p_cover"].values,
        ds["p_cover"].sel(level=0.9).values - ds["p_cover"].sel(level=0.1).values)
    # Signs the model fixes on every trial (same trials at both levels).
    s = ds["swing_p_cover"]
    assert np.all(s.sel(input="margin").values <= 0)
    assert np.all(s.sel(input="energy_ratio").values <= 0)
    assert np.all(s.sel(input="revenue_growth.A").values >= 0)
    assert float(s.sel(input="revenue_growth.A", year=2024)) == 0  # no growth in 2024
    assert np.all(s.sel(input="gpu_spend.2024").values <= 0)
    units = dict(zip(ds["input"].values, ds["input_units"].values))
    assert units["gpu_spend.2024"] == "US$ billion per year"
    assert units["revenue_growth.A"] == "1/year" and units["useful_life"] == "year"


def test_tornado_points_are_pinned_quotes(base, tornado_case):
    ds = tornado_case
    quote = engine.simulate(base, trials=N_ODD, seed=5)
    for var in ("hits", "gap_quantile", "breakeven_year_quantile", "p_breakeven_by"):
        np.testing.assert_array_equal(ds[f"baseline_{var}"].values, quote[var].values)
    for name in ("gpu_spend.2024", "revenue.C.2025", "gpu_spend_growth"):
        x = float(ds["pinned_value"].sel(input=name, level=0.9))
        one = engine.simulate(engine.pin(base, {name: x}), trials=N_ODD, seed=5)
        for var in ("hits", "cum_gap_quantile", "breakeven_year_quantile"):
            np.testing.assert_array_equal(ds[var].sel(input=name, level=0.9).values,
                                          one[var].values)


def test_tornado_summary_reads_the_last_year(tornado_case):
    ds = tornado_case
    obj = tornado_summary(ds, groups=3)
    assert obj["model"] == "vintage" and obj["years"] == YEARS and obj["rank_year"] == 2026
    assert obj["passes"] == 3
    b = obj["baseline"]
    assert b["p_cover"] == float(ds["baseline_p_cover"].sel(year=2026))
    assert b["p_cover_year"] == 2026 and len(b["p_cover_by_year"]) == 3
    assert b["p_cover_ci95"][0] <= b["p_cover"] <= b["p_cover_ci95"][1]
    row = obj["inputs"][0]
    assert row["input"] == str(ds["input"].values[0])
    assert row["swing_p_cover"] == row["p_cover"]["0.9"] - row["p_cover"]["0.1"]
    assert row["swing_p_cover"] == row["swing_p_cover_by_year"][-1]
    assert row["p_cover"]["0.9"] == row["p_cover_by_year"]["0.9"][-1]
    assert set(row["breakeven_year_median"]) == {"0.1", "0.9"}
    json.dumps(obj, allow_nan=False)


# ----------------------------------------------------------------------------- JSON


def test_sweep_summary_points_are_vintage_quotes(base, grid_ds):
    obj = sweep_summary(grid_ds)
    assert obj["model"] == "vintage" and obj["years"] == YEARS and obj["n_points"] == 8
    at = {"useful_life": 5.0, "gpu_spend_growth": 0.4, "revenue.C.2025.ci90": [12.0, 25.0]}
    point = next(p for p in obj["points"] if p["at"] == at)
    quote = engine.simulate(engine.pin(base, at), trials=N_ODD)
    want = engine.summary(quote)
    for k in ("trials", "seed", "elapsed_s", "completed"):
        want.pop(k)
    assert point == {"at": at, **want}
    assert point["breakeven_year"]["p_by_year"] == [
        float(v) for v in quote["p_breakeven_by"].values]


# ------------------------------------------------------------------------------ memory


def test_memory_estimate_counts_outputs_by_year(base):
    layout = plan_layout(base)
    assert layout.n_outputs == 11 * 3
    sketch = (bytes_per_point(layout) / bytes_per_point(ONE_YEAR_LAYOUT))
    assert sketch == pytest.approx(33 / 6)
    assert points_per_group(512, layout) <= points_per_group(512)
    assert points_per_group(1e-3, layout) == 1  # always at least one point per pass


# ------------------------------------------------------------------------------- errors


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("table, key, rule", [
    ("gpu_spend_growth = [0.1, -1.5]", "sweep.gpu_spend_growth[1]", "pins gpu_spend_growth"),
    ("revenue_growth.A = [-2]", "sweep.revenue_growth.A[0]", "annual growth rate"),
    ("gpu_spend.2024 = [-5]", "sweep.gpu_spend.2024[0]", "pins gpu_spend.2024 to -5"),
    ("revenue.C = [5]", "sweep.revenue.C", "is given year by year"),
    ("gpu_spend = [100]", "sweep.gpu_spend",
     "Sweep one year's input: gpu_spend.2023, gpu_spend.2024."),
])
def test_sweep_errors(capsys, tmp_path, table, key, rule):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(BASE + "\n[sweep]\n" + table + "\n")
    code, out, err = run(capsys, "sweep", cfg, "--trials", BLOCK)
    assert code == 2 and out == ""
    assert f"{key}:" in err and rule in err and "Traceback" not in err


# ---------------------------------------------------------------------------------- CLI


def test_cli_sweep_json_text_and_out(capsys, tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(BASE + "\n[sweep]\nuseful_life = [2, 5]\nrevenue_growth.A = [0.2, 0.6]\n")
    code, out, err = run(capsys, "sweep", cfg, "--json", "--trials", 4096)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["model"] == "vintage" and obj["years"] == YEARS and obj["n_points"] == 4
    assert obj["dims"] == {"useful_life": [2.0, 5.0], "revenue_growth.A": [0.2, 0.6]}
    for p in obj["points"]:
        assert p["model"] == "vintage" and p["p_cover_year"] == 2026
        assert p["p_cover"] == p["p_cover_by_year"][-1]
        assert len(p["outputs"]["gap"]["mean"]) == 3 and "breakeven_year" in p
    code, out, err = run(capsys, "sweep", cfg, "--trials", 4096, "--out", tmp_path / "s.nc")
    assert code == 0, err
    assert "useful_life (2 values) x revenue_growth.A (2 values) = 4 points" in out
    assert "Multi-year (vintage) model, 2024-2026" in out
    assert all(str(y) in out for y in YEARS) and "break-even" in out
    back = engine.open_result(tmp_path / "s.nc")
    assert back["p_cover"].dims == ("useful_life", "revenue_growth.A", "year")
    # A multi-year sweep is drawn for its last year (tests/test_plot.py checks the picture).
    code, out, err = run(capsys, "plot", tmp_path / "s.nc", "-o", tmp_path / "s.png")
    assert code == 0, err
    assert "in 2026, one of the reported years 2024-2026 (the last)" in out
    assert (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")


def test_cli_tornado_json_text_and_plot(capsys, tmp_path, base_path):
    code, out, err = run(capsys, "tornado", base_path, "--json", "--trials", 4096)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["model"] == "vintage" and obj["rank_year"] == 2026
    swings = [abs(r["swing_p_cover"]) for r in obj["inputs"]]
    assert swings == sorted(swings, reverse=True)
    code, out, err = run(capsys, "tornado", base_path, "--trials", 4096, "--out",
                         tmp_path / "t.nc")
    assert code == 0, err
    assert "Multi-year (vintage) model, 2024-2026" in out and "Baseline in 2026" in out
    assert "P(cover) in 2026" in out and "break-even (median)" in out
    assert engine.open_result(tmp_path / "t.nc")["p_cover"].dims == ("input", "level", "year")
    # --plot draws the last reported year, the year the tornado is ranked by.
    code, out, err = run(capsys, "tornado", base_path, "--trials", 4096, "--plot",
                         tmp_path / "t.png", "--out", tmp_path / "t2.nc", "--quiet")
    assert code == 0, err
    assert (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "t2.nc").exists()


def test_example_config(configs):
    sc = engine.load_config(configs / "sweep-vintage-life.toml")
    assert sc.model == "vintage"
    g = sweep_grid(sc)
    assert g.dims == ("useful_life", "gpu_spend_growth") and g.shape == (5, 3)
    # The same inputs as the bundled vintage config, except the two swept keys.
    full = engine.load_config(configs / "vintage-2024-2032.toml")
    assert [i.name for i in sc.all_inputs] == [i.name for i in full.all_inputs]
    assert sc.vintage == full.vintage
    for a, b in zip(sc.all_inputs, full.all_inputs):
        assert a.dist.spec == b.dist.spec, a.name


def test_a_table_of_companies_is_not_a_table_of_years(capsys, tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(BASE + "\n[sweep]\nrevenue = [5]\n")
    code, _, err = run(capsys, "sweep", cfg, "--trials", BLOCK)
    assert code == 2 and "sweep.revenue: unknown input" in err and "year by year" not in err
