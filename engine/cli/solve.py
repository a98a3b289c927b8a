"""``capexgap solve``: the multiplier on an input group at which P(cover) reaches a target.

Same conventions as ``sweep``: errors on stderr with exit code 2 and no traceback, ``--json``
prints exactly one JSON object (NaN as null), a progress bar on a terminal after 2 s.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from engine.analyses.points import _MONEY, DEFAULT_MAX_MEMORY_MIB
from engine.analyses.solve import DEFAULT_MAX_MULTIPLIER, MAX_MULTIPLIER_CEILING, MIN_TRIALS
from engine.base import fmt
from engine.base.safetext import escape
from engine.cli import cluster
from engine.cli import common as cli
from engine.cli.sweep import _max_memory

DESCRIPTION = """\
Goal seek: find the multiplier on a group of inputs at which P(cover) reaches a target
(--p-cover) or the gap's median equals a value (--gap-median), e.g. how much more AI revenue
would make covering the capex an even bet.

--scale names what is multiplied: revenue (every company's AI revenue), an input (gpu_spend,
margin, useful_life, ...; a series given year by year: every year of it), a company
(Microsoft: its revenue) or any input's full name (revenue.Microsoft). Multiplying an input by
m multiplies its random variable by m: a lognormal's mu moves by log m, a PERT's min, mode and
max are multiplied by m, a fixed value too.

Every evaluation runs the same seed and trials (common random numbers), so P(cover) moves
monotonically with the multiplier and is narrowed like a root: a log-spaced grid over the
search range in one pass, then points inside the brackets, pass after pass, to 5 significant
digits. The 95% interval of the multiplier is where the upper and the lower end of P(cover)'s
95% interval reach the target (for --gap-median: where the order statistics bounding the
median with 95% confidence equal it)."""

EPILOG = f"""\
examples:
  capexgap solve configs/ai-capex-2024.toml --scale revenue --p-cover 0.5
  capexgap solve configs/ai-capex-2024.toml --scale revenue --gap-median 0 --json
  capexgap solve configs/ai-capex-2024.toml --scale gpu_spend --p-cover 0.1
  capexgap solve configs/ai-capex-2024.toml --scale Microsoft --p-cover 0.05
  capexgap solve configs/vintage-2024-2032.toml --scale revenue --p-cover 0.5 --year 2030

