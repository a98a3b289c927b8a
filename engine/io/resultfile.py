"""Reading a result file that may have come from anyone: checked before any data is read.

A NetCDF-4 result is an HDF5 file, and HDF5 can do more than hold numbers: a dataset may keep
its bytes in another local file (external storage), a link may point into another file, a
virtual dataset may gather other files, a filter may load a plugin, and a tiny file may
declare a variable of billions of elements. :func:`read_result` opens the path as a regular
file only (never blocking on a FIFO or a device), checks that it is a capexgap result of a
format version this code reads, walks every HDF5 object with h5py and refuses anything a
capexgap result never holds, bounds every size, and only then lets xarray load it; after the
load the values that the pictures and summaries rely on are checked (counts are whole numbers
>= 0, probabilities lie in [0, 1], quantile levels in (0, 1), years consecutive).

A symbolic link to a regular file is followed: the file it names passes the same checks, and
nothing of a file that fails them is read into the result or shown.

Every refusal is a :class:`ResultFileError` (exit code 2 in the CLI) naming the file, the
variable or attribute, the rule, the value (escaped with :func:`engine.safetext.escape`) and
the fix.

Limits: the file and the data it declares (uncompressed) are each at most
``CAPEXGAP_MAX_RESULT_MIB`` MiB (default :data:`DEFAULT_MAX_MIB`); set that environment
variable to read a bigger sweep.
"""

from __future__ import annotations

import math
import os
import re
import stat
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import xarray as xr

from engine.base.errors import CapexgapError
from engine.base.safetext import escape
# The root attribute that marks a capexgap result, its value, and the layout version written
# (root attribute ``format_version``): defined with the Dataset they describe.
from engine.core.dataset import FORMAT, FORMAT_ATTR, FORMAT_VERSION  # noqa: F401

#: Versions this code reads.
READS_VERSIONS = (1,)

#: Default cap, MiB, on the file's size and on the uncompressed size of the data it declares.
DEFAULT_MAX_MIB = 4096
#: Environment variable that raises (or lowers) that cap.
MAX_MIB_ENV = "CAPEXGAP_MAX_RESULT_MIB"
#: At most this many variables (a quote has ~60; a multi-year importance sweep some more).
MAX_VARIABLES = 2000
#: At most this many attributes on one variable, or on the file.
MAX_ATTRS = 200
#: Longest variable, dimension or attribute name.
MAX_NAME = 256
#: Most elements of one attribute (dimension bookkeeping lists one entry per variable).
MAX_ATTR_ELEMENTS = 4 * MAX_VARIABLES
#: Longest text attribute (the config's text, the notes), characters.
MAX_TEXT = 16 << 20
#: Longest short text attribute (shown in titles and footers), characters.
MAX_SHORT_TEXT = 4096
SHORT_TEXT_ATTRS = ("title", "model", "method", "capexgap_version", "config_source", "seed",
                    "depreciation", "units", "long_name")
#: Longest string value of a coordinate (an input's or a company's name).
MAX_LABEL = 1000
#: Largest chunk, bytes: HDF5 allocates a whole chunk to read any of it.
MAX_CHUNK_BYTES = 64 << 20
#: Most years of a multi-year result.
MAX_YEARS = 1000

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_MAKE_ONE = "Write one with `capexgap quote CONFIG --out FILE.nc`."
# Counts of trials: whole numbers >= 0, at most the trials of the run.
_COUNT = re.compile(r"^(baseline_)?(hits|mc_hits|gap_hist|.+_trials|.+_nonfinite"
                    r"|.+_beyond_sketch|.+_near_zero)$")
_NOT_COUNT = re.compile(r".*_equivalent_trials$")
# Probabilities (and their intervals and standard errors): in [0, 1], or NaN where unknown.
_PROBABILITY = re.compile(r"^(baseline_)?(mc_)?p_[a-z0-9_]*$")
_NOT_PROBABILITY = re.compile(r".*_rel_error$")


