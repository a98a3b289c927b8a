"""Mixture importance sampling: the sampler pair (``draw``, ``weigh``) of a proposal that is a
mixture of shifted normal-score distributions, one of them the nominal one.

The proposal is ``q(z) = sum_c alpha_c phi(z - mu_c)`` over C components, component 0 the
nominal distribution (``mu_0 = 0``: the *defensive* component, which bounds every weight by
``1 / alpha_0``). Each trial picks its component from its own uniform on a dedicated stream
(:data:`CHOICE_STREAM`, mixed with the run's purpose like any input's stream), then draws its
scores from that component, ``z_j = ndtri(u_j) + mu_cj``. The weight is the likelihood ratio
against the whole mixture (the *balance heuristic*), computed in log space::

    log w = -log sum_c alpha_c exp(mu_c.z - |mu_c|^2 / 2)

so that a trial's weight does not depend on which component drew it, and no component's
density can overflow. Every trial is a pure function of (seed, purpose, trial index), as for
plain Monte Carlo: chunks stay pure functions of (scenario, seed, chunk index).

The sampler's arrays (the runner passes them through unchanged):

- ``shift`` float64[1 + C, J + 2]: row 0 is zeros (the copula reads the scores as drawn, the
  shift being already in them); row 1 + c holds mu_c in columns 0..J-1, the cumulative
  ``alpha_0 + ... + alpha_c`` in column J and ``log alpha_c - |mu_c|^2 / 2`` in column J + 1.
- ``table`` uint64[J, 3] (``words`` in the kernel): column 0 the stream words of the run's
  purpose (set by the runner), column 1 the inputs' own streams, so that ``words[0, 0] ^
  words[0, 1]`` is the purpose's mix; ``table[0, 2]`` is :data:`CHOICE_STREAM`.

Rows folded (``weigh_mixture``): ``w * covers``, ``w`` and, for a refinement pilot, per
component c the responsibility-weighted sums ``w covers r_c`` and ``w covers r_c z_j``
(``r_c = alpha_c phi(z - mu_c) / q(z)``), from which the cross-entropy update of the mixture
follows (:mod:`engine.analyses.mixture`).

Dependency rule: numpy, numba, ``distributions`` and :mod:`engine.core` only.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from distributions._jitcache import CACHE, stable_identity
from distributions._kernels import addr, offset

from .rng import fill_uniforms, stream_id
from .sampling import IS_ROWS, Sampler, _correlated, weigh_importance

#: The stream of the per-trial component choice (no input has this name).
CHOICE_STREAM = stream_id("importance sampling: mixture component")


@njit(inline="always")
def _pick(cum, n_c, u):
    """The first component c with u < cum[c] (the last one if rounding leaves none)."""
    for c in range(n_c - 1):
        if u < cum[c]:
            return c
    return n_c - 1


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def draw_mixture(fns, codes, params, tables, words, is_random, src, shift, cidx, chol, seed, s0, m,
                 xs, z0, zk, logw, u, wscr, zb, zt, idx):
    """Mixture importance sampling (module docstring) at point 0 (the only point):
    ``z0[j]`` = each random input's score with its trial's component's shift, its column in
    ``xs[0, j]`` (correlated inputs through :func:`copula_columns`), ``logw[0]`` the log
    likelihood ratio against the mixture."""
    n_in = codes.shape[1]
    n_par = params.shape[2]
    sub = xs.shape[2]
    nk = tables.shape[1] - 2
    n_c = shift.shape[0] - 1
    cum = shift[1:, n_in]
    choice = words[0, 0] ^ words[0, 1] ^ words[0, 2]
    comp = np.empty(m, dtype=np.int64)  # idx is the block functions' scratch
    # j = -1: the components' stream, then each random input's (one call of the generator in
    # the code: it is inlined, so a second call would compile it twice)
    for j in range(-1, n_in):
        if j >= 0 and not is_random[j]:
            continue
        fill_uniforms(seed, choice if j < 0 else words[j, 0], s0, m, u, wscr)
        if j < 0:
            for i in range(m):
                comp[i] = _pick(cum, n_c, u[i])
            continue
        # the block path: bit for bit ndtri and sample_z, trial by trial (distributions._blocks)
        fns.ndtri(addr(u), m, offset(addr(z0), j * sub), addr(idx), addr(zt))
        zj = z0[j]
        for i in range(m):
            zj[i] = zj[i] + shift[1 + comp[i], j]
        if not _correlated(cidx, j):
            fns.sample_zp(codes[0, j], offset(addr(params), j * n_par), addr(z0[j]), m,
                          addr(tables), nk, offset(addr(xs), j * sub), addr(idx), addr(zt))
    _log_weights(shift, is_random, z0, m, logw[0])
    if cidx.shape[0]:
        fns.copula(fns.sample_zp, codes, params, tables, src, shift, cidx, chol, z0, zk, m,
                   xs, zb, zt, idx)


@njit(inline="always")
def _component_logs(shift, is_random, z0, m, a):
    """``a[c, i] = log alpha_c + mu_c.z_i - |mu_c|^2 / 2`` (inputs summed in order)."""
    n_in = z0.shape[0]
    for c in range(a.shape[0]):
        base = shift[1 + c, n_in + 1]
        ac = a[c]
        for i in range(m):
            ac[i] = base
        for j in range(n_in):
            mu = shift[1 + c, j]
            if mu != 0.0 and is_random[j]:
                zj = z0[j]
                for i in range(m):
                    ac[i] += mu * zj[i]


@njit(inline="always")
def _log_weights(shift, is_random, z0, m, lw):
    """``lw[i] = -logsumexp_c a[c, i]``: the balance heuristic's log weight."""
    n_c = shift.shape[0] - 1
    a = np.empty((n_c, m))
    _component_logs(shift, is_random, z0, m, a)
    for i in range(m):
        top = a[0, i]
        for c in range(1, n_c):
            top = max(top, a[c, i])
        s = 0.0
        for c in range(n_c):
            s += math.exp(a[c, i] - top)
        lw[i] = -(top + math.log(s))


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def weigh_mixture(outs, cover, m, p, logw, z0, shift, is_random, red, n_rows):
    """Rows ``w * covers`` and ``w`` and, with ``n_rows = 2 + C (1 + J)``, per component c
    ``w covers r_c`` (row 2 + c) and ``w covers r_c z_j`` (row 2 + C + c J + j)."""
    weigh_importance(outs, cover, m, p, logw, z0, shift, is_random, red, n_rows)  # rows 0, 1
    lw = logw[p]
    c0 = cover[0]
    n_c = shift.shape[0] - 1
    n_in = z0.shape[0]
    if n_rows < 2 + n_c * (1 + n_in):
        return red
    a = np.empty((n_c, m))
    _component_logs(shift, is_random, z0, m, a)
    for c in range(n_c):
        rc = red[2 + c]
        for i in range(m):
            # r_c w = alpha_c phi(z - mu_c) / q(z) * w, all in log space
            rc[i] = red[0, i] * math.exp(a[c, i] + lw[i]) if c0[i] else 0.0
        for j in range(n_in):
            rj = red[2 + n_c + c * n_in + j]
            if is_random[j]:
                zj = z0[j]
                for i in range(m):
                    rj[i] = rc[i] * zj[i]
            else:
                for i in range(m):
                    rj[i] = 0.0
    return red


