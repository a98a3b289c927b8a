"""Output files written safely, and every null, infinity and tiny probability explained.

Every writer (a quote's or a sweep's NetCDF, a picture, ``bench --out``) goes through
engine.outfile: a temporary file in the target's folder, published whole, never over a file
that appeared meanwhile (without --force) nor over anything but a regular file (with it).
Each test checks the exit code, the message and what is left in the folder.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from engine.core import dataset, stats
from engine.io import results
from engine.base import fmt
from engine.io import outfile
from engine.present import plot
from engine.cli import main
from engine.base.errors import OutputError
from engine.base.interrupts import Interrupted
from engine.core.reduce import BLOCK

ROOT = Path(__file__).resolve().parents[1]
#: Constant inputs: no trial covers, the run takes milliseconds, P(cover)'s relative error is
#: undefined (the JSON null that needs a note).
WSJ = ROOT / "configs" / "wsj-17x-2023.toml"

#: Eight revenue inputs that must all be about 12 standard deviations high to cover:
#: P(cover) ~ 1e-227, whose importance-sampling weights' squares underflow float64.
TINY = """
[scenario]
name = "tiny"
seed = 3
[inputs]
gpu_spend = 150
energy_ratio = 1.0
margin = 0.5
useful_life = 1
cost_of_capital = 0
[revenue]
""" + "\n".join(f'C{i} = {{ dist = "lognormal", mu = 0.0, sigma = 0.36 }}' for i in range(8))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@contextlib.contextmanager
def tmpfs(folder: Path, options: str):
    """A small tmpfs mounted on `folder` (root only); skips the test where that cannot be."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


# ------------------------------------------------------------------------- the writer itself

def test_quote_out_is_written_whole_with_normal_permissions(capsys, tmp_path):
    out = tmp_path / "r.nc"
    code, stdout, err = run(capsys, "quote", WSJ, "--out", out)
    assert code == 0, err
    assert listing(tmp_path) == ["r.nc"]  # no temporary file left
    assert out.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def _appear_during_serialisation(monkeypatch, make):
    """Run `make()` while the result is being serialised: after the early check, before
    the file is published."""
    real = results.netcdf_bytes

    def serialise_then_appear(*args, **kwargs):
        data = real(*args, **kwargs)
        make()
        return data

    monkeypatch.setattr(results, "netcdf_bytes", serialise_then_appear)


def test_a_file_that_appears_while_running_is_not_overwritten(capsys, tmp_path, monkeypatch):
    out = tmp_path / "r.nc"
    _appear_during_serialisation(monkeypatch, lambda: out.write_bytes(b"theirs"))
    code, stdout, err = run(capsys, "quote", WSJ, "--out", out)
    assert code == 2 and stdout == ""
    assert f"capexgap: error: {out}: a file of that name appeared while running; nothing was " \
           "overwritten and nothing was written. Pass --force" in err
    assert err.count("\n") == 1
    assert out.read_bytes() == b"theirs"
    assert listing(tmp_path) == ["r.nc"]


def test_force_replaces_a_regular_file_that_appeared(capsys, tmp_path, monkeypatch):
    out = tmp_path / "r.nc"
    _appear_during_serialisation(monkeypatch, lambda: out.write_bytes(b"theirs"))
    code, _, err = run(capsys, "quote", WSJ, "--out", out, "--force")
    assert code == 0, err
    assert out.read_bytes()[:4] == b"\x89HDF"
    assert listing(tmp_path) == ["r.nc"]


