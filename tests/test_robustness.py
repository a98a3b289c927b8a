"""Interrupts, time limits and output files: nothing silent, nothing half-written.

- SIGINT / SIGTERM sent to a real ``capexgap quote`` mid-run: it exits within 2 s, says how many
  trials were done, and leaves no file (with ``--keep-partial``: a file with completed = 0);
- ``--max-seconds`` stops the same way; a partial result equals a complete run of its trials;
- output files: never overwritten without --force, never left half-written.

Numeric edges are in test_robustness_numeric.py.
"""

from __future__ import annotations

import errno
import fcntl
import json
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
from engine.core.reduce import BLOCK
from engine.models import make_plan

from engine.core import driver as sim  # noqa: E402 (the wave driver)
from robustness_cases import quote, small

ROOT = Path(__file__).resolve().parents[1]
HUGE_TRIALS = 10**12
# Start the command like an interactive shell would: SIGINT raises KeyboardInterrupt by default
# (a test runner started in the background may hand its children SIGINT ignored).
LAUNCH = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
          "runpy.run_module('engine', run_name='__main__')")
PROGRESS_LINE = re.compile(r"^capexgap: [\d,]+ of [\d,]+ trials")


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


def _stop_mid_run(tmp_path, measurements, sig, label, kept: str,
                  *args: str) -> tuple[Command, int]:
    """Start a huge `capexgap quote --out r.nc --progress ARGS` and send it `sig` mid-wave: it
    exits within 2 s with status 128 + sig and says how many trials it did (its latency goes to
    the measurements, with `kept`). Returns the command and that number of trials."""
    cmd = Command(tmp_path, "--trials", str(HUGE_TRIALS), "--out", "r.nc", "--progress", *args)
    cmd.wait_for_progress()
    time.sleep(0.3)  # mid-wave, not just after a poll
    latency = cmd.stop_with(sig)
    measurements.append(f"{label} to exit, {kept}: {latency:.2f} s")
    assert latency < 2.0, cmd.stderr
    assert cmd.proc.returncode == 128 + sig
    return cmd, _done_trials(cmd.stderr, label)


SIGNALS = [(signal.SIGINT, "Ctrl-C (SIGINT)"), (signal.SIGTERM, "SIGTERM")]


@pytest.mark.parametrize("sig, label", SIGNALS)
def test_signal_mid_run_stops_fast_and_writes_nothing(tmp_path, warm, measurements, sig, label):
    cmd, done = _stop_mid_run(tmp_path, measurements, sig, label, "nothing kept")
    err = cmd.stderr
    assert 0 < done < HUGE_TRIALS and done % BLOCK == 0
    assert "nothing was written (pass --keep-partial to keep the trials done)" in err
    assert "Traceback" not in err and cmd.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no file, no temporary file


@pytest.mark.parametrize("sig, label", SIGNALS)
def test_signal_mid_run_with_keep_partial(tmp_path, warm, measurements, sig, label):
    cmd, done = _stop_mid_run(tmp_path, measurements, sig, label,
                              "--keep-partial (writes the file)", "--keep-partial", "--json")
    err = cmd.stderr
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
