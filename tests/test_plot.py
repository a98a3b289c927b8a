"""Pictures (engine.present.plot, `capexgap plot`): each figure from a real result file, its plotted
values checked against the Dataset, and every bad-input path by its message. Multi-year
(vintage) results are in test_plot_vintage.py."""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import PolyCollection, QuadMesh  # noqa: E402
from matplotlib.patches import StepPatch  # noqa: E402

import distributions  # noqa: E402
import engine  # noqa: E402
from engine.base import fmt  # noqa: E402
from engine.present import plot
from engine.core.scenario import Input  # noqa: E402
from engine.models import make_plan  # noqa: E402
from engine.core.dataset import build_dataset  # noqa: E402
from engine.core.driver import run_plan  # noqa: E402
from engine.present.plot_sweep import color_limits, contour_levels  # noqa: E402
from plot_cases import (SMALL, TRIALS, assert_no_overlapping_ticks, roundtrip,  # noqa: E402
                        run, vlines)

ROOT = Path(__file__).resolve().parents[1]


def _pin(scenario, **values):
    def fix(items):
        return tuple(Input(i.name, distributions.parse(i.name, values[i.name]))
                     if i.name in values else i for i in items)
    return dataclasses.replace(scenario, inputs=fix(scenario.inputs),
                               revenue=fix(scenario.revenue))


def _sweep(scenario, grid, trials=4096, seed=5):
    """What the sweep code produces: one plan over the grid's points (C order)."""
    names = list(grid)
    mesh = np.meshgrid(*(np.asarray(grid[n], dtype=float) for n in names), indexing="ij")
    points = [_pin(scenario, **{n: float(m.flat[i]) for n, m in zip(names, mesh)})
              for i in range(mesh[0].size)]
    totals = run_plan(make_plan(points), trials=trials, seed=seed)
    return build_dataset(scenario, totals, seed=seed, requested_trials=trials,
                         point_dims={n: list(grid[n]) for n in names})


# scenario (plot_cases.SMALL), folder and quote: tests/conftest.py


@pytest.fixture(scope="module")
def scenario_path(folder):
    path = folder / "small.toml"
    path.write_text(SMALL)
    return path


@pytest.fixture(scope="module")
def sweep2(scenario, folder):
    # margin deliberately unsorted: the picture sorts numeric coordinates.
    ds = _sweep(scenario, {"margin": [0.5, 0.2, 0.35, 0.65], "useful_life": [1, 3, 6]})
    return roundtrip(ds, folder, "sweep2.nc")


@pytest.fixture(scope="module")
def sweep3(scenario, folder):
    ds = _sweep(scenario, {"margin": [0.3, 0.5], "useful_life": [2, 5],
                           "cost_of_capital": [0.0, 0.05, 0.1]})
    return roundtrip(ds, folder, "sweep3.nc")


@pytest.fixture(scope="module")
def tornado(scenario, folder):
    """A real tornado (engine.tornado), written and re-opened."""
    ds = engine.tornado(scenario, levels=(0.1, 0.9), trials=8192, seed=3)
    return roundtrip(ds, folder, "tornado.nc")


def _stairs(ax):
    return [a for a in ax.patches if isinstance(a, StepPatch)]


# ------------------------------------------------------------------------------ the quote


