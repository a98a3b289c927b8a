"""``--scheduler`` and ``--workers``: a command's chunks on a Dask cluster (docs/scaling.md).

The flags are added to every command that runs plans; :func:`scope` puts a cluster's
executor in force (:func:`engine.core.backend.use`) around the command, so quote, precision
targets, sweeps and the tornado run on it unchanged and give the same bits as a local run.
``dask.distributed`` is imported only when a flag is given; without the ``distributed`` extra
the flags exit 2 naming it.

Dependency rule: every layer below the command line.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from engine.base.errors import ConfigError


def _address(text: str) -> str:
    text = text.strip()
    if not text:
        raise argparse.ArgumentTypeError("expected a scheduler address, e.g. tcp://HOST:8786")
    return text


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of worker processes, "
                                         f"got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def add_flags(p: argparse.ArgumentParser) -> None:
    """``--scheduler ADDRESS`` and ``--workers N`` (one or the other)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--scheduler", type=_address, metavar="ADDRESS",
                   help="run the trials on an existing Dask cluster (e.g. tcp://HOST:8786; "
                        "each worker runs as many tasks at once as its --nthreads); never "
                        'changes the result. Needs pip install "capexgap[distributed]"')
    g.add_argument("--workers", type=_workers, metavar="N",
                   help="run the trials on a local Dask cluster of N worker processes, each "
                        "running one task at a time on --threads threads (default 1); never "
                        "changes the result")


def _counts(text: str) -> list[int]:
    """``1,2,4`` -> [1, 2, 4] (``bench --workers``)."""
    return [_workers(part) for part in text.split(",")]


def bench_flags(p: argparse.ArgumentParser) -> None:
    """``bench --workers 1,2`` / ``bench --scheduler ADDRESS``: throughput on clusters only."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", dest="bench_workers", type=_counts, metavar="N[,N...]",
                   help="instead of the whole benchmark: trials per second on local Dask "
                        "clusters of N worker processes (--threads threads each, default 1), "
                        "the speed-up, the overhead share and the per-task overhead")
    g.add_argument("--scheduler", dest="bench_scheduler", type=_address, metavar="ADDRESS",
                   help="the same on an existing Dask cluster")


@contextlib.contextmanager
def scope(args: argparse.Namespace) -> Iterator[object | None]:
    """The command's cluster executor in force, if ``--scheduler`` or ``--workers`` asked for
    one (None, and nothing imported, otherwise)."""
    scheduler = getattr(args, "scheduler", None)
    workers = getattr(args, "workers", None)
    if scheduler is None and workers is None:
        yield None
        return
    from engine.core import backend
    from engine.core.distributed import connect

    threads = getattr(args, "threads", None)
    if scheduler is not None and threads is not None:
        raise ConfigError(None, "--threads", "does not apply with --scheduler", threads,
                          "Each worker runs as many tasks at once as its own --nthreads "
                          "(`dask worker ADDRESS --nthreads T`); drop --threads.")
    with connect(scheduler=scheduler, workers=workers, threads=threads) as executor, \
            backend.use(executor):
        yield executor
