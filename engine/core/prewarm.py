"""The first run's compile, on two CPUs: a second process compiles the runner's kernels.

With an empty kernel cache (the first run after installing or upgrading), a quote compiles two
independent sets of kernels one after the other: the quantile functions its config check uses
(``distributions._blocks``), then the runner's (the sampler's draw and weigh, the fold, the
copula, the merges). They call one another by address (``distributions._pointers.ByAddress``),
so neither needs the other compiled: :func:`start` runs ``python -m engine.core.prewarm`` in
the background to compile the second set into the shared cache while this process loads its
config and compiles the first. This process then finds each kernel in the cache when it needs
it, or, if the helper has not got there yet, compiles it itself (same code, same bits; the one
that finishes second rewrites the same cache entry). Nothing is waited for.

The helper is started only for a command that runs kernels in this process, with the kernel
cache in use and cold (no ``reduce.fold_binned`` entry), on a machine with two CPUs or more,
and never by a helper itself; ``CAPEXGAP_PREWARM=0`` turns it off. Its output is discarded,
and it is stopped when this process exits.

Dependency rule: numpy, numba, ``distributions`` and :mod:`engine.core` only.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys

import numpy as np
from numba import types

#: Set to ``0`` to never start the helper (set in the helper's own environment too).
ENV = "CAPEXGAP_PREWARM"

_PROC: subprocess.Popen | None = None


def cold() -> bool:
    """Whether the kernel cache is in use and holds no runner kernels yet."""
    from distributions._jitcache import kernel_folder

    folder = kernel_folder()
    if folder is None:  # caching is off: a helper's kernels would die with it
        return False
    return not any(folder.rglob("reduce.fold_binned-*.nbi"))


def start() -> bool:
    """Start the helper if it can help (module docstring); returns whether it was started."""
    global _PROC
    if _PROC is not None or os.environ.get(ENV, "1") == "0" or (os.cpu_count() or 1) < 2:
        return False
    if not cold():
        return False
    try:
        _PROC = subprocess.Popen([sys.executable, "-m", "engine.core.prewarm"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env={**os.environ, ENV: "0"})
    except OSError:  # no process to spare: this process compiles everything, as without
        return False
    atexit.register(stop)
    return True


def stop() -> None:
    """Stop the helper if it is still running (at exit: what it has cached stays)."""
    global _PROC
    proc, _PROC = _PROC, None
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def compile_kernels() -> None:
    """Compile (or load) the runner's kernels for plain Monte Carlo, in the order a run asks
    for them, for the argument types every run passes (``runner._exact``)."""
    from . import reduce, runner, sampling

    data = (np.zeros((1, 1), np.int64), np.zeros((1, 1, 1)), np.zeros((1, 1, 1)),
            np.zeros((1, 1), np.uint64), np.zeros(1, np.bool_), np.zeros((1, 1)),
            np.zeros(0, np.int64), np.zeros((1, 0, 0)), np.uint64(0))
    src = np.zeros((1, 1), np.int64)
    for draw in (sampling.draw_mc_copula, sampling.draw_mc):
        for ref in runner.kernel_refs(draw, sampling.weigh_plain, reduce.fold_binned, data, src):
            ref.__wrapper_address__()
        sampling.FNS.copula.__wrapper_address__()
    f64, i64 = types.float64, types.int64
    reduce.merge_moments.compile((f64[:, :, ::1], f64[:, :, :, ::1], i64))
    reduce._merge_sketch.compile((i64[:, :, :, ::1], f64[:, :, ::1], i64[:, ::1],
                                  i64[:, :, ::1], types.boolean))


if __name__ == "__main__":
    compile_kernels()
