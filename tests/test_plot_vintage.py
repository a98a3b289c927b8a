"""Pictures of multi-year (vintage) results (engine.present.plot, `capexgap plot`): P(cover) by
year and the break-even year, checked against the Dataset and the traced trials; one year of a
quote, sweep or tornado; the errors that name the fix. One-year results: test_plot.py."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import PolyCollection, QuadMesh  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from plot_cases import (SMALL, TRIALS, assert_no_overlapping_ticks, roundtrip,  # noqa: E402
                        run, vlines)

import engine  # noqa: E402
from engine.base import fmt  # noqa: E402
from engine.present import plot

# Multi-year: four years, a cohort before them; P(cover) ~30-60% by year, and about a third of
# the trials never break even, so every bar of the break-even picture is populated.
VINTAGE = """
[scenario]
name = "vintage plot test"
model = "vintage"
years = [2024, 2027]
seed = 17
[inputs]
energy_ratio = { dist = "triangular", min = 0.6, mode = 1.0, max = 1.6 }
margin = { dist = "uniform", min = 0.35, max = 0.65 }
useful_life = { dist = "triangular", min = 1, mode = 3, max = 6 }
cost_of_capital = 0.05
gpu_spend_growth = { dist = "uniform", min = -0.1, max = 0.4 }
[inputs.gpu_spend]
2023 = 40
2024 = { dist = "lognormal", ci90 = [80, 130] }
[revenue]
A = { dist = "lognormal", ci90 = [60, 300] }
B = 10
[revenue_growth]
A = { dist = "uniform", min = 0.2, max = 1.4 }
B = 0.25
"""
YEARS = [2024, 2025, 2026, 2027]


# scenario (plot_cases.SMALL), folder and quote (a one-year quote, for the errors that say how
# a one-year result is drawn): tests/conftest.py


@pytest.fixture(scope="module")
def vintage_scenario():
    return engine.loads(VINTAGE, source="vintage.toml")


@pytest.fixture(scope="module")
def vintage(vintage_scenario, folder):
    """A multi-year quote (engine.simulate), written and re-opened."""
    return roundtrip(engine.simulate(vintage_scenario, trials=TRIALS), folder, "vintage.nc")


@pytest.fixture(scope="module")
def vintage_sweep(vintage_scenario, folder):
    ds = engine.sweep(vintage_scenario, {"useful_life": [2, 5], "gpu_spend_growth": [0.0, 0.4]},
                      trials=4096, seed=5)
    return roundtrip(ds, folder, "vintage-sweep.nc")


@pytest.fixture(scope="module")
def vintage_tornado(vintage_scenario, folder):
    ds = engine.tornado(vintage_scenario, levels=(0.1, 0.9), trials=4096, seed=3)
    return roundtrip(ds, folder, "vintage-tornado.nc")


# ------------------------------------------------------------------------------ multi-year


def _bars(ax):
    """The BarContainers of `ax` by label."""
    return {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}


def _line(ax, start):
    (line,) = [ln for ln in ax.lines if ln.get_label().startswith(start)]
    return line


def test_vintage_figure_values(vintage):
    _, ds = vintage
    n, last = int(ds.attrs["trials"]), YEARS[-1]
    assert [int(y) for y in ds["year"].values] == YEARS
    assert plot.result_kind(ds) == "vintage"
    fig = plot.plot_result(ds)
    ax, ax2 = fig.axes

    # Top: P(cover) by year, its stored 95% interval as the band.
    line = _line(ax, "P(cover)")
    np.testing.assert_array_equal(line.get_xdata(), YEARS)
    np.testing.assert_array_equal(line.get_ydata(), ds["p_cover"].values)
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    vert = band.get_paths()[0].vertices
    for x, (lo, hi) in zip(YEARS, ds["p_cover_ci95"].transpose("year", "bound").values):
        assert any(np.allclose(v, (x, lo)) for v in vert)
        assert any(np.allclose(v, (x, hi)) for v in vert)
    assert float(ds["p_cover"].max()) > 0.5 and 0.5 in [ln.get_ydata()[0] for ln in ax.lines
                                                         if ln.get_label() == "50%"]
    assert ax.get_ylim()[1] >= float(ds["p_cover_ci95"].max())
    assert ax.get_ylabel() == "P(AI revenue covers capex)"

    # Bottom: the bars are each year's break-even share, counted from the trials' own
    # break-even years; they cumulate to p_breakeven_by and, with "never", sum to 1.
    bars = _bars(ax2)
    in_year = bars["breaks even in the year (first year revenue covers)"]
    never = bars[f"no break-even by {last}"]
    heights = np.array([r.get_height() for r in in_year.patches])
    assert [r.get_x() + r.get_width() / 2 for r in in_year.patches] == pytest.approx(YEARS)
    counts = ds["breakeven_by_trials"].values
    np.testing.assert_allclose(heights * n, np.diff(counts, prepend=0), rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.cumsum(heights), ds["p_breakeven_by"].values, rtol=0,
                               atol=1e-15)
    (bar,) = never.patches
    assert bar.get_height() == float(ds["p_breakeven_never"]) > 0
    assert heights.sum() + bar.get_height() == pytest.approx(1.0, abs=1e-12)
    assert bar.get_x() > last  # apart from the years, labelled as such
    FigureCanvasAgg(fig).draw()
    labels = {round(t.get_position()[0], 6): t.get_text() for t in ax2.get_xticklabels()}
    assert labels[round(bar.get_x() + bar.get_width() / 2, 6)] == f"none by\n{last}"
    assert [labels[y] for y in YEARS] == [str(y) for y in YEARS]
    cumulative = _line(ax2, "has broken even by the year")
    np.testing.assert_array_equal(cumulative.get_xdata(), YEARS)
    np.testing.assert_array_equal(cumulative.get_ydata(), ds["p_breakeven_by"].values)
    assert ax2.get_xlabel() == "year" and ax2.get_ylabel() == "share of trials"

    # Titles: the headline numbers. The median year from the counts: the first year by which
    # at least half the trials have broken even.
    by = ds["p_breakeven_by"].values
    median = str(YEARS[int(np.argmax(by >= 0.5))]) if by[-1] >= 0.5 else f"not by {last}"
    lo, hi = ds["p_cover_ci95"].values[-1]
    assert f"In {last}: {fmt.pct(float(ds['p_cover'][-1]))} (95% CI {fmt.p_interval(lo, hi)})" \
        in ax.get_title(loc="left")
    assert f"By {last}: {fmt.pct(by[-1])}; median year: {median}" in ax2.get_title(loc="left")
    assert fig._suptitle.get_text() == "vintage plot test"
    footer = fig._supxlabel.get_text()
    assert f"{n:,} trials" in footer and "break-even year: the first year" in footer
    assert_no_overlapping_ticks(fig)


def test_breakeven_in_year_matches_the_traced_trials(vintage_scenario, vintage):
    """Each year's break-even share against the first covering year of each traced trial."""
    _, ds = vintage
    first = engine.trace(vintage_scenario, 0, TRIALS)["breakeven_year"].values
    share = plot.breakeven_in_year(ds)
    np.testing.assert_allclose(share * TRIALS, [(first == y).sum() for y in YEARS], rtol=0,
                               atol=1e-9)
    assert np.isinf(first).sum() == round(float(ds["p_breakeven_never"]) * TRIALS)
    # Without the counts, from the differences of p_breakeven_by: the same to rounding.
    np.testing.assert_allclose(plot.breakeven_in_year(ds.drop_vars("breakeven_by_trials")),
                               share, rtol=0, atol=1e-15)


