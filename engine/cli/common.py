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
from engine.base.interrupts import (Interrupted, ProgressFn, RunStatus, StopRequest,
                                     run_stoppable)


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


def _float(text: str, what: str, example: float | None = None) -> float:
    """A finite float from the command line (``what``: "a number", "a number of seconds"; a
    refused infinity or nan suggests ``example`` when given)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):  # inf, nan, 1e400
        hint = f" (give e.g. {example:g})" if example is not None else ""
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}{hint}")
    return value


def _seconds(text: str) -> float:
    value = _float(text, "a number of seconds")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _number(text: str) -> float:
    return _float(text, "a number")


def positive_float(example: float) -> Callable[[str], float]:
    """An argument type for a finite number > 0 (inf, nan, 1e400, 0 and negatives refused);
    ``example``, the option's default, is suggested for a number that is not finite."""
    def parse(text: str) -> float:
        value = _float(text, "a number", example)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
        return value

    return parse


def open_unit(example: str) -> Callable[[str], float]:
    """An argument type for a number strictly between 0 and 1; ``example`` ends the message
    (``"0.5 is 50%"``)."""
    def parse(text: str) -> float:
        value = _number(text)
        if not 0.0 < value < 1.0:
            raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text!r} "
                                             f"({example})")
        return value

    return parse


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
                      ) -> Iterator[ProgressFn]:
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


#: ``--out`` of the commands that write any of the four formats: (metavar, help).
OUT_ANY = ("FILE.nc|.csv|.parquet|.json",
           "also write the result, atomically, in the format its suffix names: .nc the full "
           "Dataset (NetCDF), .csv or .parquet a tidy summary table, .json the --json object")


def add_config_arg(p: argparse.ArgumentParser) -> None:
    """The optional positional ``CONFIG`` of every command that runs a scenario."""
    p.add_argument("config", nargs="?", metavar="CONFIG",
                   help="scenario file (TOML); omitted: the bundled ai-capex-2024 scenario")


def add_seed_threads(p: argparse.ArgumentParser) -> None:
    """``--seed`` and ``--threads``, worded alike in every command."""
    p.add_argument("--seed", type=_seed, metavar="S",
                   help="random seed, 0..2**64-1 (default: the config's scenario.seed)")
    p.add_argument("--threads", type=_positive_int, metavar="T",
                   help="worker threads (default: all cores); never changes the result")


def add_output_flags(p: argparse.ArgumentParser, json_what: str,
                     out: tuple[str, str] | None = OUT_ANY) -> None:
    """``--json`` (printing ``json_what``), ``--out`` and ``--force`` when ``out`` is a
    (metavar, help) pair, and ``--quiet``."""
    p.add_argument("--json", action="store_true",
                   help=f"print one JSON object ({json_what}) instead of text")
    if out is not None:
        p.add_argument("--out", metavar=out[0], help=out[1])
        p.add_argument("--force", action="store_true",
                       help="overwrite --out if it exists (otherwise refuse before running)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (it only shows on a terminal, after 2 s)")


@contextlib.contextmanager
def point_trial_progress(total: int | None, quiet: bool, kept: str = ""
                         ) -> Iterator[ProgressFn]:
    """A ``progress(done)`` callback counting point-trials (a sweep's or a goal seek's runs
    together) on a bar; when interrupted, the :class:`Interrupted` says how far it got, then
    ``kept`` (e.g. ``"; nothing was printed"``)."""
    done = 0
    with _progress_bar(total, quiet) as bar:
        bar.unit = "point-trial"

        def progress(n: int) -> None:
            nonlocal done
            done = n
            bar.update(n - bar.n)

        try:
            yield progress
        except Interrupted as exc:
            of = f" of {total:,}" if total is not None else ""
            exc.detail = f"after {done:,}{of} point-trials{kept}"
            raise


_COMPILE_START: float | None = None


def start_compile_clock() -> None:
    """Start counting this command's kernel compiles (:func:`with_command_compile`)."""
    from distributions._jitcache import compile_seconds

    global _COMPILE_START
    _COMPILE_START = compile_seconds()


def with_command_compile(ds):
    """``ds`` for the text output: a shallow copy whose ``compile_s`` is what this command has
    waited for compiles so far (the config check's quantile functions too, not only the run's
    kernels, as the attribute has it); ``ds`` itself when no clock was started."""
    if _COMPILE_START is None:
        return ds
    from distributions._jitcache import compile_seconds

    shown = ds.copy(deep=False)
    shown.attrs["compile_s"] = round(compile_seconds() - _COMPILE_START, 3)
    return shown


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
