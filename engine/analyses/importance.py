"""Importance sampling of P(cover) in normal-score space: the weighted estimate, its
diagnostics and its Dataset (driven by :func:`engine.analyses.precision.quote`).

**Importance sampling** (``method="importance"``), for probabilities too small to see. Every
input is sampled through its quantile function at a normal score z (u = Phi(z)); the IS run
draws z from a proposal q, a mixture of shifted normals and the nominal N(0, I) found by
:func:`engine.analyses.mixture.find_mixture`, and weights each trial by the likelihood ratio
``w = phi(z) / q(z)`` (:mod:`engine.core.mixture`; with one shift mu and no mixture,
``w = exp(-mu.z + |mu|^2 / 2)``). The estimate is the mean of ``w * covers`` over n trials,
its standard error ``SE = sd(w * covers) / sqrt(n)`` and its 95% interval the normal
approximation ``p +- 1.96 SE`` (clipped at 0); it meets a precision target only while the
weights allow it (:attr:`IsEstimate.unreliable`).

The IS run itself uses the counter word :data:`PURPOSE_IMPORTANCE` (the plain run uses 0), so
its draws are independent of the pilots' and of the plain pass.

**Effective sample size** (``effective_sample_size``): Kish's ``(sum w)^2 / sum w^2`` over the
*covering* trials: the number of equally weighted covering trials the estimate is worth. For
plain MC it is the number of hits. Beside it, ``mc_equivalent_trials = p (1 - p) / SE^2``: how
many plain MC trials would give the same standard error. The weights' own Kish size over all
trials, and their mean (1 in expectation), are diagnostics of the shift.

Layering: uses engine.base, engine.core and engine.models; :mod:`engine.analyses.precision`
drives it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.special  # scipy.stats / scipy.optimize: imported where used (0.4 s per process)
import xarray as xr

from engine.base import fmt
from engine.base.fmt import pct
from engine.base.interrupts import StopFn
from engine.core.dataset import p_cover_is_bound
from engine.core.driver import Totals
from engine.core.plan import Plan
from engine.core.reduce import BLOCK, M_M2, M_MAX, M_MEAN, M_N
from engine.core.runner import evaluate_at_z
from engine.core.sampling import importance
from engine.core.stats import importance_error_unknown

if TYPE_CHECKING:  # pragma: no cover
    from engine.core.scenario import Scenario

#: Two-sided 95% normal quantile.
Z95 = float(scipy.special.ndtri(0.975))  # = scipy.stats.norm.ppf(0.975)
#: Trials of the cross-entropy pilot of the shift search.
CE_TRIALS = 16 * BLOCK  # 65,536
#: Least effective sample size for an importance-sampling run to meet a target.
MIN_ESS = 100.0
#: Largest share of the estimate one trial's weight may carry for a run to meet a target:
#: beyond it the sum rests on a few draws from a region the proposal barely covers, and the
#: standard error itself is unreliable.
MAX_SHARE = 0.05
#: Generator counter words: the plain pass, the proposal search's pilot, the IS run.
PURPOSE_MC, PURPOSE_SEARCH, PURPOSE_IMPORTANCE = 0, 1, 2
#: The proposal search looks for covering points with every |z_j| <= Z_BOUND.
Z_BOUND = 15.0
#: The design-point search gives up after this many seconds (or what is left of max_seconds);
#: the plain Monte Carlo result then stands, with a note.
SEARCH_MAX_SECONDS = 60.0


class _SearchStopped(Exception):
    """The design-point search ran out of time or was asked to stop (:func:`_poller`)."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # "stop" (signal), "max_seconds" or "budget"


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

    @property
    def unreliable(self) -> str:
        """Why the standard error cannot be trusted ('' when it can): too small an effective
        sample size, or one weight carrying too much of the estimate."""
        if self.ess < MIN_ESS:
            return (f"the effective sample size is only {self.ess:.3g} covering trials "
                    f"(< {MIN_ESS:g})")
        if self.max_share > MAX_SHARE:
            return (f"the largest single weight carries {100 * self.max_share:.3g}% of the "
                    f"estimate (> {100 * MAX_SHARE:g}%)")
        return ""

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


# ---------------------------------------------------------------------------- the shift


def importance_plan(plan: Plan, shift: np.ndarray) -> Plan:
    """`plan` run by importance sampling with normal-score shift ``shift[P, J]`` (or [J]);
    the rows folded are the estimator's sums (``weighted_cover``, ``weight``:
    ``engine.core.sampling.weigh_importance``)."""
    if plan.model.cover_margin is None:
        raise ValueError(f"the {plan.model.name} model has no cover margin for importance "
                         "sampling")
    shift = np.broadcast_to(np.asarray(shift, dtype=np.float64), plan.codes.shape)
    return dataclasses.replace(plan, sampler=importance(shift))


