"""Interrupts, time limits, output files and numeric edges: nothing silent, nothing half-written.

- SIGINT / SIGTERM sent to a real ``capexgap quote`` mid-run: it exits within 2 s, says how many
  trials were done, and leaves no file (with ``--keep-partial``: a file with completed = 0);
- ``--max-seconds`` stops the same way; a partial result equals a complete run of its trials;
- output files: never overwritten without --force, never left half-written;
- numeric edges (margin near 1, zero revenue, float64 overflow, values beyond the quantile
  sketch): each by its result and by the message that explains it in text, JSON and Dataset.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import queue
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import engine
from engine.base import interrupts
from engine.io import outfile
from engine.cli import main
from engine.base.interrupts import Interrupted, RunStatus, StopRequest, run_stoppable, stop_signals
from engine.core.reduce import BLOCK, SK_EMAX
from engine.models.one_year import OUTPUTS
from engine.models import make_plan
from engine.io.results import summary

from engine.core import driver as sim  # noqa: E402 (the wave driver)

ROOT = Path(__file__).resolve().parents[1]
HUGE_TRIALS = 10**12
# Start the command like an interactive shell would: SIGINT raises KeyboardInterrupt by default
# (a test runner started in the background may hand its children SIGINT ignored).
LAUNCH = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
          "runpy.run_module('engine', run_name='__main__')")
PROGRESS_LINE = re.compile(r"^capexgap: [\d,]+ of [\d,]+ trials")

SMALL = """
[scenario]
name = "edge"
trials = 4096
seed = 3
allow_implausible = ["gpu_spend", "energy_ratio", "margin", "revenue"]  # extremes on purpose
[inputs]
gpu_spend = {gpu}
energy_ratio = {energy}
margin = {margin}
[revenue]
{revenue}
"""


def small_text(gpu='{ dist = "lognormal", ci90 = [100, 200] }', energy="1.0", margin="0.5",
               revenue='A = { dist = "lognormal", ci90 = [5, 20] }'):
    return SMALL.format(gpu=gpu, energy=energy, margin=margin, revenue=revenue)


def small(write_config, **kw):
    return write_config(small_text(**kw))


def quote(capsys, *argv):
    code = main(["quote", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture(scope="module")
def warm():
    """Compile the kernel into the on-disk cache, so subprocesses start in a few seconds."""
    sc = engine.load_config(None)
    engine.simulate(sc, trials=BLOCK)
    return sc


# --------------------------------------------------------------------------- signals, for real

class Command:
    """A `capexgap quote` subprocess whose stderr is read line by line as it comes."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "quote", *args], cwd=cwd, env=env, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.err: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.err.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_progress(self, timeout: float = 240.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            if PROGRESS_LINE.match(line):
                return line
        self.proc.kill()
        self.proc.communicate()
        pytest.fail(f"no progress line from the command; stderr: {''.join(self.err)}")

    def stop_with(self, sig: int) -> float:
        """Send `sig`; return the seconds until the process has exited."""
        t0 = time.perf_counter()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        latency = time.perf_counter() - t0
        self.reader.join(timeout=10)
        self.stdout = self.proc.stdout.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return latency

    @property
    def stderr(self) -> str:
        return "".join(self.err)


def _done_trials(stderr: str, label: str) -> int:
    m = re.search(rf"interrupted by {re.escape(label)} after ([\d,]+) of "
                  rf"{HUGE_TRIALS:,} trials", stderr)
    assert m, stderr
    return int(m.group(1).replace(",", ""))


@pytest.mark.parametrize("sig, label", [(signal.SIGINT, "Ctrl-C (SIGINT)"),
                                        (signal.SIGTERM, "SIGTERM")])
def test_signal_mid_run_stops_fast_and_writes_nothing(tmp_path, warm, measurements, sig, label):
    cmd = Command(tmp_path, "--trials", str(HUGE_TRIALS), "--out", "r.nc", "--progress")
    cmd.wait_for_progress()
    time.sleep(0.3)  # mid-wave, not just after a poll
    latency = cmd.stop_with(sig)
    measurements.append(f"{label} to exit, nothing kept: {latency:.2f} s")
    assert latency < 2.0, cmd.stderr
    assert cmd.proc.returncode == 128 + sig
    err = cmd.stderr
    done = _done_trials(err, label)
    assert 0 < done < HUGE_TRIALS and done % BLOCK == 0
    assert "nothing was written (pass --keep-partial to keep the trials done)" in err
    assert "Traceback" not in err and cmd.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no file, no temporary file


