"""Tests for the ``distributions`` package.

Tiers of tests of random code:
2. fixed-input references: quantile functions at fixed uniforms / normal scores against scipy and
   against values pinned from mpmath (50 digits), so they do not move with a scipy release;
3. exact equivalence of paths: ``Distribution.ppf`` == the kernel called on ``pack()`` output;
4. goodness of fit: KS against the frozen scipy distribution, alpha = 1e-3, fixed seeds;
plus a fixed distribution's API and the public names. Parameterisation round trips, every
error path by its message, and ``replace`` are in test_distributions_specs.py.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from numba import njit
from scipy import special, stats

import distributions as D
from distributions import (
    FAMILIES,
    NPAR,
    TABLE_KNOTS,
    TABLE_REL_ERROR,
    Distribution,
    ndtr,
    ndtri,
    pack,
    parse,
    sample_u,
    sample_z,
)
from distributions._tables import SHAPE_MAX, SHAPE_MIN, beta_table

# Fixed uniforms, tails included, at which quantile functions are compared with scipy.
U_GRID = np.array([1e-12, 1e-6, 0.05, 0.5, 0.95, 1 - 1e-9])
# Relative tolerance where scipy's ppf is exact (closed forms, ndtri-based).
CLOSED_RTOL = 1e-10
KS_ALPHA = 1e-3
KS_N = 20_000

# Specs per family; beta/pert shapes cover alpha or beta < 1, = 1, and large.
CLOSED_SPECS = {
    "fixed-number": 7.5,
    "fixed-table": {"dist": "fixed", "value": -2.0},
    "uniform": {"dist": "uniform", "min": 0.35, "max": 0.65},
    "normal": {"dist": "normal", "mean": 1.0, "sd": 2.0},
    "lognormal-ci90": {"dist": "lognormal", "ci90": [100, 200]},
    "lognormal-musigma": {"dist": "lognormal", "mu": 0.5, "sigma": 1.2},
    "triangular": {"dist": "triangular", "min": 0.6, "mode": 1.0, "max": 1.6},
    "triangular-mode-at-min": {"dist": "triangular", "min": 0.0, "mode": 0.0, "max": 1.0},
    "triangular-mode-at-max": {"dist": "triangular", "min": 0.0, "mode": 1.0, "max": 1.0},
    "truncnormal-two-sided": {"dist": "truncnormal", "mean": 0.0, "sd": 1.0, "min": -1, "max": 2},
    "truncnormal-lower": {"dist": "truncnormal", "mean": 100.0, "sd": 20.0, "min": 0},
    "truncnormal-upper-tail": {"dist": "truncnormal", "mean": 0.0, "sd": 1.0, "max": -3},
}
BETA_SHAPES = [(0.5, 0.5), (0.5, 5), (1, 1), (2, 5), (5, 30), (30, 30), (1, 30), (0.1, 0.1)]
TABLE_SPECS = {
    **{f"beta-{a}-{b}": {"dist": "beta", "alpha": a, "beta": b} for a, b in BETA_SHAPES},
    "beta-scaled": {"dist": "beta", "alpha": 2, "beta": 3, "min": 10, "max": 14},
    "pert": {"dist": "pert", "min": 1, "mode": 2, "max": 5},
    "pert-mode-at-min": {"dist": "pert", "min": 0, "mode": 0, "max": 1},
    "pert-lambda": {"dist": "pert", "min": 0.6, "mode": 1.0, "max": 1.6, "lambda": 10},
}
ALL_SPECS = {**CLOSED_SPECS, **TABLE_SPECS}


def _max_rel(got: np.ndarray, ref: np.ndarray, atol: float = 0.0) -> float:
    """max |got - ref| / |ref|, with ``atol`` guarding references at or near zero."""
    got, ref = np.broadcast_arrays(np.asarray(got, float), np.asarray(ref, float))
    err = np.abs(got - ref)
    ok = (err <= atol) | (got == ref)  # exact matches (0 == 0, inf == inf) count as no error
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(ok, 0.0, err / np.abs(ref))
    return float(np.max(rel, initial=0.0))


def _dist(name: str) -> Distribution:
    return parse(f"inputs.{name}", ALL_SPECS[name])


# ----------------------------------------------------------------------------------------------
# Normal CDF and inverse
# ----------------------------------------------------------------------------------------------

NDTRI_RTOL = 1e-14  # stated bound vs scipy.special.ndtri
# mpmath (60 digits): z with Phi(z) = p for p exactly the double shown.
NDTRI_PINNED = [
    (1e-300, -37.0470962993612),
    (1e-100, -21.273453560965326),
    (1e-20, -9.262340089798407),
    (1e-10, -6.361340902404057),
    (0.02425, -1.972961051311885),
    (0.3, -0.5244005127080408),
    (0.9, 1.2815515655446006),
    (0.9999999999, 6.361340889697422),
    (0.9999999999999999, 8.209536151601387),
]
NDTR_PINNED = [
    (-37.5, 4.605353009581955e-308),
    (-20.0, 2.7536241186062337e-89),
    (-10.0, 7.619853024160525e-24),
    (-5.0, 2.866515718791939e-07),
    (-1.0, 0.15865525393145705),
    (0.0, 0.5),
    (0.5, 0.6914624612740131),
    (3.0, 0.9986501019683699),
    (8.0, 0.9999999999999993),
]


def test_ndtri_matches_scipy():
    u = np.concatenate([
        [1e-300, 1e-100, 1e-10, 0.02425, 0.5, 0.97575, 1 - 1e-10, 1 - 1e-16],
        np.logspace(-300, -1, 300), np.linspace(0.01, 0.99, 99), 1 - np.logspace(-16, -1, 50),
    ])
    got = np.array([ndtri(x) for x in u])
    ref = special.ndtri(u)
    err = _max_rel(got, ref, atol=1e-300)
    assert err <= NDTRI_RTOL, f"ndtri max relative error {err:.3g} > {NDTRI_RTOL}"
    assert ndtri(0.5) == 0.0


def test_ndtri_pinned_references():
    for p, z in NDTRI_PINNED:
        assert abs(ndtri(p) - z) <= 2e-15 * abs(z), (p, ndtri(p), z)


def test_ndtri_edges_follow_scipy():
    assert ndtri(0.0) == -math.inf
    assert ndtri(1.0) == math.inf
    for bad in (-0.1, 1.1, math.nan):
        assert math.isnan(ndtri(bad))


def test_ndtr_matches_scipy():
    z = np.concatenate([np.linspace(-37.5, 10, 1901), [-20, -10, -1e-3, 0, 1e-3, 8.3]])
    got = np.array([ndtr(x) for x in z])
    ref = special.ndtr(z)
    rel = np.abs(got - ref) / ref
    # scipy's ndtr carries the rounding of z / sqrt(2), which Phi amplifies by ~z**2 (its
    # condition number); ours does not (within 1.1e-15 of a 50-digit reference everywhere:
    # tests/test_ndtr_fast.py), so the two differ by scipy's error: bound 2.5e-16 (z**2 + 6).
    assert np.all(rel <= 2.5e-16 * (z * z + 6)), f"ndtr rel difference {rel.max():.3g}"


def test_ndtr_pinned_references_and_symmetry():
    for z, p in NDTR_PINNED:  # (no z**2 growth: tests/test_ndtr_fast.py)
        assert abs(ndtr(z) - p) <= 1.5e-15 * p, (z, ndtr(z), p)
    for z in np.linspace(-8, 8, 161):
        assert abs(ndtr(z) + ndtr(-z) - 1.0) <= 2.3e-16
    assert ndtr(-40.0) == 0.0 and ndtr(40.0) == 1.0 and math.isnan(ndtr(math.nan))


# ----------------------------------------------------------------------------------------------
# Quantile functions at fixed inputs (tier 2)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CLOSED_SPECS))
def test_closed_form_ppf_matches_scipy(name):
    d = _dist(name)
    got = d.ppf(U_GRID)
    ref = np.asarray(d.scipy().ppf(U_GRID), dtype=float)
    scale = 1.0 if d.is_fixed else float(d.scipy().std())
    err = _max_rel(got, ref, atol=CLOSED_RTOL * scale)
    assert err <= CLOSED_RTOL, f"{name}: max relative error {err:.3g} > {CLOSED_RTOL}"
    assert got.shape == U_GRID.shape


def test_truncnormal_pinned_references():
    # mpmath (60 digits).  scipy's own truncnorm.ppf is 2.1e-10 off in the first case.
    cases = [
        ({"min": -1, "max": 30}, 0.999999999, 6.025805981367376),
        ({"min": -1, "max": 30}, 1e-06, -0.9999965229542332),
        ({"min": 8}, 1e-06, 8.000000123132024),
        ({"min": 8}, 0.5, 8.084911007391543),
        ({"min": 8}, 0.999999, 9.554302468572281),
        ({"max": -8}, 0.5, -8.084911007391543),
        ({"max": -8}, 1e-06, -9.554302468575258),
        ({"min": 6, "max": 6.5}, 0.5, 6.105195750495482),
    ]
    for bounds, u, x in cases:
        d = parse("inputs.t", {"dist": "truncnormal", "mean": 0, "sd": 1, **bounds})
        got = float(d.ppf(np.array([u]))[0])
        assert abs(got - x) <= 1e-14 * abs(x), (bounds, u, got, x)


def _beta_reference(a: float, b: float, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and 1 - x of Beta(a, b) at u, each from its accurate tail (1 - u is exact for u >= 0.5)."""
    return special.betaincinv(a, b, u), special.betaincinv(b, a, 1.0 - u)


