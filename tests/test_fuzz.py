"""Fuzzing bad input: every config either runs or is refused with a message naming the key.

Three fuzzers, each counting its examples (printed at the end of the run by conftest.py):

- the loader (``engine.loads``) on mutated documents: every key of a valid config set to wrong
  types, NaN, +-inf, negative, zero, huge, empty tables and lists, unknown keys, unicode names;
- the loader on mutated text: arbitrary text, truncated and spliced bundled configs, duplicated
  keys and tables;
- the kernel on generated *valid* configs with extreme values (4,096 trials each): every count
  it reports is checked against the trials recomputed one by one (``engine.trace``), and every
  NaN or infinite figure must come with a note saying why (Dataset, JSON and text);

plus a smaller number of the same documents through the whole command (``main``), which must
exit 0 or 2, print no traceback and produce strict JSON.

The examples are derandomised (the same every run, so CI is reproducible); set
CAPEXGAP_FUZZ_SCALE=10 for a longer, still deterministic, run.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import math
import os
import re
import time
import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.cli import format_quote, main
from engine.models.input_rules import INPUT_RULES
from engine.base.names import clean_name, key_path
from engine.models.one_year import OUTPUTS
from engine.core.reduce import SK_EMAX
from engine.io.results import summary

ROOT = Path(__file__).resolve().parents[1]
CONFIG_TEXTS = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "configs").glob("*.toml"))}
SCALE = float(os.environ.get("CAPEXGAP_FUZZ_SCALE", "1"))
TRIALS = 4096


def fuzz_settings(n: int):
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=True,
                    database=None, suppress_health_check=list(HealthCheck))


@contextlib.contextmanager
def counting(stats: dict, name: str):
    rec = stats.setdefault(name, Counter())
    start = time.perf_counter()
    try:
        yield rec
    finally:
        rec["seconds"] += time.perf_counter() - start


# --------------------------------------------------------------------------- TOML writer

def _toml_str(s: str) -> str:
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_str(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return v.isoformat()  # date, time, datetime


def to_toml(doc: dict) -> str:
    """A TOML document for `doc`: top-level values first, then one [table] per dict."""
    lines = [f"{_toml_str(k)} = {_toml_value(v)}" for k, v in doc.items()
             if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"[{_toml_str(k)}]")
            lines.extend(f"{_toml_str(kk)} = {_toml_value(vv)}" for kk, vv in v.items())
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- strategies

NASTY_FLOATS = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, -1e308, 1.7976931348623157e308,
                5e-324, -5e-324, 1e-300, 2.0**53, 1.0 - 2.0**-53, 0.9999999999999999, 1.0, 0.5,
                -1.0, 1e15, 2.0**44]
NASTY_INTS = [0, -1, 1, 2**53, 2**53 + 1, 2**63 - 1, -2**63, 2**64, 10**30, -10**30]
KEYS = ["dist", "value", "min", "max", "mode", "mean", "sd", "mu", "sigma", "ci90", "ci50",
        "ci100", "p10", "p90", "p5", "p95", "p2.5", "p0", "lambda", "alpha", "beta", "ci",
        "MIN", "Dist", ""]
FAMILIES = ["fixed", "uniform", "normal", "lognormal", "triangular", "pert", "beta",
            "truncnormal", "Lognormal", "log-normal", "gamma", ""]

unicode_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
floats = st.one_of(st.sampled_from(NASTY_FLOATS), st.floats(allow_nan=True, allow_infinity=True))
ints = st.one_of(st.sampled_from(NASTY_INTS), st.integers(-2**70, 2**70))
DATES = [dt.date(2024, 2, 29), dt.time(23, 59, 59, 999999), dt.datetime(1979, 5, 27, 7, 32),
         dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-7)))]
scalars = st.one_of(floats, ints, unicode_text, st.booleans(), st.sampled_from(DATES),
                    st.sampled_from(FAMILIES))
keys = st.one_of(st.sampled_from(KEYS), unicode_text)
# Two levels deep at most (a config never nests deeper); cheap to generate.
values = st.one_of(scalars, st.lists(scalars, max_size=4),
                   st.dictionaries(keys, st.one_of(scalars, st.lists(scalars, max_size=2)),
                                   max_size=4))
dist_tables = st.builds(lambda fam, params: {"dist": fam, **params}, st.sampled_from(FAMILIES),
                        st.dictionaries(st.sampled_from(KEYS[1:]), st.one_of(
                            floats, ints, st.lists(floats, max_size=3)), max_size=4))
anything = st.one_of(values, dist_tables, st.just({}), st.just([]), st.just(""))

BASE = {
    "scenario": {"name": "fuzz", "trials": TRIALS, "seed": 1, "quantiles": [0.05, 0.5, 0.95]},
    "inputs": {
        "gpu_spend": {"dist": "lognormal", "ci90": [100, 200]},
        "energy_ratio": {"dist": "triangular", "min": 0.6, "mode": 1.0, "max": 1.6},
        "margin": {"dist": "uniform", "min": 0.35, "max": 0.65},
        "useful_life": 3,
        "cost_of_capital": {"dist": "truncnormal", "mean": 0.08, "sd": 0.03, "min": 0.0},
    },
    "revenue": {"Microsoft": {"dist": "lognormal", "ci90": [5, 20]}, "Google": 10,
                "Tencent 腾讯 — ünïcode": {"dist": "uniform", "min": 1, "max": 6}},
}
STATIC_PATHS = (
    [("scenario",), ("inputs",), ("revenue",), ("sweep",)]
    + [("scenario", k) for k in ("name", "description", "trials", "seed", "quantiles")]
    + [("inputs", k) for k in INPUT_RULES]
    + [("inputs", k, p) for k in ("gpu_spend", "energy_ratio", "margin", "cost_of_capital")
       for p in KEYS]
    + [("revenue", c) for c in BASE["revenue"]]
    + [("revenue", "Microsoft", p) for p in KEYS]
)
paths = st.one_of(
    st.sampled_from(STATIC_PATHS),
    st.tuples(unicode_text),
    st.tuples(st.sampled_from(["scenario", "inputs", "revenue"]), unicode_text),
    st.tuples(st.just("revenue"), unicode_text, st.sampled_from(KEYS)),
)
mutations = st.lists(st.tuples(st.sampled_from(["set", "set", "set", "delete"]), paths, anything),
                     min_size=1, max_size=3)


def apply(doc: dict, op: str, path: tuple, value) -> None:
    node = doc
    for k in path[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {}
        node = node[k]
    if op == "delete":
        node.pop(path[-1], None)
    else:
        node[path[-1]] = copy.deepcopy(value)


def related(key: str, path: tuple) -> bool:
    """Does error key `key` name the mutated `path`, a part of it, or a sibling it affects?"""
    p = key_path(*path)
    parent = key_path(*path[:-1]) if len(path) > 1 else p
    return key.startswith(p) or p.startswith(key) or key.startswith(parent)


def assert_names_key(exc: engine.ConfigError, changed: list[tuple]) -> None:
    msg = str(exc)
    assert "Traceback" not in msg
    assert exc.key, msg
    assert exc.key in msg, msg
    assert any(related(exc.key, p) for p in changed), (msg, changed)


# --------------------------------------------------------------------------- loader fuzzers

def test_loader_on_mutated_documents(fuzz_stats):
    with counting(fuzz_stats, "loader, mutated documents") as rec:
        @fuzz_settings(3000)
        @given(mutations)
        def check(muts):
            doc = copy.deepcopy(BASE)
            for op, path, value in muts:
                apply(doc, op, path, value)
            text = to_toml(doc)
            tomllib.loads(text)  # the writer emits valid TOML (raises otherwise)
            try:
                sc = engine.loads(text, source="fuzz.toml")
            except engine.ConfigError as exc:
                assert_names_key(exc, [p for _, p, _ in muts])
                rec["refused (exit 2)"] += 1
            else:
                assert isinstance(sc, engine.Scenario)
                rec["loaded"] += 1

        check()


def _key_lines(text: str) -> list[int]:
    """Indices of the lines that are a complete `key = value` on their own."""
    out = []
    for i, line in enumerate(text.splitlines()):
        try:
            if len(tomllib.loads(line)) == 1:
                out.append(i)
        except tomllib.TOMLDecodeError:
            pass
    return out


text_edits = st.one_of(
    st.tuples(st.just("arbitrary"), unicode_text, st.just(0)),
    st.tuples(st.just("truncate"), st.just(""), st.integers(0, 10**6)),
    st.tuples(st.just("insert"), st.one_of(unicode_text, st.sampled_from(
        ["[", "]", "=", '"', "'''", "{", "\n[inputs]\n", "\n[revenue]\n", "\x00", "\ufeff",
         "\r", "#", "= 1\n", "\nmargin = 0.5\n", "nan", "inf"])), st.integers(0, 10**6)),
    st.tuples(st.just("delete"), st.just(""), st.integers(0, 10**6)),
    st.tuples(st.just("duplicate"), st.just(""), st.integers(0, 10**6)),
)


def test_loader_on_mutated_text(fuzz_stats):
    with counting(fuzz_stats, "loader, mutated text") as rec:
        @fuzz_settings(2000)
        @given(st.sampled_from(sorted(CONFIG_TEXTS)), text_edits, st.integers(1, 40))
        def check(name, edit, span):
            base = CONFIG_TEXTS[name]
            kind, piece, pos = edit
            pos = pos % (len(base) + 1)
            dup_key = None
            if kind == "arbitrary":
                text = piece
            elif kind == "truncate":
                text = base[:pos]
            elif kind == "insert":
                text = base[:pos] + piece + base[pos:]
            elif kind == "delete":
                text = base[:pos] + base[pos + span:]
            else:  # duplicate a `key = value` line right after itself
                lines = base.splitlines()
                i = _key_lines(base)[pos % len(_key_lines(base))]
                dup_key = next(iter(tomllib.loads(lines[i])))
                text = "\n".join(lines[:i + 1] + lines[i:]) + "\n"
            try:
                engine.loads(text, source=name)
            except engine.ConfigError as exc:
                msg = str(exc)
                assert msg.startswith(f"{name}: ") and "Traceback" not in msg, msg
                if exc.key:
                    assert exc.key in msg
                else:  # a TOML syntax error: its position, and the line when there is one
                    assert re.search(r"\(at (line \d+|end of document)|nest", msg), msg
                if dup_key is not None:
                    assert dup_key in msg, msg
                rec[f"{kind}: refused"] += 1
            else:
                assert dup_key is None, "a duplicated key was accepted"
                rec[f"{kind}: loaded"] += 1

        check()


def test_every_truncation_of_a_bundled_config(fuzz_stats):
    # Exhaustive at line granularity: a file cut short anywhere is refused or still valid.
    with counting(fuzz_stats, "loader, every line-truncation") as rec:
        for name, text in CONFIG_TEXTS.items():
            lines = text.splitlines(keepends=True)
            for i in range(len(lines) + 1):
                for cut in ("".join(lines[:i]), "".join(lines[:i]) + lines[i][:7]
                            if i < len(lines) else "".join(lines)):
                    try:
                        engine.loads(cut, source=name)
                        rec["loaded"] += 1
                    except engine.ConfigError as exc:
                        assert str(exc).startswith(f"{name}: ")
                        rec["refused"] += 1


# --------------------------------------------------------------------------- kernel fuzzer

TINY, HUGE = 5e-324, 1.7e308


def _pos_fixed():
    return st.one_of(st.sampled_from([0.0, TINY, 1e-300, 1e-6, 1.0, 150.0, 1e13, 2.0**44, 1e15,
                                      1e150, 1e300, HUGE]),
                     st.floats(0.0, 1e308))


def _amount():
    """Specs of a non-negative amount, many of them extreme but valid."""
    lo_hi = st.tuples(st.floats(0.0, 1e300), st.floats(1e-300, 1e300)).map(
        lambda t: (t[0], t[0] + t[1]) if t[0] + t[1] > t[0] else (t[0], t[0] * 2 + 1))
    return st.one_of(
        _pos_fixed(),
        st.builds(lambda mu, s: {"dist": "lognormal", "mu": mu, "sigma": s},
                  st.floats(-800.0, 700.0), st.floats(1e-6, 90.0)),
        st.builds(lambda a, f: {"dist": "lognormal", "ci90": [a, a * f]},
                  st.floats(1e-300, 1e300), st.floats(1.0001, 1e6)),
        lo_hi.map(lambda t: {"dist": "uniform", "min": t[0], "max": t[1]}),
        lo_hi.map(lambda t: {"dist": "triangular", "min": t[0], "mode": t[0], "max": t[1]}),
        st.builds(lambda m, s: {"dist": "truncnormal", "mean": m, "sd": s, "min": 0.0},
                  st.floats(-1e6, 1e300), st.floats(1e-300, 1e300)),
    )


def _margin():
    top = st.sampled_from([0.5, 0.9, 0.999999, 1 - 1e-12, 0.9999999999999999])
    return st.one_of(
        st.sampled_from([0.0, 0.5, 0.99, 1 - 1e-12, 0.9999999999999999]),
        st.floats(0.0, 0.9999999999999999),
        top.map(lambda hi: {"dist": "uniform", "min": 0.0, "max": hi}),
        top.map(lambda hi: {"dist": "pert", "min": 0.0, "mode": hi / 2, "max": hi}),
        st.builds(lambda a, b: {"dist": "beta", "alpha": a, "beta": b, "max": 0.99},
                  st.sampled_from([0.1, 1.0, 5.0, 1e4]), st.sampled_from([0.1, 2.0, 1e4])),
    )


def _positive():
    return st.one_of(st.sampled_from([1e-300, 1e-9, 1.0, 3.0, 1e9, 1e300]),
                     st.floats(1e-300, 1e300),
                     st.builds(lambda mu, s: {"dist": "lognormal", "mu": mu, "sigma": s},
                               st.floats(-600.0, 600.0), st.floats(1e-6, 20.0)))


@st.composite
def valid_configs(draw):
    inputs = {"gpu_spend": draw(_amount()), "energy_ratio": draw(_amount()),
              "margin": draw(_margin()),
              "cost_of_capital": draw(st.one_of(st.sampled_from([0.0, 1e-12, 0.08, 1e10]),
                                                _amount()))}
    if draw(st.booleans()):
        inputs["useful_life"] = draw(_positive())
    else:
        inputs["generation_years"] = draw(_positive())
        inputs["perf_per_dollar_gain"] = draw(st.one_of(
            st.sampled_from([1.0 + 2.0**-52, 2.0, 1e300]),
            st.floats(1.0, 1e300, exclude_min=True)))
    # Names a config may give (the loader's name rules are fuzzed by the loader fuzzers), and
    # every input allowed outside its plausible range: the values here are extreme on purpose.
    names = draw(st.lists(unicode_text.filter(_clean), min_size=1, max_size=3,
                          unique_by=_clean))
    revenue = {n: draw(_amount()) for n in names}
    return {"scenario": {"name": "fuzz", "trials": TRIALS, "seed": draw(st.integers(0, 2**64 - 1)),
                         "allow_implausible": [*inputs, "revenue"]},
            "inputs": inputs, "revenue": revenue}


def _clean(name: str) -> str | None:
    try:
        return clean_name("fuzz.toml", "revenue", name)
    except engine.ConfigError:
        return None


def check_result(ds, sc, seed) -> None:
    """Counts against the trials recomputed one by one; every NaN/inf figure explained."""
    n = int(ds.attrs["trials"])
    tr = engine.trace(sc, 0, n, seed=seed)
    p = float(ds["p_cover"])
    lo, hi = (float(v) for v in ds["p_cover_ci95"].values)
    assert 0.0 <= lo <= p <= hi <= 1.0
    assert int(ds["hits"]) == int(tr["covers"].sum())
    for name in OUTPUTS:
        v = tr[name].values
        ok = np.isfinite(v)
        assert int(ds[f"{name}_nonfinite"]) == int((~ok).sum()), name
        assert int(ds[f"{name}_beyond_sketch"]) == int((abs(v[ok]) >= 2.0**SK_EMAX).sum()), name
        if ok.any():
            assert float(ds[f"{name}_min"]) == v[ok].min()
            assert float(ds[f"{name}_max"]) == v[ok].max()
    # Dataset: every variable with a NaN or inf value carries a note, and so do the attrs.
    for var_name, var in ds.data_vars.items():
        if var.dtype.kind == "f" and not np.isfinite(var.values).all():
            assert var.attrs.get("note"), var_name
            assert ds.attrs["notes"], var_name
    # JSON: strict (no NaN), and every null explained next to it.
    obj = summary(ds)
    json.dumps(obj, allow_nan=False)
    for name, entry in obj["outputs"].items():
        nulls = [entry["mean"], entry["std"], *entry["quantiles"].values()]
        if any(x is None for x in nulls):
            assert entry.get("notes"), name
    # Text: no "nan" anywhere, and "n/a"/"inf" only with notes.
    text = format_quote(ds, "fuzz.toml")
    body = [line for line in text.splitlines() if not line.startswith("note:")]
    assert not any("nan" in line.lower() for line in body), text
    if any(("n/a" in line or "inf" in line) for line in body):
        assert "\nnote: " in text, text


def test_kernel_on_generated_valid_configs(fuzz_stats):
    with counting(fuzz_stats, "kernel, generated extreme configs (4,096 trials)") as rec:
        @fuzz_settings(250)
        @given(valid_configs())
        def check(doc):
            text = to_toml(doc)
            try:
                sc = engine.loads(text, source="fuzz.toml")
            except engine.ConfigError as exc:
                # Valid types, but e.g. a lognormal whose tail overflows float64.
                assert exc.key.startswith(("inputs.", "revenue.")), str(exc)
                assert exc.key in str(exc)
                rec["refused (exit 2)"] += 1
                return
            seed = doc["scenario"]["seed"]
            ds = engine.simulate(sc, trials=TRIALS, seed=seed)
            check_result(ds, sc, seed)
            rec["ran, with notes" if ds.attrs["notes"] else "ran, no notes"] += 1

        check()


def test_command_on_generated_configs(fuzz_stats, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-cli")
    with counting(fuzz_stats, "capexgap quote, generated configs") as rec:
        @fuzz_settings(40)
        @given(st.one_of(valid_configs(), st.builds(
            lambda muts: _mutated(muts), mutations)), st.booleans())
        def check(doc, as_json):
            path = folder / "c.toml"
            path.write_text(to_toml(doc), encoding="utf-8")
            out_nc = folder / "r.nc"
            if out_nc.exists():
                out_nc.unlink()
            argv = ["quote", str(path), "--trials", str(TRIALS), "--out", str(out_nc)]
            if as_json:
                argv.append("--json")
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
            assert "Traceback" not in err.getvalue()
            if code == 2:
                assert re.match(r"capexgap: error: .*c\.toml: \S", err.getvalue()), err.getvalue()
                assert out.getvalue() == "" and not out_nc.exists()
                rec["exit 2"] += 1
                return
            assert code == 0, err.getvalue()
            if as_json:
                json.loads(out.getvalue(), parse_constant=_no_constants)
            back = engine.open_result(out_nc)
            assert int(back.attrs["completed"]) == 1
            rec["exit 0"] += 1

        check()


def _mutated(muts):
    doc = copy.deepcopy(BASE)
    for op, path, value in muts:
        apply(doc, op, path, value)
    return doc


def _no_constants(name):
    raise AssertionError(f"JSON output holds {name}")


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
