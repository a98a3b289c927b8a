"""Where the compiled kernels of ``distributions`` and ``engine`` are cached on disk.

numba's cache files are pickles that it loads and runs, so they must live where only the user
can write: ``$CAPEXGAP_CACHE_DIR`` if set, else the per-user cache folder
(``platformdirs.user_cache_dir("capexgap")``, ``~/.cache/capexgap`` on Linux), in a subfolder
named after :func:`source_fingerprint`. Never in the installed package's ``__pycache__`` (numba's
default: it survives ``pip uninstall`` and shadows a later install) nor in a shared temporary
folder. The folders are made with mode 0700 and used only if each is a real directory (not a
symlink) owned by this user and not writable by group or others; otherwise nothing is cached
(every start compiles in memory) and one :class:`KernelCacheWarning` says why and how to fix it.

The mechanism is a numba cache locator that claims only the source files of these two packages,
put first in numba's list of locators; other numba users in the same process keep their own
cache (``numba.config.CACHE_DIR`` is left alone). Every cached decorator in both packages is
written ``@njit(..., cache=CACHE)``, so importing :data:`CACHE` from here installs the locator
before the decorator runs, and a folder that cannot be used turns caching off instead of letting
numba fall back to its own locators.

Dependency rule: the stdlib, numpy, numba and platformdirs only (``engine`` imports this module,
never the other way round).
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

import llvmlite
import numba
import numpy as np
from numba.core import caching, event

__all__ = ["CACHE", "KernelCacheWarning", "cache_folder", "check_folder", "compile_seconds",
           "kernel_folder", "source_fingerprint"]


class _CompileClock(event.Listener):
    """Wall time of numba's compiles in this process (a kernel loaded from the cache is not a
    compile): the outermost compile of a nested chain is timed, once. numba compiles under
    one lock, so the events never interleave."""

    def __init__(self) -> None:
        self.depth = 0
        self.start = 0.0
        self.total = 0.0

    def on_start(self, ev) -> None:
        if self.depth == 0:
            self.start = time.perf_counter()
        self.depth += 1

    def on_end(self, ev) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.total += time.perf_counter() - self.start


_CLOCK = _CompileClock()
event.register("numba:compile", _CLOCK)


def compile_seconds() -> float:
    """Seconds this process has spent compiling kernels so far, any compile under way
    included: the difference of two readings is what a command waited for compiles (its
    config check's quantile functions and its run's kernels alike)."""
    running = time.perf_counter() - _CLOCK.start if _CLOCK.depth else 0.0
    return _CLOCK.total + running

#: The packages whose compiled functions this cache holds; setuptools installs them side by
#: side (a wheel's site-packages, or the source tree for an editable install).
_PACKAGES = ("distributions", "engine")
_ROOT = Path(__file__).resolve().parent.parent


class KernelCacheWarning(UserWarning):
    """The kernel cache folder cannot be used safely: kernels are compiled in memory instead."""


def source_fingerprint(root: Path = _ROOT) -> str:
    """Key of the compiled kernels: a hash of everything they are compiled from.

    numba's own freshness check looks only at the file defining a cached function, not at its
    callees in other modules, and an upgrade of numba or of its toolchain changes the machine
    code; so the key covers the capexgap, numba, llvmlite, numpy and Python versions and the
    content of every source file of both packages that holds compiled code (mentions ``njit``
    or ``intrinsic``).

    Parameters
    ----------
    root : Path
        The folder holding the ``distributions`` and ``engine`` packages.

    Returns
    -------
    str
        24 hex digits of a sha256.
    """
    try:
        version = metadata.version("capexgap")
    except metadata.PackageNotFoundError:  # a bare source tree
        version = "unknown"
    h = hashlib.sha256()
    for part in (version, numba.__version__, llvmlite.__version__, np.__version__, sys.version):
        h.update(part.encode() + b"\0")
    for pkg in _PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            text = path.read_bytes()
            # Only modules with compiled code matter: editing the CLI or plots keeps the cache.
            if b"njit" in text or b"intrinsic" in text:
                rel = path.relative_to(root).as_posix()
                h.update(f"{rel}\0{len(text)}\0".encode())
                h.update(text)
    return h.hexdigest()[:24]


def cache_folder() -> Path:
    """The user's capexgap cache folder: ``$CAPEXGAP_CACHE_DIR``, else the per-user one.

    Returns
    -------
    Path
        An absolute path (it may not exist yet).
    """
    env = os.environ.get("CAPEXGAP_CACHE_DIR")
    if env:
        return Path(os.path.abspath(os.path.expanduser(env)))
    import platformdirs  # only when needed: its import is most of this module's start-up cost

    return Path(platformdirs.user_cache_dir("capexgap", appauthor=False))


def check_folder(path: Path) -> str | None:
    """Why ``path`` may not hold cache files, or None if it may.

    A folder others can write to (or swap for a symlink to their own) could receive a cache
    file planted by them, which numba would unpickle and run as this user.

    Parameters
    ----------
    path : Path
        An existing folder.

    Returns
    -------
    str or None
        The rule broken, in words, or None when ``path`` is a real directory owned by this user,
        not writable by group or others, and writable by this user.
    """
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a folder"
    if st.st_uid != os.getuid():
        return f"it is owned by user id {st.st_uid}, not by this user (id {os.getuid()})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"other users may write to it (mode {stat.S_IMODE(st.st_mode):04o})"
    if not os.access(path, os.W_OK | os.X_OK):
        return "this user cannot write to it"
    return None


def _make_private(path: Path) -> None:
    """Create ``path`` and any missing parents, each with mode 0700 (existing ones untouched)."""
    missing = []
    p = path
    while not os.path.lexists(p) and p != p.parent:
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:  # made meanwhile by another process: check_folder judges it
            continue
        os.chmod(p, 0o700)  # mkdir's mode is filtered by the umask


def _setup(fingerprint: str) -> tuple[Path | None, str]:
    """(the keyed cache folder, "") or (None, why it cannot be used and how to fix that)."""
    base = cache_folder()
    keyed = base / f"numba-{fingerprint}"
    # Outer to inner: nothing is made inside a folder that failed its check.
    for folder in (base, keyed, *(keyed / pkg for pkg in _PACKAGES)):
        try:
            _make_private(folder)
        except OSError as exc:
            return None, (f"kernel cache folder {folder} cannot be created ({exc.strerror}); "
                          "set CAPEXGAP_CACHE_DIR to a writable folder of your own")
        why = check_folder(folder)
        if why:
            if why.startswith("other users"):
                fix = f"run chmod 700 {folder}, or set"
            elif folder != base:
                fix = f"remove {folder}, or set"
            else:
                fix = "set"
            return None, (f"kernel cache folder {folder} is not used: {why}; {fix} "
                          "CAPEXGAP_CACHE_DIR to a folder of your own")
    return keyed, ""


class _KernelLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """numba cache locator for the functions defined in ``distributions`` and ``engine``."""

    def __init__(self, py_func, py_file: str, cache_path: str) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = cache_path

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> str:
        # The folder's name already covers these sources (and their callees): no re-read.
        return _FINGERPRINT

    def ensure_cache_path(self) -> None:
        # Made (0700) and checked at import; remade the same way if deleted since.
        os.makedirs(self._cache_path, mode=0o700, exist_ok=True)

    @classmethod
    def from_function(cls, py_func, py_file: str) -> "_KernelLocator | None":
        """A locator for ``py_func`` if it is defined in one of our packages, else None."""
        folder = os.path.realpath(os.path.dirname(py_file))
        # a module of one of our packages or of a subpackage (engine/core, engine/models, ...):
        # cached in the matching subfolder, so two modules of the same name never share one
        pkg = next((rel for top, rel in _PACKAGE_DIRS.items()
                    if folder == top or folder.startswith(top + os.sep)), None)
        if pkg is None:
            return None
        pkg = os.path.relpath(folder, _ROOT_REAL)
        if _FOLDER is None:
            # Cached decorators here pass cache=CACHE (False now), so this means one that does
            # not: fail loudly rather than let numba cache beside the sources.
            raise RuntimeError(f"{py_func.__qualname__} in {py_file} is decorated with "
                               "cache=True; use cache=distributions._jitcache.CACHE")
        return cls(py_func, py_file, str(_FOLDER / pkg))


def _install() -> None:
    """Put :class:`_KernelLocator` first in numba's locator list (once per process)."""
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # the older name
    # The list is shared with the subclasses (function and library caches): change it in place.
    classes = impl._locator_classes
    if not any(c.__name__ == _KernelLocator.__name__ and c.__module__ == __name__
               for c in classes):
        classes.insert(0, _KernelLocator)