def _special(kind: str, path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        (path.parent / "target.nc").write_bytes(b"pointed to")
        path.symlink_to("target.nc")
    else:
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # what /dev/null is


def _still(kind: str, path: Path) -> bool:
    mode = os.lstat(path).st_mode
    return {"fifo": stat.S_ISFIFO, "symlink": stat.S_ISLNK, "device": stat.S_ISCHR}[kind](mode)


@pytest.mark.parametrize("kind, word", [("fifo", "a FIFO (named pipe)"),
                                        ("symlink", "a symbolic link"), ("device", "a device")])
def test_force_never_replaces_a_device_fifo_or_symlink(capsys, tmp_path, kind, word):
    out = tmp_path / "r.nc"
    _special(kind, out)
    before = listing(tmp_path)
    code, stdout, err = run(capsys, "quote", WSJ, "--out", out, "--force")
    assert code == 2 and stdout == ""
    assert f"{out}: is {word}, not a regular file; --force only replaces regular files, so " \
           "nothing was run" in err
    assert _still(kind, out) and listing(tmp_path) == before
    if kind == "symlink":
        assert (tmp_path / "target.nc").read_bytes() == b"pointed to"


def test_force_refuses_a_device_that_appears_while_running(capsys, tmp_path, monkeypatch):
    out = tmp_path / "r.nc"
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    _appear_during_serialisation(monkeypatch, lambda: _special("device", out))
    code, stdout, err = run(capsys, "quote", WSJ, "--out", out, "--force")
    assert code == 2 and stdout == ""
    assert f"{out}: is a device, not a regular file; --force only replaces regular files, so " \
           "nothing was written" in err
    assert _still("device", out) and listing(tmp_path) == ["r.nc"]


def test_file_as_folder_is_refused_before_running(capsys, tmp_path):
    (tmp_path / "existing").write_text("a file")
    out = tmp_path / "existing" / "x.nc"
    code, stdout, err = run(capsys, "quote", WSJ, "--out", out)
    assert code == 2 and stdout == ""
    assert f"{out}: cannot be written (Not a directory): a part of folder " \
           f"{tmp_path / 'existing'} is a file, not a folder; nothing was run." in err
    assert listing(tmp_path) == ["existing"]


def test_folder_without_write_permission_is_refused(capsys, tmp_path):
    if os.geteuid() == 0:
        with tmpfs(tmp_path / "ro", "ro,size=64k") as folder:
            code, stdout, err = run(capsys, "quote", WSJ, "--out", folder / "x.nc")
            left = listing(folder)
        reason = "(Read-only file system): folder"
    else:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o555)
        code, stdout, err = run(capsys, "quote", WSJ, "--out", folder / "x.nc")
        left = listing(folder)
        reason = "(Permission denied): folder"
    assert code == 2 and stdout == ""
    assert f"{folder / 'x.nc'}: cannot be written {reason} {folder}" in err
    assert "nothing was run. Choose another --out path." in err
    assert left == []


def test_a_very_long_name_is_refused(capsys, tmp_path):
    out = tmp_path / ("r" * 300 + ".nc")
    code, stdout, err = run(capsys, "quote", WSJ, "--out", out)
    assert code == 2 and stdout == ""
    assert "cannot be written (File name too long): the name is too long (303 bytes" in err
    assert "Give --out a shorter name." in err and err.count("\n") == 1
    assert listing(tmp_path) == []


def test_disk_full_is_exit_2_and_leaves_nothing(capsys, tmp_path):
    with tmpfs(tmp_path / "small", "size=64k") as folder:
        out = folder / "r.nc"
        code, stdout, err = run(capsys, "quote", WSJ, "--trials", 100 * BLOCK, "--out", out)
        left = listing(folder)
    assert code == 2 and stdout == ""
    assert f"{out}: could not be written (No space left on device); nothing was written: the " \
           "disk is full. Free some space" in err
    assert left == []


def test_signal_while_writing_removes_the_temporary_file(capsys, tmp_path, monkeypatch):
    real_write = os.write
    seen = []

    def write_then_signal(fd, data):
        seen.append(listing(tmp_path))  # the temporary file exists now
        real_write(fd, bytes(data[:10]))
        raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(outfile.os, "write", write_then_signal)
    code, stdout, err = run(capsys, "quote", WSJ, "--out", tmp_path / "r.nc")
    assert code == 143 and stdout == ""
    assert "interrupted by SIGTERM; nothing was written." in err
    assert len(seen) == 1 and seen[0][0].startswith(".r.nc.") and seen[0][0].endswith(".part")
    assert listing(tmp_path) == []