DENSE_U = np.concatenate([
    np.logspace(-16, -2, 300), np.linspace(0.01, 0.99, 981), 1.0 - np.logspace(-2, -15, 300),
])


@pytest.mark.parametrize("a,b", BETA_SHAPES)
def test_beta_table_error_bound(a, b):
    """|relative error| <= TABLE_REL_ERROR for x (lower half) and for 1 - x (upper half)."""
    lower = parse("inputs.b", {"dist": "beta", "alpha": a, "beta": b})
    # On [-1, 0] the kernel's value near the top bound is exactly -(1 - x): its relative precision
    # is testable there (on [0, 1] the double x near 1 cannot carry it).
    upper = parse("inputs.b", {"dist": "beta", "alpha": a, "beta": b, "min": -1, "max": 0})
    x_ref, c_ref = _beta_reference(a, b, DENSE_U)
    x = lower.ppf(DENSE_U)
    c = -upper.ppf(DENSE_U)
    half = DENSE_U <= 0.5
    err_x = _max_rel(x[half], x_ref[half])
    err_c = _max_rel(c[~half], c_ref[~half])
    err = max(err_x, err_c)
    assert err <= TABLE_REL_ERROR, (
        f"Beta({a}, {b}): max relative error {err:.3g} (x: {err_x:.3g}, 1-x: {err_c:.3g}) > "
        f"TABLE_REL_ERROR={TABLE_REL_ERROR:g}")
    # And through normal scores over the whole table range, against the tail-accurate reference.
    z = np.linspace(-D.TABLE_Z, D.TABLE_Z, 1001)
    xz = lower.ppf_z(z[z <= 0])
    cz = -upper.ppf_z(z[z > 0])
    ez = max(_max_rel(xz, special.betaincinv(a, b, special.ndtr(z[z <= 0]))),
             _max_rel(cz, special.betaincinv(b, a, special.ndtr(-z[z > 0]))))
    assert ez <= TABLE_REL_ERROR, f"Beta({a}, {b}) via sample_z: max relative error {ez:.3g}"


