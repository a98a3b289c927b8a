"""Tests of engine.core.copula: the Spearman matrix, the Pearson map, Higham's nearest
correlation matrix and the semi-definite Cholesky factor."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core import copula
from engine.core.scenario import Correlation, CorrelationGroup, CorrelationPair


def _random_correlation(rng: np.random.Generator, n: int, k: int | None = None) -> np.ndarray:
    """A random correlation matrix D^-1/2 B B^T D^-1/2 (positive definite when k >= n)."""
    b = rng.normal(size=(n, n + 2 if k is None else k))
    c = b @ b.T
    s = 1.0 / np.sqrt(np.diag(c))
    c = c * s[:, None] * s[None, :]
    np.fill_diagonal(c, 1.0)
    return (c + c.T) / 2.0


def _assert_correlation(x: np.ndarray) -> None:
    assert np.array_equal(x, x.T)
    assert np.array_equal(np.diag(x), np.ones(len(x)))
    assert copula.min_eigenvalue(x) >= -1e-12


# ---------------------------------------------------------------------------------------------
# Higham's nearest correlation matrix

def test_higham_published_example():
    # N. J. Higham, "Computing the nearest correlation matrix - a problem from finance",
    # IMA J. Numer. Anal. 22 (2002), section 4: the nearest correlation matrix to A.
    a = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    x = copula.nearest_correlation(a)
    published = np.array([[1.0, 0.7607, 0.1573], [0.7607, 1.0, 0.7607], [0.1573, 0.7607, 1.0]])
    np.testing.assert_allclose(x, published, atol=5e-5)
    _assert_correlation(x)
    # An independent check to more digits: by symmetry X = [[1, u, v], [u, 1, u], [v, u, 1]];
    # on the boundary of the PSD cone 1 + v = 2 u^2, and minimising 4 (u - 1)^2 + 2 v^2 there
    # gives 4 u^3 - u - 1 = 0.
    u = max(z.real for z in np.roots([4.0, 0.0, -1.0, -1.0]) if abs(z.imag) < 1e-12)
    np.testing.assert_allclose(x[0, 1], u, atol=1e-10)
    np.testing.assert_allclose(x[1, 2], u, atol=1e-10)
    np.testing.assert_allclose(x[0, 2], 2.0 * u * u - 1.0, atol=1e-10)


def test_nearest_of_a_correlation_matrix_is_itself():
    rng = np.random.default_rng(11)
    for n in (1, 2, 5, 12):
        r = _random_correlation(rng, n)
        np.testing.assert_allclose(copula.nearest_correlation(r), r, rtol=0, atol=1e-10)
    singular = np.ones((4, 4))
    np.testing.assert_allclose(copula.nearest_correlation(singular), singular, atol=1e-10)


def _invalid(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random symmetric matrix with unit diagonal that is not positive semi-definite."""
    while True:
        a = rng.uniform(-1.0, 1.0, size=(n, n))
        a = (a + a.T) / 2.0
        np.fill_diagonal(a, 1.0)
        if copula.min_eigenvalue(a) < -1e-3:
            return a


@pytest.mark.parametrize("n", [3, 6, 15])
def test_nearest_is_a_fixed_point_and_a_correlation_matrix(n):
    rng = np.random.default_rng(100 + n)
    a = _invalid(rng, n)
    x = copula.nearest_correlation(a)
    _assert_correlation(x)
    np.testing.assert_allclose(copula.nearest_correlation(x), x, rtol=0, atol=1e-10)


@pytest.mark.parametrize("n", [3, 6, 15])
def test_nearest_is_closest_among_random_correlation_matrices(n):
    rng = np.random.default_rng(200 + n)
    a = _invalid(rng, n)
    x = copula.nearest_correlation(a)
    best = np.linalg.norm(a - x)
    for _ in range(50):
        c = _random_correlation(rng, n, k=int(rng.integers(1, n + 3)))
        assert np.linalg.norm(a - c) >= best
        # Points of the (convex) feasible set next to x: the global minimum is also local.
        for t in (1e-1, 1e-3):
            assert np.linalg.norm(a - ((1.0 - t) * x + t * c)) >= best - 1e-12


