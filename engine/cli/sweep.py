"""``capexgap sweep`` and ``capexgap tornado``: sub-commands added to :mod:`engine.cli`.

Same conventions as ``quote``: errors on stderr with exit code 2 and no traceback, ``--json``
prints exactly one JSON object, ``--out`` writes the format its suffix names
(:mod:`engine.io.exports`) atomically and never overwrites without ``--force`` (both checked
before any work), a progress bar on a terminal after 2 s.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from engine.base import fmt
from engine.cli import cluster
from engine.cli import common as cli
from engine.base.safetext import escape
from engine.present.text import qmc_lines
from engine.analyses.sweeps import (DEFAULT_MAX_MEMORY_MIB, MAX_POINTS, MAX_POINTS_CEILING,
                                    SWEEP_MAX_TRIALS)
from engine.analyses.tornado import DEFAULT_LEVELS

SWEEP_DESCRIPTION = """\
Run a grid of "what if" points from the config's [sweep] table, every point on the same
trials (common random numbers), and report every quote quantity at every point: P(cover) with
its 95% interval, each output's mean, std and quantiles.

Each [sweep] key names an input (margin, useful_life, revenue.Microsoft: the input is pinned
to each value) or one parameter of an input's distribution (gpu_spend.ci90, margin.mode: the
parameter is replaced). Values are a list, { start, stop, num } (evenly spaced, both ends
included) or { values = [...] }. The grid is the product of all keys:

  [sweep]
  margin = { start = 0.3, stop = 0.7, num = 5 }
  useful_life = [1, 2, 3, 4, 5, 6]
  gpu_spend.ci90 = [[100, 200], [150, 300]]     # pairs: dimension = index, pairs as _lo/_hi

A point is bit-identical to `capexgap quote` of the config with that value pinned, with the
same --seed and --trials."""

SWEEP_EPILOG = f"""\
examples:
  capexgap sweep configs/sweep-margin-life.toml
  capexgap sweep configs/sweep-energy-spend.toml --json
  capexgap sweep configs/sweep-margin-life.toml --trials 2000000 --out sweep.nc

Memory: one pass holds about (NUMBA_NUM_THREADS + 1) x 6.4 MB per point (x 1.83 per reported
year for the multi-year vintage model: 105 MB for 9 years); larger grids run in several passes
(groups of points) within --max-memory, at least one point per pass, with identical results.
Exit codes: 0 ok, 2 bad input (message on stderr), 130 interrupted by Ctrl-C, 143 by
SIGTERM (either stops after the wave under way and writes nothing).
Default limits: --max-points {MAX_POINTS}, --max-memory {DEFAULT_MAX_MEMORY_MIB} MiB."""

TORNADO_DESCRIPTION = """\
One at a time: pin each uncertain input at its 10th and 90th percentile (--levels) while every
other input stays random, and rank the inputs by the swing this causes in P(cover) and in the
median gap. The baseline and all pinned variants run on the same trials (common random
numbers) in one pass, so a swing is a difference on identical trials, not noise."""

TORNADO_EPILOG = """\
examples:
  capexgap tornado                                 bundled default scenario (ai-capex-2024)
  capexgap tornado configs/ai-capex-2024.toml --levels 0.05 0.95 --json
  capexgap tornado configs/ai-capex-2024.toml --sort-by gap_median --out tornado.nc

