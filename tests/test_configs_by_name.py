"""Bundled configs by name (`capexgap quote sequoia-600b-2024` from any folder), `capexgap
configs`, `capexgap init`, and `--set KEY=VALUE` on quote, sweep and tornado."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import xarray as xr

import engine
from engine.analyses.grid import pin
from engine.cli import main
from engine.io.config import bundled_config_names, load_config

ROOT = Path(__file__).resolve().parents[1]
TRIALS = "8192"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """The current folder: an empty temporary one, far from configs/."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


# ------------------------------------------------------------------- configs by name


@pytest.mark.parametrize("name", ["sequoia-600b-2024", "sequoia-600b-2024.toml"])
def test_quote_a_bundled_config_by_name_from_another_folder(capsys, elsewhere, name):
    code, out, err = run(capsys, "quote", name, "--json", "--trials", "4096")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["seed"] == 2024 and obj["outputs"]["gap"]["quantiles"]["0.5"] == 500.0


def test_name_gives_the_bundled_source_and_the_same_result_as_the_file(elsewhere):
    by_name = load_config("wsj-17x-2023")
    by_path = load_config(ROOT / "configs" / "wsj-17x-2023.toml")
    assert by_name.source == "<bundled wsj-17x-2023.toml>"
    assert by_name.text == by_path.text and by_name.all_inputs == by_path.all_inputs
    ds = engine.simulate(by_name, trials=4096)
    assert ds.attrs["config_source"] == "<bundled wsj-17x-2023.toml>"


def test_an_existing_file_wins_over_the_bundled_name(capsys, elsewhere):
    (elsewhere / "sequoia-600b-2024.toml").write_text(textwrap.dedent("""
        [scenario]
        name = "my own"
        [inputs]
        gpu_spend = 1
        energy_ratio = 1.0
        margin = 0.5
        [revenue]
        A = 100
    """), encoding="utf-8")
    assert load_config("sequoia-600b-2024.toml").name == "my own"
    assert load_config("sequoia-600b-2024").source == "<bundled sequoia-600b-2024.toml>"


def test_sweep_and_tornado_take_a_name(capsys, elsewhere):
    code, out, err = run(capsys, "sweep", "sweep-margin-life", "--trials", "4096", "--quiet")
    assert code == 0, err
    assert "<bundled sweep-margin-life.toml>" in out
    code, out, err = run(capsys, "tornado", "sequoia-600b-uncertain", "--trials", "4096",
                         "--quiet", "--json")
    assert code == 0, err


@pytest.mark.parametrize("given, close", [("sequoia-600b-2025", "sequoia-600b-2024"),
                                          ("configs/ai-capex-2042.toml", "ai-capex-2024"),
                                          ("../sequoia-600b-2024.toml", "sequoia-600b-2024")])
def test_not_found_lists_the_bundled_names_and_the_closest(capsys, elsewhere, given, close):
    code, out, err = run(capsys, "quote", given)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "file not found" in err and given in err
    for name in bundled_config_names():
        assert name.removesuffix(".toml") in err
    assert f"Did you mean the bundled `{close}`?" in err


def test_a_path_never_reaches_the_bundled_folder(elsewhere):
    # Only a bare name is looked up: "x/sequoia-600b-2024" is a path, and is not found.
    with pytest.raises(engine.ConfigError, match="file not found"):
        load_config("x/sequoia-600b-2024")


