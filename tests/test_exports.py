"""``--out`` by suffix (engine/io/exports.py): .nc, a tidy .csv / .parquet table, .json.

Each table is read back with pandas (and the CSV also with the standard library) and every
row checked, exactly, against the Dataset the same command writes as .nc (same seed: the
same numbers), through an independent reading of the schema documented in docs/cli.md.
"""

from __future__ import annotations

import builtins
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.io import exports
from engine.io.results import open_result

pd = pytest.importorskip("pandas")

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
TRIALS = "2048"
#: Rows whose output is a group; their statistic is the NetCDF variable's name.
GROUPS = {"cover", "breakeven", "tornado"}
#: A sweep with a pair key (index column plus _lo/_hi) and a scalar key.
PAIRS = """
[scenario]
name = "pairs"
seed = 5
[inputs]
gpu_spend = { dist = "lognormal", ci90 = [100, 200] }
energy_ratio = 1.0
margin = 0.5
useful_life = { dist = "triangular", min = 1, mode = 3, max = 6 }
cost_of_capital = 0
[revenue]
All = { dist = "lognormal", ci90 = [150, 400] }
[sweep]
gpu_spend.ci90 = [[90, 180], [120, 260]]
margin = [0.4, 0.6]
"""


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def read_csv(path: Path):
    """pandas' reading of a CSV, exact: pandas 3 parses floats round-trip by default (and
    deprecates the option); pandas 2 needs ``float_precision="round_trip"``."""
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    return pd.read_csv(path, **exact)


def _cases(tmp_path: Path) -> dict[str, list[str]]:
    pairs = tmp_path / "pairs.toml"
    pairs.write_text(PAIRS, encoding="utf-8")
    return {
        "quote": ["quote", "--trials", TRIALS],
        "vintage": ["quote", str(CONFIGS / "vintage-2024-2032.toml"), "--trials", TRIALS],
        "sweep": ["sweep", str(CONFIGS / "sweep-energy-spend.toml"), "--trials", TRIALS],
        "pairs": ["sweep", str(pairs), "--trials", TRIALS],
        "tornado": ["tornado", "--trials", TRIALS],
    }


def _expected(ds, row: dict, points: list[str]) -> float:
    """The Dataset's number for one table row, read by the documented schema."""
    out, stat = row["output"], row["statistic"]
    tornado = ds.attrs.get("analysis") == "tornado"
    if stat in ("trials", "mc_trials"):
        return float(ds.attrs[stat])
    name = stat if out in GROUPS else f"{out}_{stat}"
    sel: dict = {}
    if name.endswith(("_ci95_lo", "_ci95_hi")):
        sel["bound"] = "lower" if name.endswith("_lo") else "upper"
        name = name[:-3]
    if tornado and _null(row["input"]):
        name = "baseline_" + name
    da = ds[name]
    if stat == "quantile":
        sel["quantile"] = float(row["quantile"])
    else:
        assert _null(row["quantile"])
    if "year" in row and not _null(row["year"]):
        sel["year"] = int(row["year"])
    for d in points:
        if d in da.dims:
            sel[d] = row[d] if d == "input" else float(row[d])
        else:
            assert _null(row[d])
    return float(da.sel(sel).values)