@pytest.mark.parametrize("sig, label", [(signal.SIGINT, "Ctrl-C (SIGINT)"),
                                        (signal.SIGTERM, "SIGTERM")])
def test_signal_mid_run_with_keep_partial(tmp_path, warm, measurements, sig, label):
    cmd = Command(tmp_path, "--trials", str(HUGE_TRIALS), "--out", "r.nc", "--progress",
                  "--keep-partial", "--json")
    cmd.wait_for_progress()
    time.sleep(0.3)
    latency = cmd.stop_with(sig)
    measurements.append(f"{label} to exit, --keep-partial (writes the file): {latency:.2f} s")
    assert latency < 2.0, cmd.stderr
    assert cmd.proc.returncode == 128 + sig
    err = cmd.stderr
    done = _done_trials(err, label)
    assert "the partial result was written to r.nc (completed = 0)" in err
    obj = json.loads(cmd.stdout)
    assert obj["completed"] is False and obj["trials"] == done
    assert obj["trials_requested"] == HUGE_TRIALS and label in obj["stop_reason"]
    assert any(n.startswith("partial result:") for n in obj["notes"])
    ds = engine.open_result(tmp_path / "r.nc")
    assert int(ds.attrs["completed"]) == 0
    assert int(ds.attrs["trials"]) == done
    assert int(ds.attrs["trials_requested"]) == HUGE_TRIALS
    assert ds.attrs["stop_reason"] == f"interrupted by {label}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc"]


def test_signals_restored_and_ignored_ones_respected():
    before = signal.getsignal(signal.SIGTERM)
    with stop_signals():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stop_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)


def test_signal_outside_a_wave_raises_at_once():
    # Before the first wave (e.g. while compiling) there is nothing to keep: stop now.
    with pytest.raises(Interrupted) as exc:
        with stop_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs before this returns
    assert exc.value.signum == signal.SIGTERM and exc.value.exit_code == 143
    assert isinstance(exc.value, KeyboardInterrupt)  # cleanups (the atomic writer's) run


def test_signal_during_a_run_finishes_the_wave_then_a_second_one_raises():
    with stop_signals() as stop:
        stop.armed = True  # as run_stoppable does after the first wave
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert stop() and stop.signum == signal.SIGINT
        assert stop.reason == "interrupted by Ctrl-C (SIGINT)"
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)


# --------------------------------------------------------------------------- stopping, in process

def test_stop_request_latency_in_process(warm, measurements):
    plan = make_plan(warm)
    stop = StopRequest()
    asked = []
    timer = threading.Timer(1.0, lambda: (asked.append(time.perf_counter()),
                                          stop.request("test")))
    timer.start()
    try:
        totals, status = run_stoppable(
            lambda **hooks: sim.run_plan(plan, trials=HUGE_TRIALS, seed=1, **hooks),
            total=HUGE_TRIALS, stop=stop)
    finally:
        timer.cancel()
    latency = time.perf_counter() - asked[0]
    measurements.append(f"should_stop to run_plan's return (wave target "
                        f"{sim.WAVE_SECONDS} s): {latency:.2f} s after {totals.trials:,} trials")
    assert latency < 1.0
    assert not totals.completed and totals.extra["stop_reason"] == "test"
    assert status.done == totals.trials and not status.ok and status.exit_code == 3


def test_wave_sizes_never_change_results(monkeypatch, warm):
    plan = make_plan(warm)
    n = 40 * 16 * BLOCK + 77
    ref = sim.run_plan(plan, trials=n, seed=5)
    monkeypatch.setattr(sim, "WAVE_SECONDS", 1e-9)  # every wave one chunk
    seen = []
    tiny = sim.run_plan(plan, trials=n, seed=5, progress=seen.append)
    assert len(seen) > 20  # really many waves
    for field in ("moments", "hits", "nonfinite", "sketch"):
        np.testing.assert_array_equal(getattr(tiny, field), getattr(ref, field))


