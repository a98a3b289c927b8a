"""Stopping long runs honestly: Ctrl-C, SIGTERM and time limits become a polled stop.

numba code cannot be interrupted in the middle of a wave, so :func:`engine.core.driver.run_plan`
polls ``should_stop`` between waves (each about ``WAVE_SECONDS`` long). This module turns SIGINT
(Ctrl-C) and SIGTERM into that poll and reports what a run achieved, for any long-running
command (``quote`` now, ``sweep`` later)::

    with stop_signals() as stop:
        totals, status = run_stoppable(
            lambda **hooks: run_plan(plan, trials=n, seed=s, **hooks),
            total=n, stop=stop, max_seconds=60)
        if not status.ok:
            print(status.message(), file=sys.stderr)     # "interrupted by Ctrl-C (SIGINT) ..."
            return status.exit_code                      # 130, 143, or EXIT_TIME_LIMIT

What a signal does inside ``stop_signals``:

- while a run is *armed* (from its first progress report until it returns), the first signal
  asks it to stop: it finishes the wave under way and returns partial totals (``completed`` is
  False), so the caller can say how many trials were done or keep them;
- at any other time (before the first wave, e.g. while the kernel compiles; while the result is
  written) and for a second signal, :class:`Interrupted` is raised at once: it is a
  ``KeyboardInterrupt``, so ``finally`` blocks and the atomic writer's cleanup run and nothing
  half-done is left behind.

Dependency rule: the standard library only (``engine.cli`` adds the progress bar).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from . import fmt

#: The signals that stop a run.
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
#: Exit code of a run stopped by its time limit before all trials were done.
EXIT_TIME_LIMIT = 3

T = TypeVar("T")

#: A progress callback: called with the count done so far (trials, points or samples).
ProgressFn = Callable[[int], None]
#: A stop poll, asked between waves: True ends the run after the wave under way.
StopFn = Callable[[], bool]


def signal_label(signum: int) -> str:
    """``"Ctrl-C (SIGINT)"``, ``"SIGTERM"``, ..."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return f"Ctrl-C ({name})" if signum == signal.SIGINT else name


class Interrupted(KeyboardInterrupt):
    """A stop signal that could not wait for the end of a wave (see the module docstring).

    Attributes
    ----------
    signum : int
        The signal received.
    exit_code : int
        ``128 + signum``, the shell's convention (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"interrupted by {signal_label(self.signum)}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopRequest:
    """The ``should_stop`` callable of a run: True once a stop was asked for.

    A signal handler (:func:`stop_signals`) or any code (:meth:`request`) asks; the run polls by
    calling the object.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.reason: str | None = None
        self.armed = False

    def __call__(self) -> bool:
        return self.reason is not None

    def request(self, reason: str = "stop requested", signum: int | None = None) -> None:
        """Ask the run to stop after its current wave (the first request wins)."""
        if self.reason is None:
            self.reason = reason
            self.signum = signum

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.armed and self.reason is None:
            _note("stop", signum)
            self.request(f"interrupted by {signal_label(signum)}", signum)
            return
        _note("raise", signum)
        raise Interrupted(signum)


@contextmanager
def stop_signals(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[StopRequest]:
    """Handle `signals` with a :class:`StopRequest` for the duration of the block.

    The previous handlers are restored on exit. A signal that the parent process ignores
    (``SIG_IGN``, e.g. SIGINT for a background job of a non-interactive shell) stays ignored.
    Signal handlers can only be set in the main thread; elsewhere the handlers are left alone
    and the request only stops the run when :meth:`StopRequest.request` is called.
    """
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {}
    try:
        for sig in signals:
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue
            previous[sig] = signal.signal(sig, stop._on_signal)
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True)
class RunStatus:
    """What a stoppable run achieved.

    Attributes
    ----------
    total : int
        Trials asked for.
    done : int
        Trials finished (the last progress report).
    reason : str or None
        Why it stopped early ("interrupted by Ctrl-C (SIGINT)", "time limit of 5 s reached"),
        or None when it was not asked to stop.
    signum : int or None
        The signal that stopped it, if any.
    elapsed_s : float
        Wall time of the run.
    """

    total: int
    done: int
    reason: str | None
    signum: int | None
    elapsed_s: float

    @property
    def completed(self) -> bool:
        """Every trial asked for was done."""
        return self.done >= self.total

    @property
    def ok(self) -> bool:
        """Completed and not interrupted: the result can be used as asked."""
        return self.completed and self.signum is None

    @property
    def exit_code(self) -> int:
        """0 when ok; 128 + signal number when interrupted; EXIT_TIME_LIMIT when cut short."""
        if self.signum is not None:
            return 128 + self.signum
        return 0 if self.completed else EXIT_TIME_LIMIT

    def message(self) -> str:
        """One line for stderr: why and where the run stopped."""
        share = fmt.percent(min(self.done / self.total, 1.0) if self.total else 0.0)
        return (f"{self.reason or 'stopped early'} after {self.done:,} of {self.total:,} trials "
                f"({share}) in {self.elapsed_s:.1f} s")


