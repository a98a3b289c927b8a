"""The Gaussian copula's matrices: Spearman -> Pearson, checks, repair, the factor.

Correlated inputs are drawn as independent normal scores ``z`` (the samplers), made dependent
by ``z' = L z`` with ``L`` the lower Cholesky factor of the Pearson matrix
``r = 2 sin(pi rho_s / 6)`` of the Spearman matrix ``rho_s`` asked for (so that the sample's
Spearman rank correlation is ``rho_s``), then mapped through each input's own quantile
function: every marginal stays exactly what it is without correlation.

Dependency rule: numpy, scipy, the stdlib and :mod:`engine.core` only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .scenario import Correlation


def spearman_matrix(corr: Correlation, names: Sequence[str]) -> np.ndarray:
    """float64[J, J]: the Spearman matrix of ``corr`` over the inputs ``names``.

    Built in the order of :class:`~engine.core.scenario.Correlation`: identity, full form,
    groups, pairs (later entries override earlier ones). Names of ``corr`` not in ``names``
    (an input a sweep pinned, say) are ignored.
    """
    index = {name: i for i, name in enumerate(names)}
    rho = np.eye(len(names))

    def put(x: str, y: str, value: float) -> None:
        # Both triangles at once keeps the result exactly symmetric; x == y would touch
        # the diagonal, which stays exactly 1.
        i, j = index.get(x), index.get(y)
        if i is not None and j is not None and i != j:
            rho[i, j] = rho[j, i] = value

    for p, x in enumerate(corr.names):
        for q, y in enumerate(corr.names):
            if p < q:
                put(x, y, corr.matrix[p][q])
    for group in corr.groups:
        for p, x in enumerate(group.members):
            for y in group.members[p + 1:]:
                put(x, y, group.rho)
    for pair in corr.pairs:
        for x in pair.a:
            for y in pair.b:
                put(x, y, pair.rho)
    return rho


def _unit_diagonal(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        np.fill_diagonal(a, 1.0)
    return a


def _map(x: np.ndarray, f: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    # Both maps fix -1, 0 and 1 exactly, but in floating point 2 sin(pi / 6) is 1 - 1e-16:
    # keep +-1 exact so a rank correlation of 1 stays a zero pivot for cholesky_psd.
    return _unit_diagonal(np.where(np.abs(x) == 1.0, x, f(x)))


def pearson_from_spearman(rho: np.ndarray) -> np.ndarray:
    """``2 sin(pi rho / 6)`` elementwise, with an exact unit diagonal."""
    return _map(rho, lambda x: 2.0 * np.sin(np.pi * x / 6.0))


def spearman_from_pearson(r: np.ndarray) -> np.ndarray:
    """The inverse map, ``(6 / pi) arcsin(r / 2)``, with an exact unit diagonal."""
    return _map(r, lambda x: 6.0 / np.pi * np.arcsin(x / 2.0))


def min_eigenvalue(r: np.ndarray) -> float:
    """The smallest eigenvalue of the symmetric matrix ``r`` (``numpy.linalg.eigvalsh``)."""
    r = np.asarray(r, dtype=np.float64)
    if r.size == 0:
        return 1.0  # the empty matrix constrains nothing: treat it as the identity
    return float(np.linalg.eigvalsh(r)[0])


def is_psd(r: np.ndarray, tol: float = 1e-10) -> bool:
    """Whether ``r`` is positive semi-definite: smallest eigenvalue >= ``-tol``."""
    return min_eigenvalue(r) >= -tol


def _project_psd(a: np.ndarray) -> np.ndarray:
    """The nearest positive semi-definite matrix in the Frobenius norm: clip eigenvalues."""
    w, v = np.linalg.eigh(a)
    x = (v * np.maximum(w, 0.0)) @ v.T
    return (x + x.T) / 2.0


def nearest_correlation(r: np.ndarray, *, tol: float = 1e-12, max_iter: int = 10_000
                        ) -> np.ndarray:
    """Higham's nearest correlation matrix to ``r`` in the Frobenius norm (alternating
    projections with Dykstra's correction): symmetric, unit diagonal, positive semi-definite.

    Parameters
    ----------
    r : float64[J, J]
        A symmetric matrix (its symmetric part is used).
    tol : float
        Stop when successive iterates change by less than ``tol`` relative to their norm.
    max_iter : int
        Raise :class:`RuntimeError` past this many iterations.

    References
    ----------
    N. J. Higham, "Computing the nearest correlation matrix - a problem from finance",
    IMA J. Numer. Anal. 22 (2002) 329-343, algorithm 3.3 with W = I.
    """
    a = np.asarray(r, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or not np.all(np.isfinite(a)):
        raise ValueError(f"nearest_correlation needs a finite square matrix, got {a.shape}")
    y = _unit_diagonal((a + a.T) / 2.0)
    if a.shape[0] == 0:
        return y
    ds = np.zeros_like(y)
    x = y
    for _ in range(max_iter):
        x_old, y_old = x, y
        # Dykstra's correction ds undoes the previous PSD step's move, which is what makes
        # alternating projections converge to the nearest point and not just a feasible one.
        rk = y - ds
        x = _project_psd(rk)
        ds = x - rk
        y = _unit_diagonal(x.copy())
        if (np.linalg.norm(x - x_old) <= tol * np.linalg.norm(x)
                and np.linalg.norm(y - y_old) <= tol * np.linalg.norm(y)):
            break
    else:
        raise RuntimeError(f"nearest_correlation did not converge in {max_iter} iterations")
    y = (y + y.T) / 2.0
    if min_eigenvalue(y) < -1e-12:
        # Resetting the diagonal can leave a tiny negative eigenvalue: clip it, then scale
        # back to a unit diagonal (D^-1/2 A D^-1/2 keeps it PSD).
        y = _project_psd(y)
        s = 1.0 / np.sqrt(np.diag(y))
        y = y * s[:, None] * s[None, :]
        y = _unit_diagonal((y + y.T) / 2.0)
    return y


def conflicting_pairs(r: np.ndarray, nearest: np.ndarray, k: int = 3
                      ) -> list[tuple[int, int, float]]:
    """The ``k`` pairs ``(i, j, change)`` (``i < j``) that the repair moves most,
    ``|r_ij - nearest_ij|`` largest first: the entries that conflict most."""
    i, j = np.triu_indices(np.asarray(r).shape[0], k=1)
    change = np.abs(np.asarray(r, dtype=np.float64) - np.asarray(nearest, dtype=np.float64))
    change = change[i, j]
    order = np.argsort(-change, kind="stable")[:max(k, 0)]  # ties: first pair first
    return [(int(i[o]), int(j[o]), float(change[o])) for o in order]


_PIVOT_ZERO = 1e-12   # a pivot at most this is taken as 0 (a rank correlation of 1)
_PIVOT_NEG = -1e-8    # a pivot below this is a matrix that is not PSD, not rounding
_ZERO_COLUMN = 1e-6   # PSD bounds an entry in a zero pivot's column by sqrt(1e-12 * 1)


def cholesky_psd(r: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with ``L @ L.T == r`` (to rounding) for a positive
    semi-definite correlation matrix, singular ones included (rank correlation 1: a zero
    pivot gives a zero column); each row scaled to unit Euclidean norm so that every
    correlated score stays exactly standard normal.

    Raises
    ------
    ValueError
        If ``r`` is not square or not positive semi-definite.
    """
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1]:
        raise ValueError(f"cholesky_psd needs a square matrix, got shape {r.shape}")
    n = r.shape[0]
    low = np.zeros((n, n))
    for i in range(n):
        for j in range(i):
            s = r[i, j] - low[i, :j] @ low[j, :j]
            if low[j, j] > 0.0:
                low[i, j] = s / low[j, j]
            elif abs(s) > _ZERO_COLUMN:
                # Input j is a copy of earlier ones, so i's correlation with it is fixed:
                # a residual left here means no PSD matrix has these entries.
                raise ValueError(f"correlation matrix is not positive semi-definite: entry "
                                 f"({i}, {j}) is inconsistent with a rank correlation of 1")
        d = r[i, i] - low[i, :i] @ low[i, :i]
        if d < _PIVOT_NEG:
            raise ValueError(f"correlation matrix is not positive semi-definite: pivot {i} "
                             f"is {d:.3g}")
        low[i, i] = np.sqrt(d) if d > _PIVOT_ZERO else 0.0
    norms = np.sqrt(np.sum(low * low, axis=1))
    if np.any(norms == 0.0):
        raise ValueError("cholesky_psd needs a unit diagonal (a row of the factor is zero)")
    return low / norms[:, None]
