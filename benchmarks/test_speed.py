"""Engine vs NumPy vs the random-number floor (the speed reference), with pytest-benchmark.

Compare rows of one run (``--benchmark-group-by=param:scenario``): absolute times move with the
machine's load, ratios much less. ``capexgap bench`` adds memory and fresh-process startup.
"""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np
import pytest

import engine
from engine.analyses import reference
from engine.cli import bench, bench_measure
from engine.models import make_plan
from engine.core.driver import run_plan

SCENARIOS = {
    "bench-13": None,
    "bench-30": str(Path(__file__).parent / "scenarios" / "bench-30.toml"),
    "default": str(Path(__file__).parents[1] / "configs" / "ai-capex-2024.toml"),
}
THREADS = numba.config.NUMBA_NUM_THREADS
OPTS = dict(warmup_rounds=1, rounds=3, iterations=1)  # warm-up: compile never timed


def _scenario(name):
    return bench.bench13() if SCENARIOS[name] is None else engine.load_config(SCENARIOS[name])


@pytest.mark.parametrize("threads", [THREADS, 1], ids=lambda t: f"{t}T")
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_engine(benchmark, scenario, threads, trials):
    plan = make_plan(_scenario(scenario))
    benchmark.extra_info["trials"] = trials
    benchmark.pedantic(run_plan, args=(plan,), kwargs=dict(trials=trials, seed=1,
                                                            threads=threads), **OPTS)


@pytest.mark.parametrize("scenario", ["bench-13"])
def test_numpy_careful(benchmark, scenario, trials):
    sc = _scenario(scenario)
    name, _ = bench.fastest_bit_generator()
    benchmark.extra_info.update(trials=trials, bit_generator=name)
    benchmark.pedantic(bench.numpy_careful, args=(sc, trials, 1),
                       kwargs=dict(threads=THREADS, bit_generator=name), **OPTS)


@pytest.mark.parametrize("scenario", ["bench-13"])
def test_numpy_idiomatic(benchmark, scenario, trials):
    sc = _scenario(scenario)
    n = min(trials, 1_000_000)  # stores every trial
    benchmark.extra_info["trials"] = n
    benchmark.pedantic(reference.simulate_numpy, args=(sc, n), kwargs=dict(seed=1), **OPTS)


@pytest.mark.parametrize("threads", [THREADS, 1], ids=lambda t: f"{t}T")
def test_floor_capexgap_uniforms(benchmark, threads, trials):
    n_random = int(make_plan(bench.bench13()).is_random.sum())
    benchmark.extra_info.update(trials=trials, uniforms_per_trial=n_random)
    benchmark.pedantic(bench_measure._ours_uniforms, args=(n_random, trials, threads), **OPTS)


@pytest.mark.parametrize("threads", [THREADS, 1], ids=lambda t: f"{t}T")
def test_floor_numpy_uniforms(benchmark, threads, trials):
    n_random = int(make_plan(bench.bench13()).is_random.sum())
    name, _ = bench.fastest_bit_generator()
    benchmark.extra_info.update(trials=trials, uniforms_per_trial=n_random, bit_generator=name)
    benchmark.pedantic(bench_measure._numpy_uniforms, args=(n_random, trials, threads, name),
                       **OPTS)


def test_peak_memory_flat(trials):
    # Not a timing: the peak RSS of fresh processes must not grow with the trial count.
    small = bench.peak_rss_mib(trials // 10, None)[1]
    large = bench.peak_rss_mib(trials * 5, None)[1]
    print(f"peak RSS: {trials // 10:,} trials {small:.0f} MiB, {trials * 5:,} trials "
          f"{large:.0f} MiB")
    assert large <= 1.1 * small
    assert np.isfinite(large)
