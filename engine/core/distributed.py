"""Running chunks on a Dask cluster: the same blocks, the same bits, on any number of workers.

:class:`DaskExecutor` is an executor (:mod:`engine.core.backend`): for each wave the driver
asks for, it sends one task per range of whole chunks to the cluster (about one per task slot,
a slot being a worker thread). A task (:func:`run_task`) runs those chunks with the same
thread pool and compiled kernel a local run uses (:func:`engine.core.runner.run_blocks`,
without the GIL), on the worker's NUMBA_NUM_THREADS shared among its slots, and returns only
reductions: per-block moment records, hit and non-finite counts, and the sketch
counts it added (sparse), never per-trial arrays. The records land at their block positions
and the driver merges them in block order, so the result is bit-identical to a local run
whatever the worker count, the thread count or the order in which tasks finish.

- The prepared run (plan, sampler, packed arguments) is sent once per worker per run
  (``scatter(..., broadcast=True)``), not once per task. Each worker process compiles the
  kernel once, or loads it from the kernel cache (``distributions._jitcache``).
- Each task is submitted with ``retries``; a task lost with its worker is run again
  elsewhere. A task is a pure function of its block range, so a re-run gives the same bits.
- Waves last about :attr:`DaskExecutor.wave_seconds`, long enough that the per-task cost
  (scheduling, transfer, merging) stays below :data:`OVERHEAD_SHARE`; the wait for a wave
  polls the run's stop request (:data:`POLL_S`), so Ctrl-C cancels the tasks in flight at
  once. The worker processes of a local cluster ignore SIGINT (:func:`dask_setup`): Ctrl-C
  in a terminal reaches the whole process group, and the client alone decides what to stop.
- Progress: :attr:`DaskExecutor.tasks_done`, :attr:`~DaskExecutor.tasks_submitted` and
  :meth:`~DaskExecutor.trials_per_second` count the cluster's work as it comes in;
  :attr:`~DaskExecutor.on_task` is called after each task's result is taken in (the
  command line's progress display refreshes there).

``dask.distributed`` is an optional extra (``pip install "capexgap[distributed]"``); it is
imported here only, when a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import os
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

import numba
import numpy as np

from engine.base.errors import ConfigError
from engine.base.interrupts import StopFn
from engine.core import runner
from engine.core.reduce import BLOCK, M_MAX, M_MIN, M_N, N_MOM, SK_NBINS, sketch_bin, sparse_zeros

#: What the error says when the extra is missing.
EXTRA_HINT = 'pip install "capexgap[distributed]"'
#: The scheduler's time per task when a wave's tasks are submitted together, in seconds
#: (docs/scaling.md): a wave of many tasks costs about this much per task.
TASK_OVERHEAD_S = 1e-3
#: The share of a wave's time that per-task costs may take.
OVERHEAD_SHARE = 0.01
#: The shortest wave: each wave costs one round trip to the workers and back (~2-25 ms
#: measured, docs/scaling.md), so waves of seconds keep it near 1%.
MIN_WAVE_SECONDS = 3.0
#: Seconds to wait for a scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 10.0
#: Times a task is run again after its worker is lost.
RETRIES = 3
#: Seconds between two polls of the stop request while a wave's tasks are in flight.
POLL_S = 0.2


def import_distributed():
    """``distributed``, or a :class:`ConfigError` naming the extra to install."""
    try:
        import distributed
    except ImportError:
        raise ConfigError(None, "--workers/--scheduler", "needs dask.distributed, which is not "
                          "installed", None, f"Install the extra: {EXTRA_HINT}") from None
    return distributed


def dask_setup(worker) -> None:
    """Dask's preload hook, run in each worker process of a local cluster (:func:`connect`):
    ignore SIGINT there, and take the NUMBA_NUM_THREADS the cluster was started with.

    Ctrl-C in a terminal sends SIGINT to the whole foreground process group, the worker
    processes of ``--workers N`` included: they died mid-task (their tasks then failed or
    were re-run) while the client was stopping the run. The client owns the interrupt: it
    cancels the tasks and closes the cluster, which ends the workers.
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The nanny sets the worker's NUMBA_NUM_THREADS after the spawned process has imported the
    # client's main module, numba with it: numba read its default then, launched that many
    # threads at the first task, and its first compile (which re-reads the environment) then
    # failed. Re-read it now, before any thread is launched.
    numba.config.reload_config()


