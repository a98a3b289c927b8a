"""Inverse normal CDF: AS241 (Wichura), scalar and for a block of uniforms.

The scalar :func:`ndtri` is split into its central and near-tail functions so that
:func:`ndtri_block` can share every operation and reproduce it bit for bit, vectorised.

Dependency rule: numba and the stdlib only.
"""

from __future__ import annotations

import math

from numba import njit

from ._fastmath import _DBL_MIN, _poly7, log, log_fast
from ._jitcache import CACHE
from ._pointers import AVX512, compress_tail8, list_flagged, list_rest, pad_lanes

#: |p - 0.5| <= NDTRI_CENTRAL: AS241's central rational function (85% of uniforms).
NDTRI_CENTRAL = 0.425
#: The largest |z| the central branch returns: ndtri(0.925) = 1.4395... (tested).
NDTRI_CENTRAL_ZMAX = 1.44


@njit(inline="always")
def ndtri_central_r(q: float, r: float) -> float:
    """AS241's central function from q = p - 0.5 and r = 0.180625 - q**2: q A(r) / B(r).

    Wichura's coefficients; the polynomials are evaluated by :func:`_poly7` (Estrin, fused
    multiply-adds) rather than Horner's rule: same accuracy (tested), half the latency.
    """
    num = _poly7(r, 3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
                 1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
                 3.3430575583588128105e4, 2.5090809287301226727e3)
    den = _poly7(r, 1.0, 4.2313330701600911252e1, 6.8718700749205790830e2,
                 5.3941960214247511077e3, 2.1213794301586595867e4, 3.9307895800092710610e4,
                 2.8729085735721942674e4, 5.2264952788528545610e3)
    return q * num / den


@njit(inline="always")
def ndtri_central(q: float) -> float:
    """AS241 for q = p - 0.5 with |q| <= 0.425: q A(r) / B(r), r = 0.180625 - q**2."""
    return ndtri_central_r(q, 0.180625 - q * q)


@njit(inline="always")
def ndtri_tail_near(r: float) -> float:
    """AS241's first tail function of r = sqrt(-log(min(p, 1 - p))), 1.6 <= r <= 5."""
    r -= 1.6
    num = _poly7(r, 1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
                 3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
                 2.27238449892691845833e-2, 7.74545014278341407640e-4)
    den = _poly7(r, 1.0, 2.05319162663775882187e0, 1.67638483018380384940e0,
                 6.89767334985100004550e-1, 1.48103976427480074590e-1, 1.51986665636164571966e-2,
                 5.47593808499534494600e-4, 1.05075007164441684324e-9)
    return num / den


@njit
def ndtri(p: float) -> float:
    """Inverse of the standard normal CDF: Wichura's algorithm AS241 (PPND16).

    Parameters
    ----------
    p : float
        Probability in [0, 1].

    Returns
    -------
    float
        ``z`` with ``Phi(z) = p``; about 1e-16 relative error (tested <= 1e-14 against
        ``scipy.special.ndtri``).  ``-inf`` at 0, ``+inf`` at 1 and ``nan`` outside [0, 1] or for
        ``nan``, as scipy.

    Notes
    -----
    For ``p > 0.5`` the tail is computed from ``1 - p``, which is exact in floating point there
    (Sterbenz), so no precision is lost beyond that already in ``p``.  The tails take ``log``
    from :func:`log` (not libm), so :func:`ndtri_block` reproduces every bit of this function.
    """
    q = p - 0.5
    if abs(q) <= NDTRI_CENTRAL:
        return ndtri_central(q)
    if not (p >= 0.0 and p <= 1.0):  # also catches nan
        return math.nan
    r = p if q < 0.0 else 1.0 - p
    if r == 0.0:
        return -math.inf if q < 0.0 else math.inf
    r = math.sqrt(-log(r))
    if r <= 5.0:
        val = ndtri_tail_near(r)
    else:
        r -= 5.0
        num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                    + 1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r
                  + 2.96560571828504891230e-1) * r + 1.78482653991729133580e0) * r
                + 5.46378491116411436990e0) * r + 6.65790464350110377720e0)
        den = (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
                    + 1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r
                  + 1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r
                + 5.99832206555887937690e-1) * r + 1.0)
        val = num / den
    if q < 0.0:
        return -val
    return val


