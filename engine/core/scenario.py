"""The validated scenario a run reads: :class:`Scenario` and its :class:`Input` items.

Frozen dataclasses only, so that code which runs a scenario needs neither the TOML loader
(:mod:`engine.io.config` builds these) nor its rules.

Dependency rule: the stdlib and ``distributions`` only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from distributions import Distribution

#: Quantile levels reported unless the config asks for others.
DEFAULT_QUANTILES: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


@dataclass(frozen=True)
class Input:
    """One named model input and its distribution (fixed inputs are degenerate)."""

    name: str
    dist: Distribution


@dataclass(frozen=True)
class CorrelationGroup:
    """Every pair of ``members`` has Spearman rank correlation ``rho``.

    ``members`` are input names (``revenue.Microsoft``), already expanded from the config's
    words (``"revenue"``: every company) and without fixed inputs; ``key`` is the config key
    path it came from (``correlation.groups[0]``), for messages.
    """

    members: tuple[str, ...]
    rho: float
    key: str = ""


@dataclass(frozen=True)
class CorrelationPair:
    """Every pair ``(x, y)`` with ``x`` in ``a`` and ``y`` in ``b`` has Spearman ``rho``.

    ``a`` and ``b`` are input names, expanded as for :class:`CorrelationGroup` (``["margin",
    "revenue"]`` gives margin with every company). A pair overrides a group's value for the
    same two inputs.
    """

    a: tuple[str, ...]
    b: tuple[str, ...]
    rho: float
    key: str = ""


@dataclass(frozen=True)
class Correlation:
    """The ``[correlation]`` section: Spearman rank correlations between inputs.

    The Spearman matrix is built in this order, later entries overriding earlier ones: the
    identity, the full form (``names``/``matrix``), the groups in file order, then the pairs.
    Anything not named is independent. ``repair`` (``--repair-correlation``) replaces a matrix
    that is not positive semi-definite by the nearest one that is (Higham), with a note in the
    result; without it such a matrix is a config error.
    """

    groups: tuple[CorrelationGroup, ...] = ()
    pairs: tuple[CorrelationPair, ...] = ()
    names: tuple[str, ...] = ()
    matrix: tuple[tuple[float, ...], ...] = ()
    repair: bool = False

    @property
    def is_empty(self) -> bool:
        """Whether no pair of inputs is correlated (nothing to do)."""
        return not (self.groups or self.pairs or self.names)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: everything a run needs, immutable.

    Attributes
    ----------
    name, description : str
        Human-readable labels from ``[scenario]``.
    trials, seed : int
        Defaults for a run; ``simulate`` arguments override them.
    depreciation : {"straight-line", "generational"}
        Straight-line/annuity over ``useful_life`` or economic decay at
        ``ln(perf_per_dollar_gain) / generation_years``.
    inputs : tuple of Input
        Economic inputs in canonical order (see :data:`INPUT_RULES`).
    revenue : tuple of Input
        One input per company, named ``revenue.<company>``, in file order.
    quantiles : tuple of float
        Quantile levels to report.
    sweep : Mapping
        The raw ``[sweep]`` table (validated by the sweep code), empty if absent.
    source, text : str
        Where the config came from and its exact text (for provenance).
    model : {"one-year", "vintage"}
        Which model the scenario runs.
    vintage : engine.io.vintage_config.VintageSpec or None
        The years and the per-year series of the vintage model (None for one-year); the series
        refer to inputs by name, so replacing an input's distribution (a sweep) is honoured.
    correlation : Correlation or None
        Rank correlations between inputs (``[correlation]``); None: every input independent.
    """

    name: str
    description: str
    trials: int
    seed: int
    depreciation: str
    inputs: tuple[Input, ...]
    revenue: tuple[Input, ...]
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    sweep: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source: str = "<string>"
    text: str = ""
    model: str = "one-year"
    vintage: Any = None
    correlation: Correlation | None = None

    @property
    def sha256(self) -> str:
        """sha256 of the config text (provenance)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def all_inputs(self) -> tuple[Input, ...]:
        """Economic inputs then revenues: the order of the kernel's input vector."""
        return self.inputs + self.revenue

    def input(self, name: str) -> Input:
        """Return the input called `name` (e.g. ``margin`` or ``revenue.Microsoft``)."""
        for item in self.all_inputs:
            if item.name == name:
                return item
        raise KeyError(name)
