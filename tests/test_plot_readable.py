"""Pictures people can read (issue 21, part 5): a sweep map's colour scale fitted to its data
with a labelled colour bar, its ticks at the cells' centres labelled with the swept values, its
contours at round levels inside the data's range; legends (tornado, sweep line) that never lie
over the data. Each read back from the Figure, rendered with the Agg canvas."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg  # figures drawn without pyplot
from matplotlib.collections import QuadMesh
from plot_cases import assert_no_overlapping_ticks

from engine.present import plot
from engine.present.plot_sweep import (
    MAX_COLOR_STEPS,
    MIN_COLOR_SPAN,
    color_limits,
    contour_levels,
)


def _sweep(coords: dict, p) -> xr.Dataset:
    """A sweep's result as plot_sweep reads it: P(cover) on the swept inputs, a 95% band."""
    p = np.asarray(p, dtype=float)
    band = np.stack([p * 0.9, np.minimum(p * 1.1, 1.0)], axis=-1)
    names = list(coords)
    return xr.Dataset({"p_cover": (names, p), "p_cover_ci95": ((*names, "bound"), band)},
                      coords={**coords, "bound": ["lower", "upper"]},
                      attrs={"title": "readable", "trials": 10_000, "seed": 1})


def _low_map() -> xr.Dataset:
    """Every P(cover) under 15% (the unreadable 0-100% map of the issue); gpu_spend unevenly
    spaced."""
    margin = [0.2, 0.3, 0.4, 0.5, 0.6]
    gpu = [100.0, 200.0, 400.0, 800.0]
    m, g = np.meshgrid(margin, gpu, indexing="ij")
    return _sweep({"margin": margin, "gpu_spend": gpu}, 0.119 * m / 0.6 * (100 / g) ** 0.3)


def _mesh(ax) -> QuadMesh:
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    return mesh


def _centres(mesh: QuadMesh) -> tuple[np.ndarray, np.ndarray]:
    """x and y centres of the mesh's cells, from its cell edges."""
    xy = mesh.get_coordinates()  # (ny + 1, nx + 1, 2) corners
    xe, ye = xy[0, :, 0], xy[:, 0, 1]
    return 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1])