def test_vintage_many_years_none_covering():
    """Synthetic: 30 years, no trial ever covers; ticks thinned, the last year kept."""
    years = np.arange(2024, 2054)
    zero = np.zeros(len(years))
    hi = np.full(len(years), 3e-4)
    ds = xr.Dataset(
        {"p_cover": ("year", zero), "p_cover_ci95": (("year", "bound"), np.c_[zero, hi]),
         "hits": ("year", zero.astype(np.int64)), "p_breakeven_by": ("year", zero),
         "p_breakeven_never": ((), 1.0),
         "breakeven_year_quantile": ("quantile", [np.inf, np.inf, np.inf])},
        coords={"year": years, "bound": ["lower", "upper"], "quantile": [0.05, 0.5, 0.95]},
        attrs={"title": "never", "trials": 10_000})
    fig = plot.plot_vintage(ds)
    ax, ax2 = fig.axes
    ticks = [int(t) for t in ax.get_xticks()]
    assert len(ticks) <= 12 and ticks[-1] == 2053 and len(set(np.diff(ticks))) == 1
    assert ax.get_title(loc="left").endswith(
        "No trial covered in 2053: P(cover) < 0.0300% (one-sided 95% bound)")
    assert ax2.get_title(loc="left").endswith(
        "By 2053: 0; median year: not by 2053; 90% interval: not by 2053 to not by 2053")
    assert not any(ln.get_label() == "50%" for ln in ax.lines)  # far from 50%
    assert _bars(ax2)["no break-even by 2053"].patches[0].get_height() == 1.0
    assert_no_overlapping_ticks(fig)


