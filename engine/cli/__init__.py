"""The ``capexgap`` command line (docs/cli.md).

Errors caused by the user's input go to stderr as one message and exit with code 2, with no
traceback. ``--json`` prints exactly one JSON object on stdout. A long run stops cleanly on
Ctrl-C, SIGTERM or ``--max-seconds`` (:mod:`engine.interrupts`); :func:`run_with_progress` is
the one way commands run a plan with a progress bar and that stop handling.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import signal
import sys
from typing import Sequence

from engine.base.errors import CapexgapError
from engine.cli.cluster import add_flags as add_cluster_flags
from engine.cli.cluster import bench_flags as bench_cluster_flags
from engine.cli.cluster import scope as cluster_scope
from engine.cli.samplers import check_sampler as _check_sampler
from engine.cli.common import (EXIT_INTERRUPTED, EXIT_PRECISION_NOT_MET,  # noqa: F401
                               EXIT_USAGE, _number, _positive_int, _repeat, _seconds, _seed,
                               _thresholds, _year, add_config_arg, add_correlation_flags,
                               add_output_flags, add_seed_threads, add_set_flag,
                               load_scenario, overrides, progress_reporter, run_with_progress,
                               start_compile_clock, stopped_message, with_command_compile,
                               with_overrides)
from engine.present.text import format_quote  # noqa: F401
from engine.base.interrupts import (Interrupted, command_signals, interrupt_cause,
                                    interrupted_line, run_stoppable, stop_signals)


DESCRIPTION = """\
Monte Carlo answer to "AI's $600B question": the probability that AI revenue covers the
annualised cost of the capital spent on AI data centers, with its confidence interval and
the distribution of the gap. Amounts are US$ billions per year."""

QUOTE_EPILOG = """\
examples:
  capexgap quote                                   bundled default scenario (ai-capex-2024)
  capexgap quote configs/sequoia-600b-2024.toml --json
  capexgap quote sequoia-600b-2024 --set margin=0.6
                                                   a bundled config by name (capexgap configs
                                                   lists them), one value changed for this run
  capexgap quote configs/ai-capex-2024.toml --trials 10000000 --seed 7 --out result.nc
  capexgap quote configs/vintage-2024-2032.toml    multi-year model: P(cover) by year and the
                                                   break-even year's distribution
  capexgap quote configs/ai-capex-2024.toml --precision 0.01
                                                   run until P(cover) is known to +-1% (95%)
  capexgap quote configs/sequoia-600b-uncertain.toml --precision 0.1 --json
                                                   a rare event (~1e-10): importance sampling
  capexgap quote configs/ai-capex-2024.toml --sampler sobol --trials 1048576
                                                   randomized QMC, 16 x 2^16 points: means
                                                   hundreds of times more precise

Results are bit-identical for the same config, seed and trials, whatever --threads.

Precision: --precision REL (relative) and --abs-precision ABS (absolute) bound the half-width
of P(cover)'s 95% interval; the run goes on in whole blocks of the same random stream until
every target is met or --max-trials (default 10^9) or --max-seconds is reached, and stops
bit-identical to a fixed run of the trials it did. --method auto (the default) uses
importance sampling when plain Monte Carlo sees fewer than 100 covering trials (in the whole
fixed run, or in the first 1,048,576 trials of a precision run) or would need more than
--max-trials: the inputs' normal scores are shifted towards the covering region and each
trial weighted by its likelihood ratio; P(cover) then comes with its standard error, a normal
95% interval (p +- 1.96 SE) and an effective sample size, and the outputs' quantiles from the
plain pass.

Stopping: Ctrl-C (SIGINT) or SIGTERM stops within about a second and says how many trials
were done; --max-seconds stops the same way. A stopped run writes and prints no result unless
--keep-partial is given (its Dataset then has completed = 0 and the trials done).