def test_next_wave_sizing():
    # 32 blocks took 10 ms: the next wave aims at 0.25 s but grows at most 4x, whole rounds.
    assert sim._next_wave(32, 0.01, 0.25, 16, 32, 1024) == 128
    assert sim._next_wave(128, 0.01, 0.25, 16, 32, 1024) == 512
    assert sim._next_wave(512, 0.01, 0.25, 16, 32, 1024) == 1024  # the buffer's size
    assert sim._next_wave(512, 2.0, 0.25, 16, 32, 1024) == 64     # slow: shrink
    assert sim._next_wave(64, 5.0, 0.25, 16, 32, 1024) == 16      # at least one chunk
    assert sim._next_wave(64, 0.1, -1.0, 16, 32, 1024) == 16      # past a deadline


def test_max_seconds_stops_honestly(capsys, warm, tmp_path):
    out = tmp_path / "r.nc"
    t0 = time.perf_counter()
    code, stdout, err = quote(capsys, "--trials", HUGE_TRIALS, "--max-seconds", 0.5, "--out", out)
    assert time.perf_counter() - t0 < 5.0
    assert code == interrupts.EXIT_TIME_LIMIT == 3
    assert re.search(rf"capexgap: time limit of 0.5 s reached after [\d,]+ of {HUGE_TRIALS:,} "
                     r"trials .*nothing was written", err), err
    assert stdout == "" and list(tmp_path.iterdir()) == []


def test_max_seconds_keep_partial_equals_a_complete_run_of_its_trials(capsys, warm, tmp_path):
    out = tmp_path / "r.nc"
    code, stdout, err = quote(capsys, "--trials", HUGE_TRIALS, "--max-seconds", 0.5, "--out", out,
                              "--keep-partial")
    assert code == 3
    assert "PARTIAL RESULT:" in stdout and "time limit of 0.5 s reached" in stdout
    assert f"the partial result was written to {out} (completed = 0)." in err
    part = engine.open_result(out)
    n = int(part.attrs["trials"])
    assert int(part.attrs["completed"]) == 0 and 0 < n < HUGE_TRIALS
    assert part.attrs["notes"].startswith(f"partial result: {n:,} of {HUGE_TRIALS:,} requested")
    # The trials done are exactly the first n of the run: the same numbers as a complete run.
    full = engine.simulate(warm, trials=n)
    assert int(full.attrs["completed"]) == 1
    xr.testing.assert_equal(part, full)  # values and coordinates (attributes differ)


# --------------------------------------------------------------------------- output files

def test_existing_output_untouched_without_force(capsys, write_config, tmp_path):
    cfg = small(write_config)
    out = tmp_path / "r.nc"
    out.write_bytes(b"precious")
    before = out.stat()
    t0 = time.perf_counter()
    code, stdout, err = quote(capsys, cfg, "--trials", HUGE_TRIALS, "--out", out)
    assert time.perf_counter() - t0 < 10  # refused before any work (the run would take days)
    assert code == 2 and stdout == ""
    assert f"capexgap: error: {out}: file exists; nothing was run. Pass --force" in err
    assert out.read_bytes() == b"precious" and out.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc", "scenario.toml"]
    assert quote(capsys, cfg, "--out", out, "--force")[0] == 0
    assert int(engine.open_result(out).attrs["completed"]) == 1


def test_failed_write_leaves_nothing(capsys, write_config, tmp_path, monkeypatch):
    real_write = os.write

    def disk_full(fd, data):  # the temporary file gets a few bytes, then the disk is full
        real_write(fd, bytes(data[:4]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outfile.os, "write", disk_full)
    out = tmp_path / "r.nc"
    code, stdout, err = quote(capsys, small(write_config), "--out", out)
    assert code == 2 and stdout == ""
    assert f"{out}: could not be written (No space left on device); nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.toml"]


def test_signal_while_writing_leaves_nothing(capsys, write_config, tmp_path, monkeypatch):
    real_write = os.write

    def interrupted(fd, data):
        real_write(fd, bytes(data[:4]))
        raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(outfile.os, "write", interrupted)
    code, stdout, err = quote(capsys, small(write_config), "--out", tmp_path / "r.nc")
    assert code == 143 and stdout == ""
    assert "capexgap: interrupted by SIGTERM; nothing was written." in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.toml"]


# --------------------------------------------------------------------------- the terminal

