"""`capexgap bench`: the engine against NumPy and against the random-number floor, in one run.

Everything a speed claim needs, measured in the same process, minutes apart at most:

- **engine**: :func:`engine.core.driver.run_plan` (the runner, without building the Dataset)
  on all threads and on one, best of ``repeat`` warm runs (compile excluded, reported apart);
- **numpy_idiomatic**: :func:`engine.analyses.reference.simulate_numpy`, whole arrays, scipy's ppf and
  the model's NumPy reference (what most NumPy users would write), for any model;
- **numpy_careful**: :func:`numpy_careful`, what a careful NumPy user would write: chunks of
  2**16 trials, numpy's fastest bit generator (measured here), preallocated buffers with
  ``out=``, one chunk per thread (NumPy ufuncs and ``Generator.random`` release the GIL); it
  is written for the one-year model only, and other models report it as not measured;
- **floor**: just the uniforms a trial needs (one per random input), with our generator
  (``engine.core.rng.fill_uniforms``) and with numpy's fastest, on one thread and all;
- **breakdown**: the runner's pieces alone, one thread, per sub-block: the sampler's draw,
  the model's block, and the fold (indicator counts, the sampler's weigh, ``reduce_rows``);
- **memory**: peak resident memory of fresh processes at growing trial counts;
- **startup**: fresh ``capexgap`` processes sharing one kernel cache folder, empty at first:
  a quote, then a sweep, a vintage quote and an importance-sampling quote, each cold (what it
  compiles on top of the ones before) and warm.

Timings are wall clock (``time.perf_counter``); the machine's load average is recorded before
and after, because on a shared machine every absolute number moves, while the ratios measured in
one run move much less.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np
from numba import njit

from distributions._jitcache import CACHE
from engine.core.scenario import Scenario
from engine.io.config import loads
from engine.core.driver import resolve_threads, run_plan
from engine.core.reduce import BLOCK, SK_NBINS, padded_rows, reduce_rows, sparse_zeros
from engine.core.runner import SUB, prepare
from engine.core.sampling import plain, set_fixed_columns
from engine.models import make_plan

#: The source checkout (engine/cli/bench.py -> the folder holding engine/ and benchmarks/).
_ROOT = Path(__file__).resolve().parents[2]

#: The speed reference (also ``benchmarks/scenarios/bench-13.toml``; a test keeps
#: the two identical): Cahn's $600B chain with 13 random inputs.
BENCH13 = """\
# The speed reference: Cahn's $600B chain with 13 random inputs.
# Not a forecast: the ranges are round numbers around Cahn's 2024 figures, chosen so that the
# benchmark exercises the common case (lognormals, one uniform, fixed life and rate).

[scenario]
name = "bench-13: the $600B chain, 13 random inputs"
trials = 10_000_000
seed = 13

[inputs]
gpu_spend = { dist = "lognormal", ci90 = [100, 200] }
energy_ratio = { dist = "lognormal", ci90 = [0.6, 1.5] }
margin = { dist = "uniform", min = 0.35, max = 0.65 }
useful_life = 1
cost_of_capital = 0.0

[revenue]
Google = { dist = "lognormal", ci90 = [5, 20] }
Microsoft = { dist = "lognormal", ci90 = [5, 20] }
Apple = { dist = "lognormal", ci90 = [5, 20] }
Meta = { dist = "lognormal", ci90 = [5, 20] }
Oracle = { dist = "lognormal", ci90 = [2.5, 10] }
ByteDance = { dist = "lognormal", ci90 = [2.5, 10] }
Alibaba = { dist = "lognormal", ci90 = [2.5, 10] }
Tencent = { dist = "lognormal", ci90 = [2.5, 10] }
X = { dist = "lognormal", ci90 = [2.5, 10] }
Tesla = { dist = "lognormal", ci90 = [2.5, 10] }
"""

CHUNK = 1 << 16
#: Models that :func:`numpy_careful` implements.
CAREFUL_MODELS = ("one-year",)


def bench13() -> Scenario:
    """The bench-13 scenario."""
    return loads(BENCH13, "<bench-13>")


# ---------------------------------------------------------------------------------------------
# NumPy, the careful way
# ---------------------------------------------------------------------------------------------

_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "SFC64", "Philox", "MT19937")


def fastest_bit_generator(n: int = 1 << 20, repeat: int = 5) -> tuple[str, float]:
    """(name, ns per uniform) of numpy's fastest bit generator for ``Generator.random(out=)``."""
    out = np.empty(n)
    best: tuple[str, float] = ("", float("inf"))
    for name in _BIT_GENERATORS:
        g = np.random.Generator(getattr(np.random, name)(1))
        g.random(out=out)
        t = min(_timed(lambda: g.random(out=out)) for _ in range(repeat))
        if 1e9 * t / n < best[1]:
            best = (name, 1e9 * t / n)
    return best