@dataclass(frozen=True)
class ShiftSearch:
    """How the proposal of an importance-sampling run was found
    (:func:`engine.analyses.mixture.find_mixture`)."""

    shift: np.ndarray | None        # float64[J]; None: no covering point found
    design_point: np.ndarray | None  # float64[J]
    how: str                        # one line for the Dataset
    #: why the search ended without a shift: "stop" (a signal), "max_seconds" or "budget"
    #: (:data:`SEARCH_MAX_SECONDS`); None when it ran to its end
    stopped: str | None = None
    seconds: float = 0.0
    compile_s: float = 0.0
    #: a mixture proposal (:mod:`engine.analyses.mixture`): the shifted components' means
    #: float64[C, J] and the weights float64[1 + C] of the nominal component and of each;
    #: None: no mixture (``shift`` zero, the median covers, or None, no covering point)
    components: np.ndarray | None = None
    alphas: np.ndarray | None = None


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
        # The search needs finite values: an overflow or NaN counts as far from covering.
        # The sign follows the kernel's own test (revenue >= required), also where logs lose it.
        h = np.clip(np.where(np.isnan(h), -1e3, h), -1e3, 1e3)
        return np.where(covers, np.maximum(h, 0.0), np.minimum(h, -1e-300))

    return margin


def _poller(should_stop: StopFn | None, seconds: float | None,
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


# ----------------------------------------------------------------------------- the Dataset


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
        "long_name": "normal-score mean mu of each input in the proposal's heaviest "
                     "component (0: fixed input)", "units": "1"})
    ds["design_point"] = (("model_input",), np.asarray(search.design_point, dtype=np.float64), {
        "long_name": "most likely covering point in normal-score space (design point)",
        "units": "1"})
    _mixture_vars(ds, search)
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
    if est.unreliable and not unknown:
        notes.append(f"the importance-sampling estimate is unreliable: {est.unreliable}; its "
                     "standard error and interval may be far too small (a precision target "
                     "counts as met only without this); run more trials")
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
                   f"{PURPOSE_IMPORTANCE}), normal scores shifted by "
                   + ("one of importance_components, picked per trial with the weights "
                      "importance_component_weight (the nominal inputs with "
                      "importance_nominal_weight), quantile-function transforms; likelihood "
                      "ratio against the whole mixture (balance heuristic), w = 1 / sum_c "
                      "alpha_c exp(mu_c.z - |mu_c|^2 / 2)" if search.components is not None
                      else "importance_shift, quantile-function transforms; likelihood ratio "
                      "w = exp(-mu.z + |mu|^2 / 2)"),
        "p_cover_interval": f"95%: {interval}",
        "importance_search": search.how,
        "notes": "\n".join(notes),
    })
    return ds


def _mixture_vars(ds: xr.Dataset, search: ShiftSearch) -> None:
    """The proposal's components (one, the shift, without a mixture) and their weights."""
    if search.components is not None:
        comps, alphas = search.components, np.asarray(search.alphas, dtype=np.float64)
    else:
        comps, alphas = np.asarray(search.shift)[None, :], np.array([0.0, 1.0])
    ds["importance_components"] = (("component", "model_input"),
                                   np.asarray(comps, dtype=np.float64), {
        "long_name": "normal-score means of the proposal's shifted components (local design "
                     "points, refined by cross-entropy)", "units": "1"})
    ds["importance_component_weight"] = (("component",), alphas[1:], {
        "long_name": "share of the importance-sampling trials drawn from each component",
        "units": "1"})
    ds["importance_nominal_weight"] = ((), float(alphas[0]), {
        "long_name": "share of the trials drawn from the nominal inputs (the defensive "
                     "component: every weight is at most 1 / this)", "units": "1"})


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
             f"scores by |mu| = {shift:.3g} towards the covering region")
    if "importance_components" in ds and ds["importance_components"].sizes["component"] > 1:
        norms = np.linalg.norm(ds["importance_components"].values, axis=1)
        moved = (f"Plain Monte Carlo: {seen}; importance sampling drew from a mixture of "
                 f"{norms.size} shifted proposals (|mu| = {norms.min():.3g} to "
                 f"{norms.max():.3g}) and the nominal inputs "
                 f"({fmt.pct(float(ds['importance_nominal_weight']))} of the trials)")
    share = float(ds["weight_max_share"]) if "weight_max_share" in ds else math.nan
    if math.isfinite(share):
        moved += f"; the largest weight carries {fmt.pct(share)} of the estimate"
    return [head, moved + "."]