def test_the_wheel_layout_is_read_too(tmp_path):
    # A wheel carries configs/ as the package engine.configs (pyproject.toml); an editable
    # install has no such package. Add one beside the real engine/ (a namespace folder, as in
    # the wheel) holding a config found nowhere else: listed and loaded by name.
    pkg = tmp_path / "engine"
    (pkg / "configs").mkdir(parents=True)
    (pkg / "configs" / "only-in-wheel.toml").write_text(
        (ROOT / "configs" / "wsj-17x-2023.toml").read_text(encoding="utf-8"), encoding="utf-8")
    code = textwrap.dedent(f"""
        import engine, json
        engine.__path__.append({str(pkg)!r})
        from engine.io.config import bundled_config_names, load_config
        print(json.dumps([bundled_config_names(), load_config("only-in-wheel").source]))
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    names, source = json.loads(done.stdout)
    assert names == ["only-in-wheel.toml"] and source == "<bundled only-in-wheel.toml>"


# ------------------------------------------------------------------- capexgap configs


def test_configs_lists_every_file_in_configs(capsys, elsewhere):
    files = sorted(p.stem for p in (ROOT / "configs").glob("*.toml"))
    code, out, err = run(capsys, "configs")
    assert code == 0, err
    listed = [line.split()[0] for line in out.splitlines()[1:] if line and line[0] != " "]
    assert [n for n in listed if n in files] == files
    assert "AI's $600B question (Cahn, Jun 2024)" in out and "vintage" in out
    code, out, err = run(capsys, "configs", "--json")
    obj = json.loads(out)
    assert code == 0 and [c["name"] for c in obj["configs"]] == files
    assert obj["default"] == "ai-capex-2024"
    by = {c["name"]: c for c in obj["configs"]}
    assert by["vintage-2024-2032"]["model"] == "vintage"
    assert by["sweep-margin-life"]["sweep"] and not by["ai-capex-2024"]["sweep"]
    assert all(c["title"] for c in obj["configs"])


# ------------------------------------------------------------------- capexgap init


def test_init_writes_a_config_that_loads_and_refuses_to_overwrite(capsys, elsewhere):
    code, out, err = run(capsys, "init", "my.toml")
    assert code == 0, err
    assert "capexgap quote my.toml" in out
    text = (elsewhere / "my.toml").read_text(encoding="utf-8")
    assert text == (ROOT / "configs" / "ai-capex-2024.toml").read_text(encoding="utf-8")
    assert text.startswith("#") and load_config("my.toml").name == load_config(None).name
    (elsewhere / "my.toml").write_text("# mine\n", encoding="utf-8")
    code, out, err = run(capsys, "init", "my.toml", "--from", "vintage-2024-2032")
    assert code == 2 and "file exists" in err and "--force" in err
    assert (elsewhere / "my.toml").read_text(encoding="utf-8") == "# mine\n"
    code, out, err = run(capsys, "init", "my.toml", "--from", "vintage-2024-2032.toml",
                         "--force")
    assert code == 0, err
    assert load_config("my.toml").model == "vintage"


def test_init_from_an_unknown_name(capsys, elsewhere):
    code, _, err = run(capsys, "init", "x.toml", "--from", "sequoia-600b")
    assert code == 2 and "--from" in err and "Did you mean `sequoia-600b-2024`?" in err
    assert not (elsewhere / "x.toml").exists()


# ------------------------------------------------------------------- --set


def _quote_json(capsys, *argv):
    code, out, err = run(capsys, "quote", *argv, "--json", "--method", "mc", "--trials", TRIALS)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("arg, key, value", [
    ("margin=0.6", "margin", 0.6),                                 # float: pins an input
    ("useful_life=2", "useful_life", 2),                           # int
    ("margin.mode=0.55", "margin.mode", 0.55),                     # a distribution parameter
    ("revenue.OpenAI.ci90=[5, 10]", "revenue.OpenAI.ci90", [5, 10]),  # a [lo, hi] pair
    ("correlation.groups.0.rho=0.2", "correlation.groups.0.rho", 0.2),
])
def test_set_changes_exactly_what_pin_changes(capsys, elsewhere, arg, key, value):
    base = load_config(None)
    want = engine.simulate(pin(base, {key: value}), trials=int(TRIALS))
    plain = engine.simulate(base, trials=int(TRIALS))
    got = _quote_json(capsys, "--set", arg)
    assert got["p_cover"] == float(want["p_cover"]) != float(plain["p_cover"])
    assert got["overrides"] == [arg]


def test_set_scenario_seed_and_trials(capsys, elsewhere):
    base = load_config(None)
    want = engine.simulate(base, trials=4096, seed=7)
    code, out, err = run(capsys, "quote", "--set", "scenario.seed=7", "--set",
                         "scenario.trials=4_096", "--method", "mc", "--json")
    got = json.loads(out)
    assert code == 0, err
    assert got["trials"] == 4096 and got["seed"] == 7 and got["p_cover"] == float(want["p_cover"])


def test_set_is_recorded_in_the_file_and_the_text(capsys, elsewhere):
    code, out, err = run(capsys, "quote", "sequoia-600b-2024", "--set", "margin=0.6",
                         "--set", "revenue.Google = 20", "--out", "r.nc", "--trials", "4096")
    assert code == 0, err
    assert out.splitlines()[1] == "Changed for this run (--set): margin=0.6; revenue.Google=20"
    with xr.open_dataset("r.nc", engine="h5netcdf") as ds:
        assert json.loads(ds.attrs["overrides"]) == ["margin=0.6", "revenue.Google=20"]
        assert ds.attrs["config_source"] == "<bundled sequoia-600b-2024.toml>"
    code, out, err = run(capsys, "quote", "sequoia-600b-2024", "--trials", "4096", "--json")
    assert "overrides" not in json.loads(out)


def test_set_on_sweep_and_tornado(capsys, elsewhere):
    code, out, err = run(capsys, "sweep", "sweep-margin-life", "--trials", "4096", "--quiet",
                         "--set", "cost_of_capital=0.05", "--json")
    assert code == 0, err
    assert json.loads(out)["overrides"] == ["cost_of_capital=0.05"]
    code, out, err = run(capsys, "tornado", "sequoia-600b-uncertain", "--trials", "4096",
                         "--quiet", "--set", "margin=0.5")
    assert code == 0, err
    assert "Changed for this run (--set): margin=0.5" in out
    assert "\nmargin " not in out  # pinned: no longer an uncertain input of the tornado
    code, out, err = run(capsys, "tornado", "sequoia-600b-uncertain", "--trials", "4096",
                         "--quiet")
    assert "\nmargin " in out


@pytest.mark.parametrize("arg, key, words", [
    ("margin", "--set", ["must be KEY=VALUE"]),
    ("margn=0.5", "--set margn", ["unknown key", "valid keys here: gpu_spend", "margin,",
                                  "scenario.trials", "correlation.groups.0.rho",
                                  "Did you mean `margin`?"]),
    ("margn.mode=0.5", "--set margn.mode", ["unknown key", "Did you mean `margin.mode`?"]),
    ("margin=abc", "--set margin", ["is not a TOML value", "'abc'"]),
    ("margin=", "--set margin", ["has no value"]),
    ("margin=1.5", "--set margin", ["pins margin to 1.5, outside"]),
    ("margin=true", "--set margin", ["must be a finite number"]),
    ("margin.mod=0.5", "--set margin.mod", ["unknown parameter of margin"]),
    ("revenue.OpenAI.ci90=5", "--set revenue.OpenAI.ci90", ["must be a pair [lo, hi]"]),
    ("correlation.groups.0.rho=2", "--set correlation.groups.0.rho", ["outside [-1, 1]"]),
    ("correlation.groups.5.rho=0.1", "--set correlation.groups.5.rho", ["no group 5"]),
    ("scenario.trials=0", "--set scenario.trials", ["must be between 1 and"]),
    ("scenario.seed=-1", "--set scenario.seed", ["must be between 0 and"]),
])
def test_bad_set_exits_2_naming_the_key(capsys, elsewhere, arg, key, words):
    code, out, err = run(capsys, "quote", "--set", arg, "--trials", "4096")
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith(f"capexgap: error: {key}:"), err
    for w in words:
        assert w in err, (w, err)


def test_set_twice_or_both_ways_is_refused(capsys, elsewhere):
    code, _, err = run(capsys, "quote", "--set", "margin=0.4", "--set", "margin=0.6")
    assert code == 2 and "--set margin: is given twice" in err
    code, _, err = run(capsys, "quote", "--set", "margin=0.4", "--set", "margin.mode=0.5")
    assert code == 2 and "conflicts with --set margin" in err
    code, _, err = run(capsys, "quote", "--independent", "--set", "correlation.groups.0.rho=0.2")
    assert code == 2 and "--independent" in err


def test_set_parameters_of_one_input_are_applied_together(capsys, elsewhere):
    # Each alone would break min <= mode <= max; together they are valid.
    base = load_config(None)
    both = {"margin.min": 0.6, "margin.mode": 0.7, "margin.max": 0.8}
    want = engine.simulate(pin(base, both), trials=int(TRIALS))
    got = _quote_json(capsys, *[a for k, v in both.items() for a in ("--set", f"{k}={v}")])
    assert got["p_cover"] == float(want["p_cover"])
