"""P(gap > x): the exceedance curve and --gap-above, against traced trials."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import engine
from engine.analyses.exceedance import above, gap_above, round_grid
from helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quote():
    sc = engine.load_config(None)
    n = 200_000
    return sc, n, engine.simulate(sc, trials=n, seed=3)


def test_gap_above_matches_traced_trials(quote):
    # K = 4 standard errors; the sketch takes x at its bin's lower edge (relative 4.9e-4),
    # which moves the count by the few trials in that bin at most
    K = 4.0
    sc, n, ds = quote
    xs = [-50.0, 0.0, 100.0, 250.0, 500.0]
    got = gap_above(ds, xs)
    tr = engine.trace(sc, 0, n, seed=3)["gap"].values
    for i, x in enumerate(xs):
        want = float((tr > x).mean())
        p = float(got["p_gap_above"].values[i])
        se = math.sqrt(max(want * (1 - want), 1.0 / n) / n)
        assert abs(p - want) <= K * se, (x, p, want)
        lo, hi = got["p_gap_above_ci95"].values[i]
        assert lo <= p <= hi
    # P(gap > 0) is 1 - P(cover) up to the trials with a gap of exactly 0's bin
    assert float(got["p_gap_above"].values[1]) == pytest.approx(1 - float(ds["p_cover"]),
                                                                abs=5.0 / n)


def test_the_curve_is_monotone_and_matches_the_quantiles(quote):
    K = 4.0
    _, n, ds = quote
    p = ds["gap_exceedance"].values
    assert np.all(np.diff(p) <= 0) and p[0] == 1.0 and p[-1] == 0.0
    x = ds["gap_threshold"].values
    assert x[0] <= float(ds["gap_min"]) and x[-1] >= float(ds["gap_max"])
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        v = float(ds["gap_quantile"].sel(quantile=q))
        share = float(above(ds, [v])[0]) / n
        bin_mass = float(above(ds, [v * (1 - 1e-3)])[0] - above(ds, [v * (1 + 1e-3)])[0]) / n
        assert abs(share - (1 - q)) <= K * math.sqrt(q * (1 - q) / n) + bin_mass, q


def test_round_grid():
    g = round_grid(-163.2, 1671.0)
    assert g[0] <= -163.2 and g[-1] >= 1671.0 and 150 <= len(g) <= 400
    step = np.diff(g)
    assert np.allclose(step, step[0]) and step[0] in (5.0, 10.0)


def test_vintage_has_a_curve_per_year():
    sc = engine.load_config(ROOT / "configs" / "vintage-2024-2032.toml")
    ds = engine.simulate(sc, trials=20_000)
    assert ds["gap_exceedance"].dims == ("year", "gap_threshold")
    got = gap_above(ds, [0.0])
    # a covered year is a gap <= 0 in that year
    np.testing.assert_allclose(got["p_gap_above"].values[:, 0], 1 - ds["p_cover"].values,
                               atol=5.0 / 20_000)


def test_cli_gap_above(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "quote", "--trials", 50_000, "--gap-above", "100,500")
    assert code == 0 and "P(gap > $100.0B) = " in out and "P(gap > $500.0B) = " in out
    code, out, _ = run_cli(capsys, "quote", "--trials", 50_000, "--gap-above", "100", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["gap_above"][0]["x"] == 100.0
    lo, hi = obj["gap_above"][0]["ci95"]
    assert lo <= obj["gap_above"][0]["p"] <= hi
    with pytest.raises(SystemExit) as exc:
        run_cli(capsys, "quote", "--gap-above", "100,abc")
    assert exc.value.code == 2
    assert "'abc' is not a number" in capsys.readouterr().err


def test_plot_exceedance(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    nc = tmp_path / "q.nc"
    assert run_cli(capsys, "quote", "--trials", 20_000, "--gap-above", "250", "--out", nc)[0] == 0
    for extra in ((), ("--log",)):
        png = tmp_path / f"e{len(extra)}.png"
        code, out, _ = run_cli(capsys, "plot", nc, "-o", png, "--exceedance", *extra)
        assert code == 0 and png.stat().st_size > 10_000 and "exceedance" in out
    code, _, err = run_cli(capsys, "plot", nc, "-o", tmp_path / "x.png", "--log")
    assert code == 2 and "--log goes with --exceedance" in err
