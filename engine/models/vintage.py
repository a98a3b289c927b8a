"""The multi-year (vintage) model: GPU spend year after year, each cohort charged over its life.

Every output has one value per reported year, and there are two cover indicators per year
(revenue covers the year's required revenue; revenue has covered it in some year so far). The
equations are in docs/models.md; :func:`reference` states them with NumPy.

Model arguments (built by :func:`pack`):

- ``meta`` int64[N_META]: depreciation form (0 straight-line/annuity, 1 generational), the input
  indices of energy_ratio, margin, useful_life (or generation_years), cost_of_capital,
  perf_per_dollar_gain (-1 when straight-line), and ``y0``, the index of the first reported year
  on the cohort axis (cohorts may start before it).
- ``src``, ``kind`` int64[S, Y]: series s (0: GPU spend, 1..: each company's revenue) in cohort
  year y is input ``src[s, y]`` itself (``kind`` 0, a level) or the previous year's value times
  ``1 + input src[s, y]`` (``kind`` 1, a growth rate). Revenue series are read from ``y0`` on.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from numba import njit

from distributions._jitcache import CACHE, stable_identity

from ..core.layout import Layout
from . import Model

#: Outputs, each with one value per reported year (flat index ``output * n_years + year``).
OUTPUTS = ("annual_gpu_spend", "capex", "capital_charge", "required_revenue",
           "required_annual_revenue", "ai_revenue", "gap", "spend_to_revenue", "cum_capex",
           "cum_revenue", "cum_gap")
N_OUT = len(OUTPUTS)
(V_GPU, V_CAPEX, V_CHARGE, V_REQ, V_REQ_ANNUAL, V_REV, V_GAP, V_S2R, V_CUM_CAPEX, V_CUM_REV,
 V_CUM_GAP) = range(N_OUT)
#: Cover indicators, each per reported year (flat index ``indicator * n_years + year``).
COVERS = ("covers", "breakeven_by")
C_COVERS, C_BY = range(2)

# Fields of ``meta``.
MD_DEP, MD_K, MD_M, MD_LIFE, MD_R, MD_GAIN, MD_Y0 = range(7)
N_META = 7

# Rows of the block's scratch after the weights and the early cohorts (see :func:`block`).
S_K1, S_KEEP, S_PREV, S_CRF, S_ZERO = range(5)
N_SC = 5


@njit(inline="always")
def _col(xs, sp, j):
    """Input j's column (held by point ``sp[j]``)."""
    return xs[sp[j], j]


