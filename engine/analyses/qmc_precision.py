"""A replicated quote (``sampler`` "sobol" or "lhs"), to a fixed size or to a precision target.

A fixed run is :func:`engine.analyses.qmc.simulate_qmc`. With a precision target the points
per replicate are fixed (those of the fixed run of ``trials`` and ``replicates``: the power of
two at or above ``trials / replicates``) and whole replicates are added, one at a time, until
P(cover)'s replicate t interval meets the target: tested from the
:data:`MIN_LOOK`-th replicate on (fewer give a t quantile too wide and a spread too rough to
judge by), until ``max_trials`` (whole replicates within it) or ``max_seconds``. Replicate r is
a pure function of (scenario, seed, r), so a run stopped after k replicates is the fixed run of
k replicates of the same size, bit for bit (apart from the run attributes,
:data:`engine.core.dataset.RUN_ATTRS`, where ``precision_*`` say how it ended).

Looking after every replicate and stopping when the interval is narrow enough makes the final
interval's coverage a little below 95% (optional stopping, as for plain Monte Carlo); the
target is on the interval's width, which the stopping rule affects far less than its position.

Dependency rule: ``engine.base``, ``engine.core``, ``engine.models`` and
:mod:`engine.analyses.qmc` / :mod:`engine.analyses.targets`.
"""

from __future__ import annotations


import xarray as xr

from engine.analyses.qmc import (
    DEFAULT_REPLICATES,
    Replicates,
    check_qmc,
    cover_interval,
    quote_dataset,
    run_replicates,
    simulate_qmc,
)
from engine.analyses.targets import Target, check_options, precision_attrs
from engine.base.errors import ConfigError
from engine.base.interrupts import ProgressFn, StopFn
from engine.core.driver import DEFAULT_CHUNK, Totals
from engine.core.scenario import Scenario
from engine.models import make_plan

#: Replicates before a precision run first tests its target.
MIN_LOOK = 4
#: Default cap on the trials of a replicated precision run (as for plain Monte Carlo).
DEFAULT_MAX_TRIALS = 10**9


def quote_qmc(scenario: Scenario, *, sampler: str, replicates: int | None = None,
              method: str = "auto", trials: int | None = None,
              precision: float | None = None, abs_precision: float | None = None,
              max_trials: int | None = None, pilot_trials: int | None = None,
              seed: int | None = None, threads: int | None = None,
              chunk_size: int = DEFAULT_CHUNK, progress: ProgressFn | None = None,
              should_stop: StopFn | None = None, max_seconds: float | None = None
              ) -> xr.Dataset:
    """:func:`engine.analyses.precision.quote` with ``sampler`` "sobol" or "lhs" (module
    docstring): `replicates` (default 16) replicates of the power of two at or above
    ``trials / replicates`` points; with `precision` / `abs_precision`, replicates of that size
    added until P(cover)'s t interval meets the target (`trials` then only sets their size).
    ``method`` "importance" and ``pilot_trials`` do not apply (ConfigError)."""
    if sampler == "mc":
        raise ConfigError(None, "replicates", "only applies with sampler 'sobol' or 'lhs'",
                          replicates, "Give sampler='sobol' (or 'lhs'), or drop replicates.")
    target = check_options(scenario, method=method, precision=precision,
                           abs_precision=abs_precision, max_trials=max_trials)
    if method == "importance" or pilot_trials is not None:
        key, value = ("method", method) if method == "importance" else \
            ("pilot_trials", pilot_trials)
        raise ConfigError(None, key, f"does not combine with sampler {sampler!r}", value,
                          "Importance sampling is for rare events: use it with plain Monte "
                          "Carlo (sampler 'mc').")
    trials = scenario.trials if trials is None else trials
    seed = scenario.seed if seed is None else seed
    n_r = DEFAULT_REPLICATES if replicates is None else replicates
    run = {"seed": seed, "threads": threads, "chunk_size": chunk_size, "progress": progress,
           "should_stop": should_stop, "max_seconds": max_seconds}
    if target is None:
        return simulate_qmc(scenario, trials=trials, replicates=n_r, sampler=sampler, **run)
    per = check_qmc(trials, seed, n_r, sampler, chunk_size)
    cap = DEFAULT_MAX_TRIALS if max_trials is None else max_trials
    most = most_replicates(cap, per)
    plan = make_plan(scenario)
    reps = run_replicates(plan, sampler, per, most,
                          enough=lambda runs: interval_met(target, runs, per), **run)
    k = len(reps.runs)
    signal = reps.stopped_by == "should_stop"
    if reps.stopped_by == "max_seconds" and k >= 2:
        reps.stop_reason = None  # a time limit: a whole result of the replicates done
    ds = quote_dataset(scenario, plan, reps, sampler, seed=seed, trials=k * per,
                       requested=most * per if signal else k * per, chunk_size=chunk_size)
    ok = reps.complete and interval_met(target, reps.runs, per)
    return precision_attrs(ds, target, ok, cap, _stop_text(reps, ok, cap, most))


def most_replicates(cap: int, per: int) -> int:
    """The whole replicates of `per` points within `cap` trials; ConfigError when fewer than
    :data:`MIN_LOOK` (the target would never be tested)."""
    most = cap // per
    if most < MIN_LOOK:
        raise ConfigError(None, "max_trials", f"allows {most} replicates of {per:,} points, "
                          f"fewer than the {MIN_LOOK} a precision target is first tested at",
                          cap, f"Raise it to at least {MIN_LOOK * per:,}, or give fewer trials "
                          "(or more replicates) for smaller replicates.")
    return most


def interval_met(target: Target, runs: list[Totals], per: int) -> bool:
    """Whether P(cover)'s replicate interval meets `target` at every point of the runs (never
    before :data:`MIN_LOOK` replicates)."""
    if len(runs) < MIN_LOOK:
        return False
    p, _, lo, hi = cover_interval(runs, per)
    return all(target.met(float(a), float(b), float(c))
               for a, b, c in zip(p.ravel(), lo.ravel(), hi.ravel()))


def _stop_text(reps: Replicates, ok: bool, cap: int, most: int) -> str:
    """How a replicated precision run ended, e.g. "met after 7 replicates of 65,536"."""
    k, per = len(reps.runs), reps.per
    done = f"{k} replicate{'s' if k != 1 else ''} of {per:,} points ({k * per:,} trials)"
    if ok:
        return f"met after {done}"
    if reps.stopped_by is not None:
        return f"NOT met: {reps.stop_why} after {done}"
    if k >= most:
        return (f"NOT met: the cap of {cap:,} trials (max_trials) allows {most} replicates "
                f"of {per:,} points")
    return f"NOT met after {done}"  # pragma: no cover - the loop stops only as above