def test_signal_during_serialisation_is_delivered_not_lost(capsys, tmp_path, monkeypatch):
    real = results.netcdf_bytes

    def signalled(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # held until the serialisation returns
        return real(*args, **kwargs)

    monkeypatch.setattr(results, "netcdf_bytes", signalled)
    code, stdout, err = run(capsys, "quote", WSJ, "--out", tmp_path / "r.nc")
    assert code == 130 and stdout == ""
    assert "interrupted by Ctrl-C (SIGINT); nothing was written." in err
    assert listing(tmp_path) == []


def test_bench_out_refuses_an_existing_file_before_measuring(capsys, tmp_path, monkeypatch):
    from engine.cli import bench

    monkeypatch.setattr(bench, "run", lambda *a, **k: pytest.fail("measured anyway"))
    out = tmp_path / "b.json"
    out.write_text("old")
    code, stdout, err = run(capsys, "bench", "--out", out)
    assert code == 2 and stdout == ""
    assert f"{out}: file exists; nothing was measured. Pass --force" in err
    assert out.read_text() == "old" and listing(tmp_path) == ["b.json"]


def test_bench_out_is_written_atomically(capsys, tmp_path, monkeypatch):
    from engine.cli import bench

    monkeypatch.setattr(bench, "run", lambda *a, **k: {"fake": 1})
    monkeypatch.setattr(bench, "dumps", lambda res: json.dumps(res))
    out = tmp_path / "b.json"
    out.write_text("old")
    code, stdout, err = run(capsys, "bench", "--json", "--out", out, "--force")
    assert code == 0, err
    assert json.loads(out.read_text()) == {"fake": 1} and json.loads(stdout) == {"fake": 1}
    assert listing(tmp_path) == ["b.json"]


def test_save_figure_uses_the_same_writer(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1])
    assert plot.save_figure(fig, tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    os.mkfifo(tmp_path / "b.png")
    with pytest.raises(plot.PlotError, match=r"b\.png: is a FIFO \(named pipe\), not a regular "
                                             r"file; --force only replaces regular files"):
        plot.save_figure(fig, tmp_path / "b.png", force=True)
    with pytest.raises(plot.PlotError, match=r"a\.png: file exists; nothing was drawn"):
        plot.save_figure(fig, tmp_path / "a.png")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "b.png").st_mode)
    assert listing(tmp_path) == ["a.png", "b.png"]


def test_write_bytes_error_names_the_path_and_leaves_nothing(tmp_path):
    out = tmp_path / "x.json"
    out.write_text("theirs")
    with pytest.raises(OutputError, match="appeared while running; nothing was overwritten"):
        outfile.write_bytes(out, b"ours")
    assert out.read_text() == "theirs" and listing(tmp_path) == ["x.json"]


# --------------------------------------------------------------- nulls, infinities, formats

def _nulls_explained(obj: dict) -> list[str]:
    """Every null of a --json object is named by a note (or its output has notes)."""
    text = "\n".join(obj["notes"])
    paths = dataset._null_paths(obj)
    for path in paths:
        parts = path.split(".")
        if parts[0] == "outputs":
            assert obj["outputs"][parts[1]].get("notes"), path
        else:
            # the path, a tail of it that names a key, or an enclosing path (all its nulls)
            names = dataset._key_names(parts) + [".".join(parts[:k])
                                                for k in range(2, len(parts))]
            assert any(name in text for name in names), (path, text)
    return paths


def _no_inf_or_nan(text: str) -> None:
    assert "inf%" not in text and "nan%" not in text.lower()
    assert "Infinity" not in text and "NaN" not in text


def test_one_trial_text_and_json(capsys):
    # the default without its correlations: its one importance-sampling trial covers (the
    # case of one weighted trial); with them, that trial happens not to
    code, out, err = run(capsys, "quote", "--trials", 1, "--independent")
    assert code == 0, err
    _no_inf_or_nan(out)
    # one importance-sampling trial has no standard error: an upper bound, not an interval
    assert "P(AI revenue covers the annual cost of AI capex) < 95.00%  (one-sided 95% bound " \
           "of the plain pass" in out
    code, out, err = run(capsys, "quote", "--trials", 1, "--json", "--independent")
    assert code == 0, err
    _no_inf_or_nan(out)
    obj = json.loads(out)
    assert obj["p_cover_ci95"] == [0.0, 0.95] and obj["p_cover_upper_bound"] == 0.95
    assert obj["p_cover_se"] is None and obj["p_cover_rel_error"] is None
    assert {"p_cover_se", "p_cover_rel_error", "importance.weight_mean_se"} \
        <= set(_nulls_explained(obj))


