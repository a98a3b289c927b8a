"""Tests for the ``distributions`` package.

Tiers of tests of random code:
2. fixed-input references: quantile functions at fixed uniforms / normal scores against scipy and
   against values pinned from mpmath (50 digits), so they do not move with a scipy release;
3. exact equivalence of paths: ``Distribution.ppf`` == the kernel called on ``pack()`` output;
4. goodness of fit: KS against the frozen scipy distribution, alpha = 1e-3, fixed seeds;
plus parameterisation round trips, every error path by its message, and ``replace``.
"""

from __future__ import annotations

import math
import pickle
import re
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
    DistributionError,
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
    # 1e-14 while |z| <= 10; beyond, both sides carry the rounding of z / sqrt(2) itself, which
    # Phi amplifies by ~z**2 (its condition number): bound 2e-16 * (z**2 + 4).
    core = np.abs(z) <= 10
    assert rel[core].max() <= 1e-14, f"ndtr max rel error {rel[core].max():.3g} for |z| <= 10"
    assert np.all(rel <= 2e-16 * (z * z + 4)), f"ndtr tail rel error {rel.max():.3g}"


def test_ndtr_pinned_references_and_symmetry():
    for z, p in NDTR_PINNED:
        assert abs(ndtr(z) - p) <= 2e-16 * (z * z + 4) * p, (z, ndtr(z), p)
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
# Parameterisations round-trip
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec,levels,values", [
    ({"dist": "lognormal", "ci90": [100, 200]}, (0.05, 0.95), (100, 200)),
    ({"dist": "lognormal", "ci95": [5, 20]}, (0.025, 0.975), (5, 20)),
    ({"dist": "lognormal", "p5": 5, "p95": 20}, (0.05, 0.95), (5, 20)),
    ({"dist": "lognormal", "p10": 5, "p90": 20}, (0.10, 0.90), (5, 20)),
    ({"dist": "lognormal", "p2.5": 5, "p97.5": 20}, (0.025, 0.975), (5, 20)),
    ({"dist": "normal", "ci90": [-1, 3]}, (0.05, 0.95), (-1, 3)),
    ({"dist": "normal", "p90": 3, "p05": -1}, (0.05, 0.90), (-1, 3)),
    ({"dist": "uniform", "ci90": [0.4, 0.6]}, (0.05, 0.95), (0.4, 0.6)),
    ({"dist": "uniform", "p25": 1, "p75": 2}, (0.25, 0.75), (1, 2)),
    ({"dist": "uniform", "ci50": [1, 2]}, (0.25, 0.75), (1, 2)),
])
def test_quantile_pair_round_trip(spec, levels, values):
    d = parse("inputs.x", spec)
    got = d.scipy().ppf(levels)
    assert np.allclose(got, values, rtol=1e-12, atol=0), (spec, got)
    assert [d.quantile(q) for q in levels] == pytest.approx(values, rel=1e-12)


@pytest.mark.parametrize("spec,levels,values", [
    ({"dist": "beta", "ci90": [0.2, 0.6]}, (0.05, 0.95), (0.2, 0.6)),
    ({"dist": "beta", "p10": 0.1, "p90": 0.5}, (0.10, 0.90), (0.1, 0.5)),
    ({"dist": "beta", "ci80": [3, 7], "min": 2, "max": 10}, (0.1, 0.9), (3, 7)),
])
def test_beta_quantile_fit_round_trip(spec, levels, values):
    d = parse("inputs.x", spec)
    assert np.allclose(d.scipy().ppf(levels), values, rtol=1e-9, atol=0)
    # and the tabulated kernel agrees
    assert np.allclose(d.ppf(np.array(levels)), values, rtol=1e-9, atol=0)