def run_task(prep, seed, purpose, n_trials: int, first_block: int, n_blocks: int,
             chunk_blocks: int) -> tuple:
    """One task: blocks ``first_block .. first_block + n_blocks - 1``, on this worker's share
    of its numba threads (:func:`task_threads`).

    Returns ``(blk, hits, nonfinite, sketch_index, sketch_count, seconds)``: the per-block
    records as :func:`engine.core.runner.run_blocks` fills them, the sketch counts this task
    added as flat indices into int64[P, R, SK_NBINS] with their counts, and the task's time.
    ``n_blocks == 0`` compiles (or loads) the kernel only.
    """
    t0 = time.perf_counter()
    n_p, n_rows = prep.live.shape
    n_cov = prep.plan.layout.n_covers
    blk = np.empty((n_blocks, n_p, n_rows, N_MOM))
    hits = np.empty((n_blocks, n_p, n_cov), dtype=np.int64)
    nonfinite = np.empty((n_blocks, n_p, n_rows), dtype=np.int64)
    threads = task_threads()
    hist = sparse_zeros((threads, n_p, n_rows, SK_NBINS))
    numba.set_num_threads(threads)  # for this (Dask worker) thread only
    runner.run_blocks(prep, seed, purpose, n_trials, first_block, n_blocks, chunk_blocks, blk,
                      hits, nonfinite, hist)
    index, count = _sparse_sketch(prep, blk, hist)
    return blk, hits, nonfinite, index, count, time.perf_counter() - t0


