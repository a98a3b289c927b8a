"""Result files from someone else (engine.resultfile): `capexgap plot` and engine.open_result
refuse, with exit code 2 and a message naming the file, the variable and the rule, anything a
capexgap result never holds, before reading its data, and leave no picture behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

import engine  # noqa: E402
from engine.present import plot  # noqa: E402
from engine.io import resultfile
from engine.cli import main  # noqa: E402
from engine.io.resultfile import ResultFileError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SECRET = "capexgap-test-secret-4f1c9e"

SMALL = """
[scenario]
name = "hostile test"
seed = 7
[inputs]
gpu_spend = { dist = "lognormal", ci90 = [40, 80] }
energy_ratio = 1.0
margin = 0.5
useful_life = 3
[revenue]
A = { dist = "lognormal", ci90 = [20, 60] }
"""


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A real small quote, written by capexgap."""
    path = tmp_path_factory.mktemp("hostile") / "good.nc"
    engine.write_netcdf(engine.simulate(engine.loads(SMALL, source="small.toml"),
                                        trials=2000), path)
    return path


def _copy(good: Path, tmp_path: Path, name: str = "in.nc") -> Path:
    dst = tmp_path / name
    shutil.copyfile(good, dst)
    return dst


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, tmp_path, src, *messages):
    """`capexgap plot src` exits 2 with one line naming src and each of `messages`, and
    leaves no picture."""
    out = tmp_path / "out.png"
    code, stdout, err = run(capsys, "plot", src, "-o", out)
    assert code == 2, err
    assert stdout == ""
    assert err.startswith(f"capexgap: error: {src}: "), err
    for m in messages:
        assert m in err, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".png" or ".part" in p.name]
    return err


def test_the_real_file_is_read_and_drawn(capsys, good, tmp_path):
    ds = engine.open_result(good)
    assert ds.attrs["format"] == "capexgap-result" and int(ds.attrs["format_version"]) == 1
    code, stdout, err = run(capsys, "plot", good, "-o", tmp_path / "ok.png")
    assert code == 0, err
    assert (tmp_path / "ok.png").read_bytes().startswith(b"\x89PNG")


# ------------------------------------------------------------------------------ not a file


def test_fifo_returns_at_once(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "x.nc"
    os.mkfifo(fifo)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "engine", "plot", str(fifo), "-o",
                           str(tmp_path / "x.png")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"{fifo}: is not a regular file (got a FIFO (named pipe))" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_folder(capsys, tmp_path):
    d = tmp_path / "dir.nc"
    d.mkdir()
    refused(capsys, tmp_path, d, "is a folder, not a result file")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_device(capsys, tmp_path):
    link = tmp_path / "zero.nc"
    link.symlink_to("/dev/zero")
    refused(capsys, tmp_path, link, "is not a regular file (got a device)")


def test_missing_and_oversized(capsys, tmp_path, good, monkeypatch):
    refused(capsys, tmp_path, tmp_path / "none.nc", "no such file")
    src = _copy(good, tmp_path)
    monkeypatch.setenv("CAPEXGAP_MAX_RESULT_MIB", "0")
    code, stdout, err = run(capsys, "plot", src, "-o", tmp_path / "out.png")
    assert code == 2 and stdout == "" and not (tmp_path / "out.png").exists()
    assert err == ("capexgap: error: CAPEXGAP_MAX_RESULT_MIB=0: must be a whole number of MiB "
                   ">= 1. Set it e.g. to 16384, or unset it for the default 4096.\n")
    with open(src, "ab") as f:  # just over 1 MiB
        f.truncate(src.stat().st_size + (1 << 20))
    monkeypatch.setenv("CAPEXGAP_MAX_RESULT_MIB", "1")
    refused(capsys, tmp_path, src, "is bigger than the 1 MiB a result file may be",
            "raise the cap with CAPEXGAP_MAX_RESULT_MIB")


def test_a_symlink_to_a_result_is_read(good, tmp_path):
    link = tmp_path / "link.nc"
    link.symlink_to(good)
    assert float(engine.open_result(link)["p_cover"]) == float(engine.open_result(good)
                                                                ["p_cover"])


# ------------------------------------------------------------------------------ not a result


def test_not_hdf5(capsys, tmp_path):
    src = tmp_path / "in.nc"
    src.write_bytes(b"GIF89a" + b"\0" * 100)
    refused(capsys, tmp_path, src, "is not a NetCDF file")


def test_plain_netcdf_without_the_format(capsys, tmp_path):
    src = tmp_path / "in.nc"
    xr.Dataset({"p_cover": ((), 0.5)}, attrs={"trials": 10}).to_netcdf(src, engine="h5netcdf")
    refused(capsys, tmp_path, src, "attribute `format`: is missing: this is not a capexgap "
                                   "result", "Write it again with this capexgap")


def test_newer_format_version(capsys, tmp_path, good):
    src = _copy(good, tmp_path)
    with h5py.File(src, "r+") as f:
        f.attrs["format_version"] = np.int64(99)
    refused(capsys, tmp_path, src, "attribute `format_version`: must be one of 1", "(got 99)",
            "upgrade capexgap")


# ------------------------------------------------------------------------------ HDF5 features


def test_external_storage_is_never_read(capsys, tmp_path, good):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET * 10)
    src = _copy(good, tmp_path)
    with h5py.File(src, "r+") as f:
        f.create_dataset("leak", shape=(len(SECRET) * 10,), dtype="u1",
                         external=[(str(secret), 0, h5py.h5f.UNLIMITED)])
    err = refused(capsys, tmp_path, src, "variable `leak`: keeps its data in other files "
                                         "(HDF5 external storage)")
    assert SECRET not in err
    with pytest.raises(ResultFileError, match="external storage"):
        engine.open_result(src)