@pytest.mark.parametrize("spec,mean,sd", [
    ({"dist": "lognormal", "mean": 150, "sd": 40}, 150, 40),
    ({"dist": "uniform", "mean": 0.5, "sd": 0.1}, 0.5, 0.1),
    ({"dist": "normal", "mean": -3, "sd": 0.5}, -3, 0.5),
    ({"dist": "beta", "mean": 0.3, "sd": 0.1}, 0.3, 0.1),
    ({"dist": "beta", "mean": 1.2, "sd": 0.3, "min": 0.5, "max": 2.5}, 1.2, 0.3),
])
def test_mean_sd_round_trip(spec, mean, sd):
    d = parse("inputs.x", spec)
    f = d.scipy()
    assert abs(f.mean() - mean) <= 1e-12 * abs(mean)
    assert abs(f.std() - sd) <= 1e-12 * sd
    assert abs(d.mean() - mean) <= 1e-12 * abs(mean)


def test_natural_parameters():
    assert parse("a", 3).params == (("value", 3.0),)
    assert parse("a", {"dist": "lognormal", "mu": 1, "sigma": 2}).params == (
        ("mu", 1.0), ("sigma", 2.0))
    t = parse("a", {"dist": "truncnormal", "mean": 0, "sd": 1, "min": 0})
    assert t.params == (("mean", 0.0), ("sd", 1.0), ("min", 0.0), ("max", math.inf))
    assert t.support() == (0.0, math.inf)
    p = parse("a", {"dist": "pert", "min": 0, "mode": 1, "max": 4})
    assert p.params[-1] == ("lambda", 4.0)
    # PERT is Beta(1 + 4 (mode - min)/(max - min), 1 + 4 (max - mode)/(max - min)) on [min, max]
    assert p.mean() == pytest.approx((0 + 4 * 1 + 4) / 6, rel=1e-12)
    assert p.scipy().args == (2.0, 4.0)
    tri = parse("a", {"dist": "triangular", "min": 0.6, "mode": 1.0, "max": 1.6})
    assert tri.scipy().cdf(1.0) == pytest.approx(0.4, rel=1e-12)
    b = parse("a", {"dist": "beta", "alpha": 2, "beta": 3, "min": 10, "max": 14})
    assert b.param("alpha") == 2.0 and b.support() == (10.0, 14.0)


def test_fixed_distribution_api():
    for spec in (150, 150.0, np.float64(150), {"dist": "fixed", "value": 150}):
        d = parse("inputs.gpu_spend", spec)
        assert d.is_fixed and d.family == "fixed"
        assert d.mean() == 150.0 and d.quantile(0.3) == 150.0
        assert d.support() == (150.0, 150.0)
        assert d.scipy().ppf(0.3) == 150.0 and d.scipy().mean() == 150.0
        assert np.all(d.ppf(U_GRID) == 150.0) and np.all(d.ppf_z(np.array([-9.0, 9.0])) == 150.0)


def test_distribution_value_semantics():
    a = parse("inputs.x", {"dist": "lognormal", "ci90": [100, 200]})
    b = parse("inputs.x", {"dist": "lognormal", "ci90": [100, 200]})
    assert a == b and hash(a) == hash(b)
    assert a.ppf(0.5).shape == () and a.ppf(np.zeros((2, 3)) + 0.5).shape == (2, 3)
    spec = {"dist": "normal", "mean": 1, "sd": 2}
    d = parse("inputs.x", spec)
    spec["sd"] = -1  # the caller's dict is not shared
    assert d.replace("mean", 2).params == (("mean", 2.0), ("sd", 2.0))


# ----------------------------------------------------------------------------------------------
# Errors: every path, by message, with the key path
# ----------------------------------------------------------------------------------------------

