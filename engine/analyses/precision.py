"""Quote P(cover) to a stated precision, rare events included.

Two estimators of P(cover), one driver (:func:`quote`, behind ``capexgap quote``):

**Plain Monte Carlo** (``method="mc"``): the share of trials that cover, with the Wilson
(Clopper-Pearson for few hits) 95% interval of :func:`engine.result.proportion_interval`.

**Importance sampling** (``method="importance"``), for probabilities too small to see. Every
input is sampled through its quantile function at a normal score z (u = Phi(z)); the IS run
draws z = z0 + mu with z0 ~ N(0, I), i.e. from N(mu, I), and weights each trial by the
likelihood ratio ``w = exp(-mu.z + |mu|^2 / 2)``. The estimate is the mean of ``w * covers``
over n trials, its standard error ``SE = sd(w * covers) / sqrt(n)`` and its 95% interval the
normal approximation ``p +- 1.96 SE`` (clipped at 0). The shift mu is found in two steps, both
deterministic (:func:`find_shift`):

1. the *design point*, the most likely covering point: the z of least norm with revenue >=
   required, by ``scipy.optimize.minimize`` (SLSQP) on the model evaluated at normal scores
   through the kernels' own quantile functions (:func:`engine.importance_kernel.evaluate_at_z`);
2. one cross-entropy step: an IS pilot of :data:`CE_TRIALS` trials at the design point, on its
   own counter word (:data:`PURPOSE_SEARCH`), gives ``E[z | covers]`` under the nominal inputs,
   the mean of the normal family closest to the conditional law (kept when the pilot's
   effective sample size is at least :data:`MIN_ESS`, the design point otherwise).

The IS run itself uses the counter word :data:`PURPOSE_IMPORTANCE` (the plain run uses 0), so
its draws are independent of the pilots' and of the plain pass.

**Effective sample size** (``effective_sample_size``): Kish's ``(sum w)^2 / sum w^2`` over the
*covering* trials: the number of equally weighted covering trials the estimate is worth. For
plain MC it is the number of hits. Beside it, ``mc_equivalent_trials = p (1 - p) / SE^2``: how
many plain MC trials would give the same standard error. The weights' own Kish size over all
trials, and their mean (1 in expectation), are diagnostics of the shift.

**Outputs under IS.** Moments and quantiles of a shifted sample describe the shifted
distribution, so an IS result takes every output's moments and quantiles (and the gap sketch)
from a plain MC pass: the pilot (precision runs, :data:`PILOT_TRIALS`) or the ``trials`` trials
(fixed runs). Only P(cover) and its error come from importance sampling.

**Precision targets.** ``precision`` (relative) and ``abs_precision`` (absolute) bound the
half-width of the reported 95% interval: ``max(hi - p, p - lo) <= precision * p`` and
``<= abs_precision``. The run goes on in whole blocks at fixed positions of the same
counter-based stream, looking after each wave (:func:`engine.simulate.run_plan`'s ``monitor``)
and sizing the next wave by the predicted need (half-width ~ 1/sqrt(n)), until every target is
met or ``max_trials`` / ``max_seconds`` is reached. A run stopped at N trials is bit-identical
to a fixed run of N trials (apart from :data:`engine.result.RUN_ATTRS`). An importance-sampling
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

Layering: uses engine.config, plan, simulate, result and importance_kernel; engine.cli wraps it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numba
import numpy as np
import scipy.special  # scipy.stats / scipy.optimize: imported where used (0.4 s per process)
import xarray as xr

from engine.config import MAX_TRIALS, Scenario
from engine.base.errors import ConfigError
from engine.core.plan import Plan
from engine.core.reduce import BLOCK, M_M2, M_MAX, M_MEAN, M_N
from engine.core.runner import evaluate_at_z
from engine.core.sampling import importance
from engine import models
from engine.models import make_plan
from engine.base import fmt
from engine.base.fmt import pct
from engine.core.dataset import build_dataset, p_cover_is_bound
from engine.core.stats import importance_error_unknown, proportion_interval
from engine.core.driver import DEFAULT_CHUNK, Totals, _check_run_args, run_plan

Method = Literal["auto", "mc", "importance"]
METHODS = ("auto", "mc", "importance")

#: Two-sided 95% normal quantile.
Z95 = float(scipy.special.ndtri(0.975))  # = scipy.stats.norm.ppf(0.975)
#: "Too few hits" for plain Monte Carlo (method auto): below this, importance sampling.
AUTO_MIN_HITS = 100
#: Plain MC trials after which method auto decides (precision runs); the outputs' pass of an
#: importance-sampled precision run.
PILOT_TRIALS = 256 * BLOCK  # 1,048,576
#: Trials of the cross-entropy pilot of the shift search.
CE_TRIALS = 16 * BLOCK  # 65,536
#: First look of a precision run (then waves sized by the predicted need).
FIRST_LOOK = 4 * BLOCK
#: Default cap on the trials behind P(cover) in a precision run.
DEFAULT_MAX_TRIALS = 10**9
#: Least effective sample size for an importance-sampling run to meet a target, and for the
#: cross-entropy pilot to move the shift.
MIN_ESS = 100.0
#: Generator counter words: the plain pass, the shift search's pilot, the IS run.
PURPOSE_MC, PURPOSE_SEARCH, PURPOSE_IMPORTANCE = 0, 1, 2
#: The shift search looks for covering points with every |z_j| <= Z_BOUND.
Z_BOUND = 15.0
#: The design-point search gives up after this many seconds (or what is left of max_seconds):
#: its cost grows with the cube of the number of random inputs (about 1 s for 1,000 on one
#: core); the plain Monte Carlo result then stands, with a note.
SEARCH_MAX_SECONDS = 60.0


class _SearchStopped(Exception):
    """The design-point search ran out of time or was asked to stop (see :func:`design_point`)."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # "stop" (signal), "max_seconds" or "budget"



