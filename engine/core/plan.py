"""Scenario(s) -> the flat arrays the runner takes (the "plan").

A plan holds one or more *points* (sweep points; a quote has one). Every point has the same
inputs, in the same order, so the uniforms of a trial are drawn once and shared by all points
(common random numbers). Each input's random stream is derived from its *name*, so pinning one
input, adding a company or reordering the file leaves every other input's draws unchanged.

Dependency rule: numpy, ``distributions`` and :mod:`engine.core` only (the model comes in as an
argument).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

import distributions

from . import copula
from .layout import Layout
from .rng import stream_id


@dataclass(frozen=True)
class Plan:
    """Packed arguments of P points and J inputs for one model."""

    names: tuple[str, ...]     # input names, kernel order (J)
    codes: np.ndarray          # int64[P, J]
    params: np.ndarray         # float64[P, J, NPAR]
    tables: np.ndarray         # quantile tables referenced from params
    streams: np.ndarray        # uint64[J]
    is_random: np.ndarray      # bool[J]: needs a uniform at some point
    model: Any                 # engine.models.Model
    margs: tuple               # the model's packed arguments (Model.pack)
    layout: Layout             # what the model writes
    #: how trials are drawn (engine.core.sampling.Sampler); None: plain Monte Carlo
    sampler: Any = None
    #: the Gaussian copula (engine.core.copula): the correlated inputs int64[K] (random ones,
    #: kernel order) and, per point, the lower Cholesky factor float64[P, K, K] of their
    #: Pearson matrix; K = 0: every input independent
    cidx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    chol: np.ndarray = field(default_factory=lambda: np.zeros((1, 0, 0)))
    #: whether the copula's matrix was replaced by the nearest valid one (--repair-correlation)
    repaired: bool = False

    @property
    def n_points(self) -> int:
        return self.codes.shape[0]


def pack_points(scenarios: Sequence[Any], model: Any) -> Plan:
    """Pack scenarios that differ only in their inputs' distributions, for ``model``.

    Parameters
    ----------
    scenarios : sequence of Scenario
        All points must have the same inputs in the same order.
    model : engine.models.Model

    Returns
    -------
    Plan
    """
    first = scenarios[0]
    names = tuple(item.name for item in first.all_inputs)
    for sc in scenarios[1:]:
        if tuple(item.name for item in sc.all_inputs) != names:
            raise ValueError("all points of a plan must have the same inputs in the same order")
    flat = [item.dist for sc in scenarios for item in sc.all_inputs]
    codes, params, tables = distributions.pack(flat)
    n_p, n_j = len(scenarios), len(names)
    codes = np.ascontiguousarray(codes.reshape(n_p, n_j), dtype=np.int64)
    params = np.ascontiguousarray(params.reshape(n_p, n_j, -1), dtype=np.float64)
    is_random = np.array([any(not sc.all_inputs[j].dist.is_fixed for sc in scenarios)
                          for j in range(n_j)], dtype=np.bool_)
    streams = np.array([stream_id(n) for n in names], dtype=np.uint64)
    cidx, chol, repaired = copula_factors([sc.correlation for sc in scenarios], names,
                                          is_random)
    return Plan(names=names, codes=codes, params=params, tables=np.ascontiguousarray(tables),
                streams=streams, is_random=is_random, model=model,
                margs=model.pack(scenarios, names), layout=model.layout(first), cidx=cidx,
                chol=chol, repaired=repaired)


def copula_factors(corrs: Sequence[Any], names: tuple[str, ...], is_random: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, bool]:
    """The copula of a plan: (cidx int64[K], chol float64[P, K, K], repaired).

    ``corrs`` holds each point's :class:`~engine.core.scenario.Correlation` (or None). The
    correlated inputs are the random ones with a non-zero rank correlation at some point, in
    kernel order; each point's factor is :func:`engine.core.copula.cholesky_psd` of the
    Pearson matrix of its Spearman matrix over them. A matrix that is not positive
    semi-definite is replaced by the nearest that is when the config asked for it
    (``repair``); otherwise it is a ValueError (the config and sweep readers refuse it first).
    """
    n_p, n_j = len(corrs), len(names)
    if all(c is None or c.is_empty for c in corrs):
        return np.zeros(0, dtype=np.int64), np.zeros((n_p, 0, 0)), False
    eye = np.eye(n_j)
    rho = np.stack([eye if c is None else copula.spearman_matrix(c, names) for c in corrs])
    off = np.abs(rho - eye).sum(axis=(0, 1)) > 0
    cidx = np.flatnonzero(off & is_random).astype(np.int64)
    chol = np.zeros((n_p, cidx.size, cidx.size))
    repaired = False
    for p, c in enumerate(corrs):
        r = copula.pearson_from_spearman(rho[p][np.ix_(cidx, cidx)])
        if not copula.is_psd(r):
            if c is None or not c.repair:
                raise ValueError("a correlation matrix is not positive semi-definite")
            r = copula.nearest_correlation(r)
            repaired = True
        chol[p] = copula.cholesky_psd(r)
    return cidx, np.ascontiguousarray(chol), repaired
