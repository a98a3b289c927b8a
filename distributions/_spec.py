"""Parsing config specs into validated :class:`Distribution` objects, and packing them for numba.

The pieces: ``_grammar`` (family names and keys, value checks, :class:`DistributionError`),
``_builders`` (each family's rules and parameter conversions) and ``_pack`` (the arrays for the
kernels); this module holds :class:`Distribution` and :func:`parse`, and re-exports the public
names of the others.

Dependency rule: numpy, scipy, numba and the stdlib only (never ``engine``).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _blocks as B
from ._builders import _BUILDERS, _quantile_pair
from ._grammar import (_CI, _CI_RE, _FORMS, _OPTIONAL, _P_RE, _PCT, FAMILIES, NPAR,
                       DistributionError, _closest, _form_text, _forms_text, _group_of,
                       _is_number, _number, _pair, _show, _valid_keys)
from ._pack import _beta_shapes, pack

__all__ = ["FAMILIES", "NPAR", "Distribution", "DistributionError", "pack", "parse"]


# ---------------------------------------------------------------------------------------------
# The Distribution object
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Distribution:
    """A validated distribution for one config input.

    Create with :func:`parse`.  Equality and hashing use ``family``, ``params`` and ``key``
    (not ``spec``): two specs that mean the same distribution compare equal.

    Attributes
    ----------
    family : str
        One of :data:`FAMILIES`.
    params : tuple of (str, float)
        Natural parameters after conversion: fixed ``(value,)``; uniform ``(min, max)``; normal
        ``(mean, sd)``; lognormal ``(mu, sigma)`` of log x; triangular and pert
        ``(min, mode, max)`` (+ ``lambda`` for pert); beta ``(alpha, beta, min, max)``;
        truncnormal ``(mean, sd, min, max)`` with ``-inf``/``inf`` for an absent bound.
    key : str
        Config key path used in error messages, e.g. ``"revenue.Microsoft"``.
    spec : object
        A private copy of the spec it was parsed from (a number or a dict).
    """

    family: str
    params: tuple[tuple[str, float], ...]
    key: str
    spec: object = dataclasses.field(compare=False, repr=False)

    # -- small accessors ------------------------------------------------------------------------

    @property
    def is_fixed(self) -> bool:
        """True for a fixed (degenerate) input."""
        return self.family == "fixed"

    def param(self, name: str) -> float:
        """One natural parameter by name (``KeyError`` if the family has no such parameter)."""
        for k, v in self.params:
            if k == name:
                return v
        raise KeyError(name)

    # -- scipy equivalents ----------------------------------------------------------------------

    def scipy(self):
        """The equivalent frozen ``scipy.stats`` distribution.

        Returns
        -------
        scipy.stats.rv_frozen or rv_discrete
            For ``fixed`` a one-point ``scipy.stats.rv_discrete`` (scipy's continuous families
            reject a zero scale); its ``ppf``, ``cdf`` and ``mean`` behave as expected.
        """
        from scipy import stats

        p = dict(self.params)
        f = self.family
        if f == "fixed":
            return stats.rv_discrete(values=([p["value"]], [1.0]))
        if f == "uniform":
            return stats.uniform(loc=p["min"], scale=p["max"] - p["min"])
        if f == "normal":
            return stats.norm(loc=p["mean"], scale=p["sd"])
        if f == "lognormal":
            return stats.lognorm(s=p["sigma"], scale=math.exp(p["mu"]))
        if f == "triangular":
            w = p["max"] - p["min"]
            return stats.triang(c=(p["mode"] - p["min"]) / w, loc=p["min"], scale=w)
        if f in ("pert", "beta"):
            a, b = _beta_shapes(self)
            lo, hi = self.support()
            return stats.beta(a, b, loc=lo, scale=hi - lo)
        if f == "truncnormal":
            m, s = p["mean"], p["sd"]
            return stats.truncnorm((p["min"] - m) / s, (p["max"] - m) / s, loc=m, scale=s)
        raise AssertionError(f)

    def mean(self) -> float:
        """Mean (through scipy; the value for fixed)."""
        if self.is_fixed:
            return self.params[0][1]
        return float(self.scipy().mean())

    def quantile(self, q: float) -> float:
        """Quantile at level ``q`` through scipy (exact reference; the value for fixed)."""
        if self.is_fixed:
            return self.params[0][1]
        return float(self.scipy().ppf(q))

    def support(self) -> tuple[float, float]:
        """``(lo, hi)`` of the support, possibly infinite."""
        p = dict(self.params)
        f = self.family
        if f == "fixed":
            return (p["value"], p["value"])
        if f == "normal":
            return (-math.inf, math.inf)
        if f == "lognormal":
            return (0.0, math.inf)
        return (p["min"], p["max"])

    # -- the numba path -------------------------------------------------------------------------

    @functools.cached_property
    def _packed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return pack([self])

    def ppf(self, u: Any) -> np.ndarray:
        """Quantile function at uniforms ``u``, through the same numba code the kernel uses
        (its block path, which the tests hold bit for bit to the scalar ``sample_u``).

        Parameters
        ----------
        u : array_like
            Uniforms in (0, 1).

        Returns
        -------
        numpy.ndarray
            float64 array of ``u``'s shape.
        """
        return self._elementwise(B.ppf_block_many, u)

    def ppf_z(self, z: Any) -> np.ndarray:
        """Quantile function at normal scores ``z`` (``ppf(ndtr(z))`` without losing the upper
        tail), through the numba block path (bit for bit ``sample_z``).

        Parameters
        ----------
        z : array_like
            Normal scores.

        Returns
        -------
        numpy.ndarray
            float64 array of ``z``'s shape.
        """
        return self._elementwise(B.ppf_z_block_many, z)

    def _elementwise(self, kernel, x: Any) -> np.ndarray:
        """``kernel`` (``ppf_block_many`` or ``ppf_z_block_many``) applied to every value of
        ``x``, as a float64 array of ``x``'s shape."""
        codes, params, tables = self._packed
        xa = np.asarray(x, dtype=np.float64)
        out = np.empty(xa.size)
        kernel(codes[0], params[0], np.ascontiguousarray(xa.reshape(-1)), tables, out)
        return out.reshape(xa.shape)

    # -- sweeps ---------------------------------------------------------------------------------

    def replace(self, param: str, value: Any) -> Distribution:
        """A new distribution: the original spec with one key set, re-parsed and re-validated.

        If ``param`` belongs to a different parameterisation than the spec's (e.g. ``ci90`` on a
        spec given by ``mu``/``sigma``), the keys of the other parameterisation are dropped;
        optional keys (beta/truncnormal ``min``/``max``, pert ``lambda``) are kept.

        Parameters
        ----------
        param : str
            Spec key to set, e.g. ``"ci90"``, ``"mean"``, ``"mode"``; ``"value"`` for a fixed
            input given as a bare number; ``"dist"`` changes the family.
        value : object
            Its new value (a number, or a ``[lo, hi]`` pair for ``ciNN``).

        Returns
        -------
        Distribution
            A new one; this one is unchanged (distributions are immutable).

        Raises
        ------
        DistributionError
            If the resulting spec is invalid (the message names the key path).
        """
        spec = self.spec
        if not isinstance(spec, Mapping):
            if param == "value":
                return parse(self.key, value)
            raise DistributionError(
                f"{self.key}.{param}", "a fixed input given as a bare number has only 'value'",
                _show(value), "Replace 'value', or give the input as a table with dist = ...")
        new = dict(spec)
        family = new.get("dist")
        if param != "dist" and isinstance(family, str) and family in _FORMS:
            group = _group_of(family, param)
            if group is not None:
                for k in list(new):
                    g = _group_of(family, k) if k != "dist" else None
                    if g is not None and g != group:
                        del new[k]
        new[param] = value
        return parse(self.key, new)


