"""The pick-freeze sampler: Sobol' indices through the one runner.

A run has ``k + 2`` *points*, copies of one scenario's point: point 0 evaluates the model at
the rows of matrix A, point 1 at those of B, point ``2 + i`` at ``A_B^i`` (A with factor i's
columns taken from B). Trial t of the run is base sample t: one row of A and one of B.

- **A and B** are two counter-based streams of the same seed: the uniform of input j in row
  t of A is the generator's for (seed, input j, trial t, purpose :data:`PURPOSE_A`), of B the
  same with purpose :data:`PURPOSE_B` (:mod:`engine.core.rng`). Every row of either matrix
  can be recomputed alone (``engine.core.runner.trace_trials`` with that purpose).
- **A_B^i** needs no draw: the runner hands a model input j of point p as ``xs[src[p, j],
  j]``, and ``src[2 + i, j]`` is 1 (B's column) for the inputs of factor i, 0 (A's) for the
  others (:func:`sources`). The draw fills points 0 and 1 only.
- **The rows folded** (:func:`weigh_pick_freeze`): per quantity q (a model output, or a cover
  indicator as 0/1), ``f`` at every point (the means of f_A, f_B and f_ABi, and the variance
  of f_A and f_B), and at point ``2 + i`` the numerators' terms ``f_B (f_ABi - f_A)``
  (Saltelli et al. 2010, first order) and ``(f_A - f_ABi)**2 / 2`` (Jansen 1999, total).
  f_A and f_B of the current sub-block are kept in two more rows of the runner's scratch
  ``red``, which persists from point to point; they are never folded (``live``).

The runner folds every row in trial order per block and merges blocks in block order, so
the result is bit-identical for any thread count or chunk size.

Dependency rule: numpy, numba, ``distributions`` and :mod:`engine.core` only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from distributions._jitcache import CACHE, stable_identity
from distributions._kernels import addr, offset

from .rng import _PURPOSE_MUL, fill_uniforms
from .sampling import Sampler

#: Counter words (``purpose``) of the two matrices: A is the plain run's own trials.
PURPOSE_A = 0
PURPOSE_B = 3
#: Rows folded (or kept) per quantity: f, the S1 term, the ST term, then f_A and f_B kept.
ROWS_PER_QUANTITY = 5
R_VALUE, R_S1, R_ST, R_KEEP_A, R_KEEP_B = range(ROWS_PER_QUANTITY)


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def draw_pick_freeze(fns, codes, params, tables, words, is_random, src, shift, cidx, chol, seed,
                     s0, m, xs, z0, zk, logw, u, wscr, zb, zt, idx):
    """Rows ``s0 .. s0 + m - 1`` of A (point 0, stream words ``words[:, 0]``) and of B (point
    1, ``words[:, 1]``): each random input's uniforms (vectorised Philox), then its quantile
    transform for the sub-block (``sample_block_p``, bit for bit ``sample_u``). The other
    points read these columns through ``src``; independent inputs only (``cidx`` empty)."""
    n_in = codes.shape[1]
    n_par = params.shape[2]
    sub = xs.shape[2]
    nk = tables.shape[1] - 2
    for j in range(n_in):
        if is_random[j]:
            for q in range(2):
                fill_uniforms(seed, words[j, q], s0, m, u, wscr)
                # pointers taken at the call (see distributions._pointers.addr)
                fns.sample_p(codes[q, j], offset(addr(params), (q * n_in + j) * n_par),
                             addr(u), m, addr(tables), nk,
                             offset(addr(xs), (q * n_in + j) * sub), addr(zb), addr(idx),
                             addr(zt))


@stable_identity
@njit(error_model="numpy", nogil=True, cache=CACHE)
def weigh_pick_freeze(outs, cover, m, p, logw, z0, shift, is_random, red, n_rows):
    """The rows of point p (module docstring). ``shift[0, q]`` says where quantity q comes
    from: output row ``c >= 0`` of ``outs``, or indicator ``-c - 1`` of ``cover`` (as 0/1).
    Rows: ``[R_VALUE * Q + q]`` f; ``[R_S1 * Q + q]`` f_B (f - f_A); ``[R_ST * Q + q]``
    (f_A - f)**2 / 2; ``[R_KEEP_A * Q + q]``, ``[R_KEEP_B * Q + q]`` f_A and f_B kept."""
    qmap = shift[0]
    nq = n_rows // ROWS_PER_QUANTITY
    for q in range(nq):
        c = np.int64(qmap[q])
        f = red[R_VALUE * nq + q]
        if c >= 0:
            o = outs[c]
            for i in range(m):
                f[i] = o[i]
        else:
            cv = cover[-c - 1]
            for i in range(m):
                f[i] = 1.0 if cv[i] else 0.0
        if p < 2:
            keep = red[(R_KEEP_A + p) * nq + q]
            for i in range(m):
                keep[i] = f[i]
        else:
            fa = red[R_KEEP_A * nq + q]
            fb = red[R_KEEP_B * nq + q]
            s1 = red[R_S1 * nq + q]
            st = red[R_ST * nq + q]
            for i in range(m):
                d = f[i] - fa[i]
                s1[i] = fb[i] * d
                st[i] = 0.5 * (d * d)
    return red


def purpose_mix(purpose: int) -> np.uint64:
    """What a purpose XORs into every stream word (:func:`engine.core.rng.stream_word`)."""
    return np.uint64((int(purpose) * int(_PURPOSE_MUL)) & 0xFFFFFFFFFFFFFFFF)


def b_streams(streams: np.ndarray, members: Sequence[int]) -> np.ndarray:
    """Stream words that make the generator's purpose-A draws of inputs ``members`` B's:
    a plan with them, traced with purpose A, gives the rows of ``A_B^i``."""
    out = np.array(streams, dtype=np.uint64)
    out[list(members)] ^= purpose_mix(PURPOSE_A) ^ purpose_mix(PURPOSE_B)
    return out


def sources(n_inputs: int, factors: Sequence[Sequence[int]]) -> np.ndarray:
    """int64[k + 2, J]: the column each point reads (0: A's, 1: B's); point ``2 + i`` reads
    B's for the inputs of factor i (``factors[i]``, input indices)."""
    src = np.zeros((len(factors) + 2, n_inputs), dtype=np.int64)
    src[1] = 1
    for i, members in enumerate(factors):
        src[2 + i, list(members)] = 1
    return src


