"""What every command shares: exit codes, argument types, progress and stop messages.

Dependency rule: every layer below the command line.
"""


from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import sys
import time
from typing import Callable, Iterator, TypeVar

from engine.base import fmt
from engine.base.interrupts import (RunStatus, StopRequest, run_stoppable)


EXIT_USAGE = 2


EXIT_INTERRUPTED = 130  # 128 + SIGINT; SIGTERM gives 143


#: A precision run that ended (max trials, time limit) before its target was met.
EXIT_PRECISION_NOT_MET = 4


T = TypeVar("T")


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        try:
            f = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not f.is_integer():
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        value = int(f)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    if value > 2**53:  # engine.core.driver.MAX_TRIALS: counts stay exact in float64
        raise argparse.ArgumentTypeError(f"must be at most 2**53, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):  # inf, nan, 1e400
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _thresholds(text: str) -> list[float]:
    """``100,250,500`` -> [100.0, 250.0, 500.0] (``--gap-above``): finite numbers, each once."""
    out = []
    for part in text.split(","):
        try:
            x = float(part.strip().replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{part.strip()!r} is not a number; give thresholds in $B/yr separated by "
                "commas, e.g. 100,250,500") from None
        if not math.isfinite(x):
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not a finite number")
        if x not in out:
            out.append(x)
    return out


def _year(text: str) -> int:
    """A calendar year, 1..9999 (``plot --year``)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a year such as 2030, got {text!r}") from None
    if not 1 <= value <= 9999:
        raise argparse.ArgumentTypeError(f"expected a year such as 2030, got {text!r}")
    return value


def _repeat(text: str) -> int:
    """``bench --repeat``: 1..1000 timed runs."""
    value = _positive_int(text)
    if value > 1000:
        raise argparse.ArgumentTypeError(f"must be at most 1000, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**64), got {text!r}")
    return value


def _progress_bar(total: int, quiet: bool):
    """A tqdm bar on stderr that appears only on a terminal and only after 2 s.

    On a Dask cluster (``--workers``/``--scheduler``) the bar also shows the cluster's tasks
    done and trials per second (:func:`cluster_progress`), refreshed as each task comes in."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit="trial", unit_scale=True, delay=2.0, file=sys.stderr,
               disable=quiet or not sys.stderr.isatty(), leave=False, dynamic_ncols=True)
    ex = _cluster()
    if ex is not None and not bar.disable:
        def on_task() -> None:
            # set_postfix_str would draw the bar at once; before its 2 s delay, wait
            shown = bar._time() >= bar.start_t + bar.delay
            bar.set_postfix_str(cluster_progress(ex), refresh=shown)

        ex.on_task = on_task  # a closed bar is disabled: a late call draws nothing
    return bar


def _cluster():
    """The Dask executor in force (``--workers``/``--scheduler``), or None."""
    from engine.core import backend

    ex = backend.current()
    return ex if ex is not None and hasattr(ex, "trials_per_second") else None


def cluster_progress(ex) -> str:
    """A cluster's share of a progress line: ``"12/40 tasks, 3.1e8 trials/s on 4 workers"``
    (tasks done of those submitted, and trials per second across the cluster)."""
    rate = ex.trials_per_second()
    text = fmt._exponent(f"{rate:.1e}") if rate else "0"
    workers = ex.n_workers
    return (f"{ex.tasks_done:,}/{ex.tasks_submitted:,} tasks, {text} trials/s on {workers} "
            f"worker{'s' if workers != 1 else ''}")


class _LineProgress:
    """Progress as plain lines on stderr, for logs: after the first wave, then every `every` s.
    On a Dask cluster each line ends with its tasks and rate (:func:`cluster_progress`)."""

    def __init__(self, total: int | None, every: float = 5.0) -> None:
        self.total = total
        self.every = every
        self.start = time.perf_counter()
        self.last: float | None = None
        self.cluster = _cluster()

    def __call__(self, done: int) -> None:
        now = time.perf_counter()
        if (self.total is not None and done >= self.total) \
                or (self.last is not None and now - self.last < self.every):
            return
        self.last = now
        elapsed = now - self.start
        tail = f"; {cluster_progress(self.cluster)}" if self.cluster is not None else ""
        if self.total is None:  # a precision run: no known end
            print(f"capexgap: {done:,} trials in {elapsed:.1f} s{tail}", file=sys.stderr,
                  flush=True)
            return
        eta = elapsed * (self.total - done) / done if done else math.inf
        print(f"capexgap: {done:,} of {self.total:,} trials ({fmt.percent(done / self.total)}) "
              f"in {elapsed:.1f} s, about {_duration(eta)} left{tail}", file=sys.stderr,
              flush=True)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


@contextlib.contextmanager
def progress_reporter(total: int | None, *, quiet: bool = False, force: bool = False
                      ) -> Iterator[Callable[[int], None]]:
    """A ``progress(done)`` callback: a tqdm bar with ETA on a terminal (after 2 s); plain lines
    when `force` and stderr is not a terminal; nothing when `quiet`. ``total=None``: a count
    and a rate, no ETA (a run that stops when a precision target is met)."""
    if not quiet and force and not sys.stderr.isatty():
        yield _LineProgress(total)
        return
    with _progress_bar(total, quiet) as bar:
        yield lambda done: bar.update(done - bar.n)


