"""Quote P(cover) to a stated precision, rare events included.

Two estimators of P(cover), one driver (:func:`quote`, behind ``capexgap quote``):

**Plain Monte Carlo** (``method="mc"``): the share of trials that cover, with the Wilson
(Clopper-Pearson for few hits) 95% interval of :func:`engine.core.stats.proportion_interval`.

**Importance sampling** (``method="importance"``), for probabilities too small to see:
:mod:`engine.analyses.importance` (the shift, the weighted estimate, its error and its
effective sample size).

**Outputs under IS.** Moments and quantiles of a shifted sample describe the shifted
distribution, so an IS result takes every output's moments and quantiles (and the gap sketch)
from a plain MC pass: the pilot (precision runs, :data:`PILOT_TRIALS`) or the ``trials`` trials
(fixed runs). Only P(cover) and its error come from importance sampling.

**Precision targets.** ``precision`` (relative) and ``abs_precision`` (absolute) bound the
half-width of the reported 95% interval: ``max(hi - p, p - lo) <= precision * p`` and
``<= abs_precision``. The run goes on in whole blocks at fixed positions of the same
counter-based stream, looking after each wave (:func:`engine.core.driver.run_plan`'s ``monitor``)
and sizing the next wave by the predicted need (half-width ~ 1/sqrt(n)), until every target is
met or ``max_trials`` / ``max_seconds`` is reached. A run stopped at N trials is bit-identical
to a fixed run of N trials (apart from :data:`engine.core.dataset.RUN_ATTRS`). An
importance-sampling
run only counts as meeting a target once its effective sample size is at least
:data:`MIN_ESS` (a standard error from a handful of weighted hits is not trustworthy). Looking
repeatedly and stopping when the interval is narrow enough ("optional stopping") makes the
coverage of the final interval slightly less than 95%; the looks are few (the waves grow
geometrically towards the predicted need), and the target is on the interval's width, which
is far less sensitive to the stopping rule than its position.

**method="auto"** (the command line's default): plain MC, unless the plain pass has seen fewer
than :data:`AUTO_MIN_HITS` covering trials -- the whole fixed run, or (precision runs) its first
:data:`PILOT_TRIALS` trials -- or, with a precision target, would need more than ``max_trials``
to meet it (predicted at the end of the pilot). Then importance sampling. When no input is
random, or no covering point exists within |z_j| <= :data:`Z_BOUND`, importance sampling is
impossible and the plain result stands (with a note).

Layering: uses engine.base, engine.core, engine.models and
:mod:`engine.analyses.importance`; engine.cli wraps it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from typing import Any, Literal

import numba
import numpy as np
import xarray as xr

from engine.analyses.importance import (  # noqa: F401  (read here too)
    MAX_SHARE,
    MIN_ESS,
    PURPOSE_IMPORTANCE,
    PURPOSE_MC,
    IsEstimate,
    ShiftSearch,
    _is_dataset,
    importance_lines,
    importance_plan,
)
from engine.analyses.mixture import find_mixture
from engine.analyses.mixture import proposal_plan
from engine.analyses.targets import (  # noqa: F401
    METHODS,
    Target,
    _check_count,
    _g,
    check_options,
    precision_attrs,
)
from engine.base.interrupts import ProgressFn, StopFn
from engine.core.dataset import build_dataset
from engine.core.driver import DEFAULT_CHUNK, Totals, _check_run_args, run_plan
from engine.core.plan import Plan
from engine.core.reduce import BLOCK
from engine.core.scenario import Scenario
from engine.core.stats import proportion_interval
from engine.models import make_plan

from . import correlation, exceedance

Method = Literal["auto", "mc", "importance"]

#: "Too few hits" for plain Monte Carlo (method auto): below this, importance sampling.
AUTO_MIN_HITS = 100
#: Plain MC trials after which method auto decides (precision runs); the outputs' pass of an
#: importance-sampled precision run.
PILOT_TRIALS = 256 * BLOCK  # 1,048,576
#: First look of a precision run (then waves sized by the predicted need).
FIRST_LOOK = 4 * BLOCK
#: Method auto (precision runs) leaves plain Monte Carlo at the pilot's end when it would still
#: need more than this many trials: below it, setting up importance sampling (the search and
#: its pilot) costs about as much as it could save. The comparison counts trials, never
#: seconds, so the method, and so the Dataset, is the same on every machine and thread count.
AUTO_COMPARE_TRIALS = 4 * PILOT_TRIALS  # 4,194,304
#: Default cap on the trials behind P(cover) in a precision run.
DEFAULT_MAX_TRIALS = 10**9


# -------------------------------------------------------------------------------- monitors


class _McMonitor:
    """run_plan monitor of a plain MC precision run (every point must meet the target)."""

    def __init__(self, target: Target, cap: int, *, pilot_end: int | None,
                 at_least: int = 0, compare: bool = False) -> None:
        self.target = target
        self.cap = cap
        self.pilot_end = pilot_end  # method auto: decide here
        self.at_least = at_least    # never stop before (a sweep's earlier groups needed it)
        self.reason: str | None = None
        self.met = False
        self.switch = False
        self.switch_reason = ""
        # method auto, with a model importance sampling can run: compare the methods' cost
        # once, at the pilot's end
        self.compare = compare and pilot_end is not None
        self.rival_trials = math.inf  # plain MC's predicted trials to the target

    def state(self, done: int, hits: np.ndarray) -> tuple[bool, float]:
        """(all points meet the target, the largest factor of trials still needed)."""
        ok, need = True, 1.0
        for h in np.asarray(hits).reshape(-1):
            p = int(h) / done
            lo, hi, _ = proportion_interval(int(h), done)
            if not self.target.met(p, lo, hi):
                ok = False
            need = max(need, self.target.factor(p, lo, hi))
        return ok, need

    def __call__(self, done: int, hits: np.ndarray, moments: np.ndarray) -> int | None:
        if done == 0:
            return FIRST_LOOK if self.pilot_end is None else min(FIRST_LOOK, self.pilot_end)
        if done < self.at_least:
            return self.at_least - done
        ok, need = self.state(done, hits)
        if ok:
            self.met = True
            self.reason = f"precision target met after {done:,} trials"
            return 0
        if self.compare and done >= self.pilot_end:
            self.compare = False
            if (need - 1.0) * done > AUTO_COMPARE_TRIALS:
                self.switch, self.rival_trials = True, need * done
                self.switch_reason = (
                    f"plain Monte Carlo would need about {_trials(need * done)} trials; "
                    "importance sampling is tried as the cheaper way to the target")
                self.reason = "comparing with importance sampling"
                return 0
        if self.pilot_end is not None and done >= self.pilot_end:
            why = auto_switch(int(np.asarray(hits).reshape(-1).min()), done, need, self.cap)
            if why:
                self.switch, self.switch_reason = True, why
                self.reason = f"switching to importance sampling: {why}"
                return 0
            self.pilot_end = None
        return _want(done, need, self.pilot_end)


def is_trial_cost(search: ShiftSearch) -> float:
    """An importance-sampled trial's cost in plain trials: the shift and the likelihood ratio's
    log-sum-exp over the mixture's components (a model of this engine's kernels: about 4 with
    the default scenario's 9 shifted components and the nominal one)."""
    n_c = 1 if search.components is None else len(search.components)
    return 1.5 + 0.25 * (1 + n_c)


