"""The Python API (docs/python.md): a config by Scenario, path or bundled name; a scenario's
short repr; engine.describe and engine.summary_table of a result."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
import xarray as xr

import engine
from engine.analyses import precision, sweeps

ROOT = Path(__file__).resolve().parents[1]
N = 2**14


@pytest.fixture(scope="module")
def default():
    return engine.load_config("ai-capex-2024")


@pytest.fixture(scope="module")
def quoted(default):
    return engine.quote(default, trials=N)


# ------------------------------------------------------------------ a config, three ways


def test_quote_by_name_equals_quote_by_scenario(default, quoted):
    by_name = engine.quote("ai-capex-2024", trials=N)
    by_path = engine.quote(ROOT / "configs" / "ai-capex-2024.toml", trials=N)
    by_keyword = engine.quote(scenario="ai-capex-2024.toml", trials=N)
    for ds in (by_name, by_path, by_keyword):
        assert float(ds["p_cover"]) == float(quoted["p_cover"])
        assert int(ds["hits"]) == int(quoted["hits"])
        assert int(ds.attrs["seed"]) == int(quoted.attrs["seed"]) == default.seed
        assert (ds["gap_quantile"].values == quoted["gap_quantile"].values).all()
    assert by_name.attrs["config_sha256"] == quoted.attrs["config_sha256"]


def test_every_runner_takes_a_name():
    sc = engine.load_config("sweep-margin-life")
    a = engine.simulate("sweep-margin-life", trials=4096, seed=3)
    b = engine.simulate(sc, trials=4096, seed=3)
    assert int(a["hits"]) == int(b["hits"]) and int(a.attrs["seed"]) == int(b.attrs["seed"]) == 3
    grid = {"margin": [0.4, 0.6]}
    a = engine.sweep("sweep-margin-life", grid, trials=4096)
    b = engine.sweep(sc, grid, trials=4096)
    assert (a["p_cover"].values == b["p_cover"].values).all()
    t = engine.tornado("sequoia-600b-uncertain", trials=4096)
    assert (t["swing_p_cover"].values == engine.tornado(
        engine.load_config("sequoia-600b-uncertain"), trials=4096)["swing_p_cover"].values).all()
    tr = engine.trace("ai-capex-2024", n=5)
    assert tr.sizes["trial"] == 5
    assert engine.pin("sweep-margin-life", {"margin": 0.5}) == sweeps.pin(sc, {"margin": 0.5})


def test_solve_takes_a_name():
    a = engine.solve("sequoia-600b-uncertain", "revenue", p_cover=0.5, trials=4096)
    b = engine.solve(engine.load_config("sequoia-600b-uncertain"), "revenue", p_cover=0.5,
                     trials=4096)
    assert float(a["solution"]) == float(b["solution"])


def test_a_wrong_config_is_refused():
    with pytest.raises(engine.ConfigError, match="not the name of a bundled config"):
        engine.quote("no-such-config", trials=N)
    with pytest.raises(TypeError, match="engine.load_config"):
        engine.quote(None)
    with pytest.raises(TypeError, match="dict"):
        engine.simulate({"trials": 5})


def test_signatures_and_docs_are_kept():
    sig = inspect.signature(engine.quote)
    assert list(sig.parameters) == list(inspect.signature(precision.quote).parameters)
    assert "str" in str(sig.parameters["scenario"].annotation)
    assert "bundled config's name" in engine.quote.__doc__
    assert "Parameters" in engine.sweep.__doc__
    for name in ("quote", "simulate", "sweep", "tornado", "solve", "trace", "pin", "describe",
                 "summary_table"):
        assert name in engine.__all__


# ---------------------------------------------------------------------------- reprs


def test_repr_of_the_default_scenario_is_short(default):
    text = repr(default)
    lines = text.splitlines()
    assert len(lines) <= 15
    assert max(len(line) for line in lines) <= 100
    assert default.name in lines[0]
    assert "one-year" in text and "20 (20 random, 0 fixed)" in text
    assert "companies:   15" in text and "correlation: yes" in text
    assert "1,000,000, seed 2024" in text and "ai-capex-2024.toml" in text
    assert "correlation: no" in repr(dataclasses.replace(default, correlation=None))


@pytest.mark.parametrize("name", ["vintage-2024-2032", "sweep-vintage-life",
                                  "sequoia-600b-2024"])
def test_repr_of_other_scenarios_is_short(name):
    lines = repr(engine.load_config(name)).splitlines()
    assert len(lines) <= 15 and max(len(line) for line in lines) <= 100


def test_repr_cuts_long_names_and_keeps_equality(default):
    long = dataclasses.replace(default, name="x" * 500 + "\n\x1b[2J", source="/" + "d/" * 200)
    lines = repr(long).splitlines()
    assert len(lines) <= 15 and max(len(line) for line in lines) <= 100
    assert "\x1b" not in repr(long)
    assert default == engine.load_config("ai-capex-2024") and long != default
    assert str(default) == repr(default)


# ------------------------------------------------------------------- summary helpers


def test_describe_a_quote_is_the_quote_text(quoted):
    from engine.present.text import format_quote

    text = engine.describe(quoted)
    assert text == format_quote(quoted, quoted.attrs["config_source"])
    assert text.startswith(quoted.attrs["title"]) and "P(AI revenue covers" in text


def test_describe_a_sweep_a_tornado_a_trace():
    sw = engine.sweep("sweep-margin-life", {"margin": [0.4, 0.6], "useful_life": [2, 5]},
                      trials=4096)
    text = engine.describe(sw)
    assert "Sweep of margin (2 values) x useful_life (2 values) = 4 points" in text
    assert "P(cover) from" in text and len(text.splitlines()) <= 10
    td = engine.tornado("ai-capex-2024", trials=4096)
    text = engine.describe(td)
    assert "Tornado: 20 inputs" in text and "... and 15 more" in text
    assert str(td["input"].values[0]) in text
    assert "trace" in engine.describe(engine.trace("ai-capex-2024", n=3))
    assert max(len(line) for line in text.splitlines()) <= 100


def test_summary_table_is_the_export_table(quoted):
    pd = pytest.importorskip("pandas")
    from engine.io import exports

    df = engine.summary_table(quoted)
    assert isinstance(df, pd.DataFrame)
    pd.testing.assert_frame_equal(df, exports.summary_table(quoted))
    row = df[(df.output == "cover") & (df.statistic == "p_cover")]
    assert float(row["value"].iloc[0]) == float(quoted["p_cover"])
    gap = df.query("output == 'gap' and statistic == 'quantile'").set_index("quantile")["value"]
    assert float(gap.loc[0.5]) == float(quoted["gap_quantile"].sel(quantile=0.5))


def test_results_stay_plain_datasets(quoted):
    # No subclass, nothing patched: xarray's own HTML in Jupyter.
    assert type(quoted) is xr.Dataset
    assert xr.Dataset._repr_html_.__module__.startswith("xarray")
