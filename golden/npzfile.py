"""Reading and writing ``.npz`` files with one-line errors instead of tracebacks."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from .errors import MemornnError


def load_npz(path: str | os.PathLike, what: str) -> dict[str, np.ndarray]:
    """Load every array of the ``.npz`` file at ``path`` into a dict.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the file should hold, for error messages (``"float model"``, ...).

    Raises
    ------
    MemornnError
        If the file is missing, unreadable, or not an npz archive.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MemornnError(f"{what} file {path!r} does not exist")
    unreadable = (OSError, ValueError, zipfile.BadZipFile, EOFError)
    try:
        archive = np.load(path, allow_pickle=False)
    except unreadable as exc:
        raise MemornnError(f"{what} file {path!r} is not a readable .npz archive ({exc})") from None
    # A .npy file loads as a bare array (which is no context manager): check first.
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise MemornnError(f"{what} file {path!r} is not an .npz archive (it holds a single .npy array)")
    try:
        with archive:
            return {key: archive[key] for key in archive.files}
    except unreadable as exc:
        raise MemornnError(f"{what} file {path!r} is not a readable .npz archive ({exc})") from None


def save_npz(path: str | os.PathLike, arrays: dict) -> None:
    """Write ``arrays`` to ``path`` (uncompressed ``.npz``), creating its directory.

    Writes to a temporary name first, so a failure never leaves a half-written file.
    """
    write_atomically(path, lambda tmp: np.savez(tmp, **arrays), ".tmp.npz")


def write_atomically(path: str | os.PathLike, write, suffix: str = ".tmp") -> None:
    """Call ``write(tmp)`` on a temporary name beside ``path``, then rename it to ``path``.

    Creates the directory; a failure never leaves a half-written file.

    Raises
    ------
    MemornnError
        If the file cannot be written.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path)
    tmp = path + suffix
    try:
        if folder:
            os.makedirs(folder, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise MemornnError(f"cannot write {path!r}: {exc.strerror}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def scalar_string(arrays: dict, key: str, what: str) -> str:
    """A string stored as a 0-d array under ``key``."""
    value = arrays[key]
    if value.dtype.kind not in "US" or value.ndim != 0:
        raise MemornnError(f"{what}: entry {key!r} must be a string, got {value.dtype} array of shape {value.shape}")
    return str(value)