def auto_switch(hits: int, done: int, need: float, cap: int | None) -> str:
    """Why method auto leaves plain MC after `done` trials ('' to stay)."""
    if hits < AUTO_MIN_HITS:
        return (f"plain Monte Carlo saw {hits:,} covering trials in {done:,} "
                f"(fewer than {AUTO_MIN_HITS})")
    if cap is not None and need * done > cap:
        return (f"plain Monte Carlo would need about {_trials(need * done)} trials to meet the "
                f"target, more than the cap of {cap:,}")
    return ""


def _trials(x: float) -> str:
    return f"{x:.3g}" if x >= 1e7 or not math.isfinite(x) else f"{int(x):,}"


def _want(done: int, need: float, stop_at: int | None) -> int:
    """Trials before the next look: 2% past the predicted need, between a block and 3x done."""
    want = (need * 1.02 - 1.0) * done if math.isfinite(need) else math.inf
    want = int(min(max(want, BLOCK), 3.0 * done))
    if stop_at is not None:
        want = min(want, stop_at - done)
    return max(want, 1)


class _IsMonitor:
    """run_plan monitor of an importance-sampling precision run."""

    def __init__(self, target: Target, rival_trials: float = math.inf,
                 trial_cost: float = 1.0) -> None:
        self.target = target
        self.reason: str | None = None
        self.met = False
        self.rival_trials = rival_trials  # method auto: plain MC's predicted trials in all
        self.trial_cost = trial_cost  # an importance-sampled trial, in plain trials
        self.lost = ""  # why plain Monte Carlo is cheaper after all ('' if it is not)

    def __call__(self, done: int, hits: np.ndarray, moments: np.ndarray) -> int | None:
        if done == 0:
            return FIRST_LOOK
        if int(np.asarray(hits).reshape(-1)[0]) == 0 and done >= PILOT_TRIALS:
            # the shift misses the covering region: more trials will not help
            self.reason = f"no importance-sampled trial covered in {done:,}"
            return 0
        est = IsEstimate.from_moments(moments[0])
        lo, hi = est.ci
        if not est.unreliable and self.target.met(est.p, lo, hi):
            self.met = True
            self.reason = f"precision target met after {done:,} trials"
            return 0
        need = self.target.factor(est.p, lo, hi) if est.p > 0 else math.inf
        if est.ess < MIN_ESS:
            need = max(need, MIN_ESS / max(est.ess, 1.0))
        if est.max_share > MAX_SHARE:  # one weight dominates: its share falls as 1/n at best
            need = max(need, est.max_share / MAX_SHARE)
        if math.isfinite(self.rival_trials):  # method auto: the first look decides
            left = (need - 1.0) * done * self.trial_cost
            if left > self.rival_trials:
                self.lost = (f"importance sampling would need about {_trials(need * done)} "
                             f"trials, each costing about {self.trial_cost:.2g} plain ones; "
                             f"plain Monte Carlo about {_trials(self.rival_trials)}")
                return 0
            self.rival_trials = math.inf
        return _want(done, need, None)