# --------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """A precision target on the 95% interval of P(cover): every given bound must hold.

    ``rel``: half-width <= rel * p (never met while p = 0); ``abs``: half-width <= abs.
    The half-width of an interval [lo, hi] around p is ``max(hi - p, p - lo)``.
    """

    rel: float | None = None
    abs: float | None = None

    def halfwidth_goal(self, p: float) -> float:
        """The largest half-width that meets the target at estimate p (0 if none can)."""
        goal = math.inf
        if self.rel is not None:
            goal = min(goal, self.rel * p)
        if self.abs is not None:
            goal = min(goal, self.abs)
        return goal

    def met(self, p: float, lo: float, hi: float) -> bool:
        hw = max(hi - p, p - lo)
        goal = self.halfwidth_goal(p)
        return goal > 0.0 and hw <= goal

    def factor(self, p: float, lo: float, hi: float) -> float:
        """How many times the trials done the target needs (half-width ~ 1/sqrt(n))."""
        hw = max(hi - p, p - lo)
        goal = self.halfwidth_goal(p)
        if goal <= 0.0:
            return math.inf
        ratio = hw / goal
        return ratio * ratio  # a float product gives inf where ** raises OverflowError

    def describe(self) -> str:
        parts = []
        if self.rel is not None:
            parts.append(f"+-{_g(100 * self.rel)}% relative")
        if self.abs is not None:
            parts.append(f"+-{_g(self.abs)} absolute")
        return " and ".join(parts) + " (half-width of the 95% interval)"


def _g(x: float) -> str:
    return f"{x:.4g}"


def check_options(scenario: Scenario, *, method: str = "auto", trials: int | None = None,
                  precision: float | None = None, abs_precision: float | None = None,
                  max_trials: int | None = None, pilot_trials: int | None = None,
                  flags: bool = False) -> Target | None:
    """Validate the options of :func:`quote` (before any work); return the target, if any.

    ``flags=True`` names the command-line flags in messages (``--precision``) instead of the
    keyword arguments.
    """
    def name(key: str) -> str:
        return "--" + key.replace("_", "-") if flags else key

    if method not in METHODS:
        raise ConfigError(None, name("method"), "must be auto, mc or importance", method,
                          "auto picks importance sampling when plain Monte Carlo sees too "
                          "few covering trials.")
    for key, value, hi, what in (("precision", precision, 1.0, "0.01 for +-1% of P(cover)"),
                                 ("abs_precision", abs_precision, 0.5,
                                  "0.001 for +-0.1 percentage points")):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not (math.isfinite(value) and 0.0 < value <= hi):
            raise ConfigError(None, name(key), f"must be a number in (0, {_g(hi)}]", value,
                              f"Give the half-width of the 95% interval, e.g. {what}.")
    target = Target(precision, abs_precision) \
        if precision is not None or abs_precision is not None else None
    if target is not None and trials is not None:
        raise ConfigError(None, name("trials"), f"cannot be combined with {name('precision')} "
                          f"or {name('abs_precision')}", trials,
                          "A precision run decides its own number of trials; cap it with "
                          f"{name('max_trials')} (or {name('max_seconds')}).")
    if max_trials is not None:
        if target is None:
            raise ConfigError(None, name("max_trials"), f"only applies with {name('precision')}"
                              f" or {name('abs_precision')}", max_trials,
                              f"Give {name('trials')} for a fixed number of trials, or add a "
                              "precision target.")
        _check_count(max_trials, name("max_trials"))
    if pilot_trials is not None:
        _check_count(pilot_trials, name("pilot_trials"))
    model = models.get(scenario.model)
    if method == "importance" and model.cover_margin is None:
        raise ConfigError(scenario.source, "scenario.model", "importance sampling supports "
                          "models with one headline P(cover) only", scenario.model,
                          f"Use --method mc (or auto) for the {scenario.model} model.")
    if target is not None and model.layout(scenario).dim is not None:
        raise ConfigError(scenario.source, "scenario.model", "precision targets support models "
                          f"with one headline P(cover) only (the {scenario.model} model has one "
                          f"per {model.layout(scenario).dim})", scenario.model,
                          f"Give --trials for the {scenario.model} model.")
    return target


def _check_count(value: Any, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not 1 <= value <= MAX_TRIALS:
        raise ConfigError(None, key, "must be a whole number in [1, 2**53]", value,
                          "Pass e.g. 100000000.")


# -------------------------------------------------------------------------------- monitors


class _McMonitor:
    """run_plan monitor of a plain MC precision run (every point must meet the target)."""

    def __init__(self, target: Target, cap: int, *, pilot_end: int | None,
                 at_least: int = 0) -> None:
        self.target = target
        self.cap = cap
        self.pilot_end = pilot_end  # method auto: decide here
        self.at_least = at_least    # never stop before (a sweep's earlier groups needed it)
        self.reason: str | None = None
        self.met = False
        self.switch = False
        self.switch_reason = ""

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
        if self.pilot_end is not None and done >= self.pilot_end:
            why = auto_switch(int(np.asarray(hits).reshape(-1).min()), done, need, self.cap)
            if why:
                self.switch, self.switch_reason = True, why
                self.reason = f"switching to importance sampling: {why}"
                return 0
            self.pilot_end = None
        return _want(done, need, self.pilot_end)


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


@dataclass(frozen=True)
class IsEstimate:
    """P(cover) from the moments of an importance-sampling run (one point)."""

    trials: int
    p: float
    se: float
    ess: float              # Kish, over covering trials
    mc_equivalent: float    # p (1 - p) / SE^2
    weight_mean: float
    weight_mean_se: float
    weight_ess: float       # Kish, over all trials
    max_share: float        # the largest covering weight / their sum

    @property
    def ci(self) -> tuple[float, float]:
        return max(self.p - Z95 * self.se, 0.0), self.p + Z95 * self.se

    @property
    def rel_error(self) -> float:
        return Z95 * self.se / self.p if self.p > 0 else math.nan

    @staticmethod
    def from_moments(mom: np.ndarray) -> IsEstimate:
        """`mom`: float64[O, N_MOM] of one point (outputs weighted_cover, weight, ...)."""
        n = mom[0, M_N]
        p, m2 = mom[0, M_MEAN], mom[0, M_M2]
        wm, wm2 = mom[1, M_MEAN], mom[1, M_M2]
        se = math.sqrt(m2 / (n - 1) / n) if n > 1 else math.inf
        wse = math.sqrt(wm2 / (n - 1) / n) if n > 1 else math.inf
        sq = m2 + n * p * p  # sum of (w covers)^2
        ess = (n * p) ** 2 / sq if sq > 0 else 0.0
        wsq = wm2 + n * wm * wm
        wess = (n * wm) ** 2 / wsq if wsq > 0 else 0.0
        equiv = p * (1.0 - p) / (se * se) if se > 0 and math.isfinite(se) else \
            (math.inf if p > 0 else 0.0)
        share = mom[0, M_MAX] / (n * p) if p > 0 else math.nan
        return IsEstimate(trials=int(n), p=float(p), se=float(se), ess=float(ess),
                          mc_equivalent=float(equiv), weight_mean=float(wm),
                          weight_mean_se=float(wse), weight_ess=float(wess),
                          max_share=float(share))


class _IsMonitor:
    """run_plan monitor of an importance-sampling precision run."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.reason: str | None = None
        self.met = False

    def __call__(self, done: int, hits: np.ndarray, moments: np.ndarray) -> int | None:
        if done == 0:
            return FIRST_LOOK
        if int(np.asarray(hits).reshape(-1)[0]) == 0 and done >= PILOT_TRIALS:
            # the shift misses the covering region: more trials will not help
            self.reason = f"no importance-sampled trial covered in {done:,}"
            return 0
        est = IsEstimate.from_moments(moments[0])
        lo, hi = est.ci
        if est.ess >= MIN_ESS and self.target.met(est.p, lo, hi):
            self.met = True
            self.reason = f"precision target met after {done:,} trials"
            return 0
        need = self.target.factor(est.p, lo, hi) if est.p > 0 else math.inf
        if est.ess < MIN_ESS:
            need = max(need, MIN_ESS / max(est.ess, 1.0))
        return _want(done, need, None)


