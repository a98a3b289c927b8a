"""Golden results: a digest of the numbers of every bundled config's result and of two sweeps.

The digests in ``tests/data/golden.json`` pin the engine's output bit for bit, so that a change
meant to move code (a new runner, a model interface) can show it changed no number. A change
that is meant to change numbers regenerates them and says which and why::

    python tests/golden.py            # rewrite tests/data/golden.json from this checkout

A digest covers every variable and coordinate of the Dataset: its name, dims, dtype, shape and
the bytes of its values. Attributes (notes, the config's text, versions, timings) are left out:
rewording a note or a comment in a config changes no number.

Bit-identity holds for one toolchain: another numba/LLVM (or numpy, scipy) may round a trial's
value differently in the last bit. So the file also records the toolchain it was made with and,
per case, the values of every variable of at most :data:`KEPT` elements (P(cover), hits, each
output's moments and quantiles). Under another toolchain the test compares those instead: counts
equal, floats to :data:`CROSS_RTOL`; an importance-sampled case is then not compared, since its
design point comes from scipy.optimize, whose path moves with scipy's version.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
GOLDEN = Path(__file__).resolve().parent / "data" / "golden.json"
#: Variables of at most this many elements have their values stored too.
KEPT = 256
#: Relative tolerance of the values under another toolchain (the differences seen between numba
#: 0.62 and 0.68 are a few ulps, about 1e-15).
CROSS_RTOL = 1e-9

#: (name, config file, kind, trials, seed): small enough for the test suite, large enough that
#: every output and importance sampling's switch are exercised.
CASES: tuple[tuple[str, str, str, int, int], ...] = (
    ("quote/ai-capex-2024", "ai-capex-2024.toml", "quote", 200_000, 11),
    ("quote/nvidia-fy2026", "nvidia-fy2026.toml", "quote", 200_000, 12),
    ("quote/sequoia-200b-2023", "sequoia-200b-2023.toml", "quote", 50_000, 13),
    ("quote/sequoia-600b-2024", "sequoia-600b-2024.toml", "quote", 50_000, 14),
    ("quote/sequoia-600b-uncertain", "sequoia-600b-uncertain.toml", "quote", 200_000, 15),
    ("quote/sweep-energy-spend", "sweep-energy-spend.toml", "quote", 100_000, 16),
    ("quote/sweep-margin-life", "sweep-margin-life.toml", "quote", 100_000, 17),
    ("quote/sweep-vintage-life", "sweep-vintage-life.toml", "quote", 20_000, 18),
    ("quote/vintage-2024-2032", "vintage-2024-2032.toml", "quote", 50_000, 19),
    ("quote/wsj-17x-2023", "wsj-17x-2023.toml", "quote", 100_000, 20),
    ("sweep/sweep-margin-life", "sweep-margin-life.toml", "sweep", 50_000, 21),
    ("sweep/sweep-vintage-life", "sweep-vintage-life.toml", "sweep", 8_192, 22),
)


def digest(ds: xr.Dataset) -> str:
    """sha256 of the numbers of `ds` (every variable and coordinate; no attribute)."""
    h = hashlib.sha256()
    for name in sorted(map(str, ds.variables)):
        var = ds.variables[name]
        values = np.ascontiguousarray(var.values)
        h.update(f"{name}|{','.join(map(str, var.dims))}|{values.dtype.str}|{values.shape}|"
                 .encode())
        if values.dtype.kind in "OUS":
            h.update(json.dumps(values.tolist()).encode())
        else:
            h.update(values.tobytes())
    return h.hexdigest()


def toolchain() -> dict[str, str]:
    """The versions whose change may move a last bit."""
    import llvmlite
    import numba
    import scipy

    return {"python": f"{sys.version_info[0]}.{sys.version_info[1]}", "numba": numba.__version__,
            "llvmlite": llvmlite.__version__, "numpy": np.__version__, "scipy": scipy.__version__}


def kept_values(ds: xr.Dataset) -> dict[str, list]:
    """The values of every numeric variable of at most :data:`KEPT` elements (NaN as None)."""
    out = {}
    for name in sorted(map(str, ds.variables)):
        values = np.asarray(ds.variables[name].values)
        if values.dtype.kind in "iuf" and values.size <= KEPT:
            flat = values.ravel()
            out[name] = [None if v != v else v for v in flat.tolist()]
    return out


def run_case(config: str, kind: str, trials: int, seed: int) -> xr.Dataset:
    """The Dataset of one case, as the CLI's quote or sweep computes it."""
    import engine

    scenario = engine.load_config(CONFIGS / config)
    if kind == "quote":
        return engine.quote(scenario, trials=trials, seed=seed)
    return engine.sweep(scenario, trials=trials, seed=seed)


def compute() -> dict:
    """The golden file's content: the toolchain, and every case's digest and kept values."""
    cases = {}
    for name, cfg, kind, n, s in CASES:
        ds = run_case(cfg, kind, n, s)
        cases[name] = {"digest": digest(ds), "values": kept_values(ds),
                       "importance": ds.attrs.get("method") == "importance"}
    return {"toolchain": toolchain(), "cases": cases}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    GOLDEN.write_text(json.dumps(compute(), sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
