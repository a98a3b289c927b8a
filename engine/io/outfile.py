"""The one way capexgap writes an output file: whole or not at all, and never over a stranger.

Every output (a result's NetCDF, a picture, ``bench --out``'s JSON) is first made in memory,
then written by :func:`write_bytes`:

1. the bytes go to a temporary file in the target's folder (``.NAME.XXXXXXXX.part``), with
   plain ``os.write`` calls, so a full disk is an ordinary ``OSError`` (ENOSPC), not a crash
   inside a C library half-way through its own writes; then ``fsync``;
2. the file is published under its name: without ``force`` by a hard link, which fails if a
   file of that name appeared while the command ran (nothing is overwritten); with ``force``
   by ``os.replace``, and only over a regular file (never a device such as ``/dev/null``, a
   FIFO, a folder or a symbolic link);
3. on any error or signal the temporary file is removed; errors become one readable
   :class:`~engine.errors.OutputError` (the CLI's exit code 2), signals go on to the caller
   (exit 130 / 143).

:func:`check_target` makes the same checks before any work, so a command refuses at once
instead of after a long run. :func:`serialise` runs the in-memory serialisation with SIGINT
and SIGTERM held back until it returns, so a signal can never be lost inside a library's
callbacks (the write then stops and cleans up as for any other interrupt).

Dependency rule: the standard library and :mod:`engine.errors` / :mod:`engine.safetext`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import stat
import threading
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from engine.base.errors import OutputError
from engine.base.safetext import escape

T = TypeVar("T")

#: Longest name this module gives a temporary file's copy of the target name (the rest of the
#: temporary name is ``.`` + 8 hex digits + ``.part``): within every file system's 255 bytes.
_TMP_STEM = 100
#: The signals held back by :func:`serialise`.
_HELD = (signal.SIGINT, signal.SIGTERM)


def show(path: str | os.PathLike[str]) -> str:
    """A path as shown in a message: escaped, and cut when very long."""
    return escape(os.fspath(path))


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _folder(p: Path) -> Path:
    return p.parent if str(p.parent) else Path(".")


def _reason(exc: OSError, p: Path, option: str) -> tuple[str, str]:
    """(what went wrong, how to fix it) for an OSError met while writing `p`."""
    folder = show(_folder(p))
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return ("the disk is full" if code == errno.ENOSPC else "the disk quota is exceeded",
                f"Free some space, or give {option} a path on another disk.")
    if code in (errno.EACCES, errno.EPERM):
        return (f"folder {folder} is not writable",
                f"Choose another {option} path.")
    if code == errno.EROFS:
        return (f"folder {folder} is on a read-only file system",
                f"Choose another {option} path.")
    if code == errno.ENAMETOOLONG:
        return (f"the name is too long ({len(os.fsencode(p.name)):,} bytes; most file systems "
                "allow 255, and a whole path 4,096)", f"Give {option} a shorter name.")
    if code == errno.ENOTDIR:
        return (f"a part of folder {folder} is a file, not a folder",
                f"Give {option} a path inside an existing folder.")
    if code == errno.ENOENT:
        if _folder(p).is_dir():  # e.g. /proc: the folder is there but takes no new files
            return (f"folder {folder} does not take new files",
                    f"Choose another {option} path.")
        return f"folder {folder} does not exist", "Create it first."
    if code == errno.EISDIR:
        return "it is a folder", f"Give {option} a file name."
    return (exc.strerror or str(exc)), f"Choose another {option} path."


def check_target(path: str | os.PathLike[str], force: bool, *, option: str = "--out",
                 action: str = "run", example: str = "result.nc",
                 error: type[Exception] = OutputError) -> Path:
    """Fail early, before any work, if an output cannot or must not be written to `path`.

    Parameters
    ----------
    path : path-like
        The output file.
    force : bool
        Whether an existing regular file may be replaced.
    option : str
        The command-line option that gave the path (named in messages).
    action : str
        What is not done when the check fails ("run", "drawn"): "nothing was run".
    example : str
        A file name to suggest when `path` is a folder.
    error : exception class
        Raised with the message (an :class:`~engine.errors.CapexgapError` subclass).

    Returns
    -------
    Path
        `path` as a Path, now known to be writable.

    Raises
    ------
    error
        The file exists (without `force`), is not a regular file (a device, FIFO, folder or
        symbolic link is never replaced), its name is too long, or its folder is missing, not
        a folder or not writable (checked by creating and removing a temporary file there).
    """
    p = Path(path)
    shown = show(p)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:  # ENAMETOOLONG, ENOTDIR, EACCES on the way
        raise _early(exc, p, option, action, error) from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{shown}: is a folder; nothing was {action}. Give {option} a file name "
                        f"such as {example}.")
        if not force:
            raise error(f"{shown}: file exists; nothing was {action}. Pass --force to overwrite "
                        f"it, or choose another {option} path.")
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{shown}: is {_kind(st.st_mode)}, not a regular file; --force only "
                        f"replaces regular files, so nothing was {action}. Choose another "
                        f"{option} path.")
    folder = _folder(p)
    if not folder.is_dir():
        if folder.exists() or any(q.exists() and not q.is_dir() for q in folder.parents):
            raise error(f"{shown}: a part of folder {show(folder)} is a file, not a folder; "
                        f"nothing was {action}. Give {option} a path inside an existing folder.")
        raise error(f"{shown}: folder {show(folder)} does not exist. Create it first.")
    try:  # the only honest test of "can a file be created here" (root passes os.access)
        fd, tmp = _create_temp(p)
    except OSError as exc:
        raise _early(exc, p, option, action, error) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    return p


def _early(exc: OSError, p: Path, option: str, action: str, error: type[Exception]
           ) -> Exception:
    """The error of :func:`check_target` for an OSError met while checking `p`."""
    what, fix = _reason(exc, p, option)
    return error(f"{show(p)}: cannot be written ({exc.strerror or exc}): {what}; nothing was "
                 f"{action}. {fix}")


def _create_temp(p: Path) -> tuple[int, str]:
    """A new, empty temporary file next to `p`: (descriptor, path). Normal permissions (0666
    less the umask), as the published file will have them."""
    folder = _folder(p)
    stem = p.name[:_TMP_STEM]
    for _ in range(100):
        tmp = os.path.join(folder, f".{stem}.{secrets.token_hex(4)}.part")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                         0o666)
        except FileExistsError:
            continue
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(folder))  # pragma: no cover


def write_bytes(path: str | os.PathLike[str], data: bytes | bytearray | memoryview, *,
                force: bool = False, option: str = "--out",
                error: type[Exception] = OutputError) -> Path:
    """Write `data` to `path` atomically: a temporary file, fsync, then publish.

    Parameters
    ----------
    path : path-like
        The output file.
    data : bytes-like
        Its whole content.
    force : bool
        Replace an existing regular file. Without it a file that exists when the data is
        published (even one that appeared after :func:`check_target`) is left alone and
        `error` raised.
    option : str
        The command-line option that gave the path (named in messages).
    error : exception class
        Raised with a message on any failure.

    Returns
    -------
    Path
        `path` as a Path, holding `data` and synced to disk.

    Raises
    ------
    error
        The file could not be written (disk full, permissions, read-only file system, name too
        long...), appeared meanwhile (without `force`), or is not a regular file. Nothing is
        left behind: neither a temporary file nor a partial target.
    KeyboardInterrupt
        A signal during the write (engine.interrupts.Interrupted): the temporary file is
        removed first.
    """
    p = Path(path)
    shown = show(p)
    tmp: str | None = None
    try:
        fd, tmp = _create_temp(p)
        try:
            view = memoryview(data).cast("B")
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        _publish(tmp, p, force, option, error)
    except OSError as exc:
        _remove(tmp)
        what, fix = _reason(exc, p, option)
        raise error(f"{shown}: could not be written ({exc.strerror or exc}); nothing was "
                    f"written: {what}. {fix}") from None
    except BaseException:  # an error of ours, or a signal: leave nothing behind
        _remove(tmp)
        raise
    _remove(tmp)  # the hard link's other name
    _sync_folder(_folder(p))
    return p


def _publish(tmp: str, p: Path, force: bool, option: str, error: type[Exception]) -> None:
    """Give the complete temporary file its name (see the module docstring)."""
    shown = show(p)
    if force:
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise error(f"{shown}: is {_kind(st.st_mode)}, not a regular file; --force only "
                        "replaces regular files, so nothing was written. Choose another "
                        f"{option} path.")
        os.replace(tmp, p)
        return
    appeared = error(f"{shown}: a file of that name appeared while running; nothing was "
                     f"overwritten and nothing was written. Pass --force to overwrite it, or "
                     f"choose another {option} path.")
    try:
        os.link(tmp, p)  # atomic and never over an existing name (EEXIST)
    except FileExistsError:
        raise appeared from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # No hard links on this file system (e.g. FAT, some network ones): claim the name
        # with O_EXCL, then move the file over the empty claim.
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise appeared from None
        os.close(fd)
        os.replace(tmp, p)


def _remove(path: str | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _sync_folder(folder: Path) -> None:
    """Make the new name durable (best effort: not every system can fsync a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _held_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the block, then deliver the first one to the handler
    that was in place (engine.interrupts raises Interrupted). Only Python handlers are held:
    a default or ignored disposition is left as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    previous = {}
    for sig in _HELD:
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = signal.signal(sig, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if got:
        previous[got[0]](got[0], None)  # type: ignore[operator]


def serialise(make: Callable[[], T]) -> T:
    """Call ``make()`` (an in-memory serialisation) with stop signals held until it returns.

    A signal that arrives while a library (HDF5, matplotlib) is writing into memory could be
    raised inside one of its callbacks and lost there; held back, it is delivered as soon as
    the serialisation returns, before anything is written to disk.
    """
    with _held_signals():
        return make()
