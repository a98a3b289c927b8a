"""The text of a quote: a headline sentence, then a small table of outputs (a model may give
its own, e.g. the vintage model's table by year).

Dependency rule: every layer below the command line.
"""


from __future__ import annotations

import math

from engine import models
from engine.base import fmt
from engine.base.safetext import escape


def format_quote(ds, source: str) -> str:
    """The human-readable answer: a headline sentence, then a small table of outputs."""
    from engine.models.one_year import OUTPUTS

    model = models.of_dataset(ds)
    if model is not None and model.text is not None:
        text = model.text(ds, source)
        extra = ([correlation_text(ds)] if "correlation" in ds.attrs else []) + \
            gap_above_lines(ds) + qmc_lines(ds)
        return "\n".join([text, *extra])

    n = int(ds.attrs["trials"])
    hits = int(ds["hits"])
    lo, hi = (float(v) for v in ds["p_cover_ci95"].values)
    method = ds["p_cover_ci95"].attrs["method"]
    lines = [f"{escape(ds.attrs['title'])}  ({escape(source)})"]
    if not int(ds.attrs.get("completed", 1)):
        lines.append(f"PARTIAL RESULT: {n:,} of {int(ds.attrs['trials_requested']):,} "
                     f"requested trials ({ds.attrs.get('stop_reason') or 'stopped early'}); "
                     "every figure below is over those trials only.")
    importance = ds.attrs.get("method") == "importance"
    if importance:
        from engine.analyses.precision import importance_lines
        lines.extend(importance_lines(ds))
    elif hits == 0:
        lines.append(f"No trial covered: 0 of {n:,} trials. P(AI revenue covers the annual "
                     f"cost of AI capex) < {fmt.pct(hi)} (one-sided 95% upper bound).")
    else:
        lines.append(f"P(AI revenue covers the annual cost of AI capex) = "
                     f"{fmt.pct(float(ds['p_cover']))}  (95% CI {fmt.p_interval(lo, hi)}, "
                     f"{method}; {hits:,} of {n:,} trials)")
    if "precision_target" in ds.attrs:
        from engine.core.stats import mc_precision
        rel = float(ds["p_cover_rel_error"]) if "p_cover_rel_error" in ds else \
            mc_precision(hits, n)[1]
        got = f" (reached +-{fmt.percent(rel)})" if math.isfinite(rel) else ""
        lines.append(f"Precision target {ds.attrs['precision_target']}: "
                     f"{ds.attrs['precision_stop']}{got}.")
    gq = ds["gap_quantile"]
    source = (f" (plain Monte Carlo, {int(ds.attrs['mc_trials']):,} trials)" if importance
              else "")
    lines.append(f"Gap (required annual revenue - AI revenue): median "
                 f"{fmt.usd(gq.sel(quantile=0.5))}, 90% interval "
                 f"{fmt.usd(gq.sel(quantile=0.05))} to {fmt.usd(gq.sel(quantile=0.95))}"
                 f" per year{source}")
    lines.extend(gap_above_lines(ds))
    counted = (f"{n:,} importance-sampling trials + {int(ds.attrs['mc_trials']):,} plain"
               if importance else f"{n:,}")
    lines.append(fmt.run_line(counted, ds.attrs))
    lines.extend(qmc_lines(ds))
    if "correlation" in ds.attrs:
        lines.append(correlation_text(ds))
    lines.append("")
    lines.append(f"{'output ($B/yr)':<26}{'mean':>11}{'5%':>11}{'50%':>11}{'95%':>11}")
    for name in OUTPUTS:
        q = ds[f"{name}_quantile"]
        cells = [ds[f"{name}_mean"], q.sel(quantile=0.05), q.sel(quantile=0.5),
                 q.sel(quantile=0.95)]
        label = name + (" (ratio)" if name == "spend_to_revenue" else "")
        lines.append(f"{label:<26}" + "".join(f"{fmt.amount(float(c)):>11}" for c in cells))
    notes = [line for line in str(ds.attrs.get("notes", "")).splitlines()
             if line and not line.startswith("partial result:")]
    if notes:
        lines.append("")
        lines.extend(f"note: {escape(line, None)}." for line in notes)
    return "\n".join(lines)


def qmc_lines(ds) -> list[str]:
    """How a randomized QMC quote's trials were drawn and its error bars obtained."""
    kind = {"sobol": "scrambled Sobol' points", "lhs": "Latin hypercubes"}.get(
        str(ds.attrs.get("method")))
    if kind is None or "replicates" not in ds.attrs:
        return []
    r, per = int(ds.attrs["replicates"]), int(ds.attrs["points_per_replicate"])
    line = (f"Sampler: {kind}, {r} independent replicates of {per:,}; 95% "
            f"intervals and standard errors from the spread of the replicates (Student t)")
    if "gap_mean_se" in ds and ds["gap_mean_se"].ndim == 0:
        line += (f"; mean gap {fmt.amount(float(ds['gap_mean']))} +- "
                 f"{fmt.amount(float(ds['gap_mean_se']))} (1 SE)")
    return [line]


def correlation_text(ds) -> str:
    """Which inputs are correlated, and how close the first chunk came to the target."""
    line = f"Correlated inputs: {escape(str(ds.attrs['correlation']), 300)}"
    if "correlation_achieved" in ds:
        t = ds["correlation_target"].values
        t = t.reshape(-1, *t.shape[-2:])[0]
        gap = float(abs(ds["correlation_achieved"].values - t).max())
        n = int(ds["correlation_achieved"].attrs.get("trials", 0))
        line += f"; the first {n:,} trials are within {gap:.3f} of each"
    return line


def gap_above_lines(ds) -> list[str]:
    """``P(gap > $100B) = 71.9%  (95% CI ...)`` for each ``--gap-above`` threshold (the last
    year's, for a multi-year result)."""
    if "p_gap_above" not in ds:
        return []
    p, ci = ds["p_gap_above"], ds["p_gap_above_ci95"]
    where = ""
    if "year" in p.dims:
        last = p["year"].values[-1]
        p, ci = p.sel(year=last), ci.sel(year=last)
        where = f" in {int(last)}"
    out = []
    for i, x in enumerate(p["gap_above"].values):
        lo, hi = (float(v) for v in ci.values[i])
        out.append(f"P(gap > {fmt.usd(float(x))}{where}) = {fmt.pct(float(p.values[i]))}  "
                   f"(95% CI {fmt.p_interval(lo, hi)})")
    return out
