"""Parsing config specs into validated :class:`Distribution` objects, and packing them for numba.

Dependency rule: numpy, scipy, numba and the stdlib only (never ``engine``).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import special  # scipy.stats / scipy.optimize: imported where used (0.4 s+)

from . import _kernels as K
from ._tables import (
    LOG_PHI_Z,
    SHAPE_MAX,
    SHAPE_MIN,
    TABLE_KNOTS,
    TABLE_Z,
    beta_table,
    dummy_table,
)

NPAR = K.NPAR

#: Family name -> code used by the numba kernels.
FAMILIES: dict[str, int] = {
    "fixed": K.FIXED,
    "uniform": K.UNIFORM,
    "normal": K.NORMAL,
    "lognormal": K.LOGNORMAL,
    "triangular": K.TRIANGULAR,
    "pert": K.PERT,
    "beta": K.BETA,
    "truncnormal": K.TRUNCNORMAL,
}

# Smallest probability a truncnormal's interval may hold: below this its tail probabilities are
# denormal and the quantile function loses its precision.
_TRUNC_MIN_MASS = 1e-250


class DistributionError(ValueError):
    """An impossible distribution spec, reported as one human-readable line.

    ``str(e) == f"{key}: {rule} (got {value}). {fix}"``.

    Parameters
    ----------
    key : str
        Config key path of the offending entry, e.g. ``"inputs.gpu_spend.ci90"``.
    rule : str
        The rule that was broken, e.g. ``"a lognormal's quantiles must be > 0"``.
    value : str
        The offending value as text (usually its repr).
    fix : str
        What to write instead (valid choices, closest match).
    """

    def __init__(self, key: str, rule: str, value: str, fix: str) -> None:
        self.key = key
        self.rule = rule
        self.value = value
        self.fix = fix
        super().__init__(f"{key}: {rule} (got {value}). {fix}")

    def __reduce__(self):  # keep it picklable across process pools
        return (type(self), (self.key, self.rule, self.value, self.fix))


# ---------------------------------------------------------------------------------------------
# Family grammar
# ---------------------------------------------------------------------------------------------

# Quantile-pair keys.  ciNN = [lo, hi]: the central NN% interval (ci90 -> 5% and 95% quantiles).
# pNN = x: the NN-th percentile; one or two digits with an optional decimal part
# (p5, p05, p10, p2.5, p97.5, p99.9).  In TOML a key with a dot must be quoted: "p2.5" = 1.
_CI_RE = re.compile(r"ci(\d{1,2}(?:\.\d+)?)")
_P_RE = re.compile(r"p(\d{1,2}(?:\.\d+)?)")
_CI = "ci"  # group names for the two quantile-pair spellings
_PCT = "percentiles"
_Q_TEXT = "a quantile pair (ci90 = [lo, hi], or two percentiles such as p10 = lo, p90 = hi)"

# Per family: the alternative parameterisations (groups of keys that go together), and keys
# that are optional and combine with any of them.  A group named _CI / _PCT is a quantile pair.
_FORMS: dict[str, tuple[tuple[str, ...], ...]] = {
    "fixed": (("value",),),
    "uniform": (("min", "max"), (_CI,), (_PCT,), ("mean", "sd")),
    "normal": (("mean", "sd"), (_CI,), (_PCT,)),
    "lognormal": (("mu", "sigma"), ("mean", "sd"), (_CI,), (_PCT,)),
    "triangular": (("min", "mode", "max"),),
    "pert": (("min", "mode", "max"),),
    "beta": (("alpha", "beta"), ("mean", "sd"), (_CI,), (_PCT,)),
    "truncnormal": (("mean", "sd"),),
}
_OPTIONAL: dict[str, tuple[str, ...]] = {
    "pert": ("lambda",),
    "beta": ("min", "max"),
    "truncnormal": ("min", "max"),
}
_QUANTILE_FAMILIES = frozenset(f for f, forms in _FORMS.items() if (_CI,) in forms)


def _form_text(form: tuple[str, ...]) -> str:
    if form in ((_CI,), (_PCT,)):
        return _Q_TEXT
    return "{" + ", ".join(form) + "}"


def _forms_text(family: str) -> str:
    texts: list[str] = []
    for form in _FORMS[family]:
        t = _form_text(form)
        if t not in texts:
            texts.append(t)
    s = "; ".join(texts)
    opt = _OPTIONAL.get(family)
    if opt:
        s += f" (optional: {', '.join(opt)})"
    return s


def _valid_keys(family: str) -> list[str]:
    keys: list[str] = []
    for form in _FORMS[family]:
        for k in form:
            if k == _CI:
                k = "ciNN"
            elif k == _PCT:
                k = "pNN"
            if k not in keys:
                keys.append(k)
    keys.extend(k for k in _OPTIONAL.get(family, ()) if k not in keys)
    return keys


def _group_of(family: str, name: str) -> str | None:
    """The parameterisation group a key belongs to (the group's first key), or None when the key
    is optional or unknown for the family."""
    if family in _QUANTILE_FAMILIES:
        if _CI_RE.fullmatch(name):
            return _CI
        if _P_RE.fullmatch(name):
            return _PCT
    if name in _OPTIONAL.get(family, ()):
        return None
    for form in _FORMS[family]:
        if name in form and form[0] not in (_CI, _PCT):  # the sentinels are not key names
            return form[0]
    return None


# ---------------------------------------------------------------------------------------------
# Value helpers
# ---------------------------------------------------------------------------------------------


def _show(v: Any) -> str:
    """repr for messages, without numpy's ``np.float64(...)`` wrappers."""
    if isinstance(v, (bool, np.bool_)):
        return repr(bool(v))
    if isinstance(v, numbers.Integral):
        n = int(v)
        if n.bit_length() > 100:  # a 400-digit number: its first digits and its length
            text = str(abs(n))
            return f"{'-' if n < 0 else ''}{text[:12]}... ({len(text):,} digits)"
        return repr(n)
    if isinstance(v, numbers.Real):
        return repr(float(v))
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_show(x) for x in list(v)) + "]"
    return repr(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _number(path: str, v: Any, *, allow_inf: bool = False) -> float:
    if not _is_number(v):
        kind = "a boolean" if isinstance(v, (bool, np.bool_)) else type(v).__name__
        raise DistributionError(path, f"must be a number, not {kind}", _show(v),
                                "Write a plain number, e.g. 1.5.")
    try:
        x = float(v)
    except OverflowError:  # a whole number past float64's range (a 400-digit integer)
        raise DistributionError(path, "is too large: beyond float64's range (about 1.8e308)",
                                _show(v), "Write a number of a sensible magnitude (amounts are "
                                "in $B).") from None
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise DistributionError(path, "must be finite", _show(v),
                                "Write a finite number (nan and inf are not parameters).")
    return x


def _pair(path: str, v: Any) -> tuple[float, float]:
    if not isinstance(v, (list, tuple, np.ndarray)) or len(v) != 2:
        raise DistributionError(path, "must be a list of two numbers [lo, hi]", _show(v),
                                f"Write e.g. {path.rsplit('.', 1)[-1]} = [100, 200].")
    return _number(f"{path}[0]", v[0]), _number(f"{path}[1]", v[1])


def _level(name: str) -> float:
    """Percentile level of a pNN key, as a probability."""
    m = _P_RE.fullmatch(name)
    assert m is not None
    return float(m.group(1)) / 100.0


def _closest(word: str, options: Sequence[str]) -> str:
    m = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f"; did you mean {m[0]!r}?" if m else "."


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
        """Quantile function at uniforms ``u``, through the same numba code the kernel uses.

        Parameters
        ----------
        u : array_like
            Uniforms in (0, 1).

        Returns
        -------
        numpy.ndarray
            float64 array of ``u``'s shape.
        """
        codes, params, tables = self._packed
        ua = np.asarray(u, dtype=np.float64)
        out = np.empty(ua.size)
        K.ppf_u_many(codes[0], params[0], np.ascontiguousarray(ua.reshape(-1)), tables, out)
        return out.reshape(ua.shape)

    def ppf_z(self, z: Any) -> np.ndarray:
        """Quantile function at normal scores ``z`` (``ppf(ndtr(z))`` without losing the upper
        tail), through the numba ``sample_z``.

        Parameters
        ----------
        z : array_like
            Normal scores.

        Returns
        -------
        numpy.ndarray
            float64 array of ``z``'s shape.
        """
        codes, params, tables = self._packed
        za = np.asarray(z, dtype=np.float64)
        out = np.empty(za.size)
        K.ppf_z_many(codes[0], params[0], np.ascontiguousarray(za.reshape(-1)), tables, out)
        return out.reshape(za.shape)

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


def _quantile_pair(key: str, family: str, group: str, given: list[str],
                   values: dict[str, Any]) -> tuple[str, float, float, float, float]:
    """Returns (path, p_lo, x_lo, p_hi, x_hi) with p_lo < p_hi and x_lo < x_hi checked."""
    if group == _CI:
        if len(given) != 1:
            raise DistributionError(
                key, "give one central interval, not several", ", ".join(given),
                f"Keep one of {', '.join(given)} (it fixes two quantiles).")
        name = given[0]
        path = f"{key}.{name}"
        m = _CI_RE.fullmatch(name)
        assert m is not None
        level = float(m.group(1)) / 100.0
        if not 0.0 < level < 1.0:
            raise DistributionError(path, "a ciNN key needs a level strictly between 0 and 100",
                                    name, "Write e.g. ci90 = [lo, hi] (the 5% and 95% quantiles).")
        lo, hi = values[name]
        p_lo, p_hi = 0.5 - 0.5 * level, 0.5 + 0.5 * level
    else:
        for name in given:
            if not 0.0 < _level(name) < 1.0:
                raise DistributionError(
                    f"{key}.{name}", "a percentile key needs a level strictly between 0 and 100",
                    name, "Write e.g. p05 or p5 (5%), p95, or \"p2.5\".")
        if len(given) != 2:
            raise DistributionError(
                key, f"a quantile pair needs exactly two percentiles, {len(given)} given",
                ", ".join(given), "Give two, e.g. p10 = lo and p90 = hi.")
        a, b = sorted(given, key=_level)
        if _level(a) == _level(b):
            raise DistributionError(key, "the two percentiles name the same level",
                                    f"{a}, {b}", "Give two different levels, e.g. p10 and p90.")
        p_lo, lo, p_hi, hi = _level(a), values[a], _level(b), values[b]
        name = f"{a}/{b}"
        path = f"{key}.{b}"
    if not lo < hi:
        raise DistributionError(
            path, "the lower quantile must be < the upper quantile", f"{_show(lo)}, {_show(hi)}",
            "Give the quantile at the lower level first and make it smaller.")
    return path, p_lo, lo, p_hi, hi


# -- per-family builders: (key, values, quantiles) -> natural params -----------------------------


def _positive(path: str, name: str, x: float) -> None:
    if not x > 0.0:
        raise DistributionError(path, f"{name} must be > 0", _show(x), f"Give a positive {name}.")


def _build_fixed(key, v, q):
    return (("value", v["value"]),)


def _build_uniform(key, v, q):
    if q is not None:
        path, p1, x1, p2, x2 = q
        w = (x2 - x1) / (p2 - p1)
        lo = x1 - p1 * w
        return (("min", lo), ("max", lo + w))
    if "mean" in v:
        _positive(f"{key}.sd", "sd", v["sd"])
        w = v["sd"] * math.sqrt(12.0)
        return (("min", v["mean"] - 0.5 * w), ("max", v["mean"] + 0.5 * w))
    if not v["min"] < v["max"]:
        raise DistributionError(f"{key}.max", "a uniform needs min < max",
                                f"min={_show(v['min'])}, max={_show(v['max'])}",
                                "Make max larger than min (use a bare number for a fixed value).")
    return (("min", v["min"]), ("max", v["max"]))


def _build_normal(key, v, q):
    if q is not None:
        path, p1, x1, p2, x2 = q
        z1, z2 = float(special.ndtri(p1)), float(special.ndtri(p2))
        sd = (x2 - x1) / (z2 - z1)
        return (("mean", x1 - sd * z1), ("sd", sd))
    _positive(f"{key}.sd", "sd", v["sd"])
    return (("mean", v["mean"]), ("sd", v["sd"]))


def _build_lognormal(key, v, q):
    if q is not None:
        path, p1, x1, p2, x2 = q
        if not x1 > 0.0:
            raise DistributionError(path, "a lognormal's quantiles must be > 0",
                                    f"{_show(x1)}, {_show(x2)}",
                                    "Give positive bounds, or use a normal for a quantity that "
                                    "can be zero or negative.")
        z1, z2 = float(special.ndtri(p1)), float(special.ndtri(p2))
        l1, l2 = math.log(x1), math.log(x2)
        sigma = (l2 - l1) / (z2 - z1)
        return (("mu", l1 - sigma * z1), ("sigma", sigma))
    if "mean" in v:
        _positive(f"{key}.mean", "a lognormal's mean", v["mean"])
        _positive(f"{key}.sd", "sd", v["sd"])
        s2 = math.log1p((v["sd"] / v["mean"]) ** 2)
        return (("mu", math.log(v["mean"]) - 0.5 * s2), ("sigma", math.sqrt(s2)))
    _positive(f"{key}.sigma", "sigma", v["sigma"])
    return (("mu", v["mu"]), ("sigma", v["sigma"]))


def _min_mode_max(key, family, v):
    lo, c, hi = v["min"], v["mode"], v["max"]
    if not (lo <= c <= hi and lo < hi):
        raise DistributionError(
            key, f"a {family} needs min <= mode <= max and min < max",
            f"min={_show(lo)}, mode={_show(c)}, max={_show(hi)}",
            "Order the three values (use a bare number for a fixed value).")
    return lo, c, hi


def _build_triangular(key, v, q):
    lo, c, hi = _min_mode_max(key, "triangular", v)
    return (("min", lo), ("mode", c), ("max", hi))


def _check_shapes(key: str, family: str, a: float, b: float, how: str) -> None:
    if not (SHAPE_MIN <= a <= SHAPE_MAX and SHAPE_MIN <= b <= SHAPE_MAX):
        raise DistributionError(
            key, f"a {family}'s shape parameters must lie in [{SHAPE_MIN:g}, {SHAPE_MAX:g}] "
            "(the range where its tabulated quantile function is verified)",
            f"alpha={a:.6g}, beta={b:.6g}{how}",
            "Choose a less extreme spread (shapes below 0.1 put almost all mass on the bounds).")


def _build_pert(key, v, q):
    lo, c, hi = _min_mode_max(key, "pert", v)
    lam = v.get("lambda", 4.0)
    _positive(f"{key}.lambda", "lambda", lam)
    a = 1.0 + lam * (c - lo) / (hi - lo)
    b = 1.0 + lam * (hi - c) / (hi - lo)
    _check_shapes(f"{key}.lambda", "pert", a, b, f" from lambda={_show(lam)}")
    return (("min", lo), ("mode", c), ("max", hi), ("lambda", lam))


def _build_beta(key, v, q):
    lo, hi = v.get("min", 0.0), v.get("max", 1.0)
    if not lo < hi:
        raise DistributionError(f"{key}.max", "a beta needs min < max",
                                f"min={_show(lo)}, max={_show(hi)}", "Make max larger than min.")
    w = hi - lo
    if q is not None:
        path, p1, x1, p2, x2 = q
        if not (lo < x1 and x2 < hi):
            raise DistributionError(
                path, f"a beta's quantiles must lie strictly inside (min, max) = "
                f"({_show(lo)}, {_show(hi)})", f"{_show(x1)}, {_show(x2)}",
                "Move the quantiles inside the support, or widen min/max.")
        a, b = _fit_beta(path, p1, (x1 - lo) / w, p2, (x2 - lo) / w)
        how = " (fitted to the quantiles)"
    elif "mean" in v:
        mean, sd = v["mean"], v["sd"]
        _positive(f"{key}.sd", "sd", sd)
        m, s = (mean - lo) / w, sd / w
        if not 0.0 < m < 1.0:
            raise DistributionError(
                f"{key}.mean", "a beta's mean must lie strictly between min and max",
                f"mean={_show(mean)}, min={_show(lo)}, max={_show(hi)}",
                "Move the mean inside (min, max), or set min/max.")
        if not s * s < m * (1.0 - m):
            raise DistributionError(
                f"{key}.sd", "a beta needs sd^2 < (mean - min) * (max - mean)",
                f"sd={_show(sd)}, limit sqrt((mean-min)(max-mean))="
                f"{math.sqrt((mean - lo) * (hi - mean)):.6g}",
                "Give a smaller sd (or a wider min/max).")
        # s * s underflows to 0 for a vanishing sd: infinite shapes, refused just below.
        nu = m * (1.0 - m) / (s * s) - 1.0 if s * s > 0.0 else math.inf
        a, b = m * nu, (1.0 - m) * nu
        how = " (from mean and sd)"
    else:
        a, b = v["alpha"], v["beta"]
        _positive(f"{key}.alpha", "alpha", a)
        _positive(f"{key}.beta", "beta", b)
        how = ""
    _check_shapes(key, "beta", a, b, how)
    return (("alpha", a), ("beta", b), ("min", lo), ("max", hi))


def _fit_beta(path: str, p1: float, q1: float, p2: float, q2: float) -> tuple[float, float]:
    """Shapes (a, b) of the Beta on [0, 1] with quantile q1 at level p1 and q2 at p2.

    Solves for (log a, log b) with normal-score residuals (well scaled at any level), from a
    moment-matched logit-normal guess and then a few fixed starts; accepts only a solution that
    reproduces both levels to 1e-12.
    """
    from scipy import optimize

    z = np.array([special.ndtri(p1), special.ndtri(p2)])
    qs = np.array([q1, q2])
    lo_t, hi_t = math.log(SHAPE_MIN) - 2.0, math.log(SHAPE_MAX) + 2.0

    def resid(t):
        a, b = np.exp(np.clip(t, lo_t, hi_t))
        return special.ndtri(np.clip(special.betainc(a, b, qs), 1e-300, 1.0 - 1e-16)) - z

    starts = []
    with np.errstate(all="ignore"):
        # The logit-normal through the two points, moment-matched to a beta.
        l1, l2 = special.logit(q1), special.logit(q2)
        s = (l2 - l1) / (z[1] - z[0])
        m = float(special.expit(l1 - s * z[0]))
        nu = 1.0 / (m * (1.0 - m) * s * s) - 1.0
        if math.isfinite(nu) and nu > 0.0 and 0.0 < m < 1.0:
            starts.append(np.log([m * nu, (1.0 - m) * nu]))
        starts += [np.log(ab) for ab in ((1, 1), (0.3, 0.3), (3, 3), (0.5, 5), (5, 0.5), (30, 30))]
        for t0 in starts:
            sol = optimize.root(resid, np.clip(t0, lo_t, hi_t), method="hybr",
                                options={"xtol": 1e-14})
            a, b = (float(x) for x in np.exp(np.clip(sol.x, lo_t, hi_t)))
            got = special.betainc(a, b, qs)
            if np.all(np.abs(got - [p1, p2]) <= 1e-12):
                return a, b
    raise DistributionError(
        path, f"no beta distribution with shapes in [{SHAPE_MIN:g}, {SHAPE_MAX:g}] has these "
        "quantiles", f"{q1:.6g}, {q2:.6g} on [0, 1]",
        "Give less extreme quantiles, or use {alpha, beta} or {mean, sd} instead.")


def _build_truncnormal(key, v, q):
    mean, sd = v["mean"], v["sd"]
    _positive(f"{key}.sd", "sd", sd)
    lo, hi = v.get("min", -math.inf), v.get("max", math.inf)
    if lo == math.inf or hi == -math.inf:
        bad, sign = ("min", "+") if lo == math.inf else ("max", "-")
        raise DistributionError(f"{key}.{bad}", f"{bad} cannot be {sign}inf", _show(v[bad]),
                                "Give a finite bound, or leave it out for an open side.")
    if math.isinf(lo) and math.isinf(hi):
        raise DistributionError(
            key, "a truncnormal needs at least one finite bound (min or max)",
            f"min={_show(lo)}, max={_show(hi)}", "Add min and/or max, or use dist = \"normal\".")
    if not lo < hi:
        raise DistributionError(f"{key}.max", "a truncnormal needs min < max",
                                f"min={_show(lo)}, max={_show(hi)}", "Make max larger than min.")
    if _trunc_constants(mean, sd, lo, hi)[2] < _TRUNC_MIN_MASS:
        raise DistributionError(
            key, "the truncation interval holds almost no probability under the parent normal",
            f"[{(lo - mean) / sd:.4g}, {(hi - mean) / sd:.4g}] sd from the mean",
            "Move min/max towards the mean or increase sd (mean and sd are the parent's).")
    return (("mean", mean), ("sd", sd), ("min", lo), ("max", hi))


def _trunc_constants(mean: float, sd: float, lo: float, hi: float) -> tuple[float, float, float]:
    """(Phi(a), Phi(-b), mass) for standardised bounds a, b; mass from the accurate tails."""
    a, b = (lo - mean) / sd, (hi - mean) / sd
    pa, qb = float(special.ndtr(a)), float(special.ndtr(-b))
    if a > 0.0:
        mass = float(special.ndtr(-a)) - qb
    elif b < 0.0:
        mass = float(special.ndtr(b)) - pa
    else:
        mass = 1.0 - pa - qb
    return pa, qb, mass


_BUILDERS = {
    "fixed": _build_fixed,
    "uniform": _build_uniform,
    "normal": _build_normal,
    "lognormal": _build_lognormal,
    "triangular": _build_triangular,
    "pert": _build_pert,
    "beta": _build_beta,
    "truncnormal": _build_truncnormal,
}


# ---------------------------------------------------------------------------------------------
# pack
# ---------------------------------------------------------------------------------------------


def _beta_shapes(d: Distribution) -> tuple[float, float]:
    p = dict(d.params)
    if d.family == "beta":
        return p["alpha"], p["beta"]
    w = p["max"] - p["min"]
    return (1.0 + p["lambda"] * (p["mode"] - p["min"]) / w,
            1.0 + p["lambda"] * (p["max"] - p["mode"]) / w)


def pack(dists: Sequence[Distribution]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten distributions into the arrays the numba kernels read.

    Parameters
    ----------
    dists : sequence of Distribution

    Returns
    -------
    codes : numpy.ndarray
        int64[n], family codes (:data:`FAMILIES`).
    params : numpy.ndarray
        float64[n, NPAR], one packed row per distribution (layout in ``_kernels``), with
        sampling constants precomputed (truncnormal tail probabilities, beta/PERT table row).
    tables : numpy.ndarray
        float64[n_tab, TABLE_KNOTS + 2, 2], C-contiguous, one row per distinct beta/PERT shape
        pair (knots, then tail coefficients); a single zero row when there is none.  Pass the
        whole array to ``sample_u``/``sample_z``.
    """
    n = len(dists)
    codes = np.empty(n, dtype=np.int64)
    params = np.zeros((n, NPAR))
    rows: dict[tuple[float, float], int] = {}
    for j, d in enumerate(dists):
        codes[j] = FAMILIES[d.family]
        p = dict(d.params)
        r = params[j]
        f = d.family
        if f == "fixed":
            r[0] = p["value"]
        elif f == "uniform":
            r[:3] = p["min"], p["max"], p["max"] - p["min"]
        elif f == "normal":
            r[:2] = p["mean"], p["sd"]
        elif f == "lognormal":
            r[:2] = p["mu"], p["sigma"]
        elif f == "triangular":
            lo, c, hi = p["min"], p["mode"], p["max"]
            r[:6] = lo, c, hi, (c - lo) / (hi - lo), (hi - lo) * (c - lo), (hi - lo) * (hi - c)
        elif f in ("pert", "beta"):
            shapes = _beta_shapes(d)
            row = rows.setdefault(shapes, len(rows))
            lo, hi = d.support()
            r[:7] = (lo, hi, hi - lo, float(row), TABLE_Z,
                     (TABLE_KNOTS - 1) / (2.0 * TABLE_Z), LOG_PHI_Z)
        elif f == "truncnormal":
            pa, qb, mass = _trunc_constants(p["mean"], p["sd"], p["min"], p["max"])
            r[:7] = p["mean"], p["sd"], p["min"], p["max"], pa, qb, mass
        else:  # pragma: no cover - parse() admits no other family
            raise AssertionError(f)
    if rows:
        tables = np.stack([beta_table(a, b) for a, b in rows])
    else:
        tables = dummy_table()[None]
    return codes, params, tables