def row_names(quantities: Sequence[str]) -> tuple[str, ...]:
    """Names of the rows folded per point, in the order :func:`weigh_pick_freeze` writes."""
    kinds = ("value", "s1_term", "st_term", "kept_a", "kept_b")
    return tuple(f"{kind}.{q}" for kind in kinds for q in quantities)


def live_rows(n_points: int, n_quantities: int) -> np.ndarray:
    """bool[P, 5Q]: f is folded at every point, the S1 and ST terms at points 2.., the kept
    f_A and f_B never."""
    nq = n_quantities
    live = np.zeros((n_points, ROWS_PER_QUANTITY * nq), dtype=bool)
    live[:, R_VALUE * nq:(R_VALUE + 1) * nq] = True
    live[2:, R_S1 * nq:(R_ST + 1) * nq] = True
    return live


def pick_freeze(streams: np.ndarray, n_inputs: int, factors: Sequence[Sequence[int]],
                quantity_map: Sequence[int], quantities: Sequence[str]) -> Sampler:
    """The sampler of a plan of ``len(factors) + 2`` points.

    Parameters
    ----------
    streams : uint64[J]
        The plan's stream words (``Plan.streams``); B's words are made from them
        (:data:`PURPOSE_B`), A's are the runner's for the run's purpose (:data:`PURPOSE_A`).
    n_inputs : int
    factors : sequence of sequences of int
        The inputs of each factor (a group is one factor).
    quantity_map : sequence of int
        Per quantity: the flat output row (>= 0), or ``-h - 1`` for cover indicator h.
    quantities : sequence of str
        Their names (the rows' names).
    """
    table = np.zeros((n_inputs, 2), dtype=np.uint64)
    table[:, 1] = np.asarray(streams, dtype=np.uint64) ^ purpose_mix(PURPOSE_B)
    n_p = len(factors) + 2
    qmap = np.asarray(quantity_map, dtype=np.float64)[None, :]  # exact: small integers
    return Sampler("pick-freeze", draw_pick_freeze, weigh_pick_freeze, qmap,
                   rows=row_names(quantities), sketch=False, shares=False, table=table,
                   src=sources(n_inputs, factors), live=live_rows(n_p, len(quantities)))
