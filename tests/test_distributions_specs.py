"""Tests for the ``distributions`` package: the specs a config gives and what they make.

Parameterisations round trip (quantile pairs, mean/sd, natural parameters), a Distribution's
value semantics, every error path by its message with its key path, and ``replace`` (sweeps).
The quantile functions, the kernel path and goodness of fit are in test_distributions.py.
"""

from __future__ import annotations

import math
import pickle
import re

import numpy as np
import pytest

from distributions import DistributionError, parse

# ----------------------------------------------------------------------------------------------
# Parameterisations round-trip
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec,levels,values", [
    ({"dist": "lognormal", "ci90": [100, 200]}, (0.05, 0.95), (100, 200)),
    ({"dist": "lognormal", "ci95": [5, 20]}, (0.025, 0.975), (5, 20)),
    ({"dist": "lognormal", "p5": 5, "p95": 20}, (0.05, 0.95), (5, 20)),
    ({"dist": "lognormal", "p10": 5, "p90": 20}, (0.10, 0.90), (5, 20)),
    ({"dist": "lognormal", "p2.5": 5, "p97.5": 20}, (0.025, 0.975), (5, 20)),
    ({"dist": "normal", "ci90": [-1, 3]}, (0.05, 0.95), (-1, 3)),
    ({"dist": "normal", "p90": 3, "p05": -1}, (0.05, 0.90), (-1, 3)),
    ({"dist": "uniform", "ci90": [0.4, 0.6]}, (0.05, 0.95), (0.4, 0.6)),
    ({"dist": "uniform", "p25": 1, "p75": 2}, (0.25, 0.75), (1, 2)),
    ({"dist": "uniform", "ci50": [1, 2]}, (0.25, 0.75), (1, 2)),
])
def test_quantile_pair_round_trip(spec, levels, values):
    d = parse("inputs.x", spec)
    got = d.scipy().ppf(levels)
    assert np.allclose(got, values, rtol=1e-12, atol=0), (spec, got)
    assert [d.quantile(q) for q in levels] == pytest.approx(values, rel=1e-12)


@pytest.mark.parametrize("spec,levels,values", [
    ({"dist": "beta", "ci90": [0.2, 0.6]}, (0.05, 0.95), (0.2, 0.6)),
    ({"dist": "beta", "p10": 0.1, "p90": 0.5}, (0.10, 0.90), (0.1, 0.5)),
    ({"dist": "beta", "ci80": [3, 7], "min": 2, "max": 10}, (0.1, 0.9), (3, 7)),
])
def test_beta_quantile_fit_round_trip(spec, levels, values):
    d = parse("inputs.x", spec)
    assert np.allclose(d.scipy().ppf(levels), values, rtol=1e-9, atol=0)
    # and the tabulated kernel agrees
    assert np.allclose(d.ppf(np.array(levels)), values, rtol=1e-9, atol=0)


@pytest.mark.parametrize("spec,mean,sd", [
    ({"dist": "lognormal", "mean": 150, "sd": 40}, 150, 40),
    ({"dist": "uniform", "mean": 0.5, "sd": 0.1}, 0.5, 0.1),
    ({"dist": "normal", "mean": -3, "sd": 0.5}, -3, 0.5),
    ({"dist": "beta", "mean": 0.3, "sd": 0.1}, 0.3, 0.1),
    ({"dist": "beta", "mean": 1.2, "sd": 0.3, "min": 0.5, "max": 2.5}, 1.2, 0.3),
])
def test_mean_sd_round_trip(spec, mean, sd):
    d = parse("inputs.x", spec)
    f = d.scipy()
    assert abs(f.mean() - mean) <= 1e-12 * abs(mean)
    assert abs(f.std() - sd) <= 1e-12 * sd
    assert abs(d.mean() - mean) <= 1e-12 * abs(mean)


def test_natural_parameters():
    assert parse("a", 3).params == (("value", 3.0),)
    assert parse("a", {"dist": "lognormal", "mu": 1, "sigma": 2}).params == (
        ("mu", 1.0), ("sigma", 2.0))
    t = parse("a", {"dist": "truncnormal", "mean": 0, "sd": 1, "min": 0})
    assert t.params == (("mean", 0.0), ("sd", 1.0), ("min", 0.0), ("max", math.inf))
    assert t.support() == (0.0, math.inf)
    p = parse("a", {"dist": "pert", "min": 0, "mode": 1, "max": 4})
    assert p.params[-1] == ("lambda", 4.0)
    # PERT is Beta(1 + 4 (mode - min)/(max - min), 1 + 4 (max - mode)/(max - min)) on [min, max]
    assert p.mean() == pytest.approx((0 + 4 * 1 + 4) / 6, rel=1e-12)
    assert p.scipy().args == (2.0, 4.0)
    tri = parse("a", {"dist": "triangular", "min": 0.6, "mode": 1.0, "max": 1.6})
    assert tri.scipy().cdf(1.0) == pytest.approx(0.4, rel=1e-12)
    b = parse("a", {"dist": "beta", "alpha": 2, "beta": 3, "min": 10, "max": 14})
    assert b.param("alpha") == 2.0 and b.support() == (10.0, 14.0)


