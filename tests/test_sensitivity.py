"""Global sensitivity (Sobol' indices by pick-freeze): known answers, SALib, bit-identity, CLI.

- The Ishigami function (a = 7, b = 0.1, inputs uniform on [-pi, pi]) as a toy model through
  the model interface: its indices are known in closed form.
- A sum of independent lognormal companies with every cost input fixed: for ``ai_revenue``,
  S1 = ST = Var(R_i) / sum_j Var(R_j).
- SALib's ``sobol.analyze`` on the same model values (traced one trial at a time through the
  scalar path) gives the same point estimates to 1e-10.
- 1 vs 2 threads and two chunk sizes give identical Datasets; the CLI's errors exit 2.

Every stochastic check allows K standard errors (SE = the reported 95% half-width / its t
quantile) and, as asked of the intervals, the truth must also lie inside the reported 95%
interval for these fixed seeds.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr
from numba import njit
from scipy import stats

import distributions
import engine
from engine import models
from engine.analyses.sensitivity import intervals, sensitivity, trace_samples
from engine.cli import main
from engine.core.layout import Layout
from engine.core.scenario import Input, Scenario
from engine.models import Model

#: Tolerance of every stochastic check, in standard errors.
K = 4.0
#: Base samples of the runs here: 16 blocks, the fewest that give an interval.
N = 1 << 16

A_ISH, B_ISH = 7.0, 0.1


@njit(error_model="numpy", nogil=True)
def _ishigami_block(xs, sp, p, m, margs, work, outs, cover):
    x1, x2, x3 = xs[sp[0], 0], xs[sp[1], 1], xs[sp[2], 2]
    for i in range(m):
        s1 = math.sin(x1[i])
        s2 = math.sin(x2[i])
        x3sq = x3[i] * x3[i]
        y = s1 + A_ISH * s2 * s2 + B_ISH * x3sq * x3sq * s1
        outs[0, i] = y
        cover[0, i] = y <= 0.0


def _ishigami_reference(scenario, x):
    y = (np.sin(x["x1"]) + A_ISH * np.sin(x["x2"]) ** 2
         + B_ISH * x["x3"] ** 4 * np.sin(x["x1"]))
    return {"gap": y, "covers": y <= 0.0}


ISHIGAMI = Model(
    name="ishigami", block=_ishigami_block,
    layout=lambda scenario: Layout(outputs=("gap",), output_attrs={
        "gap": {"units": "1", "long_name": "the Ishigami function"}}),
    pack=lambda scenarios, names: (0,), reference=_ishigami_reference)


def _ishigami_truth() -> tuple[np.ndarray, np.ndarray]:
    a, b, pi = A_ISH, B_ISH, math.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v


def _uniform():
    return distributions.parse("inputs.x", {"dist": "uniform", "min": -math.pi,
                                            "max": math.pi})


@pytest.fixture(scope="module")
def ishigami():
    models.register(ISHIGAMI)
    sc = Scenario(name="Ishigami", description="a = 7, b = 0.1", trials=N, seed=11,
                  depreciation="straight-line", inputs=tuple(Input(f"x{i}", _uniform())
                                                             for i in (1, 2, 3)),
                  revenue=(), model="ishigami", text="# ishigami\n")
    yield sc, sensitivity(sc, base_samples=N, outputs=["gap"], threads=2)
    models.unregister("ishigami")


def _se(ds: xr.Dataset, key: str) -> np.ndarray:
    """The standard error behind a reported 95% interval (half-width / t(0.975, blocks - 1))."""
    ci = ds[f"{key}_ci95"].values
    return 0.5 * (ci[..., 1] - ci[..., 0]) / stats.t.ppf(0.975, int(ds.attrs["blocks"]) - 1)


def _check_truth(ds: xr.Dataset, key: str, truth: np.ndarray) -> None:
    est = ds[key].values
    ci = ds[f"{key}_ci95"].values
    assert np.all(np.abs(est - truth) <= K * _se(ds, key)), (key, est, truth)
    assert np.all((ci[..., 0] <= truth) & (truth <= ci[..., 1])), (key, ci, truth)


def test_ishigami_indices_match_the_closed_form(ishigami):
    _, ds = ishigami
    s1, st = _ishigami_truth()
    np.testing.assert_allclose(s1, [0.3139, 0.4424, 0.0], atol=1e-4)
    np.testing.assert_allclose(st, [0.5576, 0.4424, 0.2437], atol=1e-4)
    one = ds.sel(output="gap")
    _check_truth(one, "S1", s1)
    _check_truth(one, "ST", st)
    assert int(ds.attrs["evaluations"]) == N * 5
    assert list(ds["input"].values) == ["x1", "x2", "x3"]


def test_salib_gives_the_same_indices_from_the_same_samples(ishigami):
    from SALib.analyze import sobol as salib_sobol

    sc, ds = ishigami
    tr = trace_samples(sc, 0, N, outputs=["gap"])
    (xa, fa), (xb, fb) = tr["A"], tr["B"]
    # A_B^i is A with column i from B, and its rows are what the run evaluated
    for i, (xab, _) in enumerate(tr["AB"]):
        expect = xa.copy()
        expect[:, i] = xb[:, i]
        np.testing.assert_array_equal(xab, expect)
    k = len(tr["AB"])
    y = np.empty((N, k + 2))  # SALib's layout without second order: A, A_B^1..k, B
    y[:, 0], y[:, -1] = fa[:, 0], fb[:, 0]
    for i, (_, fab) in enumerate(tr["AB"]):
        y[:, 1 + i] = fab[:, 0]
    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-math.pi, math.pi]] * 3}
    res = salib_sobol.analyze(problem, y.ravel(), calc_second_order=False, num_resamples=10,
                              seed=1)
    one = ds.sel(output="gap")
    np.testing.assert_allclose(one["S1"].values, res["S1"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(one["ST"].values, res["ST"], rtol=0, atol=1e-10)


def test_interval_needs_two_blocks():
    est = {"S1": np.zeros((1, 2)), "ST": np.zeros((1, 2))}
    h1, ht, nb = intervals(est, np.zeros((1, 1, 11)), 2)
    assert nb == 1 and np.isnan(h1).all() and np.isnan(ht).all()


SIGMAS = {"Big": 0.6, "Mid": 0.4, "Small": 0.3, "Tiny": 0.2}
MUS = {"Big": 2.0, "Mid": 2.2, "Small": 1.5, "Tiny": 1.0}

LOGNORMAL_SUM = """\
[scenario]
name = "lognormal sum"
trials = 32768
seed = 5

