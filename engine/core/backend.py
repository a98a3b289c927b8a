"""Where the chunks of a run are computed: this process's threads, or an executor.

:func:`engine.core.driver.run_plan` runs each wave of blocks with
:func:`engine.core.runner.run_blocks` (a thread pool here) unless an *executor* is in force; an
executor computes the same blocks elsewhere (other processes, other machines:
:mod:`engine.core.distributed`) and fills the same per-block records, which the driver merges
in block order as always, so the result has the same bits whoever computed which block.

An executor is put in force for a block of code with :func:`use`; every analysis (quote,
precision targets, sweeps, the tornado) then runs through it without being told::

    with use(executor):
        ds = quote(scenario, trials=10**9)

Dependency rule: the standard library only (an executor brings its own imports).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover  (an annotation only)
    from engine.base.interrupts import StopFn


class Executor(Protocol):
    """What :func:`engine.core.driver.run_plan` asks of an executor."""

    #: tasks it runs at once (the driver sizes waves in whole rounds of chunks over them)
    slots: int
    #: aim for waves of about this long (long enough that the per-task cost stays small)
    wave_seconds: float
    #: workers, for the run's attributes (``workers`` in the Dataset)
    n_workers: int

    def run_blocks(self, prep: Any, seed: Any, purpose: Any, n_trials: int, first_block: int,
                   n_blocks: int, chunk_blocks: int, blk: Any, hits: Any, nonfinite: Any,
                   hist: Any, should_stop: StopFn | None = None) -> int:
        """Compute blocks ``first_block .. first_block + n_blocks - 1`` as
        :func:`engine.core.runner.run_blocks` does (``n_blocks == 0``: only get ready), and
        return how many leading blocks were filled: ``n_blocks``, or fewer when
        ``should_stop`` turned True before the wave was done."""
        ...


_CURRENT: contextvars.ContextVar[Executor | None] = contextvars.ContextVar(
    "capexgap_executor", default=None)


def current() -> Executor | None:
    """The executor in force (None: this process's threads)."""
    return _CURRENT.get()


@contextlib.contextmanager
def use(executor: Executor | None) -> Iterator[Executor | None]:
    """Run every plan inside the block through `executor` (None: locally)."""
    token = _CURRENT.set(executor)
    try:
        yield executor
    finally:
        _CURRENT.reset(token)