def run_stoppable(run: Callable[..., T], *, total: int, stop: StopRequest | None = None,
                  progress: ProgressFn | None = None,
                  max_seconds: float | None = None) -> tuple[T, RunStatus]:
    """Call ``run(progress=..., should_stop=..., max_seconds=...)`` and say how it went.

    Parameters
    ----------
    run : callable
        Takes the three hooks of :func:`engine.core.driver.run_plan` as keywords (``run_plan``,
        ``simulate`` or a ``functools.partial`` of either) and reports finished trials through
        ``progress``.
    total : int
        Trials asked for (what ``progress`` counts towards).
    stop : StopRequest, optional
        From :func:`stop_signals`; armed while the run is under way. A fresh one if omitted.
    progress : callable, optional
        Also called with the trials finished after each wave (e.g. a progress bar).
    max_seconds : float, optional
        Passed on: the run stops after the first wave that ends past it.

    Returns
    -------
    (result, RunStatus)
        The run's return value (partial when stopped) and its status.
    """
    if max_seconds is not None and not (math.isfinite(max_seconds) and max_seconds > 0):
        raise ValueError(f"max_seconds must be a positive number, got {max_seconds!r}")
    stop = StopRequest() if stop is None else stop
    done = 0

    def on_progress(n: int) -> None:
        nonlocal done
        done = n
        stop.armed = True  # there are results worth stopping gracefully for
        if progress is not None:
            progress(n)

    start = time.perf_counter()
    try:
        result = run(progress=on_progress, should_stop=stop, max_seconds=max_seconds)
    finally:
        stop.armed = False
    elapsed = time.perf_counter() - start
    reason = stop.reason
    if reason is None and done < total:
        reason = (f"time limit of {max_seconds:g} s reached" if max_seconds is not None
                  else "stopped early")
    return result, RunStatus(total=total, done=done, reason=reason, signum=stop.signum,
                             elapsed_s=elapsed)


# ----------------------------------------------------------------- the capexgap command

#: A stop signal that Python code has not acted on after this many seconds (the main thread
#: is inside one long call into compiled code, e.g. LLVM compiling a kernel) ends the process
#: anyway, with the same one-line message and exit code.
FORCE_EXIT_AFTER = 1.5
#: The console-script names of the command (``capexgap``) and the module of ``python -m``.
_COMMAND_NAMES = ("capexgap", "capexgap.exe", "capexgap-script.py")

_last_handled = -math.inf   # monotonic time the Python-level handler last ran
_last_action = ""           # what it did then: "stop" (a graceful stop) or "raise"
_last_signum: int | None = None
_watch_started = False


def _note(action: str, signum: int) -> None:
    global _last_handled, _last_action, _last_signum
    _last_handled = time.monotonic()
    _last_action = action
    _last_signum = int(signum)


def interrupt_cause(exc: BaseException) -> Interrupted | None:
    """The stop signal behind `exc`, if any: `exc` itself, or an exception it was raised from.

    numba, for one, turns a ``KeyboardInterrupt`` raised while it compiles into an error of
    its own (the interrupt is kept as ``__cause__`` or ``__context__``, or lost): an
    exception that escapes after a signal raised :class:`Interrupted` is that interrupt.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, Interrupted):
            return e
        if isinstance(e, KeyboardInterrupt):
            return Interrupted(signal.SIGINT)
        todo.extend((e.__cause__, e.__context__))
    if _last_action == "raise" and _last_signum is not None:
        return Interrupted(_last_signum)
    return None


def interrupted_line(signum: int, detail: str = "") -> str:
    """The command's one stderr line for a run interrupted before anything was kept."""
    return (f"capexgap: interrupted by {signal_label(signum)}{' ' + detail if detail else ''}; "
            "nothing was written.")


