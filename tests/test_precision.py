"""Precision targets and importance sampling (engine.analyses.precision,
engine.analyses.importance).

Closed-form oracle (helpers.ORACLE, as in test_engine.py): lognormal G and R, fixed ratios
k = 1, m = 0.5, so P(cover) = Phi((mu_R - mu_G - ln 4) / sqrt(sG^2 + sR^2)); choosing mu_R puts
P at Phi(-beta).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats
import xarray as xr

import engine
from engine.cli import main
from engine.core.reduce import BLOCK
from engine.models import make_plan
from engine.analyses.importance import IsEstimate, importance_plan
from engine.analyses.precision import quote
from engine.core.driver import run_plan
from helpers import oracle_text

S_G, S_R = 0.3, 0.6


def oracle_at(beta: float, seed: int = 1) -> str:
    """The oracle scenario's text with P(cover) = Phi(-beta)."""
    mu_g = math.log(150)
    mu_r = mu_g + math.log(4) - beta * math.hypot(S_G, S_R)
    return oracle_text(seed=seed, mu_g=mu_g, s_g=S_G, mu_r=mu_r, s_r=S_R)


def oracle(beta: float, seed: int = 1) -> tuple[engine.Scenario, float]:
    """The oracle scenario with P(cover) = Phi(-beta), and that probability."""
    sc = engine.loads(oracle_at(beta, seed), source="oracle.toml")
    return sc, float(scipy.stats.norm.sf(beta))


def strip(ds):
    return engine.strip_run_attrs(ds)


def test_rare_event_closed_form():
    sc, exact = oracle(6.0)
    assert 9e-10 < exact < 1.1e-9
    n = 8 * BLOCK  # 32,768: a modest trial count
    ds = quote(sc, trials=n)  # method auto: plain MC sees nothing, so importance sampling
    assert ds.attrs["method"] == "importance" and int(ds["mc_hits"]) == 0
    assert "fewer than 100" in ds.attrs["method_choice"]
    p, se = float(ds["p_cover"]), float(ds["p_cover_se"])
    k = 3  # standard errors
    assert abs(p - exact) < k * se, (p, exact, se)
    assert se < 0.05 * exact  # the bound above is meaningful: 3 SE < 15% of p
    assert abs(p - exact) / exact <= 0.10
    assert float(ds["p_cover_rel_error"]) <= 0.10  # 1.96 SE / p
    lo, hi = ds["p_cover_ci95"].values
    assert lo <= p <= hi and math.isclose(hi - p, 1.959963984540054 * se, rel_tol=1e-12)
    assert int(ds.attrs["trials"]) == n and int(ds.attrs["mc_trials"]) == n
    assert float(ds["effective_sample_size"]) > 1000
    print(f"\n1e-9 oracle: IS {p:.5g} +- {se:.3g} (SE), exact {exact:.5g}, {n:,} trials, "
          f"ESS {float(ds['effective_sample_size']):,.0f}")


def test_precision_target_met_with_exact_value_inside():
    sc, exact = oracle(0.5244)  # P ~ 0.3
    assert 0.29 < exact < 0.31
    ds = quote(sc, precision=0.01)
    assert ds.attrs["method"] == "mc" and int(ds.attrs["precision_met"]) == 1
    n = int(ds.attrs["trials"])
    assert n % BLOCK == 0 and n < 4 * 90_000  # ~90k needed; the waves do not overshoot much
    p = float(ds["p_cover"])
    lo, hi = ds["p_cover_ci95"].values
    assert max(hi - p, p - lo) <= 0.01 * p
    assert engine.summary(ds)["p_cover_rel_error"] <= 0.01
    assert lo <= exact <= hi, (lo, exact, hi)


