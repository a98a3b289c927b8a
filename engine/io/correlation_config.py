"""The ``[correlation]`` section: Spearman rank correlations between a scenario's inputs.

The public format (docs/configs.md)::

    [correlation]
    groups = [{ members = "revenue", rho = 0.5 }]              # every pair of companies
    pairs = [{ between = ["gpu_spend", "Microsoft"], rho = 0.3 },
             { between = ["margin", "revenue"], rho = 0.2 }]   # margin with every company
    names = ["gpu_spend", "margin"]                            # optional full form
    matrix = [[1, 0.4], [0.4, 1]]

A name is, in this order: an input (``margin``, ``revenue.Microsoft``, ``gpu_spend.2026``), a
company (``Microsoft``: its revenue, every year of it in the vintage model), or a prefix
(``revenue``: every ``revenue.*`` input; ``revenue_growth``: every growth rate). Fixed inputs
have no randomness and are left out of an expansion; a name that leaves nothing is an error.
The matrix is built as :func:`engine.core.copula.spearman_matrix` builds it (full form, then
groups, then pairs); one that is not positive semi-definite on the copula's normal scale is an
error unless the run repairs it (``--repair-correlation``).
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.base.errors import ConfigError, Shown
from engine.base.names import clean_name
from engine.core import copula
from engine.core.scenario import Correlation, CorrelationGroup, CorrelationPair, Scenario
from engine.io.toml_checks import _check_keys, _table

#: Most inputs one [correlation] section may correlate: the copula's factor has their square.
MAX_CORRELATED = 2000
#: Largest matrix whose nearest valid version is computed (Higham) for a message ...
_NEAREST_LIMIT = 100
#: ... and written out in full, ready to paste.
_PASTE_LIMIT = 20
#: Most names listed in an "unknown name" message.
_LIST_LIMIT = 40

_KEYS = ("groups", "pairs", "names", "matrix")
_GROUP_KEYS = ("members", "rho")
_PAIR_KEYS = ("between", "rho")
_RHO_FIX = "Give a Spearman rank correlation from -1 to 1, e.g. rho = 0.5."


def read_correlation(source: str, table: Any, scenario: Scenario, *,
                     repair: bool = False) -> Correlation | None:
    """The validated ``[correlation]`` table of `scenario`, or None when it correlates nothing.

    `table` is the raw ``[correlation]`` value (`source` names the file in messages); names
    resolve against `scenario`'s inputs. With `repair` (``--repair-correlation``) a matrix that
    is not positive semi-definite is kept, with ``repair=True`` (the run uses the nearest valid
    one); without it, it is a :class:`ConfigError`, as is any other broken rule.
    """
    table = _table(source, "correlation", table)
    _check_keys(source, "correlation", table, _KEYS)
    names = _Names(source, scenario)
    full_names, matrix = _full_form(source, table, names)
    groups = tuple(_group(source, f"correlation.groups[{i}]", g, names)
                   for i, g in enumerate(_list(source, "correlation.groups", table, "groups")))
    pairs = tuple(_pair(source, f"correlation.pairs[{i}]", p, names)
                  for i, p in enumerate(_list(source, "correlation.pairs", table, "pairs")))
    corr = Correlation(groups=groups, pairs=pairs, names=full_names, matrix=matrix,
                       repair=repair)
    if corr.is_empty:
        return None
    involved = set(full_names).union(*(g.members for g in groups),
                                     *(p.a + p.b for p in pairs))
    if len(involved) > MAX_CORRELATED:
        raise ConfigError(source, "correlation", f"correlates {len(involved):,} inputs, more "
                          f"than the limit of {MAX_CORRELATED:,}", None,
                          "Correlate fewer inputs (group the smaller companies into one entry, "
                          "or name the years that matter).")
    order = [item.name for item in scenario.all_inputs if item.name in involved]
    _check_pairs_once(source, pairs, order)
    if not repair:
        check_psd(source, corr, order)
    return corr


def check_psd(source: str, corr: Correlation, names: list[str]) -> None:
    """Refuse `corr` over the inputs `names` unless its Pearson matrix (the copula's normal
    scale) is positive semi-definite; the message gives the smallest eigenvalue, the pairs
    that conflict most and, for a small matrix, the nearest valid one as a full form."""
    asked = copula.spearman_matrix(corr, names)
    r = copula.pearson_from_spearman(asked)
    if copula.is_psd(r):
        return
    rule = ("is not positive semi-definite once converted to the copula's normal scale "
            f"(smallest eigenvalue {copula.min_eigenvalue(r):.4g})")
    fix = ("Lower the correlations that conflict (for a group of n inputs, rho >= -1/(n-1) "
           "roughly), or run with --repair-correlation to use the nearest valid matrix "
           "(Higham).")
    nearest = None
    if len(names) <= _NEAREST_LIMIT:
        try:
            nearest = copula.nearest_correlation(r)
        except RuntimeError:
            nearest = None
    if nearest is not None:
        paste = _pasteable(nearest)
        shown = [f"{names[i]} ~ {names[j]} (asked {asked[i, j]:g}, nearest "
                 f"{_num(paste[i, j])})" for i, j, _ in copula.conflicting_pairs(r, nearest)]
        rule += f"; the pairs that conflict most: {', '.join(shown)}"
        if len(names) <= _PASTE_LIMIT:
            rows = ", ".join("[" + ", ".join(_num(v) for v in row) + "]" for row in paste)
            fix = ("Use these values, the nearest valid matrix (Higham), or run with "
                   "--repair-correlation: names = ["
                   + ", ".join(json.dumps(n, ensure_ascii=False) for n in names)
                   + f"] and matrix = [{rows}] (two lines under [correlation], in place of "
                   "its groups and pairs).")
        else:
            fix = (f"Use these values or run with --repair-correlation (the nearest valid "
                   f"matrix, Higham, over {len(names)} inputs is too large to show here).")
    raise ConfigError(source, "correlation", rule, None, fix)


# --------------------------------------------------------------------------- names


class _Names:
    """Resolves the config's words to the scenario's random inputs."""

    def __init__(self, source: str, scenario: Scenario) -> None:
        self.source = source
        self.inputs = {item.name: item for item in scenario.all_inputs}
        if scenario.vintage is not None:  # a company's levels by year (its growth is its own)
            series = {s.name: s.levels for s in scenario.vintage.revenue}
        else:
            series = {item.name: (item.name,) for item in scenario.revenue}
        self.companies = {name[len("revenue."):]: levels for name, levels in series.items()}

    def resolve(self, key: str, raw: Any) -> tuple[str, ...]:
        """The random inputs `raw` names (at `key`), in the scenario's order."""
        name = clean_name(self.source, key, raw, "an input or company name")
        matched = self._match(name)
        if not matched:
            words = self._words()
            close = difflib.get_close_matches(name, words, n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            more = (f", ... ({len(words) - _LIST_LIMIT:,} more)" if len(words) > _LIST_LIMIT
                    else "")
            raise ConfigError(self.source, key, "names no input or company of this scenario",
                              name, f"Names here: {', '.join(words[:_LIST_LIMIT])}{more}.{hint}")
        random = tuple(n for n in matched if not self.inputs[n].dist.is_fixed)
        if not random:
            fixed = [(n, self.inputs[n].dist.param("value")) for n in matched]
            if len(fixed) == 1:
                what = f"{name} is the fixed number {fixed[0][1]:g} here"
            else:
                values = ", ".join(f"{n} = {v:g}" for n, v in fixed[:6])
                what = (f"{name} names only fixed numbers here ({values}"
                        f"{', ...' if len(fixed) > 6 else ''})")
            raise ConfigError(self.source, key, f"{what}; correlation needs a distribution",
                              None, f"Give {fixed[0][0]} a distribution (e.g. {{ dist = "
                              "\"lognormal\", ci90 = [lo, hi] }), or leave it out of "
                              "[correlation]: a fixed number has no randomness to correlate.")
        return random

    def _match(self, name: str) -> tuple[str, ...]:
        if name in self.inputs:
            return (name,)
        company = name.removeprefix("revenue.")
        if company in self.companies:
            return self.companies[company]
        return tuple(n for n in self.inputs if n.startswith(name + "."))

    def _words(self) -> list[str]:
        """Every name that resolves: prefixes, companies, inputs."""
        prefixes = [n[:i] for n in self.inputs for i, ch in enumerate(n) if ch == "."]
        return list(dict.fromkeys(prefixes + list(self.companies) + list(self.inputs)))


# --------------------------------------------------------------------------- entries


def _list(source: str, key: str, table: Mapping[str, Any], name: str) -> list[Any]:
    value = table.get(name, [])
    if not isinstance(value, list):
        example = ('{ members = "revenue", rho = 0.5 }' if name == "groups" else
                   '{ between = ["gpu_spend", "Microsoft"], rho = 0.3 }')
        raise ConfigError(source, key, "must be a list of tables", value,
                          f"Write {name} = [{example}, ...].")
    return value


def _entry(source: str, key: str, value: Any, keys: tuple[str, ...], example: str
           ) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(source, key, "must be a table", value, f"Write it as {example}.")
    _check_keys(source, key, value, keys)
    for k in keys:
        if k not in value:
            raise ConfigError(source, f"{key}.{k}", "is required", None,
                              f"Write the entry as {example}.")
    return value


def _rho(source: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(source, key, "must be a number from -1 to 1", value, _RHO_FIX)
    if not (math.isfinite(value) and abs(value) <= 1):
        raise ConfigError(source, key, "must be a number from -1 to 1 (a rank correlation)",
                          value, _RHO_FIX)
    return float(value)


def _group(source: str, key: str, value: Any, names: _Names) -> CorrelationGroup:
    entry = _entry(source, key, value, _GROUP_KEYS, '{ members = "revenue", rho = 0.5 }')
    rho = _rho(source, f"{key}.rho", entry["rho"])
    raw = entry["members"]
    if isinstance(raw, str):
        members = names.resolve(f"{key}.members", raw)
    elif isinstance(raw, list) and raw:
        members = tuple(dict.fromkeys(
            n for j, x in enumerate(raw) for n in names.resolve(f"{key}.members[{j}]", x)))
    else:
        raise ConfigError(source, f"{key}.members", "must be a list of input or company names, "
                          "or \"revenue\"", raw, 'Write e.g. members = ["Microsoft", "OpenAI"].')
    if len(members) < 2:
        raise ConfigError(source, f"{key}.members", f"gives one random input once expanded "
                          f"({members[0]}); a group needs at least two", raw,
                          "Add members, or use pairs for one input with others.")
    return CorrelationGroup(members=members, rho=rho, key=key)


def _pair(source: str, key: str, value: Any, names: _Names) -> CorrelationPair:
    entry = _entry(source, key, value, _PAIR_KEYS,
                   '{ between = ["gpu_spend", "Microsoft"], rho = 0.3 }')
    rho = _rho(source, f"{key}.rho", entry["rho"])
    between = entry["between"]
    if not isinstance(between, list) or len(between) != 2:
        raise ConfigError(source, f"{key}.between", "must be a list of exactly two names",
                          between, 'Write e.g. between = ["gpu_spend", "Microsoft"].')
    a = names.resolve(f"{key}.between[0]", between[0])
    b = names.resolve(f"{key}.between[1]", between[1])
    if len(a) == 1 and a == b:
        raise ConfigError(source, f"{key}.between", f"pairs the input {a[0]} with itself",
                          between, "Name two different inputs (an input's rank correlation "
                          "with itself is always 1).")
    return CorrelationPair(a=a, b=b, rho=rho, key=key)


def _check_pairs_once(source: str, pairs: tuple[CorrelationPair, ...], order: list[str]
                      ) -> None:
    """Refuse two entries of ``pairs`` that give the same unordered pair of inputs."""
    if len(pairs) < 2:
        return
    index = {name: i for i, name in enumerate(order)}
    owner = np.full((len(order), len(order)), -1, dtype=np.int32)
    for p, pair in enumerate(pairs):
        ia = np.array([index[n] for n in pair.a])
        ib = np.array([index[n] for n in pair.b])
        block = owner[np.ix_(ia, ib)]
        hits = np.argwhere((block >= 0) & (ia[:, None] != ib[None, :]))
        if len(hits):
            x, y = hits[0]
            first = pairs[int(block[x, y])]
            raise ConfigError(source, pair.key, f"gives the pair {pair.a[x]} ~ {pair.b[y]} "
                              f"that {first.key} already gives", None,
                              "Give each pair once: remove it from one of the two (a pair "
                              "overrides a group, not another pair).")
        owner[np.ix_(ia, ib)] = p
        owner[np.ix_(ib, ia)] = p


# --------------------------------------------------------------------------- full form


def _full_form(source: str, table: Mapping[str, Any], names: _Names
               ) -> tuple[tuple[str, ...], tuple[tuple[float, ...], ...]]:
    if "names" not in table and "matrix" not in table:
        return (), ()
    example = 'names = ["gpu_spend", "margin"] and matrix = [[1, 0.4], [0.4, 1]]'
    for have, need in (("names", "matrix"), ("matrix", "names")):
        if need not in table:
            raise ConfigError(source, f"correlation.{need}", f"is required with "
                              f"correlation.{have} (the full form)", None, f"Give both: {example}.")
    raw = table["names"]
    if not isinstance(raw, list) or len(raw) < 2:
        raise ConfigError(source, "correlation.names", "must be a list of at least two input "
                          "names", raw, f"Write e.g. {example}.")
    resolved: list[str] = []
    where: dict[str, int] = {}
    for i, x in enumerate(raw):
        key = f"correlation.names[{i}]"
        got = names.resolve(key, x)
        if len(got) != 1:
            listed = ", ".join(got[:6]) + (", ..." if len(got) > 6 else "")
            raise ConfigError(source, key, f"names {len(got)} random inputs ({listed}); the "
                              "full form needs one input per name", x,
                              "Name single inputs (e.g. revenue.Microsoft), or use groups and "
                              "pairs for sets of inputs.")
        if got[0] in where:
            raise ConfigError(source, key, f"is the same input as correlation.names"
                              f"[{where[got[0]]}] ({got[0]})", x, "Give each input once.")
        where[got[0]] = i
        resolved.append(got[0])
    n = len(resolved)
    rows = table["matrix"]
    if not isinstance(rows, list) or len(rows) != n:
        raise ConfigError(source, "correlation.matrix", f"must be a square matrix of {n} rows "
                          f"(one per name)", Shown(f"{len(rows)} rows") if isinstance(rows, list)
                          else rows, f"Write {n} rows of {n} numbers, e.g. {example}.")
    out: list[list[float]] = []
    for i, row in enumerate(rows):
        key = f"correlation.matrix[{i}]"
        if not isinstance(row, list) or len(row) != n:
            raise ConfigError(source, key, f"must be a row of {n} numbers (one per name)",
                              Shown(f"{len(row)} numbers") if isinstance(row, list) else row,
                              f"Write {n} rows of {n} numbers, e.g. {example}.")
        out.append([_rho(source, f"{key}[{j}]", v) for j, v in enumerate(row)])
    for i in range(n):
        if out[i][i] != 1.0:
            raise ConfigError(source, f"correlation.matrix[{i}][{i}]", "must be 1 (an input's "
                              "rank correlation with itself)", rows[i][i], "Write 1 on the diagonal.")
        for j in range(i):
            if out[i][j] != out[j][i]:
                raise ConfigError(source, f"correlation.matrix[{i}][{j}]", "must equal "
                                  f"correlation.matrix[{j}][{i}] (the matrix is symmetric)",
                                  rows[i][j], f"Write the same value at both places (matrix"
                                  f"[{j}][{i}] is {rows[j][i]}).")
    return tuple(resolved), tuple(tuple(row) for row in out)


def _pasteable(nearest: np.ndarray) -> np.ndarray:
    """The Spearman version of the Pearson matrix `nearest`, rounded to 4 decimals and, where
    rounding pushed it off the PSD cone, shrunk towards the identity until it is back on it."""
    spearman = copula.spearman_from_pearson(nearest)
    shrink = 0.0
    while True:
        m = np.round(spearman * (1.0 - shrink), 4)
        m = np.triu(m, 1)
        m = m + m.T + np.eye(len(m))
        if shrink >= 1.0 or copula.min_eigenvalue(copula.pearson_from_spearman(m)) >= 0.0:
            return m
        shrink = min(1.0, 2.0 * shrink if shrink else 1e-4)


def _num(v: float) -> str:
    """``0.5812``, ``1``, ``0``: at most 4 decimals, no trailing zeros (valid TOML)."""
    s = f"{v:.4f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s