K = "inputs.gpu_spend"
ERROR_CASES = [
    # (spec, expected key path, message fragment)
    ("150", K, "must be a number or a table with a 'dist' key, not a str"),
    (True, K, "not a boolean"),
    ([1, 2], K, "not a list"),
    (float("nan"), K, "must be finite"),
    (float("inf"), K, "must be finite"),
    ({"mu": 1, "sigma": 1}, K, "a distribution table needs a 'dist' key"),
    ({"dist": "lognorm", "mu": 1}, f"{K}.dist", "unknown distribution family.*"
     "Valid families: fixed, uniform, normal, lognormal.*did you mean 'lognormal'"),
    ({"dist": 3}, f"{K}.dist", "unknown distribution family"),
    ({"dist": "lognormal", "mu": 1, "sigam": 1}, f"{K}.sigam",
     "unknown parameter for a lognormal.*Valid keys for lognormal: mu, sigma, mean, sd, ciNN, "
     "pNN; did you mean 'sigma'"),
    ({"dist": "triangular", "ci90": [1, 2]}, f"{K}.ci90", "a triangular takes no quantile pair"),
    ({"dist": "fixed", "value": 1, "sd": 2}, f"{K}.sd", "unknown parameter for a fixed"),
    ({"dist": "lognormal", "ci90": [0, 200]}, f"{K}.ci90", "a lognormal's quantiles must be > 0"),
    ({"dist": "lognormal", "ci90": [-5, 200]}, f"{K}.ci90", "a lognormal's quantiles must be > 0"),
    ({"dist": "lognormal", "p5": -1, "p95": 2}, f"{K}.p95", "a lognormal's quantiles must be > 0"),
    ({"dist": "lognormal", "ci90": [300, 200]}, f"{K}.ci90",
     "the lower quantile must be < the upper quantile"),
    ({"dist": "normal", "p10": 1, "p90": 0}, f"{K}.p90", "lower quantile must be < the upper"),
    ({"dist": "lognormal", "ci90": [100]}, f"{K}.ci90", "must be a list of two numbers"),
    ({"dist": "lognormal", "ci90": "100-200"}, f"{K}.ci90", "must be a list of two numbers"),
    ({"dist": "lognormal", "ci90": [100, "x"]}, f"{K}.ci90[1]", "must be a number, not str"),
    ({"dist": "lognormal", "ci90": [100, float("nan")]}, f"{K}.ci90[1]", "must be finite"),
    ({"dist": "normal", "mean": "1", "sd": 1}, f"{K}.mean", "must be a number, not str"),
    ({"dist": "normal", "mean": 1, "sd": True}, f"{K}.sd", "must be a number, not a boolean"),
    ({"dist": "normal", "mean": 1, "sd": float("inf")}, f"{K}.sd", "must be finite"),
    ({"dist": "normal", "mean": float("nan"), "sd": 1}, f"{K}.mean", "must be finite"),
    ({"dist": "normal", "mean": 1, "sd": 0}, f"{K}.sd", "sd must be > 0"),
    ({"dist": "lognormal", "mu": 1, "sigma": -1}, f"{K}.sigma", "sigma must be > 0"),
    ({"dist": "lognormal", "mean": -1, "sd": 1}, f"{K}.mean", "a lognormal's mean must be > 0"),
    ({"dist": "lognormal", "mu": 1}, K, "a lognormal given by mu needs sigma as well"),
    ({"dist": "lognormal"}, K, r"a lognormal needs parameters.*Give one of: \{mu, sigma\}"),
    ({"dist": "lognormal", "mu": 1, "sigma": 1, "ci90": [1, 2]}, K,
     r"mixes two parameterisations of a lognormal: \{mu, sigma\} and \{ci90\}"),
    ({"dist": "uniform", "min": 2, "sd": 1}, K, "mixes two parameterisations of a uniform"),
    ({"dist": "normal", "ci90": [1, 2], "p10": 1}, K, "mixes two parameterisations"),
    ({"dist": "normal", "p10": 1}, K, "a quantile pair needs exactly two percentiles, 1 given"),
    ({"dist": "normal", "p10": 1, "p50": 2, "p90": 3}, K, "exactly two percentiles, 3 given"),
    ({"dist": "normal", "p10": 1, "p10.0": 2}, K, "the two percentiles name the same level"),
    ({"dist": "normal", "p0": 1, "p90": 2}, f"{K}.p0", "level strictly between 0 and 100"),
    ({"dist": "normal", "ci0": [1, 2]}, f"{K}.ci0", "level strictly between 0 and 100"),
    ({"dist": "normal", "ci90": [1, 2], "ci80": [1, 2]}, K, "give one central interval"),
    ({"dist": "normal", "p010": 1, "p90": 2}, f"{K}.p010", "unknown parameter for a normal"),
    ({"dist": "normal", "ci": [1, 2]}, f"{K}.ci", "unknown parameter for a normal"),
    ({"dist": "normal", "percentiles": 1}, f"{K}.percentiles", "unknown parameter"),
    ({1: 2, "dist": "normal"}, f"{K}.1", "unknown parameter for a normal"),
    ({"dist": "uniform", "min": 2, "max": 1}, f"{K}.max", "a uniform needs min < max"),
    ({"dist": "uniform", "min": 2, "max": 2}, f"{K}.max", "a uniform needs min < max"),
    ({"dist": "triangular", "min": 1, "mode": 0, "max": 2}, K,
     "a triangular needs min <= mode <= max and min < max"),
    ({"dist": "triangular", "min": 1, "mode": 1, "max": 1}, K, "min < max"),
    ({"dist": "triangular", "min": 1, "max": 2}, K, "given by min, max needs mode as well"),
    ({"dist": "pert", "min": 1, "mode": 3, "max": 2}, K, "a pert needs min <= mode <= max"),
    ({"dist": "pert", "min": 1, "mode": 1.5, "max": 2, "lambda": 0}, f"{K}.lambda",
     "lambda must be > 0"),
    ({"dist": "pert", "min": 0, "mode": 0.5, "max": 1, "lambda": 1e6}, f"{K}.lambda",
     r"shape parameters must lie in \[0.1, 10000\]"),
    ({"dist": "beta", "alpha": 0, "beta": 1}, f"{K}.alpha", "alpha must be > 0"),
    ({"dist": "beta", "alpha": 0.01, "beta": 1}, K, r"must lie in \[0.1, 10000\]"),
    ({"dist": "beta", "mean": 0.5, "sd": 0.6}, f"{K}.sd",
     r"a beta needs sd\^2 < \(mean - min\) \* \(max - mean\)"),
    ({"dist": "beta", "mean": 1.5, "sd": 0.1}, f"{K}.mean", "mean must lie strictly between"),
    ({"dist": "beta", "alpha": 2, "beta": 1, "min": 1, "max": 1}, f"{K}.max", "min < max"),
    ({"dist": "beta", "ci90": [0.1, 1.5]}, f"{K}.ci90", r"strictly inside \(min, max\)"),
    ({"dist": "truncnormal", "mean": 0, "sd": 1}, K, "at least one finite bound"),
    ({"dist": "truncnormal", "mean": 0, "sd": 1, "min": 2, "max": 1}, f"{K}.max", "min < max"),
    ({"dist": "truncnormal", "mean": 0, "sd": 1, "min": float("inf")}, f"{K}.min",
     r"min cannot be \+inf"),
    ({"dist": "truncnormal", "mean": 0, "sd": 1, "min": 40}, K,
     "the truncation interval holds almost no probability"),
    ({"dist": "truncnormal", "min": 0}, K, "a truncnormal needs parameters"),
    ({"dist": "truncnormal", "mean": 0, "sd": 1, "min": 0, "ci90": [1, 2]}, f"{K}.ci90",
     "takes no quantile pair"),
]


