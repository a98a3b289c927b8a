"""Runs on a Dask cluster give the local run's Dataset, bit for bit (docs/scaling.md).

One local cluster of two single-threaded worker processes serves the module; trial counts are
small, with one block per chunk so that every run is many tasks over several waves. The test
that kills a worker runs last: its worker comes back, but has to load the kernels again.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import xarray as xr

import engine
from engine.core import backend
from engine.core.dataset import strip_run_attrs
from engine.core.reduce import BLOCK

distributed = pytest.importorskip("distributed")

from engine.core.distributed import connect

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "ai-capex-2024.toml"
SWEEP = ROOT / "configs" / "sweep-margin-life.toml"


@pytest.fixture(scope="module")
def executor():
    with connect(workers=2, threads=1) as ex:
        yield ex


def same(a: xr.Dataset, b: xr.Dataset) -> None:
    xr.testing.assert_identical(strip_run_attrs(a), strip_run_attrs(b))


def test_quote_on_two_workers_is_the_local_quote(executor):
    sc = engine.load_config(CONFIG)
    local = engine.quote(sc, trials=150_001, seed=5, threads=1, chunk_size=BLOCK)
    before = executor.tasks_done
    with backend.use(executor):
        ds = engine.quote(sc, trials=150_001, seed=5, threads=1, chunk_size=BLOCK)
    same(local, ds)
    assert ds.attrs["workers"] == 2 and executor.tasks_done - before > 4


def test_sweep_on_two_workers_is_the_local_sweep(executor):
    sc = engine.load_config(SWEEP)
    local = engine.sweep(sc, trials=20_000, seed=3, threads=1, chunk_size=BLOCK)
    with backend.use(executor):
        ds = engine.sweep(sc, trials=20_000, seed=3, threads=1, chunk_size=BLOCK)
    same(local, ds)


def test_precision_run_on_two_workers_is_the_fixed_run_of_its_trials(executor):
    # batches are submitted until the target is met: where it stops depends on the waves (as
    # locally, on timings), and the result is that of a fixed run of the trials it did
    sc = engine.load_config(CONFIG)
    with backend.use(executor):
        ds = engine.quote(sc, abs_precision=0.0005, method="mc", seed=11, chunk_size=BLOCK)
    n = int(ds.attrs["trials"])
    assert int(ds.attrs["precision_met"]) == 1 and n % BLOCK == 0
    fixed = engine.quote(sc, trials=n, method="mc", seed=11, threads=1)
    same(ds, fixed)


def test_sensitivity_on_two_workers_is_the_local_one(executor):
    import dataclasses

    from engine.analyses.sensitivity import sensitivity

    sc = dataclasses.replace(engine.load_config(CONFIG), correlation=None)
    local = sensitivity(sc, base_samples=65_536, seed=3, chunk_size=BLOCK, threads=1)
    with backend.use(executor):
        ds = sensitivity(sc, base_samples=65_536, seed=3, chunk_size=BLOCK, threads=1)
    same(local, ds)


def test_a_stop_mid_wave_keeps_the_leading_blocks(executor):
    # a stop request cancels the wave's tasks in flight: the totals are those of the blocks
    # kept, the first N trials of the run
    from engine.core.driver import run_plan
    from engine.models import make_plan

    plan = make_plan(engine.load_config(CONFIG))
    start = executor.tasks_done

    def stop():  # polled while a wave's tasks are in flight, not only between waves
        return executor.tasks_done - start >= 8

    with backend.use(executor):
        tot = run_plan(plan, trials=4_000_000, seed=2, chunk_size=BLOCK, should_stop=stop)
    assert not tot.completed and 0 < tot.trials < 4_000_000
    local = run_plan(plan, trials=tot.trials, seed=2, chunk_size=BLOCK)
    assert (tot.moments == local.moments).all() and (tot.hits == local.hits).all()
    assert (tot.sketch == local.sketch).all()


def test_without_the_extra_the_flags_exit_2_naming_it(monkeypatch, capsys):
    from engine.cli import main

    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises
    assert main(["quote", "--workers", "2", "--quiet"]) == 2
    assert 'pip install "capexgap[distributed]"' in capsys.readouterr().err


def test_a_scheduler_that_does_not_answer_exits_2(monkeypatch, capsys):
    from engine.cli import main

    monkeypatch.setattr("engine.core.distributed.CONNECT_TIMEOUT_S", 1.0)
    code = main(["quote", "--scheduler", "tcp://127.0.0.1:9", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "tcp://127.0.0.1:9" in err and "dask scheduler" in err, err


def test_solve_with_workers_is_the_local_solve(capsys, monkeypatch):
    # the --workers flag of `solve`: every evaluation of every pass on a local cluster; the
    # JSON holds the answer, its interval and every evaluation (floats as exact reprs)
    import json

    from engine.cli import main
    from engine.core.distributed import DaskExecutor

    waves = []
    real = DaskExecutor.run_blocks

    def spy(self, *args, **kw):
        waves.append(args[5])  # n_blocks (0: the compile-only call)
        return real(self, *args, **kw)

    monkeypatch.setattr(DaskExecutor, "run_blocks", spy)

    args = ["solve", str(CONFIG), "--scale", "revenue", "--p-cover", "0.5", "--trials",
            "20000", "--seed", "3", "--json", "--quiet"]
    assert main(args) == 0
    local = json.loads(capsys.readouterr().out)
    assert main([*args, "--workers", "2"]) == 0
    cluster = json.loads(capsys.readouterr().out)
    for obj in (local, cluster):
        obj.pop("elapsed_s")
    assert local["status"] == "found" and len(local["curve"]) > 10
    assert sum(n > 0 for n in waves) >= 2, waves  # the passes ran on the cluster
    assert cluster == local


def test_ctrl_c_on_a_workers_run_exits_130_promptly(tmp_path):
    # Ctrl-C in a terminal reaches the whole process group, the local cluster's worker
    # processes too: the client alone stops the run (its workers ignore SIGINT), cancels the
    # tasks and says how far it got. The progress lines carry the cluster's tasks and rate.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    launch = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
              "runpy.run_module('engine', run_name='__main__')")  # as an interactive shell
    proc = subprocess.Popen([sys.executable, "-c", launch, "quote", str(CONFIG), "--workers",
                             "2", "--trials", "3000000000", "--progress"], cwd=tmp_path,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first = proc.stderr.readline()  # after the first wave (the cluster is up, compiled)
        assert re.match(r"capexgap: [\d,]+ of 3,000,000,000 trials .*; \d+/\d+ tasks, "
                        r"[\d.e]+ trials/s on 2 workers$", first), first
        time.sleep(0.5)  # mid-wave
        t0 = time.perf_counter()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does
        out, err = proc.communicate(timeout=20)
        latency = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, err
    assert re.search(r"interrupted by Ctrl-C \(SIGINT\) after [\d,]+ of 3,000,000,000 "
                     r"trials .*; nothing was written", err), err
    assert "Traceback" not in err and out == "" and latency < 20, (latency, err)
    print(f"SIGINT to exit: {latency:.2f} s")


_MAIN = """
import numba
import engine.cli  # as the capexgap script: numba (its config) imported before the cluster


