"""Block kernels: a quantile function for a block of trials, from uniforms or normal scores.

The engine samples one input for a sub-block of trials per call. ``sample_block_p`` gives, for
every ``i < m``, *exactly* ``sample_u(code, par, u[i], tables)``, and ``sample_block_zp``
exactly ``sample_z(code, par, z[i], tables)`` (the Gaussian copula's path); tests check both bit
for bit on many values for every family. They evaluate the same functions in the same operation
order, only arranged so that LLVM vectorises the common case, with scalar fix-ups for rare
lanes; they take raw pointers (``addr``), so a call costs no refcounting and each compiles once.

From uniforms: the families that transform a normal score (lognormal, normal, beta, PERT) are
``sample_z`` of ``ndtri(u)`` in ``sample_u`` too, so ``sample_block_p`` takes
:func:`ndtri_block` of the block and hands the scores to ``sample_block_zp``; fixed, uniform,
triangular and truncnormal work on the uniforms directly.

From normal scores, ``sample_block_zp`` dispatches once per block:

* fixed, normal: one vectorised loop;
* lognormal: ``exp`` in two vectorised loops (``exp_reduce`` then ``exp_finish``), with
  libm's ``exp`` redone on the lanes outside ``exp_fast``'s range; a score here is arbitrary,
  so the range is bounded by the block's largest ``|z|`` (one vectorised integer reduction)
  and checked lane by lane only when that bound fails;
* beta, PERT: :func:`table_block` on the scores directly (it already sends tails, +-inf and nan
  to the scalar ``_table``);
* uniform, triangular, truncnormal need ``Phi(z)`` and ``Phi(-z)``: :func:`ndtr_pair_block`
  (``_ndtr``: plain arithmetic, vectorised for ``|z| < 11.3``, ``idx`` as scratch) writes them
  to ``out`` and ``zt``, then one loop applies ``_uniform`` / ``_triangular`` as selects
  (vectorised), or ``_truncnormal`` itself (scalar: its ``ndtri`` has no block form with this
  scratch).

Dependency rule: numpy, numba and the stdlib only.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

from ._fastmath import EXP_FAST_MAX, _f64_to_i64, _i64_to_f64, exp_finish, exp_reduce, fma
from ._jitcache import CACHE
from ._kernels import (
    BETA,
    FIXED,
    LOGNORMAL,
    NORMAL,
    PERT,
    TRIANGULAR,
    TRUNCNORMAL,
    UNIFORM,
    _truncnormal,
    params7,
    table_block,
)
from ._ndtr import ndtr_pair_block
from ._ndtri import ndtri_block
from ._pointers import ByAddress, addr, offset

__all__ = ["NDTRI", "SAMPLE_P", "SAMPLE_ZP", "ppf_block_many", "ppf_z_block_many", "sample_block",
           "sample_block_p", "sample_block_z", "sample_block_zp"]

_ABS_MASK = 0x7FFFFFFFFFFFFFFF  # every bit but the sign


@njit(error_model="numpy", cache=CACHE)
def sample_block_zp(code: int, par, z, m: int, tp, nk: int, out, idx, zt) -> None:
    """``out[i] = sample_z(code, par, z[i], tables)`` for i < m, bit for bit, dispatching once.

    Every array argument is a pointer (see :func:`addr`): ``par`` the packed row, ``z`` the
    normal scores (any float: +-inf and nan give what ``sample_z`` gives), ``tp`` the tables'
    data (``nk`` knots per row), ``out`` the output (must not alias ``z``), ``idx`` (int64[>= m])
    and ``zt`` (float64[>= m]) scratch.
    """
    p0, p1, p2, p3, p4, p5, p6 = params7(par)
    if code == FIXED:
        for i in range(m):
            out[i] = p0
    elif code == LOGNORMAL:
        # exp_fast in two loops: reduce, then the polynomial.  The first
        # also finds max|z| for the range check below, as the largest bits of |z| (an integer
        # reduction, which vectorises, and in this loop costs nothing measurable: a separate
        # loop cost 10%).  Non-negative doubles order as their bits, and a nan's bits are above
        # inf's, so a nan makes the bound nan and the check fail.
        zbits = 0
        for i in range(m):
            zi = z[i]
            t, r = exp_reduce(fma(p1, zi, p0))
            out[i] = t
            zt[i] = r
            zbits = max(zbits, _f64_to_i64(zi) & _ABS_MASK)
        for i in range(m):
            out[i] = exp_finish(out[i], zt[i])
        # exp_fast's range: a = mu + sigma z has |a| <= |mu| + sigma max|z| (the margin of 1
        # covers every rounding); otherwise libm's exp on the lanes out of range, as exp does.
        zmax = _i64_to_f64(zbits)
        if not (abs(p0) + abs(p1) * zmax <= EXP_FAST_MAX - 1.0):
            for i in range(m):
                a = fma(p1, z[i], p0)
                if not (abs(a) <= EXP_FAST_MAX):
                    out[i] = math.exp(a)
    elif code == NORMAL:
        for i in range(m):
            out[i] = p0 + p1 * z[i]
    elif code == PERT or code == BETA:
        table_block(p0, p1, p2, p3, p4, p5, p6, z, m, tp, nk, out, idx)
    elif code == UNIFORM:
        # (Phi(z), Phi(-z)) in out and zt, then _uniform as a select (the same operations)
        ndtr_pair_block(z, m, out, zt, idx)
        for i in range(m):
            u = out[i]
            out[i] = p0 + u * p2 if u <= 0.5 else p1 - zt[i] * p2
    elif code == TRIANGULAR:
        # _triangular as a select: one sqrt of the side's u * k
        ndtr_pair_block(z, m, out, zt, idx)
        for i in range(m):
            u = out[i]
            low = u < p3
            r = math.sqrt(u * p4 if low else zt[i] * p5)
            out[i] = p0 + r if low else p2 - r
    elif code == TRUNCNORMAL:
        ndtr_pair_block(z, m, out, zt, idx)
        for i in range(m):
            out[i] = _truncnormal(p0, p1, p2, p3, p4, p5, p6, out[i], zt[i])
    else:
        for i in range(m):
            out[i] = math.nan


@njit(inline="always")
def sample_block_z(code: int, par, z, m: int, tables, out, idx, zt) -> None:
    """:func:`sample_block_zp` with arrays (1-d, C-contiguous; ``tables`` as in ``sample_z``)."""
    sample_block_zp(code, addr(par), addr(z), m, addr(tables), tables.shape[1] - 2,
                    addr(out), addr(idx), addr(zt))


@njit(error_model="numpy", cache=CACHE)
def _ppf_z_many(fzp, code, par, z, tables, out) -> None:
    n = z.size
    zt = np.empty(256)
    idx = np.empty(256, dtype=np.int64)
    for s in range(0, n, 256):
        m = min(256, n - s)
        fzp(code, addr(par), offset(addr(z), s), m, addr(tables), tables.shape[1] - 2,
            offset(addr(out), s), addr(idx), addr(zt))


def ppf_z_block_many(code: int, par, z, tables, out) -> None:
    """``out[i] = sample_z(code, par, z[i], tables)`` over a whole array, by
    :func:`sample_block_zp` in blocks of 256 (the block path behind the tests that hold it to
    ``sample_z``; 1-d C-contiguous float64 arrays, ``tables`` as in ``sample_z``)."""
    _ppf_z_many(SAMPLE_ZP, np.int64(code), par, z, tables, out)


# --------------------------------------------------------------------------------------------
# From uniforms
# --------------------------------------------------------------------------------------------


@njit(error_model="numpy", cache=CACHE)
def sample_block_p(code: int, par, u, m: int, tp, nk: int, out, zb, idx, zt) -> None:
    """``out[i] = sample_u(code, par, u[i], tables)`` for i < m, bit for bit, dispatching once.

    Every array argument is a pointer (see :func:`addr`): ``par`` the packed row, ``u`` the
    uniforms, ``tp`` the tables' data (``nk`` knots per row), ``out`` the output (must not
    alias ``u``), ``zb``, ``zt`` (float64[>= m]) and ``idx`` (int64[>= m]) scratch.
    """
    if code == LOGNORMAL or code == NORMAL or code == PERT or code == BETA:
        # sample_u is sample_z(ndtri(u)) for these: the scores, then the block from scores
        ndtri_block(u, m, zb, idx, zt)
        sample_block_zp(code, par, zb, m, tp, nk, out, idx, zt)
        return
    p0, p1, p2, p3, p4, p5, p6 = params7(par)
    if code == FIXED:
        for i in range(m):
            out[i] = p0
    elif code == UNIFORM:
        for i in range(m):
            ui = u[i]
            out[i] = p0 + ui * p2 if ui <= 0.5 else p1 - (1.0 - ui) * p2
    elif code == TRIANGULAR:
        for i in range(m):
            ui = u[i]
            lo = p0 + math.sqrt(ui * p4)
            hi = p2 - math.sqrt((1.0 - ui) * p5)
            out[i] = lo if ui < p3 else hi
    elif code == TRUNCNORMAL:
        # _truncnormal's two branches as selects around one ndtri_block: the probability
        # handed to ndtri (out as scratch), then the side and the clamp.
        for i in range(m):
            ui = u[i]
            p = p4 + ui * p6
            out[i] = p if p <= 0.5 else p5 + (1.0 - ui) * p6
        ndtri_block(out, m, zb, idx, zt)
        for i in range(m):
            x = p0 + p1 * zb[i] if p4 + u[i] * p6 <= 0.5 else p0 - p1 * zb[i]
            out[i] = min(max(x, p2), p3)
    else:
        for i in range(m):
            out[i] = math.nan


@njit(inline="always")
def sample_block(code: int, par, u, m: int, tables, out, zb, idx, zt) -> None:
    """:func:`sample_block_p` with arrays (1-d, C-contiguous; ``tables`` as in ``sample_u``)."""
    sample_block_p(code, addr(par), addr(u), m, addr(tables), tables.shape[1] - 2,
                   addr(out), addr(zb), addr(idx), addr(zt))


@njit(error_model="numpy", cache=CACHE)
def _ppf_many(fp, code, par, u, tables, out) -> None:
    n = u.size
    zb = np.empty(256)
    zt = np.empty(256)
    idx = np.empty(256, dtype=np.int64)
    for s in range(0, n, 256):
        m = min(256, n - s)
        fp(code, addr(par), offset(addr(u), s), m, addr(tables), tables.shape[1] - 2,
           offset(addr(out), s), addr(zb), addr(idx), addr(zt))


def ppf_block_many(code: int, par, u, tables, out) -> None:
    """``out[i] = sample_u(code, par, u[i], tables)`` over a whole array, by
    :func:`sample_block_p` in blocks of 256 (the block path behind the tests that hold it to
    ``sample_u``; 1-d C-contiguous float64 arrays, ``tables`` as in ``sample_u``)."""
    _ppf_many(SAMPLE_P, np.int64(code), par, u, tables, out)


# The block functions as pointers (``ByAddress``): a kernel that takes them as arguments calls
# their compiled code instead of linking it (and generating its machine code again) in its own.
_F64P, _I64P, _I64 = types.CPointer(types.float64), types.CPointer(types.int64), types.int64
#: sample_block_p(code, par, u, m, tp, nk, out, zb, idx, zt)
SAMPLE_P = ByAddress(sample_block_p, types.none(_I64, _F64P, _F64P, _I64, _F64P, _I64, _F64P,
                                                _F64P, _I64P, _F64P))
#: sample_block_zp(code, par, z, m, tp, nk, out, idx, zt)
SAMPLE_ZP = ByAddress(sample_block_zp, types.none(_I64, _F64P, _F64P, _I64, _F64P, _I64,
                                                  _F64P, _I64P, _F64P))
#: ndtri_block(u, m, z, idx, zt) -> (number of tail lanes, their largest |z|)
NDTRI = ByAddress(ndtri_block, types.Tuple((_I64, types.float64))(_F64P, _I64, _F64P, _I64P,
                                                                   _F64P))