@njit(inline="always")
def _row(outs, early, out, n_rep, y0, v):
    """Cohort year v's row of output ``out`` (a reported year), else of the scratch ``early``."""
    return outs[out * n_rep + v - y0] if v >= y0 else early[v]


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def block(xs, sp, p, m, margs, work, outs, cover):
    """The model for trials 0..m-1 of point p, its inputs held as columns (engine.models).

    The loops are turned so that the innermost one runs over trials (contiguous rows, so LLVM
    vectorises the arithmetic) and ``outs``/``cover`` are written a row at a time; every trial
    gets the same operations in the same order, wherever it sits. A reported year's GPU spend,
    capex, charge and revenue are built in their output rows, and each running total from the
    year before's output row (rows stay in cache; no copies). Scratch (``work[0]``,
    float64[n_y + 2 * y0 + N_SC, SUB]): the weights per age, the GPU spend and capex of the
    cohorts before the first reported year, then :data:`N_SC` rows.
    """
    meta, src, kind = margs
    n_y = src.shape[1]
    y0 = meta[MD_Y0]
    n_rep = n_y - y0
    wk = work[0]
    w = wk[0:n_y]
    gpu_early = wk[n_y:n_y + y0]
    cap_early = wk[n_y + y0:n_y + 2 * y0]
    sc = wk[n_y + 2 * y0:n_y + 2 * y0 + N_SC]
    r = _col(xs, sp, meta[MD_R])
    life = _col(xs, sp, meta[MD_LIFE])
    k1 = sc[S_K1]
    zero = sc[S_ZERO]
    keep = sc[S_KEEP]
    prev = sc[S_PREV]
    xk = _col(xs, sp, meta[MD_K])
    xm = _col(xs, sp, meta[MD_M])
    for i in range(m):
        k1[i] = 1.0 + xk[i]
        keep[i] = 1.0 - xm[i]
        zero[i] = 0.0
    # the weights: w[a, i] is trial i's charge at age a per $1 of capex
    if meta[MD_DEP] == 0:
        crf = sc[S_CRF]
        for i in range(m):  # a scalar libm call per trial
            if r[i] == 0.0:
                crf[i] = 1.0 / life[i]
            else:
                crf[i] = r[i] / -math.expm1(-life[i] * math.log1p(r[i]))
        for a in range(n_y):
            wa = w[a]
            for i in range(m):
                f = life[i] - a
                if f > 1.0:
                    f = 1.0
                elif f < 0.0:
                    f = 0.0
                wa[i] = crf[i] * f
    else:
        gain = _col(xs, sp, meta[MD_GAIN])
        for i in range(m):
            # trial by trial, the loop over ages: libm's exp is scalar either
            # way, and a loop LLVM might hand to a vector math library stays the same loop
            delta = math.log(gain[i]) / life[i]
            first = -math.expm1(-delta) + r[i]
            for a in range(n_y):
                w[a, i] = math.exp(-delta * a) * first
    for v in range(n_y):
        xj = _col(xs, sp, src[0, v])
        gv = _row(outs, gpu_early, V_GPU, n_rep, y0, v)
        if kind[0, v] == 0:
            for i in range(m):
                gv[i] = xj[i]
        elif v == 0:  # a growth rate with no year before it grows from 0.0
            for i in range(m):
                gv[i] = 0.0 * (1.0 + xj[i])
        else:
            gp = _row(outs, gpu_early, V_GPU, n_rep, y0, v - 1)
            for i in range(m):
                gv[i] = gp[i] * (1.0 + xj[i])
        cv = _row(outs, cap_early, V_CAPEX, n_rep, y0, v)
        for i in range(m):
            cv[i] = gv[i] * k1[i]
    for y in range(n_rep):
        rt = outs[V_REV * n_rep + y]
        for i in range(m):
            rt[i] = 0.0
    for s in range(1, src.shape[0]):  # companies in file order, as the one-year sum
        for i in range(m):
            prev[i] = 0.0
        for t in range(y0, n_y):
            xj = _col(xs, sp, src[s, t])
            rt = outs[V_REV * n_rep + t - y0]
            if kind[s, t] == 0:
                for i in range(m):
                    val = xj[i]
                    prev[i] = val
                    rt[i] += val
            else:
                for i in range(m):
                    val = prev[i] * (1.0 + xj[i])
                    prev[i] = val
                    rt[i] += val
    for t in range(y0, n_y):
        y = t - y0
        charge = outs[V_CHARGE * n_rep + y]
        for i in range(m):
            charge[i] = 0.0
        for v in range(t + 1):  # oldest cohort first
            cv = _row(outs, cap_early, V_CAPEX, n_rep, y0, v)
            wv = w[t - v]
            for i in range(m):
                charge[i] += cv[i] * wv[i]
        gt = outs[V_GPU * n_rep + y]
        ct = outs[V_CAPEX * n_rep + y]
        rt = outs[V_REV * n_rep + y]
        o_req = outs[V_REQ * n_rep + y]
        o_req_annual = outs[V_REQ_ANNUAL * n_rep + y]
        o_gap = outs[V_GAP * n_rep + y]
        o_s2r = outs[V_S2R * n_rep + y]
        o_cum_c = outs[V_CUM_CAPEX * n_rep + y]
        o_cum_r = outs[V_CUM_REV * n_rep + y]
        o_cum_g = outs[V_CUM_GAP * n_rep + y]
        c_covers = cover[C_COVERS * n_rep + y]
        c_by = cover[C_BY * n_rep + y]
        # short loops over a few rows each: LLVM vectorises a loop only while the runtime
        # checks that its arrays do not overlap stay few
        for i in range(m):
            o_req[i] = ct[i] / keep[i]
        for i in range(m):
            o_req_annual[i] = charge[i] / keep[i]
        for i in range(m):
            o_gap[i] = o_req_annual[i] - rt[i]
        for i in range(m):
            o_s2r[i] = gt[i] / rt[i] if rt[i] != 0.0 else math.inf
        # the running totals: the first year's start from a row of 0.0, and its "covered in
        # some year so far" is its own "covers" (read after it is written: c or c)
        first = y == 0
        p_cum_c = zero if first else outs[V_CUM_CAPEX * n_rep + y - 1]
        p_cum_r = zero if first else outs[V_CUM_REV * n_rep + y - 1]
        p_cum_g = zero if first else outs[V_CUM_GAP * n_rep + y - 1]
        p_by = c_covers if first else cover[C_BY * n_rep + y - 1]
        for i in range(m):
            o_cum_c[i] = p_cum_c[i] + ct[i]
        for i in range(m):
            o_cum_r[i] = p_cum_r[i] + rt[i]
        for i in range(m):
            o_cum_g[i] = p_cum_g[i] + o_gap[i]
        for i in range(m):
            c = rt[i] >= o_req_annual[i]
            c_covers[i] = c
            c_by[i] = p_by[i] or c