# ---------------------------------------------------------------------------- the shift


def importance_plan(plan: Plan, shift: np.ndarray, *, with_z: bool = False) -> Plan:
    """`plan` run by importance sampling with normal-score shift ``shift[P, J]`` (or [J]);
    the rows folded are the estimator's sums (``weighted_cover``, ``weight`` and, with
    ``with_z``, ``cover_z.<input>``: ``engine.core.sampling.weigh_importance``)."""
    if plan.model.cover_margin is None:
        raise ValueError(f"the {plan.model.name} model has no cover margin for importance "
                         "sampling")
    shift = np.broadcast_to(np.asarray(shift, dtype=np.float64), plan.codes.shape)
    return dataclasses.replace(plan, sampler=importance(shift, plan.names, with_z=with_z))


@dataclass(frozen=True)
class ShiftSearch:
    """How the shift of an importance-sampling run was found (:func:`find_shift`)."""

    shift: np.ndarray | None        # float64[J]; None: no covering point found
    design_point: np.ndarray | None  # float64[J]
    how: str                        # one line for the Dataset
    #: why the search ended without a shift: "stop" (a signal), "max_seconds" or "budget"
    #: (:data:`SEARCH_MAX_SECONDS`); None when it ran to its end
    stopped: str | None = None
    ce_trials: int = 0
    ce_ess: float = 0.0
    used_ce: bool = False
    seconds: float = 0.0
    compile_s: float = 0.0

    @property
    def beta(self) -> float:
        """|design point|: P(cover) is about Phi(-beta) when the boundary is nearly flat."""
        return float(np.linalg.norm(self.design_point)) if self.design_point is not None \
            else math.nan


