"""Probability distributions for capexgap inputs: config parsing, validation, and numba sampling.

Every family samples by its quantile function from a uniform ``u`` (``sample_u``) or from a
normal score ``z`` with ``u = Phi(z)`` (``sample_z``, for importance sampling and copulas), so the
same code path serves plain Monte Carlo, Latin hypercube, QMC and antithetic variates.

Typical use::

    d = parse("inputs.gpu_spend", {"dist": "lognormal", "ci90": [100, 200]})
    codes, params, tables = pack([d, ...])          # arrays for the numba kernel
    x = sample_u(codes[j], params[j], u, tables)    # inside @njit code, per trial

Families: fixed, uniform, normal, lognormal, triangular, pert, beta, truncnormal.  Beta and PERT
use a per-shape table (normal-score knots, cubic Hermite) with relative error at most
:data:`TABLE_REL_ERROR`; the other families are closed form or AS241 ``ndtri``
(~1e-16 relative).

Dependency rule: this package imports numpy, scipy, numba and the stdlib only; it never imports
``engine``.  Nothing is compiled at import: the numba functions compile on first call.
"""

from ._blocks import sample_block, sample_block_z
from ._kernels import NPAR, ndtr, ndtri, sample_u, sample_z
from ._spec import FAMILIES, Distribution, DistributionError, pack, parse
from ._tables import SHAPE_MAX, SHAPE_MIN, TABLE_KNOTS, TABLE_REL_ERROR, TABLE_Z

__all__ = [
    "FAMILIES",
    "NPAR",
    "Distribution",
    "DistributionError",
    "parse",
    "pack",
    "sample_u",
    "sample_block",
    "sample_z",
    "sample_block_z",
    "ndtr",
    "ndtri",
    "TABLE_REL_ERROR",
    "TABLE_KNOTS",
    "TABLE_Z",
    "SHAPE_MIN",
    "SHAPE_MAX",
]
