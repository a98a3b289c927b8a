"""Scenario -> flat arrays the kernel takes (the "plan").

A plan holds one or more *points* (sweep points; a quote has one). Every point has the same
inputs, in the same order, so the uniforms of a trial are drawn once and shared by all points
(common random numbers). Each input's random stream is derived from its *name*, so pinning one
input, adding a company or reordering the file leaves every other input's draws unchanged.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

import distributions

from .config import Scenario
from .kernel import DEPRECIATION_CODES, OUTPUTS
from .rng import stream_id


@dataclass(frozen=True)
class Layout:
    """What a model's kernel writes, for the driver and the Dataset builder.

    Every output and every cover indicator is one value per trial, or (``dim`` set) one per
    element of ``coord`` (e.g. per year): the kernel's flat index is ``name_index * len(coord)
    + element``. The first cover indicator is the headline (``p_cover``); the others become
    ``<name>_trials`` count variables.
    """

    outputs: tuple[str, ...]
    covers: tuple[str, ...] = ("covers",)
    dim: str | None = None
    coord: tuple[Any, ...] = ()
    coord_attrs: Mapping[str, str] = field(default_factory=dict)
    #: units/long_name per output; None: :data:`engine.result.OUTPUT_ATTRS` (one-year)
    output_attrs: Mapping[str, Mapping[str, str]] | None = None
    #: units/long_name per cover indicator (the first one's are p_cover's)
    cover_attrs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: extra Dataset attributes (the model's own provenance)
    attrs: Mapping[str, Any] = field(default_factory=dict)
    #: whether the kernel writes hits[block, point, indicator] (False: hits[block, point], one
    #: indicator -- the one-year kernel)
    hits_axis: bool = True
    #: model-specific variables derived from the built Dataset / a trace Dataset
    finish: Callable[[Any], Any] | None = None
    finish_trace: Callable[[Any], Any] | None = None

    @property
    def n_along(self) -> int:
        """Values per output and per indicator (1 when there is no ``dim``)."""
        return len(self.coord) if self.dim else 1

    @property
    def n_outputs(self) -> int:
        """Flat number of outputs the kernel writes."""
        return len(self.outputs) * self.n_along

    @property
    def n_covers(self) -> int:
        """Flat number of cover indicators the kernel writes."""
        return len(self.covers) * self.n_along


#: The one-year model (engine.kernel): six scalar outputs, one cover indicator.
ONE_YEAR_LAYOUT = Layout(outputs=OUTPUTS, hits_axis=False)

# model -> (module, run function, trace function); imported on first use.
_KERNELS = {
    "one-year": ("engine.kernel", "run_blocks", "trace_trials"),
    "vintage": ("engine.vintage_kernel", "run_vintage_blocks", "trace_vintage_trials"),
}


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
    model: str = "one-year"
    layout: Layout = ONE_YEAR_LAYOUT
    #: the model's own kernel arguments after is_random; None: (depreciation, rev0)
    model_args: tuple | None = None

    @property
    def n_points(self) -> int:
        return self.codes.shape[0]

    def kernel_args(self) -> tuple:
        """Leading arguments of the model's run and trace functions (:attr:`kernel`,
        :attr:`tracer`), e.g. :func:`engine.kernel.run_blocks` and ``trace_trials``."""
        extra = (self.depreciation, self.rev0) if self.model_args is None else self.model_args
        return (self.codes, self.params, self.tables, self.streams, self.is_random) + extra

    @property
    def kernel(self) -> Callable:
        """The model's block kernel: ``kernel(*kernel_args(), seed, purpose, n_trials,
        first_block, n_blocks, chunk_blocks, blk, hits, nonfinite, hist)``."""
        module, run, _ = _KERNELS[self.model]
        return getattr(importlib.import_module(module), run)

    def sketch_sources(self) -> np.ndarray:
        """int64[P, O]: the point whose sketch rows hold output o of point p.

        The one-year kernel does not fold an output that an earlier point of the plan already
        has (:func:`engine.kernel.output_sources`); every other kernel folds all of them.
        """
        n_out = self.layout.n_outputs
        if self.model == "one-year" and self.model_args is None and self.n_points > 1:
            from .kernel import plan_sources
            return plan_sources(self.codes, self.params, self.rev0)[2]
        return np.repeat(np.arange(self.n_points, dtype=np.int64)[:, None], n_out, axis=1)

    @property
    def tracer(self) -> Callable:
        """The model's trace function: ``tracer(*kernel_args(), seed, purpose, first, n)``
        returns (inputs[n, J], outputs[n, flat outputs], covers[n] or [n, flat indicators])."""
        module, _, trace = _KERNELS[self.model]
        return getattr(importlib.import_module(module), trace)


def make_plan(points: Scenario | Sequence[Scenario]) -> Plan:
    """Pack one scenario, or several that differ only in their inputs' distributions.

    Parameters
    ----------
    points : Scenario or sequence of Scenario
        All points must share the model, input names (in order) and the depreciation form.

    Returns
    -------
    Plan
    """
    scenarios = [points] if isinstance(points, Scenario) else list(points)
    if any(sc.model != scenarios[0].model for sc in scenarios):
        raise ValueError("all points of a plan must use the same model")
    if scenarios[0].model == "vintage":
        from .vintage import vintage_plan
        return vintage_plan(scenarios)
    return Plan(**pack_points(scenarios))


def pack_points(scenarios: Sequence[Scenario]) -> dict[str, Any]:
    """The model-independent fields of a :class:`Plan` for these points (same (P, J) layout)."""
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
    return dict(names=names, codes=codes, params=params, tables=np.ascontiguousarray(tables),
                streams=streams, is_random=is_random,
                depreciation=DEPRECIATION_CODES[first.depreciation], rev0=len(first.inputs))