class ResultFileError(CapexgapError):
    """A result file cannot or must not be read (CLI: exit 2).

    Parameters
    ----------
    file : str or Path
        The file's path.
    key : str
        The variable or attribute concerned ("" for the file as a whole).
    rule : str
        The rule that was broken.
    value : object, optional
        The offending value (shown escaped and cut).
    fix : str
        One sentence on what to do.
    """

    def __init__(self, file: str | Path, key: str, rule: str, value: object = None,
                 fix: str = "") -> None:
        self.file, self.key, self.rule, self.value, self.fix = file, key, rule, value, fix
        where = f"{escape(str(file), None)}: "
        key_part = f"{escape(key, 80)}: " if key else ""
        got = "" if value is None else f" (got {escape(value, 80)})"
        super().__init__(f"{where}{key_part}{rule}{got}.{' ' + fix if fix else ''}")


def max_bytes() -> int:
    """The cap on a result file's size and on the data it declares, from
    ``CAPEXGAP_MAX_RESULT_MIB`` (default :data:`DEFAULT_MAX_MIB`)."""
    raw = os.environ.get(MAX_MIB_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_MIB << 20
    try:
        mib = int(raw)
    except ValueError:
        mib = 0
    if mib < 1:
        raise CapexgapError(f"{MAX_MIB_ENV}={escape(raw, 40)}: must be a whole number of MiB "
                            f">= 1. Set it e.g. to 16384, or unset it for the default "
                            f"{DEFAULT_MAX_MIB}.")
    return mib << 20


def read_result(path: str | Path) -> xr.Dataset:
    """Read a capexgap result file into memory, refusing anything a result never holds.

    Parameters
    ----------
    path : str or Path
        The file. A symbolic link is followed; what it names must be a regular file.

    Returns
    -------
    Dataset
        The result, loaded (the file is closed).

    Raises
    ------
    ResultFileError
        If the path is not a regular file, is too big, is not a capexgap result of a
        version this code reads, uses an HDF5 feature a result never uses (external storage
        or links, virtual datasets, groups, filters other than deflate/shuffle/fletcher32),
        declares more data than the cap, or holds values a result cannot have.
    """
    p = Path(path)
    cap = max_bytes()
    with _open_regular(p, cap) as f:
        magic = f.read(8)
        if magic[:3] == b"CDF":
            raise ResultFileError(p, "", "is a NetCDF-3 file, not a capexgap result (capexgap "
                                  "writes NetCDF-4)", None, _MAKE_ONE)
        if magic != _HDF5_MAGIC:
            raise ResultFileError(p, "", "is not a NetCDF file (it does not start with the "
                                  "NetCDF-4/HDF5 signature)", None, _MAKE_ONE)
        f.seek(0)
        _check_hdf5(p, f, cap)
        f.seek(0)
        try:
            with xr.open_dataset(f, engine="h5netcdf", decode_times=False,
                                 decode_timedelta=False) as ds:
                ds = ds.load()
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise ResultFileError(p, "", "cannot be read as NetCDF",
                                  f"{type(exc).__name__}: {first}", _MAKE_ONE) from None
    check_values(p, ds)
    return ds


def _open_regular(p: Path, cap: int) -> BinaryIO:
    """Open `p` for reading if it is a regular file of at most `cap` bytes.

    ``os.stat`` first, so that a FIFO or a device is never opened (opening one can block or
    act); then ``O_NONBLOCK`` and ``fstat`` on the descriptor, so that a file swapped in
    between is caught.
    """
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise ResultFileError(p, "", "no such file", None, _MAKE_ONE) from None
    except OSError as exc:
        raise ResultFileError(p, "", f"cannot be read ({exc.strerror})") from None
    _check_stat(p, st, cap)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
        | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(p, flags)
    except OSError as exc:
        raise ResultFileError(p, "", f"cannot be read ({exc.strerror})") from None
    try:
        fst = os.fstat(fd)
        _check_stat(p, fst, cap)
        if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
            raise ResultFileError(p, "", "was replaced while being opened", None,
                                  "Read it again once nothing is writing it.")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_stat(p: Path, st: os.stat_result, cap: int) -> None:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise ResultFileError(p, "", "is a folder, not a result file", None, _MAKE_ONE)
    if not stat.S_ISREG(mode):
        what = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "not a file")
        raise ResultFileError(p, "", "is not a regular file", what,
                              "Give the path of a result file written by capexgap.")
    if st.st_size > cap:
        raise ResultFileError(p, "", f"is bigger than the {cap >> 20:,} MiB a result file may "
                              "be", f"{st.st_size:,} bytes",
                              f"If it is a real capexgap sweep, raise the cap with "
                              f"{MAX_MIB_ENV}=<MiB>.")