def _margin_fn(plan: Plan, poll: Callable[[], None] | None = None
               ) -> Callable[[np.ndarray], np.ndarray]:
    """z[n, d] of the random inputs -> log(ai_revenue / required_annual_revenue) per row.

    ``poll`` is called before every evaluation (it raises to end the search)."""
    rand = np.flatnonzero(plan.is_random)
    n_in = plan.codes.shape[1]

    def margin(zr: np.ndarray) -> np.ndarray:
        if poll is not None:
            poll()
        zr = np.atleast_2d(zr)
        z = np.zeros((zr.shape[0], n_in))
        z[:, rand] = zr
        outs, covers = evaluate_at_z(plan, z)
        covers = covers[:, 0]  # the headline indicator
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            h = plan.model.cover_margin(outs, plan.margs)
        # SLSQP needs finite values: an overflow or NaN counts as far from covering. The sign
        # follows the kernel's own test (revenue >= required), also where logs lose it.
        h = np.clip(np.where(np.isnan(h), -1e3, h), -1e3, 1e3)
        return np.where(covers, np.maximum(h, 0.0), np.minimum(h, -1e-300))

    return margin


def _poller(should_stop: Callable[[], bool] | None, seconds: float | None,
            limit_kind: str) -> Callable[[], None]:
    """A poll for the search: raises :class:`_SearchStopped` on a stop request or past
    `seconds` from now."""
    end = None if seconds is None else time.perf_counter() + seconds

    def poll() -> None:
        if should_stop is not None and should_stop():
            raise _SearchStopped(getattr(should_stop, "reason", None) or "stop requested", "stop")
        if end is not None and time.perf_counter() > end:
            why = (f"time limit of {seconds:g} s reached" if limit_kind == "max_seconds" else
                   f"the design-point search took more than {seconds:g} s")
            raise _SearchStopped(why, limit_kind)

    return poll


def design_point(plan: Plan, poll: Callable[[], None] | None = None
                 ) -> tuple[np.ndarray | None, str]:
    """The most likely covering point: argmin |z| subject to revenue >= required.

    ``poll`` is called before every evaluation of the model (thousands per second); it may
    raise to end the search (:func:`find_shift` stops it on a signal or a time limit).

    Deterministic: SLSQP (``scipy.optimize.minimize``) with central-difference gradients of
    ``log(ai_revenue / required_annual_revenue)`` in normal-score space, inside the box
    ``|z_j| <= Z_BOUND``; then a bisection along the ray to the solution, so that the point
    returned covers (up to 1e-9 in the log ratio) and lies on the boundary.

    Returns
    -------
    (z[J] or None, description)
    """
    rand = np.flatnonzero(plan.is_random)
    n_in = plan.codes.shape[1]
    d = rand.size
    if d == 0:
        return None, "no input is random"
    margin = _margin_fn(plan, poll)
    h0 = float(margin(np.zeros(d))[0])
    full = np.zeros(n_in)
    if h0 >= 0.0:
        return full, "the median inputs already cover (no shift)"
    eps = 1e-6

    def grad(z: np.ndarray) -> np.ndarray:
        steps = np.repeat(z[None, :], 2 * d, axis=0)
        idx = np.arange(d)
        steps[2 * idx, idx] += eps
        steps[2 * idx + 1, idx] -= eps
        v = margin(steps)
        return (v[0::2] - v[1::2]) / (2 * eps)

    def fun(z):
        return float(margin(z)[0])

    box = [(-Z_BOUND, Z_BOUND)] * d
    # Can anything in the box cover? The model may know which end of each input helps
    # (the one-year model is monotone in every input): then the best point of the box is that
    # corner (known from the model, not from finite differences, which vanish where the model
    # overflows). Otherwise the corner the gradient at the median points to.
    g0 = grad(np.zeros(d))
    if plan.model.cover_direction is not None:
        helps = np.asarray(plan.model.cover_direction(plan.names), dtype=float)[rand]
    else:
        helps = np.where(g0 >= 0.0, 1.0, -1.0)
    corner = helps * Z_BOUND
    if fun(corner) < 0.0:
        return None, (f"no covering point with every normal score within +-{Z_BOUND:g} "
                      f"(P(cover) is below about {scipy.special.ndtr(-Z_BOUND):.0e}, or zero)")
    starts = [np.zeros(d)]
    if np.any(g0 != 0):
        starts.append(g0 / np.linalg.norm(g0) * min(-h0 / np.linalg.norm(g0), Z_BOUND))
    from scipy import optimize  # here, not at import: 0.3 s of every process that never needs it

    best = None
    for x0 in starts:
        res = optimize.minimize(
            lambda z: 0.5 * float(z @ z), x0, jac=lambda z: z, method="SLSQP", bounds=box,
            constraints=[{"type": "ineq", "fun": fun, "jac": grad}],
            options={"maxiter": 300, "ftol": 1e-12})
        if fun(res.x) >= -1e-7 and (best is None or res.x @ res.x < best @ best):
            best = res.x
    if best is None:  # the optimiser failed: fall back on the corner, pulled in along its ray
        best = corner
    # Bisection on the ray t * best, t in (0, 1]: the boundary point, covering.
    lo, hi = 0.0, 1.0
    if fun(best) < 0.0:
        hi = 1.0
        while fun(best * hi) < 0.0 and hi < 4.0:
            hi *= 1.25
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if fun(best * mid) >= 0.0:
            hi = mid
        else:
            lo = mid
    z = best * hi
    full[rand] = z
    return full, (f"design point |z| = {np.linalg.norm(z):.4g} (SLSQP, normal-score space, "
                  f"{d} random inputs)")