def _exit_now(signum: int, frame: Any = None) -> None:
    """Handler while the command is still importing: nothing has been done, so leave now."""
    with contextlib.suppress(OSError):
        os.write(2, (interrupted_line(signum) + "\n").encode())
    os._exit(128 + signum)


def is_command() -> bool:
    """True in the ``capexgap`` console script or ``python -m engine`` (not in a library user).

    While ``python -m engine`` imports the package, ``sys.argv[0]`` is ``"-m"``; the original
    command line (``sys.orig_argv``) says which module.
    """
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) in _COMMAND_NAMES:
        return True
    orig = list(getattr(sys, "orig_argv", []))
    if "-m" in orig[:-1]:
        module = orig[orig.index("-m") + 1]
        return module == "engine" or module.startswith("engine.")
    return False


def early_exit_for_command() -> None:
    """In the ``capexgap`` command, make SIGINT/SIGTERM during the imports end the process.

    Called first thing by ``engine/__init__.py``, before numpy, numba and xarray load (about
    a second): a Ctrl-C then ends the process with the command's one-line message and exit
    code 130 (143 for SIGTERM), not a ``KeyboardInterrupt`` traceback from the middle of an
    import. Library users (``import engine``) keep Python's own handling.
    :func:`command_signals` replaces the handlers once the command runs.
    """
    if not is_command() or threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _exit_now)


def _raise_interrupted(signum: int, frame: Any) -> None:
    _note("raise", signum)
    raise Interrupted(signum)


def command_signals() -> None:
    """Install the command's stop handling for the rest of the process (``engine.cli.run``).

    SIGINT and SIGTERM raise :class:`Interrupted` (a ``KeyboardInterrupt``) wherever Python
    code runs; :func:`stop_signals` turns them into a graceful stop while a run is armed. A
    watchdog thread sees every signal as it arrives (``signal.set_wakeup_fd``) and ends the
    process with the same message and exit code when Python code has not acted on it within
    :data:`FORCE_EXIT_AFTER` seconds, or has not ended the process that long after an
    :class:`Interrupted` was raised (a long call into compiled code, such as LLVM compiling a
    kernel, delays Python's handlers; a library may swallow or wrap the exception).
    """
    global _watch_started
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _raise_interrupted)
    if _watch_started:
        return
    sys.unraisablehook = _unraisable
    try:
        rfd, wfd = os.pipe()
        os.set_blocking(wfd, False)
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    except (OSError, ValueError):  # pragma: no cover - no pipes: Python's handlers alone
        return
    threading.Thread(target=_watch, args=(rfd,), name="capexgap-signal-watchdog",
                     daemon=True).start()
    _watch_started = True


_python_unraisable = sys.unraisablehook


def _unraisable(info: Any) -> None:
    """An :class:`Interrupted` raised inside a ``__del__`` (llvmlite frees objects while numba
    compiles) cannot propagate: deliver the signal again, so that it is raised where it can
    (the watchdog ends the process if it never is), instead of printing a traceback.

    Once an :class:`Interrupted` has been raised the command is ending with its one line, and
    an object the interrupt cut off halfway through its construction (an llvmlite object whose
    ``__init__`` never finished) fails in its ``__del__``: that is not printed either."""
    if isinstance(info.exc_value, Interrupted):
        # From another thread, a moment later: raise_signal here would run the handler
        # inside this hook, where the exception is lost again.
        threading.Timer(0.05, os.kill, (os.getpid(), info.exc_value.signum)).start()
        return
    if _last_action == "raise":
        return
    _python_unraisable(info)


def _watch(rfd: int) -> None:
    """The watchdog thread of :func:`command_signals`."""
    import select

    pending: list[tuple[int, float]] = []  # (signal, arrival) not yet settled
    while True:
        timeout = 0.05 if pending else None
        ready, _, _ = select.select([rfd], [], [], timeout)
        now = time.monotonic()
        if ready:
            for b in os.read(rfd, 64):
                if b in (signal.SIGINT, signal.SIGTERM):
                    pending.append((int(b), now))
        keep = []
        for signum, arrived in pending:
            if now - arrived < FORCE_EXIT_AFTER:
                keep.append((signum, arrived))
                continue
            # The handler runs between bytecodes, often before this thread reads the byte:
            # a handler call shortly before the arrival was stamped is the one for it.
            handled = _last_handled >= arrived - 0.25
            if handled and _last_action == "stop":
                continue  # a run is stopping after its wave: Python is in charge
            _exit_now(signum)
        pending = keep
