"""Scenario -> flat arrays the kernel takes (the "plan").

A plan holds one or more *points* (sweep points; a quote has one). Every point has the same
inputs, in the same order, so the uniforms of a trial are drawn once and shared by all points
(common random numbers). Each input's random stream is derived from its *name*, so pinning one
input, adding a company or reordering the file leaves every other input's draws unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

import distributions

from .config import Scenario
from .kernel import DEPRECIATION_CODES
from .rng import stream_id


@dataclass(frozen=True)
class Plan:
    """Packed kernel arguments for P points and J inputs."""

    names: tuple[str, ...]     # input names, kernel order (J)
    codes: np.ndarray          # int64[P, J]
    params: np.ndarray         # float64[P, J, NPAR]
    tables: np.ndarray         # quantile tables referenced from params
    streams: np.ndarray        # uint64[J]
    is_random: np.ndarray      # bool[J]: needs a uniform at some point
    depreciation: int          # 0 straight-line/annuity, 1 generational
    rev0: int                  # index of the first revenue input

    @property
    def n_points(self) -> int:
        return self.codes.shape[0]

    def kernel_args(self) -> tuple:
        """Leading arguments of :func:`engine.kernel.run_blocks` and ``trace_trials``."""
        return (self.codes, self.params, self.tables, self.streams, self.is_random,
                self.depreciation, self.rev0)


def make_plan(points: Scenario | Sequence[Scenario]) -> Plan:
    """Pack one scenario, or several that differ only in their inputs' distributions.

    Parameters
    ----------
    points : Scenario or sequence of Scenario
        All points must share input names (in order) and the depreciation form.

    Returns
    -------
    Plan
    """
    scenarios = [points] if isinstance(points, Scenario) else list(points)
    first = scenarios[0]
    names = tuple(item.name for item in first.all_inputs)
    for sc in scenarios[1:]:
        if tuple(item.name for item in sc.all_inputs) != names:
            raise ValueError("all points of a plan must have the same inputs in the same order")
        if sc.depreciation != first.depreciation:
            raise ValueError("all points of a plan must use the same depreciation form")
    flat = [item.dist for sc in scenarios for item in sc.all_inputs]
    codes, params, tables = distributions.pack(flat)
    n_p, n_j = len(scenarios), len(names)
    codes = np.ascontiguousarray(codes.reshape(n_p, n_j), dtype=np.int64)
    params = np.ascontiguousarray(params.reshape(n_p, n_j, -1), dtype=np.float64)
    is_random = np.array([any(not sc.all_inputs[j].dist.is_fixed for sc in scenarios)
                          for j in range(n_j)], dtype=np.bool_)
    streams = np.array([stream_id(n) for n in names], dtype=np.uint64)
    return Plan(names=names, codes=codes, params=params, tables=np.ascontiguousarray(tables),
                streams=streams, is_random=is_random,
                depreciation=DEPRECIATION_CODES[first.depreciation],
                rev0=len(first.inputs))