def _null(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _check_table(df, ds) -> None:
    fixed = ["output", "statistic", "quantile"]
    tail = (["year"] if "year" in ds.dims else []) + ["value", "units"]
    assert list(df.columns[:3]) == fixed and list(df.columns[-len(tail):]) == tail
    points = list(df.columns[3:len(df.columns) - len(tail)])
    analysis = ds.attrs.get("analysis")
    if analysis == "sweep":
        dims = json.loads(ds.attrs["sweep_dims"])
        want = [c for d in dims for c in ([d, f"{d}_lo", f"{d}_hi"] if f"{d}_lo" in ds.coords
                                          else [d])]
        assert points == want
        for d in dims:  # a pair's ends agree with its index
            if f"{d}_lo" in ds.coords:
                for end in ("lo", "hi"):
                    idx = df[d].astype(int).to_numpy()
                    assert (df[f"{d}_{end}"].to_numpy() == ds[f"{d}_{end}"].values[idx]).all()
        points = dims
    elif analysis == "tornado":
        assert points == ["input", "level"]
    else:
        assert points == []
    assert not df.duplicated(subset=list(df.columns[:-2])).any()  # one row per key
    for row in df.to_dict("records"):
        want = _expected(ds, row, points)
        assert _same(float(row["value"]), want), row
    # Every number of every variable the table takes is in it (none lost, none made up).
    n = 0
    for da in ds.data_vars.values():
        if set(da.dims) <= {"quantile", "bound", "year", *points} and da.dtype.kind in "iuf":
            n += da.size
    n_points = (math.prod(ds.sizes[d] for d in points) + (analysis == "tornado")
                if analysis else 1)  # a tornado's baseline: one more point
    n += n_points * sum(k in ds.attrs for k in ("trials", "mc_trials"))
    assert len(df) == n


@pytest.mark.parametrize("case", ["quote", "vintage", "sweep", "pairs", "tornado"])
def test_csv_and_parquet_round_trip(capsys, tmp_path, case):
    argv = _cases(tmp_path)[case]
    for suffix in (".nc", ".csv", ".parquet"):
        code, _, err = run(capsys, *argv, "--quiet", "--out", tmp_path / f"r{suffix}")
        assert code == 0, err
    ds = open_result(tmp_path / "r.nc")
    df = read_csv(tmp_path / "r.csv")
    _check_table(df, ds)
    table = pd.read_parquet(tmp_path / "r.parquet")
    _check_table(table, ds)
    # Typed: the same table as the CSV, with nullable types where a cell may be empty.
    assert str(table["value"].dtype) == "float64" and str(table["quantile"].dtype) == "Float64"
    if "year" in table:
        assert str(table["year"].dtype) == "Int64"
    assert list(table.columns) == list(df.columns) and len(table) == len(df)
    # The CSV's float text is repr: the standard library reads back the same float64s.
    with open(tmp_path / "r.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for a, b in zip(rows, table["value"].to_numpy()):
        assert _same(float(a["value"]), float(b))
        if "." in a["value"] or "e" in a["value"]:
            assert a["value"] == repr(float(a["value"]))


def test_tidy_table_pivots(capsys, tmp_path):
    """The documented use: a pivot of the sweep's P(cover) over its two keys."""
    cfg = CONFIGS / "sweep-energy-spend.toml"
    for suffix in (".nc", ".csv"):
        assert run(capsys, "sweep", cfg, "--trials", TRIALS, "--quiet", "--out",
                   tmp_path / f"s{suffix}")[0] == 0
    df = read_csv(tmp_path / "s.csv")
    grid = df[df.statistic == "p_cover"].pivot(index="energy_ratio", columns="gpu_spend",
                                               values="value")
    ds = open_result(tmp_path / "s.nc")
    assert np.array_equal(grid.to_numpy(), ds["p_cover"].values)
    medians = df.query("output == 'gap' and statistic == 'quantile' and quantile == 0.5")
    assert np.array_equal(medians["value"].to_numpy(),
                          ds["gap_quantile"].sel(quantile=0.5).values.ravel())


@pytest.mark.parametrize("case", ["quote", "vintage", "sweep", "tornado"])
def test_json_file_is_what_json_prints(capsys, tmp_path, case):
    argv = _cases(tmp_path)[case]
    out = tmp_path / "r.json"
    code, stdout, err = run(capsys, *argv, "--quiet", "--json", "--out", out)
    assert code == 0, err
    assert out.read_text(encoding="utf-8") == stdout
    json.loads(stdout)


@pytest.mark.parametrize("command", ["quote", "sweep", "tornado"])
@pytest.mark.parametrize("name", ["r.txt", "r", "r.nc4", "r.csv.gz"])
def test_unknown_suffix_refused_before_any_work(capsys, tmp_path, command, name):
    argv = [command] + ([str(CONFIGS / "sweep-energy-spend.toml")] if command == "sweep" else [])
    code, stdout, err = run(capsys, *argv, "--trials", "1000000000", "--out", tmp_path / name)
    assert code == 2 and stdout == ""
    assert "nothing was run" in err and err.count("\n") == 1
    for suffix in (".nc", ".csv", ".parquet", ".json"):
        assert suffix in err
    assert list(tmp_path.iterdir()) == []


def test_suffix_case_is_ignored(capsys, tmp_path):
    code, _, err = run(capsys, "quote", "--trials", TRIALS, "--quiet", "--out",
                       tmp_path / "R.CSV")
    assert code == 0, err
    assert (tmp_path / "R.CSV").read_text().startswith("output,statistic,quantile,value,units\n")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_force_as_for_netcdf(capsys, tmp_path, suffix):
    out = tmp_path / f"r{suffix}"
    out.write_bytes(b"theirs")
    code, stdout, err = run(capsys, "quote", "--trials", TRIALS, "--out", out)
    assert code == 2 and stdout == ""
    assert f"{out}: file exists; nothing was run. Pass --force" in err
    assert out.read_bytes() == b"theirs"
    code, _, err = run(capsys, "quote", "--trials", TRIALS, "--quiet", "--out", out, "--force")
    assert code == 0, err
    assert out.read_bytes() != b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary left


def test_parquet_without_its_libraries_names_the_extra(capsys, tmp_path, monkeypatch):
    real = exports.importlib.util.find_spec
    monkeypatch.setattr(exports.importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyarrow" else real(name, *a))
    code, stdout, err = run(capsys, "tornado", "--trials", "1000000000", "--out",
                            tmp_path / "t.parquet")
    assert code == 2 and stdout == ""
    assert 'pip install "capexgap[parquet]"' in err and "pyarrow" in err
    assert "nothing was run" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_csv_needs_neither_pandas_nor_pyarrow(capsys, tmp_path, monkeypatch):
    """The CSV is the standard library's: written with pyarrow unimportable, and
    engine.io.exports imports no pandas for it (xarray itself depends on pandas)."""
    code, _, err = run(capsys, "quote", "--trials", TRIALS, "--quiet", "--out", tmp_path / "a.csv")
    assert code == 0, err
    imported = []
    real_import = builtins.__import__

    def spy(name, globals=None, *args, **kwargs):
        if (globals or {}).get("__name__") == exports.__name__:
            imported.append(name)
        return real_import(name, globals, *args, **kwargs)

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now raises ImportError
    monkeypatch.setattr(builtins, "__import__", spy)
    code, _, err = run(capsys, "quote", "--trials", TRIALS, "--quiet", "--out", tmp_path / "b.csv")
    assert code == 0, err
    assert imported and not [m for m in imported if m.split(".")[0] in ("pandas", "pyarrow")]
    a, b = (tmp_path / "a.csv").read_bytes(), (tmp_path / "b.csv").read_bytes()
    assert a == b and a.count(b"\n") > 50