@pytest.mark.parametrize("spec,path,fragment", ERROR_CASES, ids=[str(i) for i in
                                                                  range(len(ERROR_CASES))])
def test_error_messages(spec, path, fragment):
    with pytest.raises(DistributionError, match=f"^{re.escape(path)}: .*{fragment}") as info:
        parse(K, spec)
    e = info.value
    assert e.key == path
    assert str(e) == f"{e.key}: {e.rule} (got {e.value}). {e.fix}"
    assert "\n" not in str(e)
    assert isinstance(e, ValueError)


def test_error_is_picklable_and_readable():
    with pytest.raises(DistributionError) as info:
        parse("revenue.Microsoft", {"dist": "lognormal", "ci90": [0, 20]})
    e = info.value
    assert str(e) == ("revenue.Microsoft.ci90: a lognormal's quantiles must be > 0 (got 0.0, "
                      "20.0). Give positive bounds, or use a normal for a quantity that can be "
                      "zero or negative.")
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.key, e2.rule, e2.value, e2.fix) == (e.key, e.rule, e.value, e.fix)
    assert str(e2) == str(e)


# ----------------------------------------------------------------------------------------------
# replace (sweeps)
# ----------------------------------------------------------------------------------------------


def test_replace_lognormal_ci90():
    d = parse(K, {"dist": "lognormal", "ci90": [100, 200]})
    r = d.replace("ci90", [120, 240])
    assert r.scipy().ppf([0.05, 0.95]) == pytest.approx([120, 240], rel=1e-12)
    assert r.key == K and r.spec == {"dist": "lognormal", "ci90": [120, 240]}
    assert d.spec == {"dist": "lognormal", "ci90": [100, 200]}  # original untouched