def task_threads() -> int:
    """numba threads for one task: the worker's NUMBA_NUM_THREADS shared among the tasks it
    runs at once (its ``--nthreads``). A worker started with ``--nthreads 1`` and
    NUMBA_NUM_THREADS=16 runs one task at a time on 16 threads: fewer, larger tasks."""
    try:
        from distributed import get_worker
        slots = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):  # not on a Dask worker
        slots = 1
    return max(1, numba.config.NUMBA_NUM_THREADS // max(1, slots))


def _sparse_sketch(prep, blk: np.ndarray, hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nonzero sketch counts of a task: flat indices into [P, R, SK_NBINS] and counts.

    A row's values lie in [min, max] of its block records, so only those bins are read (a
    sketch row is 1 MiB, of which a task touches a few pages); the threads' rows are summed."""
    n = blk.shape[0]
    idx, cnt = [], []
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    seen = blk[:, :, :, M_N] > 0.0
    for p, o in zip(*np.nonzero(prep.live & seen.any(axis=0))):
        lo = float(blk[seen[:, p, o], p, o, M_MIN].min())
        hi = float(blk[seen[:, p, o], p, o, M_MAX].max())
        a, b = sketch_bin(lo), sketch_bin(hi) + 1
        seg = hist[:, p, o, a:b].sum(axis=0)
        nz = np.flatnonzero(seg)
        idx.append((int(p) * hist.shape[2] + int(o)) * SK_NBINS + a + nz)
        cnt.append(seg[nz])
    if not idx:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(idx).astype(np.int64), np.concatenate(cnt)


def _split(first: int, n_blocks: int, chunk_blocks: int, slots: int) -> list[tuple[int, int]]:
    """A wave as tasks ``(first_block, n_blocks)``: about one per slot, in whole chunks."""
    n_chunks = -(-n_blocks // chunk_blocks)
    per_task = -(-n_chunks // max(1, slots)) * chunk_blocks
    return [(first + s, min(per_task, n_blocks - s)) for s in range(0, n_blocks, per_task)]


class DaskExecutor:
    """Run a plan's chunks on the workers of a ``distributed.Client``.

    Parameters
    ----------
    client : distributed.Client
    retries : int
        Times a task is run again when its worker is lost.
    """

    def __init__(self, client, retries: int = RETRIES) -> None:
        self.client = client
        self.retries = retries
        self.tasks_done = 0
        self.tasks_submitted = 0  # run_blocks' tasks (not the compile-only ones)
        self.task_seconds = 0.0   # kernel time inside tasks (for the overhead measure)
        self.trials_done = 0
        #: called with no argument after each task's result is taken in (progress displays)
        self.on_task: Callable[[], None] | None = None
        self._started: float | None = None  # when the first task was submitted
        self._prep: Any = None
        self._prep_future: Any = None

    def trials_per_second(self) -> float:
        """Trials done across the cluster per second since its first task was submitted
        (0.0 before any result)."""
        if self._started is None or not self.trials_done:
            return 0.0
        return self.trials_done / max(time.perf_counter() - self._started, 1e-9)

    @property
    def n_workers(self) -> int:
        return len(self.client.nthreads())

    @property
    def slots(self) -> int:
        """Tasks the cluster runs at once: its worker threads."""
        return max(1, sum(self.client.nthreads().values()))

    @property
    def wave_seconds(self) -> float:
        """Waves long enough that one task per slot costs at most OVERHEAD_SHARE of them."""
        return max(MIN_WAVE_SECONDS, self.slots * TASK_OVERHEAD_S / OVERHEAD_SHARE)

    def _scattered(self, prep):
        """The prepared run on every worker, sent once per run (a future of it)."""
        if prep is not self._prep:
            if self._prep_future is not None:
                self._prep_future.release()
            self._prep_future = self.client.scatter(prep, broadcast=True, hash=False)
            self._prep = prep
        return self._prep_future

    def run_blocks(self, prep, seed, purpose, n_trials: int, first_block: int, n_blocks: int,
                   chunk_blocks: int, blk, hits, nonfinite, hist,
                   should_stop: StopFn | None = None) -> int:
        """The blocks on the cluster (:class:`engine.core.backend.Executor`)."""
        ref = self._scattered(prep)
        if n_blocks == 0:  # every worker compiles (or loads) the kernel once, before timing
            futures = [self.client.submit(run_task, ref, seed, purpose, n_trials, 0, 0,
                                          chunk_blocks, workers=[w], pure=False,
                                          allow_other_workers=True, retries=self.retries)
                       for w in self.client.nthreads()]
            self._gather(futures, lambda i, r: None, should_stop)
            return 0
        tasks = _split(first_block, n_blocks, chunk_blocks, self.slots)
        if self._started is None:
            self._started = time.perf_counter()
        self.tasks_submitted += len(tasks)
        futures = [self.client.submit(run_task, ref, seed, purpose, n_trials, fb, nb,
                                      chunk_blocks, pure=False, retries=self.retries)
                   for fb, nb in tasks]
        flat = hist[0].reshape(-1)  # added to: integer counts, exact in any order
        done = [False] * len(tasks)

        def put(i, res):
            fb, nb = tasks[i]
            t_blk, t_hits, t_bad, index, count, seconds = res
            s = fb - first_block
            blk[s:s + nb] = t_blk
            hits[s:s + nb] = t_hits
            nonfinite[s:s + nb] = t_bad
            flat[index] += count  # indices are distinct within a task
            done[i] = True
            self.tasks_done += 1
            self.task_seconds += seconds
            self.trials_done += min((fb + nb) * BLOCK, n_trials) - fb * BLOCK
            if self.on_task is not None:
                self.on_task()

        if not self._gather(futures, put, should_stop):
            # stopped mid-wave: keep the leading tasks that finished, in block order
            kept = 0
            for (fb, nb), ok in zip(tasks, done):
                if not ok:
                    break
                kept += nb
            return kept
        return n_blocks

    def _gather(self, futures: list, put: Callable[[int, Any], None],
                should_stop: StopFn | None) -> bool:
        """Wait for `futures`, handing each result to ``put(i, result)`` as it comes; False
        when ``should_stop`` turned True first (the rest are cancelled).

        The stop request is polled every :data:`POLL_S` seconds while tasks are in flight. A
        task that fails once a stop was requested (its worker was interrupted too, its future
        cancelled) is taken as the stop, not as an error. An interrupt or an error cancels
        every task still in flight."""
        ready: queue.SimpleQueue = queue.SimpleQueue()
        index = {f.key: i for i, f in enumerate(futures)}
        for f in futures:
            f.add_done_callback(ready.put)  # called in a thread of the client's
        pending = set(index)

        def stopping() -> bool:
            return should_stop is not None and bool(should_stop())

        try:
            while pending:
                try:
                    f = ready.get(timeout=POLL_S)  # wakes at once when a task is done
                except queue.Empty:
                    f = None
                if f is not None and f.key in pending:
                    pending.discard(f.key)
                    try:
                        put(index[f.key], f.result())
                    except Exception:
                        if not stopping():
                            raise
                        self.client.cancel([futures[index[k]] for k in pending])
                        return False
                if pending and stopping():
                    self.client.cancel([futures[index[k]] for k in pending])
                    return False
        except BaseException:
            self.client.cancel([futures[index[k]] for k in pending])
            raise
        return True

    def close(self) -> None:
        """Release the prepared run held by the workers."""
        if self._prep_future is not None:
            with contextlib.suppress(Exception):
                self._prep_future.release()
        self._prep = self._prep_future = None


@contextlib.contextmanager
def connect(*, scheduler: str | None = None, workers: int | None = None,
            threads: int | None = None, timeout: float | None = None
            ) -> Iterator[DaskExecutor]:
    """A :class:`DaskExecutor` on an existing cluster (`scheduler`, e.g. ``tcp://host:8786``)
    or on a local cluster of `workers` processes of `threads` threads each (default 1).
    `timeout`: seconds to wait for the scheduler and a first worker (default
    :data:`CONNECT_TIMEOUT_S`).

    Raises :class:`ConfigError` when dask.distributed is missing or the scheduler does not
    answer within `timeout` seconds.
    """
    distributed = import_distributed()
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    with _quiet_dask(), contextlib.ExitStack() as stack:
        if scheduler is not None:
            try:
                client = distributed.Client(scheduler, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ConfigError(None, "--scheduler", f"no Dask scheduler answered within "
                                  f"{timeout:g} s ({type(exc).__name__})", scheduler,
                                  "Start one (`dask scheduler`) and workers (`dask worker "
                                  "ADDRESS`), and pass its address, e.g. "
                                  "tcp://HOST:8786.") from None
            stack.callback(client.close)
            try:  # a scheduler with no worker would wait for ever
                client.wait_for_workers(1, timeout=timeout)
            except (OSError, TimeoutError) as exc:
                raise ConfigError(None, "--scheduler", f"the scheduler has no worker after "
                                  f"{timeout:g} s ({type(exc).__name__})", scheduler,
                                  "Start workers: `dask worker ADDRESS --nthreads T` on each "
                                  "machine.") from None
        else:
            cluster = stack.enter_context(distributed.LocalCluster(
                # one task at a time per worker, on its `threads` numba threads (task_threads)
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None, scheduler_port=0, silence_logs=40,
                # no dashboard; the scheduler's small HTTP server on a free loopback port,
                # not 0.0.0.0:8787 (a second run warned that 8787 was taken)
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                env={"NUMBA_NUM_THREADS": str(threads or 1)},
                preload=[__name__]))  # dask_setup: Ctrl-C is the client's to handle
            client = distributed.Client(cluster, set_as_default=False)
            stack.callback(client.close)
        executor = DaskExecutor(client)
        stack.callback(executor.close)
        yield executor


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's own start-up chatter (logging) kept off a user's terminal."""
    import logging
    names = ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.worker")
    old = [(logging.getLogger(n), logging.getLogger(n).level) for n in names]
    for logger, _ in old:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in old:
            logger.setLevel(level)


def worker_pids(client) -> dict[str, int]:
    """Each worker's process id (tests kill one mid-run)."""
    return client.run(os.getpid)
