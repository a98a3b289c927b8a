"""TOML config -> validated, frozen :class:`Scenario`.

Validation happens here, once, at the edge: nothing downstream re-checks. Every error is a
:class:`~engine.errors.ConfigError` naming the file, the key path, the rule, the value and the fix.

The public format (docs/configs.md)::

    [scenario]   name, description, trials, seed, quantiles, allow_implausible
    [inputs]     gpu_spend, energy_ratio, margin, useful_life | (generation_years,
                 perf_per_dollar_gain), cost_of_capital   -- a number or a distribution table
    [revenue]    one entry per company, free-text names
    [sweep]      optional grid for `capexgap sweep` (kept as given; validated by the sweep code)
    [correlation] optional rank correlations between inputs (engine.io.correlation_config)

Names (the scenario's, the companies') are plain text: :func:`clean_name` refuses control and
format characters, normalises them to NFC and strips surrounding spaces. Every input has a hard
range (a margin below 1) and a plausible one (a cost of capital of at most 0.5): a value outside
the plausible range is refused as a likely typo (8 for 8%, dollars for $B) unless the input is
named in ``[scenario] allow_implausible``.

``[scenario] model`` picks the model: ``"one-year"`` (the default, above) or ``"vintage"`` (the
multi-year cohort model; its keys are read by :func:`engine.io.vintage_config.build_scenario`).

Where the pieces live: the frozen :class:`Scenario` in :mod:`engine.core.scenario`, the input
ranges and the plausibility check in :mod:`engine.models.input_rules`, names and key paths in
:mod:`engine.base.names`; this module reads and validates the TOML and re-exports their names.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import tomllib
import unicodedata
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping


from engine.base.errors import ConfigError, Shown
from engine.io.toml_checks import (MAX_COMPANIES, MAX_YEAR, MIN_YEAR, _allow_list, _check_keys, _check_sizes, _int,
                                  _string, _table, depreciation_form, revenue_table)
from engine.models.input_rules import (GROWTH_RULE, INF, INPUT_RULES, REQUIRED_INPUTS, REVENUE_RULE,
                                InputRule, _input, check_plausible, input_rule)
from engine.models.input_rules import _U_MAX, _U_MIN  # noqa: F401  (the sweeps read them here)
from engine.base.names import (MAX_NAME_LENGTH, _clean_text, clean_name, clean_names, escape,
                          key_path)
from engine.core.scenario import DEFAULT_QUANTILES, Input, Scenario
from engine.io.correlation_config import read_correlation

__all__ = [
    "DEFAULT_QUANTILES", "DEFAULT_TRIALS", "DEFAULT_SEED", "MAX_TRIALS", "MAX_COMPANIES",
    "DEFAULT_CONFIG", "MAX_NAME_LENGTH", "MIN_YEAR", "MAX_YEAR", "INF", "InputRule",
    "INPUT_RULES", "REQUIRED_INPUTS", "REVENUE_RULE", "GROWTH_RULE", "input_rule", "Input",
    "Scenario", "ConfigError", "Shown", "load_config", "bundled_config_text", "loads",
    "BundledConfig", "bundled_config_names", "bundled_config_name", "bundled_configs",
    "depreciation_form", "check_plausible", "key_path", "clean_name", "clean_names",
]

DEFAULT_TRIALS = 1_000_000
DEFAULT_SEED = 1
#: Most trials one run may ask for: moments count trials in float64, exact up to 2**53.
MAX_TRIALS = 2**53
#: The bundled default scenario of `capexgap quote` with no config.
DEFAULT_CONFIG = "ai-capex-2024.toml"

_TOP_KEYS = ("scenario", "inputs", "revenue", "revenue_growth", "sweep", "correlation")
_SCENARIO_KEYS = ("name", "description", "trials", "seed", "quantiles", "model", "years",
                  "allow_implausible")
_MODELS = ("one-year", "vintage")
#: Keys that only the vintage model reads: (where, key).
_VINTAGE_ONLY = (("scenario", "years"), ("", "revenue_growth"))


def load_config(path: str | Path | None = None, *, repair_correlation: bool = False
                ) -> Scenario:
    """Read and validate a TOML config.

    Parameters
    ----------
    path : str or Path, optional
        The config file. ``None`` loads the bundled default scenario
        (``ai-capex-2024.toml``, shipped inside the package). A path that does not exist but
        is the name of a bundled config (``sequoia-600b-2024``, with or without ``.toml``;
        ``capexgap configs`` lists them) loads that one: an existing file always wins.
    repair_correlation : bool
        ``--repair-correlation``: a ``[correlation]`` matrix that is not positive semi-definite
        is kept with ``repair=True`` (the run uses the nearest valid one) instead of refused.

    Returns
    -------
    Scenario

    Raises
    ------
    ConfigError
        If the file cannot be read, is not valid TOML, or breaks any rule; the message names
        the file, the key, the rule, the value and the fix.
    """
    if path is None:
        return loads(bundled_config_text(DEFAULT_CONFIG), source=f"<bundled {DEFAULT_CONFIG}>",
                     repair_correlation=repair_correlation)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        # Not a file here: a bundled config's name (from any folder, after a plain install).
        name = bundled_config_name(str(path))
        if name is not None:
            return loads(bundled_config_text(name), source=f"<bundled {name}>",
                         repair_correlation=repair_correlation)
        raise _not_found(p) from None
    except IsADirectoryError:
        raise ConfigError(str(p), "", "is a directory, not a config file", None,
                          "Pass a .toml file.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), "", f"is not UTF-8 text ({exc.reason} at byte {exc.start})",
                          None, "Save the config as UTF-8 TOML.") from None
    except OSError as exc:
        raise ConfigError(str(p), "", f"cannot be read: {exc.strerror}", None,
                          "Check the file's permissions.") from None
    return loads(text, source=str(p), repair_correlation=repair_correlation)


def bundled_config_text(name: str) -> str:
    """Text of a config shipped with the package.

    A wheel carries ``configs/`` as the package ``engine.configs``; an editable install or a bare
    checkout finds the same files in ``configs/`` beside ``engine/``.
    """
    try:
        return resources.files("engine.configs").joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return (Path(__file__).resolve().parents[2] / "configs" / name).read_text(
            encoding="utf-8")


def bundled_config_names() -> list[str]:
    """File names (``ai-capex-2024.toml``, ...) of the configs shipped with the package, sorted.

    Read where :func:`bundled_config_text` reads them: the package ``engine.configs`` of a
    wheel, else ``configs/`` beside ``engine/`` (an editable install or a bare checkout).
    """
    names: set[str] = set()
    try:
        names = {e.name for e in resources.files("engine.configs").iterdir()
                 if e.name.endswith(".toml") and e.is_file()}
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    if not names:
        folder = Path(__file__).resolve().parents[2] / "configs"
        if folder.is_dir():
            names = {f.name for f in folder.glob("*.toml") if f.is_file()}
    return sorted(names)


def bundled_config_name(name: str) -> str | None:
    """The bundled config's file name that `name` means (``sequoia-600b-2024`` or
    ``sequoia-600b-2024.toml`` -> ``sequoia-600b-2024.toml``), or None: only a bare name, never a
    path, is looked up (so nothing outside the bundled folder can be reached this way)."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        return None
    file = name if name.endswith(".toml") else f"{name}.toml"
    return file if file in bundled_config_names() else None


