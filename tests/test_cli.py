"""`capexgap quote`: output contracts and every error path, by its message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main

GOOD = """
[scenario]
name = "small"
trials = 5000
[inputs]
gpu_spend = { dist = "lognormal", ci90 = [100, 200] }
energy_ratio = 1.0
margin = 0.5
[revenue]
Microsoft = { dist = "lognormal", ci90 = [5, 20] }
Google = 10
"""


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract(capsys, configs):
    code, out, err = run(capsys, "quote", str(configs / "sequoia-600b-2024.toml"), "--json",
                         "--trials", "4096")
    assert code == 0, err
    obj = json.loads(out)  # exactly one JSON object
    assert obj["trials"] == 4096 and obj["seed"] == 2024
    assert obj["p_cover"] == 0.0 and obj["p_cover_ci95"][0] == 0.0
    assert 0 < obj["p_cover_ci95"][1] < 1e-3
    assert isinstance(obj["elapsed_s"], float)
    for name in ("gap", "required_revenue", "required_annual_revenue", "ai_revenue",
                 "spend_to_revenue"):
        o = obj["outputs"][name]
        assert {"mean", "std", "quantiles"} <= set(o)
        assert {"0.05", "0.5", "0.95"} <= set(o["quantiles"])
    assert obj["outputs"]["gap"]["quantiles"]["0.5"] == 500.0
    assert obj["outputs"]["required_revenue"]["mean"] == 600.0


def test_text_headline(capsys, write_config):
    code, out, _ = run(capsys, "quote", str(write_config(GOOD)), "--trials", "20000")
    assert code == 0
    assert "P(AI revenue covers the annual cost of AI capex)" in out or "No trial covered" in out
    assert "Gap (required annual revenue - AI revenue): median $" in out
    assert "90% interval" in out and "20,000 trials" in out
    code, out, _ = run(capsys, "quote", str(write_config(GOOD)), "--trials", "20000",
                       "--threads", "1")
    assert code == 0 and " s on 1 thread" in out and "1 threads" not in out


def test_zero_hits_says_so(capsys, configs):
    code, out, _ = run(capsys, "quote", str(configs / "sequoia-200b-2023.toml"))
    assert code == 0
    assert "No trial covered: 0 of 4,096 trials" in out
    assert "one-sided 95% upper bound" in out


def test_out_writes_netcdf_and_refuses_to_overwrite(capsys, write_config, tmp_path):
    cfg = str(write_config(GOOD))
    out = tmp_path / "r.nc"
    assert run(capsys, "quote", cfg, "--out", str(out), "--quiet")[0] == 0
    assert out.stat().st_size > 0
    before = out.read_bytes()
    code, _, err = run(capsys, "quote", cfg, "--out", str(out))
    assert code == 2 and "file exists" in err and "--force" in err
    assert out.read_bytes() == before  # untouched
    assert run(capsys, "quote", cfg, "--out", str(out), "--force")[0] == 0


@pytest.mark.parametrize("text, key, rule", [
    ("[inputs\n", "", "is not valid TOML"),
    (GOOD.replace("margin = 0.5", "margn = 0.5"), "inputs.margn",
     "Did you mean `margin`"),
    (GOOD.replace("margin = 0.5", "margin = 1.0"), "inputs.margin", "must lie in [0, 1)"),
    (GOOD.replace("margin = 0.5", "margin = \"half\""), "inputs.margin", ""),
    (GOOD.replace("energy_ratio = 1.0", "energy_ratio = 1.0\nuseful_life = -2"),
     "inputs.useful_life", "must lie in (0, inf)"),
    (GOOD.replace("ci90 = [100, 200]", "ci90 = [0, 200]"), "inputs.gpu_spend", "> 0"),
    (GOOD.replace("ci90 = [100, 200]", "ci90 = [200, 100]"), "inputs.gpu_spend", ""),
    (GOOD.replace("trials = 5000", "trials = 0"), "scenario.trials", "must be >= 1"),
    (GOOD.replace("trials = 5000", "trials = 1.5"), "scenario.trials", "whole number"),
    (GOOD.replace("gpu_spend = ", "gpu_spend_typo = "), "inputs.gpu_spend",
     "Did you mean `gpu_spend`"),
    (GOOD + "\n[extra]\nx = 1\n", "extra", "unknown table"),
    (GOOD.replace("[revenue]\nMicrosoft = { dist = \"lognormal\", ci90 = [5, 20] }\n"
                  "Google = 10\n", "[revenue]\n"), "revenue", "at least one company"),
    (GOOD.replace("Google = 10", "Google = -1"), "revenue.Google", "must lie in [0, inf)"),
    (GOOD.replace("energy_ratio = 1.0", "energy_ratio = { dist = \"normal\", mean = 1, "
                                        "sd = 0.5 }"),
     "inputs.energy_ratio", "can produce values from"),
    (GOOD.replace("margin = 0.5", "margin = 0.5\ngeneration_years = 2"),
     "inputs.perf_per_dollar_gain", "is required when depreciation is given by GPU"),
    (GOOD.replace("margin = 0.5\n", ""), "inputs.margin", "is required"),
])
def test_config_errors(capsys, write_config, text, key, rule):
    path = write_config(text)
    code, out, err = run(capsys, "quote", str(path))
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert str(path) in err and key in err and rule in err, err


def test_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "quote", str(tmp_path / "nope.toml"))
    assert code == 2 and "nope.toml" in err and "file not found" in err


def test_bad_command_line_values(capsys, write_config):
    cfg = str(write_config(GOOD))
    for argv, msg in [(["--trials", "0"], "must be >= 1"), (["--trials", "abc"], "whole number"),
                      (["--seed", "-1"], "[0, 2**64)"), (["--threads", "0"], "must be >= 1"),
                      (["--threads", "100000"], "at most")]:
        try:
            code = main(["quote", cfg, *argv])
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code
        _, err = capsys.readouterr()
        assert code == 2, argv
        assert msg in err and "Traceback" not in err, (argv, err)


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["quote", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--trials", "--seed", "--threads", "--json", "--out", "--force", "--quiet"):
        assert opt in out


def test_default_scenario_from_any_folder(tmp_path):
    # `capexgap quote` with no config, from a folder with no configs/ in sight: the default
    # scenario comes from the package, not from the working directory.
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-m", "engine", "quote", "--trials", "20000", "--json"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert res.returncode == 0, res.stderr
    obj = json.loads(res.stdout)
    assert obj["trials"] == 20000 and obj["seed"] == 2024
    assert 0.0 <= obj["p_cover"] <= 1.0


def test_a_quote_does_not_import_the_slow_scipy_modules():
    # scipy.stats and scipy.optimize cost ~0.4 s of every fresh process: only the paths that
    # use them import them (exact intervals with few hits,
    # importance sampling's design point). The bundled default quote never does; nor does it
    # import dask.distributed (only --scheduler / --workers do; xarray itself imports dask
    # where it is installed).
    code = ("import sys; from engine.cli import main; rc = main(['quote', '--quiet']); "
            "print(rc, sorted(m for m in ('scipy.stats', 'scipy.optimize', 'distributed', "
            "'engine.core.distributed') "
            "if m in sys.modules), file=sys.stderr)")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.stderr.strip().splitlines()[-1] == "0 []", proc.stderr


def test_the_compile_note_counts_each_compile_of_the_command_once():
    # The text's "(plus N s to compile ...)" is what the command waited for compiles: a
    # compile nested in another (a callee compiled for its caller) is counted once, so the
    # count never exceeds the wall time of the call that compiled; the result's own compile_s
    # is left as the run measured it.
    import time

    import xarray as xr
    from numba import njit

    from engine.cli import common

    @njit
    def callee(x):
        return x + 1

    @njit
    def caller(x):
        return callee(x) * 2

    common.start_compile_clock()
    t0 = time.perf_counter()
    assert caller(1) == 4  # compiles caller, and callee inside it
    wall = time.perf_counter() - t0
    ds = xr.Dataset(attrs={"compile_s": 0.0})
    shown = common.with_command_compile(ds)
    assert 0.0 < shown.attrs["compile_s"] <= round(wall, 3) + 0.001
    assert ds.attrs["compile_s"] == 0.0