def _kkt_residual(a: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """How far x is from the optimality conditions of min ||A - X||_F over correlation
    matrices: X - A = diag(t) + V M V^T off the diagonal, V the null space of X, M PSD.

    Returns the off-diagonal residual of the best fit and the smallest eigenvalue of M."""
    w, v = np.linalg.eigh(x)
    null = v[:, w < 1e-8]
    k = null.shape[1]
    iu = np.triu_indices(len(x), 1)
    basis, cols = [], []
    for p in range(k):
        for q in range(p, k):
            e = np.outer(null[:, p], null[:, q])
            basis.append((p, q))
            cols.append((e + e.T)[iu] / (1.0 if p != q else 2.0))
    target = (x - a)[iu]
    coef = np.linalg.lstsq(np.array(cols).T, target, rcond=None)[0] if cols else []
    m = np.zeros((k, k))
    for (p, q), c in zip(basis, coef):
        m[p, q] = m[q, p] = c
    fit = np.array(cols).T @ coef if cols else np.zeros_like(target)
    return float(np.abs(target - fit).max()), copula.min_eigenvalue(m) if k else 0.0


@pytest.mark.parametrize("n", [3, 5, 8])
def test_nearest_satisfies_the_optimality_conditions(n):
    rng = np.random.default_rng(300 + n)
    for a in (_invalid(rng, n), np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])):
        resid, m_min = _kkt_residual(a, copula.nearest_correlation(a))
        assert resid < 1e-9 and m_min > -1e-9


def test_nearest_rejects_and_stops():
    with pytest.raises(ValueError):
        copula.nearest_correlation(np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(RuntimeError):
        copula.nearest_correlation(_invalid(np.random.default_rng(5), 8), max_iter=2)
    assert copula.nearest_correlation(np.zeros((0, 0))).shape == (0, 0)


def test_min_eigenvalue_and_is_psd():
    r = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert copula.min_eigenvalue(r) == pytest.approx(0.5, abs=1e-15)
    assert copula.min_eigenvalue(np.zeros((0, 0))) == 1.0
    assert copula.is_psd(r) and copula.is_psd(np.ones((3, 3)))
    a = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    assert copula.min_eigenvalue(a) == pytest.approx(1.0 - np.sqrt(2.0), abs=1e-14)
    assert not copula.is_psd(a)
    assert copula.is_psd(np.diag([1.0, -1e-11])) and not copula.is_psd(np.diag([1.0, -1e-9]))


def test_conflicting_pairs_names_the_inconsistent_entry_first():
    # x1 = -x2 exactly, yet both correlate positively with x0: entry (1, 2) is the culprit.
    r = np.array([[1.0, 0.3, 0.3], [0.3, 1.0, -1.0], [0.3, -1.0, 1.0]])
    x = copula.nearest_correlation(r)
    pairs = copula.conflicting_pairs(r, x)
    assert pairs[0][:2] == (1, 2)
    assert sorted((i, j) for i, j, _ in pairs) == [(0, 1), (0, 2), (1, 2)]
    changes = [c for _, _, c in pairs]
    assert changes == sorted(changes, reverse=True) and changes[0] > 1.5 * changes[1]
    for i, j, c in pairs:
        assert c == abs(r[i, j] - x[i, j])
    assert len(copula.conflicting_pairs(r, x, k=1)) == 1
    assert copula.conflicting_pairs(np.eye(1), np.eye(1)) == []


# ---------------------------------------------------------------------------------------------
# The Cholesky factor of a semi-definite matrix

def _check_factor(r: np.ndarray) -> np.ndarray:
    low = copula.cholesky_psd(r)
    assert np.array_equal(low, np.tril(low))
    np.testing.assert_allclose(low @ low.T, r, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(low, axis=1), 1.0, rtol=0, atol=1e-15)
    assert np.array_equal(copula.cholesky_psd(r), low)  # deterministic
    return low


def test_cholesky_of_random_positive_definite_matrices():
    rng = np.random.default_rng(7)
    for n in (1, 2, 4, 10, 25):
        r = _random_correlation(rng, n)
        low = _check_factor(r)
        np.testing.assert_allclose(low, np.linalg.cholesky(r), rtol=0, atol=1e-12)


def test_cholesky_of_the_comonotone_matrix():
    low = _check_factor(np.ones((4, 4)))
    assert np.array_equal(low[:, 0], np.ones(4))
    assert np.array_equal(low[:, 1:], np.zeros((4, 3)))


def test_cholesky_of_a_comonotone_block_with_independents():
    # Inputs 0, 2, 3 move together (rank correlation 1); 1 and 4 are independent of all.
    r = np.eye(5)
    for i in (0, 2, 3):
        for j in (0, 2, 3):
            r[i, j] = 1.0
    low = _check_factor(r)
    for i in (2, 3):
        assert np.array_equal(low[i], low[0])
    assert low[1, 1] == 1.0 and low[4, 4] == 1.0
    assert low[2, 2] == 0.0 and low[3, 3] == 0.0


def test_cholesky_of_an_antimonotone_pair_and_a_low_rank_matrix():
    _check_factor(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    rng = np.random.default_rng(3)
    _check_factor(_random_correlation(rng, 6, k=2))


@pytest.mark.parametrize("r", [
    np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]]),  # zero pivot, then 1 left
    np.array([[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]]),  # negative pivot
    np.ones((2, 3)),
])
def test_cholesky_rejects_what_is_not_a_correlation_matrix(r):
    with pytest.raises(ValueError, match="positive semi-definite|square"):
        copula.cholesky_psd(r)