@dataclasses.dataclass(frozen=True)
class BundledConfig:
    """One bundled config, as ``capexgap configs`` lists it.

    Attributes
    ----------
    name : str
        What to pass as CONFIG: the file name without ``.toml``.
    title : str
        Its ``[scenario] name``, else its first comment line, else "".
    model : str
        ``[scenario] model`` (``one-year`` when absent).
    description : str
        Its ``[scenario] description`` ("" when absent).
    sweep : bool
        Whether it has a ``[sweep]`` table (a config for ``capexgap sweep``).
    """

    name: str
    title: str
    model: str
    description: str
    sweep: bool


def bundled_configs() -> list[BundledConfig]:
    """Every bundled config with its title and model, read from its TOML without validating it
    (a listing never fails on one file: an unreadable one shows an empty title)."""
    out = []
    for file in bundled_config_names():
        text = bundled_config_text(file)
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            doc = {}
        sc = doc.get("scenario") if isinstance(doc.get("scenario"), dict) else {}
        comments = [line.lstrip("#").strip() for line in text.splitlines()
                    if line.startswith("#") and line.lstrip("#").strip()]
        title = sc.get("name") if isinstance(sc.get("name"), str) else ""
        desc = sc.get("description") if isinstance(sc.get("description"), str) else ""
        model = sc.get("model") if isinstance(sc.get("model"), str) else "one-year"
        out.append(BundledConfig(name=file.removesuffix(".toml"),
                                 title=title or (comments[0] if comments else ""),
                                 model=model, description=" ".join(desc.split()),
                                 sweep=isinstance(doc.get("sweep"), dict)))
    return out