# ------------------------------------------------------------------------------- the driver


class _Clock:
    """What is left of max_seconds: the wall time since the run began (setting up, searching,
    simulating, building the result), less the JIT compiling, which does not count."""

    def __init__(self, max_seconds: float | None) -> None:
        self.max_seconds = max_seconds
        self.start = time.perf_counter()
        self.compiling = 0.0

    def compiled(self, seconds: float) -> None:
        """`seconds` of the time so far were JIT compiling."""
        self.compiling += seconds

    def left(self) -> float | None:
        if self.max_seconds is None:
            return None
        used = time.perf_counter() - self.start - self.compiling
        return max(self.max_seconds - used, 1e-3)

    def reason(self) -> str:
        return f"time limit of {self.max_seconds:g} s reached"

    def run(self, plan: Plan, **kw: Any) -> Any:
        """``run_plan`` within what is left, its compiling noted, a stop by the limit told in
        the user's own number (not what was left of it)."""
        tot = run_plan(plan, max_seconds=self.left(), **kw)
        self.compiled(tot.extra.get("compile_s", 0.0))
        if tot.extra.get("stopped_by") == "max_seconds":
            tot.extra["stop_reason"] = self.reason()
        return tot


def _with_correlation(fn: Callable[..., xr.Dataset]) -> Callable[..., xr.Dataset]:
    """The result with the correlation variables (:func:`engine.analyses.correlation.attach`)
    and the gap's exceedance curve (:func:`engine.analyses.exceedance.attach`)."""
    @functools.wraps(fn)
    def wrapper(scenario: Scenario, **kw: Any) -> xr.Dataset:
        if kw.get("sampler", "mc") != "mc":
            return fn(scenario, **kw)  # a replicated quote attaches its own
        ds = exceedance.attach(fn(scenario, **kw))
        seed = scenario.seed if kw.get("seed") is None else kw["seed"]
        return correlation.attach(ds, make_plan(scenario), scenario, seed,
                                  int(ds.attrs["trials"]))
    return wrapper