def test_gap_figure_values(quote):
    _, ds = quote
    n, hits = int(ds.attrs["trials"]), int(ds["hits"])
    assert 0 < hits < n  # both colours are drawn
    h = plot.rebin_gap(ds)
    fig = plot.plot_gap(ds)
    ax, ax2 = fig.axes[:2]

    # Histogram: shares per bin; with the clipped tails it holds every trial.
    cover, short = _stairs(ax)
    mass = (cover.get_data().values.sum() + short.get_data().values.sum()) * n
    assert h.total == n == int(ds["gap_hist"].sum())
    assert mass + h.below + h.above == pytest.approx(n, abs=1e-6)
    np.testing.assert_allclose(np.concatenate([cover.get_data().values,
                                               short.get_data().values]), h.counts / n)
    # The orange part ends at zero and (with the left tail) holds exactly the covering trials.
    assert cover.get_data().edges[-1] == 0.0 == short.get_data().edges[0]
    assert round(cover.get_data().values.sum() * n) + h.below == hits
    assert 0.0 in vlines(ax) and 0.0 in vlines(ax2)
    for q in (0.05, 0.5, 0.95):
        assert float(ds["gap_quantile"].sel(quantile=q)) in vlines(ax)

    # CDF: at the bin edges, P(cover) where it crosses zero, and P(cover) marked.
    cdf = next(ln for ln in ax2.lines if ln.get_label() == "P(gap <= x)")
    np.testing.assert_array_equal(cdf.get_xdata(), h.edges)
    np.testing.assert_allclose(cdf.get_ydata(), h.cdf())
    assert h.cdf()[np.flatnonzero(h.edges == 0.0)[0]] == pytest.approx(hits / n, abs=1e-12)
    marker = next(ln for ln in ax2.lines if ln.get_label().startswith("P(cover)"))
    assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (0, float(ds["p_cover"]))

    assert "$B per year" in ax2.get_xlabel() and ax2.get_xlabel().startswith("gap")
    assert ax.get_ylabel() == f"share of trials per ${plot._num(h.width)}B bin"
    title = ax.get_title(loc="left")
    assert f"{hits:,} of {n:,} trials" in title and "90% interval" in title
    assert fmt.pct(float(ds["p_cover"])) in title
    assert fig._suptitle.get_text() == "plot test"
    assert "stopped early" not in fig._supxlabel.get_text()
    partial = plot.plot_gap(ds.assign_attrs(completed=np.int8(0), trials_requested=10**6))
    assert f"run stopped early: {n:,} of 1,000,000 requested trials" in \
        partial._supxlabel.get_text()
    assert_no_overlapping_ticks(fig)


def test_rebin_gap_matches_the_exact_histogram(scenario, quote):
    """Re-binned sketch counts against np.histogram of the trials' exact gaps (engine.trace)."""
    _, ds = quote
    h = plot.rebin_gap(ds)
    assert 60 <= len(h.counts) <= 160 and h.width in {m * 10.0**e for m in (1, 2, 2.5, 5)
                                                      for e in range(-3, 4)}
    np.testing.assert_array_equal(h.edges / h.width, np.round(h.edges / h.width))
    assert h.edges[0] < float(ds["gap_min"]) or h.below > 0
    gap = engine.trace(scenario, 0, TRIALS)["gap"].values
    # Right-closed bins (e_i, e_i+1]: count with the mirror image of np.histogram's [ , ).
    exact, _ = np.histogram(-gap, bins=-h.edges[::-1])
    exact = exact[::-1]
    # A trial can change bins only if it lies within one sketch bin (relative 2**-10) of an edge.
    moved = np.abs(exact - h.counts).sum()
    assert moved <= 2e-3 * TRIALS, moved
    assert exact.sum() + (gap <= h.edges[0]).sum() + (gap > h.edges[-1]).sum() == TRIALS


def test_gap_figure_degenerate_and_no_hits(folder):
    """A fixed scenario: one value, no trial covers; the picture says so."""
    sc = engine.load_config(ROOT / "configs" / "sequoia-600b-2024.toml")
    _, ds = roundtrip(engine.simulate(sc, trials=4096), folder, "fixed.nc")
    h = plot.rebin_gap(ds)
    assert h.counts.sum() == 4096 and h.edges[0] < 0 < 500 <= h.edges[-1]
    fig = plot.plot_gap(ds)
    assert fig.axes[0].get_title(loc="left").startswith("No trial covered")
    marker = next(ln for ln in fig.axes[1].lines if ln.get_label().startswith("no trial"))
    assert marker.get_xdata()[0] == 0


@pytest.mark.parametrize("ext, magic", [("png", b"\x89PNG"), ("svg", b"<?xml"),
                                        ("pdf", b"%PDF")])
def test_save_by_extension(quote, tmp_path, ext, magic):
    out = plot.save_figure(plot.plot_gap(quote[1]), tmp_path / f"gap.{ext}")
    data = out.read_bytes()
    assert data.startswith(magic) and len(data) > 10_000
    assert [p.name for p in tmp_path.iterdir()] == [f"gap.{ext}"]  # no temporary left


# ------------------------------------------------------------------------------ sweeps


def test_sweep_line(scenario, folder):
    _, ds = roundtrip(_sweep(scenario, {"margin": [0.2, 0.35, 0.5, 0.65]}), folder, "s1.nc")
    fig = plot.plot_sweep(ds)
    (ax,) = fig.axes
    (line,) = [ln for ln in ax.lines if ln.get_label() == "P(cover)"]
    np.testing.assert_array_equal(line.get_xdata(), ds["margin"].values)
    np.testing.assert_array_equal(line.get_ydata(), ds["p_cover"].values)
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    vert = band.get_paths()[0].vertices
    for x, lo, hi in zip(ds["margin"].values, *ds["p_cover_ci95"].values.T):
        assert any(np.allclose(v, (x, lo)) for v in vert)
        assert any(np.allclose(v, (x, hi)) for v in vert)
    assert ax.get_xlabel() == "margin (share of revenue)"
    assert ax.get_ylabel() == "P(AI revenue covers capex)"
    assert plot.describe(ds) == "P(cover) against margin with its 95% interval"