def find_shift(plan: Plan, *, seed: int, threads: int | None = None,
               chunk_size: int = DEFAULT_CHUNK, should_stop: Callable[[], bool] | None = None,
               progress: Callable[[int], None] | None = None,
               max_seconds: float | None = None) -> ShiftSearch:
    """The normal-score shift of an importance-sampling run (see the module docstring).

    Deterministic for a given plan and seed, whatever the threads or chunk size: the design
    point is a deterministic optimisation and the cross-entropy pilot a fixed-size run of the
    block kernel on counter word :data:`PURPOSE_SEARCH`. The design-point search polls
    `should_stop` and ends after ``min(max_seconds, SEARCH_MAX_SECONDS)``; a search that ended
    so has no shift (``stopped`` says why).
    """
    t0 = time.perf_counter()
    budget, kind = SEARCH_MAX_SECONDS, "budget"
    if max_seconds is not None and max_seconds < budget:
        budget, kind = max_seconds, "max_seconds"
    try:
        z_star, how = design_point(plan, _poller(should_stop, budget, kind))
    except _SearchStopped as exc:
        return ShiftSearch(None, None, f"{exc.reason} during the design-point search",
                           stopped=exc.kind, seconds=time.perf_counter() - t0)
    if z_star is None:
        return ShiftSearch(None, None, how, seconds=time.perf_counter() - t0)
    if not np.any(z_star):
        return ShiftSearch(z_star, z_star, how, seconds=time.perf_counter() - t0)
    pilot = importance_plan(plan, z_star[None, :], with_z=True)
    left = None if max_seconds is None else max(max_seconds - (time.perf_counter() - t0), 1e-3)
    tot = run_plan(pilot, trials=CE_TRIALS, seed=seed, threads=threads, chunk_size=chunk_size,
                   purpose=PURPOSE_SEARCH, should_stop=should_stop, progress=progress,
                   max_seconds=left)
    mom = tot.moments[0]
    est = IsEstimate.from_moments(mom)
    shift, used = z_star, False
    if est.ess >= MIN_ESS and est.p > 0 and tot.completed:
        ce = np.where(plan.is_random, mom[2:, M_MEAN] / est.p, 0.0)
        if np.all(np.isfinite(ce)):
            shift, used = ce, True
    how += (f"; one cross-entropy step on {CE_TRIALS:,} pilot draws (counter word "
            f"{PURPOSE_SEARCH}, effective sample size {est.ess:,.0f}): "
            + (f"shift = E[z | covers], |shift| = {np.linalg.norm(shift):.4g}" if used else
               f"kept the design point (needs an effective sample size >= {MIN_ESS:g})"))
    return ShiftSearch(shift, z_star, how, ce_trials=CE_TRIALS, ce_ess=est.ess, used_ce=used,
                       seconds=time.perf_counter() - t0 - tot.extra.get("compile_s", 0.0),
                       compile_s=tot.extra.get("compile_s", 0.0))


# ------------------------------------------------------------------------------- the driver


class _Clock:
    """What is left of max_seconds (simulation and search time; JIT compiling excluded)."""

    def __init__(self, max_seconds: float | None) -> None:
        self.max_seconds = max_seconds
        self.used = 0.0

    def spend(self, seconds: float) -> None:
        self.used += seconds

    def left(self) -> float | None:
        if self.max_seconds is None:
            return None
        return max(self.max_seconds - self.used, 1e-3)


