"""The proposal of an importance-sampling run: a mixture over every way to cover.

One shifted normal distribution finds one design point. When several inputs play the same
role (companies with similar revenue ranges), the most likely covering points are the
corners where one of them carries the sum, and a single shift, or a cross-entropy step that
averages the corners into the symmetric point, leaves the others with almost no proposal
mass: the estimate falls short and its interval does not say so. So :func:`find_mixture`

1. looks for local design points (least-norm covering points in normal-score space, by the
   improved HL-RF iteration, all starts at once: :func:`_polish_all`)
   from several starts: from the median and along the gradient (the symmetric point), from
   each input that can cover on its own with every other input at its median (the point on
   its axis where it just covers; at most :data:`MAX_COMPONENTS` of them, the ones closest to
   covering at a moderate score), and from :data:`RANDOM_STARTS` random subsets of the inputs
   (seeded by the run's seed);
2. keeps the distinct optima within :data:`DROP` of the best in ``|z|^2 / 2`` (the others
   carry less than e^-DROP of the best's density), at most :data:`MAX_COMPONENTS`;
3. builds the mixture: the nominal distribution with weight :data:`DEFENSIVE` (a *defensive*
   component, which bounds every likelihood ratio by ``1 / DEFENSIVE``) and one normal per
   optimum, weighted by its density ``exp(-|z|^2 / 2)`` (each at least a quarter of an equal
   share);
4. refines it by one cross-entropy step: an importance-sampled pilot of :data:`CE_TRIALS`
   trials on its own counter word gives, per component, the covering trials' weighted mass
   and mean of z with each trial shared among the components by its responsibility
   ``alpha_c phi(z - mu_c) / q(z)``; a component seen by enough pilot trials moves to that
   mean and takes a weight proportional to that mass.

Trials are weighted by the balance heuristic (:mod:`engine.core.mixture`). Beyond
:data:`DENSE_MAX` random inputs the optima are not polished (each step costs 2 d model
evaluations of d scores per start) and
the starts' boundary points stand as they are; the model is evaluated at most
:data:`ROW_CELLS` scores at a time, so the search's memory stays bounded, and it polls for
signals and time limits before every evaluation.

Layering: engine.base, engine.core and :mod:`engine.analyses.importance`.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable

import numpy as np

from engine.analyses.importance import (
    CE_TRIALS,
    PURPOSE_SEARCH,
    SEARCH_MAX_SECONDS,
    Z_BOUND,
    IsEstimate,
    ShiftSearch,
    _margin_fn,
    _poller,
    _SearchStopped,
    importance_plan,
)
from engine.base.interrupts import ProgressFn, StopFn
from engine.core.driver import DEFAULT_CHUNK, run_plan
from engine.core.mixture import mixture
from engine.core.plan import Plan
from engine.core.reduce import M_M2, M_MEAN

#: Weight of the nominal (defensive) component.
DEFENSIVE = 0.1
#: Most shifted components of a mixture (and most one-input starts).
MAX_COMPONENTS = 16
#: Random inputs up to which the starts are polished into local design points.
DENSE_MAX = 64
#: The pairs of the first this many one-input starts are starts too.
PAIR_INPUTS = 5
#: Random-subset starts.
RANDOM_STARTS = 4
#: Local optima with |z|^2 / 2 more than this above the best's are left out.
DROP = 12.0
#: Least effective number of pilot trials for the refinement to move a component.
MIN_COMPONENT_ESS = 30.0
#: Most rows of a refinement pilot (2 + C (1 + J)); wider mixtures are not refined.
MAX_REFINE_ROWS = 2048
#: Covering groups kept per level of the group testing for inputs that cover alone.
GROUPS_KEPT = 4 * MAX_COMPONENTS
#: Most normal scores per model evaluation (rows x inputs): the search's memory bound.
ROW_CELLS = 1 << 18


def _batched(margin: Callable[[np.ndarray], np.ndarray], n_in: int
             ) -> Callable[[np.ndarray], np.ndarray]:
    """``margin`` evaluated at most :data:`ROW_CELLS` scores at a time."""
    rows = max(1, ROW_CELLS // max(n_in, 1))

    def f(z: np.ndarray) -> np.ndarray:
        z = np.atleast_2d(z)
        if z.shape[0] <= rows:
            return margin(z)
        return np.concatenate([margin(z[i:i + rows]) for i in range(0, z.shape[0], rows)])

    return f


def _axis_margins(margin, helps: np.ndarray, t: float, idx: np.ndarray) -> np.ndarray:
    """The margin with input ``idx[k]`` alone at ``t * helps`` (the others at their medians),
    built a batch at a time (never a d x d matrix)."""
    d = helps.size
    rows = max(1, ROW_CELLS // max(d, 1))
    out = np.empty(idx.size)
    for i in range(0, idx.size, rows):
        part = idx[i:i + rows]
        z = np.zeros((part.size, d))
        z[np.arange(part.size), part] = t * helps[part]
        out[i:i + rows] = margin(z)
    return out


def _rays(margin, dirs: np.ndarray) -> np.ndarray:
    """The covering boundary points on the rays ``t * dirs[k]``, t in (0, 1] (every
    ``dirs[k]`` covers): bisection, all rays at once."""
    lo, hi = np.zeros(len(dirs)), np.ones(len(dirs))
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        cov = margin(mid[:, None] * dirs) >= 0.0
        hi, lo = np.where(cov, mid, hi), np.where(cov, lo, mid)
    return hi[:, None] * dirs


def _alone(margin, helps: np.ndarray, monotone: bool) -> np.ndarray:
    """The inputs that cover on their own at ``Z_BOUND`` (every other at its median).

    Up to :data:`DENSE_MAX` inputs, or for a model not known to be monotone, one evaluation
    per input (d scores each). Beyond, for a monotone model, by group testing: a group of
    inputs all at their helping end that does not cover holds no input that covers alone, so
    groups are halved from the whole set down, keeping at each level the
    :data:`GROUPS_KEPT` covering groups with the largest margin: O(d log d) scores, not d^2.
    """
    d = helps.size
    if d <= DENSE_MAX or not monotone:
        return np.flatnonzero(_axis_margins(margin, helps, Z_BOUND, np.arange(d)) >= 0.0)
    groups, found = [np.arange(d)], []
    rows = max(1, ROW_CELLS // d)
    while groups:
        h = np.empty(len(groups))
        for i in range(0, len(groups), rows):
            z = np.zeros((min(rows, len(groups) - i), d))
            for k, g in enumerate(groups[i:i + rows]):
                z[k, g] = Z_BOUND * helps[g]
            h[i:i + rows] = margin(z)
        keep = [groups[k] for k in np.argsort(-h, kind="stable")[:GROUPS_KEPT] if h[k] >= 0.0]
        found += [int(g[0]) for g in keep if g.size == 1]
        groups = [part for g in keep if g.size > 1 for part in np.array_split(g, 2)]
    return np.array(sorted(found), dtype=np.int64)


def _starts(margin, helps: np.ndarray, g0: np.ndarray, seed: int, known: bool) -> np.ndarray:
    """Starting points on the covering boundary (see the module docstring)."""
    d = helps.size
    dirs = [helps * Z_BOUND]  # every input helping at once: the symmetric point
    if np.any(g0 != 0):
        g = g0 / np.max(np.abs(g0)) * Z_BOUND
        if margin(g)[0] >= 0.0:
            dirs.append(g)
    alone = _alone(margin, helps, known)
    # the inputs closest to covering on their own first
    alone = alone[np.argsort(-_axis_margins(margin, helps, 3.0, alone), kind="stable")]
    for j in alone[:MAX_COMPONENTS]:
        e = np.zeros(d)
        e[j] = helps[j] * Z_BOUND
        dirs.append(e)
    # pairs of the first few: the ridges between two corners, where both share the sum
    for a, b in itertools.combinations(alone[:PAIR_INPUTS], 2):
        e = np.zeros(d)
        e[[a, b]] = helps[[a, b]] * Z_BOUND
        dirs.append(e)
    rng = np.random.default_rng([int(seed), 0x6D6978])  # "mix": the search's own stream
    for _ in range(RANDOM_STARTS if d > 1 else 0):
        keep = rng.random(d) < 0.5
        keep[rng.integers(d)] = True
        w = helps * rng.exponential(size=d) * keep
        w = w / np.max(np.abs(w)) * Z_BOUND
        if margin(w)[0] >= 0.0:
            dirs.append(w)
    return _rays(margin, np.array(dirs))


def _distinct(points: list[np.ndarray]) -> list[np.ndarray]:
    """The distinct optima within :data:`DROP` of the best, least norm first."""
    points = sorted(points, key=lambda z: float(z @ z))
    best = 0.5 * float(points[0] @ points[0])
    kept: list[np.ndarray] = []
    for z in points:
        b = float(np.linalg.norm(z))
        if 0.5 * b * b - best > DROP:
            break
        if all(np.linalg.norm(z - k) > max(0.5, 0.05 * b) for k in kept):
            kept.append(z)
        if len(kept) == MAX_COMPONENTS:
            break
    return kept


def _shares(x: np.ndarray, total: float) -> np.ndarray:
    """``x`` (>= 0) as shares of `total`, each at least a quarter of an equal share."""
    x = np.maximum(x / x.sum(), 0.25 / len(x))
    return total * x / x.sum()


def _weights(means: np.ndarray) -> np.ndarray:
    """[nominal, components...]: DEFENSIVE, then the rest by density (:func:`_shares`)."""
    half = 0.5 * np.einsum("cj,cj->c", means, means)
    return np.concatenate([[DEFENSIVE], _shares(np.exp(-(half - half.min())), 1.0 - DEFENSIVE)])


def proposal_plan(plan: Plan, search: ShiftSearch, *, refine: bool = False) -> Plan:
    """`plan` run by importance sampling with the search's proposal: its mixture, or its one
    shift."""
    if search.components is None:
        return importance_plan(plan, np.asarray(search.shift)[None, :])
    if plan.codes.shape[0] != 1:
        raise ValueError("mixture importance sampling runs one point at a time")
    means = np.vstack([np.zeros((1, len(plan.names))), search.components])
    return dataclasses.replace(plan, sampler=mixture(means, search.alphas, plan.names,
                                                     plan.streams, refine=refine))


def find_mixture(plan: Plan, *, seed: int, threads: int | None = None,
                 chunk_size: int = DEFAULT_CHUNK, should_stop: StopFn | None = None,
                 progress: ProgressFn | None = None,
                 max_seconds: float | None = None) -> ShiftSearch:
    """The mixture proposal of an importance-sampling run (module docstring).

    Deterministic for a given plan and seed, whatever the threads or chunk size. Polls
    `should_stop` before every model evaluation and ends after ``min(max_seconds,
    SEARCH_MAX_SECONDS)``; a search that ended so has no shift (``stopped`` says why).
    """
    t0 = time.perf_counter()
    budget, kind = SEARCH_MAX_SECONDS, "budget"
    if max_seconds is not None and max_seconds < budget:
        budget, kind = max_seconds, "max_seconds"
    try:
        found = _optima(plan, _poller(should_stop, budget, kind), seed)
    except _SearchStopped as exc:
        return ShiftSearch(None, None, f"{exc.reason} during the design-point search",
                           stopped=exc.kind, seconds=time.perf_counter() - t0)
    if isinstance(found, ShiftSearch):
        return dataclasses.replace(found, seconds=time.perf_counter() - t0)
    optima, how = found
    rand = plan.is_random
    comps = np.zeros((len(optima), len(plan.names)))
    comps[:, rand] = np.array(optima)
    search = ShiftSearch(comps[0], comps[0].copy(), how, components=comps,
                         alphas=_weights(comps))
    rows = 2 + (1 + len(comps)) * (1 + len(plan.names))
    if rows > MAX_REFINE_ROWS:
        return dataclasses.replace(search, how=how + f"; not refined ({rows:,} pilot rows)",
                                   seconds=time.perf_counter() - t0)
    left = None if max_seconds is None else max(max_seconds - (time.perf_counter() - t0), 1e-3)
    tot = run_plan(proposal_plan(plan, search, refine=True), trials=CE_TRIALS, seed=seed,
                   threads=threads, chunk_size=chunk_size, purpose=PURPOSE_SEARCH,
                   should_stop=should_stop, progress=progress, max_seconds=left)
    compile_s = tot.extra.get("compile_s", 0.0)
    est = IsEstimate.from_moments(tot.moments[0])
    if tot.completed:
        search = _refined(search, tot.moments[0], tot.trials, rand)
    how = (search.how + f"; one cross-entropy step on {CE_TRIALS:,} pilot draws (counter word "
           f"{PURPOSE_SEARCH}, effective sample size {est.ess:,.0f})")
    return dataclasses.replace(search, how=how,
                               seconds=time.perf_counter() - t0 - compile_s,
                               compile_s=compile_s)


def _refined(search: ShiftSearch, mom: np.ndarray, n: int, rand: np.ndarray) -> ShiftSearch:
    """The cross-entropy step of the mixture from the pilot's moments (``weigh_mixture``'s
    rows; component 0 is the nominal one and stays)."""
    comps = search.components
    n_c, n_in = comps.shape[0] + 1, comps.shape[1]
    mass = mom[2:2 + n_c, M_MEAN]
    sq = mom[2:2 + n_c, M_M2] + n * mass * mass
    with np.errstate(divide="ignore", invalid="ignore"):
        ess = np.where(sq > 0, (n * mass) ** 2 / sq, 0.0)
    new, moved = comps.copy(), np.zeros(n_c - 1, dtype=bool)
    for c in range(1, n_c):
        if ess[c] >= MIN_COMPONENT_ESS and mass[c] > 0:
            lo = 2 + n_c + c * n_in
            mu = np.where(rand, mom[lo:lo + n_in, M_MEAN] / mass[c], 0.0)
            if np.all(np.isfinite(mu)):
                new[c - 1], moved[c - 1] = mu, True
    if not moved.any():
        return search
    share = _shares(np.where(moved, mass[1:], 0.0), 1 - search.alphas[0])
    alphas = np.concatenate([[search.alphas[0]], share])
    top = int(np.argmax(alphas[1:]))
    return dataclasses.replace(search, shift=new[top], components=new, alphas=alphas)


def _gradients(margin, z: np.ndarray) -> np.ndarray:
    """Central differences of the margin at every row of z[S, d]: 2 S d rows, made and
    evaluated at most :data:`ROW_CELLS` scores at a time (never a 2 d x d matrix)."""
    n, d = z.shape
    eps = 1e-6
    per = max(1, ROW_CELLS // (2 * d))  # (row, input) pairs per call
    out = np.empty(n * d)
    for lo in range(0, n * d, per):
        pair = np.arange(lo, min(lo + per, n * d))
        row, col = pair // d, pair % d
        steps = np.repeat(z[row], 2, axis=0)
        k = np.arange(pair.size)
        steps[2 * k, col] += eps
        steps[2 * k + 1, col] -= eps
        v = margin(steps)
        out[pair] = (v[0::2] - v[1::2]) / (2 * eps)
    return out.reshape(n, d)


def _polish_all(margin, z: np.ndarray, iters: int = 60) -> np.ndarray:
    """Local design points from every row of z[S, d] at once: the improved HL-RF iteration
    (Zhang and Der Kiureghian 1995): the step towards ``((g.z - h) / |g|^2) g``, the point of
    the linearised boundary closest to the origin, damped by halving until the merit
    ``|z|^2 / 2 + c |h|`` decreases; scores kept within +-Z_BOUND. Every row's evaluations go
    in one call per step, so the cost is a few dozen model calls, whatever S."""
    z = np.array(z, dtype=np.float64)
    live = np.ones(len(z), dtype=bool)
    for _ in range(iters):
        idx = np.flatnonzero(live)
        if idx.size == 0:
            break
        zl = z[idx]
        h = margin(zl)
        g = _gradients(margin, zl)
        gn2 = np.einsum("sj,sj->s", g, g)
        flat = gn2 <= 0.0
        gn2 = np.where(flat, 1.0, gn2)
        step = ((np.einsum("sj,sj->s", g, zl) - h) / gn2)[:, None] * g - zl
        step[flat] = 0.0
        c = 2.0 * np.linalg.norm(zl, axis=1) / np.sqrt(gn2) + 10.0
        m0 = 0.5 * np.einsum("sj,sj->s", zl, zl) + c * np.abs(h)
        lam = np.ones(idx.size)
        done = np.zeros(idx.size, dtype=bool)
        new = zl.copy()
        for _ in range(10):
            trial = np.clip(zl + lam[:, None] * step, -Z_BOUND, Z_BOUND)
            want = ~done
            mt = np.full(idx.size, np.inf)
            ht = margin(trial[want])
            mt[want] = 0.5 * np.einsum("sj,sj->s", trial[want], trial[want]) + c[want] * np.abs(ht)
            good = want & (mt < m0)
            new[good] = trial[good]
            done |= good
            lam = np.where(done, lam, 0.5 * lam)
            if done.all():
                break
        moved = np.linalg.norm(new - zl, axis=1)
        z[idx] = new
        live[idx] = (moved > 1e-7 * (1.0 + np.linalg.norm(zl, axis=1))) & done
    # on the covering side of the boundary: a slightly longer ray where the point misses
    for scale in (1.0 + 1e-6, 1.0 + 1e-4, 1.01, 1.05):
        miss = margin(z) < 0.0
        if not miss.any():
            break
        z[miss] = np.clip(z[miss] * scale, -Z_BOUND, Z_BOUND)
    return z[margin(z) >= 0.0]


def _optima(plan: Plan, poll: Callable[[], None], seed: int
            ) -> tuple[list[np.ndarray], str] | ShiftSearch:
    """The distinct local design points in the random inputs' scores, or a ShiftSearch
    without a mixture when there is none to build (no random input, no covering point, or
    the median already covers)."""
    rand = np.flatnonzero(plan.is_random)
    d = rand.size
    if d == 0:
        return ShiftSearch(None, None, "no input is random")
    margin = _batched(_margin_fn(plan, poll), len(plan.names))
    if margin(np.zeros(d))[0] >= 0.0:
        zero = np.zeros(len(plan.names))
        return ShiftSearch(zero, zero, "the median inputs already cover (no shift)")
    known = plan.model.cover_direction is not None
    # the gradient at the median is 2 d model evaluations of d scores: a start of its own
    # for a polished search, skipped beyond (the model's directions suffice)
    g0 = _gradients(margin, np.zeros((1, d)))[0] if d <= DENSE_MAX or not known else \
        np.zeros(d)
    if known:
        helps = np.asarray(plan.model.cover_direction(plan.names), dtype=float)[rand]
    else:
        helps = np.where(g0 >= 0.0, 1.0, -1.0)
    if margin(helps * Z_BOUND)[0] < 0.0:
        return ShiftSearch(None, None, (
            f"no covering point with every normal score within +-{Z_BOUND:g} (P(cover) is "
            f"below about {_sf(Z_BOUND):.0e}, or zero)"))
    starts = _starts(margin, helps, g0, seed, known)
    found = list(starts)
    if d <= DENSE_MAX:
        polished = list(_polish_all(margin, np.vstack([np.zeros((1, d)), starts])))
        # the starts' own boundary points stay candidates: saddles between the corners
        # (two companies sharing the sum) that the polish slides away from
        found = polished + found
    optima = _distinct(found)
    how = (f"{len(optima)} local design point{'s' if len(optima) > 1 else ''} from "
           f"{len(starts) + (d <= DENSE_MAX)} starts ("
           + ("improved HL-RF" if d <= DENSE_MAX else "boundary points, not polished")
           + f", normal-score space, {d} random inputs), |z| = "
           + ", ".join(f"{np.linalg.norm(z):.4g}" for z in optima)
           + f"; a mixture with the nominal inputs (weight {DEFENSIVE:g})")
    return optima, how


def _sf(z: float) -> float:
    import scipy.special
    return float(scipy.special.ndtr(-z))