@pytest.mark.parametrize("name", list(TABLE_SPECS))
def test_table_ppf_matches_scipy(name):
    d = _dist(name)
    lo, hi = d.support()
    ref = np.asarray(d.scipy().ppf(U_GRID), dtype=float)
    # scipy's loc + scale * x rounds at the scale of the bounds: allow that much absolutely.
    atol = 4 * np.finfo(float).eps * (abs(lo) + abs(hi))
    err = _max_rel(d.ppf(U_GRID), ref, atol=atol)
    assert err <= TABLE_REL_ERROR, f"{name}: max relative error {err:.3g} > {TABLE_REL_ERROR:g}"


def test_table_corners_of_validated_shape_range_build():
    # beta_table checks every knot midpoint against scipy and raises if TABLE_REL_ERROR is missed.
    for a, b in [(SHAPE_MIN, SHAPE_MIN), (SHAPE_MIN, SHAPE_MAX), (SHAPE_MAX, SHAPE_MIN),
                 (SHAPE_MAX, SHAPE_MAX)]:
        tab = beta_table(a, b)
        assert tab.shape == (TABLE_KNOTS + 2, 2) and not tab.flags.writeable


@pytest.mark.parametrize("name", list(ALL_SPECS))
def test_sample_z_matches_sample_u(name):
    d = _dist(name)
    # At z = ndtri(u) for the fixed grid (both paths see the same point).
    rtol = TABLE_REL_ERROR if name in TABLE_SPECS else CLOSED_RTOL
    scale = 1.0 if d.is_fixed else float(d.scipy().std())
    z = special.ndtri(U_GRID)
    err = _max_rel(d.ppf_z(z), d.ppf(U_GRID), atol=rtol * scale)
    assert err <= rtol, f"{name}: sample_z vs sample_u at ndtri(u): {err:.3g}"
    # At fixed z <= 0, where u = ndtr(z) is itself accurate.
    z = np.linspace(-8, 0, 33)
    u = special.ndtr(z)
    err = _max_rel(d.ppf_z(z), d.ppf(u), atol=rtol * scale)
    assert err <= rtol, f"{name}: sample_z(z) vs sample_u(ndtr(z)): {err:.3g}"