Exit codes:
  0    every trial ran and the result was written/printed
  2    bad input or output path (one message on stderr, nothing run or written)
  3    stopped by --max-seconds before every trial ran
  4    precision target not met by --max-trials or --max-seconds (the result of the trials
       done is printed and written all the same: it is that of a fixed run of those trials)
  130  interrupted by Ctrl-C (SIGINT); 143: by SIGTERM"""

PLOT_EPILOG = """\
examples:
  capexgap quote configs/ai-capex-2024.toml --out run.nc && capexgap plot run.nc -o gap.png
  capexgap plot sweep.nc -o sweep.svg
  capexgap quote configs/vintage-2024-2032.toml --out v.nc && capexgap plot v.nc -o v.png
  capexgap plot v.nc -o gap-2030.png --year 2030   one year of a multi-year run: its gap

The picture follows the file: a quote gives the gap's distribution and its CDF with P(cover)
marked; a sweep gives P(cover) against one swept input (with its 95% band), a heatmap over two
(contours at round levels inside the data's range), or small multiples over more; a tornado file its tornado. A
multi-year (vintage) quote gives P(cover) by year with its 95% band above the break-even
year's distribution (the share of trials breaking even in each year, the cumulative share, and
the share with no break-even by the last year); with --year, the gap's distribution in that
year. A multi-year sweep or tornado is drawn for one year: --year, by default the last
reported year (a note under the picture says which). PNG (150 dpi), SVG or PDF by the
extension. Needs matplotlib: pip install "capexgap[plot]".
Exit codes: 0 ok, 2 bad input (message on stderr)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors say how to get help (exit code 2 is argparse's own)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n"
                              f"Run `{self.prog} --help` for every option.\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    from engine.core.dataset import version

    parser = _Parser(prog="capexgap", description=DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"capexgap {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    q = sub.add_parser("quote", help="P(revenue covers capex), its interval and gap quantiles",
                       description=DESCRIPTION, epilog=QUOTE_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arg(q)
    q.add_argument("--trials", type=_positive_int, metavar="N",
                   help="number of Monte Carlo trials (default: the config's scenario.trials)")
    add_seed_threads(q)
    add_output_flags(q, "p_cover, its interval, output quantiles")
    q.add_argument("--progress", action="store_true",
                   help="report progress even when stderr is not a terminal: one line on "
                        "stderr after the first wave, then every 5 s (for logs)")
    q.add_argument("--max-seconds", type=_seconds, metavar="S",
                   help="stop after about S seconds of simulation (exit code 3 if not every "
                        "trial ran); like Ctrl-C, nothing is kept without --keep-partial")
    q.add_argument("--keep-partial", action="store_true",
                   help="when stopped early (Ctrl-C, SIGTERM, --max-seconds), still print the "
                        "result of the trials done and write --out, marked completed = 0")
    q.add_argument("--precision", type=_number, metavar="REL",
                   help="run until the 95%% interval of P(cover) is within +-REL of it "
                        "(relative half-width, e.g. 0.01 for +-1%%); not with --trials")
    q.add_argument("--abs-precision", type=_number, metavar="ABS",
                   help="run until the 95%% interval is within +-ABS (absolute, e.g. 0.001)")
    q.add_argument("--max-trials", type=_positive_int, metavar="N",
                   help="with a precision target: stop after at most N trials behind P(cover) "
                        "(default 10^9); exit code 4 if the target is not met")
    q.add_argument("--method", choices=("auto", "mc", "importance"), default="auto",
                   help="plain Monte Carlo (mc), importance sampling (importance, for rare "
                        "events) or auto: importance sampling when plain Monte Carlo sees "
                        "fewer than 100 covering trials (default: auto)")
    q.add_argument("--sampler", choices=("mc", "sobol", "lhs"), default="mc",
                   help="how trials are drawn: mc (plain Monte Carlo, the default), sobol "
                        "(randomized quasi-Monte Carlo: --replicates independently scrambled "
                        "Sobol' point sets of 2**k points each; error bars from their spread) "
                        "or lhs (--replicates Latin hypercubes of 2**k points each)")
    q.add_argument("--replicates", type=_positive_int, metavar="R",
                   help="with --sampler sobol or lhs: independent replicates (default 16, at "
                        "least 2); trials are rounded up to R x a power of two. With "
                        "--precision: replicates of that size are added until the target")
    add_correlation_flags(q)
    add_cluster_flags(q)
    q.add_argument("--gap-above", type=_thresholds, metavar="X[,X...]",
                   help="also print P(gap > X) with its 95%% interval for each X ($B/yr, "
                        "e.g. 100,250,500); the result carries them (p_gap_above)")
    add_set_flag(q)
    q.set_defaults(func=_quote)

    pl = sub.add_parser("plot", help="draw a result file: the gap's distribution, a sweep map, a "
                                     "tornado, or P(cover) by year",
                        description="Draw a result written by `capexgap quote --out`.",
                        epilog=PLOT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    pl.add_argument("result", metavar="FILE.nc", help="a result file (NetCDF) written by capexgap")
    pl.add_argument("-o", "--out", required=True, metavar="OUT.png",
                    help="picture to write: .png, .svg or .pdf")
    pl.add_argument("--force", action="store_true",
                    help="overwrite OUT if it exists (otherwise refuse before drawing)")
    pl.add_argument("--year", type=_year, metavar="YEAR",
                    help="multi-year results: draw this year alone, as a one-year result "
                         "(default: P(cover) by year for a quote, the last reported year for "
                         "a sweep or tornado)")
    pl.add_argument("--exceedance", action="store_true",
                    help="a quote: draw P(gap > x) against x (the gap's exceedance curve) "
                         "instead of its distribution")
    pl.add_argument("--log", action="store_true",
                    help="with --exceedance: a logarithmic probability axis (the tail)")
    pl.set_defaults(func=_plot)

    from engine.cli.sweep import add_commands  # sweep, tornado (engine/cli_sweep.py)
    add_commands(sub)
    from engine.cli.solve import add_commands as add_solve  # solve (engine/cli/solve.py)
    add_solve(sub)
    from engine.cli.sensitivity import add_commands as add_sensitivity  # Sobol' indices
    add_sensitivity(sub)
    from engine.cli.configs import add_commands as add_config_commands  # configs, init
    add_config_commands(sub)

    b = sub.add_parser("bench", help="speed: the engine vs NumPy vs the random-number floor",
                       description="Measure, in one run: the engine on all threads and one; "
                       "an idiomatic and a careful NumPy implementation of the same model; the "
                       "uniforms alone (ours and numpy's fastest); peak memory of fresh "
                       "processes; a fresh `capexgap quote` with a cold and a warm kernel "
                       "cache. Default scenario: bench-13 (benchmarks/scenarios/bench-13.toml).")
    b.add_argument("config", nargs="?", metavar="CONFIG", help="scenario (default: bench-13)")
    b.add_argument("--trials", type=_positive_int, default=10_000_000, metavar="N",
                   help="trials for the engine and careful NumPy (default 10,000,000)")
    b.add_argument("--threads", type=_positive_int, metavar="T",
                   help="threads for the 'all threads' runs (default: all)")
    b.add_argument("--repeat", type=_repeat, default=3, metavar="R",
                   help="best of R timed runs after a warm-up (default 3)")
    b.add_argument("--numpy-trials", type=_positive_int, default=1_000_000, metavar="N",
                   help="trials for the idiomatic NumPy run, which stores every trial "
                        "(default 1,000,000; compared per trial)")
    b.add_argument("--memory", type=_positive_int, nargs="*", default=[10**6, 10**7, 10**8],
                   metavar="N", help="trial counts for the peak-memory processes "
                                     "(none: skip)")
    b.add_argument("--no-startup", action="store_true",
                   help="skip the fresh-process cold/warm `capexgap quote` timings")
    bench_cluster_flags(b)
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--out", metavar="FILE.json", help="also write the JSON to a file, atomically")
    b.add_argument("--force", action="store_true",
                   help="overwrite --out if it exists (otherwise refuse before measuring)")
    b.set_defaults(func=_bench)
    return parser


#: The commands that run kernels in this process (``bench`` times them: no helper beside it).
_KERNEL_COMMANDS = frozenset({"quote", "sweep", "tornado", "sensitivity", "solve"})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``capexgap`` console script; returns the exit code."""
    _tolerant_streams()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        start_compile_clock()  # the first-run compile a command reports is all of its own
        if args.command in _KERNEL_COMMANDS and getattr(args, "scheduler", None) is None \
                and getattr(args, "workers", None) is None:
            from engine.core import prewarm
            # a cold kernel cache: the runner's kernels compile alongside
            prewarm.start(("plain", "importance") if getattr(args, "method", None)
                          == "importance" else ("plain",))
        # Every command: SIGTERM, like Ctrl-C, raises Interrupted (a KeyboardInterrupt), so
        # atomic writes clean up; `quote` nests its own graceful handling around its run.
        with stop_signals(), cluster_scope(args):  # --scheduler/--workers: a Dask cluster
            return args.func(args)
    except CapexgapError as exc:
        print(f"capexgap: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # stdout was closed early (`capexgap quote | head -1`): not worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        # A signal raised Interrupted inside code that wrapped it in an error of its own
        # (numba while it compiles): still an interrupt, reported as one.
        intr = interrupt_cause(exc)
        if intr is None:
            raise
        return _interrupted(intr)
    except KeyboardInterrupt as exc:  # includes Interrupted (SIGTERM too)
        return _interrupted(exc)


def _interrupted(exc: KeyboardInterrupt) -> int:
    """The one stderr line and exit code (128 + signal) of an interrupted command."""
    signum = getattr(exc, "signum", signal.SIGINT)
    print(interrupted_line(signum, getattr(exc, "detail", "")), file=sys.stderr, flush=True)
    return 128 + signum


def run() -> None:
    """The ``capexgap`` console script and ``python -m engine``: :func:`main`, then exit at once.

    The stop handling comes first (:func:`engine.interrupts.command_signals`): Ctrl-C or
    SIGTERM at any stage (imports, config, compiling, the run, writing) ends the command within
    about two seconds with one line on stderr and exit code 130 / 143, never a traceback.

    Tearing down an interpreter that has compiled numba code takes about 0.5 s (LLVM frees
    its modules); by the time main returns, every file is closed and renamed, so the streams
    are flushed and the process ends without that teardown: Ctrl-C gives the prompt back sooner.
    """
    command_signals()
    try:
        code = main()
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt as exc:  # a signal in the last moments, outside main's handling
        code = _interrupted(exc)
    except BaseException as exc:
        intr = interrupt_cause(exc)
        if intr is None:
            raise
        code = _interrupted(intr)
    prewarm = sys.modules.get("engine.core.prewarm")  # imported only if it may have started
    if prewarm is not None:
        with contextlib.suppress(BaseException):
            prewarm.stop()  # os._exit skips atexit: the helper is stopped here
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(code)


def _tolerant_streams() -> None:
    """Never fail on a character the terminal's encoding lacks (names are free text)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors="backslashreplace")


def _quote(args: argparse.Namespace) -> int:
    from engine.analyses.precision import DEFAULT_MAX_TRIALS, check_options, quote
    from engine.io.exports import check_export, write_export
    from engine.io.results import summary

    scenario = load_scenario(args)
    # A sweep config quoted as it stands: its [sweep] table is checked (a broken one is an
    # error here too) and the user told that quote runs the scenario without the grid.
    n_grid = 0
    if scenario.sweep:
        from engine.analyses.sweeps import check_sweep_table
        n_grid = check_sweep_table(scenario)
    if n_grid and not args.quiet:
        named = args.config if args.config is not None else scenario.source  # runnable as given
        print(f"capexgap: note: {scenario.source} has a [sweep] table ({n_grid:,} points); "
              "quote runs the scenario as written, without it. Run `capexgap sweep "
              f"{named}` for the grid.", file=sys.stderr)
    # a replicated precision run takes --trials as its replicates' size (--trials / R)
    target = check_options(scenario, method=args.method,
                           trials=args.trials if args.sampler == "mc" else None,
                           precision=args.precision, abs_precision=args.abs_precision,
                           max_trials=args.max_trials, flags=True)
    qmc = _check_sampler(args)
    if args.out:
        check_export(args.out, args.force)  # the suffix, and the file, before any work
    trials = args.trials if args.trials is not None else scenario.trials
    with stop_signals() as stop:
        run = functools.partial(quote, scenario, method=args.method,
                                trials=None if target else trials, precision=args.precision,
                                abs_precision=args.abs_precision, max_trials=args.max_trials,
                                seed=args.seed, threads=args.threads)
        if qmc is not None:
            from engine.analyses.qmc import points_per_replicate
            run = functools.partial(run, trials=trials, sampler=args.sampler, replicates=qmc)
            trials = points_per_replicate(trials, qmc) * qmc  # what the progress counts to
        if target is None:
            ds, status = run_with_progress(run, total=trials, stop=stop, quiet=args.quiet,
                                           force_progress=args.progress,
                                           max_seconds=args.max_seconds)
        else:
            # A precision run ends when its target is met: a count without an ETA; its status
            # is the Dataset's (met or not), unless a signal stopped it.
            cap = args.max_trials or DEFAULT_MAX_TRIALS
            with progress_reporter(None, quiet=args.quiet, force=args.progress) as progress:
                ds, status = run_stoppable(run, total=cap, stop=stop, progress=progress,
                                           max_seconds=args.max_seconds)
            if status.signum is None:
                status = dataclasses.replace(status, done=status.total)
        if not status.ok and not args.keep_partial:
            print(stopped_message(status), file=sys.stderr)
            return status.exit_code
        written = None
        if args.gap_above:
            from engine.analyses.exceedance import gap_above
            ds = gap_above(ds, args.gap_above)
        changed = overrides(ds, args)  # --set: recorded before the Dataset is written
        try:
            if args.out:
                # atomic: an interrupt here leaves nothing; never over a file that appeared
                write_export(ds, args.out, force=args.force)
                written = args.out
            print(json.dumps({**summary(ds), **({"overrides": changed} if changed else {})},
                             allow_nan=False) if args.json
                  else with_overrides(format_quote(with_command_compile(ds), scenario.source),
                                       changed), flush=True)
        except Interrupted as exc:
            done = f"{written} was written" if written else "nothing was written"
            print(f"capexgap: {exc}; {done}.", file=sys.stderr)
            return exc.exit_code
    if not status.ok:
        kept = (f"written to {written} (completed = {int(ds.attrs['completed'])})" if written
                else "printed above")
        print(stopped_message(status, kept), file=sys.stderr)
        return status.exit_code
    if target is not None and not int(ds.attrs.get("precision_met", 0)):
        where = f"written to {written} and printed" if written else "printed"
        print(f"capexgap: precision target {ds.attrs.get('precision_stop', 'NOT met')}; the "
              f"result of the {int(ds.attrs['trials']):,} trials done was {where}.",
              file=sys.stderr)
        return EXIT_PRECISION_NOT_MET
    return status.exit_code


def _plot(args: argparse.Namespace) -> int:
    from engine.present.plot import plot_file

    print(plot_file(args.result, args.out, force=args.force, year=args.year,
                    exceedance=args.exceedance, log=args.log))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from engine.cli import bench

    if args.out:  # refuse before minutes of measuring, not after
        from engine.io.outfile import check_target
        check_target(args.out, args.force, action="measured", example="bench.json")
    log = None if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    report = bench
    if args.bench_workers or args.bench_scheduler:  # throughput on Dask clusters only
        from engine.cli import bench_cluster as report
        res = report.run(args.config, workers=args.bench_workers, trials=args.trials,
                         scheduler=args.bench_scheduler, threads=args.threads,
                         repeat=args.repeat, log=log)
    else:
        res = bench.run(args.config, trials=args.trials, threads=args.threads, repeat=args.repeat,
                        numpy_trials=args.numpy_trials, memory=tuple(args.memory),
                        startup=not args.no_startup, log=log)
    text = bench.dumps(res)
    if args.out:
        from engine.io.outfile import write_bytes
        write_bytes(args.out, (text + "\n").encode("utf-8"), force=args.force)
    print(text if args.json else report.format_text(res))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