def test_progress_bar_with_eta_on_a_terminal(tmp_path, warm):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "engine", "quote", "--trials",
                             str(HUGE_TRIALS), "--max-seconds", "3.5"], cwd=tmp_path, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    tty = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 3, tty
    # tqdm: "12.6M/1.00T [00:02<21:03:20, 13.2Mtrial/s]": count, elapsed < ETA, rate
    assert re.search(r"/1\.00T \[\d\d:\d\d<[\d:]+, +[\d.]+[kMG]?trial/s\]", tty), tty
    assert "time limit of 3.5 s reached" in tty


def test_quiet_when_not_a_terminal(capsys, write_config):
    code, out, err = quote(capsys, small(write_config), "--trials", 5 * BLOCK)
    assert code == 0 and err == ""


def test_help_documents_exit_codes_and_stopping(capsys):
    with pytest.raises(SystemExit):
        main(["quote", "--help"])
    text = capsys.readouterr().out
    for needle in ("--keep-partial", "--max-seconds", "--progress", "0    every trial ran",
                   "2    bad input", "3    stopped by --max-seconds", "130  interrupted by "
                   "Ctrl-C (SIGINT); 143: by SIGTERM", "completed = 0"):
        assert needle in text, needle


def test_run_status_messages():
    st = RunStatus(total=10**9, done=12_582_912, reason="interrupted by SIGTERM",
                   signum=signal.SIGTERM, elapsed_s=1.26)
    assert st.message() == ("interrupted by SIGTERM after 12,582,912 of 1,000,000,000 trials "
                            "(1.26%) in 1.3 s")
    assert not st.ok and st.exit_code == 143
    assert RunStatus(total=5, done=5, reason=None, signum=None, elapsed_s=0).exit_code == 0


# --------------------------------------------------------------------------- numeric edges

def _check_explained(ds) -> dict:
    """NaN/inf only with a note, in Dataset, JSON and text; returns the JSON object."""
    for name, var in ds.data_vars.items():
        if var.dtype.kind == "f" and not np.isfinite(var.values).all():
            assert var.attrs.get("note"), name
    obj = summary(ds)
    json.dumps(obj, allow_nan=False)
    return obj


def test_margin_near_one_beyond_the_sketch(capsys, write_config):
    # keep = 1 - m = 1.1e-16: required revenue ~ 2.7e18 $B, far beyond the sketch's 2**44.
    cfg = small(write_config, margin="0.9999999999999999")
    ds = engine.simulate(engine.load_config(cfg))
    tr = engine.trace(engine.load_config(cfg), 0, 4096, seed=3)
    assert float(ds["p_cover"]) == 0.0
    assert int(ds["required_revenue_beyond_sketch"]) == 4096
    assert float(ds["required_revenue_mean"]) == pytest.approx(
        float(tr["required_revenue"].mean()), rel=1e-12)
    assert np.isnan(ds["required_revenue_quantile"].values).all()
    note = ds["required_revenue_quantile"].attrs["note"]
    assert "beyond the quantile sketch's range" in note and "n/a" in note
    obj = _check_explained(ds)
    rr = obj["outputs"]["required_revenue"]
    assert rr["quantiles"]["0.5"] is None and rr["beyond_sketch_trials"] == 4096
    assert rr["mean"] == pytest.approx(float(tr["required_revenue"].mean()), rel=1e-12)
    code, out, _ = quote(capsys, cfg)
    assert code == 0
    assert re.search(r"required_revenue +2\.\d+e\+18 +n/a +n/a +n/a", out), out
    assert "note: required_revenue is beyond the quantile sketch's range" in out


def test_margin_near_one_within_range_is_ordinary(write_config):
    ds = engine.simulate(engine.load_config(small(write_config, margin="0.999999999")))
    assert ds.attrs["notes"] == ""
    assert np.isfinite(ds["required_revenue_quantile"].values).all()
    assert 1e11 < float(ds["required_revenue_quantile"].sel(quantile=0.5)) < 1e12


def test_margin_of_one_is_refused(capsys, write_config):
    for margin in ("1.0", '{ dist = "uniform", min = 0.5, max = 1.0 }'):
        code, out, err = quote(capsys, small(write_config, margin=margin))
        assert code == 2 and "inputs.margin: must lie in [0, 1)" in err