def test_sweep_heatmap(sweep2):
    _, ds = sweep2
    fig = plot.plot_sweep(ds)
    ax = fig.axes[0]
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    expected = ds["p_cover"].sortby("margin").transpose("margin", "useful_life").values
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(expected.shape),
                                  expected)
    # The colour scale fitted to the data (tests/test_plot_readable.py checks the rule).
    assert mesh.get_clim() == color_limits(expected) and mesh.get_cmap().name == "cividis"
    # Contours only at round levels, and only where P(cover) crosses them.
    for c in ax.collections:
        if hasattr(c, "levels"):
            assert set(c.levels) <= set(contour_levels(expected)) <= set(plot.CONTOUR_LEVELS)
            assert all(expected.min() < v < expected.max() for v in c.levels)
    assert ax.get_ylabel() == "margin (share of revenue)"
    assert ax.get_xlabel() == "useful_life (years)"
    assert len(ax.texts) == expected.size  # each cell's value written in it
    assert_no_overlapping_ticks(fig)


def test_sweep_small_multiples(sweep3):
    _, ds = sweep3
    fig = plot.plot_sweep(ds)
    meshes = [c for ax in fig.axes if ax.get_label() != "<colorbar>"
              for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 3  # one panel per cost_of_capital
    for i, mesh in enumerate(meshes):
        np.testing.assert_array_equal(
            np.asarray(mesh.get_array()).reshape(2, 2),
            ds["p_cover"].isel(cost_of_capital=i).transpose("margin", "useful_life").values)
    note = fig._supxlabel.get_text()
    assert "3 swept inputs: one panel per value of cost_of_capital" in note
    assert plot.describe(ds) in note
    assert [ax.get_title() for ax in fig.axes[:3]] == [
        "cost_of_capital = 0 per year", "cost_of_capital = 0.05 per year",
        "cost_of_capital = 0.1 per year"]


def test_sweep_with_a_length_one_dimension_is_held(scenario):
    ds = _sweep(scenario, {"margin": [0.3, 0.5, 0.7], "useful_life": [3]}, trials=4096)
    fig = plot.plot_sweep(ds)
    (line,) = [ln for ln in fig.axes[0].lines if ln.get_label() == "P(cover)"]
    np.testing.assert_array_equal(line.get_ydata(), ds["p_cover"].values[:, 0])
    assert "held at useful_life = 3" in plot.describe(ds)


def test_each_function_names_the_one_that_fits(quote, sweep2, tornado):
    with pytest.raises(plot.PlotError, match=r"sweep dimensions \(margin, useful_life\). "
                                             r"Select one point first, e.g. "
                                             r"ds.isel\(margin=0, useful_life=0\)"):
        plot.plot_gap(sweep2[1])
    with pytest.raises(plot.PlotError, match="this result is a quote .* draw it with plot_gap"):
        plot.plot_sweep(quote[1])
    with pytest.raises(plot.PlotError, match="is a tornado .* draw it with plot_tornado"):
        plot.plot_sweep(tornado[1])
    with pytest.raises(plot.PlotError, match="is a sweep .* draw it with plot_sweep"):
        plot.plot_tornado(sweep2[1])
    fig = plot.plot_gap(sweep2[1].isel(margin=0, useful_life=1))  # one point of it is
    assert _stairs(fig.axes[0])
    assert plot.rebin_gap(sweep2[1].isel(margin=[0], useful_life=[1])).total == 4096


# ------------------------------------------------------------------------------ tornado


def test_tornado_bars(tornado):
    _, ds = tornado
    fig = plot.plot_result(ds)
    (ax,) = fig.axes
    base = float(ds["baseline_p_cover"])
    p = ds["p_cover"]
    swing = np.abs(p.sel(level=0.9) - p.sel(level=0.1)).values
    order = np.argsort(-swing, kind="stable")
    names = list(ds["input"].values[order])
    labels = [t.get_text().split("  ")[0] for t in ax.get_yticklabels()]
    y = [t.get_position()[1] for t in ax.get_yticklabels()]
    assert [lab for _, lab in sorted(zip(y, labels), reverse=True)] == names  # largest on top
    lo_bars, hi_bars = ax.containers
    for level, bars in ((0.1, lo_bars), (0.9, hi_bars)):
        for rect in bars.patches:
            name = labels[y.index(rect.get_y() + rect.get_height() / 2)]
            ends = sorted((rect.get_x(), rect.get_x() + rect.get_width()))
            assert ends == pytest.approx(sorted((base, float(p.sel(input=name,
                                                                   level=level)))))
    assert base in vlines(ax)
    assert ax.get_xlabel().startswith("P(AI revenue covers")
    full = {t.get_text().split("  ")[0]: t.get_text() for t in ax.get_yticklabels()}
    lo, hi = ds["pinned_value"].sel(input="gpu_spend").values
    assert full["gpu_spend"] == f"gpu_spend  ({lo:.3g} to {hi:.3g} $B/yr)"
    assert_no_overlapping_ticks(fig)


def test_tornado_ranked_by_gap_keeps_that_order():
    """A tornado ranked by the median gap (sort_by="gap_median") is drawn in that order."""
    ds = xr.Dataset({"p_cover": (("input", "level"), [[0.25, 0.24], [0.30, 0.10], [0.7, 0.4]]),
                     "baseline_p_cover": ((), 0.2),
                     "swing_gap_median": (("input",), [90.0, -40.0, 5.0])},
                    coords={"input": ["a", "b", "c"], "level": [0.1, 0.9]},
                    attrs={"tornado_sort": "by |swing_gap_median|, ties by |swing_p_cover|"})
    ax = plot.plot_tornado(ds).axes[0]
    ticks = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in ticks] == ["a", "b", "c"]
    assert "ranked by the swing of the median gap" in ax.get_title(loc="left")
    ds.attrs["tornado_sort"] = "by |swing_p_cover|, ties by |swing_gap_median|"
    ax = plot.plot_tornado(ds).axes[0]
    ticks = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in ticks] == ["c", "b", "a"]  # by |p_high - p_low|