def mixture_arrays(means: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """The sampler's ``shift`` float64[1 + C, J + 2] for component means ``means[C, J]``
    (row 0 the defensive component, zeros) and mixture weights ``alphas[C]`` (sum 1)."""
    means = np.asarray(means, dtype=np.float64)
    alphas = np.asarray(alphas, dtype=np.float64)
    n_c, n_in = means.shape
    out = np.zeros((1 + n_c, n_in + 2))
    out[1:, :n_in] = means
    cum = np.cumsum(alphas / alphas.sum())
    cum[-1] = 1.0
    out[1:, n_in] = cum
    with np.errstate(divide="ignore"):
        out[1:, n_in + 1] = np.log(alphas / alphas.sum()) - 0.5 * np.einsum("cj,cj->c", means,
                                                                             means)
    return out


def mixture(means: np.ndarray, alphas: np.ndarray, names: tuple[str, ...],
            streams: np.ndarray, *, refine: bool = False) -> Sampler:
    """The mixture sampler of one point (module docstring); with ``refine`` the per-component
    rows of a cross-entropy pilot too."""
    n_c, n_in = np.shape(means)
    rows = IS_ROWS
    if refine:
        rows = rows + tuple(f"cover_r.{c}" for c in range(n_c)) + tuple(
            f"cover_rz.{c}.{n}" for c in range(n_c) for n in names)
    table = np.zeros((n_in, 3), dtype=np.uint64)
    table[:, 1] = np.asarray(streams, dtype=np.uint64)
    table[0, 2] = np.uint64(CHOICE_STREAM)
    return Sampler("importance", draw_mixture, weigh_mixture, mixture_arrays(means, alphas),
                   rows=rows, sketch=False, shares=False, table=table)
