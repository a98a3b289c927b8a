"""``capexgap sensitivity``: first-order and total Sobol' indices of P(cover) and the gap.

Same conventions as ``quote``: errors on stderr with exit code 2 and no traceback, ``--json``
prints exactly one JSON object (NaN as null), a progress bar on a terminal after 2 s, Ctrl-C
or --max-seconds stop the run cleanly.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys

from engine.analyses import sensitivity as sa
from engine.base.errors import ConfigError
from engine.base.interrupts import stop_signals
from engine.cli import cluster
from engine.cli import common as cli

DESCRIPTION = """\
Global sensitivity: which uncertain inputs drive P(cover) and the gap. For each output and
each input (or group of inputs, --groups), the first-order Sobol' index S1 (the share of the
output's variance the input explains alone) and the total index ST (its share with every
interaction it takes part in), each with a 95% interval. For `covers`, the 0/1 indicator
whose mean is P(cover), the indices split the variance of covering or not.

Pick-freeze estimation on N base samples (--base-samples): two independent sample matrices A
and B, and per factor A with that factor's columns taken from B; N x (factors + 2) model
evaluations. Results are bit-identical for the same config, seed and N, whatever --threads.

Sobol' indices assume independent inputs: a config with a [correlation] section is refused;
--independent analyses it with every input independent."""

EPILOG = f"""\
examples:
  capexgap sensitivity configs/ai-capex-2024.toml --independent
  capexgap sensitivity configs/ai-capex-2024.toml --independent --groups revenue --json
  capexgap sensitivity configs/ai-capex-2024.toml --independent --groups cost=gpu_spend,energy_ratio
  capexgap sensitivity configs/vintage-2024-2032.toml --output gap --year 2030 --out s.nc
  capexgap plot s.nc -o s.png                      S1 and ST side by side, intervals drawn

--groups NAME takes what --scale takes (revenue: every company; an input; a company), as one
factor; --groups LABEL=NAME,NAME,... a list of them under one name. Repeatable.
--base-samples defaults to {sa.DEFAULT_BASE_SAMPLES:,} (at least {sa.MIN_BASE_SAMPLES:,}: the
intervals come from the spread between blocks of 4,096 samples); --precision H runs until
every interval's half-width is at most H (up to --max-base-samples, default
{sa.DEFAULT_MAX_BASE_SAMPLES:,}).
Exit codes: 0 ok, 2 bad input (message on stderr), 3 stopped by --max-seconds, 4 precision
target not met, 130 interrupted by Ctrl-C, 143 by SIGTERM."""


_precision = cli.open_unit("a half-width on the indices, e.g. 0.02")


def add_commands(sub) -> None:
    """Add ``sensitivity`` to the ``capexgap`` sub-command parser."""
    s = sub.add_parser("sensitivity", help="Sobol' indices: which inputs drive P(cover) and "
                                           "the gap", description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_config_arg(s)
    s.add_argument("--base-samples", type=cli._positive_int, metavar="N",
                   help=f"rows of each sample matrix (default {sa.DEFAULT_BASE_SAMPLES:,}); the "
                        "model runs N x (factors + 2) times")
    s.add_argument("--precision", type=_precision, metavar="H",
                   help="run until the widest 95%% interval's half-width is at most H (e.g. "
                        "0.02); not with --base-samples")
    s.add_argument("--max-base-samples", type=cli._positive_int, metavar="N",
                   help="with --precision: stop after at most N base samples (exit code 4 if "
                        "the target is not met)")
    s.add_argument("--groups", action="append", default=[], metavar="NAME|LABEL=NAME,...",
                   help="inputs taken as one factor: revenue (every company), an input, a "
                        "company, or LABEL=NAME,NAME,...; repeatable")
    s.add_argument("--output", action="append", metavar="NAME",
                   help="an output to analyse, repeatable: covers (the indicator of P(cover)), "
                        "gap, required_annual_revenue, ai_revenue, ... (default: those four)")
    s.add_argument("--year", type=cli._year, metavar="YEAR",
                   help="multi-year model: this year only (default: every reported year)")
    cli.add_seed_threads(s)
    cli.add_output_flags(s, "every index and interval",
                         ("FILE.nc|.json", "also write the result, atomically: .nc the Dataset "
                                           "(for capexgap plot), .json the --json object"))
    s.add_argument("--max-seconds", type=cli._seconds, metavar="S",
                   help="stop after about S seconds of simulation (exit code 3); nothing is "
                        "printed or written")
    cli.add_correlation_flags(s)
    cluster.add_flags(s)
    s.set_defaults(func=_sensitivity)


def _check_out(path: str, force: bool) -> str:
    """The --out format by suffix, checked (with the file) before any work."""
    from engine.io.outfile import check_target

    kind = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if kind not in ("nc", "json"):
        raise ConfigError(None, "--out", "must end in .nc or .json", path,
                          "e.g. --out sensitivity.nc (for capexgap plot)")
    check_target(path, force, action="run", example="sensitivity.nc")
    return kind


def _sensitivity(args: argparse.Namespace) -> int:
    from engine.analyses.sensitivity import sensitivity
    from engine.io.sensitivity_summary import sensitivity_summary
    from engine.present.sensitivity_text import format_sensitivity

    scenario = cli.load_scenario(args)
    if args.max_base_samples is not None and args.precision is None:
        raise ConfigError(None, "--max-base-samples", "only applies with --precision",
                          args.max_base_samples, "Add --precision, or give --base-samples.")
    kind = _check_out(args.out, args.force) if args.out else None
    total = args.max_base_samples or sa.DEFAULT_MAX_BASE_SAMPLES if args.precision else \
        args.base_samples or sa.DEFAULT_BASE_SAMPLES
    with stop_signals() as stop:
        run = functools.partial(sensitivity, scenario, base_samples=args.base_samples,
                                seed=args.seed, groups=args.groups, outputs=args.output,
                                year=args.year, precision=args.precision,
                                max_base_samples=args.max_base_samples, threads=args.threads)
        ds, status = cli.run_with_progress(run, total=total, stop=stop, quiet=args.quiet,
                                           max_seconds=args.max_seconds)
        if not status.ok and not int(ds.attrs["completed"]):
            print(cli.stopped_message(status), file=sys.stderr)
            return status.exit_code
        summary = sensitivity_summary(ds)
        if kind == "nc":
            from engine.io.results import write_netcdf
            write_netcdf(ds, args.out, force=args.force)
        elif kind == "json":
            from engine.io.outfile import write_bytes
            write_bytes(args.out, (json.dumps(summary, allow_nan=False) + "\n").encode(),
                        force=args.force)
        print(json.dumps(summary, allow_nan=False) if args.json else format_sensitivity(ds),
              flush=True)
    if args.precision is not None and not summary["precision"]["met"]:
        print(f"capexgap: precision target not met by {summary['base_samples']:,} base "
              "samples; the result of those samples was printed.", file=sys.stderr)
        return cli.EXIT_PRECISION_NOT_MET
    return 0
