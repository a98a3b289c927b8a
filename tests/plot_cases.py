"""What test_plot.py and test_plot_vintage.py share: a small one-year config, a result written
and re-opened, two checks on a figure (its vertical lines, tick labels that do not overlap),
and `capexgap` run in process.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg

import engine
from engine.cli import main

TRIALS = 20_000

# Required revenue ~ 60 x 2 / 0.5 / 3 = 80 against revenue ~ 45: P(cover) is a few percent,
# so both sides of zero are populated.
SMALL = """
[scenario]
name = "plot test"
seed = 11
[inputs]
gpu_spend = { dist = "lognormal", ci90 = [40, 80] }
energy_ratio = { dist = "triangular", min = 0.5, mode = 1.0, max = 1.5 }
margin = { dist = "pert", min = 0.3, mode = 0.5, max = 0.7 }
useful_life = 3
[revenue]
A = { dist = "lognormal", ci90 = [20, 60] }
B = 10
"""


def roundtrip(ds, folder: Path, name: str):
    path = folder / name
    engine.write_netcdf(ds, path)
    return path, engine.open_result(path)


def vlines(ax):
    """x positions of the vertical lines (axvline) on `ax`."""
    return [float(ln.get_xdata()[0]) for ln in ax.lines
            if len(ln.get_xdata()) == 2 and ln.get_xdata()[0] == ln.get_xdata()[1]]


def assert_no_overlapping_ticks(fig):
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            boxes = [t.get_window_extent(renderer) for t in axis.get_ticklabels()
                     if t.get_visible() and t.get_text()]
            for a, b in combinations(boxes, 2):
                assert not a.overlaps(b), f"overlapping tick labels on {ax.get_title()!r}"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