def pack(scenarios: Sequence[Any], names: tuple[str, ...]) -> tuple:
    """(meta, src, kind): see the module docstring. All points must share the years and
    series (they may differ in any input's distribution)."""
    first = scenarios[0]
    spec = first.vintage
    for sc in scenarios[1:]:
        if sc.vintage != spec:
            raise ValueError("all points of a vintage plan must have the same years and series")
        if sc.depreciation != first.depreciation:
            raise ValueError("all points of a plan must use the same depreciation form")
    index = {name: j for j, name in enumerate(names)}
    n_y = spec.last_year - spec.first_cohort + 1
    y0 = spec.first_year - spec.first_cohort
    series = (spec.gpu,) + spec.revenue
    src = np.full((len(series), n_y), -1, dtype=np.int64)
    kind = np.zeros((len(series), n_y), dtype=np.int64)
    for s, se in enumerate(series):
        at = se.first_year - spec.first_cohort
        for name in se.levels:
            src[s, at] = index[name]
            at += 1
        for name in se.growth:
            src[s, at] = index[name]
            kind[s, at] = 1
            at += 1
    generational = first.depreciation == "generational"
    meta = np.zeros(N_META, dtype=np.int64)
    meta[MD_DEP] = 1 if generational else 0
    meta[MD_K] = index["energy_ratio"]
    meta[MD_M] = index["margin"]
    meta[MD_LIFE] = index["generation_years" if generational else "useful_life"]
    meta[MD_R] = index["cost_of_capital"]
    meta[MD_GAIN] = index["perf_per_dollar_gain"] if generational else -1
    meta[MD_Y0] = y0
    return (meta, src, kind)


def layout(scenario: Any) -> Layout:
    """Outputs and indicators per reported year, with the model's report extras."""
    from engine.models import vintage_report

    spec = scenario.vintage
    return Layout(
        outputs=OUTPUTS, covers=COVERS, dim="year", coord=spec.years,
        coord_attrs={"long_name": "calendar year", "units": "year"},
        output_attrs=vintage_report.OUTPUT_ATTRS, cover_attrs=vintage_report.COVER_ATTRS,
        attrs={"years": f"{spec.first_year}-{spec.last_year}",
               "first_cohort_year": np.int64(spec.first_cohort)},
        hits_axis=True, finish=vintage_report.finish_dataset,
        finish_trace=vintage_report.finish_trace)