def test_zero_revenue_counts_infinite_ratio(capsys, write_config):
    cfg = small(write_config, revenue="A = 0\nB = 0")
    ds = engine.simulate(engine.load_config(cfg))
    assert int(ds["spend_to_revenue_nonfinite"]) == 4096
    assert np.isnan(float(ds["spend_to_revenue_mean"]))
    note = ds["spend_to_revenue_mean"].attrs["note"]
    assert "AI revenue is 0 in every trial, so GPU spend / AI revenue is +inf" in note
    assert "no finite value" in note and "spend_to_revenue is not finite in 4,096" in \
        ds.attrs["notes"]
    assert float(ds["p_cover"]) == 0.0 and float(ds["gap_mean"]) > 0
    obj = _check_explained(ds)
    s2r = obj["outputs"]["spend_to_revenue"]
    assert s2r["mean"] is None and s2r["nonfinite_trials"] == 4096
    assert any("AI revenue is 0" in n for n in s2r["notes"])
    code, out, _ = quote(capsys, cfg)
    assert re.search(r"spend_to_revenue \(ratio\) +n/a +n/a +n/a +n/a", out), out
    assert "note: spend_to_revenue is not finite in 4,096 of 4,096 trials (AI revenue is 0" in out


def test_some_zero_revenue_trials_are_counted_not_averaged(write_config):
    # exp(-720 + 30 z) is 0 in ~20% of the trials, so small that G / it overflows in ~50%
    # more, and ordinary (if tiny) in the rest.
    cfg = small(write_config, revenue='A = { dist = "lognormal", mu = -720, sigma = 30 }')
    sc = engine.load_config(cfg)
    ds = engine.simulate(sc)
    v = engine.trace(sc, 0, 4096, seed=3)["spend_to_revenue"].values
    bad = int((~np.isfinite(v)).sum())
    assert 0 < bad < 4096 and int(ds["spend_to_revenue_nonfinite"]) == bad
    assert math.isfinite(float(ds["spend_to_revenue_max"]))
    assert "+inf where AI revenue is 0" in ds.attrs["notes"]
    _check_explained(ds)


def test_lognormal_tail_overflowing_float64_is_refused_at_load(capsys, write_config):
    cfg = small(write_config, gpu='{ dist = "lognormal", mu = 0, sigma = 100 }')
    code, out, err = quote(capsys, cfg)
    assert code == 2 and out == ""
    assert "inputs.gpu_spend: must lie in [0, inf)" in err
    assert "its tail overflows float64's largest number" in err


def test_overflow_in_the_model_is_counted_and_explained(capsys, write_config):
    # Every draw is finite, but G (1 + k) overflows with k = 1e300 when G > 1.8e8.
    cfg = small(write_config, gpu='{ dist = "lognormal", mu = 0, sigma = 80 }',
                energy="1e300")
    sc = engine.load_config(cfg)
    ds = engine.simulate(sc)
    tr = engine.trace(sc, 0, 4096, seed=3)
    for name in OUTPUTS:
        assert int(ds[f"{name}_nonfinite"]) == int((~np.isfinite(tr[name].values)).sum())
    bad = int(ds["capex_nonfinite"])
    assert 500 < bad < 3500
    assert f"capex is not finite in {bad:,} of 4,096 trials (float64 overflow" in ds.attrs["notes"]
    assert "p_cover: float64 overflows make the required annual revenue in" in ds.attrs["notes"]
    assert ds["p_cover"].attrs["note"]
    obj = _check_explained(ds)
    assert obj["outputs"]["capex"]["nonfinite_trials"] == bad
    code, out, _ = quote(capsys, cfg)
    assert code == 0 and "nan" not in out.replace("NaN", "")
    assert "note: capex is not finite in" in out


def test_moments_overflowing_are_explained(write_config):
    # Values around 1e130 to 1e220: finite, but their squares overflow float64.
    cfg = small(write_config, gpu='{ dist = "lognormal", mu = 400, sigma = 30 }')
    ds = engine.simulate(engine.load_config(cfg))
    assert int(ds["capex_nonfinite"]) == 0
    assert not math.isfinite(float(ds["capex_std"]))
    assert "the std of capex overflows float64" in ds["capex_std"].attrs["note"]
    _check_explained(ds)