# ------------------------------------------------------------------------------ HDF5 checks


def _check_hdf5(p: Path, f: BinaryIO, cap: int) -> None:
    """Walk the HDF5 structure and refuse what a capexgap result never holds, before any
    variable's data is read."""
    import h5py

    try:
        h5 = h5py.File(f, "r")
    except (OSError, ValueError) as exc:
        raise ResultFileError(p, "", "is not a readable NetCDF-4/HDF5 file",
                              str(exc).splitlines()[0] if str(exc) else None,
                              _MAKE_ONE) from None
    try:
        _check_format(p, h5)
        _check_attrs(p, h5, "", cap)
        n = len(h5)
        if n > MAX_VARIABLES:
            raise ResultFileError(p, "", f"holds more than {MAX_VARIABLES:,} variables", n,
                                  "A capexgap result holds far fewer; this is not one.")
        declared = 0
        for name in h5:
            declared += _check_item(p, h5, name, cap)
            if declared > cap:
                raise ResultFileError(p, escape(name, 80), f"its variables declare more than "
                                      f"the {cap >> 20:,} MiB a result may hold", None,
                                      f"If it is a real capexgap sweep, raise the cap with "
                                      f"{MAX_MIB_ENV}=<MiB>.")
    except ResultFileError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ResultFileError(p, "", "is a damaged NetCDF-4/HDF5 file",
                              f"{type(exc).__name__}: {first}", _MAKE_ONE) from None
    finally:
        h5.close()


def _check_format(p: Path, h5: Any) -> None:
    attrs = h5.attrs
    if FORMAT_ATTR not in attrs:
        raise ResultFileError(p, f"attribute `{FORMAT_ATTR}`", "is missing: this is not a "
                              "capexgap result (or one written by a capexgap older than the "
                              "result format)", None,
                              "Write it again with this capexgap: `capexgap quote CONFIG "
                              "--out FILE.nc`.")
    value = _attr(p, h5, FORMAT_ATTR, "")
    if not isinstance(value, str) or value != FORMAT:
        raise ResultFileError(p, f"attribute `{FORMAT_ATTR}`", f"must be {FORMAT!r}: this is "
                              "not a capexgap result", value, _MAKE_ONE)
    if "format_version" not in attrs:
        raise ResultFileError(p, "attribute `format_version`", "is missing", None, _MAKE_ONE)
    version = _attr(p, h5, "format_version", "")
    if not _is_int(version) or int(version) not in READS_VERSIONS:
        newer = _is_int(version) and int(version) > max(READS_VERSIONS)
        raise ResultFileError(
            p, "attribute `format_version`",
            f"must be one of {', '.join(map(str, READS_VERSIONS))} (the result format versions "
            "this capexgap reads)", version,
            "It was written by a newer capexgap: upgrade capexgap to read it." if newer else
            "Write it again with this capexgap.")