@_with_correlation
def quote(scenario: Scenario, *, method: Method = "auto", trials: int | None = None,
          precision: float | None = None, abs_precision: float | None = None,
          max_trials: int | None = None, pilot_trials: int | None = None,
          seed: int | None = None, threads: int | None = None, chunk_size: int = DEFAULT_CHUNK,
          progress: ProgressFn | None = None, should_stop: StopFn | None = None,
          max_seconds: float | None = None, sampler: str = "mc",
          replicates: int | None = None) -> xr.Dataset:
    """P(cover) by plain Monte Carlo, importance sampling or randomized quasi-Monte Carlo, to
    a fixed size or a precision.

    Parameters
    ----------
    scenario : Scenario
    method : {"auto", "mc", "importance"}
        See the module docstring; ``"auto"`` uses importance sampling when plain MC sees fewer
        than :data:`AUTO_MIN_HITS` covering trials.
    trials : int, optional
        A fixed run: this many trials (default ``scenario.trials``) for the plain pass and, if
        importance sampling is used, as many for it. Not with a precision target.
    precision, abs_precision : float, optional
        Relative / absolute half-width of the 95% interval to reach (every one given).
    max_trials : int, optional
        Cap on the trials behind P(cover) in a precision run (default
        :data:`DEFAULT_MAX_TRIALS`); the plain pilot of an importance-sampled run comes on top.
    pilot_trials : int, optional
        Trials of the plain pass (the outputs) of an importance-sampled run; default: `trials`
        (fixed runs) or ``min(PILOT_TRIALS, max_trials)`` (precision runs).
    seed, threads, chunk_size, progress, should_stop, max_seconds
        As for :func:`engine.simulate`; ``max_seconds`` covers every pass. ``progress`` is
        called with the trials done in the pass under way.
    sampler : {"mc", "sobol", "lhs"}
        "sobol" (scrambled Sobol' points) or "lhs" (Latin hypercubes): `replicates`
        independent replicates of the power of two at or above ``trials / replicates`` points,
        error bars from their spread (:func:`engine.analyses.qmc.simulate_qmc`); with a
        precision target, replicates of that size are added until P(cover)'s t interval meets
        it (:mod:`engine.analyses.qmc_precision`). Not with ``method="importance"``.
    replicates : int, optional
        Replicates of a "sobol" or "lhs" quote (>= 2, default 16).

    Returns
    -------
    xarray.Dataset
        Plain Monte Carlo: exactly :func:`engine.simulate`'s Dataset (attribute ``method`` =
        ``"mc"``; the error figures follow from ``hits`` and ``trials``). Importance
        sampling (``method`` = ``"importance"``): ``p_cover``, ``p_cover_ci95`` and ``hits``
        from the IS run, plus ``p_cover_se``, ``p_cover_rel_error``,
        ``effective_sample_size``, ``mc_equivalent_trials``, the weights' diagnostics,
        ``importance_shift`` and ``design_point`` (on ``model_input``) and the plain pass's
        own ``mc_p_cover``, ``mc_p_cover_ci95``, ``mc_hits``; its ``trials`` attribute counts
        the IS trials and ``mc_trials`` those of the plain pass behind every output's moments
        and quantiles. A precision run adds the
        attributes ``precision_target``, ``precision_met``, ``precision_max_trials`` and
        ``precision_stop`` (run attributes: a run stopped at N trials is identical to a fixed
        run of N trials once :func:`engine.strip_run_attrs` has removed them).
    """
    if sampler != "mc" or replicates is not None:
        from engine.analyses.qmc_precision import quote_qmc
        return quote_qmc(scenario, sampler=sampler, replicates=replicates, method=method,
                         trials=trials, precision=precision, abs_precision=abs_precision,
                         max_trials=max_trials, pilot_trials=pilot_trials, seed=seed,
                         threads=threads, chunk_size=chunk_size, progress=progress,
                         should_stop=should_stop, max_seconds=max_seconds)
    target = check_options(scenario, method=method, trials=trials, precision=precision,
                           abs_precision=abs_precision, max_trials=max_trials,
                           pilot_trials=pilot_trials)
    seed = scenario.seed if seed is None else seed
    if target is None:
        n = scenario.trials if trials is None else trials
        _check_run_args(n, seed, chunk_size)
    else:
        _check_run_args(1, seed, chunk_size)
    clock = _Clock(max_seconds)
    plan = make_plan(scenario)
    run = {"seed": seed, "threads": threads, "chunk_size": chunk_size, "progress": progress,
           "should_stop": should_stop}
    has_random = bool(plan.is_random.any())

    if target is None:
        mc_n = pilot_trials if (method == "importance" and pilot_trials) else n
        mc_tot = clock.run(plan, trials=mc_n, purpose=PURPOSE_MC, **run)
        choice = "mc"
        why = ""
        if mc_tot.completed and plan.model.cover_margin is not None:
            h = int(mc_tot.hits.reshape(-1)[0])
            if method == "importance":
                choice, why = "importance", "importance sampling asked for"
            elif method == "auto" and has_random:
                why = auto_switch(h, mc_tot.trials, 1.0, None)
                choice = "importance" if why else "mc"
                why = why or (f"plain Monte Carlo saw {h:,} covering trials (at least "
                              f"{AUTO_MIN_HITS})")
        mc_ds = _mc_dataset(scenario, mc_tot, seed=seed, requested=mc_n, run_attrs=_attrs(
            mc_tot, threads, chunk_size))
        if choice == "mc":
            return _label(mc_ds, method, why)
        return _importance(scenario, plan, mc_ds, method=method, why=why, n=n, target=None,
                           cap=None, clock=clock, **run)

    cap = DEFAULT_MAX_TRIALS if max_trials is None else max_trials
    if not has_random and plan.layout.dim is None:
        # Every trial is the same: P(cover) is exactly 0 or 1 after one look; no target can be
        # reached by the binomial interval (0 hits never meet a relative one), none is needed.
        n = min(cap, FIRST_LOOK)
        tot = clock.run(plan, trials=n, purpose=PURPOSE_MC, **run)
        ds = _label(_mc_dataset(scenario, tot, seed=seed, requested=n,
                                run_attrs=_attrs(tot, threads, chunk_size)), method,
                    "no input is random")
        if not tot.completed:
            return ds
        exact = "1" if int(ds["hits"]) == n else "0"
        return precision_attrs(ds, target, True, cap,
                                f"met exactly: no input is random, every trial is the same, "
                                f"P(cover) = {exact} (the binomial interval is a formality)")
    if method == "importance":
        mc_n = pilot_trials or min(PILOT_TRIALS, cap)
        mc_tot = clock.run(plan, trials=mc_n, purpose=PURPOSE_MC, **run)
        mc_ds = _mc_dataset(scenario, mc_tot, seed=seed, requested=mc_n,
                            run_attrs=_attrs(mc_tot, threads, chunk_size))
        if not mc_tot.completed:
            return _label(mc_ds, method, "stopped during the plain pass")
        return _importance(scenario, plan, mc_ds, method=method,
                           why="importance sampling asked for", n=None, target=target, cap=cap,
                           clock=clock, **run)

    pilot_end = min(pilot_trials or PILOT_TRIALS, cap) if (method == "auto" and has_random) \
        else None
    compare = pilot_end is not None and plan.model.cover_margin is not None
    lost = ""
    while True:
        monitor = _McMonitor(target, cap, pilot_end=pilot_end, compare=compare)
        mc_tot = clock.run(plan, trials=cap, purpose=PURPOSE_MC, monitor=monitor, **run)
        stopped_by = mc_tot.extra.get("stopped_by")
        if pilot_end is not None and not monitor.met and stopped_by is None:
            # the run reached the cap with the pilot: decide as the monitor would have
            ok, need = monitor.state(mc_tot.trials, mc_tot.hits)
            why = auto_switch(int(mc_tot.hits.reshape(-1).min()), mc_tot.trials, need, None)
            if not ok and why and mc_tot.trials <= pilot_end:
                monitor.switch, monitor.switch_reason = True, why
        if not monitor.switch:
            break
        totals = dataclasses.replace(mc_tot, completed=True)
        mc_ds = _mc_dataset(scenario, totals, seed=seed, requested=totals.trials,
                            run_attrs=_attrs(mc_tot, threads, chunk_size))
        out = _importance(scenario, plan, mc_ds, method=method, why=monitor.switch_reason,
                          n=None, target=target, cap=cap, clock=clock,
                          rival_trials=monitor.rival_trials, **run)
        if isinstance(out, xr.Dataset):
            return out
        # plain Monte Carlo is faster after all: its run again from the first trial (the same
        # trials, so the result is that of a plain run), without the pilot's decisions
        lost, compare, pilot_end = out, False, None
    interrupted = stopped_by == "should_stop"
    totals = mc_tot if interrupted else dataclasses.replace(mc_tot, completed=True)
    ok = monitor.met or (stopped_by is None and monitor.state(mc_tot.trials, mc_tot.hits)[0])
    ds = _mc_dataset(scenario, totals, seed=seed,
                     requested=cap if interrupted else totals.trials,
                     run_attrs=_attrs(mc_tot, threads, chunk_size))
    why = "plain Monte Carlo asked for" if method == "mc" else \
        f"plain Monte Carlo saw enough covering trials ({int(mc_tot.hits.min()):,})"
    if lost:
        why = f"plain Monte Carlo is faster to the target ({lost})"
    ds = _label(ds, method, why)
    return precision_attrs(ds, target, ok, cap, _stop_text(mc_tot, ok, cap))