MIRRORS = [
    ({"dist": "uniform", "min": 2, "max": 5}, {"dist": "uniform", "min": -5, "max": -2}),
    ({"dist": "normal", "mean": 1, "sd": 2}, {"dist": "normal", "mean": -1, "sd": 2}),
    ({"dist": "triangular", "min": 0, "mode": 0.2, "max": 1},
     {"dist": "triangular", "min": -1, "mode": -0.2, "max": 0}),
    ({"dist": "truncnormal", "mean": 0, "sd": 1, "min": -1, "max": 3},
     {"dist": "truncnormal", "mean": 0, "sd": 1, "min": -3, "max": 1}),
    ({"dist": "beta", "alpha": 2, "beta": 5, "min": 0, "max": 1},
     {"dist": "beta", "alpha": 5, "beta": 2, "min": -1, "max": 0}),
]


@pytest.mark.parametrize("spec,mirror", MIRRORS)
def test_sample_z_upper_tail_is_as_accurate_as_lower(spec, mirror):
    """X at +z equals -X' at -z for the mirrored X' = -X: the upper tail keeps full precision."""
    d, m = parse("inputs.x", spec), parse("inputs.x", mirror)
    z = np.linspace(0.5, 8.3, 40)
    rtol = 2 * TABLE_REL_ERROR if spec["dist"] == "beta" else 1e-13
    hi = d.support()[1]
    got, ref = d.ppf_z(z), -m.ppf_z(-z)
    if math.isfinite(hi):  # compare distances to the top bound, where the tail lives
        got, ref = hi - got, hi - ref
    err = _max_rel(got, ref)
    assert err <= rtol, f"{spec}: upper tail vs mirrored lower tail {err:.3g}"


@pytest.mark.parametrize("name", list(ALL_SPECS))
def test_ppf_monotone_and_inside_support(name):
    d = _dist(name)
    u = np.sort(np.concatenate([np.linspace(1e-6, 1 - 1e-6, 20001), U_GRID,
                                np.logspace(-17, -7, 50), 1 - np.logspace(-16, -7, 50)]))
    x = d.ppf(u)
    lo, hi = d.support()
    assert np.all(np.diff(x) >= 0), f"{name}: ppf not monotone"
    assert np.all((x >= lo) & (x <= hi)), f"{name}: ppf leaves the support"


def test_table_tails_beyond_table_range():
    """Beyond |z| > TABLE_Z: continuous, monotone, inside the support, and close to exact."""
    for a, b in [(0.5, 0.5), (2, 5), (30, 30)]:
        d = parse("inputs.b", {"dist": "beta", "alpha": a, "beta": b})
        z = np.linspace(-40, 40, 2001)
        x = d.ppf_z(z)
        assert np.all(np.diff(x) >= 0) and np.all((x >= 0) & (x <= 1)), (a, b)
        # Measured: <= 5e-5 at |z| = 9 for Beta(30, 30), far less for smaller shapes.
        for zz in (-9.0, -8.6):
            ref = special.betaincinv(a, b, special.ndtr(zz))
            assert abs(d.ppf_z(np.array([zz]))[0] - ref) <= 1e-4 * ref, (a, b, zz)
        # continuous at the seams: a 1e-12 step in z moves x by ~|dx/dz| * 1e-12, nothing more
        for edge, step in ((-D.TABLE_Z, -1e-12), (D.TABLE_Z, 1e-12)):
            x0, x1 = d.ppf_z(np.array([edge, edge + step]))
            assert abs(x1 - x0) <= 1e-9 * min(x0, 1 - x0), (a, b, edge)