def _colorbar_axes(fig):
    (cax,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    return cax


# ------------------------------------------------------------------------- colour scale


@pytest.mark.parametrize(("values", "limits"), [
    ([0.0, 0.119], (0.0, 0.12)),      # every value under 15%: not 0..100%
    ([0.003, 0.12], (0.0, 0.12)),
    ([0.0, 0.5], (0.0, 0.5)),
    ([0.0, 0.503], (0.0, 0.55)),
    ([0.2, 0.9], (0.2, 0.9)),
    ([0.123, 0.456], (0.12, 0.46)),
    ([0.0, 1.0], (0.0, 1.0)),
    ([0.0, 0.0], (0.0, 0.01)),        # under 1 point: widened to 1 point, within 0..1
    ([1.0, 1.0], (0.99, 1.0)),
    ([0.0004, 0.0009], (0.0, 0.01)),
    ([np.nan, np.nan], (0.0, 1.0)),   # nothing finite: the whole scale
])
def test_color_limits_round_the_data_range(values, limits):
    assert color_limits(values) == pytest.approx(limits, abs=1e-12)


@pytest.mark.parametrize("seed", range(40))
def test_color_limits_rule(seed):
    """The documented rounding: the range rounded outwards to multiples of a round step (1, 2,
    2.5 or 5 x 10^k) that cuts it into at most MAX_COLOR_STEPS steps; each limit moves by less
    than a tenth of the range."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(0, 1, 2) ** rng.uniform(1, 6)
    lo, hi = float(z.min()), float(z.max())
    vmin, vmax = color_limits(z)
    assert 0 <= vmin <= lo and hi <= vmax <= 1
    span = max(hi - lo, MIN_COLOR_SPAN)
    if hi - lo >= MIN_COLOR_SPAN:
        assert lo - vmin < span / 10 + 1e-12 and vmax - hi < span / 10 + 1e-12
    steps = [m * 10.0**e for e in range(-6, 1) for m in (1, 2, 2.5, 5)]
    # Multiples of a step that cuts the (widened) range into at most MAX_COLOR_STEPS: the
    # limits, rounded outwards, span at most two steps more.
    assert any(abs(vmin / s - round(vmin / s)) < 1e-6 and abs(vmax / s - round(vmax / s)) < 1e-6
               and span / s <= MAX_COLOR_STEPS + 1e-6
               and (vmax - vmin) / s <= MAX_COLOR_STEPS + 2 + 1e-6 for s in steps)


def test_heatmap_colour_scale_fits_the_data_with_a_labelled_bar():
    ds = _low_map()
    fig = plot.plot_sweep(ds)
    ax = fig.axes[0]
    mesh = _mesh(ax)
    z = ds["p_cover"].values
    assert z.max() < 0.15
    assert (mesh.norm.vmin, mesh.norm.vmax) == color_limits(z) == pytest.approx((0.02, 0.12))
    assert mesh.norm.vmin <= z.min() and z.max() <= mesh.norm.vmax
    cax = _colorbar_axes(fig)
    assert cax.get_ylabel().startswith("P(AI revenue covers capex)")
    FigureCanvasAgg(fig).draw()
    labels = [t.get_text() for t in cax.get_yticklabels() if t.get_text()]
    assert "12%" in labels and all(t.endswith("%") for t in labels)
    assert all(mesh.norm.vmin - 1e-12 <= v <= mesh.norm.vmax + 1e-12 for v in cax.get_yticks()
               if cax.get_ylim()[0] <= v <= cax.get_ylim()[1])


def test_small_multiples_share_one_fitted_scale():
    margin, life, coc = [0.3, 0.5, 0.7], [2, 4, 6], [0.0, 0.05, 0.1]
    m, u, c = np.meshgrid(margin, life, coc, indexing="ij")
    p = np.clip(0.3 * m * u / 4 - c, 0, 1)
    fig = plot.plot_sweep(_sweep({"margin": margin, "useful_life": life,
                                  "cost_of_capital": coc}, p))
    meshes = [_mesh(ax) for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(meshes) == 3
    assert {m.get_clim() for m in meshes} == {color_limits(p)}


# ------------------------------------------------------------------------- contours


def test_contours_at_round_levels_inside_the_range():
    assert contour_levels([0.0, 0.119]) == (0.01, 0.05, 0.1)   # a map under 15%
    assert contour_levels([0.02, 0.95]) == (0.1, 0.5, 0.9)
    assert contour_levels([0.2, 0.9]) == (0.25, 0.5, 0.75)     # 0.9 at the edge: not inside
    assert contour_levels([0.0, 0.503]) == (0.05, 0.1, 0.25)   # 50% only in a corner: left out
    assert contour_levels([0.3, 0.3]) == ()
    ds = _low_map()
    z = ds["p_cover"].values
    fig = plot.plot_sweep(ds)
    ax = fig.axes[0]
    drawn = [v for c in ax.collections if hasattr(c, "levels") for v in c.levels]
    assert drawn and set(drawn) <= set(contour_levels(z))
    assert all(z.min() < v < z.max() for v in drawn)
    # Each level marked on the colour bar, inside its limits, and named in its label.
    cax = _colorbar_axes(fig)
    marks = sorted(float(ln.get_ydata()[0]) for ln in cax.lines)
    assert marks == list(contour_levels(z))
    assert "contours at 5%, 10%" in cax.get_ylabel()


# ------------------------------------------------------------------------- ticks


def test_heatmap_ticks_at_cell_centres_labelled_with_the_swept_values():
    ds = _low_map()
    fig = plot.plot_sweep(ds)
    ax = fig.axes[0]
    FigureCanvasAgg(fig).draw()
    xc, yc = _centres(_mesh(ax))
    np.testing.assert_array_equal(ax.get_xticks(), xc)
    np.testing.assert_array_equal(ax.get_yticks(), yc)
    # Cells of equal size, also over an unevenly spaced input (gpu_spend 100, 200, 400, 800).
    np.testing.assert_allclose(np.diff(xc), 1.0)
    assert [float(t.get_text()) for t in ax.get_xticklabels()] == [100, 200, 400, 800]
    assert [float(t.get_text()) for t in ax.get_yticklabels()] == [0.2, 0.3, 0.4, 0.5, 0.6]
    assert_no_overlapping_ticks(fig)


def test_many_values_label_every_kth_cell_centre():
    life = np.arange(1, 41)
    names = ["baseline scenario", "a bull case with a long name", "bear", "flat"]
    s, u = np.meshgrid(np.arange(4), life, indexing="ij")
    ds = _sweep({"scenario": names, "useful_life": life}, np.clip(u / 40 * (s + 1) / 4, 0, 1))
    fig = plot.plot_sweep(ds)
    ax = fig.axes[0]
    FigureCanvasAgg(fig).draw()
    xc, yc = _centres(_mesh(ax))
    ticks = ax.get_xticks()
    assert 2 <= len(ticks) < len(xc) and set(ticks) <= set(xc)
    assert len(set(np.diff(ticks))) == 1  # every k-th
    marks = np.sort(np.concatenate([ticks, ax.xaxis.get_minorticklocs()]))
    np.testing.assert_array_equal(marks, xc)  # a (minor) tick mark at every other cell
    for t in ax.get_xticklabels():
        assert float(t.get_text()) == life[int(t.get_position()[0])]
    np.testing.assert_array_equal(ax.get_yticks(), yc)
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    # Cells too narrow for their values: none written; the contour lines carry their levels.
    labels = [t for c in ax.collections for t in getattr(c, "labelTexts", [])]
    assert labels and list(ax.texts) == labels
    assert {t.get_text() for t in labels} <= {"10%", "50%", "90%"}
    assert_no_overlapping_ticks(fig)


def test_sweep_line_ticks_at_the_swept_values():
    life = [1, 1.5, 2, 3, 4, 5, 6, 7, 8]
    ds = _sweep({"useful_life": life}, np.linspace(0.0, 0.12, len(life)) ** 1.5)
    fig = plot.plot_sweep(ds)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.get_xticks(), life)
    assert_no_overlapping_ticks(fig)


# ------------------------------------------------------------------------- legends


def _tornado(n: int) -> xr.Dataset:
    """Bars across the whole axes in every row: no free corner for a legend inside."""
    lo = np.linspace(0.0, 0.05, n)
    hi = np.linspace(1.0, 0.95, n)
    names = [f"revenue.Company {i}" for i in range(n)]
    return xr.Dataset({"p_cover": (("input", "level"), np.stack([lo, hi], axis=1)),
                       "baseline_p_cover": ((), 0.4),
                       "pinned_value": (("input", "level"),
                                        np.stack([np.full(n, 1.5), np.full(n, 12.5)], axis=1))},
                      coords={"input": names, "level": [0.1, 0.9]},
                      attrs={"title": "readable"})


@pytest.mark.parametrize("n", [2, 6, 20])
def test_tornado_legend_never_overlaps_a_bar(n):
    fig = plot.plot_tornado(_tornado(n))
    ax = fig.axes[0]
    FigureCanvasAgg(fig).draw()
    r = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(r)
    bars = [p.get_window_extent(r) for c in ax.containers for p in c.patches]
    assert len(bars) == 2 * n
    assert not any(legend.overlaps(b) for b in bars)
    assert not legend.overlaps(ax.get_window_extent(r))  # outside the axes altogether
    title = ax.title if ax.title.get_text() else ax._left_title
    assert not legend.overlaps(title.get_window_extent(r))
    assert not legend.overlaps(fig._suptitle.get_window_extent(r))
    for t in ax.get_yticklabels():
        assert not legend.overlaps(t.get_window_extent(r))
    assert fig.bbox.contains(legend.x0, legend.y0) and fig.bbox.contains(legend.x1, legend.y1)
    assert_no_overlapping_ticks(fig)


def test_sweep_line_legend_outside_the_axes():
    life = [1, 2, 3, 4, 5, 6]
    ds = _sweep({"useful_life": life}, [0.9, 0.8, 0.6, 0.5, 0.3, 0.1])  # high on the left
    fig = plot.plot_sweep(ds)
    ax = fig.axes[0]
    FigureCanvasAgg(fig).draw()
    r = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(r)
    assert not legend.overlaps(ax.get_window_extent(r))
    assert not legend.overlaps(ax._left_title.get_window_extent(r))
    assert fig.bbox.contains(legend.x1, legend.y1)