def test_wsj_json_says_why_the_relative_error_is_null(capsys):
    code, out, err = run(capsys, "quote", WSJ, "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["hits"] == 0 and obj["p_cover_rel_error"] is None
    assert "p_cover_rel_error is null: no trial covered, so P(cover) is estimated as 0" \
           in "\n".join(obj["notes"])
    assert _nulls_explained(obj) == ["p_cover_rel_error"]


def test_underflowing_importance_estimate_is_an_upper_bound(capsys, write_config):
    cfg = write_config(TINY)
    code, out, err = run(capsys, "quote", cfg, "--trials", 2 * BLOCK, "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["method"] == "importance" and 0 < obj["p_cover"] < stats.IS_TINY
    lo, hi = obj["p_cover_ci95"]
    assert lo == 0.0 and hi == obj["p_cover_upper_bound"] > obj["p_cover"]  # never zero-width
    assert hi == obj["importance"]["mc_p_cover_ci95"][1]
    assert obj["p_cover_se"] is None and obj["p_cover_rel_error"] is None
    assert any("P(cover) is reported as an upper bound" in n and "underflow float64" in n
               for n in obj["notes"])
    _nulls_explained(obj)
    code, text, err = run(capsys, "quote", cfg, "--trials", 2 * BLOCK)
    assert code == 0, err
    _no_inf_or_nan(text)
    assert f"P(AI revenue covers the annual cost of AI capex) < {fmt.pct(hi)}  " in text
    assert "+-0%" not in text and " = " not in text.splitlines()[1]


def test_one_probability_format_everywhere():
    assert fmt.pct(0.0) == "0" and fmt.pct(0.1234) == "12.34%" and fmt.pct(1.0) == "100.00%"
    assert fmt.pct(0.00267) == "0.267%" and fmt.pct(5.99e-6) == "5.99e-6"
    assert fmt.pct(9.66e-259) == "9.66e-259"
    for bad in (math.inf, -math.inf, math.nan):
        assert fmt.pct(bad) == "n/a"
    # ... and no private copy of the rules anywhere else in the package
    root = Path(__file__).resolve().parents[1] / "engine"
    copies = [f"{path.relative_to(root)}:{i}" for path in root.rglob("*.py")
              if path.name != "fmt.py"
              for i, line in enumerate(path.read_text().splitlines(), 1)
              if re.match(r"\s*def _(pct|usd|percent|money)\b", line)]
    assert copies == []


def test_no_mixed_units_in_an_interval(capsys):
    # P(cover) ~ 6e-10 (importance sampling): both ends of its interval in scientific notation,
    # never one end a percentage and the other not
    code, out, err = run(capsys, "quote", ROOT / "configs" / "sequoia-600b-uncertain.toml",
                         "--trials", 2 * BLOCK)
    assert code == 0, err
    intervals = re.findall(r"95% CI (\S+) to (\S+?),", out)
    assert intervals
    for a, b in intervals:
        assert len({"%" in end for end in (a, b) if end != "0"}) <= 1, out
    assert re.search(r"= \d\.\d\de-\d+ \+-", out), out


def test_config_strings_are_escaped_in_text_output():
    # The config loader refuses such names; a result file made elsewhere may still hold one.
    import engine
    from engine.cli import format_quote

    ds = engine.simulate(engine.load_config(WSJ), trials=BLOCK)
    ds.attrs["title"] = "Evil\x1b[2J name"
    ds.attrs["notes"] = "a note with \u202e reversed text"
    out = format_quote(ds, "src\x07.toml")
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert out.splitlines()[0] == "Evil\\x1b[2J name  (src\\x07.toml)"
    assert "note: a note with \\u202e reversed text." in out


def test_vintage_json_says_why_a_break_even_quantile_is_null(capsys):
    code, out, err = run(capsys, "quote", ROOT / "configs" / "vintage-2024-2032.toml",
                         "--trials", BLOCK, "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert None in obj["breakeven_year"]["quantiles"].values()
    paths = _nulls_explained(obj)
    assert any(p.startswith("breakeven_year.quantiles.") for p in paths)
    assert any(n.startswith("breakeven_year.quantiles is null at a level where fewer trials")
               for n in obj["notes"])