def run_with_progress(run: Callable[..., T], *, total: int, stop: StopRequest | None = None,
                      quiet: bool = False, force_progress: bool = False,
                      max_seconds: float | None = None) -> tuple[T, RunStatus]:
    """Run a long job with a progress bar and honest stopping; the shared path of every command.

    Parameters
    ----------
    run : callable
        Accepts ``progress``, ``should_stop`` and ``max_seconds`` keywords, as
        :func:`engine.core.driver.run_plan` and :func:`engine.analyses.simulate.simulate` do
        (bind the rest
        with ``functools.partial``).
    total : int
        Trials asked for.
    stop : StopRequest, optional
        From ``with engine.interrupts.stop_signals() as stop:`` around the whole command, so
        Ctrl-C / SIGTERM stop the run after its current wave (about 0.25 s).
    quiet, force_progress : bool
        ``--quiet`` and ``--progress``.
    max_seconds : float, optional
        ``--max-seconds``.

    Returns
    -------
    (result, RunStatus)
        ``status.ok`` is False when the run was stopped or interrupted; then print
        :func:`stopped_message` and return ``status.exit_code`` unless partial results were
        asked for.
    """
    with progress_reporter(total, quiet=quiet, force=force_progress) as progress:
        return run_stoppable(run, total=total, stop=stop, progress=progress,
                             max_seconds=max_seconds)


def stopped_message(status: RunStatus, kept: str | None = None) -> str:
    """The stderr line of a run that was stopped: where, and what (if anything) was kept."""
    if kept is None:
        tail = "nothing was written (pass --keep-partial to keep the trials done)"
    else:
        tail = f"the {'partial ' if not status.completed else ''}result was {kept}"
    return f"capexgap: {status.message()}; {tail}."


def add_correlation_flags(p: argparse.ArgumentParser) -> None:
    """``--independent`` and ``--repair-correlation`` (the config's ``[correlation]``)."""
    p.add_argument("--independent", action="store_true",
                   help="ignore the config's [correlation] section: every input independent "
                        "(to see both answers)")
    p.add_argument("--repair-correlation", action="store_true",
                   help="when the [correlation] matrix is not positive semi-definite, use the "
                        "nearest valid one (Higham) instead of refusing; the result says so")


def add_set_flag(p: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable): one value of the config changed for this run."""
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change one value for this run, repeatable: KEY as in [sweep] "
                        "(margin=0.55 pins an input, margin.mode=0.55 sets a parameter of its "
                        "distribution, 'revenue.OpenAI.ci90=[5, 10]', "
                        "correlation.groups.0.rho=0.3, scenario.trials=100000, scenario.seed=7); "
                        "VALUE is a TOML value; the result records every --set")


def load_scenario(args: argparse.Namespace):
    """The config named by ``args.config`` (a path, or a bundled config's name; the bundled
    default when None), with the correlation flags, then every ``--set``, applied."""
    from engine.io.config import load_config

    scenario = load_config(args.config,
                           repair_correlation=getattr(args, "repair_correlation", False))
    sets = getattr(args, "set", None) or []
    if getattr(args, "independent", False) and scenario.correlation is not None:
        scenario = dataclasses.replace(scenario, correlation=None)
        from engine.analyses.corr_sweep import is_key
        from engine.io.overrides import parse_override
        for text in sets:
            key = parse_override(text).key
            if is_key(key):  # refused, not silently dropped with the section
                from engine.base.errors import ConfigError
                raise ConfigError(None, f"--set {key}", "changes a rank correlation, but "
                                  "--independent drops the [correlation] section", None,
                                  "Drop one of the two.")
    if sets:
        from engine.io.overrides import apply_overrides
        scenario, _ = apply_overrides(scenario, sets)
    return scenario


def overrides(ds, args: argparse.Namespace) -> list[str]:
    """Record the run's ``--set`` values in its result: the attribute ``overrides``, a JSON
    list of ``KEY=VALUE`` (absent when there is none), set before the Dataset is written or
    printed. They are not in ``config_text`` (the file as it is), so this is their provenance.
    Returns the list (empty: no --set)."""
    import json

    from engine.io.overrides import parse_override

    texts = [parse_override(a).text for a in getattr(args, "set", None) or []]
    if texts:
        ds.attrs["overrides"] = json.dumps(texts, ensure_ascii=False)
    return texts


def with_overrides(text: str, texts: list[str]) -> str:
    """The text output with a line naming the ``--set`` values after its title line."""
    if not texts:
        return text
    from engine.base.safetext import escape

    head, _, rest = text.partition("\n")
    line = "Changed for this run (--set): " + escape("; ".join(texts), limit=None)
    return f"{head}\n{line}\n{rest}" if rest else f"{head}\n{line}"