def quote(scenario: Scenario, *, method: Method = "auto", trials: int | None = None,
          precision: float | None = None, abs_precision: float | None = None,
          max_trials: int | None = None, pilot_trials: int | None = None,
          seed: int | None = None, threads: int | None = None, chunk_size: int = DEFAULT_CHUNK,
          progress: Callable[[int], None] | None = None,
          should_stop: Callable[[], bool] | None = None,
          max_seconds: float | None = None) -> xr.Dataset:
    """P(cover) by plain Monte Carlo or importance sampling, to a fixed size or a precision.

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
        mc_tot = run_plan(plan, trials=mc_n, purpose=PURPOSE_MC, max_seconds=clock.left(), **run)
        clock.spend(mc_tot.elapsed_s)
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
        tot = run_plan(plan, trials=n, purpose=PURPOSE_MC, max_seconds=clock.left(), **run)
        ds = _label(_mc_dataset(scenario, tot, seed=seed, requested=n,
                                run_attrs=_attrs(tot, threads, chunk_size)), method,
                    "no input is random")
        if not tot.completed:
            return ds
        exact = "1" if int(ds["hits"]) == n else "0"
        return _precision_attrs(ds, target, True, cap,
                                f"met exactly: no input is random, every trial is the same, "
                                f"P(cover) = {exact} (the binomial interval is a formality)")
    if method == "importance":
        mc_n = pilot_trials or min(PILOT_TRIALS, cap)
        mc_tot = run_plan(plan, trials=mc_n, purpose=PURPOSE_MC, max_seconds=clock.left(), **run)
        clock.spend(mc_tot.elapsed_s)
        mc_ds = _mc_dataset(scenario, mc_tot, seed=seed, requested=mc_n,
                            run_attrs=_attrs(mc_tot, threads, chunk_size))
        if not mc_tot.completed:
            return _label(mc_ds, method, "stopped during the plain pass")
        return _importance(scenario, plan, mc_ds, method=method,
                           why="importance sampling asked for", n=None, target=target, cap=cap,
                           clock=clock, **run)

    pilot_end = min(pilot_trials or PILOT_TRIALS, cap) if (method == "auto" and has_random) \
        else None
    monitor = _McMonitor(target, cap, pilot_end=pilot_end)
    mc_tot = run_plan(plan, trials=cap, purpose=PURPOSE_MC, max_seconds=clock.left(),
                      monitor=monitor, **run)
    clock.spend(mc_tot.elapsed_s)
    stopped_by = mc_tot.extra.get("stopped_by")
    if pilot_end is not None and not monitor.met and stopped_by is None:
        # the run reached the cap with the pilot: decide as the monitor would have
        ok, need = monitor.state(mc_tot.trials, mc_tot.hits)
        why = auto_switch(int(mc_tot.hits.reshape(-1).min()), mc_tot.trials, need, None)
        if not ok and why and mc_tot.trials <= pilot_end:
            monitor.switch, monitor.switch_reason = True, why
    if monitor.switch:
        totals = dataclasses.replace(mc_tot, completed=True)
        mc_ds = _mc_dataset(scenario, totals, seed=seed, requested=totals.trials,
                            run_attrs=_attrs(mc_tot, threads, chunk_size))
        return _importance(scenario, plan, mc_ds, method=method, why=monitor.switch_reason,
                           n=None, target=target, cap=cap, clock=clock, **run)
    interrupted = stopped_by == "should_stop"
    totals = mc_tot if interrupted else dataclasses.replace(mc_tot, completed=True)
    ok = monitor.met or (stopped_by is None and monitor.state(mc_tot.trials, mc_tot.hits)[0])
    ds = _mc_dataset(scenario, totals, seed=seed,
                     requested=cap if interrupted else totals.trials,
                     run_attrs=_attrs(mc_tot, threads, chunk_size))
    why = "plain Monte Carlo asked for" if method == "mc" else \
        f"plain Monte Carlo saw enough covering trials ({int(mc_tot.hits.min()):,})"
    ds = _label(ds, method, why)
    return _precision_attrs(ds, target, ok, cap, _stop_text(mc_tot, ok, cap))


def _stop_text(tot: Totals, ok: bool, cap: int) -> str:
    """How a precision run ended, e.g. "met after 94,208 trials"."""
    if ok:
        return f"met after {tot.trials:,} trials"
    if tot.extra.get("stopped_by") in ("max_seconds", "should_stop"):
        return f"NOT met: {tot.extra.get('stop_reason')} after {tot.trials:,} trials"
    return f"NOT met: the cap of {cap:,} trials (max_trials) was reached"


def _precision_attrs(ds: xr.Dataset, target: Target, ok: bool, cap: int, stop: str
                     ) -> xr.Dataset:
    ds.attrs["precision_target"] = target.describe()
    ds.attrs["precision_met"] = np.int8(1 if ok else 0)
    ds.attrs["precision_max_trials"] = np.int64(cap)
    ds.attrs["precision_stop"] = stop
    return ds


def _attrs(tot: Totals, threads: int | None, chunk_size: int) -> dict[str, Any]:
    return {"threads": numba.get_num_threads(), "chunk_size": chunk_size,
            "compile_s": round(tot.extra.get("compile_s", 0.0), 3)}


def _label(ds: xr.Dataset, method: str, why: str) -> xr.Dataset:
    ds.attrs["method_choice"] = f"{method}: {why}" if why else method
    return ds


def _mc_dataset(scenario: Scenario, totals: Totals, *, seed: int, requested: int,
                run_attrs: dict[str, Any]) -> xr.Dataset:
    """:func:`engine.result.build_dataset`: a plain result is exactly ``engine.simulate``'s (its
    standard error and effective sample size follow from ``hits`` and ``trials``:
    :func:`engine.result.mc_precision`, reported by :func:`engine.result.summary`)."""
    return build_dataset(scenario, totals, seed=seed, requested_trials=requested,
                         run_attrs=run_attrs)


def _error_vars(ds: xr.Dataset, se: float, rel: float, ess: float, equiv: float,
                se_how: str, ess_how: str) -> None:
    ds["p_cover_se"] = ((), se, {"long_name": f"standard error of p_cover ({se_how})",
                                 "units": "1"})
    ds["p_cover_rel_error"] = ((), rel, {
        "long_name": "relative half-width of the 95% interval of p_cover: "
                     "max(upper - p, p - lower) / p (NaN when p = 0)", "units": "1"})
    ds["effective_sample_size"] = ((), ess, {
        "long_name": f"effective number of covering trials, (sum w)^2 / sum w^2 over the "
                     f"covering trials ({ess_how})", "units": "1"})
    ds["mc_equivalent_trials"] = ((), equiv, {
        "long_name": "plain Monte Carlo trials that would give the same standard error: "
                     "p (1 - p) / se^2", "units": "1"})


def _importance(scenario: Scenario, plan: Plan, mc_ds: xr.Dataset, *, method: str, why: str,
                n: int | None, target: Target | None, cap: int | None, clock: _Clock,
                seed: int, threads: int | None, chunk_size: int,
                progress: Callable[[int], None] | None,
                should_stop: Callable[[], bool] | None) -> xr.Dataset:
    """The importance-sampling pass and its Dataset (outputs from `mc_ds`, a plain pass)."""
    search = find_shift(plan, seed=seed, threads=threads, chunk_size=chunk_size,
                        should_stop=should_stop, progress=progress, max_seconds=clock.left())
    clock.spend(search.seconds)
    if search.stopped in ("stop", "max_seconds") and progress is not None:
        progress(0)  # the importance-sampling pass under way has done no trial
    if search.shift is None:
        return _impossible(mc_ds, method, why, target, cap, search.how)
    if method == "auto" and not np.any(search.shift):
        # the event is not rare (the median inputs cover): only the run was short
        return _impossible(mc_ds, method, why, target, cap,
                           f"{search.how}, so P(cover) is not small: give more trials")
    iplan = importance_plan(plan, search.shift[None, :])
    monitor = _IsMonitor(target) if target is not None else None
    requested = n if target is None else cap
    assert requested is not None
    tot = run_plan(iplan, trials=requested, seed=seed, threads=threads, chunk_size=chunk_size,
                   purpose=PURPOSE_IMPORTANCE, progress=progress, should_stop=should_stop,
                   max_seconds=clock.left(), monitor=monitor)
    clock.spend(tot.elapsed_s)
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
        ok = bool(monitor and monitor.met) or (est.ess >= MIN_ESS and target.met(est.p, lo, hi))
        ds = _precision_attrs(ds, target, ok, cap or 0, _stop_text(tot, ok, cap or 0))
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
        mc_ds = _precision_attrs(mc_ds, target, ok, cap or 0,
                                 ("met" if ok else "NOT met") + f" after {k:,} plain trials "
                                 "(importance sampling gave no estimate)")
    return mc_ds


def _is_dataset(scenario: Scenario, mc_ds: xr.Dataset, tot: Totals, search: ShiftSearch,
                plan: Plan, *, requested: int) -> xr.Dataset:
    """The plain pass's Dataset with P(cover) and its error from the IS run."""
    est = IsEstimate.from_moments(tot.moments[0])
    lo, hi = est.ci
    n_mc = int(mc_ds.attrs["trials"])
    # No computable error (one trial, or weights whose squares underflow): P(cover) is reported
    # as the plain pass's upper bound, never with an infinite or zero-width interval.
    unknown = importance_error_unknown(est.p, est.se, est.trials)
    if unknown:
        lo, hi = 0.0, float(mc_ds["p_cover_ci95"].values[1])
        est = dataclasses.replace(est, se=math.nan, mc_equivalent=math.nan)
    ds = mc_ds.rename({"p_cover": "mc_p_cover", "p_cover_ci95": "mc_p_cover_ci95",
                    "hits": "mc_hits"})
    for name in ("mc_p_cover", "mc_p_cover_ci95", "mc_hits"):
        attrs = dict(ds[name].attrs)
        attrs["long_name"] = f"plain Monte Carlo pass ({n_mc:,} trials): {attrs['long_name']}"
        ds[name].attrs = attrs
    interval = (f"normal approximation p +- {Z95:.4f} SE (importance sampling), lower end "
                "clipped at 0")
    ds["p_cover"] = ((), est.p, {"long_name": "P(AI revenue >= required annual revenue), "
                                              "importance-sampling estimate", "units": "1"})
    if unknown:
        interval = ("one-sided 95% upper bound of the plain Monte Carlo pass (the importance-"
                    "sampling estimate has no computable error)")
    ds["p_cover_ci95"] = (("bound",), np.array([lo, hi]), {
        "long_name": "95% interval of p_cover", "units": "1", "method": interval})
    ds["hits"] = ((), np.int64(tot.hits.reshape(-1)[0]), {
        "long_name": "importance-sampling trials whose shifted draw covers (unweighted count)",
        "units": "1"})
    _error_vars(ds, est.se, est.rel_error, est.ess, est.mc_equivalent,
                "sd(w covers) / sqrt(n) over the importance-sampling trials",
                "importance sampling: w is each trial's likelihood ratio")
    ds["weight_mean"] = ((), est.weight_mean, {
        "long_name": "mean likelihood ratio w over all importance-sampling trials: 1 in "
                     "expectation; w is lognormal with log-sd |shift|, so beyond |shift| ~ 3 "
                     "the sample mean is carried by draws too rare to occur and falls short "
                     "of 1 without any error (a check for moderate shifts)", "units": "1"})
    ds["weight_mean_se"] = ((), est.weight_mean_se, {
        "long_name": "standard error of weight_mean", "units": "1"})
    ds["weight_effective_sample_size"] = ((), est.weight_ess, {
        "long_name": "Kish effective sample size of the weights over all trials, "
                     "(sum w)^2 / sum w^2", "units": "1"})
    ds["weight_max_share"] = ((), est.max_share, {
        "long_name": "largest single trial's share of sum(w covers)", "units": "1"})
    names = np.array(plan.names, dtype=object)
    ds = ds.assign_coords(model_input=("model_input", names, {
        "long_name": "model input (the normal score of each is shifted)"}))
    ds["importance_shift"] = (("model_input",), np.asarray(search.shift, dtype=np.float64), {
        "long_name": "normal-score shift mu of each input in the importance-sampling run "
                     "(0: fixed input)", "units": "1"})
    ds["design_point"] = (("model_input",), np.asarray(search.design_point, dtype=np.float64), {
        "long_name": "most likely covering point in normal-score space (design point)",
        "units": "1"})
    for name, var in ds.data_vars.items():
        if name.endswith(("_mean", "_std", "_min", "_max", "_quantile", "_nonfinite",
                          "_beyond_sketch", "_near_zero")) and not name.startswith("weight"):
            var.attrs["source"] = f"plain Monte Carlo pass of {n_mc:,} trials"
    notes = [x for x in str(mc_ds.attrs.get("notes", "")).splitlines() if x]
    notes.append(f"P(cover) is an importance-sampling estimate over {tot.trials:,} trials; "
                 f"every output's mean, std, quantiles and the gap histogram come from the plain "
                 f"Monte Carlo pass of {n_mc:,} trials (a shifted sample's would describe the "
                 "shifted distribution)")
    if unknown:
        bound_note = (f"P(cover) is reported as an upper bound, P(cover) < {pct(hi)} (the plain "
                      f"Monte Carlo pass's one-sided 95% bound): the importance-sampling estimate"
                      f", {est.p:.3g}, has no computable error ({unknown}); p_cover_se, "
                      "p_cover_rel_error and mc_equivalent_trials are n/a (null)")
        notes.append(bound_note)
        for name in ("p_cover", "p_cover_se", "p_cover_rel_error", "mc_equivalent_trials"):
            ds[name].attrs["note"] = bound_note
    if not math.isfinite(est.weight_mean_se):
        ds["weight_mean_se"].attrs["note"] = (
            "weight_mean_se is n/a (null): a standard error needs at least 2 trials")
        notes.append(ds["weight_mean_se"].attrs["note"])
    if est.ess < MIN_ESS:
        notes.append(f"the importance-sampling estimate rests on an effective sample size of "
                     f"only {est.ess:.3g} covering trials (< {MIN_ESS:g}): its standard error "
                     "and interval are unreliable; run more trials")
    if not tot.completed:
        reason = tot.extra.get("stop_reason", "stopped early")
        notes.insert(0, f"partial result: {tot.trials:,} of {requested:,} requested "
                        f"importance-sampling trials ({reason})")
    ds.attrs.update({
        "method": "importance",
        "trials": np.int64(tot.trials),
        "trials_requested": np.int64(requested),
        "completed": np.int8(1 if tot.completed else 0),
        "stop_reason": "" if tot.completed else tot.extra.get("stop_reason", "stopped early"),
        "mc_trials": np.int64(n_mc),
        "sampler": "importance sampling: philox4x32-10 counter-based uniforms (purpose "
                   f"{PURPOSE_IMPORTANCE}), normal scores shifted by importance_shift, quantile-"
                   "function transforms; likelihood ratio w = exp(-mu.z + |mu|^2 / 2)",
        "p_cover_interval": f"95%: {interval}",
        "importance_search": search.how,
        "notes": "\n".join(notes),
    })
    return ds