def test_stopped_run_equals_fixed_run():
    sc, _ = oracle(0.5244, seed=7)
    stopped = quote(sc, precision=0.02)
    n = int(stopped.attrs["trials"])
    assert n % BLOCK == 0 and stopped.attrs["precision_stop"].startswith("met after")
    fixed = quote(sc, trials=n, method="mc")
    xr.testing.assert_identical(strip(stopped), strip(fixed))
    # ... and the plain engine.simulate of those trials has the same figures
    # ... and a plain result is exactly engine.simulate's
    xr.testing.assert_identical(strip(engine.simulate(sc, trials=n)), strip(fixed))
    assert fixed.attrs["method"] == "mc"


def test_stopped_importance_run_equals_fixed_run():
    sc, _ = oracle(5.0, seed=3)
    stopped = quote(sc, precision=0.05, method="importance", pilot_trials=BLOCK)
    n = int(stopped.attrs["trials"])
    assert n % BLOCK == 0 and int(stopped.attrs["precision_met"]) == 1
    fixed = quote(sc, trials=n, method="importance", pilot_trials=BLOCK)
    xr.testing.assert_identical(strip(stopped), strip(fixed))


def test_likelihood_ratio_with_an_arbitrary_shift():
    # Any shift gives an unbiased estimate; with a moderate one (|mu| ~ 1.1) the weights
    # w = exp(-mu.z + |mu|^2/2) have variance e^|mu|^2 - 1 ~ 2.3, small enough for the sample
    # mean of w and its standard error to be trustworthy, so E[w] = 1 is a real check.
    sc, exact = oracle(0.5244)
    plan = make_plan(sc)
    shift = np.zeros(len(plan.names))
    shift[plan.names.index("gpu_spend")] = 0.6
    shift[plan.names.index("revenue.All")] = -0.9
    tot = run_plan(importance_plan(plan, shift[None, :]), trials=32 * BLOCK, seed=5, purpose=2)
    est = IsEstimate.from_moments(tot.moments[0])
    k = 4  # standard errors
    assert est.weight_mean_se < 0.02  # the bound is meaningful
    assert abs(est.weight_mean - 1.0) < k * est.weight_mean_se, (est.weight_mean,
                                                                 est.weight_mean_se)
    assert abs(est.p - exact) < k * est.se, (est.p, exact, est.se)


def test_importance_bit_identical_across_threads_and_chunks():
    sc = engine.load_config(None)  # the default scenario: lognormal, PERT, triangular inputs
    n = 5 * BLOCK + 123  # a partial final block
    runs = [quote(sc, trials=n, method="importance", threads=t, chunk_size=c)
            for t, c in ((1, BLOCK), (2, BLOCK), (2, 16 * BLOCK))]
    for other in runs[1:]:
        xr.testing.assert_identical(strip(runs[0]), strip(other))
    assert runs[0].attrs["method"] == "importance"


def test_importance_agrees_with_plain_monte_carlo_on_the_full_model():
    # No closed form: the default scenario (annuity, PERT margin, triangular life and rate,
    # 15 lognormal revenues). P ~ 0.16%: plain MC sees thousands of hits in 2**22 trials.
    sc = engine.load_config(None)
    mc = quote(sc, trials=1024 * BLOCK, method="mc")
    imp = quote(sc, trials=32 * BLOCK, method="importance", pilot_trials=BLOCK)
    mc_se = engine.summary(mc)["p_cover_se"]
    diff = float(imp["p_cover"]) - float(mc["p_cover"])
    se = math.hypot(float(imp["p_cover_se"]), mc_se)
    k = 4  # standard errors of the difference
    assert se < 0.05 * float(mc["p_cover"])  # meaningful
    assert abs(diff) < k * se, (float(imp["p_cover"]), float(mc["p_cover"]), se)
    # importance sampling is the better estimator here: smaller SE from 32x fewer trials
    assert float(imp["p_cover_se"]) < mc_se


def test_no_covering_point_keeps_the_plain_result():
    sc, _ = oracle(60.0)  # P ~ 1e-785: nothing within |z| <= 15 covers
    ds = quote(sc, trials=BLOCK, method="importance")
    assert ds.attrs["method"] == "mc" and float(ds["p_cover"]) == 0.0
    assert "importance sampling gives no estimate here" in ds.attrs["notes"]