def test_distribution_value_semantics():
    a = parse("inputs.x", {"dist": "lognormal", "ci90": [100, 200]})
    b = parse("inputs.x", {"dist": "lognormal", "ci90": [100, 200]})
    assert a == b and hash(a) == hash(b)
    assert a.ppf(0.5).shape == () and a.ppf(np.zeros((2, 3)) + 0.5).shape == (2, 3)
    spec = {"dist": "normal", "mean": 1, "sd": 2}
    d = parse("inputs.x", spec)
    spec["sd"] = -1  # the caller's dict is not shared
    assert d.replace("mean", 2).params == (("mean", 2.0), ("sd", 2.0))


# ----------------------------------------------------------------------------------------------
# Errors: every path, by message, with the key path
# ----------------------------------------------------------------------------------------------

K = "inputs.gpu_spend"
ERROR_CASES = [
    # (spec, expected key path, message fragment)
    ("150", K, "must be a number or a table with a 'dist' key, not a str"),
    (True, K, "not a boolean"),
    ([1, 2], K, "not a list"),
    (float("nan"), K, "must be finite"),
    (float("inf"), K, "must be finite"),
    ({"mu": 1, "sigma": 1}, K, "a distribution table needs a 'dist' key"),
    ({"dist": "lognorm", "mu": 1}, f"{K}.dist", "unknown distribution family.*"
     "Valid families: fixed, uniform, normal, lognormal.*did you mean 'lognormal'"),
    ({"dist": 3}, f"{K}.dist", "unknown distribution family"),
    ({"dist": "lognormal", "mu": 1, "sigam": 1}, f"{K}.sigam",
     "unknown parameter for a lognormal.*Valid keys for lognormal: mu, sigma, mean, sd, ciNN, "
     "pNN; did you mean 'sigma'"),
    ({"dist": "triangular", "ci90": [1, 2]}, f"{K}.ci90", "a triangular takes no quantile pair"),
    ({"dist": "fixed", "value": 1, "sd": 2}, f"{K}.sd", "unknown parameter for a fixed"),
    ({"dist": "lognormal", "ci90": [0, 200]}, f"{K}.ci90", "a lognormal's quantiles must be > 0"),
    ({"dist": "lognormal", "ci90": [-5, 200]}, f"{K}.ci90", "a lognormal's quantiles must be > 0"),
    ({"dist": "lognormal", "p5": -1, "p95": 2}, f"{K}.p95", "a lognormal's quantiles must be > 0"),
    ({"dist": "lognormal", "ci90": [300, 200]}, f"{K}.ci90",
     "the lower quantile must be < the upper quantile"),
    ({"dist": "normal", "p10": 1, "p90": 0}, f"{K}.p90", "lower quantile must be < the upper"),
    ({"dist": "lognormal", "ci90": [100]}, f"{K}.ci90", "must be a list of two numbers"),
    ({"dist": "lognormal", "ci90": "100-200"}, f"{K}.ci90", "must be a list of two numbers"),
    ({"dist": "lognormal", "ci90": [100, "x"]}, f"{K}.ci90[1]", "must be a number, not str"),
    ({"dist": "lognormal", "ci90": [100, float("nan")]}, f"{K}.ci90[1]", "must be finite"),
    ({"dist": "normal", "mean": "1", "sd": 1}, f"{K}.mean", "must be a number, not str"),
    ({"dist": "normal", "mean": 1, "sd": True}, f"{K}.sd", "must be a number, not a boolean"),
    ({"dist": "normal", "mean": 1, "sd": float("inf")}, f"{K}.sd", "must be finite"),
    ({"dist": "normal", "mean": float("nan"), "sd": 1}, f"{K}.mean", "must be finite"),
    ({"dist": "normal", "mean": 1, "sd": 0}, f"{K}.sd", "sd must be > 0"),
    ({"dist": "lognormal", "mu": 1, "sigma": -1}, f"{K}.sigma", "sigma must be > 0"),
    ({"dist": "lognormal", "mean": -1, "sd": 1}, f"{K}.mean", "a lognormal's mean must be > 0"),
    ({"dist": "lognormal", "mu": 1}, K, "a lognormal given by mu needs sigma as well"),
    ({"dist": "lognormal"}, K, r"a lognormal needs parameters.*Give one of: \{mu, sigma\}"),
    ({"dist": "lognormal", "mu": 1, "sigma": 1, "ci90": [1, 2]}, K,
     r"mixes two parameterisations of a lognormal: \{mu, sigma\} and \{ci90\}"),
    ({"dist": "uniform", "min": 2, "sd": 1}, K, "mixes two parameterisations of a uniform"),
    ({"dist": "normal", "ci90": [1, 2], "p10": 1}, K, "mixes two parameterisations"),
    ({"dist": "normal", "p10": 1}, K, "a quantile pair needs exactly two percentiles, 1 given"),
    ({"dist": "normal", "p10": 1, "p50": 2, "p90": 3}, K, "exactly two percentiles, 3 given"),
    ({"dist": "normal", "p10": 1, "p10.0": 2}, K, "the two percentiles name the same level"),
    ({"dist": "normal", "p0": 1, "p90": 2}, f"{K}.p0", "level strictly between 0 and 100"),
    ({"dist": "normal", "ci0": [1, 2]}, f"{K}.ci0", "level strictly between 0 and 100"),
    ({"dist": "normal", "ci90": [1, 2], "ci80": [1, 2]}, K, "give one central interval"),
    ({"dist": "normal", "p010": 1, "p90": 2}, f"{K}.p010", "unknown parameter for a normal"),
    ({"dist": "normal", "ci": [1, 2]}, f"{K}.ci", "unknown parameter for a normal"),
    ({"dist": "normal", "percentiles": 1}, f"{K}.percentiles", "unknown parameter"),
    ({1: 2, "dist": "normal"}, f"{K}.1", "unknown parameter for a normal"),
    ({"dist": "uniform", "min": 2, "max": 1}, f"{K}.max", "a uniform needs min < max"),
    ({"dist": "uniform", "min": 2, "max": 2}, f"{K}.max", "a uniform needs min < max"),
    ({"dist": "triangular", "min": 1, "mode": 0, "max": 2}, K,
     "a triangular needs min <= mode <= max and min < max"),
    ({"dist": "triangular", "min": 1, "mode": 1, "max": 1}, K, "min < max"),
    ({"dist": "triangular", "min": 1, "max": 2}, K, "given by min, max needs mode as well"),
    ({"dist": "pert", "min": 1, "mode": 3, "max": 2}, K, "a pert needs min <= mode <= max"),
    ({"dist": "pert", "min": 1, "mode": 1.5, "max": 2, "lambda": 0}, f"{K}.lambda",
     "lambda must be > 0"),
    ({"dist": "pert", "min": 0, "mode": 0.5, "max": 1, "lambda": 1e6}, f"{K}.lambda",
     r"shape parameters must lie in \[0.1, 10000\]"),
    ({"dist": "beta", "alpha": 0, "beta": 1}, f"{K}.alpha", "alpha must be > 0"),
    ({"dist": "beta", "alpha": 0.01, "beta": 1}, K, r"must lie in \[0.1, 10000\]"),
    ({"dist": "beta", "mean": 0.5, "sd": 0.6}, f"{K}.sd",
     r"a beta needs sd\^2 < \(mean - min\) \* \(max - mean\)"),
    ({"dist": "beta", "mean": 1.5, "sd": 0.1}, f"{K}.mean", "mean must lie strictly between"),
    ({"dist": "beta", "alpha": 2, "beta": 1, "min": 1, "max": 1}, f"{K}.max", "min < max"),
    ({"dist": "beta", "ci90": [0.1, 1.5]}, f"{K}.ci90", r"strictly inside \(min, max\)"),
    ({"dist": "truncnormal", "mean": 0, "sd": 1}, K, "at least one finite bound"),
    ({"dist": "truncnormal", "mean": 0, "sd": 1, "min": 2, "max": 1}, f"{K}.max", "min < max"),
    ({"dist": "truncnormal", "mean": 0, "sd": 1, "min": float("inf")}, f"{K}.min",
     r"min cannot be \+inf"),
    ({"dist": "truncnormal", "mean": 0, "sd": 1, "min": 40}, K,
     "the truncation interval holds almost no probability"),
    ({"dist": "truncnormal", "min": 0}, K, "a truncnormal needs parameters"),
    ({"dist": "truncnormal", "mean": 0, "sd": 1, "min": 0, "ci90": [1, 2]}, f"{K}.ci90",
     "takes no quantile pair"),
]