@njit(error_model="numpy", cache=CACHE)
def list_tail(u, m, idx, zt):
    """List the lanes ``i < m`` outside AS241's central branch (``not (|u[i] - 0.5| <=
    NDTRI_CENTRAL)``, nan included) in ``idx[0:nt]``, increasing, with their uniforms in
    ``zt[0:nt]``; return ``nt``. Pointers as :func:`addr`."""
    return list_flagged(u, m, idx, zt, 0.5, NDTRI_CENTRAL)


@njit(error_model="numpy", cache=CACHE)
def list_tail_avx512(u, m, idx, zt):
    """:func:`list_tail` eight lanes at a time with :func:`compress_tail8` (0.19 against 0.59
    ns per lane on AMD Zen 4), the last ``m % 8`` one by one; the same outputs."""
    m8 = m & ~7
    nt = compress_tail8(u, m8, idx, zt, NDTRI_CENTRAL)
    return list_rest(u, m8, m, idx, zt, nt, 0.5, NDTRI_CENTRAL)


@njit(error_model="numpy", cache=CACHE)
def ndtri_block(u, m, z, idx, zt):
    """``z[i] = ndtri(u[i])`` for i < m, bitwise (all arguments but m are pointers).

    Pass 1 evaluates AS241's central function on every lane (vectorised); pass 2 lists the
    lanes outside it (15% of uniforms); pass 3 gathers them and evaluates the near tail,
    vectorised with :func:`log_fast`; lanes beyond the near tail (p < 1.4e-11), and anything
    that is not in (0, 1), fall back to the scalar :func:`ndtri`.  Long computations are cut
    into several loops over the block (the centre in two, the tail in two): each loop's
    dependency chain is shorter, so the out-of-order core overlaps more lanes; the operations,
    and so the bits, are those of :func:`ndtri`.

    ``idx`` (int64[>= m]) and ``zt`` (float64[>= m]) are scratch.

    Returns
    -------
    nt : int
        The number of lanes outside the central branch; their indices are left in
        ``idx[0:nt]`` (increasing), and every other lane has ``|z| <= NDTRI_CENTRAL_ZMAX``.
    zmax : float
        The largest ``|z|`` among those ``nt`` lanes (0 if none, nan if any ``z`` is nan).
    """
    # The central function in two loops: r, then the rational function.
    for i in range(m):
        q = u[i] - 0.5
        z[i] = 0.180625 - q * q
    for i in range(m):
        z[i] = ndtri_central_r(u[i] - 0.5, z[i])
    # The tail lanes listed and gathered (numba prunes the branch not taken before compiling).
    if AVX512:
        nt = list_tail_avx512(u, m, idx, zt)
    else:
        nt = list_tail(u, m, idx, zt)
    ntv = pad_lanes(zt, nt, m, 0.25)  # a harmless tail value
    # Two loops again (log, then sqrt and the rational function), measured 20% faster than
    # one; in between, zt holds -log(min(p, 1 - p)) > 0.69 with the sign of p - 0.5, or nan.
    for k in range(ntv):
        p = zt[k]
        q = p - 0.5
        r = p if q < 0.0 else 1.0 - p
        ok = r >= _DBL_MIN
        t = -log_fast(r if ok else 0.5)
        t = t if ok else math.nan
        zt[k] = -t if q < 0.0 else t
    for k in range(ntv):
        t = zt[k]
        s = math.sqrt(abs(t))
        val = ndtri_tail_near(s)
        val = -val if t < 0.0 else val
        zt[k] = val if s <= 5.0 else math.nan
    zmax = 0.0  # the largest |z| of the tail lanes (nan if any is nan), for callers' range checks
    for k in range(nt):
        i = idx[k]
        v = zt[k]
        v = v if v == v else ndtri(u[i])
        z[i] = v
        av = abs(v)
        zmax = av if (av > zmax) | (av != av) else zmax  # a nan sticks (nan > x is False)
    return nt, zmax
