"""The sketch counted a block at a time (bin_rows, then sketch_rows) gives exactly what
reduce_rows gives sub-block by sub-block: the same moments records, non-finite counts and
sketch counts, bit for bit, on rows with every kind of value."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from engine.core.reduce import BLOCK, SK_NBINS, bin_rows, padded_rows, reduce_rows, sketch_rows

SUB = 256


@njit
def _records(n_rows):
    """Zeroed moments records, finite and non-finite counts per row, and the fold's scratch."""
    return (np.zeros((n_rows, 5)), np.zeros(n_rows, dtype=np.int64),
            np.zeros(n_rows, dtype=np.int64), np.zeros((5, 8)))


@njit
def _at_once(v, n_rows, ms, live, sketch, hist):
    a, cnt, bad, st = _records(n_rows)
    bins = np.empty((v.shape[1], SUB), dtype=np.int64)
    for s in range(v.shape[0]):
        reduce_rows(v[s], n_rows, ms[s], live, a, cnt, bad, hist, sketch, bins, st)
    return a, cnt, bad


@njit
def _deferred(v, n_rows, ms, live, sketch, hist):
    a, cnt, bad, st = _records(n_rows)
    bins = np.empty((v.shape[1], BLOCK), dtype=np.int32)
    off = 0
    for s in range(v.shape[0]):
        bin_rows(v[s], n_rows, ms[s], live, a, cnt, bad, bins, off, st)
        off += ms[s]
    if sketch:
        sketch_rows(bins, n_rows, off, live, hist)
    return a, cnt, bad


def _rows(rs, n_rows: int, n_sub: int) -> np.ndarray:
    """Sub-blocks of rows, each row of one kind: spread money, huge and tiny magnitudes, the
    sketch's edges, non-finite values among finite ones, or arbitrary bit patterns."""
    v = np.empty((n_sub, padded_rows(n_rows), SUB))
    shape = (n_sub, SUB)
    edges = [0.0, -0.0, 1e-300, -1e-300, 2.0**-20, -(2.0**-20), 2.0**44, -(2.0**44),
             np.nextafter(2.0**44, 0.0), 1e300, -1e300, 5e-324, 1.5, -7.0]
    for o in range(v.shape[1]):
        kind = o % 5
        if kind == 0:
            x = rs.lognormal(rs.uniform(-5, 5), rs.uniform(0.01, 2), shape) * rs.choice([-1, 1])
        elif kind == 1:
            x = rs.normal(0, 1, shape) * 10 ** rs.uniform(-8, 16)
        elif kind == 2:
            x = rs.choice(edges, shape)
        elif kind == 3:
            x = rs.choice([np.inf, -np.inf, np.nan, 1.0, -3.0, 2.5], shape,
                          p=[0.01, 0.01, 0.01, 0.3, 0.3, 0.37])
        else:
            x = rs.integers(-2**63, 2**63 - 1, shape, dtype=np.int64).view(np.float64)
        v[:, o, :] = x
    return v


@pytest.mark.parametrize("n_rows,last_m,sketch", [(1, SUB, True), (13, 77, True),
                                                   (29, 5, True), (16, SUB, False)])
def test_block_at_a_time_sketch_equals_reduce_rows(n_rows, last_m, sketch):
    rs = np.random.default_rng(11 + n_rows)
    n_sub = BLOCK // SUB if last_m == SUB else 3
    v = _rows(rs, n_rows, n_sub)
    ms = np.full(n_sub, SUB, dtype=np.int64)
    ms[-1] = last_m
    live = rs.random(n_rows) < 0.8
    live[:4] = True  # rows 3 and 4 (if there) hold non-finite values
    h1 = np.zeros((n_rows, SK_NBINS), dtype=np.int64)
    h2 = np.zeros((n_rows, SK_NBINS), dtype=np.int64)
    a1, c1, b1 = _at_once(v, n_rows, ms, live, sketch, h1)
    a2, c2, b2 = _deferred(v, n_rows, ms, live, sketch, h2)
    assert np.array_equal(a1[live].view(np.int64), a2[live].view(np.int64))
    assert np.array_equal(c1, c2) and np.array_equal(b1, b2)
    assert np.array_equal(h1, h2)
    assert c1[live].sum() > 0 and (n_rows < 4 or b1[live].sum() > 0)
    assert h1.sum() == (c1[live].sum() if sketch else 0)
