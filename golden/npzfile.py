"""Reading and writing ``.npy`` and ``.npz`` files with one-line errors instead of tracebacks.

Every array's ``.npy`` header is read and its size checked against the limits of
:mod:`.limits` (and against the bytes the file or zip member really holds) before the
array is allocated; an ``.npz`` member's size comes from the zip directory, so a
compressed "zip bomb" is refused before anything is decompressed. Python objects
(pickles) are never loaded. Writing goes through :func:`.fileio.atomic_file`.
"""

from __future__ import annotations

import math
import os
import struct
import tokenize
import zipfile
import zlib

import numpy as np

from .errors import MemornnError
from .fileio import atomic_file, open_input
from .limits import MAX_ARCHIVE_BYTES, MAX_ARCHIVE_MEMBERS, MAX_ARRAY_BYTES, size_text

NPY_MAGIC = b"\x93NUMPY"
#: Array dtypes a memornn file may hold: bool, integers, floats, complex, strings.
DTYPE_KINDS = "biufcUS"
#: Room for an ``.npy`` header in a member's declared size (numpy caps headers below this).
_HEADER_ROOM = 2**16
# What a broken file raises inside numpy and zipfile (MemornnError, a ValueError, is re-raised first).
# numpy parses old headers with tokenize, which raises its own TokenError (found by tests/robust/test_fuzz.py).
_BROKEN = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
           struct.error, OverflowError, UnicodeDecodeError, SyntaxError, TypeError, IndexError, KeyError,
           tokenize.TokenError)


def _fail(what: str, path: str, message: str) -> MemornnError:
    return MemornnError(f"{what} file {path!r} {message}")


def _limit_text(nbytes: int, limit: int) -> str:
    return f"{size_text(nbytes)}, more than the limit of {size_text(limit)} (golden/limits.py)"


