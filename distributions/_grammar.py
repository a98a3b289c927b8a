"""The vocabulary of a distribution spec: family names and codes, the keys each family takes,
and the checks of single values, with :class:`DistributionError` for every refusal.

Dependency rule: numpy, numba and the stdlib only (never ``engine``).
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _kernels as K

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