def test_external_link(capsys, tmp_path, good):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    src = _copy(good, tmp_path)
    with h5py.File(src, "r+") as f:
        f["ext"] = h5py.ExternalLink(str(other), "/x")
    refused(capsys, tmp_path, src, "variable `ext`: is an HDF5 external link")


def test_soft_link_group_and_unknown_filter(capsys, tmp_path, good):
    src = _copy(good, tmp_path)
    with h5py.File(src, "r+") as f:
        f["soft"] = h5py.SoftLink("/p_cover")
    refused(capsys, tmp_path, src, "variable `soft`: is an HDF5 soft link")
    src = _copy(good, tmp_path, "group.nc")
    with h5py.File(src, "r+") as f:
        f.create_group("g")
    refused(capsys, tmp_path, src, "variable `g`: is not a variable (an HDF5 group")
    src = _copy(good, tmp_path, "lzf.nc")
    with h5py.File(src, "r+") as f:
        f.create_dataset("z", data=np.zeros(100), compression="lzf")
    refused(capsys, tmp_path, src, "variable `z`: is compressed with an HDF5 filter capexgap "
                                   "never uses")


def test_virtual_dataset(capsys, tmp_path, good):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(4.0)
    src = _copy(good, tmp_path)
    layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
    layout[:] = h5py.VirtualSource(str(other), "x", shape=(4,))
    with h5py.File(src, "r+") as f:
        f.create_virtual_dataset("v", layout)
    refused(capsys, tmp_path, src, "variable `v`: is an HDF5 virtual dataset")


def test_huge_declared_variable_is_refused_before_reading(capsys, tmp_path, good):
    src = _copy(good, tmp_path)
    with h5py.File(src, "r+") as f:  # 80 GB declared, nothing written: the file stays small
        f.create_dataset("huge", shape=(10**10,), dtype="f8", chunks=(1 << 16,))
    assert src.stat().st_size < 2 * good.stat().st_size
    refused(capsys, tmp_path, src, "variable `huge`: declares more data than the 4,096 MiB "
                                   "a result may hold", "(got shape (10000000000,))")


# ------------------------------------------------------------------------------ values


def _tamper(good: Path, tmp_path: Path, name: str, value) -> Path:
    src = _copy(good, tmp_path)
    with h5py.File(src, "r+") as f:
        f[name][...] = value
    return src


@pytest.mark.parametrize("name, value, message", [
    ("hits", -5, "variable `hits`: must hold counts between 0 and the 2,000 trials of the run "
                 "(got -5)"),
    ("gap_hist", -1, "variable `gap_hist`: must hold counts between 0"),
    ("p_cover", 1.5, "variable `p_cover`: must hold probabilities between 0 and 1 (got 1.5)"),
    ("quantile", 1.5, "coordinate `quantile`: must hold levels strictly between 0 and 1"),
    ("gap_bin_lower", 0.0, "must be consecutive bins of capexgap's gap sketch"),
    ("gap_min", 1e300, "variable `gap_min`: must be finite (or NaN) and at most `gap_max`"),
])
def test_impossible_values(capsys, tmp_path, good, name, value, message):
    refused(capsys, tmp_path, _tamper(good, tmp_path, name, value), message)


def test_five_megabyte_title_is_refused(capsys, tmp_path, good):
    src = _copy(good, tmp_path)
    with h5py.File(src, "r+") as f:
        f.attrs["title"] = "T" * 5_000_000
    err = refused(capsys, tmp_path, src, "attribute `title`: is longer than the 4,096 "
                                         "characters", "(got 5,000,000 characters)")
    assert len(err) < 1000


def test_escape_sequences_in_a_title_and_names_are_escaped(capsys, tmp_path, good):
    """A title with a terminal escape sequence is drawn escaped; a name with one is shown
    escaped in the error message."""
    evil = "Evil\x1b]0;pwned\x07\x1b[2J\u202eTitle"
    src = _copy(good, tmp_path)
    with h5py.File(src, "r+") as f:
        f.attrs["title"] = evil
    fig = plot.plot_result(engine.open_result(src))
    title = fig._suptitle.get_text()
    assert "\x1b" not in title and "\u202e" not in title and "\x07" not in title
    assert title == "Evil\\x1b]0;pwned\\x07\\x1b[2J\\u202eTitle"
    out = tmp_path / "ok.png"
    code, stdout, err = run(capsys, "plot", src, "-o", out)
    assert code == 0 and "\x1b" not in stdout + err and out.read_bytes().startswith(b"\x89PNG")
    out.unlink()
    src = _copy(good, tmp_path, "name.nc")
    with h5py.File(src, "r+") as f:
        f.create_dataset("bad\x1b[2J", data=np.zeros(3), compression="lzf")
    err = refused(capsys, tmp_path, src, "variable `bad\\x1b[2J`: is compressed")
    assert "\x1b" not in err


def test_open_result_raises_the_same_errors(tmp_path, good):
    src = tmp_path / "in.nc"
    src.write_text("nope")
    with pytest.raises(ResultFileError, match=r"in.nc: is not a NetCDF file"):
        engine.open_result(src)
    assert resultfile.max_bytes() == resultfile.DEFAULT_MAX_MIB << 20
