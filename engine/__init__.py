"""capexgap: the probability that AI revenue covers the capital spent on AI data centers.

Layers (each may import only those above it):

- ``distributions`` (separate package): families, quantile functions in numba, scipy twins.
- ``engine.rng``: counter-based Philox4x32-10 uniforms (vectorised over trials).
- ``engine.config``: TOML -> validated, frozen :class:`Scenario`.
- ``engine.kernel`` / ``engine.plan`` / ``engine.simulate``: the fused numba kernel and its driver.
- ``engine.vintage`` / ``engine.vintage_kernel`` / ``engine.vintage_report``: the multi-year
  (vintage) model's config keys, plan and NumPy reference; its kernel; its results.
- ``engine.result``: xarray Dataset, NetCDF, JSON.
- ``engine.sweeps``: sweeps over a grid of points and the tornado, on common random numbers.
- ``engine.precision`` / ``engine.importance_kernel``: quotes to a precision target; rare
  events by importance sampling in normal-score space.
- ``engine.cli``: the ``capexgap`` command.

Nothing is compiled at import; kernels compile on first use.
"""

# First, before the slow imports below: in the capexgap command, Ctrl-C or SIGTERM during them
# ends the process with the command's one-line message, not a traceback (standard library only).
from engine.base.interrupts import early_exit_for_command as _early_exit

_early_exit()

from engine.config import Scenario, load_config, loads
from engine.base.errors import CapexgapError, ConfigError, OutputError
from engine.core.dataset import strip_run_attrs, version
from engine.io.results import open_result, summary, write_netcdf
from engine.analyses.precision import quote
from engine.analyses.simulate import simulate, trace
from engine.analyses.sweeps import pin, sweep, sweep_point
from engine.analyses.tornado import tornado

__version__ = version()

__all__ = [
    "CapexgapError", "ConfigError", "OutputError", "Scenario", "__version__", "load_config",
    "loads", "open_result", "pin", "quote", "simulate", "strip_run_attrs", "summary", "sweep",
    "sweep_point", "tornado", "trace", "write_netcdf",
]