def test_replace_uniform_min_and_triangular_mode():
    u = parse(K, {"dist": "uniform", "min": 0.35, "max": 0.65}).replace("min", 0.4)
    assert u.params == (("min", 0.4), ("max", 0.65))
    t = parse(K, {"dist": "triangular", "min": 0.6, "mode": 1.0, "max": 1.6}).replace("mode", 1.2)
    assert t.param("mode") == 1.2


def test_replace_switches_parameterisation():
    d = parse(K, {"dist": "lognormal", "mu": 5.0, "sigma": 0.2})
    r = d.replace("ci90", [100, 200])  # mu/sigma dropped
    assert r.spec == {"dist": "lognormal", "ci90": [100, 200]}
    assert r.scipy().ppf(0.95) == pytest.approx(200, rel=1e-12)
    # one key of a two-key parameterisation: the other is missing, and the error says so
    with pytest.raises(DistributionError, match=r"^inputs\.gpu_spend: .*given by mean needs sd"):
        d.replace("mean", 150)
    # a percentile pair replaced by a central interval, and one percentile updated in place
    p = parse(K, {"dist": "normal", "p10": 1, "p90": 3})
    assert p.replace("ci90", [0, 4]).spec == {"dist": "normal", "ci90": [0, 4]}
    assert p.replace("p90", 5).quantile(0.9) == pytest.approx(5, rel=1e-12)
    # optional keys (beta min/max) survive, in place and across a switch
    b = parse(K, {"dist": "beta", "alpha": 2, "beta": 3, "min": 1, "max": 2})
    assert b.replace("max", 3).support() == (1.0, 3.0)
    assert b.replace("ci90", [1.2, 1.8]).support() == (1.0, 2.0)
    m = parse(K, {"dist": "beta", "mean": 1.4, "sd": 0.1, "min": 1, "max": 2}).replace("mean", 1.5)
    assert m.support() == (1.0, 2.0) and m.mean() == pytest.approx(1.5, rel=1e-12)
    assert m.scipy().std() == pytest.approx(0.1, rel=1e-12)
    # pert lambda is optional: setting it keeps min/mode/max
    assert parse(K, {"dist": "pert", "min": 0, "mode": 1, "max": 4}).replace(
        "lambda", 2).param("lambda") == 2.0


def test_replace_fixed_and_errors():
    f = parse(K, 150)
    assert f.replace("value", 50).params == (("value", 50.0),)
    with pytest.raises(DistributionError, match=r"^inputs\.gpu_spend\.mean: .*only 'value'"):
        f.replace("mean", 1)
    d = parse(K, {"dist": "uniform", "min": 0, "max": 1})
    with pytest.raises(DistributionError, match=r"^inputs\.gpu_spend\.max: a uniform needs min"):
        d.replace("min", 2)
    with pytest.raises(DistributionError, match=r"^inputs\.gpu_spend\.mde: unknown parameter"):
        d.replace("mde", 2)
    # changing the family re-validates the remaining keys against the new family
    with pytest.raises(DistributionError, match=r"^inputs\.gpu_spend\.min: unknown parameter for a "
                       "normal"):
        d.replace("dist", "normal")


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


def test_public_api():
    assert FAMILIES == {"fixed": 0, "uniform": 1, "normal": 2, "lognormal": 3, "triangular": 4,
                        "pert": 5, "beta": 6, "truncnormal": 7}
    assert NPAR == 8
    assert 0 < TABLE_REL_ERROR <= 1e-8
    for name in D.__all__:
        assert hasattr(D, name)
