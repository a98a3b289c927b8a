"""What a result says about correlated inputs: the target and the achieved rank correlations.

A run with a ``[correlation]`` section carries ``correlation_target`` (the Spearman matrix the
copula uses, over the correlated inputs: the nearest valid one when it was repaired) and
``correlation_achieved`` (the Spearman matrix measured on the run's first chunk of trials,
drawn again by the run's own sampler, ``runner.draw_inputs``; left out below
:data:`MIN_MEASURED` trials), both with dims ``(correlated, correlated_with)``; a sweep's
target has the sweep's dims in front. The attribute ``correlation`` says in words which inputs
are correlated; a repair adds a note.

Dependency rule: ``engine.core`` and ``engine.models``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import xarray as xr

from engine.core import copula, runner
from engine.core.driver import DEFAULT_CHUNK
from engine.core.plan import Plan
from engine.core.scenario import Scenario

DIMS = ("correlated", "correlated_with")


def used_spearman(plan: Plan) -> np.ndarray:
    """float64[P, K, K]: each point's Spearman matrix over the correlated inputs as the copula
    uses it (from its factor: ``L L^T`` back through ``(6 / pi) arcsin(r / 2)``)."""
    out = np.empty_like(plan.chol)
    for p in range(plan.chol.shape[0]):
        out[p] = copula.spearman_from_pearson(plan.chol[p] @ plan.chol[p].T)
    return out


def achieved_spearman(plan: Plan, seed: int, n: int) -> np.ndarray:
    """float64[K, K]: the Spearman matrix of the first ``n`` trials of point 0."""
    xs = runner.draw_inputs(plan, seed, 0, 0, n)
    # Pearson's correlation of the ranks: continuous inputs have no ties, and numpy's sort
    # spares every quote with correlation the 0.4 s import of scipy.stats (the tests hold it
    # to scipy.stats.spearmanr)
    ranks = np.argsort(np.argsort(xs[:, plan.cidx], axis=0, kind="stable"), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.atleast_2d(np.corrcoef(ranks.astype(np.float64), rowvar=False))


def describe(plan: Plan, scenario: Scenario) -> str:
    """One line: which inputs are correlated, and how (Spearman)."""
    corr = scenario.correlation
    companies = {i.name for i in scenario.revenue if not i.dist.is_fixed}
    parts = []
    for g in corr.groups:
        parts.append(f"{_names(g.members, companies)} pairwise {g.rho:g}")
    for p in corr.pairs:
        parts.append(f"{_names(p.a, companies)} with {_names(p.b, companies)} {p.rho:g}")
    if corr.names:
        parts.append(f"a full matrix over {_names(corr.names, companies)}")
    return "; ".join(parts) + f" (Spearman; {len(plan.cidx)} inputs)"


def _names(names: Sequence[str], companies: set[str]) -> str:
    """Names, short: "revenue (every company)" for the whole [revenue] table."""
    if len(names) > 1 and set(names) == companies:
        return "revenue (every company)"
    if len(names) > 3:
        return f"{', '.join(names[:2])} and {len(names) - 2} more"
    return ", ".join(names)


#: Fewer trials than this measure no achieved correlation (the variable is left out).
MIN_MEASURED = 100


def attach(ds: xr.Dataset, plan: Plan, scenario: Scenario, seed: int, trials: int, *,
           point_dims: Sequence[str] = (), shape: Sequence[int] = ()) -> xr.Dataset:
    """``ds`` with the correlation variables and attributes (module docstring); unchanged when
    no input is correlated."""
    if plan.cidx.size == 0:
        return ds
    names = [plan.names[j] for j in plan.cidx]
    coords = {DIMS[0]: names, DIMS[1]: names}
    target = used_spearman(plan).reshape(*shape, len(names), len(names))
    ds = ds.assign_coords(coords)
    ds["correlation_target"] = ((*point_dims, *DIMS), target, {
        "long_name": "Spearman rank correlation asked for (as the copula uses it)",
        "units": "1"})
    n = int(min(trials, DEFAULT_CHUNK))
    if n >= MIN_MEASURED:
        ds["correlation_achieved"] = (DIMS, achieved_spearman(plan, seed, n), {
            "long_name": f"Spearman rank correlation measured on the first {n:,} trials"
                         + (" of the first sweep point" if point_dims else ""),
            "units": "1", "trials": np.int64(n)})
    ds.attrs["correlation"] = describe(plan, scenario)
    if plan.repaired:
        note = ("the correlation matrix was not positive semi-definite: the run used the "
                "nearest valid one (Higham), correlation_target shows it (--repair-correlation)")
        ds.attrs["notes"] = "\n".join(x for x in (ds.attrs.get("notes", ""), note) if x)
    return ds
