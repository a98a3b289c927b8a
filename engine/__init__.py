"""capexgap: the probability that AI revenue covers the capital spent on AI data centers.

Layers (each may import only those above it):

- ``distributions`` (separate package): families, quantile functions in numba, scipy twins.
- ``engine.rng``: counter-based Philox4x32-10 uniforms (vectorised over trials).
- ``engine.config``: TOML -> validated, frozen :class:`Scenario`.
- ``engine.kernel`` / ``engine.plan`` / ``engine.simulate``: the fused numba kernel and its driver.
- ``engine.result``: xarray Dataset, NetCDF, JSON.
- ``engine.cli``: the ``capexgap`` command.

Nothing is compiled at import; kernels compile on first use.
"""

from .config import Scenario, load_config, loads
from .errors import CapexgapError, ConfigError, OutputError
from .result import open_result, strip_run_attrs, summary, version, write_netcdf
from .simulate import simulate, trace

__version__ = version()

__all__ = [
    "CapexgapError", "ConfigError", "OutputError", "Scenario", "__version__", "load_config",
    "loads", "open_result", "simulate", "strip_run_attrs", "summary", "trace", "write_netcdf",
]