def _stop_text(tot: Totals, ok: bool, cap: int) -> str:
    """How a precision run ended, e.g. "met after 94,208 trials"."""
    if ok:
        return f"met after {tot.trials:,} trials"
    if tot.extra.get("stopped_by") in ("max_seconds", "should_stop"):
        return f"NOT met: {tot.extra.get('stop_reason')} after {tot.trials:,} trials"
    return f"NOT met: the cap of {cap:,} trials (max_trials) was reached"


def _attrs(tot: Totals, threads: int | None, chunk_size: int) -> dict[str, Any]:
    return {"threads": numba.get_num_threads(), "chunk_size": chunk_size,
            "compile_s": round(tot.extra.get("compile_s", 0.0), 3)}


def _label(ds: xr.Dataset, method: str, why: str) -> xr.Dataset:
    ds.attrs["method_choice"] = f"{method}: {why}" if why else method
    return ds


def _mc_dataset(scenario: Scenario, totals: Totals, *, seed: int, requested: int,
                run_attrs: dict[str, Any]) -> xr.Dataset:
    """:func:`engine.core.dataset.build_dataset`: a plain result is exactly
    ``engine.simulate``'s (its
    standard error and effective sample size follow from ``hits`` and ``trials``:
    :func:`engine.core.stats.mc_precision`, reported by :func:`engine.io.results.summary`)."""
    return build_dataset(scenario, totals, seed=seed, requested_trials=requested,
                         run_attrs=run_attrs)


