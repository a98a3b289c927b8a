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
  the model's block, and the fold (indicator counts, the sampler's weigh, each row's moments
  and sketch bins);
- **memory**: peak resident memory of fresh processes at growing trial counts;
- **startup**: fresh ``capexgap`` processes sharing one kernel cache folder, empty at first:
  a quote, then a sweep, a vintage quote and an importance-sampling quote, each cold (what it
  compiles on top of the ones before) and warm.

Timings are wall clock (``time.perf_counter``); the machine's load average is recorded before
and after, because on a shared machine every absolute number moves, while the ratios measured in
one run move much less.

This module holds the command's run, its text and JSON; the in-process measurements are
:mod:`engine.cli.bench_measure`, the fresh-process ones :mod:`engine.cli.bench_fresh`
(their public names are re-exported here).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np

from engine.base import fmt
from engine.cli.bench_fresh import (_ROOT, FEATURE_TRIALS, command_wall_s, peak_rss_mib,
                                    quote_wall_s, startup_commands, startup_times)
from engine.cli.bench_measure import (CAREFUL_MODELS, CHUNK, KEEP, STAGES, _numpy_uniforms,
                                      _ours_uniforms, _timed, breakdown, fastest_bit_generator,
                                      numpy_careful, sensitivity_seconds)
from engine.core.scenario import Scenario
from engine.io.config import loads
from engine.core.driver import resolve_threads, run_plan
from engine.models import make_plan

__all__ = [
    "BENCH13", "bench13", "CHUNK", "CAREFUL_MODELS", "fastest_bit_generator", "numpy_careful",
    "STAGES", "KEEP", "breakdown", "peak_rss_mib", "command_wall_s", "quote_wall_s",
    "FEATURE_TRIALS", "startup_commands", "startup_times", "run", "format_text", "dumps",
]

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


def bench13() -> Scenario:
    """The bench-13 scenario."""
    return loads(BENCH13, "<bench-13>")


def bench13_correlated() -> Scenario:
    """bench-13 with every pair of its 13 random inputs correlated (a full 13 x 13 Spearman
    matrix, 0.3 off the diagonal): what the Gaussian copula costs."""
    names = [i.name for i in bench13().all_inputs if not i.dist.is_fixed]
    rows = ", ".join("[" + ", ".join("1.0" if a == b else "0.3" for b in names) + "]"
                     for a in names)
    quoted = ", ".join(f'"{n}"' for n in names)
    text = BENCH13 + f"\n[correlation]\nnames = [{quoted}]\nmatrix = [{rows}]\n"
    return loads(text, "<bench-13 correlated>")


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
    for name, path in (("bench-13 correlated 13x13", None),
                       ("bench-30", root / "benchmarks" / "scenarios" / "bench-30.toml"),
                       ("default", root / "configs" / "ai-capex-2024.toml")):
        if path is not None and not path.exists():
            continue
        say(f"engine on {name} ...")
        p2 = make_plan(bench13_correlated() if path is None else load_config(path))
        n2 = max(trials // 4, 4096)
        row = {"random_inputs": int(p2.is_random.sum()), "trials": n2}
        for label, th in (("all_threads", all_threads), ("one_thread", 1)):
            run_plan(p2, trials=min(n2, 1 << 20), seed=1, threads=th)
            row[f"ns_per_trial_{label}"] = 1e9 * min(
                _timed(lambda: run_plan(p2, trials=n2, seed=1, threads=th))
                for _ in range(repeat)) / n2
        if path is None:  # the copula's cost: against bench-13 itself, the same trials
            run_plan(plan, trials=min(n2, 1 << 20), seed=1, threads=all_threads)
            row["bench13_ns_per_trial_all_threads"] = 1e9 * min(
                _timed(lambda: run_plan(plan, trials=n2, seed=1, threads=all_threads))
                for _ in range(repeat)) / n2
            row["cost_vs_independent"] = (row["ns_per_trial_all_threads"]
                                          / row["bench13_ns_per_trial_all_threads"])
        others[name] = row
    resolve_threads(all_threads)
    res["other_scenarios"] = others

    default = _ROOT / "configs" / "ai-capex-2024.toml"
    if default.exists():
        say("sensitivity: the default scenario, inputs independent ...")
        res["sensitivity"] = sensitivity_seconds(default, threads=all_threads, repeat=repeat)
        resolve_threads(all_threads)

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
             f"trials; {fmt.threads(res['threads'])}; {res['machine']['cpu']}",
             f"load average before/after: {_load(res['load_before'])} / "
             f"{_load(res['load_after'])}",
             f"first call (compile or cache load): {res['first_call_s']:.2f} s",
             "",
             f"{'':<34}{'ns/trial':>10}{'vs engine':>11}",
             f"{'engine, ' + fmt.threads(res['threads']):<34}"
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
    for label, th in (("all_threads", fmt.threads(res["threads"])),
                      ("one_thread", fmt.threads(1))):
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
                     f"{row['ns_per_trial_all_threads']:.1f} ns/trial, "
                     f"{fmt.threads(res['threads'])}; "
                     f"{row['ns_per_trial_one_thread']:.1f}, 1 thread"
                     + (f"; {row['cost_vs_independent']:.2f}x bench-13 independent "
                        f"({row['bench13_ns_per_trial_all_threads']:.1f} ns/trial, same run)"
                        if "cost_vs_independent" in row else ""))
    if "sensitivity" in res:
        s = res["sensitivity"]
        lines.append(f"sensitivity, default scenario (independent, {s['factors']} factors): "
                     f"{s['base_samples']:,} base samples, {s['evaluations']:,} evaluations "
                     f"in {s['warm_s']:.2f} s warm, {fmt.threads(s['threads'])}")
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