def test_tornado_sorts_uses_extreme_levels_and_any_baseline():
    """Synthetic: three levels in any order, a baseline outside one input's bar."""
    ds = xr.Dataset({"p_cover": (("input", "level"), [[0.30, 0.2, 0.10], [0.25, 0.24, 0.26],
                                                      [0.7, 0.5, 0.40]]),
                     "baseline_p_cover": ((), 0.2)},
                    coords={"input": ["a", "b", "c"], "level": [0.95, 0.5, 0.05]})
    fig = plot.plot_tornado(ds)
    ax = fig.axes[0]
    ticks = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in ticks] == ["c", "a", "b"]  # top to bottom, by swing
    lo_bars, hi_bars = ax.containers  # 5th and 95th percentiles, in that order
    assert "5th" in lo_bars.get_label() and "95th" in hi_bars.get_label()
    # c lies wholly right of the baseline: both bars start there; the shorter is in front.
    c_lo, c_hi = lo_bars.patches[0], hi_bars.patches[0]
    assert (c_lo.get_x(), c_lo.get_x() + c_lo.get_width()) == pytest.approx((0.2, 0.4))
    assert (c_hi.get_x(), c_hi.get_x() + c_hi.get_width()) == pytest.approx((0.2, 0.7))
    assert c_lo.get_zorder() > c_hi.get_zorder()
    a_lo, a_hi = lo_bars.patches[1], hi_bars.patches[1]
    assert sorted((a_lo.get_x() + a_lo.get_width(), a_hi.get_x() + a_hi.get_width())) == \
        pytest.approx([0.1, 0.3])


# ------------------------------------------------------------------------------ CLI


def test_cli_plot_writes_and_refuses_to_overwrite(capsys, quote, sweep2, tmp_path):
    out = tmp_path / "gap.png"
    code, stdout, err = run(capsys, "plot", quote[0], "-o", out)
    assert code == 0, err
    assert stdout.startswith(f"wrote {out}: the gap's distribution")
    before = out.read_bytes()
    assert before.startswith(b"\x89PNG")
    code, _, err = run(capsys, "plot", sweep2[0], "-o", out)
    assert code == 2 and "file exists; nothing was drawn. Pass --force" in err
    assert out.read_bytes() == before
    code, stdout, err = run(capsys, "plot", sweep2[0], "-o", out, "--force")
    assert code == 0, err
    assert "P(cover) over margin (y) x useful_life (x)" in stdout
    assert out.read_bytes() != before


