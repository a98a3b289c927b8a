"""The benchmark: its NumPy baselines answer the engine's question, and `capexgap bench` runs.

Benchmarks are not tests: nothing here asserts a speed. The baselines are held to the engine's
answers within k standard errors (different random numbers), and the command's report to the
fields and rows it promises.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import engine

ROOT = Path(__file__).resolve().parents[1]
VINTAGE = str(ROOT / "configs" / "vintage-2024-2032.toml")


def test_bench13_file_is_the_embedded_scenario():
    from engine.cli.bench import BENCH13

    path = ROOT / "benchmarks" / "scenarios" / "bench-13.toml"
    assert path.read_text(encoding="utf-8") == BENCH13


def test_numpy_baselines_model_the_same_thing():
    # The benchmark's NumPy implementations answer the same question as the engine (different
    # random numbers, so within k standard errors, k = 6).
    from engine.analyses import reference
    from engine.cli import bench

    sc = bench.bench13()
    n = 200_000
    ds = engine.simulate(sc, trials=n, seed=1)
    mean, sd = float(ds["gap_mean"]), float(ds["gap_std"])
    p = float(ds["p_cover"])
    for res in (bench.numpy_careful(sc, n, 7, threads=2, chunk=1 << 14),
                reference.simulate_numpy(sc, n, seed=7, source="numpy")):
        assert abs(res["gap_mean"] - mean) < 6 * sd * math.sqrt(2 / n)
        assert abs(res["p_cover"] - p) < 6 * math.sqrt(2 * p * (1 - p) / n) + 1e-12
        assert abs(res["gap_quantiles"][0.5] - float(ds["gap_quantile"].sel(quantile=0.5))) \
            < 0.05 * sd


def test_numpy_baseline_of_the_vintage_model_models_the_same_thing():
    # The idiomatic baseline runs any model through its NumPy reference: per year, the gap's
    # mean within k = 6 standard errors of the engine's and P(cover) within k = 6 (+ 1e-12).
    from engine.analyses import reference

    sc = engine.load_config(VINTAGE)
    n = 40_000
    ds = engine.simulate(sc, trials=n, seed=1)
    res = reference.simulate_numpy(sc, n, seed=7, source="numpy")
    mean, sd = ds["gap_mean"].values, ds["gap_std"].values
    p = ds["p_cover"].values
    assert len(res["gap_mean"]) == len(res["p_cover"]) == ds.sizes["year"]
    assert np.all(np.abs(np.array(res["gap_mean"]) - mean) < 6 * sd * math.sqrt(2 / n))
    assert np.all(np.abs(np.array(res["p_cover"]) - p)
                  < 6 * np.sqrt(2 * p * (1 - p) / n) + 1e-12)


def test_bench_command_runs(capsys):
    # Plumbing only (benchmarks are not tests: no timing is asserted).
    from engine.cli.bench import STAGES
    from engine.cli import main

    assert main(["bench", "--trials", "8192", "--repeat", "1", "--numpy-trials", "4096",
                 "--memory", "--no-startup", "--json"]) == 0
    import json

    res = json.loads(capsys.readouterr().out)
    assert res["speedup_vs_numpy_idiomatic"] > 0 and res["speedup_vs_numpy_careful"] > 0
    assert "targets" not in res  # measurements only: what to aim for is not the tool's to say
    assert res["engine"]["ns_per_trial_all_threads"] > 0
    assert all(res["breakdown"][s] > 0 for s in STAGES)
    assert "startup" not in res  # --no-startup skips every fresh-process timing


def test_bench_command_runs_on_the_vintage_model(capsys):
    # Any model: the idiomatic NumPy baseline is the model's reference; the careful one is
    # written for the one-year model and says so instead of failing.
    from engine.cli.bench import STAGES, format_text
    from engine.cli import main

    assert main(["bench", VINTAGE, "--trials", "8192", "--repeat", "1", "--numpy-trials",
                 "2048", "--memory", "--no-startup", "--json"]) == 0
    import json

    res = json.loads(capsys.readouterr().out)
    assert res["numpy_idiomatic"]["ns_per_trial"] > 0
    assert res["speedup_vs_numpy_careful"] is None
    assert "one-year" in res["numpy_careful"]["not_measured"]
    assert all(res["breakdown"][s] > 0 for s in STAGES)
    assert "not measured" in format_text(res)


def test_bench_startup_commands_are_valid_and_reported():
    # The start-up rows are real capexgap command lines (the parser accepts them, the configs
    # exist), in the order that makes each row what its feature adds; the text shows every row,
    # a failed one with its error.
    from engine.cli.bench import format_text, startup_commands
    from engine.cli import build_parser

    cmds = startup_commands(1000)
    assert [f for f, _ in cmds] == ["quote", "sweep", "vintage quote", "importance sampling"]
    parser = build_parser()
    for _, args in cmds:
        parser.parse_args([*args, "--json", "--quiet"])
        assert all(Path(a).exists() for a in args if a.endswith(".toml"))
    rows = [{"feature": "quote", "command": "capexgap quote", "cold_s": 9.5, "warm_s": 1.25,
             "cold_minus_warm_s": 8.25},
            {"feature": "sweep", "command": "capexgap sweep x.toml", "error": "exited 2: bad"}]
    res = {"scenario": "s", "random_inputs": 1, "trials": 1, "threads": 1,
           "machine": {"cpu": "c"}, "load_before": (0, 0, 0), "load_after": (0, 0, 0),
           "first_call_s": 0.0,
           "engine": {"ns_per_trial_all_threads": 1.0, "ns_per_trial_one_thread": 1.0},
           "numpy_idiomatic": {"ns_per_trial": 2.0}, "numpy_careful": {"not_measured": "n/a"},
           "numpy_fastest_bit_generator": {"name": "PCG64"},
           "floor": {k: {"capexgap_ns_per_trial": 1.0, "numpy_ns_per_trial": 1.0}
                     for k in ("all_threads", "one_thread")},
           "startup": {"features": rows}}
    text = format_text(res)
    assert "capexgap quote" in text and "9.50" in text and "1.25" in text and "8.25" in text
    assert "failed: exited 2: bad" in text