def _attr(p: Path, obj: Any, name: str, where: str) -> Any:
    """The value of attribute `name` of `obj`, its size checked before it is read."""
    import h5py

    key = f"{where}attribute `{escape(name, 80)}`"
    aid = obj.attrs.get_id(name)
    n = int(np.prod(aid.shape)) if aid.shape else 1
    if n > MAX_ATTR_ELEMENTS or aid.get_storage_size() > 4 * MAX_TEXT:
        raise ResultFileError(p, key, f"is bigger than any attribute capexgap writes (at most "
                              f"{MAX_ATTR_ELEMENTS:,} elements, {4 * MAX_TEXT >> 20} MiB)",
                              f"{n:,} elements, {aid.get_storage_size():,} bytes",
                              "This is not a result capexgap wrote; do not use it.")
    kind = aid.dtype.kind
    if kind == "V" or (kind == "O" and h5py.check_string_dtype(aid.dtype) is None
                       and name not in ("DIMENSION_LIST", "REFERENCE_LIST")):
        if name not in ("DIMENSION_LIST", "REFERENCE_LIST"):
            raise ResultFileError(p, key, "has a type a capexgap result never writes",
                                  str(aid.dtype), _MAKE_ONE)
        return None
    if name in ("DIMENSION_LIST", "REFERENCE_LIST"):
        return None  # object references, read by h5netcdf
    value = obj.attrs[name]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iufb":
        value = value.reshape(()).item()
    if isinstance(value, str):
        limit = MAX_SHORT_TEXT if name in SHORT_TEXT_ATTRS else MAX_TEXT
        if len(value) > limit:
            raise ResultFileError(p, key, f"is longer than the {limit:,} characters a capexgap "
                                  "result writes there", f"{len(value):,} characters",
                                  "This is not a result capexgap wrote; do not use it.")
    return value


def _check_attrs(p: Path, obj: Any, where: str, cap: int) -> None:
    names = list(obj.attrs)
    if len(names) > MAX_ATTRS:
        raise ResultFileError(p, f"{where}attributes", f"are more than {MAX_ATTRS}",
                              len(names), "A capexgap result has far fewer; this is not one.")
    for name in names:
        if len(name) > MAX_NAME:
            raise ResultFileError(p, f"{where}attribute name", f"is longer than {MAX_NAME} "
                                  "characters", f"{len(name):,} characters", _MAKE_ONE)
        _attr(p, obj, name, where)


