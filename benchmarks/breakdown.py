"""Per-trial cost of each piece of the runner, one thread: the sampler's draw, the model's
block, the fold (reduce).

    python benchmarks/breakdown.py [CONFIG ...] [--json]

The measurement itself is :func:`engine.cli.bench.breakdown` (also part of ``capexgap bench``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numba  # noqa: E402

import engine  # noqa: E402
from engine.cli.bench import STAGES, bench13, breakdown  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="*", help="scenarios (default: bench-13)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    numba.set_num_threads(1)
    todo = {Path(c).name: engine.load_config(c) for c in args.configs} or {"bench-13": bench13()}
    out = {name: breakdown(sc) for name, sc in todo.items()}
    if args.json:
        print(json.dumps(out))
        return
    for name, r in out.items():
        print(f"{name} ({r['random_inputs']} random inputs), ns per trial, one thread, "
              f"sub-blocks of {r['sub_block_trials']} trials:")
        for s in (*STAGES, "sum"):
            print(f"  {s:<12}{r[s]:8.1f}")


if __name__ == "__main__":
    main()