_ROOT_REAL = os.path.realpath(_ROOT)
_PACKAGE_DIRS = {os.path.realpath(_ROOT / pkg): pkg for pkg in _PACKAGES}
_FINGERPRINT = source_fingerprint()
_FOLDER, _PROBLEM = _setup(_FINGERPRINT)
_install()

#: ``cache=`` of every cached ``@njit`` in ``distributions`` and ``engine``: False when the cache
#: folder cannot be used safely (the kernels then compile in memory at every start).
CACHE: bool = _FOLDER is not None

if not CACHE:
    # warn_explicit: warnings.warn would print this module's source line after the message.
    warnings.warn_explicit(f"{_PROBLEM}; until then the kernels are compiled at every start",
                           KernelCacheWarning, "capexgap", 0)


def kernel_folder() -> Path | None:
    """The folder the kernels are cached in this process, or None when nothing is cached.

    Returns
    -------
    Path or None
        ``<cache folder>/numba-<source fingerprint>``.
    """
    return _FOLDER


def stable_identity(dispatcher):
    """Give a jitted function that is passed to cached kernels as an argument a fixed identity.

    A cached kernel's index on disk names the jitted functions it was compiled for. numba
    identifies a function by a random id made when it is first pickled, so in a later process
    the names no longer match the live functions and, when the index is saved again, pickling
    the stale ones fails ("underlying object has vanished"). A fixed id (module and name)
    makes every process read them back as the live module-level functions.

    Returns the dispatcher, so it can be used as a decorator under ``@njit``.
    """
    ident = f"capexgap:{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}"
    try:
        dispatcher._set_uuid(ident)
    except (AssertionError, AttributeError):  # already has one, or another numba: keep it
        pass
    return dispatcher
