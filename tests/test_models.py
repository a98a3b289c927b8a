"""The model interface: a small model added at run time goes through every analysis unchanged.

The toy model has three inputs and one output, ``gap = c - a * b``, and covers when
``gap <= 0`` (every model names ``gap`` the output whose distribution results keep whole and
pictures draw).
It is registered with :func:`engine.models.register` and run through a quote, a sweep, a
precision target, importance sampling and a picture with no other change to the engine.
Its P(cover) is known in closed form, so the estimates are checked against the truth, each
within K standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from numba import njit
from scipy import stats

import engine
from engine import models
from engine.analyses import reference
from engine.core.scenario import Input, Scenario
from engine.core.layout import Layout
from engine.core.runner import SUB
from engine.models import Model
from engine.models import one_year, vintage
import distributions

#: Tolerance of every stochastic check, in standard errors (two-sided ~1e-4 false alarms).
K = 4.0


@njit(error_model="numpy", nogil=True)
def _toy_block(xs, sp, p, m, margs, work, outs, cover):
    a = xs[sp[0], 0]
    b = xs[sp[1], 1]
    c = xs[sp[2], 2]
    for i in range(m):
        g = c[i] - a[i] * b[i]
        outs[0, i] = g
        cover[0, i] = g <= 0.0


def _toy_reference(scenario, x):
    g = x["c"] - x["a"] * x["b"]
    return {"gap": g, "covers": g <= 0.0}


TOY = Model(
    name="toy", block=_toy_block,
    layout=lambda scenario: Layout(outputs=("gap",), output_attrs={
        "gap": {"units": "1", "long_name": "c - a b"}}),
    pack=lambda scenarios, names: (0,), reference=_toy_reference,
    cover_margin=lambda outs, margs: -outs[:, 0])


def _dist(spec):
    return distributions.parse("inputs.x", spec)


@pytest.fixture
def toy():
    models.register(TOY)
    yield
    models.unregister("toy")


def toy_scenario(c_mean: float = 0.0) -> Scenario:
    """a ~ N(1, 1), b = 1 (fixed), c ~ N(c_mean, 1): a b - c ~ N(1 - c_mean, 2)."""
    inputs = (Input("a", _dist({"dist": "normal", "mean": 1.0, "sd": 1.0})),
              Input("b", _dist(1.0)),
              Input("c", _dist({"dist": "normal", "mean": c_mean, "sd": 1.0})))
    return Scenario(name="toy", description="a small model", trials=200_000, seed=7,
                    depreciation="straight-line", inputs=inputs, revenue=(), model="toy",
                    text="# toy\n")


def truth(c_mean: float) -> float:
    return float(stats.norm.sf(0.0, loc=1.0 - c_mean, scale=math.sqrt(2.0)))


def test_toy_quote_matches_the_truth_and_its_reference(toy):
    sc = toy_scenario()
    ds = engine.simulate(sc, trials=200_000, seed=7)
    p, n = float(ds.p_cover), int(ds.trials)
    se = math.sqrt(truth(0.0) * (1 - truth(0.0)) / n)
    assert abs(p - truth(0.0)) < K * se
    assert set(ds.data_vars) >= {"p_cover", "p_cover_ci95", "gap_mean", "gap_quantile"}
    # the trials themselves: the kernel's outputs equal the NumPy reference on the same uniforms
    tr = engine.trace(sc, 100, 5000, seed=7)
    x = reference.sample_inputs(sc, 100, 5000, seed=7, source="capexgap")
    ref = _toy_reference(sc, x)
    np.testing.assert_allclose(tr["gap"].values, ref["gap"], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(tr["covers"].values, ref["covers"])
    # the gap c - a ~ N(-1, 2): its mean within K SE
    assert abs(float(ds.gap_mean) + 1.0) < K * math.sqrt(2.0 / n)


def test_toy_threads_and_chunks_are_bit_identical(toy):
    sc = toy_scenario()
    n = 3 * 4096 * 16 + 77
    one = engine.simulate(sc, trials=n, seed=3, threads=1)
    two = engine.simulate(sc, trials=n, seed=3, threads=2, chunk_size=4096)
    xr.testing.assert_identical(engine.strip_run_attrs(one), engine.strip_run_attrs(two))


def test_toy_sweep(toy):
    sc = toy_scenario()
    ds = engine.sweep(sc, {"c": [0.0, 1.0, 2.0]}, trials=100_000, seed=2)
    assert ds.p_cover.dims == ("c",)
    for c, p in zip([0.0, 1.0, 2.0], ds.p_cover.values):
        t = float(stats.norm.sf(c, loc=1.0, scale=1.0))  # c pinned: P(a >= c), a ~ N(1, 1)
        assert abs(p - t) < K * math.sqrt(t * (1 - t) / 100_000), c


def test_toy_precision_target_and_importance_sampling(toy):
    sc = toy_scenario()
    ds = engine.quote(sc, precision=0.05, seed=1)  # +-5% relative at 95%
    assert ds.attrs["precision_met"] in (1, True, "yes", "true")
    assert abs(float(ds.p_cover) - truth(0.0)) < K * float(ds.p_cover) * 0.05 / 1.96
    rare = toy_scenario(c_mean=7.0)  # P = sf(0; -6, sqrt 2) ~ 1e-5
    ids = engine.quote(rare, method="importance", trials=200_000, seed=1)
    assert ids.attrs["method"] == "importance"
    p, se = float(ids.p_cover), float(ids.p_cover_se)
    assert abs(p - truth(7.0)) < K * se, (p, truth(7.0), se)


def test_toy_picture(toy, tmp_path):
    pytest.importorskip("matplotlib")
    from engine.present import plot

    ds = engine.simulate(toy_scenario(), trials=50_000, seed=1)
    fig = plot.plot_result(ds)
    out = plot.save_figure(fig, tmp_path / "toy.png")
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("model", [one_year.MODEL, vintage.MODEL, TOY], ids=lambda m: m.name)
def test_block_gives_a_trial_the_same_bits_wherever_it_sits(model, toy):
    # The runner folds sub-blocks, the trace recomputes a trial alone: the block must give a
    # trial's outputs bitwise the same whatever the other columns hold and m is.
    sc = {"one-year": lambda: engine.load_config("configs/sequoia-600b-uncertain.toml"),
          "vintage": lambda: engine.load_config("configs/vintage-2024-2032.toml"),
          "toy": toy_scenario}[model.name]()
    plan = models.make_plan(sc)
    n = 300
    xs_t, outs_t, cov_t = engine.core.runner.trace_trials(plan, 5, 0, 1000, n)
    # the same trials through the runner's own sub-block path, in one call of the block
    rng = np.random.default_rng(1)
    order = rng.permutation(n)[:SUB]
    m = len(order)
    xs = np.ascontiguousarray(xs_t[order].T[None])
    margs = model.share(plan.margs, np.zeros((1, xs.shape[1]), dtype=np.int64), plan.is_random)
    work = np.full((1, max(model.work_rows(margs), 1), SUB), np.nan)
    outs = np.full((plan.layout.n_outputs, SUB), np.nan)
    cover = np.zeros((plan.layout.n_covers, SUB), dtype=np.bool_)
    xs_full = np.zeros((1, xs.shape[1], SUB))
    xs_full[:, :, :m] = xs
    model.block(xs_full, np.zeros(xs.shape[1], dtype=np.int64), 0, m, margs, work, outs, cover)
    np.testing.assert_array_equal(outs[:, :m].T.view(np.uint64), outs_t[order].view(np.uint64))
    np.testing.assert_array_equal(cover[:, :m].T, cov_t[order])
