"""`capexgap bench`'s fresh-process measurements: peak memory and start-up times.

:func:`peak_rss_mib` (a fresh process's peak resident memory), :func:`command_wall_s` and
:func:`startup_times` (cold and warm ``capexgap`` commands sharing one kernel cache folder).
:mod:`engine.cli.bench` runs them and re-exports the public names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The source checkout (engine/cli/bench_fresh.py -> the folder holding engine/ and
#: benchmarks/).
_ROOT = Path(__file__).resolve().parents[2]


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
