"""The published reference chains (docs/sources.md, "Reference scenarios"), exactly."""

from __future__ import annotations

import math

import pytest

import engine
from engine.core.dataset import proportion_interval


def _scalar(ds, name: str) -> float:
    return float(ds[name])


@pytest.mark.parametrize("config, expected", [
    ("sequoia-200b-2023.toml", {"capex": 100.0, "required_revenue": 200.0,
                                "required_annual_revenue": 200.0, "ai_revenue": 75.0,
                                "gap": 125.0}),
    ("sequoia-600b-2024.toml", {"capex": 300.0, "required_revenue": 600.0,
                                "required_annual_revenue": 600.0, "ai_revenue": 100.0,
                                "gap": 500.0}),
])
def test_cahn_chains_exactly(configs, config, expected):
    ds = engine.simulate(engine.load_config(configs / config), trials=10_000, seed=1)
    for name, value in expected.items():
        # Fixed inputs: every trial gives the same value, so mean, min, max and every
        # quantile are that value exactly (no tolerance).
        assert _scalar(ds, f"{name}_mean") == value, name
        assert _scalar(ds, f"{name}_min") == value, name
        assert _scalar(ds, f"{name}_max") == value, name
        assert (ds[f"{name}_quantile"].values == value).all(), name
        assert _scalar(ds, f"{name}_std") == 0.0, name
    # Revenue never covers: zero hits, and an honest one-sided bound instead of "0".
    assert int(ds["hits"]) == 0
    lo, hi = ds["p_cover_ci95"].values
    assert lo == 0.0 and hi == pytest.approx(1 - 0.05 ** (1 / 10_000), rel=1e-9)


def test_identities_from_domain_facts(configs):
    # S2023: R = 50 -> C = 100 -> Q = 200; Q - 125 = 75.  S2024: R = 150 -> C = 300 -> Q = 600;
    # Q - 500 = 100.  Both with k = 1 and m = 0.5.
    for config, (r, c, q, gap, a) in {
        "sequoia-200b-2023.toml": (50, 100, 200, 125, 75),
        "sequoia-600b-2024.toml": (150, 300, 600, 500, 100),
    }.items():
        sc = engine.load_config(configs / config)
        tr = engine.trace(sc, 0, 3)
        assert (tr["gpu_spend"] == r).all()
        assert (tr["capex"] == c).all() and (tr["required_revenue"] == q).all()
        assert (tr["gap"] == gap).all() and (tr["ai_revenue"] == a).all()
        assert (tr["required_revenue"] - gap == a).all()


def test_seventeen_x(configs):
    ds = engine.simulate(engine.load_config(configs / "wsj-17x-2023.toml"), trials=4096)
    s2r = _scalar(ds, "spend_to_revenue_mean")
    assert s2r == 50 / 3
    assert round(s2r, 1) == 16.7


def test_generational_equals_straight_line_when_delta_is_one_over_life(write_config):
    # delta = ln(gain) / generation_years = 1 / L when gain = e**(generation_years / L).
    # With r = 0 both forms charge C / L a year (docs/models.md).
    life, gen_years = 4.0, 2.0
    gain = math.exp(gen_years / life)
    assert math.log(gain) / gen_years == 1 / life  # the premise holds exactly in floats
    base = "[inputs]\ngpu_spend = 150\nenergy_ratio = 1\nmargin = 0.5\ncost_of_capital = 0\n" \
           "[revenue]\nAll = 100\n"
    text_sl = base.replace("cost_of_capital = 0", f"cost_of_capital = 0\nuseful_life = {life}")
    text_gen = base.replace("cost_of_capital = 0", f"cost_of_capital = 0\ngeneration_years = "
                            f"{gen_years}\nperf_per_dollar_gain = {gain!r}")
    a = engine.trace(engine.load_config(write_config(text_sl, "a.toml")), 0, 4)
    b = engine.trace(engine.load_config(write_config(text_gen, "b.toml")), 0, 4)
    assert (a["required_annual_revenue"].values == 600 / life).all()
    assert (b["required_annual_revenue"].values == a["required_annual_revenue"].values).all()


def test_cost_of_capital_annuity(write_config):
    # CRF(r, L) = r / (1 - (1 + r)^-L); with r = 10%, L = 5: 0.2637974808...
    text = ("[inputs]\ngpu_spend = 150\nenergy_ratio = 1\nmargin = 0.5\nuseful_life = 5\n"
            "cost_of_capital = 0.1\n[revenue]\nAll = 100\n")
    tr = engine.trace(engine.load_config(write_config(text)), 0, 1)
    crf = 0.1 / (1 - 1.1 ** -5)
    assert float(tr["required_annual_revenue"][0]) == pytest.approx(600 * crf, rel=1e-14)


def test_proportion_interval_methods():
    lo, hi, m = proportion_interval(500, 1000)
    assert m == "wilson" and lo < 0.5 < hi
    lo, hi, m = proportion_interval(3, 1000)
    assert m == "clopper-pearson" and lo < 0.003 < hi
    lo, hi, m = proportion_interval(0, 1000)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.05 ** (1 / 1000), rel=1e-9)