def _work_rows(margs: tuple) -> int:
    n_y = margs[1].shape[1]
    return n_y + 2 * int(margs[0][MD_Y0]) + N_SC


def reference(scenario: Any, x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The vintage model on whole arrays (the test oracle): written from the equations in the
    module docstring with NumPy, sharing nothing with the kernel.

    Parameters
    ----------
    x : mapping
        Every input's values over n trials, by name (e.g. from
        :func:`engine.analyses.reference.sample_inputs`).

    Returns
    -------
    dict
        Each output of :data:`OUTPUTS` as float64[n, years]; ``covers``
        and ``breakeven_by`` as bool[n, years]; ``breakeven_year`` float64[n] (inf: not by T).
    """
    spec = scenario.vintage
    n = len(x["margin"])
    years = np.array(spec.years)
    cohorts = np.arange(spec.first_cohort, spec.last_year + 1)

    def values(se: Any, span: np.ndarray) -> np.ndarray:
        out = np.empty((n, len(span)))
        names = list(se.levels) + list(se.growth)
        for c, year in enumerate(span):
            i = year - se.first_year
            if i < len(se.levels):
                out[:, c] = x[names[i]]
            else:
                out[:, c] = out[:, c - 1] * (1.0 + x[names[i]])
        return out

    gpu = values(spec.gpu, cohorts)                            # [n, cohorts]
    capex = gpu * (1.0 + x["energy_ratio"])[:, None]
    keep = 1.0 - x["margin"]
    r = x["cost_of_capital"][:, None]
    age = np.arange(len(cohorts))[None, :]
    if scenario.depreciation == "straight-line":
        life = x["useful_life"][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            crf = np.where(r == 0.0, 1.0 / life, r / -np.expm1(-life * np.log1p(r)))
        weight = crf * np.clip(life - age, 0.0, 1.0)
    else:
        delta = (np.log(x["perf_per_dollar_gain"]) / x["generation_years"])[:, None]
        weight = np.exp(-delta * age) * (-np.expm1(-delta) + r)
    charge = np.zeros((n, len(cohorts)))
    for t in range(len(cohorts)):
        for v in range(t + 1):
            charge[:, t] += capex[:, v] * weight[:, t - v]
    rep = cohorts >= spec.first_year
    gpu, capex, charge = gpu[:, rep], capex[:, rep], charge[:, rep]
    revenue = np.zeros((n, len(years)))
    for se in spec.revenue:
        revenue += values(se, years)
    required = charge / keep[:, None]
    gap = required - revenue
    with np.errstate(divide="ignore"):
        s2r = np.where(revenue != 0.0, gpu / np.where(revenue != 0.0, revenue, 1.0), np.inf)
    covers = revenue >= required
    breakeven_by = np.logical_or.accumulate(covers, axis=1)
    first_cover = np.argmax(covers, axis=1)
    breakeven_year = np.where(covers.any(axis=1), years[first_cover], np.inf)
    return {
        "annual_gpu_spend": gpu,
        "capex": capex,
        "capital_charge": charge,
        "required_revenue": capex / keep[:, None],
        "required_annual_revenue": required,
        "ai_revenue": revenue,
        "gap": gap,
        "spend_to_revenue": s2r,
        "cum_capex": np.cumsum(capex, axis=1),
        "cum_revenue": np.cumsum(revenue, axis=1),
        "cum_gap": np.cumsum(gap, axis=1),
        "covers": covers,
        "breakeven_by": breakeven_by,
        "breakeven_year": breakeven_year,
    }


def _text(ds: Any, source: str) -> str:
    from engine.models.vintage_report import format_quote

    return format_quote(ds, source)


def _summary(ds: Any) -> dict:
    from engine.models.vintage_report import summary

    return summary(ds)


MODEL = Model(name="vintage", block=block, layout=layout, pack=pack, reference=reference,
              text=_text, summary=_summary,
              work_rows=_work_rows, cached=True, work_per_point=False,
              description="GPU spend year after year, each cohort charged over its life")
