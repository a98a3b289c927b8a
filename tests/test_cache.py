"""The compiled-kernel cache: a private per-user folder, keyed by the sources, never in-tree.

The subprocess runs get their own HOME / XDG_CACHE_HOME / CAPEXGAP_CACHE_DIR under tmp_path, so
they compile cold (a quote: ~15-25 s); there are two such quote runs in this file, the other
subprocesses compile one small function only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numba
import pytest
from numba.core import caching

import distributions
import engine
from distributions import _jitcache

PACKAGES = {name: Path(mod.__file__).resolve().parent
            for name, mod in (("distributions", distributions), ("engine", engine))}

# One small cached kernel (Distribution.ppf -> distributions._blocks.ppf_block_many).
_SMALL = """\
import numpy as np
import distributions
d = distributions.parse("x", {"dist": "lognormal", "ci90": [1.0, 2.0]})
print(float(d.ppf(np.array([0.5]))[0]))
"""


def _env(tmp_path: Path, cache_dir: Path | None) -> dict[str, str]:
    """The environment of a subprocess with a home and cache folders of its own."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("CAPEXGAP_CACHE_DIR", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    if cache_dir is not None:
        env["CAPEXGAP_CACHE_DIR"] = str(cache_dir)
    return env


def _quote(tmp_path: Path, cache_dir: Path | None) -> subprocess.CompletedProcess:
    # plain Monte Carlo of independent inputs: the smallest set of kernels a quote compiles
    # (the caching is the same for every kernel; this keeps each cold run short)
    return subprocess.run([sys.executable, "-m", "engine", "quote", "--trials", "1000", "--json",
                           "--quiet", "--method", "mc", "--independent"],
                          env=_env(tmp_path, cache_dir), cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)


def _small(tmp_path: Path, cache_dir: Path | None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _SMALL], env=_env(tmp_path, cache_dir),
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def _cache_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".nbi", ".nbc"))


def _in_tree() -> list[Path]:
    """numba cache files beside the sources (numba's default locator would put them there)."""
    return [p for d in PACKAGES.values() for p in _cache_files(d / "__pycache__")
            if (d / "__pycache__").is_dir()]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# ---------------------------------------------------------------------------------------------
# A run: the per-user folder, 0700, holds the kernels; nothing in the package's __pycache__
# ---------------------------------------------------------------------------------------------

def test_quote_caches_in_the_private_per_user_folder(tmp_path):
    # Only the XDG cache home is given: the folder is platformdirs' per-user one.
    (tmp_path / "home").mkdir()
    r = _quote(tmp_path, None)
    assert r.returncode == 0, r.stderr
    assert "KernelCacheWarning" not in r.stderr

    base = tmp_path / "xdg" / "capexgap"
    (keyed,) = base.glob("numba-*")
    assert keyed.name == f"numba-{_jitcache.source_fingerprint()}"
    for folder in (base, keyed, keyed / "engine", keyed / "distributions"):
        assert folder.is_dir() and not folder.is_symlink()
        assert _mode(folder) == 0o700, folder
        assert os.lstat(folder).st_uid == os.getuid()
    names = {p.name.split("-")[0] for p in _cache_files(keyed) if p.suffix == ".nbi"}
    assert "runner.run_chunk" in names
    assert "_blocks._ppf_many" in names
    # each module's kernels in the folder of its package (engine/core for engine.core.runner)
    for p in _cache_files(keyed):
        assert keyed in p.parents and p.parent.name in ("engine", "distributions", "core",
                                                        "models"), p
    assert _in_tree() == []
    assert not (tmp_path / "home" / ".cache").exists()  # XDG_CACHE_HOME was honoured


def test_world_writable_folder_is_not_used(tmp_path):
    cache = tmp_path / "shared"
    cache.mkdir()
    cache.chmod(0o777)
    r = _quote(tmp_path, cache)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["trials"] == 1000
    lines = [ln for ln in r.stderr.splitlines() if "KernelCacheWarning" in ln]
    assert len(lines) == 1, r.stderr
    assert str(cache) in lines[0]
    assert "other users may write to it (mode 0777)" in lines[0]
    assert f"chmod 700 {cache}" in lines[0] and "CAPEXGAP_CACHE_DIR" in lines[0]
    assert list(cache.iterdir()) == []  # not even the keyed subfolder was made
    assert _in_tree() == []


def test_symlinked_folder_is_not_used(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(target)
    r = _small(tmp_path, link)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) == pytest.approx(2 ** 0.5)
    lines = [ln for ln in r.stderr.splitlines() if "KernelCacheWarning" in ln]
    assert len(lines) == 1, r.stderr
    assert f"{link} is not used: it is a symbolic link" in lines[0]
    assert list(target.iterdir()) == []
    assert _in_tree() == []


def test_explicit_folder_is_made_private_and_used(tmp_path):
    cache = tmp_path / "a" / "b"  # neither exists: both made 0700
    r = _small(tmp_path, cache)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert _mode(tmp_path / "a") == 0o700 and _mode(cache) == 0o700
    files = [p.name for p in _cache_files(cache)]
    assert any(n.startswith("_blocks._ppf_many-") and n.endswith(".nbi") for n in files)
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()


