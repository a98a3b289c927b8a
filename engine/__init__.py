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

Nothing is compiled at import; kernels compile on first use.
"""

# First, before the slow imports below: in the capexgap command, Ctrl-C or SIGTERM during them
# ends the process with the command's one-line message, not a traceback (standard library only).
from engine.base.interrupts import early_exit_for_command as _early_exit

_early_exit()

from engine.core.scenario import Scenario
from engine.io.config import load_config, loads
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