def test_values_beyond_the_sketch_are_counted(capsys, write_config):
    cfg = small(write_config, gpu='{ dist = "lognormal", ci90 = [1e11, 1e14] }')
    sc = engine.load_config(cfg)
    ds = engine.simulate(sc)
    tr = engine.trace(sc, 0, 4096, seed=3)
    for name in OUTPUTS:
        v = tr[name].values
        assert int(ds[f"{name}_beyond_sketch"]) == int((abs(v) >= 2.0**SK_EMAX).sum()), name
    beyond = int(ds["capex_beyond_sketch"])
    assert 0 < beyond < 4096
    q = ds["capex_quantile"]
    exact = np.quantile(tr["capex"].values, q["quantile"].values)
    inside = exact < 2.0**SK_EMAX * 0.99
    assert np.isfinite(q.values[inside]).all()
    np.testing.assert_allclose(q.values[inside], exact[inside], rtol=1e-3)
    assert np.isnan(q.values[~inside]).all() and (~inside).any()
    obj = _check_explained(ds)
    assert obj["outputs"]["capex"]["beyond_sketch_trials"] == beyond
    code, out, _ = quote(capsys, cfg)
    assert f"note: capex is beyond the quantile sketch's range (|value| >= 2**44 = 1.76e+13) " \
           f"in {beyond:,} trials; its quantiles at " in out


def test_a_fixed_value_beyond_the_sketch_is_still_exact(write_config):
    ds = engine.simulate(engine.load_config(small(write_config, gpu="1e14")))
    assert int(ds["capex_beyond_sketch"]) == 4096
    assert (ds["capex_quantile"].values == 2e14).all()  # all equal: exact, nothing to explain
    assert "capex" not in ds.attrs["notes"]


@pytest.mark.parametrize("spec, key, rule", [
    ('{ dist = "uniform", min = -1e308, max = 1e308 }', "inputs.gpu_spend",
     "parameters overflow float64"),
    ('{ dist = "beta", mean = 0.5, sd = 1e-300 }', "inputs.gpu_spend",
     "shape parameters must lie in"),
    ('{ dist = "lognormal", mean = 1e-308, sd = 1e308 }', "inputs.gpu_spend",
     "parameters overflow float64"),
])
def test_parameters_that_overflow_are_refused(capsys, write_config, spec, key, rule):
    code, out, err = quote(capsys, small(write_config, gpu=spec))
    assert code == 2 and f"{key}: " in err and rule in err, err


def test_too_many_trials_refused(capsys, write_config):
    code, _, err = quote(capsys, write_config(small_text().replace(
        "trials = 4096", "trials = 18446744073709551616")))
    assert code == 2 and "scenario.trials: must be at most 2**53 (9,007,199,254,740,992)" in err
    with pytest.raises(SystemExit) as exc:
        main(["quote", "--trials", "1e30"])
    assert exc.value.code == 2 and "must be at most 2**53" in capsys.readouterr().err


def test_toml_errors_show_the_offending_line(capsys, write_config):
    cfg = small(write_config, margin="0.5\nmargin = 0.6")
    code, _, err = quote(capsys, cfg)
    assert code == 2 and "Cannot overwrite a value" in err
    assert re.search(r"line \d+ reads 'margin = 0.6'", err), err


def test_odd_key_names_are_shown_quoted(capsys, write_config):
    code, _, err = quote(capsys, small(write_config, revenue='"A" = 1\n"" = 2'))
    assert code == 2 and 'revenue."": company name is empty' in err
    code, _, err = quote(capsys, write_config(small_text() + '\n["\\t"]\nx = 1\n'))
    assert code == 2 and '"\\t": unknown table' in err


def test_sigterm_stops_a_sweep_and_writes_nothing(capsys, tmp_path, measurements):
    # Every command gets the stop handling through main(): a sweep stops after the wave under
    # way (no --keep-partial: its groups of points would hold different trial counts).
    out = tmp_path / "s.nc"
    sent = []

    def terminate():
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGTERM)

    timer = threading.Timer(3.0, terminate)
    timer.start()
    try:
        code, stdout, err = quote_like(capsys, "sweep", ROOT / "configs" / "sweep-margin-life.toml",
                                       "--trials", HUGE_TRIALS, "--out", out)
    finally:
        timer.cancel()
    measurements.append(f"SIGTERM to a sweep's return (in process): "
                        f"{time.perf_counter() - sent[0]:.2f} s")
    assert code == 143 and stdout == ""
    assert re.search(r"capexgap: interrupted by SIGTERM after [\d,]+ of [\d,]+ point-trials; "
                     r"nothing was written\.", err), err
    assert list(tmp_path.iterdir()) == []


def quote_like(capsys, *argv):
    code = main([*map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err
