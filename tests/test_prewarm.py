"""The first run's helper process (``engine.core.prewarm``): it compiles the runner's kernels
with exactly the types a run asks for, and a cold run with it prints what a cold run without
it prints.

Each test runs fresh processes with a kernel cache folder of their own, so every compile is
cold; ``CAPEXGAP_PREWARM`` (which conftest sets to 0 for the rest of the suite) is set here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The kernels the helper compiles for plain Monte Carlo, by module and name (a quote of the
#: bundled correlated scenario asks for all of them), and for importance sampling.
PLAIN = (("engine.core.sampling", "draw_mc_copula"), ("engine.core.sampling", "weigh_plain"),
         ("engine.core.reduce", "fold_binned"), ("engine.core.sampling", "set_fixed_columns"),
         ("engine.core.sampling", "copula_columns"), ("engine.core.reduce", "merge_moments"),
         ("engine.core.reduce", "_merge_sketch"))
IMPORTANCE = (("engine.core.mixture", "draw_mixture"), ("engine.core.mixture", "weigh_mixture"),
              ("engine.core.reduce", "fold_unsketched"))

_QUOTE_THEN_STATS = """
import contextlib, importlib, io, json, sys
from engine.cli import main
argv, kernels = json.loads(sys.argv[1])
with contextlib.redirect_stdout(io.StringIO()):
    code = main(argv)
stats = {}
for mod, name in kernels:
    st = getattr(importlib.import_module(mod), name).stats
    stats[name] = [sum(st.cache_hits.values()), sum(st.cache_misses.values())]
print(json.dumps({"code": code, "stats": stats}))
"""


def _env(cache: Path, prewarm: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR",)}
    env["CAPEXGAP_CACHE_DIR"] = str(cache)
    env["CAPEXGAP_PREWARM"] = prewarm
    return env


def test_helper_compiles_what_a_quote_then_loads(tmp_path):
    # an importance-sampled quote runs plain Monte Carlo first: it asks for both kinds
    kinds, kernels = ["plain", "importance"], PLAIN + IMPORTANCE
    argv = ["quote", "--method", "importance", "--trials", "20000", "--json"]
    cache = tmp_path / "cache"
    helper = subprocess.run([sys.executable, "-m", "engine.core.prewarm", *kinds], cwd=ROOT,
                            env=_env(cache, "0"), capture_output=True, text=True, timeout=600)
    assert helper.returncode == 0, helper.stderr
    assert helper.stdout == "" and helper.stderr == ""
    # the quote itself starts no helper (0): every kernel above must come from the cache,
    # none compiled again (a miss means the helper compiled other argument types than a run's)
    run = subprocess.run([sys.executable, "-c", _QUOTE_THEN_STATS, json.dumps([argv, kernels])],
                         cwd=ROOT, env=_env(cache, "0"), capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.splitlines()[-1])
    assert out["code"] == 0
    for name, (hits, misses) in out["stats"].items():
        assert (hits, misses) == (1, 0), (name, hits, misses)


def _cold_quote(cache: Path, prewarm: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "engine", "quote", "--trials", "100000", "--json"],
                       cwd=ROOT, env=_env(cache, prewarm), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    out = json.loads(r.stdout)
    out.pop("elapsed_s")  # the one number that differs
    return out


def test_cold_quote_prints_the_same_with_and_without_the_helper(tmp_path):
    # with the helper (on a machine with two CPUs or more), some kernels come from its cache
    # entries; every number printed must be the same
    assert _cold_quote(tmp_path / "a", "1") == _cold_quote(tmp_path / "b", "0")


def test_helper_starts_only_on_a_cold_cache(tmp_path, monkeypatch):
    from engine.core import prewarm

    monkeypatch.setattr(prewarm, "_PROC", None)
    monkeypatch.setenv(prewarm.ENV, "0")
    assert not prewarm.start()  # turned off
    monkeypatch.setenv(prewarm.ENV, "1")
    monkeypatch.setattr(prewarm, "cold", lambda kinds: ())
    assert not prewarm.start(("plain", "importance"))  # a warm cache: nothing to do
    assert prewarm._PROC is None