# ---------------------------------------------------------------------------------------------
# parse
# ---------------------------------------------------------------------------------------------


def parse(key: str, spec: Any) -> Distribution:
    """Validate one config entry and convert it to a :class:`Distribution`.

    Parameters
    ----------
    key : str
        Key path used in error messages, e.g. ``"inputs.gpu_spend"``.
    spec : number or mapping
        What TOML gives: a number (a fixed value) or a table with ``dist`` and parameters.
        Accepted parameterisations (any one per spec; a quantile pair is ``ciNN = [lo, hi]``, the
        central NN% interval, or two percentile keys ``pNN = x`` such as ``p10``/``p90``,
        ``p5``/``p95`` or ``"p2.5"``/``"p97.5"``):

        ========== ===================================================================
        fixed      bare number; ``value``
        uniform    ``min, max``; quantile pair; ``mean, sd``
        normal     ``mean, sd``; quantile pair
        lognormal  ``mu, sigma`` (of log x); ``mean, sd`` (of x); quantile pair (> 0)
        triangular ``min, mode, max``
        pert       ``min, mode, max`` [, ``lambda`` = 4]
        beta       ``alpha, beta``; ``mean, sd``; quantile pair  [, ``min`` = 0, ``max`` = 1]
        truncnormal ``mean, sd`` of the parent normal, and ``min`` and/or ``max``
        ========== ===================================================================

    Returns
    -------
    Distribution

    Raises
    ------
    DistributionError
        Naming the key path, the rule, the value and the fix.
    """
    if isinstance(spec, Mapping):
        return _parse_table(key, spec)
    if _is_number(spec):
        x = _number(key, spec)
        return Distribution("fixed", (("value", x),), key, spec)
    what = "a boolean" if isinstance(spec, (bool, np.bool_)) else f"a {type(spec).__name__}"
    raise DistributionError(
        key, f"an input must be a number or a table with a 'dist' key, not {what}", _show(spec),
        'Write e.g. 150 or { dist = "lognormal", ci90 = [100, 200] }.')


