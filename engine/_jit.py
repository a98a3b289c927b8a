"""Where numba caches the compiled kernels.

numba's on-disk cache notices edits to the file that defines a cached function, but not to its
callees in other modules (distributions, rng): a stale kernel would then run silently. So the
cache lives in a folder named after a hash of every source file of ``engine`` and
``distributions`` that holds compiled code (mentions ``njit`` or ``intrinsic``): any edit to
those, or another numba version, compiles afresh. A user's own
``NUMBA_CACHE_DIR`` is respected as the parent folder.

This module must be imported before any ``@njit(cache=True)`` decorator runs.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numba


def source_fingerprint() -> str:
    """sha256 (16 hex digits) of the sources the kernels are compiled from."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(numba.__version__.encode())
    for pkg in ("engine", "distributions"):
        for path in sorted((root / pkg).glob("*.py")):
            text = path.read_bytes()
            # Only modules with compiled code matter: editing the CLI or plots keeps the cache.
            if b"njit" in text or b"intrinsic" in text:
                h.update(path.name.encode())
                h.update(text)
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    """The kernel cache folder for these sources."""
    parent = os.environ.get("NUMBA_CACHE_DIR") or os.environ.get("CAPEXGAP_CACHE_DIR")
    if parent:
        base = Path(parent)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "capexgap"
    return base / f"numba-{source_fingerprint()}"


def configure() -> None:
    """Point numba's cache at :func:`cache_dir` (a temporary folder if that is not writable)."""
    path = cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, delete=True)
        probe.close()
    except OSError:
        path = Path(tempfile.gettempdir()) / "capexgap-numba" / path.name
        path.mkdir(parents=True, exist_ok=True)
    numba.config.CACHE_DIR = str(path)


configure()