# ------------------------------------------------------------------------------------ text


def importance_lines(ds: xr.Dataset) -> list[str]:
    """The headline of an importance-sampled quote (``capexgap quote`` text output)."""

    p = float(ds["p_cover"])
    lo, hi = (float(v) for v in ds["p_cover_ci95"].values)
    rel = float(ds["p_cover_rel_error"])
    n = int(ds.attrs["trials"])
    ess = float(ds["effective_sample_size"])
    pm = f" +-{100 * rel:.3g}%" if math.isfinite(rel) else ""
    head = (f"P(AI revenue covers the annual cost of AI capex) = {fmt.pct(p)}{pm}  (95% CI "
            f"{fmt.p_interval(lo, hi)}, importance sampling, p +- 1.96 SE; {n:,} trials, "
            f"effective sample size {ess:,.0f})")
    if p_cover_is_bound(ds):  # no computable error: an upper bound, not an interval
        head = (f"P(AI revenue covers the annual cost of AI capex) < {fmt.pct(hi)}  (one-sided "
                f"95% bound of the plain pass; the importance-sampling estimate over {n:,} "
                f"trials, {fmt.pct(p)}, has no computable error: see the note)")
    n_mc, h_mc = int(ds.attrs["mc_trials"]), int(ds["mc_hits"])
    mlo, mhi = (float(v) for v in ds["mc_p_cover_ci95"].values)
    seen = (f"0 of {n_mc:,} trials covered (95% upper bound {fmt.pct(mhi)})" if h_mc == 0 else
            f"{h_mc:,} of {n_mc:,} trials covered ({fmt.pct(float(ds['mc_p_cover']))}, 95% CI "
            f"{fmt.p_interval(mlo, mhi)})")
    shift = np.linalg.norm(ds["importance_shift"].values)
    moved = (f"Plain Monte Carlo: {seen}; importance sampling shifted the inputs' normal "
             f"scores by |mu| = {shift:.3g} towards the covering region.")
    return [head, moved]