# ---------------------------------------------------------------------------------------------
# The folder check, in process
# ---------------------------------------------------------------------------------------------

def test_check_accepts_a_private_folder(tmp_path):
    folder = tmp_path / "ok"
    folder.mkdir()
    folder.chmod(0o700)
    assert _jitcache.check_folder(folder) is None
    folder.chmod(0o755)  # readable by others is fine: only writing matters
    assert _jitcache.check_folder(folder) is None


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757, 0o1777])
def test_check_refuses_group_or_world_writable(tmp_path, mode):
    folder = tmp_path / "w"
    folder.mkdir()
    folder.chmod(mode)
    assert _jitcache.check_folder(folder) == \
        f"other users may write to it (mode {mode:04o})"


def test_check_refuses_symlink_and_file(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "file").write_text("")
    assert _jitcache.check_folder(tmp_path / "link") == "it is a symbolic link"
    assert _jitcache.check_folder(tmp_path / "file") == "it is not a folder"
    assert _jitcache.check_folder(tmp_path / "missing").startswith("it cannot be read")


def test_check_refuses_a_folder_owned_by_someone_else(tmp_path, monkeypatch):
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    uid = os.getuid()
    with monkeypatch.context() as m:
        m.setattr(os, "getuid", lambda: uid + 1)
        assert _jitcache.check_folder(folder) == \
            f"it is owned by user id {uid}, not by this user (id {uid + 1})"
    assert _jitcache.check_folder(folder) is None


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="chown to another user needs root")
def test_check_refuses_a_folder_chowned_to_nobody(tmp_path):
    folder = tmp_path / "nobody"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)
    assert _jitcache.check_folder(folder) == \
        f"it is owned by user id 65534, not by this user (id {os.getuid()})"


def test_made_folders_are_0700_whatever_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        _jitcache._make_private(tmp_path / "x" / "y")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "x") == 0o700 and _mode(tmp_path / "x" / "y") == 0o700
    # An existing folder is judged, not changed.
    (tmp_path / "z").mkdir()
    (tmp_path / "z").chmod(0o777)
    _jitcache._make_private(tmp_path / "z")
    assert _mode(tmp_path / "z") == 0o777


# ---------------------------------------------------------------------------------------------
# The key and the locator
# ---------------------------------------------------------------------------------------------

def _copy_sources(dest: Path) -> Path:
    for name, src in PACKAGES.items():
        (dest / name).mkdir(parents=True)
        for path in src.rglob("*.py"):
            target = dest / name / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return dest


def test_key_follows_kernel_sources_and_versions(tmp_path, monkeypatch):
    root = _copy_sources(tmp_path / "tree")
    key = _jitcache.source_fingerprint(root)
    assert key == _jitcache.source_fingerprint(PACKAGES["engine"].parent)
    assert re.fullmatch(r"[0-9a-f]{24}", key)

    # A callee in another module than the cached function (numba's own stamp misses this).
    kernels = root / "distributions" / "_kernels.py"
    original = kernels.read_bytes()
    kernels.write_bytes(original.replace(b"_TWO52 = 4503599627370496.0",
                                         b"_TWO52 = 4503599627370497.0", 1))
    assert kernels.read_bytes() != original
    assert _jitcache.source_fingerprint(root) != key
    kernels.write_bytes(original)
    assert _jitcache.source_fingerprint(root) == key

    # A module without compiled code does not matter.
    cli = root / "engine" / "cli" / "__init__.py"
    cli.write_text(cli.read_text() + "\n# an edit\n")
    assert _jitcache.source_fingerprint(root) == key

    monkeypatch.setattr(numba, "__version__", "0.0.0")
    assert _jitcache.source_fingerprint(root) != key


def test_every_cached_decorator_goes_through_the_flag():
    raw = re.compile(r"cache\s*=\s*True")
    offenders = [f"{path.parent.name}/{path.name}:{i}"
                 for d in PACKAGES.values() for path in sorted(d.rglob("*.py"))
                 if path.name != "_jitcache.py"
                 for i, line in enumerate(path.read_text().splitlines(), 1)
                 if line.lstrip().startswith("@") and raw.search(line)]
    assert offenders == []


def test_locator_claims_only_our_files():
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    assert impl._locator_classes[0] is _jitcache._KernelLocator
    assert _jitcache.CACHE and _jitcache.kernel_folder() is not None

    from engine.core import reduce
    py = reduce.merge_moments.py_func
    loc = _jitcache._KernelLocator.from_function(py, py.__code__.co_filename)
    assert loc is not None
    assert Path(loc.get_cache_path()) == _jitcache.kernel_folder() / "engine" / "core"
    assert loc.get_source_stamp() == _jitcache.source_fingerprint()

    # Another numba user's function (this test file) is left to numba's own locators.
    def elsewhere(x):
        return x + 1

    assert _jitcache._KernelLocator.from_function(elsewhere, __file__) is None
    assert numba.config.CACHE_DIR == os.environ.get("NUMBA_CACHE_DIR", "")
