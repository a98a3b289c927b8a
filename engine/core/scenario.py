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


@dataclass(frozen=True, repr=False)
class Scenario:
    """A validated scenario: everything a run needs, immutable.

    Its ``repr`` is a short summary (:func:`summary_text`); the fields hold everything.

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

    def __repr__(self) -> str:
        return summary_text(self)


#: Widest line of :func:`summary_text`.
SUMMARY_WIDTH = 100


def summary_text(scenario: Scenario, width: int = SUMMARY_WIDTH) -> str:
    """A few lines saying what `scenario` is (its ``repr``): the name, the model, how many
    inputs and which are random, the companies, the correlation, the ``[sweep]`` keys, trials
    and seed, the source.

    No line is wider than `width` (long names and lists are cut, with ``...``)."""
    random = [item.name for item in scenario.all_inputs if not item.dist.is_fixed]
    n = len(scenario.all_inputs)
    vintage = scenario.vintage
    model = f"{scenario.model}, {scenario.depreciation} depreciation"
    if vintage is not None and hasattr(vintage, "first_year"):
        model += f", years {vintage.first_year}-{vintage.last_year}"
    companies = len(getattr(vintage, "revenue", scenario.revenue))
    fields = [
        ("model", model),
        ("inputs", f"{n} ({len(random)} random, {n - len(random)} fixed)"),
        *([("random", _names(random, width - 15))] if random else []),
        ("companies", str(companies)),
        ("correlation", _correlation_text(scenario.correlation)),
        *([("sweep", _names([str(k) for k in scenario.sweep], width - 15))]
          if scenario.sweep else []),
        ("trials", f"{scenario.trials:,}, seed {scenario.seed}"),
        ("source", _clip(scenario.source, width - 15)),
    ]
    head = f"Scenario {_clip(scenario.name, width - 11)!r}"
    return "\n".join([head, *(f"  {key + ':':<13}{value}" for key, value in fields)])


def _clip(text: str, limit: int) -> str:
    """`text` on one line (runs of white space as one space), cut to `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _names(names: list[str], limit: int) -> str:
    """As many of `names` as fit in `limit` characters, then how many are left out."""
    names = [_clip(name, limit) for name in names]
    if not names:
        return ""
    for shown in range(len(names), 0, -1):
        rest = len(names) - shown
        text = ", ".join(names[:shown]) + (f", ... (+{rest} more)" if rest else "")
        if len(text) <= limit:
            return text
    return _clip(f"{names[0]}, ... (+{len(names) - 1} more)" if len(names) > 1 else names[0],
                 limit)


def _correlation_text(corr: Correlation | None) -> str:
    if corr is None or corr.is_empty:
        return "no (independent inputs)"
    parts = []
    if corr.names:
        parts.append(f"a {len(corr.names)}x{len(corr.names)} matrix")
    for items, word in ((corr.groups, "group"), (corr.pairs, "pair")):
        if items:
            parts.append(f"{len(items)} {word}{'s' if len(items) > 1 else ''}")
    repaired = ", repaired to the nearest valid matrix" if corr.repair else ""
    return f"yes ({', '.join(parts)}{repaired})"