def test_importance_on_generated_extreme_configs(fuzz_stats):
    # The kernel fuzzer's valid-but-extreme configs (tests/test_fuzz.py), forced through
    # importance sampling: an answer every time, strict JSON, an interval around p, and
    # "impossible" only when it is (no input random, or no covering point in the box).
    from hypothesis import given
    from test_fuzz import TRIALS, counting, format_quote, fuzz_settings, to_toml, valid_configs

    with counting(fuzz_stats, "importance sampling, generated extreme configs") as rec:
        @fuzz_settings(60)
        @given(valid_configs())
        def check(doc):
            try:
                sc = engine.loads(to_toml(doc), source="fuzz.toml")
            except engine.ConfigError:
                rec["refused (exit 2)"] += 1
                return
            ds = quote(sc, trials=TRIALS, method="importance", seed=doc["scenario"]["seed"])
            obj = engine.summary(ds)
            json.dumps(obj, allow_nan=False)
            body = [x for x in format_quote(ds, "fuzz.toml").splitlines()
                    if not x.startswith("note:")]
            assert not any("nan" in x.lower() for x in body), body
            lo, hi = obj["p_cover_ci95"]
            assert 0.0 <= lo <= obj["p_cover"] <= hi
            if ds.attrs["method"] == "importance":
                assert obj["effective_sample_size"] > 0 and int(ds["hits"]) > 0
                rec["importance"] += 1
            else:
                assert "importance sampling gives no estimate here" in ds.attrs["notes"]
                if "no covering point" in ds.attrs["method_choice"]:
                    assert int(ds["hits"]) == 0
                rec["plain (importance impossible)"] += 1

        check()


