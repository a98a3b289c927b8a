"""Engine speed of another checkout (e.g. before a change) against this one, in one run.

    git archive <commit> | tar -x -C /tmp/old
    python benchmarks/before_after.py /tmp/old [CONFIG ...] [--trials N] [--threads 1 2]

Each measurement is a fresh process (``run_plan``, best of 3 after a compile/warm-up call),
alternating old and new, so both see the same machine load; with ``--rounds R`` each pair is
measured R times (still alternating) and the best of each side kept, which filters out the
bursts of other work on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, sys, time, numba, engine
try:  # the layered package
    from engine.models import make_plan
    from engine.core.driver import run_plan
except ImportError:  # an older checkout
    from engine.plan import make_plan
    from engine.simulate import run_plan
cfg, n, th = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
plan = make_plan(engine.load_config(cfg))
run_plan(plan, trials=1 << 20, seed=1, threads=th)
best = 1e9
for _ in range(3):
    t = time.perf_counter(); run_plan(plan, trials=n, seed=1, threads=th)
    best = min(best, time.perf_counter() - t)
print(json.dumps(1e9 * best / n))
"""


def ns_per_trial(checkout: Path, config: str, trials: int, threads: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    out = subprocess.run([sys.executable, "-c", _CHILD, config, str(trials), str(threads)],
                         check=True, capture_output=True, text=True, env=env, cwd=checkout)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", type=Path)
    ap.add_argument("configs", nargs="*", default=[
        str(ROOT / "benchmarks" / "scenarios" / "bench-13.toml"),
        str(ROOT / "configs" / "ai-capex-2024.toml"),
        str(ROOT / "benchmarks" / "scenarios" / "bench-30.toml")])
    ap.add_argument("--trials", type=int, default=4_000_000)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=1, help="alternating repeats, best kept")
    ap.add_argument("--label", default="before", help="what OLD is (e.g. a commit id)")
    ap.add_argument("--out", type=Path, help="also write the rows as JSON")
    args = ap.parse_args()
    load_before = os.getloadavg()
    rows = []
    for cfg in args.configs:
        for th in args.threads:
            old = new = float("inf")
            for _ in range(args.rounds):
                old = min(old, ns_per_trial(args.old.resolve(), cfg, args.trials, th))
                new = min(new, ns_per_trial(ROOT, cfg, args.trials, th))
            rows.append({"config": Path(cfg).name, "threads": th, "before_ns": round(old, 1),
                         "after_ns": round(new, 1), "speedup": round(old / new, 2)})
            print(json.dumps(rows[-1]), flush=True)
    print(f"load average: {os.getloadavg()}")
    if args.out:
        args.out.write_text(json.dumps({"old": args.label, "trials": args.trials,
                                        "rounds": args.rounds,
                                        "load_before": load_before,
                                        "load_after": os.getloadavg(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
