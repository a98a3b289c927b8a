"""What a model writes, described for the runner and the Dataset builder.

Dependency rule: the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


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
    #: units/long_name per output
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
