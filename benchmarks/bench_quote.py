"""Kernel vs plain NumPy on the bundled default scenario, measured in one run.

    python benchmarks/bench_quote.py [--trials 10000000] [--threads T] [--json]

Prints: JIT compile (first call) separately; the kernel's warm time (best of --repeat);
the NumPy/SciPy whole-array implementation of the same model (engine.reference) on the same
trial count; their ratio; and the peak resident memory of fresh processes running the kernel
at growing trial counts (it must not grow with the trials).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numba

import engine
from engine import reference

_PEAK = """
import resource, sys, engine
sc = engine.load_config(None)
engine.simulate(sc, trials=4096)  # compile
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
engine.simulate(sc, trials=int(sys.argv[1]))
print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_kib(trials: int) -> tuple[int, int]:
    """(peak RSS after compiling, peak RSS after the run) of a fresh process, KiB."""
    out = subprocess.run([sys.executable, "-c", _PEAK, str(trials)], check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), int(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10_000_000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--numpy-trials", type=int, default=None,
                    help="trials for the NumPy baseline (default: --trials)")
    ap.add_argument("--memory", type=int, nargs="*", default=[10**6, 10**7, 10**8],
                    help="trial counts for the peak-memory check (fresh processes)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    sc = engine.load_config(None)
    t = time.perf_counter()
    engine.simulate(sc, trials=4096, threads=args.threads)
    compile_s = time.perf_counter() - t

    kernel_s = min(_timed(lambda: engine.simulate(sc, trials=args.trials, threads=args.threads))
                   for _ in range(args.repeat))
    n_np = args.numpy_trials or args.trials
    numpy_s = _timed(lambda: reference.simulate_numpy(sc, n_np, seed=1, source="numpy"))
    # Compare per-trial costs (the NumPy baseline may run fewer trials to save memory).
    ratio = (numpy_s / n_np) / (kernel_s / args.trials)
    mem = {n: peak_rss_kib(n) for n in args.memory}

    res = {
        "scenario": sc.name, "trials": args.trials, "threads": numba.get_num_threads(),
        "compile_s": round(compile_s, 3), "kernel_s": round(kernel_s, 4),
        "kernel_ns_per_trial": round(1e9 * kernel_s / args.trials, 2),
        "numpy_trials": n_np, "numpy_s": round(numpy_s, 4),
        "numpy_ns_per_trial": round(1e9 * numpy_s / n_np, 2),
        "speedup_vs_numpy": round(ratio, 2),
        "peak_rss_mib": {str(n): round(v[1] / 1024, 1) for n, v in mem.items()},
    }
    if args.json:
        print(json.dumps(res))
        return
    print(f"scenario: {sc.name}; {res['threads']} threads")
    print(f"JIT compile + first call:  {compile_s:8.2f} s (excluded below)")
    print(f"kernel   {args.trials:>12,} trials  {kernel_s:8.3f} s  "
          f"{res['kernel_ns_per_trial']:8.1f} ns/trial (best of {args.repeat})")
    print(f"NumPy    {n_np:>12,} trials  {numpy_s:8.3f} s  "
          f"{res['numpy_ns_per_trial']:8.1f} ns/trial (engine.reference, whole-array)")
    print(f"kernel speed-up over NumPy, same run: {ratio:.1f}x")
    for n, (base, peak) in mem.items():
        print(f"peak RSS, fresh process, {n:>12,} trials: {peak / 1024:8.1f} MiB "
              f"(after compile: {base / 1024:.1f} MiB)")


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
