"""Packing validated distributions into the arrays the numba kernels read.

Dependency rule: numpy and the stdlib only (never ``engine``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._builders import _trunc_constants
from ._grammar import FAMILIES, NPAR
from ._tables import LOG_PHI_Z, TABLE_KNOTS, TABLE_Z, beta_table, dummy_table

if TYPE_CHECKING:
    from ._spec import Distribution


def _beta_shapes(d: Distribution) -> tuple[float, float]:
    p = dict(d.params)
    if d.family == "beta":
        return p["alpha"], p["beta"]
    w = p["max"] - p["min"]
    return (1.0 + p["lambda"] * (p["mode"] - p["min"]) / w,
            1.0 + p["lambda"] * (p["max"] - p["mode"]) / w)


def pack(dists: Sequence[Distribution]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten distributions into the arrays the numba kernels read.

    Parameters
    ----------
    dists : sequence of Distribution

    Returns
    -------
    codes : numpy.ndarray
        int64[n], family codes (:data:`FAMILIES`).
    params : numpy.ndarray
        float64[n, NPAR], one packed row per distribution (layout in ``_kernels``), with
        sampling constants precomputed (truncnormal tail probabilities, beta/PERT table row).
    tables : numpy.ndarray
        float64[n_tab, TABLE_KNOTS + 2, 2], C-contiguous, one row per distinct beta/PERT shape
        pair (knots, then tail coefficients); a single zero row when there is none.  Pass the
        whole array to ``sample_u``/``sample_z``.
    """
    n = len(dists)
    codes = np.empty(n, dtype=np.int64)
    params = np.zeros((n, NPAR))
    rows: dict[tuple[float, float], int] = {}
    for j, d in enumerate(dists):
        codes[j] = FAMILIES[d.family]
        p = dict(d.params)
        r = params[j]
        f = d.family
        if f == "fixed":
            r[0] = p["value"]
        elif f == "uniform":
            r[:3] = p["min"], p["max"], p["max"] - p["min"]
        elif f == "normal":
            r[:2] = p["mean"], p["sd"]
        elif f == "lognormal":
            r[:2] = p["mu"], p["sigma"]
        elif f == "triangular":
            lo, c, hi = p["min"], p["mode"], p["max"]
            r[:6] = lo, c, hi, (c - lo) / (hi - lo), (hi - lo) * (c - lo), (hi - lo) * (hi - c)
        elif f in ("pert", "beta"):
            shapes = _beta_shapes(d)
            row = rows.setdefault(shapes, len(rows))
            lo, hi = d.support()
            r[:7] = (lo, hi, hi - lo, float(row), TABLE_Z,
                     (TABLE_KNOTS - 1) / (2.0 * TABLE_Z), LOG_PHI_Z)
        elif f == "truncnormal":
            pa, qb, mass = _trunc_constants(p["mean"], p["sd"], p["min"], p["max"])
            r[:7] = p["mean"], p["sd"], p["min"], p["max"], pa, qb, mass
        else:  # pragma: no cover - parse() admits no other family
            raise AssertionError(f)
    if rows:
        tables = np.stack([beta_table(a, b) for a, b in rows])
    else:
        tables = dummy_table()[None]
    return codes, params, tables