def test_one_year_of_a_vintage_quote(vintage):
    _, ds = vintage
    year = YEARS[1]
    fig = plot.plot_result(ds, year=year)
    marker = next(ln for ln in fig.axes[1].lines if ln.get_label().startswith("P(cover)"))
    assert marker.get_ydata()[0] == float(ds["p_cover"].sel(year=year))
    assert fig._suptitle.get_text() == f"vintage plot test (year {year})"
    assert f"multi-year result: shown for {year}, one of the years 2024-2027" in \
        fig._supxlabel.get_text()
    h = plot.rebin_gap(ds, year=year)
    expected = plot.rebin_gap(ds.sel(year=year))
    np.testing.assert_array_equal(h.counts, expected.counts)
    assert h.total == int(ds["gap_hist"].sel(year=year).sum())
    # plot_gap alone draws the last year
    last = plot.plot_gap(ds)
    assert last._suptitle.get_text() == f"vintage plot test (year {YEARS[-1]})"
    assert "the last of the years" in last._supxlabel.get_text()


def test_vintage_sweep_shows_one_year(vintage_sweep):
    _, ds = vintage_sweep
    assert ds["p_cover"].dims == ("useful_life", "gpu_spend_growth", "year")
    assert plot.result_kind(ds) == "sweep"
    for year, which in ((None, "the last"), (YEARS[0], "one")):
        shown = YEARS[-1] if year is None else year
        fig = plot.plot_result(ds, year=year)
        (mesh,) = [c for c in fig.axes[0].collections if isinstance(c, QuadMesh)]
        np.testing.assert_array_equal(
            np.asarray(mesh.get_array()).reshape(2, 2),
            ds["p_cover"].sel(year=shown).transpose("useful_life", "gpu_spend_growth").values)
        assert fig._suptitle.get_text().startswith(f"vintage plot test (year {shown})\n")
        assert f"shown for {shown}, {which} of the years 2024-2027" in fig._supxlabel.get_text()
        assert plot.describe(ds, year=year).endswith(f"; in {shown}, one of the reported "
                                                     "years 2024-2027" +
                                                     (" (the last)" if which != "one" else ""))
    # one point of it is a multi-year quote
    one = ds.isel(useful_life=1, gpu_spend_growth=[0])
    fig = plot.plot_vintage(one)
    np.testing.assert_array_equal(_line(fig.axes[0], "P(cover)").get_ydata(),
                                  ds["p_cover"].isel(useful_life=1, gpu_spend_growth=0).values)
    assert "held at gpu_spend_growth = 0" in fig._supxlabel.get_text()


