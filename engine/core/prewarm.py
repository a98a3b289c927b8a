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
cache in use and cold (no ``reduce.fold_binned`` entry; for ``quote --method importance``, the
mixture sampler's kernels are compiled too when the cache has no ``mixture.draw_mixture``),
on a machine with two CPUs or more, and never by a helper itself; ``CAPEXGAP_PREWARM=0`` turns
it off. Its output is discarded, and it is stopped when this process exits.

Dependency rule: numpy, numba, ``distributions`` and :mod:`engine.core` only.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys

from numba import types

#: Set to ``0`` to never start the helper (set in the helper's own environment too).
ENV = "CAPEXGAP_PREWARM"

_PROC: subprocess.Popen | None = None


#: What the helper can compile, and the cache entry (module.function) that says it is there:
#: "plain" the runner's kernels for plain Monte Carlo, "importance" the mixture sampler's.
KINDS = {"plain": "reduce.fold_binned", "importance": "mixture.draw_mixture"}


def cold(kinds=("plain",)) -> tuple[str, ...]:
    """Those of ``kinds`` whose kernels the kernel cache (in use) does not hold yet."""
    from distributions._jitcache import kernel_folder

    folder = kernel_folder()
    if folder is None:  # caching is off: a helper's kernels would die with it
        return ()
    return tuple(k for k in kinds if not any(folder.rglob(f"{KINDS[k]}-*.nbi")))


def start(kinds=("plain",)) -> bool:
    """Start the helper for those of ``kinds`` (:data:`KINDS`) it can help with (module
    docstring); returns whether it was started."""
    global _PROC
    if _PROC is not None or os.environ.get(ENV, "1") == "0" or (os.cpu_count() or 1) < 2:
        return False
    todo = cold(kinds)
    if not todo:
        return False
    try:
        _PROC = subprocess.Popen([sys.executable, "-m", "engine.core.prewarm", *todo],
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


def compile_kernels(kinds=("plain",)) -> None:
    """Compile (or load) the runner's kernels of ``kinds`` (:data:`KINDS`) for the argument
    types every run passes (``sampling.example_arrays``)."""
    from . import mixture, reduce, runner, sampling

    data, src = sampling.example_arrays()
    samplers = {"plain": [(sampling.draw_mc_copula, sampling.weigh_plain, reduce.fold_binned),
                          (sampling.draw_mc, sampling.weigh_plain, reduce.fold_binned)],
                "importance": [(mixture.draw_mixture, mixture.weigh_mixture,
                                reduce.fold_unsketched)]}
    for kind in kinds:
        for draw, weigh, fold in samplers[kind]:
            # last needed first: when the command gets to its run soon (importance sampling
            # after a cached plain pass), it compiles the draw while this compiles the rest
            for ref in reversed(runner.kernel_refs(draw, weigh, fold, data, src)):
                ref.__wrapper_address__()
    sampling.FNS.copula.__wrapper_address__()
    f64, i64 = types.float64, types.int64
    reduce.merge_moments.compile((f64[:, :, ::1], f64[:, :, :, ::1], i64))
    reduce._merge_sketch.compile((i64[:, :, :, ::1], f64[:, :, ::1], i64[:, ::1],
                                  i64[:, :, ::1], types.boolean))


if __name__ == "__main__":
    compile_kernels(tuple(k for k in sys.argv[1:] if k in KINDS) or ("plain",))
