"""Scenario(s) -> the flat arrays the runner takes (the "plan").

A plan holds one or more *points* (sweep points; a quote has one). Every point has the same
inputs, in the same order, so the uniforms of a trial are drawn once and shared by all points
(common random numbers). Each input's random stream is derived from its *name*, so pinning one
input, adding a company or reordering the file leaves every other input's draws unchanged.

Dependency rule: numpy, ``distributions`` and :mod:`engine.core` only (the model comes in as an
argument).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

import distributions

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
    return Plan(names=names, codes=codes, params=params, tables=np.ascontiguousarray(tables),
                streams=streams, is_random=is_random, model=model,
                margs=model.pack(scenarios, names), layout=model.layout(first))
