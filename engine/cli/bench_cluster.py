"""``capexgap bench --workers 1,2``: throughput on Dask clusters of growing size, and what a
task costs.

For each worker count N, a local cluster of N worker processes (``--threads`` threads each,
default 1) runs the scenario's plan through :class:`engine.core.distributed.DaskExecutor`,
best of ``repeat`` warm runs. Reported per N: seconds, trials per second, the speed-up over
the first N, and the *overhead share*: the part of the workers' time not spent in the
kernel, ``1 - sum(task kernel seconds) / (wall seconds x slots)`` (scheduling, transfers,
merging on the client, and waiting at the end of waves).

The *per-task overhead* is measured apart, on the largest cluster: waves of one single-block
task per slot, again and again; ``(wall x slots - kernel seconds) / tasks`` is what one task
costs beyond its kernel. ``--scheduler ADDRESS`` measures an existing cluster instead (one
row, its workers as they are).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from engine.base import fmt
from engine.core.driver import run_plan
from engine.core.reduce import BLOCK, N_MOM, SK_NBINS, sparse_zeros

#: Waves of one single-block task per slot, for the per-task overhead.
OVERHEAD_WAVES = 40


def run(config: str | None, *, workers: list[int] | None, scheduler: str | None,
        trials: int, threads: int | None, repeat: int,
        log: Callable[[str], None] | None = None) -> dict:
    """Measure each cluster (module docstring) and return one JSON-able dict."""
    from engine.cli.bench import bench13
    from engine.core.distributed import connect
    from engine.io.config import load_config
    from engine.models import make_plan

    def say(msg: str) -> None:
        if log is not None:
            log(msg)

    sc = bench13() if config is None else load_config(config)
    plan = make_plan(sc)
    res: dict = {"scenario": sc.name, "config": config or "bench-13", "trials": trials,
                 "repeat": repeat, "threads_per_worker": threads or 1, "clusters": []}
    sizes: list[int | None] = [None] if scheduler is not None else list(workers or [1])
    for n in sizes:
        where = scheduler if n is None else f"{n} local worker process(es)"
        say(f"cluster: {where}: starting ...")
        with connect(scheduler=scheduler, workers=n, threads=threads) as ex:
            row = {"workers": ex.n_workers, "slots": ex.slots}
            t = time.perf_counter()
            run_plan(plan, trials=min(trials, 1 << 22), seed=1, executor=ex)  # warm-up
            row["warm_up_s"] = time.perf_counter() - t
            say(f"cluster: {where}: {trials:,} trials x {repeat} ...")
            best = None
            for _ in range(repeat):
                k0, s0 = ex.tasks_done, ex.task_seconds
                t = time.perf_counter()
                run_plan(plan, trials=trials, seed=1, executor=ex)
                wall = time.perf_counter() - t
                if best is None or wall < best[0]:
                    best = (wall, ex.tasks_done - k0, ex.task_seconds - s0)
            wall, tasks, kernel = best
            row.update(s=wall, tasks=tasks, trials_per_s=trials / wall,
                       kernel_s_per_task=kernel / max(tasks, 1),
                       overhead_share=1.0 - kernel / (wall * ex.slots))
            if n == sizes[-1]:
                say(f"cluster: {where}: per-task overhead ({OVERHEAD_WAVES} waves of one-block "
                    "tasks) ...")
                res["per_task_overhead"] = task_overhead(ex, plan)
            res["clusters"].append(row)
    first = res["clusters"][0]["trials_per_s"]
    for row in res["clusters"]:
        row["speedup"] = row["trials_per_s"] / first
    return res


def task_overhead(ex, plan) -> dict:
    """Seconds one task costs beyond its kernel: waves of one single-block task per slot."""
    from engine.core import runner
    from engine.core.sampling import plain

    prep = runner.prepare(plan, plain(plan.n_points, len(plan.names),
                                      copula=plan.cidx.size > 0))
    n_p, n_rows = prep.live.shape
    slots = ex.slots
    blk = np.empty((slots, n_p, n_rows, N_MOM))
    hits = np.empty((slots, n_p, plan.layout.n_covers), dtype=np.int64)
    bad = np.empty((slots, n_p, n_rows), dtype=np.int64)
    hist = sparse_zeros((1, n_p, n_rows, SK_NBINS))
    seed, purpose = np.uint64(1), np.uint64(0)
    n_trials = OVERHEAD_WAVES * slots * BLOCK
    ex.run_blocks(prep, seed, purpose, n_trials, 0, 0, 1, blk, hits, bad, hist)
    k0, s0 = ex.tasks_done, ex.task_seconds
    t = time.perf_counter()
    for w in range(OVERHEAD_WAVES):
        ex.run_blocks(prep, seed, purpose, n_trials, w * slots, slots, 1, blk, hits, bad, hist)
    wall = time.perf_counter() - t
    tasks, kernel = ex.tasks_done - k0, ex.task_seconds - s0
    return {"tasks": tasks, "slots": slots, "wall_s": wall,
            "per_task_s": (wall * slots - kernel) / tasks,
            "kernel_s_per_task": kernel / tasks}


def format_text(res: dict) -> str:
    """The report of :func:`run`."""
    lines = [(f"{res['scenario']}; {res['trials']:,} trials, best of {res['repeat']}; "
             f"{fmt.threads(res['threads_per_worker'])} per worker"),
             "",
             (f"{'workers':>8}{'slots':>7}{'seconds':>10}{'M trials/s':>12}{'speed-up':>10}"
             f"{'tasks':>7}{'overhead':>10}")]
    for row in res["clusters"]:
        lines.append(f"{row['workers']:>8}{row['slots']:>7}{row['s']:>10.2f}"
                     f"{row['trials_per_s'] / 1e6:>12.1f}{row['speedup']:>9.2f}x"
                     f"{row['tasks']:>7}{100 * row['overhead_share']:>9.1f}%")
    o = res.get("per_task_overhead")
    if o:
        lines += ["", (f"per-task overhead: {1e3 * o['per_task_s']:.2f} ms per task beyond its "
                      f"kernel ({o['tasks']} one-block tasks on {o['slots']} slots; kernel "
                      f"{1e3 * o['kernel_s_per_task']:.2f} ms per task)")]
    lines.append("(overhead: the workers' time not spent in the kernel: scheduling, transfers, "
                 "merging, waiting at the end of waves)")
    return "\n".join(lines)
