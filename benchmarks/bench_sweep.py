"""A sweep in one pass vs the same points as separate quotes, measured in one run.

    python benchmarks/bench_sweep.py [--trials 400000] [--threads T] [--json]

The grid: margin (10 values, 0.3 .. 0.75) x useful_life (5 values, 1 .. 5) = 50 points on the
bundled default scenario (configs/ai-capex-2024.toml), every other input random. Prints:

- compile + first call (excluded from the timings below);
- ``engine.sweep`` with every point in one pass (one plan of 50 points), and with the default
  memory budget (``--max-memory``, the CLI's grouping), and one point per pass (nothing
  shared between points but the uniforms' draws: the cost of the points themselves);
- 50 separate ``engine.simulate`` calls, one per pinned scenario, on the same trials and seed;
- the ratio separate / one pass, and a check that every point is bit-identical either way;
- the peak resident memory of fresh processes running the sweep with the default budget and
  in one pass (it grows with the points of a pass, not with the trials).

Timings are the best of ``--repeat`` interleaved runs in this process; ratios are measured in
one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numba
import numpy as np
import xarray as xr

import engine
from engine.analyses.sweeps import DEFAULT_MAX_MEMORY_MIB, bytes_per_point, n_passes, sweep_grid

GRID = {"margin": [round(0.3 + 0.05 * i, 2) for i in range(10)],
        "useful_life": [1, 2, 3, 4, 5]}

# The child reads its own high-water mark from /proc (VmHWM). Not getrusage's ru_maxrss: Linux
# carries it across fork/exec, so a child would report at least its parent's peak.
_PEAK = """
import json, resource, sys, engine

def hwm():
    try:
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmHWM:"))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

sc = engine.load_config(None)
grid = json.loads(sys.argv[1])
engine.sweep(sc, {"margin": [0.5], "useful_life": [1]}, trials=4096)  # compile / load
base = hwm()
engine.sweep(sc, grid, trials=int(sys.argv[2]), max_memory_mib=float(sys.argv[3]))
print(base, hwm())
"""


def peak_rss_kib(trials: int, max_memory_mib: float) -> tuple[int, int]:
    """(peak RSS after compiling, peak RSS after the sweep) of a fresh process, KiB."""
    out = subprocess.run([sys.executable, "-c", _PEAK, json.dumps(GRID), str(trials),
                          str(max_memory_mib)], check=True, capture_output=True,
                         text=True).stdout.split()
    return int(out[0]), int(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=400_000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    sc = engine.load_config(None)
    grid = sweep_grid(sc, GRID)
    n_pts = grid.n_points
    t = time.perf_counter()
    engine.sweep(sc, {"margin": [0.5], "useful_life": [1]}, trials=4096, threads=args.threads)
    compile_s = time.perf_counter() - t

    big = 2.0 * n_pts * bytes_per_point() / 2**20  # room for all points in one pass
    tiny = 1e-3                                      # room for one point per pass
    passes = {"one pass": n_passes(grid.scenarios, big),
              "default budget": n_passes(grid.scenarios, DEFAULT_MAX_MEMORY_MIB),
              "point by point": n_passes(grid.scenarios, tiny)}
    runs = {}

    def sweep_run(mib):
        return engine.sweep(sc, grid, trials=args.trials, threads=args.threads,
                            max_memory_mib=mib)

    def separate():
        return [engine.simulate(s, trials=args.trials, threads=args.threads)
                for s in grid.scenarios]

    results = {}
    cases = (("one pass", lambda: sweep_run(big)),
             ("default budget", lambda: sweep_run(DEFAULT_MAX_MEMORY_MIB)),
             ("point by point", lambda: sweep_run(tiny)),
             ("separate quotes", separate))
    # Interleaved repeats: on a shared machine a slow spell then hits every case alike.
    for _ in range(args.repeat):
        for label, fn in cases:
            t = time.perf_counter()
            results[label] = fn()
            dt = time.perf_counter() - t
            runs[label] = min(runs.get(label, dt), dt)

    # Every point of the sweep is bit-identical to its separate quote.
    sw = results["one pass"]
    identical = True
    for k, one in enumerate(results["separate quotes"]):
        i, j = np.unravel_index(k, grid.shape)
        pt = engine.sweep_point(sw, margin=GRID["margin"][i],
                                useful_life=float(GRID["useful_life"][j]))
        try:
            xr.testing.assert_identical(engine.strip_run_attrs(pt), engine.strip_run_attrs(one))
        except AssertionError:
            identical = False
    ratio = runs["separate quotes"] / runs["one pass"]
    mem = {}
    if not args.no_memory:
        mem = {"default budget": peak_rss_kib(args.trials, DEFAULT_MAX_MEMORY_MIB),
               "one pass": peak_rss_kib(args.trials, big)}

    res = {
        "scenario": sc.name, "points": n_pts, "trials": args.trials,
        "threads": numba.get_num_threads(), "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "compile_s": round(compile_s, 3),
        "seconds": {k: round(v, 3) for k, v in runs.items()},
        "ns_per_point_trial": {k: round(1e9 * v / (n_pts * args.trials), 1)
                               for k, v in runs.items()},
        "separate_over_one_pass": round(ratio, 2),
        "separate_over_default": round(runs["separate quotes"] / runs["default budget"], 2),
        "passes": passes,
        "bit_identical": identical,
        "mib_per_point_per_pass": round(bytes_per_point() / 2**20, 1),
        "peak_rss_mib": {k: round(v[1] / 1024, 1) for k, v in mem.items()},
    }
    if args.json:
        print(json.dumps(res))
        return
    print(f"scenario: {sc.name}; {n_pts} points (margin 10 x useful_life 5), "
          f"{args.trials:,} trials each; {res['threads']} threads")
    print(f"JIT compile + first call: {compile_s:8.2f} s (excluded below)")
    for label, secs in runs.items():
        k = passes.get(label)
        extra = (f" ({n_pts} x engine.simulate)" if k is None else
                 f" ({k} pass{'es' if k > 1 else ''}" + (
                     f", --max-memory {DEFAULT_MAX_MEMORY_MIB})" if label == "default budget"
                     else ")"))
        print(f"{label:<16} {secs:8.3f} s  {res['ns_per_point_trial'][label]:7.1f} ns per "
              f"point-trial{extra} (best of {args.repeat})")
    print(f"separate quotes / one pass, same run: {ratio:.2f}x "
          f"(/ default budget: {res['separate_over_default']:.2f}x)")
    print(f"every point bit-identical to its separate quote: {identical}")
    print(f"accumulators per point in a pass, at most: {res['mib_per_point_per_pass']} MiB "
          f"(NUMBA_NUM_THREADS = {res['numba_num_threads']}; outputs shared with an earlier "
          "point of the pass take none)")
    for label, (base, peak) in mem.items():
        print(f"peak RSS, fresh process, {label:<15}: {peak / 1024:8.1f} MiB "
              f"(after compile: {base / 1024:.1f} MiB)")


if __name__ == "__main__":
    main()