def _importance(scenario: Scenario, plan: Plan, mc_ds: xr.Dataset, *, method: str, why: str,
                n: int | None, target: Target | None, cap: int | None, clock: _Clock,
                seed: int, threads: int | None, chunk_size: int,
                progress: ProgressFn | None, should_stop: StopFn | None,
                rival_trials: float = math.inf) -> xr.Dataset | str:
    """The importance-sampling pass and its Dataset (outputs from `mc_ds`, a plain pass).

    With `rival_trials` (method auto: plain Monte Carlo's predicted trials to the target), the
    run's first look predicts its own cost in plain trials (:func:`is_trial_cost` each); if
    plain Monte Carlo is cheaper the run ends there and the reason is returned instead of a
    Dataset."""
    search = find_mixture(plan, seed=seed, threads=threads, chunk_size=chunk_size,
                          should_stop=should_stop, progress=progress, max_seconds=clock.left())
    clock.compiled(search.compile_s)
    if search.stopped == "max_seconds":
        search = dataclasses.replace(search, how=f"{clock.reason()} during the design-point "
                                                 "search")
    if search.stopped in ("stop", "max_seconds") and progress is not None:
        progress(0)  # the importance-sampling pass under way has done no trial
    if search.shift is None:
        return _impossible(mc_ds, method, why, target, cap, search.how)
    if method == "auto" and not np.any(search.shift):
        # the event is not rare (the median inputs cover): only the run was short
        return _impossible(mc_ds, method, why, target, cap,
                           f"{search.how}, so P(cover) is not small: give more trials")
    iplan = proposal_plan(plan, search)
    monitor = (_IsMonitor(target, rival_trials, is_trial_cost(search)) if target is not None
               else None)
    requested = n if target is None else cap
    assert requested is not None
    tot = clock.run(iplan, trials=requested, seed=seed, threads=threads, chunk_size=chunk_size,
                    purpose=PURPOSE_IMPORTANCE, progress=progress, should_stop=should_stop,
                    monitor=monitor)
    if monitor is not None and monitor.lost:
        return monitor.lost
    stopped_by = tot.extra.get("stopped_by")
    est0 = IsEstimate.from_moments(tot.moments[0])
    if int(tot.hits.reshape(-1)[0]) == 0 or not (est0.p > 0 and math.isfinite(est0.p)):
        # Without one covering trial (or with weights that all underflow to 0) the weighted
        # estimate is 0 with a standard error of 0: no information, never "P = 0, [0, 0]".
        # The plain pass's exact interval is the honest answer.
        return _impossible(mc_ds, method, why, target, cap,
                           f"importance sampling saw no covering trial with a weight above 0 "
                           f"in {tot.trials:,} (shift |mu| = {np.linalg.norm(search.shift):.3g})")
    interrupted = stopped_by == "should_stop" or (target is None and not tot.completed)
    if target is not None and not interrupted:
        tot = dataclasses.replace(tot, completed=True)
        requested = tot.trials
    ds = _is_dataset(scenario, mc_ds, tot, search, plan, requested=requested)
    ds = _label(ds, method, why)
    ds.attrs["compile_s"] = round(float(mc_ds.attrs.get("compile_s", 0.0)) + search.compile_s
                                  + tot.extra.get("compile_s", 0.0), 3)
    ds.attrs["elapsed_s"] = float(mc_ds.attrs["elapsed_s"]) + search.seconds + tot.elapsed_s
    if target is not None:
        est = IsEstimate.from_moments(tot.moments[0])
        lo, hi = est.ci
        ok = bool(monitor and monitor.met) or (not est.unreliable and target.met(est.p, lo, hi))
        stop = _stop_text(tot, ok, cap or 0)
        if not ok and est.unreliable and target.met(est.p, lo, hi):
            stop += f" (the interval is narrow enough, but {est.unreliable})"
        ds = precision_attrs(ds, target, ok, cap or 0, stop)
    return ds


def _impossible(mc_ds: xr.Dataset, method: str, why: str, target: Target | None,
                cap: int | None, reason: str) -> xr.Dataset:
    """The plain result, with a note saying why importance sampling could not improve it."""
    note = (f"importance sampling gives no estimate here ({reason}); P(cover) is the plain "
            "Monte Carlo estimate")
    mc_ds.attrs["notes"] = "\n".join(x for x in (mc_ds.attrs["notes"], note) if x)
    mc_ds = _label(mc_ds, method, f"{why}; but {reason}")
    if target is not None:
        h, k = int(mc_ds["hits"]), int(mc_ds.attrs["trials"])
        lo, hi, _ = proportion_interval(h, k)
        ok = target.met(h / k, lo, hi)
        mc_ds = precision_attrs(mc_ds, target, ok, cap or 0,
                                 ("met" if ok else "NOT met") + f" after {k:,} plain trials "
                                 "(importance sampling gave no estimate)")
    return mc_ds
