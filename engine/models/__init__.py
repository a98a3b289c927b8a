"""Models: what a trial computes from its inputs.

A model is one object (a :class:`Model`) in its own module under ``engine/models/``. It says
what it needs and gives:

- ``layout(scenario)``: its outputs and cover indicators (names, a dimension such as ``year``,
  units), and its extra Dataset variables (:class:`engine.core.layout.Layout`);
- ``pack(scenarios, names)``: its own arguments for the block function (a tuple of numbers and
  arrays), from the scenario(s) and the input names in kernel order;
- ``block``: a jitted function ``block(xs, sp, p, m, margs, work, outs, cover)`` that writes
  the output columns ``outs[o, 0:m]`` and indicator columns ``cover[h, 0:m]`` of point ``p``
  from its input columns (input j is ``xs[sp[j], j, 0:m]``); ``work`` is its scratch
  (:attr:`Model.work_rows` rows of the sub-block per point, or one point's when
  :attr:`Model.work_per_point` is False);
- ``reference(scenario, x)``: the same equations in plain NumPy on whole arrays (the oracle of
  the tests);
- optionally ``cover_margin(outs, margs)``: how far a trial is from covering (importance
  sampling looks for the likeliest covering inputs with it), ``output_inputs(names, margs)``: which inputs each flat output depends on, so a
  sweep computes an output once for all the points where it is the same numbers, and
  ``share(margs, src)``: the model's own intermediates shared between points.

Nothing outside a model's module tests which model it is: the runner, precision targets,
sweeps, the tornado, results and pictures ask the model.

Dependency rule: :mod:`engine.core` and ``distributions`` only.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

#: Bundled models: name -> module (imported on first use, so a quote never compiles or even
#: imports the vintage model).
_MODULES = {"one-year": "engine.models.one_year", "vintage": "engine.models.vintage"}
_REGISTERED: dict[str, "Model"] = {}


@dataclass(frozen=True)
class Model:
    """A model the runner can run (module docstring)."""

    name: str
    block: Any
    layout: Callable[[Any], Any]
    pack: Callable[[Sequence[Any], tuple[str, ...]], tuple]
    reference: Callable[[Any, Mapping[str, np.ndarray]], dict[str, np.ndarray]]
    #: rows of scratch per point (a function of the packed arguments)
    work_rows: Callable[[tuple], int] = lambda margs: 0
    #: whether each point keeps its own scratch rows (to reuse an earlier point's
    #: intermediates); False: one point's rows, reused point after point
    work_per_point: bool = False
    #: inputs of every flat output (None: no output is shared between points)
    output_inputs: Callable[[tuple[str, ...], tuple], list[list[int]]] | None = None
    #: the block's arguments for a run whose points share input columns as ``src`` says
    share: Callable[[tuple, np.ndarray, np.ndarray], tuple] = lambda margs, src, is_random: margs
    #: ``cover_margin(outs[n, O], margs) -> float64[n]``: a smooth signed distance of each
    #: trial from covering (>= 0 where the headline indicator holds), e.g. log(revenue /
    #: required); importance sampling searches for its design point with it. None: the model
    #: offers no importance sampling.
    cover_margin: Callable[[np.ndarray, tuple], np.ndarray] | None = None
    #: ``cover_direction(names) -> float64[J]``: +1 where a larger input helps cover, -1 where
    #: it hurts (a model monotone in each input); None: importance sampling takes the
    #: direction from the margin's gradient at the median inputs
    cover_direction: Callable[[tuple[str, ...]], np.ndarray] | None = None
    #: the model's own report of a quote: ``text(ds, source) -> str`` and
    #: ``summary(ds) -> dict`` (None: the one-headline text and JSON object)
    text: Callable[[Any, str], str] | None = None
    summary: Callable[[Any], dict] | None = None
    #: whether the runner may keep its compiled kernels for this model on disk (the bundled
    #: models; a model added at run time is compiled in memory only)
    cached: bool = False
    #: a short description for help and reports
    description: str = ""
    extras: Mapping[str, Any] = field(default_factory=dict)


def get(name: str) -> Model:
    """The model called ``name`` (a bundled one, or one added with :func:`register`)."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in _MODULES:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(names())}")
    # All bundled models at once (cheap: nothing compiles at import): the cached kernels'
    # index on disk names every model's block, and reads them back as these live functions.
    for bundled, module in _MODULES.items():
        _REGISTERED.setdefault(bundled, importlib.import_module(module).MODEL)
    return _REGISTERED[name]


def of_dataset(ds: Any) -> "Model | None":
    """The model a result Dataset was made by (its ``model`` attribute), if known here."""
    try:
        return get(str(ds.attrs.get("model", "one-year")))
    except KeyError:  # a model registered in another process
        return None


def names() -> list[str]:
    """Every model name: the bundled ones, then those registered."""
    return list(_MODULES) + [n for n in _REGISTERED if n not in _MODULES]


def register(model: Model) -> None:
    """Make ``model`` available by its name (tests add small models this way)."""
    _REGISTERED[model.name] = model


def unregister(name: str) -> None:
    """Forget a model added with :func:`register` (bundled ones are imported again on use)."""
    _REGISTERED.pop(name, None)


def make_plan(points: Any) -> Any:
    """Pack one scenario, or several (sweep points) that differ only in their inputs'
    distributions, for their model: an :class:`engine.core.plan.Plan`."""
    from ..core.plan import pack_points

    scenarios = [points] if hasattr(points, "all_inputs") else list(points)
    if any(sc.model != scenarios[0].model for sc in scenarios):
        raise ValueError("all points of a plan must use the same model")
    return pack_points(scenarios, get(scenarios[0].model))
