"""Draw the README's pictures from the bundled configs: ``python docs/make_figures.py``.

Writes ``docs/figures/gap.png`` (a quote), ``exceedance.png`` (its P(gap > x), log scale),
``sweep-line.png`` and ``sweep-map.png`` (P(cover)
over one and two swept inputs), ``tornado.png`` and ``vintage.png`` (the multi-year model's
P(cover) by year and break-even year, from ``configs/vintage-2024-2032.toml``). Deterministic:
fixed seeds and trials. ``--only vintage`` (names as above, without ``.png``) redraws some.

The sweep and tornado Datasets are built here the way the sweep code builds them: one plan
holding every point (common random numbers), :func:`engine.core.driver.run_plan`, then
:func:`engine.core.dataset.build_dataset` with ``point_dims``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402
from engine.analyses.exceedance import gap_above  # noqa: E402

CONFIG = ROOT / "configs" / "ai-capex-2024.toml"
VINTAGE = ROOT / "configs" / "vintage-2024-2032.toml"
OUT = ROOT / "docs" / "figures"


def datasets(trials: int) -> dict[str, Callable[[], xr.Dataset]]:
    """The Datasets drawn in the README, each built on demand (so ``--only`` runs just its
    own)."""
    sc = engine.load_config(CONFIG)
    return {
        "gap": lambda: engine.simulate(sc, trials=trials, seed=sc.seed),
        "exceedance": lambda: gap_above(engine.simulate(sc, trials=trials, seed=sc.seed),
                                        [100, 250, 500]),
        "sweep-line": lambda: engine.sweep(sc, {"useful_life": [1, 1.5, 2, 3, 4, 5, 6, 7, 8]},
                                           trials=trials // 5, seed=sc.seed),
        "sweep-map": lambda: engine.sweep(
            sc, {"margin": [round(0.2 + 0.05 * i, 2) for i in range(13)],
                 "useful_life": [1, 2, 3, 4, 5, 6, 7, 8]}, trials=trials // 5, seed=sc.seed),
        "tornado": lambda: engine.tornado(sc, levels=(0.1, 0.9), trials=trials, seed=sc.seed),
        "vintage": lambda: _vintage(trials),
    }


def _vintage(trials: int) -> xr.Dataset:
    sc = engine.load_config(VINTAGE)
    return engine.simulate(sc, trials=trials, seed=sc.seed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--save-data", action="store_true",
                        help="also write each Dataset as NetCDF next to its picture")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        choices=("gap", "exceedance", "sweep-line", "sweep-map", "tornado",
                                 "vintage"),
                        help="draw only these figures (default: all)")
    args = parser.parse_args(argv)
    from engine.present.plot import plot_exceedance, plot_result, save_figure

    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in datasets(args.trials).items():
        if args.only and name not in args.only:
            continue
        ds = build()
        if args.save_data:
            engine.write_netcdf(ds, args.out / f"{name}.nc")
        fig = plot_exceedance(ds, log=True) if name == "exceedance" else plot_result(ds)
        path = save_figure(fig, args.out / f"{name}.png", force=True)
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
              f"{path.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