[inputs]
gpu_spend = 100
energy_ratio = 1.0
margin = 0.5
useful_life = 4
cost_of_capital = 0.08

[revenue]
""" + "".join(f'{c} = {{ dist = "lognormal", mu = {MUS[c]}, sigma = {SIGMAS[c]} }}\n'
              for c in SIGMAS)


@pytest.fixture(scope="module")
def lognormal_sum(tmp_path_factory):
    path = tmp_path_factory.mktemp("sens") / "lognormal-sum.toml"
    path.write_text(LOGNORMAL_SUM)
    return engine.load_config(str(path)), str(path)


def _var(c: str) -> float:
    s2 = SIGMAS[c] ** 2
    return math.expm1(s2) * math.exp(2 * MUS[c] + s2)


def test_lognormal_sum_indices_are_variance_shares(lognormal_sum):
    sc, _ = lognormal_sum
    ds = sensitivity(sc, base_samples=N, outputs=["ai_revenue"], threads=2)
    assert list(ds["input"].values) == [f"revenue.{c}" for c in SIGMAS]  # fixed inputs: none
    total = sum(_var(c) for c in SIGMAS)
    truth = np.array([_var(c) / total for c in SIGMAS])
    one = ds.sel(output="ai_revenue")
    _check_truth(one, "S1", truth)
    _check_truth(one, "ST", truth)
    # a group is one factor: its share is the sum of its members'
    grouped = sensitivity(sc, base_samples=N, outputs=["ai_revenue"], threads=2,
                          groups=["pair=Big,Mid"])
    assert list(grouped["input"].values) == ["pair", "revenue.Small", "revenue.Tiny"]
    gtruth = np.array([truth[0] + truth[1], truth[2], truth[3]])
    _check_truth(grouped.sel(output="ai_revenue"), "ST", gtruth)
    assert int(grouped.attrs["evaluations"]) == N * 5


def test_bit_identical_for_any_thread_count_and_chunk_size(lognormal_sum):
    sc, _ = lognormal_sum
    run = {"base_samples": N, "outputs": ["ai_revenue", "covers"]}
    ref = sensitivity(sc, threads=1, **run)
    runs = [sensitivity(sc, threads=2, **run),
            sensitivity(sc, threads=2, chunk_size=4096, **run),
            sensitivity(sc, threads=1, chunk_size=8 * 4096, **run)]
    drop = ("elapsed_s", "compile_s", "threads")
    for ds in runs:
        xr.testing.assert_identical(_strip(ds, drop), _strip(ref, drop))


def _strip(ds: xr.Dataset, keys) -> xr.Dataset:
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if k not in keys}
    return out


def test_cli_json_netcdf_plot_and_errors(lognormal_sum, tmp_path, capsys):
    _, path = lognormal_sum
    out = tmp_path / "s.nc"
    assert main(["sensitivity", path, "--base-samples", str(N), "--groups", "revenue",
                 "--json", "--out", str(out), "--quiet"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["base_samples"] == N and got["evaluations"] == N * 3
    cell = got["indices"]["ai_revenue"]["revenue"]
    assert set(cell) == {"S1", "S1_ci95", "ST", "ST_ci95"}
    assert cell["ST"] == pytest.approx(1.0, abs=0.05)  # one factor: the whole variance
    assert set(got["indices"]) == {"covers", "gap", "required_annual_revenue", "ai_revenue"}
    ds = engine.open_result(str(out))
    assert ds["S1"].dims == ("output", "input")
    # the picture through `capexgap plot`
    assert main(["plot", str(out), "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    capsys.readouterr()
    # errors: exit 2, one message, nothing run
    assert main(["sensitivity", path, "--groups", "Nvidia", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--groups" in err and "Nvidia" in err and "Valid names" in err
    assert main(["sensitivity", "--quiet"]) == 2  # the bundled default correlates inputs
    assert "--independent" in capsys.readouterr().err
    assert main(["sensitivity", path, "--base-samples", "1000", "--quiet"]) == 2
    assert "at least" in capsys.readouterr().err
    assert main(["sensitivity", path, "--groups", "x=Big,revenue", "--groups", "Big",
                 "--quiet"]) == 2
    assert "two groups" in capsys.readouterr().err


def test_precision_run_equals_the_fixed_run_of_its_samples(lognormal_sum):
    sc, _ = lognormal_sum
    target = 0.01
    ds = sensitivity(sc, precision=target, outputs=["ai_revenue"], threads=2)
    n = int(ds.attrs["base_samples"])
    assert int(ds.attrs["precision_met"]) == 1 and n % 4096 == 0
    half = [0.5 * (ds[f"{k}_ci95"].values[..., 1] - ds[f"{k}_ci95"].values[..., 0])
            for k in ("S1", "ST")]
    assert max(float(np.max(h)) for h in half) <= target
    fixed = sensitivity(sc, base_samples=n, outputs=["ai_revenue"], threads=1)
    for key in ("S1", "ST", "S1_ci95", "ST_ci95"):
        xr.testing.assert_identical(ds[key], fixed[key])