def _foreign_nc4(path):
    xr.Dataset({"temperature": ("x", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")


def _foreign_nc3(path):
    xr.Dataset({"temperature": ("x", np.arange(3.0))}).to_netcdf(path, engine="scipy")


@pytest.mark.parametrize("make, message", [
    (None, "no such file"),
    (lambda p: p.write_text("not netcdf\n"), "not a NetCDF file"),
    (lambda p: p.write_bytes(b""), "not a NetCDF file"),
    (_foreign_nc3, "a NetCDF-3 file, not a capexgap result"),
    (_foreign_nc4, "attribute `format`: is missing: this is not a capexgap result"),
    ("no_gap_hist", "needs gap_hist, which it lacks"),
    ("year", ("drawing P(cover) by year and the break-even year needs p_breakeven_by, "
              "p_breakeven_never, breakeven_year_quantile, which it lacks")),
])
def test_cli_plot_rejects_bad_input(capsys, tmp_path, quote, make, message):
    src = tmp_path / "in.nc"
    if make == "no_gap_hist":
        engine.write_netcdf(quote[1].drop_vars("gap_hist"), src)
    elif make == "year":
        engine.write_netcdf(quote[1].expand_dims(year=[2025, 2026]), src)
    elif make is not None:
        make(src)
    out = tmp_path / "out.png"
    code, stdout, err = run(capsys, "plot", src, "-o", out)
    assert code == 2 and stdout == ""
    assert err.startswith(f"capexgap: error: {src}: ") and message in err, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("out, message", [
    ("gap.jpg", "unknown picture format '.jpg'; valid: .png, .svg, .pdf"),
    ("gap", "unknown picture format '(no extension)'"),
    ("missing/gap.png", "does not exist. Create it first."),
])
def test_cli_plot_rejects_bad_output(capsys, tmp_path, quote, out, message):
    code, _, err = run(capsys, "plot", quote[0], "-o", tmp_path / out)
    assert code == 2 and message in err, err


def test_missing_matplotlib_is_exit_2(capsys, monkeypatch, quote, tmp_path):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises
    code, _, err = run(capsys, "plot", quote[0], "-o", tmp_path / "gap.png")
    assert code == 2 and 'pip install "capexgap[plot]"' in err
    assert not (tmp_path / "gap.png").exists()


def test_tornado_plot_without_matplotlib_refuses_before_running(capsys, monkeypatch,
                                                                  scenario_path, tmp_path):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    ran = []
    monkeypatch.setattr(importlib.import_module("engine.analyses.tornado"), "tornado",
                        lambda *a, **k: ran.append(1))
    code, out, err = run(capsys, "tornado", scenario_path, "--plot", tmp_path / "t.png")
    assert code == 2 and 'pip install "capexgap[plot]"' in err and not ran
    assert not (tmp_path / "t.png").exists()


def test_cli_plot_foreign_file_in_a_fresh_process(tmp_path):
    """The installed-command path: exit 2, one line on stderr, no traceback."""
    src = tmp_path / "foreign.nc"
    _foreign_nc4(src)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "engine", "plot", str(src), "-o",
                           str(tmp_path / "x.png")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("capexgap: error:") and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_sweep_over_named_points(sweep2):
    """A non-numeric sweep coordinate (e.g. scenario names) is drawn in its own order."""
    ds = sweep2[1].assign_coords(margin=["d", "a", "c", "b"])
    fig = plot.plot_sweep(ds)
    ax = fig.axes[0]
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(4, 3),
                                  ds["p_cover"].values)
    FigureCanvasAgg(fig).draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["d", "a", "c", "b"]
    line = plot.plot_sweep(ds.isel(useful_life=[0])).axes[0]
    assert [t.get_text() for t in line.get_xticklabels()] == ["d", "a", "c", "b"]


def test_cli_plot_year_of_a_one_year_result(capsys, quote, tmp_path):
    code, _, err = run(capsys, "plot", quote[0], "-o", tmp_path / "x.png", "--year", 2024)
    assert code == 2 and "this is a one-year result (p_cover has no `year` dimension)" in err
    assert not (tmp_path / "x.png").exists()


def test_tornado_plot_flag(folder, scenario_path, capsys):
    from engine.cli import main

    out = folder / "tornado-cli.png"
    assert main(["tornado", str(scenario_path), "--trials", "4096", "--plot", str(out),
                 "--quiet"]) == 0
    assert out.stat().st_size > 0
    assert main(["tornado", str(scenario_path), "--trials", "4096", "--plot", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