def _check_item(p: Path, h5: Any, name: str, cap: int) -> int:
    """Check one root item; return the bytes its data declares."""
    import h5py
    from h5py import h5d, h5z

    if len(name) > MAX_NAME:
        raise ResultFileError(p, "variable name", f"is longer than {MAX_NAME} characters",
                              f"{len(name):,} characters", _MAKE_ONE)
    key = f"variable `{escape(name, 80)}`"
    link = h5.get(name, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        raise ResultFileError(p, key, "is an HDF5 external link (to another file); a capexgap "
                              "result never has one", escape(link.filename, 80),
                              "Do not use this file.")
    if isinstance(link, h5py.SoftLink):
        raise ResultFileError(p, key, "is an HDF5 soft link; a capexgap result never has one",
                              escape(link.path, 80), "Do not use this file.")
    if not isinstance(link, h5py.HardLink):
        raise ResultFileError(p, key, "is an HDF5 link of an unknown kind", type(link).__name__,
                              "Do not use this file.")
    obj = h5[name]
    if not isinstance(obj, h5py.Dataset):
        raise ResultFileError(p, key, "is not a variable (an HDF5 group or named type); a "
                              "capexgap result holds variables only", type(obj).__name__,
                              _MAKE_ONE)
    dcpl = obj.id.get_create_plist()
    if dcpl.get_external_count() > 0:
        raise ResultFileError(p, key, "keeps its data in other files (HDF5 external storage); "
                              "a capexgap result never does", None,
                              "Do not use this file: reading it would read those files.")
    if dcpl.get_layout() == getattr(h5d, "VIRTUAL", -1) or obj.is_virtual:
        raise ResultFileError(p, key, "is an HDF5 virtual dataset (its data lives in other "
                              "files); a capexgap result never has one", None,
                              "Do not use this file.")
    allowed = {h5z.FILTER_DEFLATE: "deflate", h5z.FILTER_SHUFFLE: "shuffle",
               h5z.FILTER_FLETCHER32: "fletcher32"}
    for i in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(i)[0]
        if code not in allowed:
            raise ResultFileError(p, key, "is compressed with an HDF5 filter capexgap never "
                                  "uses (only deflate, shuffle and fletcher32 are read)",
                                  f"filter {code}", "Do not use this file.")
    kind = obj.dtype.kind
    if kind not in "iufb" and h5py.check_string_dtype(obj.dtype) is None:
        raise ResultFileError(p, key, "has a type a capexgap result never writes (numbers or "
                              "text only)", str(obj.dtype), _MAKE_ONE)
    if obj.ndim > 8:
        raise ResultFileError(p, key, "has more than 8 dimensions", obj.ndim, _MAKE_ONE)
    n = math.prod(obj.shape) if obj.shape else 1
    itemsize = 16 if kind == "O" else obj.dtype.itemsize
    size = n * itemsize
    if size > cap:
        raise ResultFileError(p, key, f"declares more data than the {cap >> 20:,} MiB a result "
                              "may hold", f"shape {obj.shape}",
                              f"If it is a real capexgap sweep, raise the cap with "
                              f"{MAX_MIB_ENV}=<MiB>.")
    if obj.chunks is not None and math.prod(obj.chunks) * itemsize > MAX_CHUNK_BYTES:
        raise ResultFileError(p, key, f"has chunks bigger than {MAX_CHUNK_BYTES >> 20} MiB",
                              f"chunks {obj.chunks}", _MAKE_ONE)
    _check_attrs(p, obj, f"{key}: ", cap)
    return size


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


# ------------------------------------------------------------------------------ values


def check_values(p: str | Path, ds: xr.Dataset) -> None:
    """Check, after loading, the values that pictures and summaries rely on.

    Raises
    ------
    ResultFileError
        Naming the variable or attribute, the rule and the value.
    """
    a = ds.attrs
    fix = "This is not a result capexgap wrote; write it again with capexgap."
    for name in ("trials", "trials_requested", "mc_trials"):
        if name in a and not (_is_int(a[name]) and int(a[name]) >= 0):
            raise ResultFileError(p, f"attribute `{name}`", "must be a whole number >= 0",
                                  a[name], fix)
    if "trials" not in a:
        raise ResultFileError(p, "attribute `trials`", "is missing", None, fix)
    if "completed" in a and not (_is_int(a["completed"]) and int(a["completed"]) in (0, 1)):
        raise ResultFileError(p, "attribute `completed`", "must be 0 or 1", a["completed"], fix)
    if "seed" in a and not re.fullmatch(r"[0-9]{1,20}", str(a["seed"])):
        raise ResultFileError(p, "attribute `seed`", "must be a whole number >= 0", a["seed"],
                              fix)
    for name, value in a.items():
        if isinstance(value, np.ndarray) and value.dtype.kind not in "iufb":
            raise ResultFileError(p, f"attribute `{name}`", "must be text or numbers",
                                  str(value.dtype), fix)
    most = int(a["trials"]) + int(a.get("mc_trials", 0))
    for name, var in ds.variables.items():
        name = str(name)
        key = f"variable `{name}`"
        kind = var.dtype.kind
        if kind in "OUS":
            for v in np.asarray(var.values).ravel():
                if not isinstance(v, (str, bytes)):
                    raise ResultFileError(p, key, "must hold text", type(v).__name__, fix)
                if len(v) > MAX_LABEL:
                    raise ResultFileError(p, key, f"holds text longer than {MAX_LABEL:,} "
                                          "characters", f"{len(v):,} characters", fix)
            continue
        if name in ds.data_vars and kind not in "iuf":
            raise ResultFileError(p, key, "must hold numbers", str(var.dtype), fix)
        values = np.asarray(var.values)
        if name in ds.coords and name not in ("gap_bin_lower", "gap_bin_upper") \
                and kind == "f" and not np.all(np.isfinite(values)):
            raise ResultFileError(p, f"coordinate `{name}`", "must hold finite numbers",
                                  _first_bad(values, np.isfinite(values)), fix)
        if _COUNT.match(name) and not _NOT_COUNT.match(name):
            if kind not in "iu":
                raise ResultFileError(p, key, "must hold whole numbers (counts of trials)",
                                      str(var.dtype), fix)
            if values.size and (values.min() < 0 or values.max() > most):
                bad = values.min() if values.min() < 0 else values.max()
                raise ResultFileError(p, key, f"must hold counts between 0 and the {most:,} "
                                      "trials of the run", int(bad), fix)
        elif _PROBABILITY.match(name) and not _NOT_PROBABILITY.match(name):
            finite = values[~np.isnan(values)] if kind == "f" else values
            if finite.size and (finite.min() < 0 or finite.max() > 1):
                bad = finite.min() if finite.min() < 0 else finite.max()
                raise ResultFileError(p, key, "must hold probabilities between 0 and 1",
                                      float(bad), fix)
    for name in ("quantile", "level"):
        if name in ds.variables:
            q = np.asarray(ds[name].values)
            if q.dtype.kind != "f" or not np.all((q > 0) & (q < 1)):
                raise ResultFileError(p, f"coordinate `{name}`", "must hold levels strictly "
                                      "between 0 and 1", _first_bad(q, (q > 0) & (q < 1)), fix)
    if "year" in ds.variables:
        y = np.asarray(ds["year"].values)
        ok = (y.dtype.kind in "iu" and y.ndim == 1 and 1 <= y.size <= MAX_YEARS
              and bool(np.all(np.diff(y) == 1)) and 0 < int(y[0]) and int(y[-1]) < 10_000)
        if not ok:
            raise ResultFileError(p, "coordinate `year`", f"must hold 1 to {MAX_YEARS} "
                                  "consecutive years", _cut_list(y), fix)
    if "bound" in ds.variables and [str(b) for b in ds["bound"].values] != ["lower", "upper"]:
        raise ResultFileError(p, "coordinate `bound`", "must be [lower, upper]",
                              _cut_list(ds["bound"].values), fix)
    _check_gap_bins(p, ds, fix)
    for lo_name, hi_name in (("gap_min", "gap_max"),):
        if lo_name in ds.variables and hi_name in ds.variables:
            lo, hi = np.asarray(ds[lo_name].values), np.asarray(ds[hi_name].values)
            if lo.shape != hi.shape or lo.dtype.kind != "f" or hi.dtype.kind != "f":
                raise ResultFileError(p, f"variable `{lo_name}`", f"must be numbers shaped "
                                      f"like `{hi_name}`", f"shape {lo.shape}", fix)
            both = np.isfinite(lo) & np.isfinite(hi)
            if np.any(np.isinf(lo) | np.isinf(hi)) or np.any(lo[both] > hi[both]):
                raise ResultFileError(p, f"variable `{lo_name}`", f"must be finite (or NaN) "
                                      f"and at most `{hi_name}`", None, fix)


def _check_gap_bins(p: str | Path, ds: xr.Dataset, fix: str) -> None:
    """``gap_bin_lower``/``upper`` must be a run of the sketch's own bins (so the re-binning
    of :func:`engine.present.plot_quote.rebin_gap` gets the bins it was made for)."""
    if "gap_bin_lower" not in ds.variables and "gap_bin_upper" not in ds.variables:
        return
    from engine.core.dataset import _LOWER, _UPPER

    lo = np.asarray(ds["gap_bin_lower"].values) if "gap_bin_lower" in ds.variables else None
    hi = np.asarray(ds["gap_bin_upper"].values) if "gap_bin_upper" in ds.variables else None
    ok = lo is not None and hi is not None and lo.ndim == 1 and lo.shape == hi.shape \
        and lo.size >= 1 and lo.dtype.kind == "f" and hi.dtype.kind == "f"
    if ok:
        b0 = int(np.searchsorted(_LOWER, lo[0])) if not math.isnan(lo[0]) else -1
        ok = 0 <= b0 and b0 + lo.size <= _LOWER.size \
            and np.array_equal(lo, _LOWER[b0:b0 + lo.size]) \
            and np.array_equal(hi, _UPPER[b0:b0 + lo.size])
    if not ok:
        raise ResultFileError(p, "coordinates `gap_bin_lower`, `gap_bin_upper`",
                              "must be consecutive bins of capexgap's gap sketch", None, fix)


def _first_bad(values: np.ndarray, good: np.ndarray) -> Any:
    bad = values[~good] if values.shape == good.shape else values
    return bad.ravel()[0] if bad.size else None


def _cut_list(values: Any) -> str:
    v = list(np.asarray(values).ravel()[:6])
    return ", ".join(map(str, v)) + (", ..." if np.asarray(values).size > 6 else "")
