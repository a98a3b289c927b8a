"""Global sensitivity: first-order and total Sobol' indices by pick-freeze.

For a model output Y and a factor i (one input, or a group of inputs taken together):

- the first-order index ``S1_i = Var(E[Y | X_i]) / Var(Y)``: the share of Y's variance that
  X_i explains alone;
- the total index ``ST_i = E[Var(Y | X_~i)] / Var(Y)``: the share that X_i has a hand in,
  alone or through interactions with the others (``ST_i >= S1_i``; ``ST_i = 0``: fixing X_i
  anywhere changes nothing).

Estimators, on N base samples: rows of two independent matrices A and B and, per factor, the
matrix ``A_B^i`` (A with factor i's columns from B); N (k + 2) model evaluations through the
one runner (:mod:`engine.core.pickfreeze`)::

    V    = variance of the 2N values f(A), f(B) (divided by 2N)
    c    = mean of all N (k + 2) values
    S1_i = mean((f(B) - c) (f(A_B^i) - f(A))) / V        Saltelli et al. (2010)
    ST_i = mean((f(A) - f(A_B^i))**2) / 2 / V             Jansen (1999)

Centring f(B) on c lowers the variance of S1 and makes these exactly the estimates SALib's
``sobol.analyze`` gives for the same model values (it normalises Y the same way).

95% intervals: the delta method over batch means. Each block of 4,096 base samples gives its
own means of every term; an index is a smooth function of those means, and its variance is
that of its linearisation over the blocks (``n_b / (n_b - 1) sum_b w_b**2 psi_b**2``, w_b the
block's share of the samples), with a Student t quantile on n_b - 1 degrees of freedom. Hence
at least :data:`MIN_BLOCKS` blocks.

Sobol' indices assume independent inputs: a scenario with correlated inputs is refused.

Dependency rule: ``engine.base``, ``engine.core`` and ``engine.models``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numba
import numpy as np
import xarray as xr

from engine.base.errors import ConfigError
from engine.base.interrupts import ProgressFn, StopFn
from engine.core import pickfreeze
from engine.core.dataset import FORMAT, FORMAT_ATTR, FORMAT_VERSION, version
from engine.core.driver import DEFAULT_CHUNK, _check_run_args, run_plan
from engine.core.pickfreeze import PURPOSE_A, PURPOSE_B, R_S1, R_ST, R_VALUE
from engine.core.reduce import BLOCK, M_M2, M_MEAN, M_N
from engine.core.runner import trace_trials
from engine.models import make_plan

from .scale import resolve_scale

if TYPE_CHECKING:  # pragma: no cover
    from engine.core.scenario import Scenario

#: Base samples by default: the default scenario (20 factors) in about a second.
DEFAULT_BASE_SAMPLES = 1 << 16
#: The fewest blocks (of 4,096 base samples) that give an interval: 15 degrees of freedom.
MIN_BLOCKS = 16
MIN_BASE_SAMPLES = MIN_BLOCKS * BLOCK
#: A --precision run stops here at the latest, by default.
DEFAULT_MAX_BASE_SAMPLES = 1 << 22
#: The outputs analysed by default (those the model has): the cover indicator and the gap's
#: terms.
DEFAULT_OUTPUTS = ("covers", "gap", "required_annual_revenue", "ai_revenue")
INTERVAL = ("95%: delta method over batch means (blocks of 4,096 base samples), Student t "
            "with blocks - 1 degrees of freedom")
ESTIMATORS = ("S1: Saltelli et al. (2010), f(B) centred on the mean of all evaluations; ST: "
              "Jansen (1999); V: variance of f(A) and f(B) together")


@dataclasses.dataclass(frozen=True)
class Factor:
    """One factor: a name and the indices of its inputs in kernel order."""

    name: str
    members: tuple[int, ...]


def factors(scenario: Scenario, names: Sequence[str], is_random: np.ndarray,
            groups: Sequence[str] = ()) -> list[Factor]:
    """The factors: each group of ``groups`` as one, every other random input alone, in the
    order of their first input.

    A group is ``NAME`` (``revenue``: every company; an input; a company: what ``--scale``
    takes, :func:`engine.analyses.scale.resolve_scale`) or ``LABEL=NAME,NAME,...`` (their
    union under a name of its own). Fixed inputs vary nothing and are left out.

    Raises
    ------
    ConfigError
        A name that names nothing, a group with no random input, an input in two groups.
    """
    index = {n: j for j, n in enumerate(names)}
    taken: dict[int, str] = {}
    found: list[Factor] = []
    for spec in groups:
        label, _, rest = spec.partition("=")
        label = label.strip()
        parts = [p.strip() for p in rest.split(",")] if rest else [label]
        if not label or not all(parts):
            raise ConfigError(scenario.source, "--groups", "must be NAME or LABEL=NAME,NAME,...",
                              spec, "e.g. --groups revenue, or --groups "
                              "cost=gpu_spend,energy_ratio")
        members: list[int] = []
        for part in parts:
            for n in resolve_scale(scenario, part, key="--groups").inputs:
                if is_random[index[n]] and index[n] not in members:
                    members.append(index[n])
        if not members:
            raise ConfigError(scenario.source, "--groups", "names only fixed inputs", spec,
                              "Group inputs that are uncertain: a fixed one varies nothing.")
        for j in members:
            if j in taken:
                raise ConfigError(scenario.source, "--groups", f"puts {names[j]} in two "
                                  f"groups ({taken[j]} and {label})", spec,
                                  "Give each input to one group at most.")
            taken[j] = label
        found.append(Factor(label, tuple(sorted(members))))
    alone = [Factor(names[j], (j,)) for j in range(len(names))
             if is_random[j] and j not in taken]
    return sorted(found + alone, key=lambda f: f.members[0])


@dataclasses.dataclass(frozen=True)
class Quantities:
    """What is analysed: per quantity its name, output and year, and where the kernel writes
    it (the flat output row, or ``-h - 1`` for cover indicator h)."""

    outputs: tuple[str, ...]
    years: tuple | None            # the years kept (None: a model without a dimension)
    qmap: tuple[int, ...]          # output-major, then year
    names: tuple[str, ...]


def quantities(scenario: Scenario, layout, outputs: Sequence[str] | None,
               year: int | None) -> Quantities:
    """The outputs (default :data:`DEFAULT_OUTPUTS`, those the model has) and year(s)."""
    known = list(layout.covers[:1]) + list(layout.outputs)
    if outputs is None:
        outputs = tuple(o for o in DEFAULT_OUTPUTS if o in known) or (known[0],)
    for o in outputs:
        if o not in known:
            raise ConfigError(scenario.source, "--output", "names no output of this model", o,
                              f"Valid outputs: {', '.join(known)}.")
    outputs = tuple(dict.fromkeys(outputs))
    n_along = layout.n_along
    elements = list(range(n_along))
    years = None
    if layout.dim:
        coord = [int(y) for y in layout.coord]
        if year is not None:
            if year not in coord:
                raise ConfigError(scenario.source, "--year", "is not a reported year", year,
                                  f"Reported years: {coord[0]} to {coord[-1]}.")
            elements = [coord.index(year)]
        years = tuple(coord[e] for e in elements)
    elif year is not None:
        raise ConfigError(scenario.source, "--year", "applies to a multi-year model only",
                          year, "Drop --year: this model has one year.")
    qmap, names = [], []
    for o in outputs:
        for e in elements:
            if o == layout.covers[0]:
                qmap.append(-1 - e)  # the headline indicator, row e of cover
            else:
                qmap.append(layout.outputs.index(o) * n_along + e)
            names.append(o if years is None else f"{o}.{layout.coord[e]}")
    return Quantities(outputs, years, tuple(qmap), tuple(names))


def check_independent(scenario: Scenario, plan) -> None:
    """Refuse correlated inputs: Sobol' indices of dependent inputs are not variance shares."""
    if plan.cidx.size:
        raise ConfigError(scenario.source, "correlation", "Sobol' indices assume independent "
                          "inputs; this scenario correlates "
                          f"{plan.cidx.size} of them", "[correlation]",
                          "Add --independent to analyse the scenario with every input "
                          "independent (the indices then describe that scenario), or remove "
                          "the [correlation] section.")