# ----------------------------------------------------------------------------------------------
# Goodness of fit (tier 4)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ALL_SPECS))
def test_ks_against_scipy(name):
    d = _dist(name)
    seed = zlib.crc32(name.encode())  # a fixed, distinct seed per case
    u = np.random.default_rng(seed).random(KS_N)
    x = d.ppf(u)
    if d.is_fixed:
        assert np.all(x == d.params[0][1])
        return
    res = stats.kstest(x, d.scipy().cdf)
    assert res.pvalue >= KS_ALPHA, (
        f"{name}: KS statistic {res.statistic:.4g}, p-value {res.pvalue:.3g} < alpha {KS_ALPHA} "
        f"(n = {KS_N}, seed = {seed})")


# ----------------------------------------------------------------------------------------------
# pack and the kernel path (tier 3)
# ----------------------------------------------------------------------------------------------


@njit
def _kernel_u(codes, params, u, tables, out):
    # What the engine does: one row view per input, the whole tables array.
    for j in range(codes.size):
        for i in range(u.size):
            out[j, i] = sample_u(codes[j], params[j], u[i], tables)


@njit
def _kernel_z(codes, params, z, tables, out):
    for j in range(codes.size):
        for i in range(z.size):
            out[j, i] = sample_z(codes[j], params[j], z[i], tables)


def test_pack_shapes_and_dedup():
    dists = [_dist(n) for n in ALL_SPECS]
    codes, params, tables = pack(dists)
    n = len(dists)
    assert codes.dtype == np.int64 and codes.shape == (n,)
    assert params.dtype == np.float64 and params.shape == (n, NPAR)
    assert params.flags.c_contiguous and tables.flags.c_contiguous
    assert [int(c) for c in codes] == [FAMILIES[d.family] for d in dists]
    n_shapes = len({tuple(d.scipy().args[:2]) for d in dists if d.family in ("beta", "pert")})
    assert tables.shape == (n_shapes, TABLE_KNOTS + 2, 2)
    # PERT(0, 0.25, 1) is Beta(2, 4): one shared table row
    c, p, t = pack([parse("a", {"dist": "pert", "min": 0, "mode": 0.25, "max": 1}),
                    parse("b", {"dist": "beta", "alpha": 2, "beta": 4, "min": 5, "max": 6})])
    assert t.shape[0] == 1 and p[0, 3] == p[1, 3] == 0.0
    # no tabulated family: one dummy row
    c, p, t = pack([parse("a", 1.0), _dist("lognormal-ci90")])
    assert t.shape == (1, TABLE_KNOTS + 2, 2)
    c, p, t = pack([])
    assert c.shape == (0,) and p.shape == (0, NPAR) and t.shape[0] == 1


def test_kernel_through_pack_equals_distribution_ppf():
    dists = [_dist(n) for n in ALL_SPECS]
    codes, params, tables = pack(dists)
    u = np.concatenate([U_GRID, np.random.default_rng(7).random(500)])
    z = np.concatenate([special.ndtri(U_GRID), np.linspace(-12, 12, 97)])
    out_u = np.empty((len(dists), u.size))
    out_z = np.empty((len(dists), z.size))
    _kernel_u(codes, params, u, tables, out_u)
    _kernel_z(codes, params, z, tables, out_z)
    for j, d in enumerate(dists):
        np.testing.assert_array_equal(out_u[j], d.ppf(u), err_msg=d.key)
        np.testing.assert_array_equal(out_z[j], d.ppf_z(z), err_msg=d.key)
    # and called directly from Python
    j = list(ALL_SPECS).index("beta-2-5")
    assert sample_u(codes[j], params[j], 0.3, tables) == dists[j].ppf(0.3)
    assert sample_z(codes[j], params[j], -1.0, tables) == dists[j].ppf_z(-1.0)


def test_fixed_distribution_api():
    for spec in (150, 150.0, np.float64(150), {"dist": "fixed", "value": 150}):
        d = parse("inputs.gpu_spend", spec)
        assert d.is_fixed and d.family == "fixed"
        assert d.mean() == 150.0 and d.quantile(0.3) == 150.0
        assert d.support() == (150.0, 150.0)
        assert d.scipy().ppf(0.3) == 150.0 and d.scipy().mean() == 150.0
        assert np.all(d.ppf(U_GRID) == 150.0) and np.all(d.ppf_z(np.array([-9.0, 9.0])) == 150.0)


def test_public_api():
    assert FAMILIES == {"fixed": 0, "uniform": 1, "normal": 2, "lognormal": 3, "triangular": 4,
                        "pert": 5, "beta": 6, "truncnormal": 7}
    assert NPAR == 8
    assert 0 < TABLE_REL_ERROR <= 1e-8
    for name in D.__all__:
        assert hasattr(D, name)
