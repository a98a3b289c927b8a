"""Numeric edges: nothing silent. Margin near 1, zero revenue, float64 overflow, values beyond
the quantile sketch: each by its result and by the message that explains it in text, JSON and
Dataset; inputs that would overflow, too many trials and odd TOML are refused with the line.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from robustness_cases import quote, small, small_text

import engine
from engine.cli import main
from engine.core.reduce import SK_EMAX
from engine.io.results import summary
from engine.models.one_year import OUTPUTS


def _check_explained(ds) -> dict:
    """NaN/inf only with a note, in Dataset, JSON and text; returns the JSON object."""
    for name, var in ds.data_vars.items():
        if var.dtype.kind == "f" and not np.isfinite(var.values).all():
            assert var.attrs.get("note"), name
    obj = summary(ds)
    json.dumps(obj, allow_nan=False)
    return obj


def test_margin_near_one_beyond_the_sketch(capsys, write_config):
    # keep = 1 - m = 1.1e-16: required revenue ~ 2.7e18 $B, far beyond the sketch's 2**44.
    cfg = small(write_config, margin="0.9999999999999999")
    ds = engine.simulate(engine.load_config(cfg))
    tr = engine.trace(engine.load_config(cfg), 0, 4096, seed=3)
    assert float(ds["p_cover"]) == 0.0
    assert int(ds["required_revenue_beyond_sketch"]) == 4096
    assert float(ds["required_revenue_mean"]) == pytest.approx(
        float(tr["required_revenue"].mean()), rel=1e-12)
    assert np.isnan(ds["required_revenue_quantile"].values).all()
    note = ds["required_revenue_quantile"].attrs["note"]
    assert "beyond the quantile sketch's range" in note and "n/a" in note
    obj = _check_explained(ds)
    rr = obj["outputs"]["required_revenue"]
    assert rr["quantiles"]["0.5"] is None and rr["beyond_sketch_trials"] == 4096
    assert rr["mean"] == pytest.approx(float(tr["required_revenue"].mean()), rel=1e-12)
    code, out, _ = quote(capsys, cfg)
    assert code == 0
    assert re.search(r"required_revenue +2\.\d+e\+18 +n/a +n/a +n/a", out), out
    assert "note: required_revenue is beyond the quantile sketch's range" in out


def test_margin_near_one_within_range_is_ordinary(write_config):
    ds = engine.simulate(engine.load_config(small(write_config, margin="0.999999999")))
    assert ds.attrs["notes"] == ""
    assert np.isfinite(ds["required_revenue_quantile"].values).all()
    assert 1e11 < float(ds["required_revenue_quantile"].sel(quantile=0.5)) < 1e12


def test_margin_of_one_is_refused(capsys, write_config):
    for margin in ("1.0", '{ dist = "uniform", min = 0.5, max = 1.0 }'):
        code, out, err = quote(capsys, small(write_config, margin=margin))
        assert code == 2 and "inputs.margin: must lie in [0, 1)" in err


def test_zero_revenue_counts_infinite_ratio(capsys, write_config):
    cfg = small(write_config, revenue="A = 0\nB = 0")
    ds = engine.simulate(engine.load_config(cfg))
    assert int(ds["spend_to_revenue_nonfinite"]) == 4096
    assert np.isnan(float(ds["spend_to_revenue_mean"]))
    note = ds["spend_to_revenue_mean"].attrs["note"]
    assert "AI revenue is 0 in every trial, so GPU spend / AI revenue is +inf" in note
    assert "no finite value" in note and "spend_to_revenue is not finite in 4,096" in \
        ds.attrs["notes"]
    assert float(ds["p_cover"]) == 0.0 and float(ds["gap_mean"]) > 0
    obj = _check_explained(ds)
    s2r = obj["outputs"]["spend_to_revenue"]
    assert s2r["mean"] is None and s2r["nonfinite_trials"] == 4096
    assert any("AI revenue is 0" in n for n in s2r["notes"])
    code, out, _ = quote(capsys, cfg)
    assert re.search(r"spend_to_revenue \(ratio\) +n/a +n/a +n/a +n/a", out), out
    assert "note: spend_to_revenue is not finite in 4,096 of 4,096 trials (AI revenue is 0" in out


def test_some_zero_revenue_trials_are_counted_not_averaged(write_config):
    # exp(-720 + 30 z) is 0 in ~20% of the trials, so small that G / it overflows in ~50%
    # more, and ordinary (if tiny) in the rest.
    cfg = small(write_config, revenue='A = { dist = "lognormal", mu = -720, sigma = 30 }')
    sc = engine.load_config(cfg)
    ds = engine.simulate(sc)
    v = engine.trace(sc, 0, 4096, seed=3)["spend_to_revenue"].values
    bad = int((~np.isfinite(v)).sum())
    assert 0 < bad < 4096 and int(ds["spend_to_revenue_nonfinite"]) == bad
    assert math.isfinite(float(ds["spend_to_revenue_max"]))
    assert "+inf where AI revenue is 0" in ds.attrs["notes"]
    _check_explained(ds)


def test_lognormal_tail_overflowing_float64_is_refused_at_load(capsys, write_config):
    cfg = small(write_config, gpu='{ dist = "lognormal", mu = 0, sigma = 100 }')
    code, out, err = quote(capsys, cfg)
    assert code == 2 and out == ""
    assert "inputs.gpu_spend: must lie in [0, inf)" in err
    assert "its tail overflows float64's largest number" in err


def test_overflow_in_the_model_is_counted_and_explained(capsys, write_config):
    # Every draw is finite, but G (1 + k) overflows with k = 1e300 when G > 1.8e8.
    cfg = small(write_config, gpu='{ dist = "lognormal", mu = 0, sigma = 80 }',
                energy="1e300")
    sc = engine.load_config(cfg)
    ds = engine.simulate(sc)
    tr = engine.trace(sc, 0, 4096, seed=3)
    for name in OUTPUTS:
        assert int(ds[f"{name}_nonfinite"]) == int((~np.isfinite(tr[name].values)).sum())
    bad = int(ds["capex_nonfinite"])
    assert 500 < bad < 3500
    assert f"capex is not finite in {bad:,} of 4,096 trials (float64 overflow" in ds.attrs["notes"]
    assert "p_cover: float64 overflows make the required annual revenue in" in ds.attrs["notes"]
    assert ds["p_cover"].attrs["note"]
    obj = _check_explained(ds)
    assert obj["outputs"]["capex"]["nonfinite_trials"] == bad
    code, out, _ = quote(capsys, cfg)
    assert code == 0 and "nan" not in out.replace("NaN", "")
    assert "note: capex is not finite in" in out


def test_moments_overflowing_are_explained(write_config):
    # Values around 1e130 to 1e220: finite, but their squares overflow float64.
    cfg = small(write_config, gpu='{ dist = "lognormal", mu = 400, sigma = 30 }')
    ds = engine.simulate(engine.load_config(cfg))
    assert int(ds["capex_nonfinite"]) == 0
    assert not math.isfinite(float(ds["capex_std"]))
    assert "the std of capex overflows float64" in ds["capex_std"].attrs["note"]
    _check_explained(ds)


def test_values_beyond_the_sketch_are_counted(capsys, write_config):
    cfg = small(write_config, gpu='{ dist = "lognormal", ci90 = [1e11, 1e14] }')
    sc = engine.load_config(cfg)
    ds = engine.simulate(sc)
    tr = engine.trace(sc, 0, 4096, seed=3)
    for name in OUTPUTS:
        v = tr[name].values
        assert int(ds[f"{name}_beyond_sketch"]) == int((abs(v) >= 2.0**SK_EMAX).sum()), name
    beyond = int(ds["capex_beyond_sketch"])
    assert 0 < beyond < 4096
    q = ds["capex_quantile"]
    exact = np.quantile(tr["capex"].values, q["quantile"].values)
    inside = exact < 2.0**SK_EMAX * 0.99
    assert np.isfinite(q.values[inside]).all()
    np.testing.assert_allclose(q.values[inside], exact[inside], rtol=1e-3)
    assert np.isnan(q.values[~inside]).all() and (~inside).any()
    obj = _check_explained(ds)
    assert obj["outputs"]["capex"]["beyond_sketch_trials"] == beyond
    code, out, _ = quote(capsys, cfg)
    assert f"note: capex is beyond the quantile sketch's range (|value| >= 2**44 = 1.76e+13) " \
           f"in {beyond:,} trials; its quantiles at " in out


def test_a_fixed_value_beyond_the_sketch_is_still_exact(write_config):
    ds = engine.simulate(engine.load_config(small(write_config, gpu="1e14")))
    assert int(ds["capex_beyond_sketch"]) == 4096
    assert (ds["capex_quantile"].values == 2e14).all()  # all equal: exact, nothing to explain
    assert "capex" not in ds.attrs["notes"]


@pytest.mark.parametrize("spec, key, rule", [
    ('{ dist = "uniform", min = -1e308, max = 1e308 }', "inputs.gpu_spend",
     "parameters overflow float64"),
    ('{ dist = "beta", mean = 0.5, sd = 1e-300 }', "inputs.gpu_spend",
     "shape parameters must lie in"),
    ('{ dist = "lognormal", mean = 1e-308, sd = 1e308 }', "inputs.gpu_spend",
     "parameters overflow float64"),
])
def test_parameters_that_overflow_are_refused(capsys, write_config, spec, key, rule):
    code, out, err = quote(capsys, small(write_config, gpu=spec))
    assert code == 2 and f"{key}: " in err and rule in err, err


def test_too_many_trials_refused(capsys, write_config):
    code, _, err = quote(capsys, write_config(small_text().replace(
        "trials = 4096", "trials = 18446744073709551616")))
    assert code == 2 and "scenario.trials: must be at most 2**53 (9,007,199,254,740,992)" in err
    with pytest.raises(SystemExit) as exc:
        main(["quote", "--trials", "1e30"])
    assert exc.value.code == 2 and "must be at most 2**53" in capsys.readouterr().err


def test_toml_errors_show_the_offending_line(capsys, write_config):
    cfg = small(write_config, margin="0.5\nmargin = 0.6")
    code, _, err = quote(capsys, cfg)
    assert code == 2 and "Cannot overwrite a value" in err
    assert re.search(r"line \d+ reads 'margin = 0.6'", err), err


def test_odd_key_names_are_shown_quoted(capsys, write_config):
    code, _, err = quote(capsys, small(write_config, revenue='"A" = 1\n"" = 2'))
    assert code == 2 and 'revenue."": company name is empty' in err
    code, _, err = quote(capsys, write_config(small_text() + '\n["\\t"]\nx = 1\n'))
    assert code == 2 and '"\\t": unknown table' in err