def test_vintage_tornado_shows_one_year(vintage_tornado):
    _, ds = vintage_tornado
    assert plot.result_kind(ds) == "tornado"
    for year in (None, YEARS[0]):
        shown = YEARS[-1] if year is None else year
        ax = plot.plot_tornado(ds, year=year).axes[0]
        base = float(ds["baseline_p_cover"].sel(year=shown))
        assert base in vlines(ax)
        lo_bars, _ = ax.containers
        ends = sorted(r.get_x() + r.get_width() for r in lo_bars.patches)
        assert ends == pytest.approx(sorted(ds["p_cover"].sel(year=shown, level=0.1).values))
        assert f"shown for {shown}" in ax.figure._supxlabel.get_text()


def test_vintage_errors_name_the_fix(quote, vintage, vintage_sweep):
    with pytest.raises(plot.PlotError, match=r"plot_vintage draws P\(cover\) by year and the "
                                             r"break-even year, but this result is a quote .* "
                                             r"draw it with plot_gap"):
        plot.plot_vintage(quote[1])
    with pytest.raises(plot.PlotError, match=r"plot_vintage draws one multi-year point, but this "
                                             r"result has sweep dimensions \(useful_life, "
                                             r"gpu_spend_growth\). Select one point first, e.g. "
                                             r"ds.isel\(useful_life=0, gpu_spend_growth=0\), or "
                                             r"draw it with plot_sweep"):
        plot.plot_vintage(vintage_sweep[1])
    with pytest.raises(plot.PlotError, match="year 2030 is not one of the result's years; "
                                             "valid: 2024 to 2027"):
        plot.plot_result(vintage[1], year=2030)
    with pytest.raises(plot.PlotError, match="year 2024: this is a one-year result"):
        plot.plot_result(quote[1], year=2024)
    with pytest.raises(plot.PlotError, match="p_breakeven_by must have the dimension `year`"):
        plot.plot_vintage(vintage[1].assign(p_breakeven_by=vintage[1]["p_breakeven_never"]))


# ------------------------------------------------------------------------------ CLI


def test_cli_plot_multi_year(capsys, vintage, vintage_sweep, tmp_path):
    out = tmp_path / "v.png"
    code, stdout, err = run(capsys, "plot", vintage[0], "-o", out)
    assert code == 0, err
    assert stdout == (f"wrote {out}: P(cover) by year with its 95% interval, and the "
                      "break-even year's distribution\n")
    assert out.read_bytes().startswith(b"\x89PNG")
    code, stdout, err = run(capsys, "plot", vintage[0], "-o", tmp_path / "g.png", "--year",
                            2025)
    assert code == 0, err
    assert "the gap's distribution" in stdout and "in 2025, one of the reported years" in stdout
    code, stdout, err = run(capsys, "plot", vintage_sweep[0], "-o", tmp_path / "s.png")
    assert code == 0, err
    assert stdout.rstrip().endswith("in 2027, one of the reported years 2024-2027 (the last)")
    for src, year, message in ((vintage[0], 1999, ("year 1999 is not one of the result's "
                                                   "years; valid: 2024 to 2027")),
                               (vintage_sweep[0], 2028, "year 2028 is not one of")):
        out = tmp_path / "bad.png"
        code, stdout, err = run(capsys, "plot", src, "-o", out, "--year", year)
        assert code == 2 and stdout == "" and not out.exists()
        assert err.startswith(f"capexgap: error: {src}: {message}"), err
        assert "Traceback" not in err and err.count("\n") == 1


def test_tornado_plot_flag_multi_year(capsys, tmp_path):
    """The multi-year tornado is drawn for its last reported year, the year it is ranked by."""
    cfg = tmp_path / "vintage.toml"
    cfg.write_text(VINTAGE)
    out, nc = tmp_path / "t.png", tmp_path / "t.nc"
    code, _, err = run(capsys, "tornado", cfg, "--trials", 4096, "--plot", out, "--out", nc,
                       "--quiet")
    assert code == 0, err
    assert out.read_bytes().startswith(b"\x89PNG")
    ds = engine.open_result(nc)
    assert int(ds.attrs["tornado_rank_year"]) == YEARS[-1]
    fig = plot.plot_tornado(ds)
    assert fig._suptitle.get_text().startswith(f"vintage plot test (year {YEARS[-1]})")