The search range is 1/M to M (--max-multiplier M, default {DEFAULT_MAX_MULTIPLIER:g}),
narrowed where an input's hard range requires it (margin stays below 1, a growth rate above
-1). A target that is not reached anywhere in it gives a note and no multiplier (exit code 0;
--json: "status": "unreachable", "multiplier": null).
With --workers N or --scheduler ADDRESS every pass runs on a Dask cluster, with the same
result bit for bit (docs/scaling.md).
Exit codes: 0 ok (found or not reachable), 2 bad input (message on stderr), 130 interrupted
by Ctrl-C, 143 by SIGTERM."""

#: The text lists at most this many scaled inputs (--json lists them all).
MAX_INPUT_LINES = 8


_positive_multiplier = cli.positive_float(DEFAULT_MAX_MULTIPLIER)


def _multiplier(text: str) -> float:
    """``--max-multiplier``: a finite number > 1 (the range is checked by the solver)."""
    value = _positive_multiplier(text)
    if value <= 1:
        raise argparse.ArgumentTypeError(f"must be > 1 (the search runs from 1/M to M), got "
                                         f"{text!r}")
    return value


_probability = cli.open_unit("0.5 is 50%")


def add_commands(sub) -> None:
    """Add ``solve`` to the ``capexgap`` sub-command parser."""
    s = sub.add_parser("solve", help="the multiplier on an input at which P(cover) reaches "
                                     "a target (goal seek)",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_config_arg(s)
    s.add_argument("--scale", required=True, metavar="NAME",
                   help="what to multiply: revenue (every company), an input (gpu_spend, "
                        "margin, ...), a company (Microsoft) or an input's full name")
    target = s.add_mutually_exclusive_group(required=True)
    target.add_argument("--p-cover", type=_probability, metavar="P",
                        help="target P(cover), strictly between 0 and 1 (0.5: an even bet)")
    target.add_argument("--gap-median", type=cli._number, metavar="X",
                        help="target median gap, $B/yr (0: the medians of AI revenue and of "
                             "required revenue meet)")
    s.add_argument("--max-multiplier", type=_multiplier, metavar="M",
                   default=DEFAULT_MAX_MULTIPLIER,
                   help=f"search from 1/M to M (default {DEFAULT_MAX_MULTIPLIER:g}, at most "
                        f"{MAX_MULTIPLIER_CEILING:g})")
    s.add_argument("--year", type=cli._year, metavar="YEAR",
                   help="multi-year model: the year whose P(cover) or gap is solved for "
                        "(default: the last reported year)")
    s.add_argument("--trials", type=cli._positive_int, metavar="N",
                   help=f"trials per evaluation, the same at every multiplier (at least "
                        f"{MIN_TRIALS}; default: the config's scenario.trials)")
    cli.add_seed_threads(s)
    cli.add_output_flags(s, "the multiplier, its interval, the medians before and after, every "
                            "evaluation", out=None)
    s.add_argument("--max-memory", type=_max_memory, metavar="MiB",
                   default=DEFAULT_MAX_MEMORY_MIB,
                   help="memory for one pass's accumulators; points beyond it run in further "
                        f"passes, with identical results (default {DEFAULT_MAX_MEMORY_MIB})")
    cli.add_correlation_flags(s)
    cluster.add_flags(s)
    s.set_defaults(func=_solve)


def _solve(args: argparse.Namespace) -> int:
    from engine.analyses.solve import solve

    scenario = cli.load_scenario(args)
    with cli.point_trial_progress(None, args.quiet, "; nothing was printed") as progress:
        ds = solve(scenario, args.scale, p_cover=args.p_cover, gap_median=args.gap_median,
                   trials=args.trials, seed=args.seed, threads=args.threads,
                   max_multiplier=args.max_multiplier, year=args.year,
                   max_memory_mib=args.max_memory, progress=progress)
    if args.json:
        print(json.dumps(solve_summary(ds)))
    else:
        print(format_solve(cli.with_command_compile(ds)))
    return 0


def _num(v: Any) -> float | None:
    """A float for JSON: NaN and infinities as null."""
    x = float(v)
    return x if math.isfinite(x) else None


def _at(ds, m: float) -> dict[str, Any]:
    """The figures of the evaluation at multiplier `m`."""
    r = ds.sel(evaluation=int(list(ds["multiplier"].values).index(m)))
    out = {"multiplier": m, "p_cover": _num(r["p_cover"]),
           "p_cover_ci95": [_num(v) for v in r["p_cover_ci95"].values],
           "gap_median": _num(r["gap_median"]),
           "ai_revenue_median": _num(r["ai_revenue_median"]),
           "required_annual_revenue_median": _num(r["required_annual_revenue_median"])}
    if "gap_median_ci95" in ds:
        out["gap_median_ci95"] = [_num(v) for v in r["gap_median_ci95"].values]
    return out


def solve_summary(ds) -> dict[str, Any]:
    """The ``capexgap solve --json`` object (every NaN as null)."""
    found = ds.attrs["solve_status"] == "found"
    solution = float(ds["solution"])
    out: dict[str, Any] = {
        "analysis": "solve", "title": ds.attrs["title"], "config": ds.attrs["config_source"],
        "model": ds.attrs["model"], "scale": ds.attrs["solve_scale"],
        "scaled": ds.attrs["solve_scaled"], "inputs": json.loads(ds.attrs["solve_inputs"]),
        "target": {"kind": ds.attrs["solve_target_kind"],
                   "value": float(ds.attrs["solve_target_value"]),
                   "text": ds.attrs["solve_target"]},
    }
    if "solve_year" in ds.attrs:
        out["year"] = int(ds.attrs["solve_year"])
    out.update({
        "status": ds.attrs["solve_status"],
        "multiplier": _num(solution),
        "multiplier_ci95": [_num(v) for v in ds["solution_ci95"].values],
        "interval": ds.attrs["solve_interval"],
        "note": ds.attrs["solve_note"] or None,
        "baseline": _at(ds, 1.0),
        "at_solution": _at(ds, solution) if found else None,
        "input_medians": [
            {"input": str(n), "units": str(u), "baseline": _num(b), "solution": _num(a)}
            for n, u, b, a in zip(ds["scaled_input"].values, ds["input_units"].values,
                                  ds["input_median_baseline"].values,
                                  ds["input_median_solution"].values)],
        "search_range": [float(ds.attrs["search_lo"]), float(ds.attrs["search_hi"])],
        "search_limits": [x for x in ds.attrs["search_limits"].split("\n") if x],
        "evaluations": int(ds.attrs["evaluations"]), "passes": int(ds.attrs["passes"]),
        "trials": int(ds.attrs["trials"]), "seed": int(ds.attrs["seed"]),
        "elapsed_s": round(float(ds.attrs["elapsed_s"]), 4),
        "notes": [x for x in ds.attrs.get("notes", "").split("\n") if x],
        "curve": [{"multiplier": float(m), "p_cover": _num(p), "gap_median": _num(g)}
                  for m, p, g in zip(ds["multiplier"].values, ds["p_cover"].values,
                                     ds["gap_median"].values)],
    })
    return out


def _x(m: float) -> str:
    """A multiplier in text: 5 significant digits."""
    return f"{m:.5g}" if math.isfinite(m) else "n/a"


def format_solve(ds) -> str:
    """The goal seek as text: the multiplier and its interval, then a table of P(cover), the
    medians of AI revenue, required revenue and the gap, and the scaled inputs' medians, at
    x 1 and at the solution; any note last."""
    scale = escape(ds.attrs["solve_scale"], limit=60)
    year = f" in {int(ds.attrs['solve_year'])}" if "solve_year" in ds.attrs else ""
    lines = [f"{escape(ds.attrs['title'])}  ({escape(ds.attrs['config_source'])})",
             (f"Goal seek: the multiplier on {escape(ds.attrs['solve_scaled'], limit=300)} "
              f"at which {ds.attrs['solve_target']}."), ""]
    found = ds.attrs["solve_status"] == "found"
    m = float(ds["solution"])
    base = _at(ds, 1.0)
    if found:
        at = _at(ds, m)
        ends = [_x(v) if math.isfinite(v) else "beyond the range"
                for v in (float(x) for x in ds["solution_ci95"].values)]
        lines += [(f"{scale} x {_x(m)} (95% CI {ends[0]} to {ends[1]}): P(cover){year} = "
                   f"{fmt.pct(at['p_cover'])} (95% CI {fmt.p_interval(*at['p_cover_ci95'])})"),
                  ""]
        names = [escape(n, limit=40) for n in ds["scaled_input"].values]
        width = max(34, *(len(n) + 10 for n in names))
        lines.append(f"{'':<{width}}{'at x 1':>12}{'at x ' + _x(m):>16}")
        rows = [(f"P(cover){year}", fmt.pct(base["p_cover"]), fmt.pct(at["p_cover"]))]
        for key, label in (("ai_revenue_median", "AI revenue"),
                           ("required_annual_revenue_median", "required annual revenue"),
                           ("gap_median", "gap")):
            rows.append((f"{label}{year}, median", fmt.usd(base[key]), fmt.usd(at[key])))
        units = ds["input_units"].values
        pairs = zip(ds["input_median_baseline"].values, ds["input_median_solution"].values)
        for k, (name, (b, a)) in enumerate(zip(names, pairs)):
            if k == MAX_INPUT_LINES:
                more = f"... and {len(names) - k} more scaled inputs (--json lists them all)"
                rows.append((more, "", ""))
                break
            show = fmt.usd if units[k] == _MONEY else (lambda v: f"{v:.4g}")
            rows.append((f"{name}, median", show(b), show(a)))
        lines += [f"{r[0]:<{width}}{r[1]:>12}{r[2]:>16}".rstrip() for r in rows]
        lines += ["", f"Interval: {ds.attrs['solve_interval']}."]
    else:
        lines.append(f"At x 1: P(cover){year} = {fmt.pct(base['p_cover'])}, median gap "
                     f"{fmt.usd(base['gap_median'])}.")
    if ds.attrs["solve_note"]:
        lines += ["", *ds.attrs["solve_note"].split("\n")]
    lines += [f"note: {x}" for x in ds.attrs.get("notes", "").split("\n") if x]
    n = int(ds.attrs["trials"])
    passes = int(ds.attrs["passes"])
    lines.append(f"{int(ds.attrs['evaluations']):,} evaluations in {passes} "
                 f"pass{'es' if passes != 1 else ''}, each on the same {n:,} trials (seed "
                 f"{ds.attrs['seed']}), {fmt.run_time(ds.attrs)}")
    return "\n".join(lines)