def _read_header(f, label: str):
    """``(shape, fortran_order, dtype)`` from the ``.npy`` header at ``f``'s position."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    raise ValueError(f"{label}: .npy format version {version[0]}.{version[1]} is not supported")


def _array_bytes(shape, dtype, label: str, room: int) -> int:
    """The data size the header claims, checked against the limit and the bytes present."""
    if dtype.hasobject:
        raise MemornnError(f"{label} holds Python objects (dtype {dtype}), which memornn never loads")
    if dtype.kind not in DTYPE_KINDS or dtype.fields is not None or dtype.itemsize == 0:
        raise MemornnError(f"{label} has dtype {dtype}, not a number, boolean or string type")
    if any(d < 0 for d in shape):
        raise MemornnError(f"{label} has a corrupt header (shape {shape})")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise MemornnError(f"{label}: its header claims shape {shape} of {dtype}, {_limit_text(nbytes, MAX_ARRAY_BYTES)}")
    if nbytes > room:
        raise MemornnError(f"{label} is truncated: its header claims {size_text(nbytes)} of data "
                           f"(shape {shape} of {dtype}), the file holds {size_text(max(room, 0))}")
    return nbytes


def _read_array(f, label: str, size: int) -> np.ndarray:
    """The array at ``f`` (a file or zip member of ``size`` bytes), checked before allocation."""
    shape, fortran, dtype = _read_header(f, label)
    nbytes = _array_bytes(shape, dtype, label, size - f.tell())
    buffer = bytearray(nbytes)
    view, done = memoryview(buffer), 0
    while done < nbytes:
        got = f.readinto(view[done:])
        if not got:
            raise MemornnError(f"{label} is truncated: {size_text(done)} of {size_text(nbytes)} present")
        done += got
    array = np.frombuffer(buffer, dtype=dtype)
    return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


def _file_size(f) -> int:
    return os.fstat(f.fileno()).st_size


def load_npy(path: str | os.PathLike, what: str) -> np.ndarray:
    """Load the ``.npy`` array at ``path``.

    Raises
    ------
    MemornnError
        If the file is missing, not a regular file, not a ``.npy`` array, truncated,
        larger than :data:`~.limits.MAX_ARRAY_BYTES`, or holds Python objects.
    """
    path = os.fspath(path)
    with open_input(path, f"{what} file") as f:
        head = f.read(4)
        f.seek(0)
        if head == b"PK\x03\x04":
            raise _fail(what, path, "is an .npz archive, not a single .npy array")
        try:
            return _read_array(f, f"{what} file {path!r}", _file_size(f))
        except MemornnError:
            raise
        except _BROKEN as exc:
            raise _fail(what, path, f"is not a readable .npy array ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _check_entry_count(f, what: str, path: str) -> None:
    """Refuse too many entries from the zip's end record, before ZipFile reads them all
    (a directory of millions of entries takes minutes and gigabytes to parse)."""
    end = zipfile._EndRecData(f)  # private but stable since Python 2; None if there is none
    f.seek(0)
    if end is None:
        return
    # The count can lie; the directory's size bounds what ZipFile parses (an entry of an
    # npz takes under 200 bytes: 46 + its name + extra fields).
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > MAX_ARCHIVE_MEMBERS or size > MAX_ARCHIVE_MEMBERS * 1024:
        raise _fail(what, path, f"holds {entries} entries in a directory of {size_text(size)}, more than the limit "
                                f"of {MAX_ARCHIVE_MEMBERS} entries (golden/limits.py)")


def _check_directory(infos, what: str, path: str) -> None:
    """Refuse an archive whose zip directory already breaks a limit (no entry read yet)."""
    names, total = set(), 0
    for info in infos:
        if not info.filename.endswith(".npy") or info.is_dir():
            raise _fail(what, path, f"holds {info.filename!r}, which is not an .npy array")
        if info.filename in names:
            raise _fail(what, path, f"holds {info.filename!r} twice")
        names.add(info.filename)
        if info.file_size > MAX_ARRAY_BYTES + _HEADER_ROOM:
            raise _fail(what, path, f"entry {info.filename!r} is {_limit_text(info.file_size, MAX_ARRAY_BYTES)}")
        total += info.file_size
    if total > MAX_ARCHIVE_BYTES + len(infos) * _HEADER_ROOM:
        raise _fail(what, path, f"holds {size_text(total)} of arrays, more than the limit of "
                                f"{size_text(MAX_ARCHIVE_BYTES)} (golden/limits.py)")


def load_npz(path: str | os.PathLike, what: str) -> dict[str, np.ndarray]:
    """Load every array of the ``.npz`` file at ``path`` into a dict (keys without ``.npy``).

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the file should hold, for error messages (``"float model"``, ...).

    Raises
    ------
    MemornnError
        If the file is missing, not a regular file, not an npz archive, corrupt, holds
        anything but arrays of numbers, booleans or strings, or breaks a size limit of
        :mod:`.limits` (checked from the zip directory and the ``.npy`` headers before
        anything is decompressed or allocated).
    """
    path = os.fspath(path)
    with open_input(path, f"{what} file") as f:
        if f.read(6) == NPY_MAGIC:
            raise _fail(what, path, "is not an .npz archive (it holds a single .npy array)")
        f.seek(0)
        try:
            _check_entry_count(f, what, path)
            with zipfile.ZipFile(f) as archive:
                infos = archive.infolist()
                _check_directory(infos, what, path)
                arrays = {}
                for info in infos:
                    with archive.open(info) as member:
                        label = f"{what} file {path!r}: entry {info.filename!r}"
                        arrays[info.filename[:-4]] = _read_array(member, label, info.file_size)
                return arrays
        except MemornnError:
            raise
        except _BROKEN as exc:
            raise _fail(what, path, f"is not a readable .npz archive ({_reason(exc)})") from None


def save_npz(path: str | os.PathLike, arrays: dict, what: str = "output") -> None:
    """Write ``arrays`` to ``path`` (uncompressed ``.npz``) atomically, creating its folder.

    A unique temporary file in the same folder is renamed over ``path`` once complete,
    so a failure never leaves a half-written file (see :func:`.fileio.atomic_file`).
    """
    with atomic_file(path, what) as f:
        try:
            np.savez(f, **arrays)
        except OSError as exc:
            raise MemornnError(f"cannot write {what} {os.fspath(path)!r}: {exc.strerror or exc}") from None


def scalar_string(arrays: dict, key: str, what: str) -> str:
    """A string stored as a 0-d array under ``key``."""
    value = arrays[key]
    if value.dtype.kind not in "US" or value.ndim != 0:
        raise MemornnError(f"{what}: entry {key!r} must be a string, got {value.dtype} array of shape {value.shape}")
    return str(value)
