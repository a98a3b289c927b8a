"""Per-trial cost of each stage of the kernel, one thread: generator, transforms, model,
reductions.

    python benchmarks/breakdown.py [CONFIG ...] [--json]

Each stage is the kernel's own code (the same inlined functions ``run_blocks`` calls), timed
alone over the same sub-blocks: ``generator`` fills the uniforms of every random input;
``transforms`` turns them into input values (``distributions.sample_block``); ``model`` runs
the one-year model; ``reductions`` folds the six outputs into moments, the sketch and the hit
count. Their sum is close to, not exactly, the kernel's one-thread cost (the stages share
caches when fused). Compile time is excluded (one warm-up call).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import engine  # noqa: E402
from distributions import sample_block, sample_u  # noqa: E402
from engine.kernel import N_OUT, SK_NBINS, SUB, _model_block, _reduce_point  # noqa: E402
from engine.plan import make_plan  # noqa: E402
from engine.rng import fill_uniforms, stream_word  # noqa: E402

STAGES = ("generator", "transforms", "model", "reductions")


@njit(error_model="numpy")
def _stages(codes, params, tables, streams, is_random, depreciation, rev0, seed, n_sub,
            stage):
    # n_sub sub-blocks of SUB trials, point 0 only; `stage` selects what is timed, the other
    # stages' inputs are prepared once beforehand.
    n_in = codes.shape[1]
    u = np.empty((n_in, SUB))
    wscr = np.empty((4, SUB // 2), dtype=np.uint32)
    zb = np.empty(SUB)
    zt = np.empty(SUB)
    idx = np.empty(SUB, dtype=np.int64)
    xs = np.empty((1, n_in, SUB))
    outs = np.empty((N_OUT, SUB))
    rate = np.empty(SUB)
    cover = np.empty(SUB, dtype=np.bool_)
    bins = np.empty((N_OUT, SUB), dtype=np.int64)
    acc = np.zeros((N_OUT, 5))
    cnt = np.zeros((1, N_OUT), dtype=np.int64)
    bad = np.zeros((1, N_OUT), dtype=np.int64)
    hist = np.zeros((N_OUT, SK_NBINS), dtype=np.int64)
    rate_fixed = not (is_random[3] or is_random[4] or (depreciation == 1 and is_random[5]))
    words = np.empty(n_in, dtype=np.uint64)
    for j in range(n_in):
        words[j] = stream_word(streams[j], np.uint64(0))
        fill_uniforms(seed, words[j], 0, SUB, u[j], wscr)
        if is_random[j]:
            sample_block(codes[0, j], params[0, j], u[j], SUB, tables, xs[0, j], zb, idx, zt)
        else:
            v = sample_u(codes[0, j], params[0, j], 0.5, tables)
            for i in range(SUB):
                xs[0, j, i] = v
    _model_block(xs, 0, SUB, depreciation, rev0, rate_fixed, outs, cover, rate)
    hits = 0
    for s in range(n_sub):
        s0 = s * SUB
        if stage == 0:
            for j in range(n_in):
                if is_random[j]:
                    fill_uniforms(seed, words[j], s0, SUB, u[j], wscr)
        elif stage == 1:
            for j in range(n_in):
                if is_random[j]:
                    sample_block(codes[0, j], params[0, j], u[j], SUB, tables, xs[0, j], zb,
                                 idx, zt)
        elif stage == 2:
            _model_block(xs, 0, SUB, depreciation, rev0, rate_fixed, outs, cover, rate)
        else:
            for i in range(SUB):
                hits += cover[i]
            _reduce_point(outs, SUB, acc, cnt[0], bad[0], hist, bins)
    return hits + u[0, 0] + xs[0, 0, 0] + outs[0, 0] + acc[0, 1]


def breakdown(config: str | None, *, trials: int = 1 << 21, repeat: int = 5) -> dict:
    """ns per trial of each stage (best of `repeat`), one thread."""
    sc = engine.load_config(config)
    plan = make_plan(sc)
    args = (*plan.kernel_args(), np.uint64(1))
    n_sub = max(1, trials // SUB)
    res = {}
    for k, name in enumerate(STAGES):
        _stages(*args, 1, k)
        best = min(_timed(lambda: _stages(*args, n_sub, k)) for _ in range(repeat))
        res[name] = 1e9 * best / (n_sub * SUB)
    res["sum"] = sum(res[s] for s in STAGES)
    res["random_inputs"] = int(plan.is_random.sum())
    return res


def _timed(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="*", default=[str(ROOT / "benchmarks" / "scenarios" /
                                                        "bench-13.toml")])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    numba.set_num_threads(1)
    out = {Path(c).name: breakdown(c) for c in args.configs}
    if args.json:
        print(json.dumps(out))
        return
    for name, r in out.items():
        print(f"{name} ({r['random_inputs']} random inputs), ns per trial, one thread:")
        for s in (*STAGES, "sum"):
            print(f"  {s:<12}{r[s]:8.1f}")


if __name__ == "__main__":
    main()