# ---------------------------------------------------------------------------------------------
# Spearman <-> Pearson

def test_pearson_spearman_round_trip():
    rho = np.linspace(-1.0, 1.0, 201)
    r = copula.pearson_from_spearman(rho)
    np.testing.assert_allclose(copula.spearman_from_pearson(r), rho, rtol=0, atol=1e-14)
    np.testing.assert_allclose(r, 2.0 * np.sin(np.pi * rho / 6.0), rtol=0, atol=2e-16)
    assert np.all(np.abs(r) >= np.abs(rho) - 1e-16) and np.all(np.diff(r) > 0)  # r >= rho on [0, 1]
    # 2 sin(pi / 6) = 1: a rank correlation of +-1 is a Pearson one, exactly.
    assert r[0] == -1.0 and r[-1] == 1.0 and r[100] == 0.0


def test_pearson_spearman_unit_diagonal():
    rho = np.array([[0.7, 0.5], [0.5, 0.3]])
    r = copula.pearson_from_spearman(rho)
    assert np.array_equal(np.diag(r), [1.0, 1.0]) and r[0, 1] == 2.0 * np.sin(np.pi * 0.5 / 6)
    assert np.array_equal(np.diag(copula.spearman_from_pearson(rho)), [1.0, 1.0])


# ---------------------------------------------------------------------------------------------
# The Spearman matrix of a [correlation] section

NAMES = ("a", "b", "c", "d")


def _at(rho: np.ndarray, x: str, y: str) -> float:
    i, j = NAMES.index(x), NAMES.index(y)
    assert rho[i, j] == rho[j, i]
    return float(rho[i, j])


def test_spearman_matrix_empty_is_identity():
    assert np.array_equal(copula.spearman_matrix(Correlation(), NAMES), np.eye(4))
    assert copula.spearman_matrix(Correlation(), ()).shape == (0, 0)


def test_spearman_matrix_order_of_overrides():
    corr = Correlation(
        names=("a", "b", "c", "zz"),
        matrix=((1.0, 0.1, 0.2, 0.9), (0.1, 1.0, 0.3, 0.9), (0.2, 0.3, 1.0, 0.9),
                (0.9, 0.9, 0.9, 1.0)),
        groups=(CorrelationGroup(("a", "b", "d"), 0.4), CorrelationGroup(("b", "d"), 0.5)),
        pairs=(CorrelationPair(("a",), ("d", "b", "a"), -0.6),),
    )
    rho = copula.spearman_matrix(corr, NAMES)
    assert rho.shape == (4, 4) and np.array_equal(rho, rho.T)
    assert np.array_equal(np.diag(rho), np.ones(4))
    assert _at(rho, "b", "c") == 0.3 and _at(rho, "a", "c") == 0.2   # full form
    assert _at(rho, "b", "d") == 0.5                                 # later group wins
    assert _at(rho, "a", "b") == -0.6 and _at(rho, "a", "d") == -0.6  # pair over groups
    assert _at(rho, "c", "d") == 0.0                                 # never named


def test_spearman_matrix_groups_override_the_full_form_and_missing_names():
    corr = Correlation(
        names=("a", "b"), matrix=((1.0, 0.8), (0.8, 1.0)),
        groups=(CorrelationGroup(("b", "a", "pinned"), 0.25),),
        pairs=(CorrelationPair(("pinned", "c"), ("d", "pinned"), 0.7),),
    )
    rho = copula.spearman_matrix(corr, NAMES)
    assert _at(rho, "a", "b") == 0.25
    assert _at(rho, "c", "d") == 0.7
    expected = np.eye(4)
    expected[0, 1] = expected[1, 0] = 0.25
    expected[2, 3] = expected[3, 2] = 0.7
    assert np.array_equal(rho, expected)
    # The order of ``names`` is the order of the matrix.
    rho2 = copula.spearman_matrix(corr, ("d", "c", "b", "a"))
    assert rho2[0, 1] == 0.7 and rho2[2, 3] == 0.25 and rho2[0, 3] == 0.0
