"""``--set KEY=VALUE``: one value of a loaded scenario changed for one run.

KEY uses the sweep key syntax (:func:`engine.analyses.grid.pin`): ``margin`` pins an input,
``margin.mode`` replaces one parameter of its distribution, ``revenue.OpenAI.ci90`` takes a
``[lo, hi]`` pair, ``correlation.groups.0.rho`` sets a rank correlation; ``scenario.trials`` and
``scenario.seed`` change the run's defaults. VALUE is read as a TOML value (``0.55``, ``[5, 10]``,
``"text"``). Every mistake is a :class:`~engine.base.errors.ConfigError` naming ``--set KEY``,
the rule, the value and the fix (exit code 2 on the command line).

The overrides are not part of the config's text: the command line records them in the
result's ``overrides`` attribute (a JSON list of ``KEY=VALUE``) and in its text output.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from typing import Any, Sequence

from engine.analyses import corr_sweep
# _resolve: the key -> input rule pin applies; _CI_PARAM: the parameters taking [lo, hi]
from engine.analyses.grid import _CI_PARAM, _resolve, pin
from engine.base.errors import ConfigError, Shown
from engine.core.scenario import Scenario
from engine.io.toml_checks import _int

#: ``scenario.<key>`` values --set may change, with their ranges (as the config checks them).
SCENARIO_KEYS = {"scenario.trials": (1, 2**53, "Give a whole number of trials such as 100_000."),
                 "scenario.seed": (0, 2**64 - 1, "Give a whole number between 0 and 2**64 - 1.")}
_EXAMPLES = ("--set margin=0.55, --set margin.mode=0.55, --set 'revenue.OpenAI.ci90=[5, 10]', "
             "--set scenario.trials=100_000")


@dataclass(frozen=True)
class Override:
    """One parsed ``--set``.

    Attributes
    ----------
    key : str
        The key as given (NFC, stripped), e.g. ``margin.mode``.
    value : object
        The TOML value: an int, a float, a string, a list...
    text : str
        ``KEY=VALUE`` as recorded in the result's provenance (VALUE as typed, stripped).
    """

    key: str
    value: Any
    text: str


def parse_override(arg: str) -> Override:
    """Read one ``KEY=VALUE`` argument of ``--set``.

    Raises
    ------
    ConfigError
        No ``=``, an empty key, or a VALUE that is not one TOML value.
    """
    key, eq, raw = arg.partition("=")
    key = unicodedata.normalize("NFC", key).strip()
    raw = raw.strip()
    if not eq or not key:
        raise ConfigError(None, "--set", "must be KEY=VALUE", Shown(repr(arg)),
                          f"For example {_EXAMPLES}.")
    fix = ("Write a number (0.55), a list ([5, 10]) or a quoted string ('\"text\"'), as in a "
           "TOML file.")
    if not raw:
        raise ConfigError(None, f"--set {key}", "has no value after `=`", None, fix)
    try:
        # One line only: a newline would let VALUE add keys of its own to the document.
        doc = tomllib.loads(f"v = {raw}") if "\n" not in raw and "\r" not in raw else None
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        doc = None
    if doc is None or set(doc) != {"v"}:
        raise ConfigError(None, f"--set {key}", "is not a TOML value", raw, fix)
    return Override(key=key, value=doc["v"], text=f"{key}={raw}")


def apply_overrides(scenario: Scenario, args: Sequence[str]) -> tuple[Scenario, list[str]]:
    """The scenario with every ``--set KEY=VALUE`` of `args` applied, and their texts.

    Parameters
    ----------
    scenario : Scenario
        As loaded (the correlation flags already applied).
    args : sequence of str
        The ``--set`` arguments, in order.

    Returns
    -------
    (Scenario, list of str)
        The changed scenario (same name, source and text: the overrides are provenance of the
        run, recorded by the caller) and ``["KEY=VALUE", ...]``.

    Raises
    ------
    ConfigError
        Naming ``--set KEY``: a key that is no input, parameter or scenario key (the valid keys
        listed, with the closest), a key given twice or two keys changing one input both ways,
        or a value the key does not admit.
    """
    overrides = [parse_override(a) for a in args]
    groups: dict[str, list[Override]] = {}
    for o in overrides:
        if o.key in SCENARIO_KEYS:
            name = o.key
        else:
            try:
                name, param = _resolve(scenario, scenario.source, o.key)
            except ConfigError as exc:
                if exc.rule == "unknown input":
                    raise _unknown(scenario, o.key) from None
                raise _renamed(exc, [o]) from None
            if param != "dist":  # the family: pin says it cannot be changed
                _check_value(o, param is not None and _CI_PARAM.fullmatch(param) is not None)
        for other in groups.get(name, []):
            if other.key == o.key:
                raise ConfigError(None, f"--set {o.key}", "is given twice", None,
                                  "Give each key once.")
            if name != corr_sweep.NAME and (other.key == name or o.key == name):
                raise ConfigError(None, f"--set {o.key}", f"conflicts with --set {other.key}: "
                                  f"both change {name}", None,
                                  "Pin the input or set its parameters, not both.")
        groups.setdefault(name, []).append(o)
    for name, group in groups.items():
        if name in SCENARIO_KEYS:
            lo, hi, fix = SCENARIO_KEYS[name]
            value = _int(None, f"--set {name}", group[0].value, lo=lo, hi=hi, fix=fix)
            scenario = dataclasses.replace(scenario, **{name.split(".", 1)[1]: value})
            continue
        try:
            # One call per input: parameters of one distribution (margin.min and margin.max)
            # are validated together, never in a half-changed state.
            scenario = pin(scenario, {o.key: o.value for o in group})
        except ConfigError as exc:
            raise _renamed(exc, group) from None
    return scenario, [o.text for o in overrides]


def valid_keys(scenario: Scenario) -> list[str]:
    """The keys --set takes on `scenario` (an input; its parameters are ``input.param``)."""
    keys = [i.name for i in scenario.all_inputs] + list(SCENARIO_KEYS)
    corr = scenario.correlation
    if corr is not None and not corr.is_empty:
        keys += [f"correlation.groups.{i}.rho" for i in range(len(corr.groups))]
        keys += [f"correlation.pairs.{i}.rho" for i in range(len(corr.pairs))]
    return keys


def _unknown(scenario: Scenario, key: str) -> ConfigError:
    keys = valid_keys(scenario)
    head = key.removeprefix("inputs.")
    close = difflib.get_close_matches(head, keys, n=1, cutoff=0.8)
    for i in [i for i, c in enumerate(head) if c == "."] if not close else []:
        # a parameter of a misspelt input: margn.mode -> margin.mode
        hit = difflib.get_close_matches(head[:i], keys, n=1, cutoff=0.8)
        if hit:
            close = [f"{hit[0]}{head[i:]}"]
            break
    close = close or difflib.get_close_matches(head, keys, n=1, cutoff=0.6)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return ConfigError(None, f"--set {key}", "unknown key", None,
                       "KEY is an input (pinned to VALUE), `input.parameter` (one parameter of "
                       f"its distribution, e.g. margin.mode) or a scenario key; valid keys here: "
                       f"{', '.join(keys)}.{hint}")


def _check_value(o: Override, pair: bool) -> None:
    """A finite number, or a ``[lo, hi]`` pair of them for a ``ciNN`` parameter (the sweep
    code checks the same, but its messages speak of lists of values)."""
    def number(v: Any) -> bool:
        return (not isinstance(v, bool) and isinstance(v, (int, float))
                and math.isfinite(v))

    if pair:
        if not (isinstance(o.value, list) and len(o.value) == 2 and all(map(number, o.value))):
            raise ConfigError(None, f"--set {o.key}", "must be a pair [lo, hi] of finite "
                              "numbers", o.value, f"For example --set '{o.key}=[5, 10]'.")
    elif not number(o.value):
        raise ConfigError(None, f"--set {o.key}", "must be a finite number", o.value,
                          f"For example --set {o.key}=0.5 (pairs only for ciNN parameters).")


#: The sweep code's wording, told of --set: "Sweep rho between ..." -> "Set rho between ...".
_SWEEP_WORDS = ((re.compile(r"\bSweep\b"), "Set"), (re.compile(r"\bsweeps\b"), "sets"),
                (re.compile(r"\bsweep\b"), "set"), (re.compile(r"\bswept\b"), "set"),
                (re.compile(r" = \[\.\.\.\]`"), "=VALUE`"))


def _renamed(exc: ConfigError, group: Sequence[Override]) -> ConfigError:
    """`exc` (raised by the sweep code as ``sweep.KEY`` or ``pin``) told as ``--set KEY``."""
    rule, fix = exc.rule, exc.fix
    for pattern, word in _SWEEP_WORDS:
        rule, fix = pattern.sub(word, rule), pattern.sub(word, fix)
    return ConfigError(None, "--set " + ", ".join(o.key for o in group), rule, exc.value, fix)
