"""Samplers: how a sub-block of trials gets its input values (and, if weighted, its weights).

A sampler is the only thing that differs between plain Monte Carlo and importance sampling;
both run through the same runner (:mod:`engine.core.runner`) and every model. It is a pair of
jitted functions with fixed signatures, passed to the runner as arguments:

``draw(fns, codes, params, tables, words, is_random, src, shift, cidx, chol, seed, s0, m, xs, z0,
zk, logw, u, wscr, zb, zt, idx)``
    Fill ``xs[p, j, 0:m]`` with the values of input j for trials ``s0 .. s0 + m - 1`` at every
    point p that holds its own column (``src[p, j] == p``), for every random input j; the
    inputs ``cidx`` go through the Gaussian copula with the factors ``chol[p]``. ``fns`` is
    :data:`FNS`, the block functions as pointers.

``weigh(outs, cover, m, p, logw, z0, shift, is_random, red, n_rows)``
    The rows the runner folds for point p: the model's outputs themselves (plain Monte Carlo),
    or the estimator's sums (importance sampling: ``w * covers``, ``w`` and optionally
    ``w * covers * z_j``).

Plain Monte Carlo: the uniform of (seed, input, trial) is the counter-based generator's
(:mod:`engine.core.rng`), turned into a value by the input's quantile function, a sub-block at
a time (``distributions._blocks.sample_block_p``, bit for bit the scalar ``sample_u``).

Importance sampling: every random input's normal score is shifted, ``z_j = ndtri(u) + mu_j``,
the value is ``F_j^-1(Phi(z_j))`` (``sample_z``, accurate in both tails) and the trial's
weight is the likelihood ratio ``w = exp(sum_j (mu_j^2 / 2 - mu_j z_j))``, so that
``E_shifted[w f(x)] = E_nominal[f(x)]`` for any f.

Correlated inputs (a Gaussian copula, :mod:`engine.core.copula`): the independent scores
``z_j = ndtri(u_j)`` of the inputs ``cidx`` (shifted, under importance sampling) are mixed,
``z' = L z`` with ``L = chol[p]``, and each value is ``F_j^-1(Phi(z'_j))``. Inputs outside
``cidx`` are drawn exactly as without correlation.

Dependency rule: numpy, numba, ``distributions`` and :mod:`engine.core` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit, typeof, types
from numba.extending import register_jitable

from distributions import ndtri, sample_z
from distributions._jitcache import CACHE, stable_identity
from distributions._blocks import NDTRI, SAMPLE_P, SAMPLE_ZP
from distributions._pointers import ByAddress
from distributions._kernels import addr, offset

from .rng import fill_uniforms


#: Rows of mixed scores made at once (:func:`copula_columns`); a sampler's scratch ``zk`` has
#: K + MIX_ROWS rows for K correlated inputs.
MIX_ROWS = 4


@register_jitable
def draw_scratch(n_points, n_in, n_c, sub):
    """A sampler's working arrays for a sub-block of ``sub`` trials, in the order ``draw``
    takes them after ``m``: (xs, z0, zk, logw, u, wscr, zb, zt, idx) for ``n_points`` points,
    ``n_in`` inputs and ``n_c`` correlated ones (one place that knows the list; plain Python
    when called from Python, compiled into a kernel that calls it)."""
    return (np.empty((n_points, n_in, sub)), np.zeros((n_in, sub)),
            np.zeros((n_c + MIX_ROWS, sub)), np.zeros((n_points, sub)), np.empty(sub),
            np.empty((4, sub // 2), dtype=np.uint32), np.empty(sub), np.empty(sub),
            np.empty(sub, dtype=np.int64))


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def set_fixed_columns(fns, codes, params, tables, is_random, src, xs, u, zb, zt, idx):
    """xs[p, j, :] = the value of every input j fixed at every point (once per chunk), at the
    points that hold their own column (``src[p, j] == p``). The value is the block path's at
    ``u = 0.5`` (``sample_block_p``, bit for bit ``sample_u``): the scalar quantile functions
    are then never compiled into a runner (``u``, ``zb``, ``zt``, ``idx`` are scratch)."""
    n_in = codes.shape[1]
    n_par = params.shape[2]
    nk = tables.shape[1] - 2
    u[0] = 0.5
    one = np.int64(1)  # not the literal 1: that would compile the block path a second time
    for j in range(n_in):
        if not is_random[j]:
            for p in range(codes.shape[0]):
                if src[p, j] == p:
                    fns.sample_p(codes[p, j], offset(addr(params), (p * n_in + j) * n_par),
                                 addr(u), one, addr(tables), nk, addr(zt), addr(zb), addr(idx),
                                 addr(zt[1:]))
                    v = zt[0]
                    for i in range(xs.shape[2]):
                        xs[p, j, i] = v


@njit(error_model="numpy", nogil=True, cache=CACHE)
def copula_columns(fzp, codes, params, tables, src, shift, cidx, chol, z0, zk, m, xs, zc, zt,
                   idx):
    """The correlated inputs' columns of every point (the Gaussian copula).

    For each point p: the independent scores of the K correlated inputs, ``zk[k] =
    z0[cidx[k]] + shift[p, cidx[k]]`` (no shift for plain Monte Carlo), then ``z'_k = sum_{l
    <= k} chol[p, k, l] zk[l]`` (summed in l order: the scalar path in the runner's trace does
    the same) and ``xs[p, cidx[k]] = F^-1(Phi(z'_k))`` (``sample_block_zp``, bit for bit
    ``sample_z``, called as ``fzp``: ``SAMPLE_ZP``) at the points that hold their own column.

    The rows are mixed four at a time into ``zk[K:K + 4]`` (:func:`_mix_rect4`,
    :func:`_mix_tri4`): each score loaded once serves four rows, about half the loads and
    stores of a row at a time; the rows left over (K mod 4) one at a time into ``zc``.
    ``zk`` has K + :data:`MIX_ROWS` rows.
    """
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    n_par = params.shape[2]
    n_c = cidx.shape[0]
    sub = xs.shape[2]
    par_p = addr(params)
    tab_p = addr(tables)
    nk = tables.shape[1] - 2
    o4 = zk[n_c:n_c + MIX_ROWS]
    for p in range(n_points):
        shifted = False
        for k in range(n_c):
            shifted |= shift[p, cidx[k]] != 0.0
        if shifted:  # plain Monte Carlo reads the scores in place
            for k in range(n_c):
                zj = z0[cidx[k]]
                mu = shift[p, cidx[k]]
                zkk = zk[k]
                for i in range(m):
                    zkk[i] = zj[i] + mu
        zin = zk if shifted else z0
        c = chol[p]
        k0 = 0
        while k0 + 4 <= n_c:
            own = False
            for q in range(4):
                own |= src[p, cidx[k0 + q]] == p
            if own:
                for lv in range(0, k0, 4):
                    _mix_rect4(c, k0, lv, zin, cidx, shifted, m, o4)
                _mix_tri4(c, k0, zin, cidx, shifted, m, o4)
                for q in range(4):
                    j = cidx[k0 + q]
                    if src[p, j] == p:
                        fzp(codes[p, j], offset(par_p, (p * n_in + j) * n_par), addr(o4[q]),
                            m, tab_p, nk, offset(addr(xs), (p * n_in + j) * sub), addr(idx),
                            addr(zt))
            k0 += 4
        for k in range(k0, n_c):
            j = cidx[k]
            if src[p, j] != p:
                continue
            _mix_row(c[k], k, zin, cidx, shifted, m, zc)
            fzp(codes[p, j], offset(par_p, (p * n_in + j) * n_par), addr(zc), m, tab_p, nk,
                offset(addr(xs), (p * n_in + j) * sub), addr(idx), addr(zt))


class BlockFns(NamedTuple):
    """The block functions the samplers call, as pointers (``distributions._pointers.ByAddress``):
    linked in, each would be optimised and turned into machine code again inside every kernel
    that calls it, at every cold start. (A named tuple: numba types a plain tuple of functions
    through its experimental unification of function types, and warns.)"""

    sample_p: ByAddress    # distributions._blocks.sample_block_p
    sample_zp: ByAddress   # distributions._blocks.sample_block_zp
    ndtri: ByAddress       # distributions._ndtri.ndtri_block
    copula: ByAddress      # copula_columns, which takes sample_zp


def example_arrays() -> tuple:
    """Tiny arrays of the types every run hands the kernels (``runner._exact``: C-contiguous,
    aligned, writeable): ``(codes, params, tables, words, is_random, shift, cidx, chol, seed)``
    and ``src``. Their numba types make the kernels' signatures (:data:`FNS`,
    ``runner.kernel_refs``, the first run's helper ``engine.core.prewarm``)."""
    return ((np.zeros((1, 1), np.int64), np.zeros((1, 1, 1)), np.zeros((1, 1, 1)),
             np.zeros((1, 1), np.uint64), np.zeros(1, np.bool_), np.zeros((1, 1)),
             np.zeros(0, np.int64), np.zeros((1, 0, 0)), np.uint64(0)),
            np.zeros((1, 1), np.int64))


def _copula_sig():
    # copula_columns(fzp, codes, params, tables, src, shift, cidx, chol, z0, zk, m, xs, zc, zt,
    # idx) as the draws call it (zc is the draw's zb)
    (codes, params, tables, _, _, shift, cidx, chol, _), src = example_arrays()
    xs, z0, zk, _, _, _, zb, zt, idx = draw_scratch(1, 1, 0, 2)
    return types.none(SAMPLE_ZP._numba_type_,
                      *map(typeof, (codes, params, tables, src, shift, cidx, chol, z0, zk)),
                      types.int64, *map(typeof, (xs, zb, zt, idx)))


#: What every draw takes as ``fns``.
FNS = BlockFns(SAMPLE_P, SAMPLE_ZP, NDTRI, ByAddress(copula_columns, _copula_sig()))


@njit(inline="always")
def _mix_rect4(c, k0, lv, zin, cidx, shifted, m, o):
    """Rows ``k0 .. k0 + 3`` of the mix, the terms of scores ``lv .. lv + 3`` (all below the
    diagonal: ``lv + 3 < k0``): ``o[q] = (((o[q] + c[k0+q, lv] z_lv) + ...) + c[k0+q, lv+3]
    z_lv+3``, or from the first product when ``lv`` is 0 -- the scalar trace's order."""
    x0 = zin[_row(cidx, lv, shifted)]
    x1 = zin[_row(cidx, lv + 1, shifted)]
    x2 = zin[_row(cidx, lv + 2, shifted)]
    x3 = zin[_row(cidx, lv + 3, shifted)]
    a0, a1, a2, a3 = c[k0, lv], c[k0, lv + 1], c[k0, lv + 2], c[k0, lv + 3]
    b0, b1, b2, b3 = c[k0 + 1, lv], c[k0 + 1, lv + 1], c[k0 + 1, lv + 2], c[k0 + 1, lv + 3]
    d0, d1, d2, d3 = c[k0 + 2, lv], c[k0 + 2, lv + 1], c[k0 + 2, lv + 2], c[k0 + 2, lv + 3]
    e0, e1, e2, e3 = c[k0 + 3, lv], c[k0 + 3, lv + 1], c[k0 + 3, lv + 2], c[k0 + 3, lv + 3]
    o0, o1, o2, o3 = o[0], o[1], o[2], o[3]
    if lv == 0:
        for i in range(m):
            y0, y1, y2, y3 = x0[i], x1[i], x2[i], x3[i]
            o0[i] = ((a0 * y0 + a1 * y1) + a2 * y2) + a3 * y3
            o1[i] = ((b0 * y0 + b1 * y1) + b2 * y2) + b3 * y3
            o2[i] = ((d0 * y0 + d1 * y1) + d2 * y2) + d3 * y3
            o3[i] = ((e0 * y0 + e1 * y1) + e2 * y2) + e3 * y3
    else:
        for i in range(m):
            y0, y1, y2, y3 = x0[i], x1[i], x2[i], x3[i]
            o0[i] = (((o0[i] + a0 * y0) + a1 * y1) + a2 * y2) + a3 * y3
            o1[i] = (((o1[i] + b0 * y0) + b1 * y1) + b2 * y2) + b3 * y3
            o2[i] = (((o2[i] + d0 * y0) + d1 * y1) + d2 * y2) + d3 * y3
            o3[i] = (((o3[i] + e0 * y0) + e1 * y1) + e2 * y2) + e3 * y3


@njit(inline="always")
def _mix_tri4(c, k0, zin, cidx, shifted, m, o):
    """Rows ``k0 .. k0 + 3`` of the mix, their diagonal block (scores ``k0 .. k0 + q`` for
    row ``k0 + q``), added after :func:`_mix_rect4`'s terms, or from the first product when
    ``k0`` is 0."""
    x0 = zin[_row(cidx, k0, shifted)]
    x1 = zin[_row(cidx, k0 + 1, shifted)]
    x2 = zin[_row(cidx, k0 + 2, shifted)]
    x3 = zin[_row(cidx, k0 + 3, shifted)]
    a0 = c[k0, k0]
    b0, b1 = c[k0 + 1, k0], c[k0 + 1, k0 + 1]
    d0, d1, d2 = c[k0 + 2, k0], c[k0 + 2, k0 + 1], c[k0 + 2, k0 + 2]
    e0, e1, e2, e3 = c[k0 + 3, k0], c[k0 + 3, k0 + 1], c[k0 + 3, k0 + 2], c[k0 + 3, k0 + 3]
    o0, o1, o2, o3 = o[0], o[1], o[2], o[3]
    if k0 == 0:
        for i in range(m):
            y0, y1, y2, y3 = x0[i], x1[i], x2[i], x3[i]
            o0[i] = a0 * y0
            o1[i] = b0 * y0 + b1 * y1
            o2[i] = (d0 * y0 + d1 * y1) + d2 * y2
            o3[i] = ((e0 * y0 + e1 * y1) + e2 * y2) + e3 * y3
    else:
        for i in range(m):
            y0, y1, y2, y3 = x0[i], x1[i], x2[i], x3[i]
            o0[i] = o0[i] + a0 * y0
            o1[i] = (o1[i] + b0 * y0) + b1 * y1
            o2[i] = ((o2[i] + d0 * y0) + d1 * y1) + d2 * y2
            o3[i] = (((o3[i] + e0 * y0) + e1 * y1) + e2 * y2) + e3 * y3


@njit(inline="always")
def _mix_row(c, k, zin, cidx, shifted, m, zc):
    """``zc[i] = sum_{l <= k} c[l] * zin[row(l), i]``, added in l order (the scalar trace's
    order, so the same bits), one term per pass over the sub-block. Only the K mod 4 rows
    that :func:`_mix_rect4` and :func:`_mix_tri4` leave come here: two loops, which compile
    in a fraction of the time of unrolled variants."""
    a0 = zin[_row(cidx, 0, shifted)]
    c0 = c[0]
    for i in range(m):
        zc[i] = c0 * a0[i]
    for lv in range(1, k + 1):
        a = zin[_row(cidx, lv, shifted)]
        cl = c[lv]
        for i in range(m):
            zc[i] = zc[i] + cl * a[i]


@njit(inline="always")
def _row(cidx, lv, shifted):
    """The row of the l-th correlated score: in ``zk`` (shifted) or in ``z0``."""
    return lv if shifted else cidx[lv]


@njit(inline="always")
def _correlated(cidx, j):
    """Whether input j is one of the copula's."""
    for k in range(cidx.shape[0]):
        if cidx[k] == j:
            return True
    return False


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def draw_mc(fns, codes, params, tables, words, is_random, src, shift, cidx, chol, seed, s0, m,
            xs, z0, zk, logw, u, wscr, zb, zt, idx):
    """Plain Monte Carlo of independent inputs: each input's uniforms (vectorised Philox),
    then its quantile transform for the whole sub-block (one dispatch). ``shift`` (zeros),
    ``logw`` and the copula's arguments (``cidx`` empty) unused: a plan with correlated
    inputs runs :func:`draw_mc_copula`, so that a run without them never compiles the
    copula."""
    for j in range(codes.shape[1]):
        if is_random[j]:
            fill_uniforms(seed, words[j, 0], s0, m, u, wscr)
            uniform_columns(fns, codes, params, tables, src, cidx, j, u, m, xs, z0, zb, zt, idx)


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def draw_mc_copula(fns, codes, params, tables, words, is_random, src, shift, cidx, chol, seed,
                   s0, m, xs, z0, zk, logw, u, wscr, zb, zt, idx):
    """Plain Monte Carlo with correlated inputs: :func:`draw_mc`, where a correlated input's
    uniforms become normal scores ``z0[j]`` and :func:`copula_columns` makes its column."""
    for j in range(codes.shape[1]):
        if is_random[j]:
            fill_uniforms(seed, words[j, 0], s0, m, u, wscr)
            uniform_columns(fns, codes, params, tables, src, cidx, j, u, m, xs, z0, zb, zt, idx)
    fns.copula(fns.sample_zp, codes, params, tables, src, shift, cidx, chol, z0, zk, m,
               xs, zb, zt, idx)


@njit(inline="always")
def uniform_columns(fns, codes, params, tables, src, cidx, j, u, m, xs, z0, zb, zt, idx):
    """Input j's uniforms ``u[0:m]`` -> its columns: ``xs[p, j] = F^-1(u)`` at every point that
    holds its own column, or, for a correlated input, its normal scores ``z0[j] = ndtri(u)``
    (then :func:`copula_columns` makes its columns). Shared by every sampler that makes
    uniforms (Monte Carlo, randomized QMC): only the source of the uniforms differs."""
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    n_par = params.shape[2]
    sub = xs.shape[2]
    if _correlated(cidx, j):
        fns.ndtri(addr(u), m, offset(addr(z0), j * sub), addr(idx), addr(zt))
        return
    par_p = addr(params)
    tab_p = addr(tables)
    nk = tables.shape[1] - 2
    for p in range(n_points):
        if src[p, j] != p:
            continue  # the same column as an earlier point's
        # pointers taken at the call: an array used only through a pointer taken
        # earlier would be freed after its last use by name
        fns.sample_p(codes[p, j], offset(par_p, (p * n_in + j) * n_par), addr(u), m, tab_p, nk,
                     offset(addr(xs), (p * n_in + j) * sub), addr(zb), addr(idx), addr(zt))


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def draw_shifted(fns, codes, params, tables, words, is_random, src, shift, cidx, chol, seed, s0,
                 m, xs, z0, zk, logw, u, wscr, zb, zt, idx):
    """Importance sampling: normal scores ``z0[j] = ndtri(u)`` (shared by every point), shifted
    by ``shift[p, j]``; ``logw[p, i]`` = the log likelihood ratio, summed in input order. The
    shift moves the *independent* scores: correlated inputs then go through the copula
    (:func:`copula_columns`), so the weight needs no change."""
    n_points = codes.shape[0]
    n_in = codes.shape[1]
    for p in range(n_points):
        for i in range(m):
            logw[p, i] = 0.0
    for j in range(n_in):
        if is_random[j]:
            fill_uniforms(seed, words[j, 0], s0, m, u, wscr)
            zj = z0[j]
            for i in range(m):
                zj[i] = ndtri(u[i])
            corr = _correlated(cidx, j)
            for p in range(n_points):
                cd = codes[p, j]
                pr = params[p, j]
                mu = shift[p, j]
                half = 0.5 * mu * mu
                xpj = xs[p, j]
                lw = logw[p]
                for i in range(m):
                    z = zj[i] + mu
                    if not corr:
                        xpj[i] = sample_z(cd, pr, z, tables)
                    lw[i] += half - mu * z
    if cidx.shape[0]:
        fns.copula(fns.sample_zp, codes, params, tables, src, shift, cidx, chol, z0, zk, m,
                   xs, zb, zt, idx)


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def weigh_plain(outs, cover, m, p, logw, z0, shift, is_random, red, n_rows):
    """Plain Monte Carlo folds the model's outputs themselves."""
    return outs


#: Rows of an importance-sampling run.
IS_ROWS = ("weighted_cover", "weight")


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def weigh_importance(outs, cover, m, p, logw, z0, shift, is_random, red, n_rows):
    """Importance sampling folds ``w * covers`` (mean: the estimate of P(cover); the headline
    indicator, ``cover[0]``) and ``w`` (mean ~ 1: a check of the likelihood ratio)."""
    lw = logw[p]
    c0 = cover[0]
    for i in range(m):
        w = math.exp(lw[i])
        red[0, i] = w if c0[i] else 0.0
        red[1, i] = w
    return red


@dataclass(frozen=True)
class Sampler:
    """A sampler as the runner takes it.

    Attributes
    ----------
    name : str
        ``"mc"``, ``"importance"`` or ``"sobol"`` (the Dataset's ``sampler`` attribute).
    draw, weigh
        The jitted pair (module docstring).
    shift : numpy.ndarray
        float64[P, J] normal-score shifts (zeros for plain Monte Carlo).
    rows : tuple of str or None
        Names of the rows folded per point: None for the model's outputs (plain Monte Carlo).
    sketch : bool
        Whether rows get quantile sketches (not for weighted sums).
    shares : bool
        Whether points may share an input column or an output (common random numbers make
        equal distributions give equal values; shifted scores do not).
    table : numpy.ndarray or None
        uint64[J, W], per-input data of the sampler (randomized QMC: the replicate and the
        direction numbers, :mod:`engine.core.qmc`). When set, the runner passes it as the
        ``words`` argument of ``draw`` with column 0 replaced by the stream words; None: the
        stream words alone, uint64[J, 1].
    src : numpy.ndarray or None
        int64[P, J], the point whose column each point reads for each input, when the sampler
        decides it (pick-freeze: :mod:`engine.core.pickfreeze`); None: the runner's rule.
    live : numpy.ndarray or None
        bool[P, R], rows the sampler never wants folded at a point (False); None: all.
    """

    name: str
    draw: object
    weigh: object
    shift: np.ndarray
    rows: tuple[str, ...] | None = None
    sketch: bool = True
    shares: bool = True
    table: np.ndarray | None = None
    src: np.ndarray | None = None
    live: np.ndarray | None = None


def plain(n_points: int, n_inputs: int, copula: bool = False) -> Sampler:
    """Plain Monte Carlo (``copula``: some inputs are correlated, :func:`draw_mc_copula`)."""
    return Sampler("mc", draw_mc_copula if copula else draw_mc, weigh_plain,
                   np.zeros((n_points, n_inputs)))


def importance(shift: np.ndarray) -> Sampler:
    """Importance sampling with normal-score shifts ``shift[P, J]``."""
    return Sampler("importance", draw_shifted, weigh_importance,
                   np.ascontiguousarray(shift, dtype=np.float64), rows=IS_ROWS, sketch=False,
                   shares=False)


def first_equal(keys: np.ndarray) -> np.ndarray:
    """For each row of keys[P, K], the index of the first row equal to it (bitwise): how
    points share an input column, an output or a model's intermediate value."""
    if keys.shape[1] == 0:
        return np.zeros(keys.shape[0], dtype=np.int64)
    _, first, inverse = np.unique(np.ascontiguousarray(keys), axis=0, return_index=True,
                                  return_inverse=True)
    return first[inverse.reshape(-1)].astype(np.int64)


def input_sources(codes: np.ndarray, params: np.ndarray, cidx: np.ndarray | None = None,
                  chol: np.ndarray | None = None) -> np.ndarray:
    """int64[P, J]: the first point whose input j has point p's distribution (p if none).

    With common random numbers, equal distributions (code and parameters, bit for bit) give
    the same values trial by trial: the column is drawn once, at the first such point. A
    correlated input (``cidx``) is the same column only where its row of the copula's factor
    ``chol[p]`` is the same too.
    """
    n_p, n_j = codes.shape
    if n_p == 1:  # a quote: nothing to share (and each replicate of a QMC run asks again)
        return own_sources(n_p, n_j)
    bits = np.ascontiguousarray(params).view(np.int64).reshape(n_p, n_j, -1)
    n_c = 0 if cidx is None else len(cidx)
    rows = np.zeros((n_p, n_j, n_c), dtype=np.int64)
    for k in range(n_c):
        rows[:, cidx[k]] = np.ascontiguousarray(chol[:, k]).view(np.int64)
    src = np.empty((n_p, n_j), dtype=np.int64)
    for j in range(n_j):
        src[:, j] = first_equal(np.concatenate([codes[:, j, None], bits[:, j], rows[:, j]],
                                               axis=1))
    return src


def own_sources(n_points: int, n_inputs: int) -> np.ndarray:
    """int64[P, J]: every point holds its own columns."""
    return np.repeat(np.arange(n_points, dtype=np.int64)[:, None], n_inputs, axis=1)


def output_sources(src: np.ndarray, deps: list[list[int]]) -> np.ndarray:
    """int64[P, O]: the first point whose output o is, trial by trial, point p's.

    ``deps[o]`` lists the inputs output o depends on. An output whose inputs all have the
    same columns is the same numbers.
    """
    n_p, n_j = src.shape
    if deps is None:
        raise ValueError("a model without output dependencies shares no output")
    out = np.empty((n_p, len(deps)), dtype=np.int64)
    for o, js in enumerate(deps):
        out[:, o] = first_equal(src[:, js]) if js else 0
    return out
