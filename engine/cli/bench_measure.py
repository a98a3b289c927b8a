"""`capexgap bench`'s in-process measurements: the NumPy baselines, the floor, the breakdown.

:func:`numpy_careful` (the one-year model as a careful NumPy user would write it) and
:func:`fastest_bit_generator`; the floor, just the uniforms a trial needs (``_ours_uniforms``,
``_numpy_uniforms``); :func:`breakdown`, each piece of the runner alone on one thread.
:mod:`engine.cli.bench` runs them and re-exports the public names.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from distributions._jitcache import CACHE
from engine.core.scenario import Scenario
from engine.core.reduce import (BLOCK, SK_NBINS, bin_rows, fold_unsketched, padded_rows,
                                sketch_rows, sparse_zeros)
from engine.core.runner import SUB, _stream_words, chunk_scratch, prepare
from engine.core.sampling import FNS, draw_scratch, plain, set_fixed_columns
from engine.models import make_plan

CHUNK = 1 << 16
#: Models that :func:`numpy_careful` implements.
CAREFUL_MODELS = ("one-year",)


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
def _piece_data(block, draw, fns, codes, params, tables, words, is_random, shift, cidx, chol, seed,
                src, margs,
                work_points, work_rows, n_out, n_cov, n_keep):
    # Trials 0 .. n_keep * SUB - 1 as the runner computes them: each sub-block's input
    # columns, then every point's outputs and indicators.
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    xs, z0, zk, logw, u, wscr, zb, zt, idx = draw_scratch(n_points, n_in, cidx.shape[0], SUB)
    work = np.empty((work_points, max(work_rows, 1), SUB))
    xs_keep = np.empty((n_keep, n_points, n_in, SUB))
    outs_keep = np.zeros((n_keep, n_points, padded_rows(n_out), SUB))
    cover_keep = np.zeros((n_keep, n_points, max(n_cov, 1), SUB), dtype=np.bool_)
    set_fixed_columns(fns, codes, params, tables, is_random, src, xs, u, zb, zt, idx)
    for k in range(n_keep):
        draw(fns, codes, params, tables, words, is_random, src, shift, cidx, chol, seed, k * SUB,
             SUB, xs, z0, zk, logw, u, wscr, zb, zt, idx)
        xs_keep[k] = xs
        for p in range(n_points):
            block(xs_keep[k], src[p], p, SUB, margs, work, outs_keep[k, p], cover_keep[k, p])
    return xs_keep, outs_keep, cover_keep


@njit(error_model="numpy", nogil=True, cache=CACHE)
def _piece(block, draw, weigh, fns, codes, params, tables, words, is_random, shift, cidx, chol,
           seed, src, live, margs, work_points, work_rows, n_out, n_cov, n_rows, sketch, xs_keep,
           outs_keep, cover_keep, hist, n_sub, stage):
    # One of the runner's pieces alone over n_sub sub-blocks, with run_chunk's own calls and
    # scratch: stage 0 the sampler's draw (uniforms and quantile transforms of every input),
    # 1 the model's block at every point, 2 the fold (indicator counts, weigh, bin_rows and
    # sketch_rows, or fold_unsketched, as run_chunk calls them, the block's counts restarted
    # every BLOCK trials).
    # Stages 1 and 2 cycle through the kept sub-blocks of real trials (_piece_data), so the
    # fold meets real values.
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    n_keep = xs_keep.shape[0]
    xs, z0, zk, logw, u, wscr, zb, zt, idx = draw_scratch(n_points, n_in, cidx.shape[0], SUB)
    work, outs, cover, red, st, acc, cnt, bad = chunk_scratch(n_points, n_rows, work_points,
                                                              work_rows, n_out, n_cov, SUB)
    check = 0.0
    if stage == 0:
        set_fixed_columns(fns, codes, params, tables, is_random, src, xs, u, zb, zt, idx)
        for s in range(n_sub):
            draw(fns, codes, params, tables, words, is_random, src, shift, cidx, chol, seed,
                 s * SUB, SUB, xs, z0, zk, logw, u, wscr, zb, zt, idx)
        check = xs[0, n_in - 1, SUB - 1]
    elif stage == 1:
        for s in range(n_sub):
            xk = xs_keep[s % n_keep]
            for p in range(n_points):
                block(xk, src[p], p, SUB, margs, work, outs, cover)
        check = outs[0, SUB - 1]
    else:
        # as run_chunk: with a sketch, bins kept per block and counted when the block ends
        per_block = BLOCK // SUB
        pbins = np.empty((n_points, padded_rows(n_rows) if sketch else 1, BLOCK if sketch else 1),
                         dtype=np.int32)
        hits = 0
        for s in range(n_sub):
            k = s % n_keep
            if s % per_block == 0:
                cnt[:, :] = 0
                bad[:, :] = 0
            off = (s % per_block) * SUB
            for p in range(n_points):
                cp = cover_keep[k, p]
                for h in range(n_cov):
                    ch = cp[h]
                    for i in range(SUB):
                        hits += ch[i]
                rows = weigh(outs_keep[k, p], cp, SUB, p, logw, z0, shift, is_random, red,
                             n_rows)
                if sketch:
                    bin_rows(rows, n_rows, SUB, live[p], acc[p], cnt[p], bad[p], pbins[p], off,
                             st)
                else:
                    fold_unsketched(rows, n_rows, SUB, live[p], acc[p], cnt[p], bad[p], pbins[p],
                                    off, st)
            if sketch and (s % per_block == per_block - 1 or s == n_sub - 1):
                for p in range(n_points):
                    sketch_rows(pbins[p], n_rows, off + SUB, live[p], hist[p])
        check = hits + acc[0, 0, 1]
    return check


_piece_data_mem = njit(error_model="numpy", nogil=True)(_piece_data.py_func)
_piece_mem = njit(error_model="numpy", nogil=True)(_piece.py_func)


def breakdown(scenario: Scenario, *, trials: int = 1 << 21, repeat: int = 3) -> dict:
    """ns per trial of each piece of the runner alone, one thread (best of ``repeat``).

    The pieces are the runner's own functions, called as :func:`engine.core.runner.run_chunk`
    calls them on sub-blocks of ``SUB`` trials, by plain Monte Carlo: ``draw`` (the sampler:
    uniforms and quantile transforms), ``model`` (the model's block at every point) and
    ``reduce`` (indicator counts, the sampler's weigh, ``bin_rows`` and ``sketch_rows``). Each
    is timed alone over the same number of trials; their sum is close to, not exactly, the
    runner's one-thread cost (run together, the pieces share the caches, and the runner adds
    the block records and the driver's merges).
    """
    plan = make_plan(scenario)
    n_p, n_j = plan.codes.shape
    prep = prepare(plan, plain(n_p, n_j, copula=plan.cidx.size > 0))
    smp = prep.sampler
    cached = getattr(plan.model, "cached", False)
    data_fn = _piece_data if cached else _piece_data_mem
    piece_fn = _piece if cached else _piece_mem
    words = _stream_words(plan, 0)  # purpose 0: the main run's
    seed = np.uint64(1)
    n_out, n_cov = plan.layout.n_outputs, plan.layout.n_covers
    kept = data_fn(plan.model.block, smp.draw, FNS, plan.codes, plan.params, plan.tables, words,
                   plan.is_random, smp.shift, plan.cidx, plan.chol, seed, prep.src, prep.margs,
                   prep.work_points, prep.work_rows, n_out, n_cov, KEEP)
    hist = sparse_zeros((n_p, prep.n_rows, SK_NBINS))
    n_sub = max(1, trials // SUB)

    def call(n, stage):
        return piece_fn(plan.model.block, smp.draw, smp.weigh, FNS, plan.codes, plan.params,
                        plan.tables, words, plan.is_random, smp.shift, plan.cidx, plan.chol, seed,
                        prep.src, prep.live,
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


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


#: Base samples of the sensitivity measurement: N (k + 2) evaluations of the default scenario.
SENSITIVITY_BASE_SAMPLES = 1 << 17


def sensitivity_seconds(path, *, threads: int, repeat: int,
                        base_samples: int = SENSITIVITY_BASE_SAMPLES) -> dict:
    """Warm wall time of ``capexgap sensitivity`` on the scenario at ``path`` with every input
    independent (the default four outputs, every input a factor): the best of ``repeat``
    calls after one that compiles or loads the kernel."""
    import dataclasses

    from engine.analyses.sensitivity import sensitivity
    from engine.io.config import load_config

    sc = dataclasses.replace(load_config(path), correlation=None)
    ds = sensitivity(sc, base_samples=base_samples, threads=threads)  # compile, warm up
    best = min(_timed(lambda: sensitivity(sc, base_samples=base_samples, threads=threads))
               for _ in range(repeat))
    return {"base_samples": base_samples, "factors": int(ds.attrs["factors"]),
            "evaluations": int(ds.attrs["evaluations"]), "threads": threads, "warm_s": best}
