"""The picture of a sensitivity result: per output, S1 and ST of every factor side by side,
with their 95% intervals (``capexgap sensitivity --out FILE.nc``, then ``capexgap plot``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from engine.present import plot_common as pc
from engine.present.plot_checks import _year_note, select_year
from engine.present.plot_common import BLUE, ORANGE, _show

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: Factors drawn, those with the largest total indices (the file has them all).
MAX_FACTORS = 15
#: Outputs drawn side by side.
MAX_PANELS = 4


def plot_sensitivity(ds: xr.Dataset, *, year: int | None = None) -> Figure:
    """S1 (orange) and ST (blue) bars per factor with their 95% intervals, one panel per
    output (at most :data:`MAX_PANELS`), the factors in order of their largest total index
    over the panels (at most :data:`MAX_FACTORS`)."""
    pc._matplotlib()
    from matplotlib.figure import Figure

    one, shown = select_year(ds, year)
    notes = [] if shown is None else [_year_note(ds, shown)]
    outputs = [str(o) for o in one["output"].values][:MAX_PANELS]
    st_all = one["ST"].sel(output=outputs).values.astype(float)       # [O, k]
    rank = np.nanmax(np.where(np.isfinite(st_all), st_all, -np.inf), axis=0)
    order = np.argsort(-rank, kind="stable")[:MAX_FACTORS]
    if one.sizes["input"] > MAX_FACTORS:
        notes.append(f"the {MAX_FACTORS} factors with the largest total index of "
                     f"{one.sizes['input']}")
    names = [_show(str(one["input"].values[i]), 40) for i in order]
    n = len(order)
    y = np.arange(n)[::-1]
    h = 0.38
    with pc._style():
        fig = Figure(figsize=(max(8.0, 3.2 + 2.6 * len(outputs)), 2.2 + 0.32 * n),
                     layout="constrained")
        axes = fig.subplots(1, len(outputs), sharey=True, squeeze=False)[0]
        for ax, out in zip(axes, outputs):
            sel = one.sel(output=out)
            for key, color, dy, label in (
                    ("S1", ORANGE, h / 2, "S1: share of the variance, the input alone"),
                    ("ST", BLUE, -h / 2, "ST: with its interactions (95% intervals drawn)")):
                v = sel[key].values.astype(float)[order]
                ci = sel[f"{key}_ci95"].values.astype(float)[order]
                err = np.abs(np.stack([v - ci[:, 0], ci[:, 1] - v]))
                ax.barh(y + dy, v, height=h, color=color, label=label,
                        xerr=err, error_kw={"elinewidth": 0.8, "capsize": 2,
                                            "ecolor": "black"})
            ax.axvline(0.0, color="black", lw=0.8)
            ax.set_xlim(min(-0.02, ax.get_xlim()[0]), max(1.0, ax.get_xlim()[1]))
            ax.set_title(_show(out if out != "covers" else "covers (P(cover))", 40),
                         fontsize=10)
            ax.grid(axis="x", color="#dddddd", lw=0.6)
            ax.set_axisbelow(True)
            ax.tick_params(axis="y", length=0)
        axes[0].set_yticks(y, names)
        axes[0].set_ylim(-0.7, n - 0.3)
        # the factors come largest first: the lower right of a panel is free
        axes[-1].legend(loc="lower right", frameon=True, framealpha=0.9, fontsize=8)
        fig.suptitle(f"{pc._title(ds, 'capexgap')}: Sobol' indices", fontweight="bold", x=0.01,
                     ha="left")
        evals = f"each trial a base sample: {int(ds.attrs['evaluations']):,} model evaluations"
        pc._footer(fig, ds, [*notes, evals])
    return fig