def _parse_table(key: str, spec: Mapping) -> Distribution:
    families = list(FAMILIES)
    if "dist" not in spec:
        raise DistributionError(
            key, "a distribution table needs a 'dist' key", _show(dict(spec)),
            f"Add dist = one of: {', '.join(families)}.")
    family = spec["dist"]
    if not isinstance(family, str) or family not in FAMILIES:
        hint = _closest(family.lower(), families) if isinstance(family, str) else "."
        raise DistributionError(
            f"{key}.dist", "unknown distribution family", _show(family),
            f"Valid families: {', '.join(families)}{hint}")

    # 1. every key known for this family, 2. every value well typed and finite.
    valid = _valid_keys(family)
    values: dict[str, Any] = {}
    for name, v in spec.items():
        if name == "dist":
            continue
        path = f"{key}.{name}"
        if not isinstance(name, str) or (
            _group_of(family, name) is None and name not in _OPTIONAL.get(family, ())
        ):
            quant = ""
            if isinstance(name, str) and (_CI_RE.fullmatch(name) or _P_RE.fullmatch(name)):
                quant = f" (a {family} takes no quantile pair)"
            raise DistributionError(
                path, f"unknown parameter for a {family} distribution{quant}", _show(v),
                f"Valid keys for {family}: {', '.join(valid)}"
                f"{_closest(str(name), valid) if not quant else '.'}")
        group = _group_of(family, name)
        if group == _CI:
            values[name] = _pair(path, v)
        else:
            allow_inf = family == "truncnormal" and name in ("min", "max")
            values[name] = _number(path, v, allow_inf=allow_inf)

    # 3. exactly one complete parameterisation.
    groups: dict[str, list[str]] = {}
    for name in values:
        g = _group_of(family, name)
        if g is not None:
            groups.setdefault(g, []).append(name)
    if len(groups) > 1:
        parts = [_form_text(next(f for f in _FORMS[family] if f[0] == g)) if g not in (_CI, _PCT)
                 else "{" + ", ".join(ks) + "}" for g, ks in groups.items()]
        raise DistributionError(
            key, f"mixes two parameterisations of a {family}: {' and '.join(parts)}",
            _show(dict(spec)), f"Give exactly one of: {_forms_text(family)}.")
    if not groups:
        raise DistributionError(
            key, f"a {family} needs parameters", _show(dict(spec)),
            f"Give one of: {_forms_text(family)}.")
    (group, given), = groups.items()
    if group not in (_CI, _PCT):
        form = next(f for f in _FORMS[family] if f[0] == group)
        missing = [k for k in form if k not in values]
        if missing:
            raise DistributionError(
                key, f"a {family} given by {', '.join(given)} needs {', '.join(missing)} as well",
                _show(dict(spec)), f"Add {', '.join(missing)}, or use one of: "
                f"{_forms_text(family)}.")
    quantiles = _quantile_pair(key, family, group, given, values) if group in (_CI, _PCT) else None

    params = _BUILDERS[family](key, values, quantiles)
    # A private copy: replace() re-parses it, so later edits to the caller's dict must not leak.
    dist = Distribution(family, params, key, copy.deepcopy(dict(spec)))
    _check_representable(dist)
    return dist


def _check_representable(d: Distribution) -> None:
    """Refuse parameters whose derived sampling constants overflow float64.

    Every value may be finite while, say, a uniform's width ``max - min`` or a triangular's
    ``(max - min) * (mode - min)`` is not: the quantile function would then return inf or nan.
    """
    with np.errstate(all="ignore"):
        row = d._packed[1][0]  # cached: the loader's support check and ppf reuse it
    check = row.copy()
    if d.family == "truncnormal":
        check[2:4] = 0.0  # an absent bound is +-inf on purpose
    if not np.isfinite(check).all():
        raise DistributionError(
            d.key, f"this {d.family}'s parameters overflow float64 (a derived constant such as "
            "its width is infinite or not a number)", _show(dict(d.params)),
            "Use values of a sensible magnitude (amounts are in $B; 1e308 is the float64 limit).")