@pytest.mark.parametrize("spec,path,fragment", ERROR_CASES, ids=[str(i) for i in
                                                                  range(len(ERROR_CASES))])
def test_error_messages(spec, path, fragment):
    with pytest.raises(DistributionError, match=f"^{re.escape(path)}: .*{fragment}") as info:
        parse(K, spec)
    e = info.value
    assert e.key == path
    assert str(e) == f"{e.key}: {e.rule} (got {e.value}). {e.fix}"
    assert "\n" not in str(e)
    assert isinstance(e, ValueError)


def test_error_is_picklable_and_readable():
    with pytest.raises(DistributionError) as info:
        parse("revenue.Microsoft", {"dist": "lognormal", "ci90": [0, 20]})
    e = info.value
    assert str(e) == ("revenue.Microsoft.ci90: a lognormal's quantiles must be > 0 (got 0.0, "
                      "20.0). Give positive bounds, or use a normal for a quantity that can be "
                      "zero or negative.")
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.key, e2.rule, e2.value, e2.fix) == (e.key, e.rule, e.value, e.fix)
    assert str(e2) == str(e)


# ----------------------------------------------------------------------------------------------
# replace (sweeps)
# ----------------------------------------------------------------------------------------------


def test_replace_lognormal_ci90():
    d = parse(K, {"dist": "lognormal", "ci90": [100, 200]})
    r = d.replace("ci90", [120, 240])
    assert r.scipy().ppf([0.05, 0.95]) == pytest.approx([120, 240], rel=1e-12)
    assert r.key == K and r.spec == {"dist": "lognormal", "ci90": [120, 240]}
    assert d.spec == {"dist": "lognormal", "ci90": [100, 200]}  # original untouched