The levels are given on the command line only (a config has no [tornado] table).
Exit codes: 0 ok, 2 bad input (message on stderr), 130 interrupted by Ctrl-C, 143 by
SIGTERM (either stops after the wave under way and writes nothing)."""


_max_memory = cli.positive_float(DEFAULT_MAX_MEMORY_MIB)  # --max-memory


def _max_points(text: str) -> int:
    """``--max-points``: a whole number in [1, MAX_POINTS_CEILING]."""
    value = cli._positive_int(text)
    if value > MAX_POINTS_CEILING:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_POINTS_CEILING:,}, got {text!r}")
    return value


def _level(text: str) -> float:
    # the range (nan and inf included) is checked by engine.analyses.tornado._levels, with the
    # others
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None


def _common(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--trials", type=cli._positive_int, metavar="N",
                   help="trials per point, the same trials at every point (default: the "
                        "config's scenario.trials)")
    cli.add_seed_threads(p)
    cli.add_output_flags(p, what)
    p.add_argument("--max-memory", type=_max_memory, metavar="MiB",
                   default=DEFAULT_MAX_MEMORY_MIB,
                   help="memory for one pass's accumulators; points beyond it run in further "
                        f"passes, with identical results (default {DEFAULT_MAX_MEMORY_MIB})")
    p.add_argument("--sampler", choices=("mc", "sobol", "lhs"), default="mc",
                   help="how trials are drawn, the same points at every point: mc (plain Monte "
                        "Carlo, the default), sobol (--replicates scrambled Sobol' point sets) "
                        "or lhs (--replicates Latin hypercubes); each point then gets its "
                        "replicates' t interval and mean standard errors, as `quote --sampler`")
    p.add_argument("--replicates", type=cli._positive_int, metavar="R",
                   help="with --sampler sobol or lhs: independent replicates (default 16, at "
                        "least 2); --trials is rounded up to R x a power of two")
    cli.add_correlation_flags(p)
    cluster.add_flags(p)
    cli.add_set_flag(p)


def add_commands(sub) -> None:
    """Add ``sweep`` and ``tornado`` to the ``capexgap`` sub-command parser."""
    formatter = argparse.RawDescriptionHelpFormatter
    s = sub.add_parser("sweep", help="every quote quantity over a grid of what-if points",
                       description=SWEEP_DESCRIPTION, epilog=SWEEP_EPILOG,
                       formatter_class=formatter)
    s.add_argument("config", metavar="CONFIG",
                   help="scenario file (TOML) with a [sweep] table")
    _common(s, "the grid, then each point's p_cover, interval and output quantiles")
    s.add_argument("--max-points", type=_max_points, metavar="N", default=MAX_POINTS,
                   help=f"refuse grids with more points than this (default {MAX_POINTS}, at "
                        f"most {MAX_POINTS_CEILING:,}); checked before anything runs")
    s.add_argument("--precision", type=cli._number, metavar="REL",
                   help="instead of --trials: run until the 95%% interval of P(cover) at EVERY "
                        "point is within +-REL of it (relative; a point with P(cover) = 0 never "
                        "gets there: use --abs-precision). With --sampler sobol|lhs: replicates "
                        "of --trials / R points are added until then")
    s.add_argument("--abs-precision", type=cli._number, metavar="ABS",
                   help="run until every point's 95%% interval is within +-ABS (absolute)")
    s.add_argument("--max-trials", type=cli._positive_int, metavar="N",
                   help=f"with a precision target: at most N trials per point (default "
                        f"{SWEEP_MAX_TRIALS:,}); exit code 4 if a point misses the target")
    s.set_defaults(func=_sweep)

    t = sub.add_parser("tornado", help="rank the inputs by the swing each causes in P(cover)",
                       description=TORNADO_DESCRIPTION, epilog=TORNADO_EPILOG,
                       formatter_class=formatter)
    cli.add_config_arg(t)
    t.add_argument("--levels", type=_level, nargs="+", metavar="Q",
                   default=list(DEFAULT_LEVELS),
                   help="quantile levels at which each uncertain input is pinned, two or more "
                        "in (0, 1); the swing is highest minus lowest (default: 0.1 0.9)")
    t.add_argument("--sort-by", choices=("p_cover", "gap_median"), default="p_cover",
                   help="rank by the absolute swing in P(cover) (ties by the median gap's), or "
                        "in the median gap first (default: p_cover)")
    _common(t, "baseline, then each input's pinned values, P(cover), median gap and swings")
    t.add_argument("--max-points", type=_max_points, metavar="N", default=MAX_POINTS,
                   help=f"refuse tornados of more points (1 + uncertain inputs x levels) than "
                        f"this (default {MAX_POINTS}, at most {MAX_POINTS_CEILING:,})")
    t.add_argument("--plot", metavar="OUT.png",
                   help="also draw the tornado (.png, .svg or .pdf; needs matplotlib); refuses "
                        "to overwrite without --force. Multi-year model: the last reported "
                        "year, the one it is ranked by (other years: --out, then "
                        "`capexgap plot --year`)")
    t.set_defaults(func=_tornado)


def _run(args: argparse.Namespace, n_points: int, trials: int | None, fn):
    total = trials * n_points if trials is not None else None  # None: a precision target
    # Ctrl-C / SIGTERM (engine.interrupts, installed by cli.main) stop after the current wave;
    # nothing is kept (a sweep's groups would hold different trial counts)
    with cli.point_trial_progress(total, args.quiet) as progress:
        return fn(progress)


def _sweep(args: argparse.Namespace) -> int:
    from engine.analyses.sweeps import _target, n_passes, sweep, sweep_grid
    from engine.io.exports import check_export, write_export
    from engine.io.sweep_summary import sweep_summary

    scenario = cli.load_scenario(args)
    sampler = _sampler(args)
    # with a sampler and a target, --trials sets the size of the replicates (--trials / R)
    target = _target(scenario, None if sampler else args.trials, args.precision,
                     args.abs_precision, args.max_trials, flags=True)
    grid = sweep_grid(scenario, max_points=args.max_points)
    groups = n_passes(grid.scenarios, args.max_memory)
    if args.out:
        check_export(args.out, args.force)  # the suffix, and the file, before any work
    trials = None if target and not sampler else \
        (args.trials if args.trials is not None else scenario.trials)
    total = None if target else _points_per(trials, sampler)
    ds = _run(args, grid.n_points, total, lambda progress: sweep(
        scenario, grid, trials=trials, seed=args.seed, threads=args.threads,
        max_memory_mib=args.max_memory, progress=progress, precision=args.precision,
        abs_precision=args.abs_precision, max_trials=args.max_trials, **sampler))
    changed = cli.overrides(ds, args)  # --set: recorded before the Dataset is written
    if args.out:
        # by suffix; never over a file that appeared
        write_export(ds, args.out, force=args.force, groups=groups)
    if args.json:
        print(json.dumps({**sweep_summary(ds, groups=groups),
                          **({"overrides": changed} if changed else {})}))
    else:
        print(cli.with_overrides(format_sweep(cli.with_command_compile(ds), scenario.source,
                                          groups), changed))
    if target is not None and not int(ds.attrs["precision_met"]):
        print(f"capexgap: precision target {ds.attrs['precision_stop']}; the result was "
              f"{'written and ' if args.out else ''}printed.", file=sys.stderr)
        return cli.EXIT_PRECISION_NOT_MET
    return 0


def _tornado(args: argparse.Namespace) -> int:
    from engine.analyses.sweeps import n_passes
    from engine.analyses.tornado import _levels, tornado, tornado_points
    from engine.io.exports import check_export, write_export
    from engine.io.sweep_summary import tornado_summary

    scenario = cli.load_scenario(args)
    levels = _levels(args.levels)
    points = tornado_points(scenario, levels, max_points=args.max_points)
    n_points = len(points)
    groups = n_passes(points, args.max_memory)
    if args.out:
        check_export(args.out, args.force)  # the suffix, and the file, before any work
    if args.plot:
        from engine.present.plot import check_output
        check_output(args.plot, args.force)
    trials = args.trials if args.trials is not None else scenario.trials
    sampler = _sampler(args)
    ds = _run(args, n_points, _points_per(trials, sampler), lambda progress: tornado(
        scenario, levels=levels, sort_by=args.sort_by, trials=trials, seed=args.seed,
        threads=args.threads, max_memory_mib=args.max_memory, progress=progress,
        max_points=args.max_points, **sampler))
    changed = cli.overrides(ds, args)  # --set: recorded before the Dataset is written
    if args.out:
        # by suffix; never over a file that appeared
        write_export(ds, args.out, force=args.force, groups=groups)
    if args.plot:
        from engine.present.plot import plot_tornado, save_figure
        # A multi-year tornado: the last reported year, the year it is ranked by (noted).
        save_figure(plot_tornado(ds), args.plot, force=args.force)
    if args.json:
        print(json.dumps({**tornado_summary(ds, groups=groups),
                          **({"overrides": changed} if changed else {})}))
    else:
        print(cli.with_overrides(format_tornado(cli.with_command_compile(ds),
                                            scenario.source, groups), changed))
    return 0


def _sampler(args: argparse.Namespace) -> dict:
    """``sampler`` and ``replicates`` for :func:`engine.sweep` / :func:`engine.tornado` (the
    flags checked as ``quote`` checks them)."""
    from engine.cli.samplers import check_sampler

    replicates = check_sampler(args)
    return {} if replicates is None else {"sampler": args.sampler, "replicates": replicates}


def _points_per(trials: int | None, sampler: dict) -> int | None:
    """The trials each point runs (replicated samplers: whole replicates of 2**k points)."""
    if trials is None or not sampler:
        return trials
    from engine.analyses.qmc import points_per_replicate

    return points_per_replicate(trials, sampler["replicates"]) * sampler["replicates"]


def _coord_text(ds, dim: str, i: int) -> str:
    if f"{dim}_lo" in ds.coords:
        return f"[{ds[f'{dim}_lo'].values[i]:.6g}, {ds[f'{dim}_hi'].values[i]:.6g}]"
    return f"{float(ds[dim].values[i]):.6g}"


def format_sweep(ds, source: str, groups: int | None = None) -> str:
    """The sweep as text: one row per point with P(cover), its interval and the gap.

    A multi-year (vintage) sweep shows P(cover) in each year instead (at most
    :data:`MAX_YEAR_COLUMNS` years), its interval in the last year and the break-even year.
    """
    import itertools

    dims = json.loads(ds.attrs["sweep_dims"])
    n = int(ds.attrs["trials"])
    sizes = [ds.sizes[d] for d in dims]
    shown_dims = [escape(d, limit=60) for d in dims]
    n_points = 1
    for s in sizes:
        n_points *= s
    vintage = "year" in ds["p_cover"].dims
    lines = [f"{escape(ds.attrs['title'])}  ({escape(source)})",
             "Sweep of " + " x ".join(f"{d} ({s} values)" for d, s in zip(shown_dims, sizes))
             + f" = {n_points:,} points; every point sees the same {n:,} trials "
               f"(seed {ds.attrs['seed']})", ""]
    widths = [max(len(d), 8) + 2 for d in shown_dims]
    head = "".join(f"{d:<{w}}" for d, w in zip(shown_dims, widths))
    precision = "precision_target" in ds.attrs
    if precision:
        lines.insert(2, f"Precision target {ds.attrs['precision_target']}: "
                        f"{ds.attrs['precision_stop']}.")
    if vintage:
        years = [int(y) for y in ds["year"].values]
        shown = _shown_years(len(years))
        last = years[-1]
        lines[-1:-1] = [f"Multi-year (vintage) model, {years[0]}-{last}: P(cover) in "
                        + ("each year" if len(shown) == len(years) else "some of the years")
                        + ", its 95% interval in the last, and the break-even year."]
        lines.append(head + "".join(f"{years[k]:>9}" for k in shown)
                     + f"  {'95% CI ' + str(last):<22}{'break-even':>12}"
                     + f"{'none by ' + str(last):>15}")
    else:
        rel_head = f"{'+-rel':>9}" if precision else ""
        lines.append(f"{head}{'P(cover)':>10}{rel_head}  {'95% CI':<22}{'gap median':>12}"
                     f"{'gap 5%':>11}{'gap 95%':>11}   ($B/yr)")
    gq = ds["gap_quantile"]
    for combo in itertools.product(*(range(s) for s in sizes)):
        at = dict(zip(dims, combo))
        cells = "".join(f"{_coord_text(ds, d, i):<{w}}" for (d, i), w in zip(at.items(), widths))
        if vintage:
            p = ds["p_cover"].isel(at).values
            lo, hi = (float(v) for v in ds["p_cover_ci95"].isel(at).values[-1])
            be = float(ds["breakeven_year_quantile"].isel(at).sel(quantile=0.5))
            never = float(ds["p_breakeven_never"].isel(at))
            ci = fmt.p_interval(lo, hi)
            lines.append(cells + "".join(f"{fmt.pct(float(p[k])):>9}" for k in shown)
                         + f"  {ci:<22}{_year_text(be, last):>12}{fmt.pct(never):>15}")
            continue
        p = float(ds["p_cover"].isel(at))
        lo, hi = (float(v) for v in ds["p_cover_ci95"].isel(at).values)
        q = gq.isel(at)
        ci = fmt.p_interval(lo, hi)
        rel = ""
        if precision:
            r = max(hi - p, p - lo) / p if p > 0 else math.inf
            rel = f"{fmt.percent(r):>9}"
        lines.append(f"{cells}{fmt.pct(p):>10}{rel}  {ci:<22}"
                     + f"{fmt.amount(float(q.sel(quantile=0.5))):>12}"
                     + "".join(f"{fmt.amount(float(q.sel(quantile=x))):>11}"
                               for x in (0.05, 0.95)))
    passes = f" in {groups} pass{'es' if groups != 1 else ''}" if groups else ""
    lines.append("")
    lines.extend(qmc_lines(ds))
    if vintage:
        lines.append("P(cover): AI revenue >= the year's required revenue. break-even: the "
                     "median of the first year it does ('after': in fewer than half the "
                     f"trials by {last}); none by {last}: P(no year covers).")
    lines.append(f"{n_points:,} points x {n:,} trials{passes}, {fmt.run_time(ds.attrs)}")
    return "\n".join(lines)


def format_tornado(ds, source: str, groups: int | None = None) -> str:
    """The tornado as text: baseline, then one row per input, ranked by swing.

    A multi-year (vintage) tornado shows the last reported year (the year it is ranked by) and
    adds the median break-even year at each pinned level.
    """
    lv = [float(q) for q in ds["level"].values]
    lo_l, hi_l = fmt.pctl(lv[0]), fmt.pctl(lv[-1])
    n = int(ds.attrs["trials"])
    vintage = "year" in ds["baseline_p_cover"].dims

    def last(da):
        return da.isel(year=-1) if vintage else da

    bl = float(last(ds["baseline_p_cover"]))
    blo, bhi = (float(v) for v in last(ds["baseline_p_cover_ci95"]).values)
    base_gap = fmt.usd(last(ds["baseline_gap_quantile"].sel(quantile=0.5)))
    lines = [f"{escape(ds.attrs['title'])}  ({escape(source)})",
             f"Baseline: P(cover) = {fmt.pct(bl)} (95% CI {fmt.p_interval(blo, bhi)}), "
             f"median gap {base_gap}",
             f"Each uncertain input pinned at its {_and(lv)} quantiles, the others random; the "
             "same trials at every point.",
             f"Ranked {ds.attrs['tornado_sort'].replace('|', '')}; swing = at {hi_l} minus at "
             f"{lo_l} (P(cover) in percentage points).", ""]
    if vintage:
        years = [int(y) for y in ds["year"].values]
        year = years[-1]
        be = float(ds["baseline_breakeven_year_quantile"].sel(quantile=0.5))
        never = float(ds["baseline_p_breakeven_never"])
        lines[1:2] = [
            (f"Multi-year (vintage) model, {years[0]}-{year}: P(cover) and the gap below are "
             f"those of {year}, the last reported year (the Dataset has every year)."),
            (f"Baseline in {year}: P(cover) = {fmt.pct(bl)} (95% CI "
             f"{fmt.p_interval(blo, bhi)}), median gap {base_gap}; median break-even year "
             f"{_year_text(be, year)}, P(no break-even by {year}) = {fmt.pct(never)}")]
    width = max(12, max(len(escape(x, limit=60)) for x in ds["input"].values) + 2)
    at_lo, at_hi = f"at {lo_l}", f"at {hi_l}"
    in_year = f" in {year}" if vintage else ""
    head = (f"{'':<{width}}{'pinned value':^20}   {'P(cover)' + in_year:^32}   "
            f"{'median gap' + in_year + ' ($B/yr)':^28}")
    cols = (f"{'input':<{width}}{at_lo:>10}{at_hi:>10}   {at_lo:>10}{at_hi:>10}"
            f"{'swing':>12}   {at_lo:>10}{at_hi:>9}{'swing':>9}")
    if vintage:
        head += f"   {'break-even (median)':^22}"
        cols += f"   {at_lo:>11}{at_hi:>11}"
    lines += [head, cols]
    for name in ds["input"].values:
        r = ds.sel(input=name)
        pv = r["pinned_value"].values
        p = last(r["p_cover"]).values
        med = last(r["gap_quantile"].sel(quantile=0.5)).values
        row = (f"{escape(name, limit=60):<{width}}{pv[0]:>10.4g}{pv[-1]:>10.4g}   "
               f"{fmt.pct(float(p[0])):>10}{fmt.pct(float(p[-1])):>10}"
               f"{fmt.pp(float(last(r['swing_p_cover']))):>12}   {fmt.amount(float(med[0])):>10}"
               f"{fmt.amount(float(med[-1])):>9}{float(last(r['swing_gap_median'])):>+9.1f}")
        if vintage:
            bq = r["breakeven_year_quantile"].sel(quantile=0.5).values
            row += f"   {_year_text(float(bq[0]), year):>11}{_year_text(float(bq[-1]), year):>11}"
        lines.append(row)
    n_points = 1 + ds.sizes["input"] * ds.sizes["level"]
    passes = f" in {groups} pass{'es' if groups != 1 else ''}" if groups else ""
    lines.append("")
    lines.extend(qmc_lines(ds))
    if vintage:
        lines.append("break-even: the median of the first year AI revenue covers the year's "
                     f"required revenue ('after {year}': in fewer than half the trials by then).")
    lines.append(f"{n_points:,} points x {n:,} trials{passes}, seed {ds.attrs['seed']}, "
                 f"{fmt.run_time(ds.attrs)}")
    return "\n".join(lines)


#: A multi-year sweep's text shows P(cover) in at most this many years (first and last kept).
MAX_YEAR_COLUMNS = 10


def _shown_years(n: int) -> list[int]:
    """Indices of the years whose P(cover) the sweep text shows: all, or evenly spaced."""
    if n <= MAX_YEAR_COLUMNS:
        return list(range(n))
    return sorted({round(i * (n - 1) / (MAX_YEAR_COLUMNS - 1)) for i in range(MAX_YEAR_COLUMNS)})


def _year_text(v: float, last: int) -> str:
    """A break-even year quantile: the year, or 'after <last>' (inf)."""
    return str(int(v)) if math.isfinite(v) else f"after {last}"


def _and(levels) -> str:
    names = [fmt.pctl(q) for q in levels]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

