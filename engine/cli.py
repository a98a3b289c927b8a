"""The ``capexgap`` command line (DESIGN.md §4).

Errors caused by the user's input go to stderr as one message and exit with code 2, with no
traceback. ``--json`` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from .errors import CapexgapError, ConfigError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DESCRIPTION = """\
Monte Carlo answer to "AI's $600B question": the probability that AI revenue covers the
annualised cost of the capital spent on AI data centers, with its confidence interval and
the distribution of the gap. Amounts are US$ billions per year."""

QUOTE_EPILOG = """\
examples:
  capexgap quote                                   bundled default scenario (ai-capex-2024)
  capexgap quote configs/sequoia-600b-2024.toml --json
  capexgap quote configs/ai-capex-2024.toml --trials 10000000 --seed 7 --out result.nc

Results are bit-identical for the same config, seed and trials, whatever --threads.
Exit codes: 0 ok, 2 bad input (message on stderr), 130 interrupted."""


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
    return value


def _seed(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**64), got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors say how to get help (exit code 2 is argparse's own)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n"
                              f"Run `{self.prog} --help` for every option.\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    from .result import version

    parser = _Parser(prog="capexgap", description=DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"capexgap {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    q = sub.add_parser("quote", help="P(revenue covers capex), its interval and gap quantiles",
                       description=DESCRIPTION, epilog=QUOTE_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("config", nargs="?", metavar="CONFIG",
                   help="scenario file (TOML); omitted: the bundled ai-capex-2024 scenario")
    q.add_argument("--trials", type=_positive_int, metavar="N",
                   help="number of Monte Carlo trials (default: the config's scenario.trials)")
    q.add_argument("--seed", type=_seed, metavar="S",
                   help="random seed, 0..2**64-1 (default: the config's scenario.seed)")
    q.add_argument("--threads", type=_positive_int, metavar="T",
                   help="worker threads (default: all cores); never changes the result")
    q.add_argument("--json", action="store_true",
                   help="print one JSON object (p_cover, its interval, output quantiles) "
                        "instead of text")
    q.add_argument("--out", metavar="FILE.nc",
                   help="also write the full result Dataset as NetCDF (h5netcdf), atomically")
    q.add_argument("--force", action="store_true",
                   help="overwrite --out if it exists (otherwise refuse before running)")
    q.add_argument("--quiet", action="store_true",
                   help="no progress bar (it only shows on a terminal, after 2 s)")
    q.set_defaults(func=_quote)

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
    b.add_argument("--repeat", type=_positive_int, default=3, metavar="R",
                   help="best of R timed runs after a warm-up (default 3)")
    b.add_argument("--numpy-trials", type=_positive_int, default=1_000_000, metavar="N",
                   help="trials for the idiomatic NumPy run, which stores every trial "
                        "(default 1,000,000; compared per trial)")
    b.add_argument("--memory", type=_positive_int, nargs="*", default=[10**6, 10**7, 10**8],
                   metavar="N", help="trial counts for the peak-memory processes "
                                     "(none: skip)")
    b.add_argument("--no-startup", action="store_true",
                   help="skip the fresh-process cold/warm `capexgap quote` timings")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--out", metavar="FILE.json", help="also write the JSON to a file")
    b.set_defaults(func=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``capexgap`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CapexgapError as exc:
        print(f"capexgap: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("capexgap: interrupted; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED


def _progress_bar(total: int, quiet: bool):
    """A tqdm bar on stderr that appears only on a terminal and only after 2 s."""
    from tqdm import tqdm

    return tqdm(total=total, unit="trial", unit_scale=True, delay=2.0, file=sys.stderr,
                disable=quiet or not sys.stderr.isatty(), leave=False, dynamic_ncols=True)


def _quote(args: argparse.Namespace) -> int:
    from .config import load_config
    from .result import check_writable, summary, write_netcdf
    from .simulate import simulate

    scenario = load_config(args.config)
    if args.out:
        check_writable(args.out, args.force)
    trials = args.trials if args.trials is not None else scenario.trials
    with _progress_bar(trials, args.quiet) as bar:
        ds = simulate(scenario, trials=trials, seed=args.seed, threads=args.threads,
                      progress=lambda done: bar.update(done - bar.n))
    if args.out:
        write_netcdf(ds, args.out)
    if args.json:
        print(json.dumps(summary(ds)))
    else:
        print(format_quote(ds, scenario.source))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from . import bench

    log = None if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    res = bench.run(args.config, trials=args.trials, threads=args.threads, repeat=args.repeat,
                    numpy_trials=args.numpy_trials, memory=tuple(args.memory),
                    startup=not args.no_startup, log=log)
    text = bench.dumps(res)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    print(text if args.json else bench.format_text(res))
    return 0


def format_quote(ds, source: str) -> str:
    """The human-readable answer: a headline sentence, then a small table of outputs."""
    from .kernel import OUTPUTS

    n = int(ds.attrs["trials"])
    hits = int(ds["hits"])
    lo, hi = (float(v) for v in ds["p_cover_ci95"].values)
    method = ds["p_cover_ci95"].attrs["method"]
    lines = [f"{ds.attrs['title']}  ({source})"]
    if hits == 0:
        lines.append(f"No trial covered: 0 of {n:,} trials. P(AI revenue covers the annual "
                     f"cost of AI capex) < {_pct(hi)} (one-sided 95% upper bound).")
    else:
        lines.append(f"P(AI revenue covers the annual cost of AI capex) = "
                     f"{_pct(float(ds['p_cover']))}  (95% CI {_pct(lo)} to {_pct(hi)}, "
                     f"{method}; {hits:,} of {n:,} trials)")
    gq = ds["gap_quantile"]
    lines.append(f"Gap (required annual revenue - AI revenue): median {_usd(gq.sel(quantile=0.5))}"
                 f", 90% interval {_usd(gq.sel(quantile=0.05))} to {_usd(gq.sel(quantile=0.95))}"
                 " per year")
    lines.append(f"{n:,} trials, seed {ds.attrs['seed']}, {float(ds.attrs['elapsed_s']):.2f} s "
                 f"on {ds.attrs.get('threads', '?')} threads")
    lines.append("")
    lines.append(f"{'output ($B/yr)':<26}{'mean':>11}{'5%':>11}{'50%':>11}{'95%':>11}")
    for name in OUTPUTS:
        q = ds[f"{name}_quantile"]
        cells = [ds[f"{name}_mean"], q.sel(quantile=0.05), q.sel(quantile=0.5),
                 q.sel(quantile=0.95)]
        label = name + (" (ratio)" if name == "spend_to_revenue" else "")
        lines.append(f"{label:<26}" + "".join(f"{_fmt(float(c)):>11}" for c in cells))
        bad = int(ds[f"{name}_nonfinite"])
        if bad:
            lines.append(f"  note: {name} is infinite in {bad:,} trials (AI revenue of 0); "
                         "they are left out of its mean and quantiles")
    return "\n".join(lines)


def _pct(p: float) -> str:
    if p == 0.0:
        return "0%"
    if p < 1e-4:
        return f"{p:.2e}"
    return f"{100 * p:.3g}%" if p < 0.01 else f"{100 * p:.2f}%"


def _usd(v) -> str:
    x = float(v)
    return f"-${-x:,.1f}B" if x < 0 else f"${x:,.1f}B"


def _fmt(x: float) -> str:
    if x != x:
        return "n/a"
    return f"{x:,.1f}" if abs(x) >= 0.05 or x == 0 else f"{x:.3g}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