@dataclasses.dataclass
class _Collector:
    """The per-block statistics of a run, kept wave by wave (``run_plan(blocks=...)``):
    stats[b, q, :] = n, mean and M2 of f(A) and of f(B), then per factor the means of f(A_B^i),
    of the S1 term and of the ST term."""

    nq: int
    k: int
    parts: list = dataclasses.field(default_factory=list)

    def __call__(self, first: int, blk: np.ndarray) -> None:
        nq, k = self.nq, self.k
        s = np.empty((blk.shape[0], nq, 5 + 3 * k))
        s[:, :, 0] = blk[:, 0, :nq, M_N]
        s[:, :, 1] = blk[:, 0, :nq, M_MEAN]
        s[:, :, 2] = blk[:, 0, :nq, M_M2]
        s[:, :, 3] = blk[:, 1, :nq, M_MEAN]
        s[:, :, 4] = blk[:, 1, :nq, M_M2]
        for r, col in ((R_VALUE, 5), (R_S1, 5 + k), (R_ST, 5 + 2 * k)):
            s[:, :, col:col + k] = np.moveaxis(blk[:, 2:, r * nq:(r + 1) * nq, M_MEAN], 1, 2)
        self.parts.append(s)

    def stats(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros((0, self.nq, 5 + 3 * self.k))


def estimates(mom: np.ndarray, nq: int, k: int) -> dict[str, np.ndarray]:
    """Point estimates from the run's merged moments float64[P, R, N_MOM] (module docstring):
    S1, ST [Q, k] and the parts the intervals need."""
    n = mom[0, :nq, M_N]
    ma, mb = mom[0, :nq, M_MEAN], mom[1, :nq, M_MEAN]
    v = (mom[0, :nq, M_M2] + mom[1, :nq, M_M2] + 0.5 * n * (ma - mb) ** 2) / (2.0 * n)
    mab = mom[2:, R_VALUE * nq:(R_VALUE + 1) * nq, M_MEAN].T            # [Q, k]
    u = mom[2:, R_S1 * nq:(R_S1 + 1) * nq, M_MEAN].T
    w = mom[2:, R_ST * nq:(R_ST + 1) * nq, M_MEAN].T
    c = (ma + mb + mab.sum(axis=1)) / (k + 2)
    num = u - c[:, None] * (mab - ma[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        vpos = np.where(v > 0.0, v, np.nan)[:, None]
        s1, st = num / vpos, w / vpos
    return {"S1": s1, "ST": st, "V": v, "mean": 0.5 * (ma + mb), "c": c, "num": num, "w": w,
            "ma": ma, "mb": mb, "mab": mab}


def intervals(est: dict[str, np.ndarray], stats: np.ndarray, k: int
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """Half-widths of the 95% intervals of S1 and ST [Q, k] by the delta method over the
    blocks ``stats`` (:class:`_Collector`), and the number of blocks."""
    from scipy.stats import t as student_t

    nb = stats.shape[0]
    if nb < 2:
        nan = np.full(est["S1"].shape, np.nan)
        return nan, nan.copy(), nb
    n_b = stats[:, :, 0]                                    # [B, Q]
    wgt = n_b / n_b.sum(axis=0)
    ma_b, mb_b = stats[:, :, 1], stats[:, :, 3]
    mab_b = stats[:, :, 5:5 + k]
    u_b = stats[:, :, 5 + k:5 + 2 * k]
    w_b = stats[:, :, 5 + 2 * k:5 + 3 * k]
    mu = est["mean"]
    with np.errstate(divide="ignore", invalid="ignore"):
        v_b = 0.5 * (stats[:, :, 2] / n_b + (ma_b - mu) ** 2 + stats[:, :, 4] / n_b
                     + (mb_b - mu) ** 2)
        dc = ((ma_b - est["ma"]) + (mb_b - est["mb"]) + (mab_b - est["mab"]).sum(axis=2)) \
            / (k + 2)
        num_b = u_b - est["c"][None, :, None] * (mab_b - ma_b[:, :, None])
        dv = (v_b - est["V"])[:, :, None]
        vv = est["V"][None, :, None]
        psi1 = ((num_b - est["num"]) - (est["mab"] - est["ma"][:, None]) * dc[:, :, None]
                - est["S1"] * dv) / vv
        psit = ((w_b - est["w"]) - est["ST"] * dv) / vv
    tq = float(student_t.ppf(0.975, nb - 1))
    scale = nb / (nb - 1.0)
    w2 = (wgt ** 2)[:, :, None]
    h1 = tq * np.sqrt(scale * (w2 * psi1 ** 2).sum(axis=0))
    ht = tq * np.sqrt(scale * (w2 * psit ** 2).sum(axis=0))
    return h1, ht, nb


def sensitivity(scenario: Scenario, *, base_samples: int | None = None,
                seed: int | None = None, groups: Sequence[str] = (),
                outputs: Sequence[str] | None = None, year: int | None = None,
                precision: float | None = None, max_base_samples: int | None = None,
                threads: int | None = None, chunk_size: int = DEFAULT_CHUNK,
                progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                max_seconds: float | None = None) -> xr.Dataset:
    """First-order and total Sobol' indices of a scenario's outputs (module docstring).

    Parameters
    ----------
    scenario : Scenario
        Independent inputs only (see :func:`check_independent`).
    base_samples : int, optional
        N, rows of A and of B (default :data:`DEFAULT_BASE_SAMPLES`; at least
        :data:`MIN_BASE_SAMPLES`). The model runs N (k + 2) times.
    seed : int, optional
        Default: the scenario's.
    groups : sequence of str
        Groups of inputs taken as one factor (:func:`factors`).
    outputs : sequence of str, optional
        Outputs to analyse (``covers``: the indicator whose mean is P(cover)); default
        :data:`DEFAULT_OUTPUTS`.
    year : int, optional
        Multi-year model: this year only (default: every reported year).
    precision : float, optional
        Run until the widest 95% interval's half-width is at most this (absolute, on the
        indices' 0..1 scale), in whole blocks, up to ``max_base_samples``; not with
        ``base_samples``.
    threads, chunk_size, progress, should_stop, max_seconds
        As for :func:`engine.simulate` (progress counts base samples).

    Returns
    -------
    xarray.Dataset
        ``S1``, ``ST`` (output[, year], input), ``S1_ci95``, ``ST_ci95`` (..., bound),
        ``output_mean``, ``output_variance``, ``input_members``; attributes ``analysis`` =
        "sensitivity", ``base_samples``, ``evaluations``, ``interval``, ``estimators``.
    """
    seed = scenario.seed if seed is None else seed
    if precision is not None:
        if base_samples is not None:
            raise ConfigError(scenario.source, "--precision", "cannot be combined with "
                              "--base-samples", precision, "Give one of them.")
        if not (math.isfinite(precision) and 0.0 < precision < 1.0):
            raise ConfigError(scenario.source, "--precision", "must lie strictly between 0 "
                              "and 1 (a half-width on the indices)", precision, "e.g. 0.02")
        n = DEFAULT_MAX_BASE_SAMPLES if max_base_samples is None else max_base_samples
    else:
        n = DEFAULT_BASE_SAMPLES if base_samples is None else base_samples
    _check_run_args(n, seed, chunk_size)
    if n < MIN_BASE_SAMPLES:
        key = "--max-base-samples" if precision is not None else "--base-samples"
        raise ConfigError(scenario.source, key, f"must be at least {MIN_BASE_SAMPLES:,} "
                          f"({MIN_BLOCKS} blocks of {BLOCK:,}: the intervals come from the "
                          "spread between blocks)", n, f"Use e.g. {key} {DEFAULT_BASE_SAMPLES}.")
    base = make_plan(scenario)
    check_independent(scenario, base)
    facs = factors(scenario, base.names, base.is_random, groups)
    if not facs:
        raise ConfigError(scenario.source, "inputs", "are all fixed: nothing varies", None,
                          "Give some input a distribution.")
    qs = quantities(scenario, base.layout, outputs, year)
    k, nq = len(facs), len(qs.qmap)
    n_p = k + 2
    plan = dataclasses.replace(
        base, codes=np.ascontiguousarray(np.repeat(base.codes, n_p, axis=0)),
        params=np.ascontiguousarray(np.repeat(base.params, n_p, axis=0)),
        chol=np.zeros((n_p, 0, 0)), margs=base.model.pack([scenario] * n_p, base.names))
    sampler = pickfreeze.pick_freeze(base.streams, len(base.names), [f.members for f in facs],
                                     qs.qmap, qs.names)
    collect = _Collector(nq, k)
    monitor = None if precision is None else _Target(precision, collect, nq, k)
    tot = run_plan(plan, trials=n, seed=seed, threads=threads, chunk_size=chunk_size,
                   purpose=PURPOSE_A, sampler=sampler, progress=progress,
                   should_stop=should_stop, max_seconds=max_seconds, monitor=monitor,
                   blocks=collect)
    est = estimates(tot.moments, nq, k)
    h1, ht, nb = intervals(est, collect.stats(), k)
    notes = []
    bad = tot.nonfinite[:, :3 * nq].reshape(n_p, 3, nq).sum(axis=(0, 1))
    for q in np.flatnonzero(bad):
        notes.append(f"{qs.names[q]}: {int(bad[q]):,} evaluations are not finite; its "
                     "indices are NaN")
        for key in ("S1", "ST"):
            est[key][q] = np.nan
    for q in np.flatnonzero(~(est["V"] > 0.0)):
        if not bad[q]:
            notes.append(f"{qs.names[q]} does not vary in these samples: its indices are NaN")
    met = None
    if monitor is not None:
        met = tot.extra.get("stopped_by") == "monitor"
        tot.completed = tot.completed or met
    return _dataset(scenario, facs, qs, est, h1, ht, nb, tot, seed, base.names, notes,
                    precision, met, int(n))


def trace_samples(scenario: Scenario, first: int = 0, n: int = 1000, *,
                  seed: int | None = None, groups: Sequence[str] = (),
                  outputs: Sequence[str] | None = None, year: int | None = None) -> dict:
    """Base samples ``first .. first + n - 1`` recomputed one trial at a time (the scalar
    path of ``engine.trace``): the same numbers the run folds.

    Returns
    -------
    dict
        ``"A"``, ``"B"``: (inputs float64[n, J], values float64[n, Q]); ``"AB"``: a list, per
        factor, of the same for ``A_B^i``; ``"factors"``, ``"quantities"``, ``"names"``.
    """
    seed = scenario.seed if seed is None else seed
    base = make_plan(scenario)
    check_independent(scenario, base)
    facs = factors(scenario, base.names, base.is_random, groups)
    qs = quantities(scenario, base.layout, outputs, year)

    def rows(plan, purpose):
        xs, outs, covers = trace_trials(plan, seed, purpose, first, n)
        vals = np.stack([outs[:, c] if c >= 0 else covers[:, -c - 1].astype(np.float64)
                         for c in qs.qmap], axis=1)
        return xs, vals

    return {"A": rows(base, PURPOSE_A), "B": rows(base, PURPOSE_B),
            "AB": [rows(dataclasses.replace(
                base, streams=pickfreeze.b_streams(base.streams, f.members)), PURPOSE_A)
                for f in facs],
            "factors": facs, "quantities": qs, "names": base.names}


@dataclasses.dataclass
class _Target:
    """``run_plan``'s monitor for ``precision``: stop once the widest half-width is small
    enough; otherwise ask for the samples that should get it there."""

    precision: float
    collect: _Collector
    nq: int
    k: int
    reason: str = ""

    def __call__(self, done: int, hits: np.ndarray, moments: np.ndarray) -> int | None:
        stats = self.collect.stats()
        if stats.shape[0] < MIN_BLOCKS:
            return MIN_BASE_SAMPLES - done
        est = estimates(moments, self.nq, self.k)
        h1, ht, _ = intervals(est, stats, self.k)
        widest = np.nanmax(np.concatenate([h1.ravel(), ht.ravel(), [0.0]]))
        if widest <= self.precision:
            self.reason = (f"precision met: widest half-width {widest:.3g} <= "
                           f"{self.precision:g}")
            return 0
        # the half-width falls as 1/sqrt(N): ask for the samples that get there, plus 10%
        return max(BLOCK, int(done * ((widest / self.precision) ** 2 * 1.1 - 1.0)))


def _dataset(scenario, facs, qs, est, h1, ht, nb, tot, seed, names, notes, precision, met,
             asked) -> xr.Dataset:
    n_out = len(qs.outputs)
    n_y = 1 if qs.years is None else len(qs.years)
    k = len(facs)
    dims = ("output",) + (() if qs.years is None else ("year",))
    shape = (n_out,) if qs.years is None else (n_out, n_y)

    def idx(a):
        return a.reshape(shape + (k,))

    def ci(point, half):
        return np.stack([idx(point - half), idx(point + half)], axis=-1)

    data = {
        "S1": (dims + ("input",), idx(est["S1"]), {
            "long_name": "first-order Sobol' index: share of the output's variance the input "
                         "explains alone", "units": "1"}),
        "ST": (dims + ("input",), idx(est["ST"]), {
            "long_name": "total Sobol' index: share of the output's variance the input has a "
                         "hand in, with its interactions", "units": "1"}),
        "S1_ci95": (dims + ("input", "bound"), ci(est["S1"], h1), {
            "long_name": "95% interval of S1", "units": "1", "method": INTERVAL}),
        "ST_ci95": (dims + ("input", "bound"), ci(est["ST"], ht), {
            "long_name": "95% interval of ST", "units": "1", "method": INTERVAL}),
        "output_mean": (dims, est["mean"].reshape(shape), {
            "long_name": "mean of the output over A and B"}),
        "output_variance": (dims, est["V"].reshape(shape), {
            "long_name": "variance of the output over A and B (the indices' denominator)"}),
        "input_members": (("input",), np.array([",".join(names[j] for j in f.members)
                                                 for f in facs], dtype=object), {
            "long_name": "the inputs of each factor (a group is one factor)"}),
    }
    coords = {"output": ("output", np.array(qs.outputs, dtype=object)),
              "input": ("input", np.array([f.name for f in facs], dtype=object)),
              "bound": ("bound", np.array(["lower", "upper"], dtype=object))}
    if qs.years is not None:
        coords["year"] = ("year", np.array(qs.years, dtype=np.int64))
    n = int(tot.trials)
    attrs = {
        "title": scenario.name, FORMAT_ATTR: FORMAT, "format_version": np.int64(FORMAT_VERSION),
        "description": scenario.description, "capexgap_version": version(),
        "analysis": "sensitivity", "model": scenario.model, "seed": str(seed),
        "trials": np.int64(n),  # a trial of the run is a base sample (a row of A and of B)
        "base_samples": np.int64(n), "base_samples_requested": np.int64(asked),
        "evaluations": np.int64(n * (k + 2)), "factors": np.int64(k),
        "blocks": np.int64(nb), "interval": INTERVAL, "estimators": ESTIMATORS,
        "sampler": f"pick-freeze: A and B from the counter-based generator, purposes "
                   f"{PURPOSE_A} and {PURPOSE_B}; A_B^i by columns",
        "completed": np.int8(1 if tot.completed else 0),
        "stop_reason": "" if tot.completed else tot.extra.get("stop_reason", "stopped early"),
        "config_source": scenario.source, "config_sha256": scenario.sha256,
        "config_text": scenario.text, "elapsed_s": float(tot.elapsed_s),
        "compile_s": round(float(tot.extra.get("compile_s", 0.0)), 3),
        "threads": np.int64(numba.get_num_threads()), "notes": "\n".join(notes),
    }
    if precision is not None:
        attrs["precision"] = float(precision)
        attrs["precision_met"] = np.int8(1 if met else 0)
    return xr.Dataset(data, coords=coords, attrs=attrs)