def probe():
    import os
    numba.set_num_threads(1)  # launches the worker's numba threads, as a task does
    f = numba.njit(lambda x: x + 1)  # a fresh compile re-reads numba's environment
    return os.environ["NUMBA_NUM_THREADS"], numba.config.NUMBA_NUM_THREADS, f(1)


if __name__ == "__main__":
    from engine.core.distributed import connect
    with connect(workers=1, threads=1) as ex:
        print(ex.client.submit(probe, pure=False).result())
"""


def test_a_worker_takes_its_thread_count_even_when_the_main_module_imports_numba(tmp_path):
    # A local cluster's worker is spawned: it imports the client's main module (the capexgap
    # script imports numba) before the nanny sets NUMBA_NUM_THREADS. The worker then ran on
    # numba's default and its first compile failed ("Cannot set NUMBA_NUM_THREADS ... once
    # the threads have been launched"): every --workers run with a cold kernel cache.
    script = tmp_path / "main.py"
    script.write_text(_MAIN, encoding="utf-8")
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "('1', 1, 2)", res.stdout


def test_a_worker_killed_mid_run_changes_nothing(executor):
    sc = engine.load_config(CONFIG)
    local = engine.quote(sc, trials=3_000_000, seed=8, threads=1)
    pids = executor.client.run(os.getpid)
    out: dict = {}

    def run():
        with backend.use(executor):
            out["ds"] = engine.quote(sc, trials=3_000_000, seed=8, threads=1)

    th = threading.Thread(target=run)
    th.start()
    killed = None
    while th.is_alive() and killed is None:
        for addr, keys in executor.client.processing().items():
            if any("run_task" in str(k) for k in keys) and executor.tasks_done > 2:
                os.kill(pids[addr], signal.SIGKILL)
                killed = addr
                break
        time.sleep(0.01)
    th.join(timeout=120)
    assert killed is not None, "the run ended before a worker could be killed"
    same(local, out["ds"])


def test_quote_on_a_cluster_started_from_the_command_line(tmp_path):
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    assert dask, "the dask command comes with the distributed extra"
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sched_file)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(300):
            if sched_file.exists() and sched_file.stat().st_size:
                break
            time.sleep(0.1)
        import json
        address = json.loads(sched_file.read_text())["address"]
        procs += [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-nanny",
                                    "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL) for _ in range(2)]
        with distributed.Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
        out = tmp_path / "c.nc"
        res = subprocess.run([sys.executable, "-m", "engine", "quote", str(CONFIG), "--trials",
                              "100000", "--seed", "4", "--scheduler", address, "--quiet",
                              "--out", str(out)], env=env, capture_output=True, text=True, check=False,
                             timeout=300)
        assert res.returncode == 0, res.stderr
        ds = engine.open_result(out)
        assert ds.attrs["workers"] == 2
        same(engine.quote(engine.load_config(CONFIG), trials=100_000, seed=4), ds)
    finally:  # the workers first: a worker whose scheduler is gone is slow to close
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
