"""The picture of a tornado: how far P(cover) moves when one input at a time is pinned at a
low and a high quantile of its distribution, the others staying uncertain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from engine.base import fmt
from engine.present.plot_checks import _expect, _one_year
from engine.present.plot_common import (BLUE, ORANGE, _footer, _legend_above, _matplotlib,
                                        _num, _show, _style, _title)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


_SHORT_UNITS = {"gpu_spend": "$B/yr", "useful_life": "years", "generation_years": "years"}


def plot_tornado(ds: xr.Dataset, *, year: int | None = None) -> Figure:
    """Tornado: how far P(cover) moves when one input at a time is pinned at a low and a high
    quantile of its distribution, the others staying uncertain.

    Expected Dataset layout (the integrator adapts names at merge)::

        p_cover           (input, level)  float   P(cover) with `input` fixed at the quantile
                                                  `level` of its distribution
        baseline_p_cover  ()              float   P(cover) with every input uncertain
        pinned_value       (input, level)  float   optional: the input's value there
        coords: input (str, the input's name), level (float quantile levels, e.g. [0.1, 0.9];
                with more than two, the lowest and highest are drawn)
        attrs:  title, trials, seed (optional, shown)

    Bars start at the baseline and end at P(cover) with the input at its low (orange) and
    high (blue) level, so a bar spans from the low-level to the high-level value whenever the
    baseline lies between them. Inputs are sorted by swing, |p_high - p_low|, largest on top
    (by |swing_gap_median| when the tornado was ranked by the median gap: the table's order).

    A multi-year tornado (every P(cover) also on ``year``) is drawn for one year: `year`, by
    default the last reported year, the year it is ranked by; the title and a note under the
    figure say which, and the bars are sorted by that year's swing.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _matplotlib()
    ds, year_notes = _one_year(_expect(ds, "tornado", "plot_tornado"), year)
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    p = ds["p_cover"].transpose("input", "level")
    levels = np.asarray(ds["level"].values, dtype=float)
    i_lo, i_hi = int(np.argmin(levels)), int(np.argmax(levels))
    p_lo = p.isel(level=i_lo).values.astype(float)
    p_hi = p.isel(level=i_hi).values.astype(float)
    base = float(ds["baseline_p_cover"])
    names = [str(v) for v in ds["input"].values]
    shown = [_show(v, 80) for v in names]
    # Largest swing first: of P(cover), or of the median gap when the tornado was ranked by it
    # (engine.tornado(sort_by="gap_median")), so the bars come in the order of its table.
    by_gap = str(ds.attrs.get("tornado_sort", "")).startswith("by |swing_gap_median|")
    if by_gap and "swing_gap_median" in ds.variables:
        order = np.argsort(-np.abs(ds["swing_gap_median"].values.astype(float)), kind="stable")
    else:
        order = np.argsort(-np.abs(p_hi - p_lo), kind="stable")
        by_gap = False
    labels = []
    for j in order:
        label = shown[j]
        if "pinned_value" in ds.variables:
            v = ds["pinned_value"].transpose("input", "level").values
            unit = _SHORT_UNITS.get(names[j], "$B/yr" if names[j].startswith("revenue.")
                                    else "")
            label += (f"  ({_num(v[j, i_lo], 3)} to {_num(v[j, i_hi], 3)}"
                      f"{' ' + unit if unit else ''})")
        labels.append(label)
    n = len(names)
    y = np.arange(n)[::-1]  # first (largest swing) on top
    with _style():
        fig = Figure(figsize=(8, 1.8 + 0.3 * n), layout="constrained")
        ax = fig.add_subplot()
        lo_bars = ax.barh(y, p_lo[order] - base, left=base, height=0.62, color=ORANGE,
                          label=f"input at its {fmt.ordinal(levels[i_lo])} percentile")
        hi_bars = ax.barh(y, p_hi[order] - base, left=base, height=0.62, color=BLUE,
                          label=f"input at its {fmt.ordinal(levels[i_hi])} percentile")
        # Where both bars lie on one side of the baseline, draw the shorter one in front.
        for r_lo, r_hi in zip(lo_bars.patches, hi_bars.patches):
            front, back = sorted((r_lo, r_hi), key=lambda r: abs(r.get_width()))
            front.set_zorder(2.2)
            back.set_zorder(2.1)
        ax.axvline(base, color="black", lw=1.2, zorder=3,
                   label=f"baseline, every input uncertain: {fmt.pct(base)}")
        ax.set_yticks(y, labels)
        ax.set_ylim(-0.7, n - 0.3)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("P(AI revenue covers the annual cost of AI capex)")
        ax.grid(axis="x", color="#dddddd", lw=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0)
        _legend_above(ax, f"One input at a time fixed at its {fmt.ordinal(levels[i_lo])} or "
                      f"{fmt.ordinal(levels[i_hi])}\npercentile, the others uncertain; bars "
                      "start at the baseline" + ("; ranked by the swing of the median gap"
                                                 if by_gap else ""), ncols=3)
        fig.suptitle(f"{_title(ds, 'capexgap')}: what moves P(cover)",
                     fontweight="bold", x=0.01, ha="left")
        _footer(fig, ds, year_notes)
    return fig