def _transform(dist, u: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> None:
    """out = dist's quantile function at u, with ufuncs and ``out=`` (no temporaries)."""
    from scipy import special

    p = dict(dist.params)
    f = dist.family
    if f == "lognormal":
        special.ndtri(u, out=out)
        np.multiply(out, p["sigma"], out=out)
        np.add(out, p["mu"], out=out)
        np.exp(out, out=out)
    elif f == "normal":
        special.ndtri(u, out=out)
        np.multiply(out, p["sd"], out=out)
        np.add(out, p["mean"], out=out)
    elif f == "uniform":
        np.multiply(u, p["max"] - p["min"], out=out)
        np.add(out, p["min"], out=out)
    elif f == "triangular":
        lo, mode, hi = p["min"], p["mode"], p["max"]
        fc = (mode - lo) / (hi - lo)
        np.multiply(u, (hi - lo) * (mode - lo), out=out)
        np.sqrt(out, out=out)
        np.add(out, lo, out=out)
        np.subtract(1.0, u, out=tmp)
        np.multiply(tmp, (hi - lo) * (hi - mode), out=tmp)
        np.sqrt(tmp, out=tmp)
        np.subtract(hi, tmp, out=tmp)
        np.copyto(out, tmp, where=u >= fc)
    else:  # beta, pert, truncnormal: scipy's own ppf (allocates)
        out[:] = dist.scipy().ppf(u)


def numpy_careful(scenario: Scenario, trials: int, seed: int, *, threads: int,
                  bit_generator: str = "SFC64", chunk: int = CHUNK) -> dict[str, object]:
    """The one-year model in NumPy, written for speed: P(cover), the gap's mean and quantiles.

    Chunks of ``chunk`` trials, one ``Generator`` per chunk (spawned from one SeedSequence, so
    the result does not depend on the thread count), every buffer preallocated per thread and
    reused with ``out=``; chunks run on ``threads`` threads (ufuncs release the GIL). The gap of
    every trial is kept (8 bytes a trial) for exact quantiles.
    """
    inputs = list(scenario.all_inputs)
    fixed = {i.name: float(i.dist.params[0][1]) for i in inputs if i.dist.is_fixed}
    random_inputs = [i for i in inputs if not i.dist.is_fixed]
    n_chunks = -(-trials // chunk)
    seeds = np.random.SeedSequence(seed).spawn(n_chunks)
    gap = np.empty(trials)
    hits = np.zeros(n_chunks, dtype=np.int64)
    sums = np.zeros(n_chunks)
    bg = getattr(np.random, bit_generator)
    straight = scenario.depreciation == "straight-line"
    revenue_names = [i.name for i in scenario.revenue]

    def run(worker: int) -> None:
        u = np.empty(chunk)
        tmp = np.empty(chunk)
        cols = {i.name: np.empty(chunk) for i in random_inputs}
        capex = np.empty(chunk)
        rate = np.empty(chunk)
        rev = np.empty(chunk)
        req = np.empty(chunk)
        cover = np.empty(chunk, dtype=bool)
        for c in range(worker, n_chunks, threads):
            m = min(chunk, trials - c * chunk)
            g = np.random.Generator(bg(seeds[c]))
            for item in random_inputs:
                g.random(out=u[:m])
                _transform(item.dist, u[:m], cols[item.name][:m], tmp[:m])

            def x(name: str) -> np.ndarray | float:
                return cols[name][:m] if name in cols else fixed[name]

            np.add(1.0, x("energy_ratio"), out=capex[:m])
            np.multiply(capex[:m], x("gpu_spend"), out=capex[:m])
            r = x("cost_of_capital")
            if straight and isinstance(r, float) and r == 0.0:
                np.divide(1.0, x("useful_life"), out=rate[:m])
            elif straight:
                life = x("useful_life")
                with np.errstate(divide="ignore", invalid="ignore"):
                    np.copyto(rate[:m], np.where(np.equal(r, 0.0), 1.0 / np.asarray(life),
                                                 r / -np.expm1(-np.asarray(life) * np.log1p(r))))
            else:
                np.log(x("perf_per_dollar_gain"), out=rate[:m])
                np.divide(rate[:m], x("generation_years"), out=rate[:m])
                np.add(rate[:m], r, out=rate[:m])
            np.multiply(capex[:m], rate[:m], out=req[:m])
            np.subtract(1.0, x("margin"), out=tmp[:m])
            np.divide(req[:m], tmp[:m], out=req[:m])
            rev[:m] = 0.0
            for name in revenue_names:
                np.add(rev[:m], x(name), out=rev[:m])
            np.greater_equal(rev[:m], req[:m], out=cover[:m])
            hits[c] = np.count_nonzero(cover[:m])
            out = gap[c * chunk:c * chunk + m]
            np.subtract(req[:m], rev[:m], out=out)
            sums[c] = out.sum()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for f in [pool.submit(run, w) for w in range(threads)]:
            f.result()
    levels = (0.05, 0.5, 0.95)
    return {
        "p_cover": float(hits.sum() / trials),
        "gap_mean": float(sums.sum() / trials),
        "gap_quantiles": dict(zip(levels, np.quantile(gap, levels).tolist())),
    }


# ---------------------------------------------------------------------------------------------
# The floor: just the uniforms
# ---------------------------------------------------------------------------------------------


def _ours_uniforms(n_streams: int, trials: int, threads: int) -> float:
    """Seconds to produce ``n_streams`` x ``trials`` uniforms with our generator."""
    from engine.core.rng import _floor_fill

    per = -(-trials // threads)
    per += per % 2

    def work(w: int) -> None:
        first = w * per
        n = max(0, min(per, trials - first))
        if n:
            _floor_fill(np.uint64(1), n_streams, first, n, SUB)

    _floor_fill(np.uint64(1), 1, 0, 1024, SUB)  # compile
    with ThreadPoolExecutor(max_workers=threads) as pool:
        t = time.perf_counter()
        for f in [pool.submit(work, w) for w in range(threads)]:
            f.result()
        return time.perf_counter() - t


def _numpy_uniforms(n_streams: int, trials: int, threads: int, bit_generator: str) -> float:
    """Seconds to produce ``n_streams`` x ``trials`` uniforms with numpy, chunked, ``out=``."""
    bg = getattr(np.random, bit_generator)
    per = -(-trials // threads)

    def work(w: int) -> None:
        g = np.random.Generator(bg(w))
        buf = np.empty(CHUNK)
        n = max(0, min(per, trials - w * per))
        for s in range(0, n, CHUNK):
            m = min(CHUNK, n - s)
            for _ in range(n_streams):
                g.random(out=buf[:m])

    with ThreadPoolExecutor(max_workers=threads) as pool:
        t = time.perf_counter()
        for f in [pool.submit(work, w) for w in range(threads)]:
            f.result()
        return time.perf_counter() - t


# ---------------------------------------------------------------------------------------------
# Per-piece cost (one thread): the sampler's draw, the model's block, the fold
# ---------------------------------------------------------------------------------------------

#: The runner's pieces, in the order a sub-block goes through them (engine.core.runner).
STAGES = ("draw", "model", "reduce")
#: Sub-blocks of real trials that the model and reduce pieces cycle through.
KEEP = 32


@njit(error_model="numpy", nogil=True, cache=CACHE)
def _piece_data(block, draw, codes, params, tables, words, is_random, shift, seed, src, margs,
                work_points, work_rows, n_out, n_cov, n_keep):
    # Trials 0 .. n_keep * SUB - 1 as the runner computes them: each sub-block's input
    # columns, then every point's outputs and indicators.
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    u = np.empty(SUB)
    wscr = np.empty((4, SUB // 2), dtype=np.uint32)
    zb = np.empty(SUB)
    zt = np.empty(SUB)
    idx = np.empty(SUB, dtype=np.int64)
    z0 = np.empty((n_in, SUB))
    logw = np.empty((n_points, SUB))
    xs = np.empty((n_points, n_in, SUB))
    work = np.empty((work_points, max(work_rows, 1), SUB))
    xs_keep = np.empty((n_keep, n_points, n_in, SUB))
    outs_keep = np.zeros((n_keep, n_points, padded_rows(n_out), SUB))
    cover_keep = np.zeros((n_keep, n_points, max(n_cov, 1), SUB), dtype=np.bool_)
    set_fixed_columns(codes, params, tables, is_random, src, xs)
    for k in range(n_keep):
        draw(codes, params, tables, words, is_random, src, shift, seed, k * SUB, SUB, xs, z0,
             logw, u, wscr, zb, zt, idx)
        xs_keep[k] = xs
        for p in range(n_points):
            block(xs_keep[k], src[p], p, SUB, margs, work, outs_keep[k, p], cover_keep[k, p])
    return xs_keep, outs_keep, cover_keep


@njit(error_model="numpy", nogil=True, cache=CACHE)
def _piece(block, draw, weigh, codes, params, tables, words, is_random, shift, seed, src, live,
           margs, work_points, work_rows, n_out, n_cov, n_rows, sketch, xs_keep, outs_keep,
           cover_keep, hist, n_sub, stage):
    # One of the runner's pieces alone over n_sub sub-blocks, with run_chunk's own calls and
    # scratch: stage 0 the sampler's draw (uniforms and quantile transforms of every input),
    # 1 the model's block at every point, 2 the fold (indicator counts, weigh, reduce_rows,
    # the block's counts restarted every BLOCK trials). Stages 1 and 2 cycle through the kept
    # sub-blocks of real trials (_piece_data), so the fold meets real values.
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    n_keep = xs_keep.shape[0]
    u = np.empty(SUB)
    wscr = np.empty((4, SUB // 2), dtype=np.uint32)
    zb = np.empty(SUB)
    zt = np.empty(SUB)
    idx = np.empty(SUB, dtype=np.int64)
    z0 = np.zeros((n_in, SUB))
    logw = np.zeros((n_points, SUB))
    xs = np.empty((n_points, n_in, SUB))
    work = np.empty((work_points, max(work_rows, 1), SUB))
    outs = np.zeros((padded_rows(n_out), SUB))
    cover = np.empty((max(n_cov, 1), SUB), dtype=np.bool_)
    red = np.zeros((padded_rows(n_rows), SUB))
    bins = np.empty((padded_rows(n_rows), SUB), dtype=np.int64)
    st = np.zeros((5, 8))
    acc = np.zeros((n_points, n_rows, 5))
    cnt = np.zeros((n_points, n_rows), dtype=np.int64)
    bad = np.zeros((n_points, n_rows), dtype=np.int64)
    check = 0.0
    if stage == 0:
        set_fixed_columns(codes, params, tables, is_random, src, xs)
        for s in range(n_sub):
            draw(codes, params, tables, words, is_random, src, shift, seed, s * SUB, SUB, xs,
                 z0, logw, u, wscr, zb, zt, idx)
        check = xs[0, n_in - 1, SUB - 1]
    elif stage == 1:
        for s in range(n_sub):
            xk = xs_keep[s % n_keep]
            for p in range(n_points):
                block(xk, src[p], p, SUB, margs, work, outs, cover)
        check = outs[0, SUB - 1]
    else:
        per_block = BLOCK // SUB
        hits = 0
        for s in range(n_sub):
            k = s % n_keep
            if s % per_block == 0:
                cnt[:, :] = 0
                bad[:, :] = 0
            for p in range(n_points):
                cp = cover_keep[k, p]
                for h in range(n_cov):
                    ch = cp[h]
                    for i in range(SUB):
                        hits += ch[i]
                rows = weigh(outs_keep[k, p], cp, SUB, p, logw, z0, shift, is_random, red,
                             n_rows)
                reduce_rows(rows, n_rows, SUB, live[p], acc[p], cnt[p], bad[p], hist[p],
                            sketch, bins, st)
        check = hits + acc[0, 0, 1]
    return check


_piece_data_mem = njit(error_model="numpy", nogil=True)(_piece_data.py_func)
_piece_mem = njit(error_model="numpy", nogil=True)(_piece.py_func)


def breakdown(scenario: Scenario, *, trials: int = 1 << 21, repeat: int = 3) -> dict:
    """ns per trial of each piece of the runner alone, one thread (best of ``repeat``).

    The pieces are the runner's own functions, called as :func:`engine.core.runner.run_chunk`
    calls them on sub-blocks of ``SUB`` trials, by plain Monte Carlo: ``draw`` (the sampler:
    uniforms and quantile transforms), ``model`` (the model's block at every point) and
    ``reduce`` (indicator counts, the sampler's weigh, ``reduce_rows`` with the sketch). Each
    is timed alone over the same number of trials; their sum is close to, not exactly, the
    runner's one-thread cost (run together, the pieces share the caches, and the runner adds
    the block records and the driver's merges).
    """
    plan = make_plan(scenario)
    n_p, n_j = plan.codes.shape
    prep = prepare(plan, plain(n_p, n_j))
    smp = prep.sampler
    cached = getattr(plan.model, "cached", False)
    data_fn = _piece_data if cached else _piece_data_mem
    piece_fn = _piece if cached else _piece_mem
    words = np.ascontiguousarray(plan.streams, dtype=np.uint64)  # purpose 0: the main run's
    seed = np.uint64(1)
    n_out, n_cov = plan.layout.n_outputs, plan.layout.n_covers
    kept = data_fn(plan.model.block, smp.draw, plan.codes, plan.params, plan.tables, words,
                   plan.is_random, smp.shift, seed, prep.src, prep.margs, prep.work_points,
                   prep.work_rows, n_out, n_cov, KEEP)
    hist = sparse_zeros((n_p, prep.n_rows, SK_NBINS))
    n_sub = max(1, trials // SUB)

    def call(n, stage):
        return piece_fn(plan.model.block, smp.draw, smp.weigh, plan.codes, plan.params,
                        plan.tables, words, plan.is_random, smp.shift, seed, prep.src, prep.live,
                        prep.margs, prep.work_points, prep.work_rows, n_out, n_cov, prep.n_rows,
                        smp.sketch, *kept, hist, n, stage)

    res: dict = {}
    for k, name in enumerate(STAGES):
        call(1, k)  # compile (or load the cache) and warm up
        res[name] = 1e9 * min(_timed(lambda k=k: call(n_sub, k)) for _ in range(repeat)) \
            / (n_sub * SUB)
    res["sum"] = sum(res[s] for s in STAGES)
    res["random_inputs"] = int(plan.is_random.sum())
    res["sub_block_trials"] = SUB
    return res


# ---------------------------------------------------------------------------------------------
# Fresh processes: memory and startup
# ---------------------------------------------------------------------------------------------

# The child reads its own high-water mark from /proc (VmHWM, KiB). Not getrusage's ru_maxrss
# where /proc has it: Linux carries ru_maxrss across fork/exec, so a child would report at
# least the peak of this process.
_PEAK = """
import resource, sys, engine
from engine.cli.bench import bench13

def hwm():
    try:
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

sc = bench13() if sys.argv[2] == "-" else engine.load_config(sys.argv[2])
engine.simulate(sc, trials=4096)  # compile / load the cache
base = hwm()
engine.simulate(sc, trials=int(sys.argv[1]))
print(base, hwm())
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(_ROOT)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def peak_rss_mib(trials: int, config: str | None) -> tuple[float, float]:
    """(peak RSS after compiling, peak RSS after the run) of a fresh process, MiB.

    Raises RuntimeError with the process's last words if it fails."""
    done = subprocess.run([sys.executable, "-c", _PEAK, str(trials), config or "-"],
                          check=False, capture_output=True, text=True, env=_env())
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RuntimeError(f"the {trials:,}-trial process exited {done.returncode}: {tail}")
    out = done.stdout.split()
    return int(out[0]) / 1024, int(out[1]) / 1024


def command_wall_s(args: list[str], cache_dir: str) -> float:
    """Wall time of a fresh ``capexgap ARGS --json --quiet`` process whose kernel cache is
    ``cache_dir``. Raises RuntimeError with the command's last words if it fails."""
    env = _env()
    env["CAPEXGAP_CACHE_DIR"] = cache_dir
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "engine", *args, "--json", "--quiet"],
                          check=False, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RuntimeError(f"capexgap {' '.join(args)} exited {done.returncode}: {tail}")
    return wall


def quote_wall_s(trials: int, cache_dir: str) -> float:
    """Wall time of a fresh ``capexgap quote --trials N --json`` (the default scenario)."""
    return command_wall_s(["quote", "--trials", str(trials)], cache_dir)


#: Trials of the later start-up commands (a few waves: the run itself stays small beside the
#: start-up).
FEATURE_TRIALS = 100_000


def startup_commands(quote_trials: int) -> list[tuple[str, list[str]]]:
    """(feature, capexgap arguments) in the order :func:`startup_times` runs them: each later one
    compiles only what it adds to those before it (config paths are the bundled ones)."""
    cfg = _ROOT / "configs"
    n = str(FEATURE_TRIALS)
    return [("quote", ["quote", "--trials", str(quote_trials)]),
            ("sweep", ["sweep", str(cfg / "sweep-margin-life.toml"), "--trials", n]),
            ("vintage quote", ["quote", str(cfg / "vintage-2024-2032.toml"), "--trials", n]),
            ("importance sampling", ["quote", "--method", "importance", "--trials", n])]


def startup_times(quote_trials: int, repeat: int, log=None) -> list[dict]:
    """Cold and warm wall time of each feature's fresh process, in one kernel cache folder.

    The folder (``CAPEXGAP_CACHE_DIR``) starts empty and is shared by the commands of
    :func:`startup_commands`, run one after the other: a command's first run (cold) compiles
    what the commands before it did not, then the best of ``repeat`` more runs (warm) loads it
    all from the cache. So cold minus warm of a later row is what that feature adds.
    A command that fails is reported with its error, the others still run.
    """
    rows = []
    tmp = tempfile.mkdtemp(prefix="capexgap-bench-cache-")
    try:
        for feature, args in startup_commands(quote_trials):
            if log is not None:
                log(f"startup: capexgap {' '.join(Path(a).name for a in args)} ...")
            row: dict = {"feature": feature,
                         "command": "capexgap " + " ".join(Path(a).name if os.sep in a else a
                                                           for a in args)}
            try:
                row["cold_s"] = command_wall_s(args, tmp)
                row["warm_s"] = min(command_wall_s(args, tmp) for _ in range(repeat))
                row["cold_minus_warm_s"] = row["cold_s"] - row["warm_s"]
            except RuntimeError as exc:
                row["error"] = str(exc)
            rows.append(row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


# ---------------------------------------------------------------------------------------------
# The whole run
# ---------------------------------------------------------------------------------------------


def run(config: str | None = None, *, trials: int = 10_000_000, threads: int | None = None,
        repeat: int = 3, numpy_trials: int = 1_000_000, memory: tuple[int, ...] = (
            10**6, 10**7, 10**8), startup: bool = True, quote_trials: int = 10**6,
        log=None) -> dict:
    """Measure everything (see the module docstring) and return one JSON-able dict."""
    from engine.analyses import reference
    from engine.io.config import load_config

    def say(msg: str) -> None:
        if log is not None:
            log(msg)

    sc = bench13() if config is None else load_config(config)
    plan = make_plan(sc)
    n_random = int(plan.is_random.sum())
    all_threads = resolve_threads(threads)
    res: dict = {
        "scenario": sc.name, "config": config or "bench-13", "random_inputs": n_random,
        "trials": trials, "threads": all_threads, "repeat": repeat,
        "machine": _machine(), "load_before": os.getloadavg(),
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "numba": numba.__version__},
        "commit": _commit(),
    }

    say("engine: compiling (or loading the cache) ...")
    t = time.perf_counter()
    run_plan(plan, trials=4096, seed=1, threads=all_threads)
    res["first_call_s"] = time.perf_counter() - t

    def engine_s(th: int) -> float:
        run_plan(plan, trials=min(trials, 1 << 20), seed=1, threads=th)  # warm-up
        return min(_timed(lambda: run_plan(plan, trials=trials, seed=1, threads=th))
                   for _ in range(repeat))

    say(f"engine: {trials:,} trials, {all_threads} threads and 1 thread ...")
    e_all = engine_s(all_threads)
    e_one = engine_s(1)
    resolve_threads(all_threads)
    res["engine"] = {"all_threads_s": e_all, "one_thread_s": e_one,
                     "ns_per_trial_all_threads": 1e9 * e_all / trials,
                     "ns_per_trial_one_thread": 1e9 * e_one / trials,
                     "m_trials_per_s": trials / e_all / 1e6,
                     "thread_speedup": e_one / e_all}

    say("numpy: finding the fastest bit generator ...")
    bg_name, bg_ns = fastest_bit_generator()
    res["numpy_fastest_bit_generator"] = {"name": bg_name, "ns_per_uniform_one_thread": bg_ns}

    say(f"numpy idiomatic: {numpy_trials:,} trials ...")
    reference.simulate_numpy(sc, 10_000, seed=1, source="numpy")
    idiom = min(_timed(lambda: reference.simulate_numpy(sc, numpy_trials, seed=1,
                                                        source="numpy"))
                for _ in range(max(1, repeat - 1)))
    ns_e = 1e9 * e_all / trials
    res["numpy_idiomatic"] = {"trials": numpy_trials, "s": idiom,
                              "ns_per_trial": 1e9 * idiom / numpy_trials}
    res["speedup_vs_numpy_idiomatic"] = res["numpy_idiomatic"]["ns_per_trial"] / ns_e
    if sc.model in CAREFUL_MODELS:
        say(f"numpy careful: {trials:,} trials, {all_threads} threads ...")
        numpy_careful(sc, 1 << 17, 1, threads=all_threads, bit_generator=bg_name)
        careful = min(_timed(lambda: numpy_careful(sc, trials, 1, threads=all_threads,
                                                   bit_generator=bg_name))
                      for _ in range(repeat))
        res["numpy_careful"] = {"trials": trials, "s": careful,
                                "ns_per_trial": 1e9 * careful / trials, "bit_generator": bg_name}
        res["speedup_vs_numpy_careful"] = res["numpy_careful"]["ns_per_trial"] / ns_e
    else:
        res["numpy_careful"] = {"not_measured": f"written for the {', '.join(CAREFUL_MODELS)} "
                                                f"model only; this is the {sc.model} model"}
        res["speedup_vs_numpy_careful"] = None

    say("floor: the uniforms alone ...")
    floor = {}
    for label, th in (("all_threads", all_threads), ("one_thread", 1)):
        ours = min(_ours_uniforms(n_random, trials, th) for _ in range(repeat))
        theirs = min(_numpy_uniforms(n_random, trials, th, bg_name) for _ in range(repeat))
        floor[label] = {"capexgap_ns_per_trial": 1e9 * ours / trials,
                        "numpy_ns_per_trial": 1e9 * theirs / trials}
    floor["capexgap_ns_per_uniform_one_thread"] = (floor["one_thread"]["capexgap_ns_per_trial"]
                                                   / max(n_random, 1))
    floor["engine_over_floor"] = ns_e / floor["all_threads"]["capexgap_ns_per_trial"]
    res["floor"] = floor

    say("breakdown: each piece of the runner alone, one thread ...")
    res["breakdown"] = breakdown(sc, trials=min(trials, 1 << 21), repeat=repeat)
    resolve_threads(all_threads)

    others = {}
    root = _ROOT
    for name, path in (("bench-30", root / "benchmarks" / "scenarios" / "bench-30.toml"),
                       ("default", root / "configs" / "ai-capex-2024.toml")):
        if not path.exists():
            continue
        say(f"engine on {name} ...")
        p2 = make_plan(load_config(path))
        n2 = max(trials // 4, 4096)
        row = {"random_inputs": int(p2.is_random.sum()), "trials": n2}
        for label, th in (("all_threads", all_threads), ("one_thread", 1)):
            run_plan(p2, trials=min(n2, 1 << 20), seed=1, threads=th)
            row[f"ns_per_trial_{label}"] = 1e9 * min(
                _timed(lambda: run_plan(p2, trials=n2, seed=1, threads=th))
                for _ in range(repeat)) / n2
        others[name] = row
    resolve_threads(all_threads)
    res["other_scenarios"] = others

    if memory:
        say(f"memory: fresh processes at {', '.join(f'{n:.0e}' for n in memory)} trials ...")
        try:
            mem = {str(n): peak_rss_mib(n, config) for n in memory}
        except RuntimeError as exc:  # the other measurements still stand
            res["memory"] = {"error": str(exc)}
        else:
            res["memory"] = {"peak_rss_mib": {k: v[1] for k, v in mem.items()},
                             "after_compile_mib": {k: v[0] for k, v in mem.items()}}
            peaks = [v[1] for v in mem.values()]
            res["memory"]["growth"] = peaks[-1] / peaks[0] - 1.0

    if startup:
        say("startup: fresh processes, one kernel cache folder (empty at first), cold and "
            "warm ...")
        rows = startup_times(quote_trials, max(2, repeat), log=say)
        first = rows[0]
        res["startup"] = {"quote_trials": quote_trials, "feature_trials": FEATURE_TRIALS,
                          "features": rows}
        if "error" not in first:  # the quote's own figures, as before
            res["startup"].update(cold_s=first["cold_s"], warm_s=first["warm_s"],
                                  cold_compile_s=first["cold_minus_warm_s"])

    res["load_after"] = os.getloadavg()
    return res


def format_text(res: dict) -> str:
    """A human-readable report of :func:`run`'s result."""
    e = res["engine"]
    lines = [f"{res['scenario']} ({res['random_inputs']} random inputs); {res['trials']:,} "
             f"trials; {res['threads']} threads; {res['machine']['cpu']}",
             f"load average before/after: {_load(res['load_before'])} / "
             f"{_load(res['load_after'])}",
             f"first call (compile or cache load): {res['first_call_s']:.2f} s",
             "",
             f"{'':<34}{'ns/trial':>10}{'vs engine':>11}",
             f"{'engine, ' + str(res['threads']) + ' threads':<34}"
             f"{e['ns_per_trial_all_threads']:>10.1f}{1.0:>10.1f}x",
             f"{'engine, 1 thread':<34}{e['ns_per_trial_one_thread']:>10.1f}"
             f"{e['ns_per_trial_one_thread'] / e['ns_per_trial_all_threads']:>10.1f}x"]
    ns = e["ns_per_trial_all_threads"]
    for key, label in (("numpy_idiomatic", "NumPy idiomatic (whole arrays)"),
                       ("numpy_careful", "NumPy careful (chunks, threads)")):
        if "ns_per_trial" not in res[key]:
            lines.append(f"{label:<34}{'not measured':>21}: {res[key]['not_measured']}")
            continue
        v = res[key]["ns_per_trial"]
        lines.append(f"{label:<34}{v:>10.1f}{v / ns:>10.1f}x")
    f = res["floor"]
    for label, th in (("all_threads", f"{res['threads']} threads"), ("one_thread", "1 thread")):
        lines.append(f"{'floor: our uniforms, ' + th:<34}"
                     f"{f[label]['capexgap_ns_per_trial']:>10.1f}"
                     f"{f[label]['capexgap_ns_per_trial'] / ns:>10.2f}x")
        lines.append(f"{'floor: numpy ' + res['numpy_fastest_bit_generator']['name'] + ', ' + th:<34}"
                     f"{f[label]['numpy_ns_per_trial']:>10.1f}"
                     f"{f[label]['numpy_ns_per_trial'] / ns:>10.2f}x")
    b = res.get("breakdown")
    if b:
        lines.append("")
        lines.append(f"each piece of the runner alone, 1 thread, sub-blocks of "
                     f"{b['sub_block_trials']} trials (ns/trial):")
        lines.append("  " + ", ".join(f"{k} {b[k]:.1f}" for k in STAGES)
                     + f"; sum {b['sum']:.1f}; whole runner {e['ns_per_trial_one_thread']:.1f}")
    for name, row in res.get("other_scenarios", {}).items():
        lines.append(f"engine on {name} ({row['random_inputs']} random inputs): "
                     f"{row['ns_per_trial_all_threads']:.1f} ns/trial, {res['threads']} threads; "
                     f"{row['ns_per_trial_one_thread']:.1f}, 1 thread")
    if "memory" in res:
        lines.append("")
        mem = res["memory"]
        lines.append("peak RSS, fresh process: " + (f"failed: {mem['error']}" if "error" in mem
                                                     else ", ".join(
            f"{int(n):.0e} trials {v:.0f} MiB" for n, v in mem["peak_rss_mib"].items())))
    if "startup" in res:
        lines.append("")
        lines.append("start-up, fresh processes sharing one kernel cache folder (empty at first),"
                     " run top to bottom:")
        rows = res["startup"]["features"]
        w = max(len(r["command"]) for r in rows) + 2
        lines.append(f"  {'command':<{w}}{'cold s':>8}{'warm s':>8}{'cold - warm':>13}")
        for row in rows:
            if "error" in row:
                lines.append(f"  {row['command']:<{w}}failed: {row['error']}")
                continue
            lines.append(f"  {row['command']:<{w}}{row['cold_s']:>8.2f}{row['warm_s']:>8.2f}"
                         f"{row['cold_minus_warm_s']:>13.2f}")
        lines.append("  (cold: the first run in the folder, compiling what the rows above did "
                     "not; warm: best of the runs after it)")
    return "\n".join(lines)


def _commit() -> str | None:
    """The source checkout's git commit (with ``+dirty`` when it has local changes), if any."""
    root = _ROOT
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def _load(avg) -> str:
    return "/".join(f"{x:.2f}" for x in avg)


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "system": platform.system(),
            "max_rss_unit": "KiB" if sys.platform != "darwin" else "B",
            "numba_threads": numba.config.NUMBA_NUM_THREADS,
            "self_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def dumps(res: dict) -> str:
    """JSON text of a result (floats rounded to 4 significant digits)."""
    def rnd(x):
        if isinstance(x, float):
            return float(f"{x:.4g}")
        if isinstance(x, dict):
            return {k: rnd(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [rnd(v) for v in x]
        return x
    return json.dumps(rnd(res), indent=1)
