"""Draw the README's pictures from the bundled configs: ``python docs/make_figures.py``.

Writes ``docs/figures/gap.png`` (a quote), ``sweep-line.png`` and ``sweep-map.png`` (P(cover)
over one and two swept inputs) and ``tornado.png``. Deterministic: fixed seeds and trials.

The sweep and tornado Datasets are built here the way the sweep code builds them: one plan
holding every point (common random numbers), :func:`engine.simulate.run_plan`, then
:func:`engine.result.build_dataset` with ``point_dims``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import distributions  # noqa: E402
import engine  # noqa: E402
from engine.config import Input, Scenario  # noqa: E402
from engine.plan import make_plan  # noqa: E402
from engine.result import build_dataset  # noqa: E402
from engine.simulate import run_plan  # noqa: E402

CONFIG = ROOT / "configs" / "ai-capex-2024.toml"
OUT = ROOT / "docs" / "figures"


def pin(scenario: Scenario, **values: float) -> Scenario:
    """`scenario` with the named inputs fixed at the given values (``revenue.X`` allowed via
    a dict passed as ``**{"revenue.X": v}``)."""
    def fix(items: tuple[Input, ...]) -> tuple[Input, ...]:
        return tuple(Input(i.name, distributions.parse(i.name, values[i.name]))
                     if i.name in values else i for i in items)
    unknown = set(values) - {i.name for i in scenario.all_inputs}
    if unknown:
        raise KeyError(f"no such inputs: {sorted(unknown)}")
    return dataclasses.replace(scenario, inputs=fix(scenario.inputs),
                               revenue=fix(scenario.revenue))


def sweep_dataset(scenario: Scenario, grid: dict[str, Sequence[float]], *, trials: int,
                  seed: int) -> xr.Dataset:
    """P(cover) and the outputs over the Cartesian product of `grid` (C order)."""
    names = list(grid)
    mesh = np.meshgrid(*(np.asarray(grid[n], dtype=float) for n in names), indexing="ij")
    points = [pin(scenario, **{n: float(m.flat[i]) for n, m in zip(names, mesh)})
              for i in range(mesh[0].size)]
    totals = run_plan(make_plan(points), trials=trials, seed=seed)
    return build_dataset(scenario, totals, seed=seed, requested_trials=trials,
                         point_dims={n: list(grid[n]) for n in names})


def tornado_dataset(scenario: Scenario, *, trials: int, seed: int,
                    levels: Sequence[float] = (0.1, 0.9)) -> xr.Dataset:
    """P(cover) with each uncertain input fixed at each quantile level, the others uncertain.

    Layout (what :func:`engine.plot.plot_tornado` reads): ``p_cover(input, level)``,
    ``input_value(input, level)``, scalar ``p_cover_baseline``; coordinates ``input`` (names)
    and ``level`` (quantile levels).
    """
    names = [i.name for i in scenario.all_inputs if not i.dist.is_fixed]
    values = np.array([[scenario.input(n).dist.quantile(q) for q in levels] for n in names])
    points = [scenario] + [pin(scenario, **{n: float(values[j, k])})
                           for j, n in enumerate(names) for k in range(len(levels))]
    totals = run_plan(make_plan(points), trials=trials, seed=seed)
    p = totals.hits / totals.trials
    return xr.Dataset(
        {"p_cover": (("input", "level"), p[1:].reshape(len(names), len(levels)),
                     {"long_name": "P(cover) with the input fixed at its quantile",
                      "units": "1"}),
         "input_value": (("input", "level"), values, {"long_name": "the input's value"}),
         "p_cover_baseline": ((), p[0], {"long_name": "P(cover), every input uncertain",
                                         "units": "1"})},
        coords={"input": names, "level": list(levels)},
        attrs={"title": scenario.name, "seed": str(seed), "trials": np.int64(totals.trials),
               "config_source": scenario.source, "capexgap_version": engine.__version__})


def datasets(trials: int) -> dict[str, xr.Dataset]:
    """The four Datasets drawn in the README."""
    sc = engine.load_config(CONFIG)
    return {
        "gap": engine.simulate(sc, trials=trials, seed=sc.seed),
        "sweep-line": sweep_dataset(sc, {"useful_life": [1, 1.5, 2, 3, 4, 5, 6, 7, 8]},
                                    trials=trials // 5, seed=sc.seed),
        "sweep-map": sweep_dataset(sc, {"margin": np.round(np.arange(0.2, 0.801, 0.05), 2),
                                        "useful_life": [1, 2, 3, 4, 5, 6, 7, 8]},
                                   trials=trials // 5, seed=sc.seed),
        "tornado": tornado_dataset(sc, trials=trials, seed=sc.seed),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--save-data", action="store_true",
                        help="also write each Dataset as NetCDF next to its picture")
    args = parser.parse_args(argv)
    from engine.plot import plot_result, save_figure

    args.out.mkdir(parents=True, exist_ok=True)
    for name, ds in datasets(args.trials).items():
        if args.save_data:
            engine.write_netcdf(ds, args.out / f"{name}.nc")
        path = save_figure(plot_result(ds), args.out / f"{name}.png", force=True)
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
              f"{path.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
