"""capexgap: the probability that AI revenue covers the capital spent on AI data centers.

The Python API: load a config, quote it, sweep it, read and write results. The code sits in
layers, each importing only the ones before it (docs/architecture.md):

- ``distributions`` (separate package): families, quantile functions in numba, scipy twins.
- ``engine.base``: user-facing errors, number formats, safe text, stop requests.
- ``engine.core``: counter-based uniforms, samplers, the runner (one chunk of trials for any
  model and sampler), reductions, the wave driver, the result Dataset.
- ``engine.models``: the model interface and the bundled models (one-year, vintage).
- ``engine.analyses``: quotes, precision targets and importance sampling, sweeps, the tornado.
- ``engine.io``: configs, result files, JSON summaries.
- ``engine.present``: the text of a quote and the pictures.
- ``engine.cli``: the ``capexgap`` command and ``capexgap bench``.

The functions that run a scenario (:func:`quote`, :func:`simulate`, :func:`sweep`,
:func:`tornado`, :func:`solve`, :func:`sensitivity`, :func:`trace`, :func:`pin`) take a
Scenario, a config's path or a bundled config's name: ``engine.quote("sequoia-600b-2024",
trials=10**6)``. Results are plain xarray Datasets; :func:`describe` says one in a few lines
and :func:`summary_table` gives every figure as a pandas DataFrame (docs/python.md).

Nothing is compiled at import; kernels compile on first use.
"""

# First, before the slow imports below: in the capexgap command, Ctrl-C or SIGTERM during them
# ends the process with the command's one-line message, not a traceback (standard library only).
from engine.base.interrupts import early_exit_for_command as _early_exit

_early_exit()

import functools as _functools
import inspect as _inspect
import os as _os

from engine.core.scenario import Scenario
from engine.io.config import load_config, loads
from engine.base.errors import CapexgapError, ConfigError, OutputError
from engine.core.dataset import strip_run_attrs, version
from engine.io.exports import summary_table
from engine.io.results import open_result, summary, write_netcdf
from engine.analyses import precision as _precision, simulate as _simulate, solve as _solve
from engine.analyses import sensitivity as _sensitivity
from engine.analyses import sweeps as _sweeps, tornado as _tornado
from engine.analyses.sweeps import sweep_point
from engine.present.describe import describe

__version__ = version()


def _as_scenario(config: "Scenario | str | _os.PathLike[str]") -> Scenario:
    """`config` as a Scenario: itself, or the config file or bundled config it names."""
    if isinstance(config, Scenario):
        return config
    if isinstance(config, (str, _os.PathLike)):
        return load_config(config)
    raise TypeError(f"expected a Scenario, a config path or a bundled config name "
                    f"(such as 'sequoia-600b-2024'), not {type(config).__name__}"
                    + ("; engine.load_config() loads the bundled default" if config is None
                       else ""))


def _takes_config(fn):
    """`fn(scenario, ...)` taking, in place of the Scenario, also a config's path or a bundled
    config's name (loaded by :func:`load_config`); the rest of its signature unchanged."""
    sig = _inspect.signature(fn)
    first = next(iter(sig.parameters.values()))

    @_functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if args:
            args = (_as_scenario(args[0]), *args[1:])
        elif first.name in kwargs:
            kwargs[first.name] = _as_scenario(kwargs[first.name])
        return fn(*args, **kwargs)

    params = list(sig.parameters.values())
    params[0] = first.replace(annotation="Scenario | str | os.PathLike[str]")
    wrapper.__signature__ = sig.replace(parameters=params)
    head, _, rest = (fn.__doc__ or "").partition("\n\n")
    wrapper.__doc__ = (f"{head}\n\n    ``{first.name}``: a Scenario, a config file's path or a "
                       f"bundled config's name\n    (``\"sequoia-600b-2024\"``, loaded by "
                       f":func:`engine.load_config`).\n\n{rest}")
    return wrapper


quote = _takes_config(_precision.quote)
simulate = _takes_config(_simulate.simulate)
trace = _takes_config(_simulate.trace)
sweep = _takes_config(_sweeps.sweep)
pin = _takes_config(_sweeps.pin)
tornado = _takes_config(_tornado.tornado)
solve = _takes_config(_solve.solve)
sensitivity = _takes_config(_sensitivity.sensitivity)

__all__ = [
    "CapexgapError", "ConfigError", "OutputError", "Scenario", "__version__", "describe",
    "load_config", "loads", "open_result", "pin", "quote", "sensitivity", "simulate", "solve",
    "strip_run_attrs", "summary", "summary_table", "sweep", "sweep_point", "tornado", "trace",
    "write_netcdf",
]