# ------------------------------------------------------------------------------- command line


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_cli_rare_event_json(capsys, configs):
    code, out, err = run(capsys, "quote", configs / "sequoia-600b-uncertain.toml",
                         "--precision", "0.1", "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["method"] == "importance" and obj["precision"]["met"] is True
    assert 0 < obj["p_cover"] < 1e-8 and obj["p_cover_rel_error"] <= 0.1
    assert obj["effective_sample_size"] >= 100
    assert obj["importance"]["mc_hits"] == 0 and obj["outputs_trials"] == 1_048_576
    assert obj["trials"] % BLOCK == 0


def test_cli_target_not_met_exits_4_with_the_result(capsys, tmp_path):
    sc_text = oracle_at(0.5244)
    path = tmp_path / "o.toml"
    path.write_text(sc_text)
    code, out, err = run(capsys, "quote", path, "--precision", "0.001", "--max-trials", 2 * BLOCK,
                         "--json")
    assert code == 4
    obj = json.loads(out)
    assert obj["precision"]["met"] is False and obj["trials"] == 2 * BLOCK
    assert obj["method"] == "mc" and obj["p_cover_rel_error"] > 0.001
    assert "precision target NOT met: the cap of 8,192 trials" in err


def test_cli_plain_json_has_error_fields(capsys, configs):
    code, out, _ = run(capsys, "quote", configs / "ai-capex-2024.toml", "--trials", 64 * BLOCK,
                       "--json", "--method", "mc")
    obj = json.loads(out)
    assert code == 0 and obj["method"] == "mc"
    assert obj["effective_sample_size"] == obj["hits"] and obj["mc_equivalent_trials"] == 64 * BLOCK
    lo, hi = obj["p_cover_ci95"]
    p = obj["p_cover"]
    assert obj["p_cover_rel_error"] == pytest.approx(max(hi - p, p - lo) / p, rel=1e-12)


def run_any(capsys, *argv):
    """main(), counting argparse's own usage errors (SystemExit) as their exit code."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize("argv, message", [
    (["--precision", "0"], "--precision: must be a number in (0, 1] (got 0.0)"),
    (["--precision", "1.5"], "--precision: must be a number in (0, 1] (got 1.5)"),
    (["--precision", "nan"], "argument --precision: must be a finite number, got 'nan'"),
    (["--precision", "abc"], "argument --precision: expected a number, got 'abc'"),
    (["--abs-precision", "0.7"], "--abs-precision: must be a number in (0, 0.5] (got 0.7)"),
    (["--precision", "0.01", "--trials", "1000"],
     "--trials: cannot be combined with --precision or --abs-precision"),
    (["--max-trials", "1000"], "--max-trials: only applies with --precision"),
    (["--precision", "0.01", "--max-trials", "0"], "argument --max-trials: must be >= 1"),
    (["--method", "fast"], "argument --method: invalid choice: 'fast'"),
])
def test_cli_errors(capsys, configs, argv, message):
    code, out, err = run_any(capsys, "quote", configs / "ai-capex-2024.toml", *argv)
    assert code == 2 and out == ""
    assert message in err, err


@pytest.mark.parametrize("argv, message", [
    (["--method", "importance"],
     "importance sampling supports models with one headline P(cover) only"),
    (["--precision", "0.1"], "precision targets support models with one headline P(cover) only"),
])
def test_cli_errors_vintage(capsys, configs, argv, message):
    code, out, err = run(capsys, "quote", configs / "vintage-2024-2032.toml", *argv)
    assert code == 2 and out == "" and message in err, err


# ------------------------------------------------------------------------------------ sweeps


def test_sweep_to_a_precision_equals_a_fixed_sweep():
    sc, _ = oracle(0.5244)
    grid = {"margin": [0.4, 0.5, 0.6]}
    ds = engine.sweep(sc, grid, abs_precision=0.005)
    n = int(ds.attrs["trials"])
    assert n % BLOCK == 0 and int(ds.attrs["precision_met"]) == 1
    p = ds["p_cover"].values
    lo, hi = ds["p_cover_ci95"].values[..., 0], ds["p_cover_ci95"].values[..., 1]
    assert (np.maximum(hi - p, p - lo) <= 0.005).all()
    fixed = engine.sweep(sc, grid, trials=n)
    xr.testing.assert_identical(strip(ds), strip(fixed))
    # one point per pass: the groups stop at different counts and are run again at the last
    grouped = engine.sweep(sc, grid, abs_precision=0.005, max_memory_mib=1)
    xr.testing.assert_identical(strip(ds), strip(grouped))


def test_cli_sweep_precision(capsys, tmp_path):
    sc_text = oracle_at(0.5244)
    path = tmp_path / "o.toml"
    path.write_text(sc_text + "[sweep]\nmargin = [0.5, 0.9]\n")
    code, out, err = run(capsys, "sweep", path, "--precision", "0.05", "--max-trials", 4 * BLOCK)
    assert code == 4, err  # margin 0.9: P(cover) ~ 2e-3, far from +-5% in 16,384 trials
    assert "NOT met at 1 of 2 points" in out and "+-rel" in out
    assert "precision target NOT met at 1 of 2 points" in err
    code, out, err = run_any(capsys, "sweep", path, "--precision", "0.05", "--trials", "1000")
    assert code == 2 and "--trials: cannot be combined with --precision" in err


def test_importance_result_round_trips_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    from engine.present.plot import plot_result

    sc, _ = oracle(6.0)
    ds = quote(sc, precision=0.2, method="importance", pilot_trials=4 * BLOCK)
    back = engine.open_result(engine.write_netcdf(ds, tmp_path / "r.nc"))
    xr.testing.assert_identical(ds, back)
    fig = plot_result(back)
    title = " ".join(ax.get_title(loc) for ax in fig.axes for loc in ("left", "center"))
    assert "importance sampling" in title


def test_cli_precision_without_random_inputs_is_exact(capsys, configs):
    code, out, _ = run(capsys, "quote", configs / "sequoia-600b-2024.toml", "--precision",
                         "0.01", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["precision"]["met"] is True and obj["p_cover"] == 0.0
    assert obj["trials"] == 4 * BLOCK and "met exactly" in obj["precision"]["stop"]