def test_replace_uniform_min_and_triangular_mode():
    u = parse(K, {"dist": "uniform", "min": 0.35, "max": 0.65}).replace("min", 0.4)
    assert u.params == (("min", 0.4), ("max", 0.65))
    t = parse(K, {"dist": "triangular", "min": 0.6, "mode": 1.0, "max": 1.6}).replace("mode", 1.2)
    assert t.param("mode") == 1.2


def test_replace_switches_parameterisation():
    d = parse(K, {"dist": "lognormal", "mu": 5.0, "sigma": 0.2})
    r = d.replace("ci90", [100, 200])  # mu/sigma dropped
    assert r.spec == {"dist": "lognormal", "ci90": [100, 200]}
    assert r.scipy().ppf(0.95) == pytest.approx(200, rel=1e-12)
    # one key of a two-key parameterisation: the other is missing, and the error says so
    with pytest.raises(DistributionError, match=r"^inputs\.gpu_spend: .*given by mean needs sd"):
        d.replace("mean", 150)
    # a percentile pair replaced by a central interval, and one percentile updated in place
    p = parse(K, {"dist": "normal", "p10": 1, "p90": 3})
    assert p.replace("ci90", [0, 4]).spec == {"dist": "normal", "ci90": [0, 4]}
    assert p.replace("p90", 5).quantile(0.9) == pytest.approx(5, rel=1e-12)
    # optional keys (beta min/max) survive, in place and across a switch
    b = parse(K, {"dist": "beta", "alpha": 2, "beta": 3, "min": 1, "max": 2})
    assert b.replace("max", 3).support() == (1.0, 3.0)
    assert b.replace("ci90", [1.2, 1.8]).support() == (1.0, 2.0)
    m = parse(K, {"dist": "beta", "mean": 1.4, "sd": 0.1, "min": 1, "max": 2}).replace("mean", 1.5)
    assert m.support() == (1.0, 2.0) and m.mean() == pytest.approx(1.5, rel=1e-12)
    assert m.scipy().std() == pytest.approx(0.1, rel=1e-12)
    # pert lambda is optional: setting it keeps min/mode/max
    assert parse(K, {"dist": "pert", "min": 0, "mode": 1, "max": 4}).replace(
        "lambda", 2).param("lambda") == 2.0


def test_replace_fixed_and_errors():
    f = parse(K, 150)
    assert f.replace("value", 50).params == (("value", 50.0),)
    with pytest.raises(DistributionError, match=r"^inputs\.gpu_spend\.mean: .*only 'value'"):
        f.replace("mean", 1)
    d = parse(K, {"dist": "uniform", "min": 0, "max": 1})
    with pytest.raises(DistributionError, match=r"^inputs\.gpu_spend\.max: a uniform needs min"):
        d.replace("min", 2)
    with pytest.raises(DistributionError, match=r"^inputs\.gpu_spend\.mde: unknown parameter"):
        d.replace("mde", 2)
    # changing the family re-validates the remaining keys against the new family
    with pytest.raises(DistributionError, match=r"^inputs\.gpu_spend\.min: unknown parameter for a "
                       "normal"):
        d.replace("dist", "normal")
