"""Hostile sizes and stop signals: every limit is checked before work, and Ctrl-C, SIGTERM and
--max-seconds end the command quickly at any stage with one line on stderr, no traceback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[1]
BASE = (ROOT / "configs" / "ai-capex-2024.toml").read_text(encoding="utf-8")


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", *args]


def _companies(n: int, trials: int = 100_000) -> str:
    """A one-year scenario with n small companies: covering is astronomically rare."""
    lines = ["[scenario]", 'name = "many companies"', f"trials = {trials}", "seed = 1",
             "[inputs]", 'gpu_spend = { dist = "lognormal", ci90 = [120, 180] }',
             "energy_ratio = 1.0", "margin = 0.5", "useful_life = 1", "cost_of_capital = 0.0",
             "[revenue]"]
    lines += [f'c{i} = {{ dist = "lognormal", ci90 = [{60 / n:.6g}, {120 / n:.6g}] }}'
              for i in range(n)]
    return "\n".join(lines) + "\n"


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def _refused_within(seconds: float, capsys, command: str, cfg: Path, out: Path) -> str:
    """`capexgap COMMAND CFG --out OUT` in process: refused (exit 2) within `seconds`, before
    any work, and nothing written. Returns its stderr."""
    t0 = time.perf_counter()
    code = main([command, str(cfg), "--out", str(out)])
    assert time.perf_counter() - t0 < seconds
    assert code == 2
    assert not out.exists()
    return capsys.readouterr().err


def test_huge_grid_refused_fast(tmp_path, capsys):
    cfg = tmp_path / "huge.toml"
    cfg.write_text(BASE + "\n[sweep]\nmargin = { start = 0.1, stop = 0.9, num = 10_000_000_000 }\n"
                   "useful_life = { start = 1, stop = 6, num = 1_000_000 }\n", encoding="utf-8")
    err = _refused_within(5.0, capsys, "sweep", cfg, tmp_path / "out.nc")
    assert "10,000,000,000,000,000 points" in err and "limit of 1,000" in err
    assert "--max-points" in err


def test_max_points_ceiling_refused(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text(BASE + "\n[sweep]\nmargin = [0.3, 0.5]\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(cfg), "--max-points", "1e400"])
    assert exc.value.code == 2
    assert "--max-points" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(cfg), "--max-points", str(10**12)])
    assert exc.value.code == 2
    assert "at most 100,000" in capsys.readouterr().err


def test_tornado_levels_nan_refused(capsys):
    assert main(["tornado", "--levels", "nan", "0.9"]) == 2
    err = capsys.readouterr().err
    assert "levels" in err and "nan" in err and "Traceback" not in err


def test_tornado_size_checked_before_work(tmp_path, capsys):
    out = tmp_path / "t.nc"
    code = main(["tornado", "--max-points", "10", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "more than the limit of 10" in err and "--max-points" in err
    assert not out.exists()


def test_too_many_companies_refused(tmp_path, capsys):
    cfg = tmp_path / "many.toml"
    cfg.write_text(_companies(10_001), encoding="utf-8")
    err = _refused_within(10.0, capsys, "quote", cfg, tmp_path / "q.nc")
    assert "10,001 companies" in err and "limit of 10,000" in err and str(cfg) in err


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "1e400"])
def test_max_memory_must_be_finite_positive(tmp_path, capsys, value):
    cfg = tmp_path / "s.toml"
    cfg.write_text(BASE + "\n[sweep]\nmargin = [0.3, 0.5]\n", encoding="utf-8")
    out = tmp_path / "s.nc"
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(cfg), f"--max-memory={value}", "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--max-memory" in err and value in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("argv", [
    ["quote", "--precision", "inf"], ["quote", "--abs-precision", "nan"],
    ["quote", "--trials", "1e400"], ["quote", "--max-seconds", "inf"],
    ["plot", "x.nc", "-o", "x.png", "--year", "1e9"],
    ["bench", "--repeat", str(10**9)]])
def test_numeric_options_refuse_non_finite(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert argv[-2] in err or argv[1] in err
    assert "Traceback" not in err


def test_sigint_right_after_start(tmp_path):
    out = tmp_path / "q.nc"
    proc = subprocess.Popen(_cmd("quote", "--trials", "1000", "--out", str(out)), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Early: while the command imports its modules (a warm quote takes about a second). Python's
    # own start-up, before any capexgap code runs, is the only window this cannot cover.
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted by Ctrl-C (SIGINT)" in _one_line(err)
    assert not out.exists()


def test_sigterm_during_cold_compile(tmp_path):
    env = dict(os.environ, CAPEXGAP_CACHE_DIR=str(tmp_path / "cache"),
               NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    out = tmp_path / "q.nc"
    proc = subprocess.Popen(_cmd("quote", "--trials", "1000", "--out", str(out)), cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)
    if proc.poll() is not None:  # pragma: no cover - compiled in under 3 s: nothing to test
        pytest.skip("the cold compile finished before the signal")
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 2.0 + 0.5  # the process itself, plus the pipes' wait
    assert proc.returncode == 143
    assert "interrupted by SIGTERM" in _one_line(err)
    assert not out.exists()


def test_half_built_object_after_an_interrupt_prints_nothing(monkeypatch, capsys):
    """The SIGTERM above can land inside an llvmlite object's ``__init__``; its ``__del__``
    then fails as the process winds down (seen once as an AttributeError traceback). After an
    interrupt, such a failure is not printed; before one, it is, as Python prints it."""
    import types

    from engine.base import interrupts

    def lose_one():  # what Python hands the hook for a failing __del__
        error = AttributeError("'PassBuilder' object has no attribute '_as_parameter_'")
        interrupts._unraisable(types.SimpleNamespace(exc_type=AttributeError, exc_value=error,
                                                     exc_traceback=None, err_msg=None,
                                                     object=None))

    shown = []
    monkeypatch.setattr(interrupts, "_python_unraisable", shown.append)
    monkeypatch.setattr(interrupts, "_last_action", "")
    lose_one()
    assert len(shown) == 1  # no interrupt: Python's own hook shows it
    monkeypatch.setattr(interrupts, "_last_action", "raise")
    lose_one()
    assert len(shown) == 1  # after one: the command's single line stands alone
    assert capsys.readouterr().err == ""


def test_max_seconds_bounds_importance_sampling(tmp_path):
    """10,000 companies (the most a config may list): the plain pass, the design-point search
    and the importance-sampled run together need more than --max-seconds 20 here; the process
    stops by 25 s from its start with one clean line, exit 3, nothing written."""
    # Compile (and cache on disk) the kernels this run uses first, so the run's own time is
    # what the limit applies to.
    from engine import loads
    from engine.analyses import precision

    precision.quote(loads(_companies(3, trials=8192), source="few.toml"), method="importance",
                    trials=8192)
    cfg = tmp_path / "many.toml"
    cfg.write_text(_companies(10_000, trials=1_000_000), encoding="utf-8")
    out = tmp_path / "q.nc"
    t0 = time.monotonic()
    proc = subprocess.run(_cmd("quote", str(cfg), "--max-seconds", "20", "--out", str(out)),
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - t0
    assert proc.returncode == 3, proc.stderr
    line = _one_line(proc.stderr)
    assert "time limit of 20 s reached" in line and "nothing was written" in line
    assert wall < 25.0, line
    assert not out.exists()


def test_unreachable_precision_target_does_not_overflow(capsys):
    # (hw / goal) ** 2 overflowed for a target of 1e-300; the run now stops at its trial cap.
    code = main(["quote", "--precision", "1e-300", "--max-trials", "200000"])
    out, err = capsys.readouterr()
    assert code == 4 and "Traceback" not in err
    assert "precision target NOT met" in err and "P(AI revenue covers" in out


def test_no_importance_hit_never_reports_zero_interval(monkeypatch):
    """An importance-sampling run without a usable hit keeps the plain result and says so,
    never P = 0 with the interval [0, 0]."""
    import numpy as np

    from engine import loads
    from engine.analyses import precision
    from engine.models import make_plan

    sc = loads(_companies(10, trials=8192), source="few.toml")
    names = np.asarray(make_plan(sc).names)
    # a shift away from the covering region: less revenue, more spend
    away = np.where([n.startswith("revenue.") for n in names], -5.0, 5.0)

    def no_good_shift(plan, **kwargs):
        return precision.ShiftSearch(away, away, "a shift away from the covering region")

    monkeypatch.setattr(precision, "find_mixture", no_good_shift)
    ds = precision.quote(sc, method="importance", trials=8192)
    lo, hi = (float(v) for v in ds["p_cover_ci95"].values)
    assert ds.attrs.get("method") != "importance"
    assert int(ds["hits"]) == 0 and lo == 0.0 and hi > 0.0
    assert "importance sampling gives no estimate" in ds.attrs["notes"]