def _not_found(p: Path) -> ConfigError:
    """"file not found", with the bundled names and the closest one."""
    stems = [n.removesuffix(".toml") for n in bundled_config_names()]
    close = difflib.get_close_matches(p.name.removesuffix(".toml"), stems, n=1, cutoff=0.6)
    hint = f" Did you mean the bundled `{close[0]}`?" if close else ""
    listed = f" ({', '.join(stems)}; `capexgap configs` describes them)" if stems else ""
    return ConfigError(str(p), "", "file not found, and not the name of a bundled config",
                       None, f"Check the path, or name a bundled config{listed}, or run "
                       f"`capexgap quote` without a config for the bundled default "
                       f"scenario.{hint}")


def loads(text: str, source: str = "<string>", *, repair_correlation: bool = False
          ) -> Scenario:
    """Validate config `text` (TOML); `source` names it in error messages (for
    `repair_correlation` see :func:`load_config`)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"is not valid TOML: {exc}{_excerpt(text, str(exc))}",
                          None, "Fix the TOML syntax at the position shown (https://toml.io)."
                          ) from None
    except RecursionError:
        raise ConfigError(source, "", "is not a usable config: its arrays or tables nest too "
                          "deeply to parse", None, "A capexgap config nests at most two levels "
                          "(a table of inline tables).") from None
    except ValueError:
        # tomllib lets int() fail on a whole number of more than 4,300 digits.
        m = _LONG_INT.search(text)
        line = f" (line {text.count(chr(10), 0, m.start()) + 1})" if m else ""
        raise ConfigError(source, "", f"holds a whole number too long to read{line}", None,
                          "Write numbers of a sensible magnitude (amounts are in $B).") from None
    return _build(doc, text, source, repair_correlation)


_LONG_INT = re.compile(r"[0-9_]{4000,}")


_TOML_POS = re.compile(r"\(at line (\d+), column \d+\)")


def _excerpt(text: str, message: str) -> str:
    """`: line N reads "..."` for a TOML error at line N, so the message shows the key.

    tomllib's messages give a position but not the key (e.g. a duplicate key says only
    "Cannot overwrite a value (at line 9, column 15)").
    """
    lines = text.splitlines()
    if "(at end of document)" in message:
        last = [line.strip() for line in lines if line.strip()]
        return f"; its last line reads {_clip(last[-1])!r}" if last else ""
    m = _TOML_POS.search(message)
    if not m:
        return ""
    n = int(m.group(1))
    if not 1 <= n <= len(lines) or not lines[n - 1].strip():
        return ""
    return f"; line {n} reads {_clip(lines[n - 1].strip())!r}"


def _clip(line: str) -> str:
    return line if len(line) <= 80 else line[:77] + "..."


# --------------------------------------------------------------------------- validation


def _build(doc: Mapping[str, Any], text: str, source: str, repair_correlation: bool = False
           ) -> Scenario:
    _check_keys(source, "", doc, _TOP_KEYS, what="table")
    sc = _table(source, "scenario", doc.get("scenario", {}))
    _check_keys(source, "scenario", sc, _SCENARIO_KEYS)
    model = sc.get("model", "one-year")
    if model not in _MODELS:
        close = difflib.get_close_matches(str(model), _MODELS, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise ConfigError(source, "scenario.model", "unknown model", model,
                          f"Valid models: {', '.join(_MODELS)}.{hint}")
    if "name" in sc:
        name = clean_name(source, "scenario.name",
                          _string(source, "scenario.name", sc["name"]), "the scenario's name")
    else:  # the file's name, made safe: a file name is not worth an error
        name = unicodedata.normalize("NFC", escape(Path(source).stem)).strip() or "scenario"
    description = _clean_text(source, "scenario.description",
                              _string(source, "scenario.description", sc.get("description", "")))
    trials = _int(source, "scenario.trials", sc.get("trials", DEFAULT_TRIALS), lo=1,
                  hi=MAX_TRIALS, cap="2**53 (9,007,199,254,740,992)",
                  fix="Set trials to a positive whole number such as 1_000_000.")
    seed = _int(source, "scenario.seed", sc.get("seed", DEFAULT_SEED), lo=0, hi=2**64 - 1,
                fix="Use a whole number between 0 and 2**64 - 1.")
    quantiles = _quantiles(source, sc.get("quantiles", list(DEFAULT_QUANTILES)))
    allowed = _allow_list(source, sc.get("allow_implausible", []))
    common = dict(name=name, description=description, trials=trials, seed=seed,
                  quantiles=quantiles, source=source, text=text,
                  sweep=MappingProxyType(_clean_sweep(
                      source, _table(source, "sweep", doc.get("sweep", {})))))
    if model == "vintage":
        from engine.io.vintage_config import build_scenario  # the vintage model's own keys and rules
        scenario = build_scenario(doc, sc, common)
    else:
        scenario = _build_one_year(doc, sc, common)
    check_plausible(scenario, allowed, listed="allow_implausible" in sc)
    if "correlation" in doc:
        corr = read_correlation(source, doc["correlation"], scenario, repair=repair_correlation)
        if corr is not None:
            scenario = dataclasses.replace(scenario, correlation=corr)
    return scenario


def _build_one_year(doc: Mapping[str, Any], sc: Mapping[str, Any],
                    common: Mapping[str, Any]) -> Scenario:
    source = common["source"]
    for where, key in _VINTAGE_ONLY:
        table = sc if where == "scenario" else doc
        if key in table:
            raise ConfigError(source, f"{where}.{key}" if where else key,
                              "is only used by the multi-year model", None,
                              "Add model = \"vintage\" under [scenario], or remove it.")

    raw_inputs = _table(source, "inputs", doc.get("inputs"), required=True)
    _check_keys(source, "inputs", raw_inputs, tuple(INPUT_RULES))
    for req in REQUIRED_INPUTS:
        if req not in raw_inputs:
            raise ConfigError(source, f"inputs.{req}", "is required", None,
                              f"Add `{req} = <number or distribution>` under [inputs] "
                              f"({INPUT_RULES[req].meaning}).")
    generational, depreciation_keys = depreciation_form(source, raw_inputs)
    order = ["gpu_spend", "energy_ratio", "margin"] + depreciation_keys
    inputs = []
    for key in order:
        rule = INPUT_RULES[key]
        spec = raw_inputs.get(key, rule.default)
        inputs.append(_input(source, key, f"inputs.{key}", spec, rule))

    raw_rev = revenue_table(source, doc)
    revenue = []
    for company, raw in clean_names(source, "revenue", raw_rev).items():
        # name: the input's identity (its random stream); key: how messages show it
        revenue.append(_input(source, f"revenue.{company}", key_path("revenue", raw),
                              raw_rev[raw], REVENUE_RULE))

    return Scenario(depreciation="generational" if generational else "straight-line",
                    inputs=tuple(inputs), revenue=tuple(revenue), **common)


def _clean_sweep(source: str, table: Mapping[str, Any], path: tuple[str, ...] = ()
                 ) -> dict[str, Any]:
    """The ``[sweep]`` table with every key cleaned like a name (so ``revenue.<company>`` names
    a company as its cleaned name does) and every whole number checked to fit a float64."""
    out: dict[str, Any] = {}
    raw_of: dict[str, str] = {}
    for raw, value in table.items():
        key = clean_name(source, key_path("sweep", *path, raw), raw, "sweep key")
        if key in raw_of:
            raise ConfigError(source, key_path("sweep", *path, raw),
                              f"is the same sweep key as {json.dumps(raw_of[key])} once "
                              "normalised", Shown(json.dumps(raw)), "Keep one of the two.")
        raw_of[key] = raw
        where = (*path, key)
        if isinstance(value, dict):
            out[key] = _clean_sweep(source, value, where)
        else:
            _check_sizes(source, key_path("sweep", *where), value)
            out[key] = value
    return out


def _quantiles(source: str, value: Any) -> tuple[float, ...]:
    key = "scenario.quantiles"
    fix = "Give a list of levels strictly between 0 and 1, e.g. [0.05, 0.5, 0.95]."
    if not isinstance(value, list) or not value:
        raise ConfigError(source, key, "must be a non-empty list", value, fix)
    out = []
    for i, q in enumerate(value):
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.0 < q < 1.0:
            raise ConfigError(source, f"{key}[{i}]", "must be a number strictly between 0 and 1",
                              q, fix)
        out.append(float(q))
    # 0.05, 0.5 and 0.95 are always reported (the JSON contract promises them).
    return tuple(sorted(set(out) | {0.05, 0.5, 0.95}))
