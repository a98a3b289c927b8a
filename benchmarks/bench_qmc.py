"""Randomized quasi-Monte Carlo vs plain Monte Carlo on the same trials, measured in one run.

    python benchmarks/bench_qmc.py [CONFIG] [--trials 1048576] [--replicates 16]
                                   [--repeat 3] [--threads T] [--json]

For plain Monte Carlo (``engine.simulate``), scrambled Sobol' points and Latin hypercubes
(``engine.quote(..., sampler=..., replicates=R)``, R replicates of trials / R points), on the
bundled default scenario unless a config is given:

- the mean gap and its standard error (plain Monte Carlo: ``gap_std / sqrt(N)``; the
  replicated samplers: the spread of the R replicate means, ``gap_mean_se``);
- P(cover) and its standard error (binomial; the replicates' spread);
- the kernel time (``elapsed_s``: the trials of every replicate) and the wall time of the
  call, each the best of ``--repeat`` runs, the samplers interleaved so that the machine's
  load moves them alike; and the ratios to plain Monte Carlo.

The first call of each sampler (compiling or loading its kernels) is not timed.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numba

import engine

SAMPLERS = ("mc", "sobol", "lhs")


def run_once(sc: engine.Scenario, sampler: str, trials: int, replicates: int,
             threads: int | None) -> tuple[dict, float]:
    """One run of `sampler`: its figures and the call's wall time."""
    t0 = time.perf_counter()
    if sampler == "mc":
        ds = engine.simulate(sc, trials=trials, threads=threads)
    else:
        ds = engine.quote(sc, trials=trials, sampler=sampler, replicates=replicates,
                          threads=threads)
    wall = time.perf_counter() - t0
    n = int(ds.attrs["trials"])
    p = float(ds["p_cover"])
    out = {"trials": n, "gap_mean": float(ds["gap_mean"]), "p_cover": p,
           "elapsed_s": float(ds.attrs["elapsed_s"])}
    if sampler == "mc":
        out["gap_mean_se"] = float(ds["gap_std"]) / math.sqrt(n)
        out["p_cover_se"] = math.sqrt(p * (1 - p) / n)
    else:
        out["gap_mean_se"] = float(ds["gap_mean_se"])
        out["p_cover_se"] = float(ds["p_cover_se"])
    return out, wall


def measure(config: str | None, trials: int, replicates: int, repeat: int,
            threads: int | None) -> dict:
    """Every sampler's figures, best times of `repeat` interleaved runs, and ratios to MC."""
    sc = engine.load_config(config)
    for s in SAMPLERS:  # compile / load the kernels
        run_once(sc, s, 4096, 4, threads)
    best: dict[str, dict] = {}
    for _ in range(repeat):
        for s in SAMPLERS:
            out, wall = run_once(sc, s, trials, replicates, threads)
            prev = best.get(s)
            out["wall_s"] = wall if prev is None else min(wall, prev["wall_s"])
            out["elapsed_s"] = out["elapsed_s"] if prev is None else \
                min(out["elapsed_s"], prev["elapsed_s"])
            best[s] = out
    mc = best["mc"]
    for s in SAMPLERS[1:]:
        r = best[s]
        r["gap_mean_se_smaller"] = mc["gap_mean_se"] / r["gap_mean_se"]
        r["p_cover_se_smaller"] = mc["p_cover_se"] / r["p_cover_se"]
        r["kernel_time_ratio"] = r["elapsed_s"] / mc["elapsed_s"]
        r["wall_time_ratio"] = r["wall_s"] / mc["wall_s"]
    return {"config": sc.source, "trials": trials, "replicates": replicates,
            "threads": numba.get_num_threads(), "repeat": repeat, "samplers": best}


def format_text(res: dict) -> str:
    """The measurements as a table."""
    rows = [("mean gap ($B/yr)", "gap_mean", "{:.3f}"),
            ("SE of the mean gap", "gap_mean_se", "{:.3g}"),
            ("  x smaller than MC", "gap_mean_se_smaller", "{:.0f}"),
            ("P(cover)", "p_cover", "{:.4%}"),
            ("SE of P(cover)", "p_cover_se", "{:.2g}"),
            ("  x smaller than MC", "p_cover_se_smaller", "{:.2f}"),
            ("kernel time (s)", "elapsed_s", "{:.3f}"),
            ("  x plain MC's", "kernel_time_ratio", "{:.2f}"),
            ("wall time (s)", "wall_s", "{:.3f}"),
            ("  x plain MC's", "wall_time_ratio", "{:.2f}")]
    head = (f"{res['config']}: {res['trials']:,} trials ({res['replicates']} replicates for "
            f"sobol and lhs), {res['threads']} threads, best of {res['repeat']}")
    lines = [head,
             f"{'':<22}" + "".join(f"{s:>12}" for s in SAMPLERS)]
    for label, key, form in rows:
        cells = [form.format(res["samplers"][s][key]) if key in res["samplers"][s] else ""
                 for s in SAMPLERS]
        lines.append(f"{label:<22}" + "".join(f"{c:>12}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", nargs="?", help="scenario (default: the bundled ai-capex-2024)")
    ap.add_argument("--trials", type=int, default=2**20)
    ap.add_argument("--replicates", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = measure(args.config, args.trials, args.replicates, args.repeat, args.threads)
    print(json.dumps(res, indent=1) if args.json else format_text(res))


if __name__ == "__main__":
    main()
