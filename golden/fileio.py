"""The one file layer of memornn: inputs opened with checks, outputs written atomically.

Inputs
    :func:`open_input` opens a regular file only: a directory, FIFO, device or socket is
    named as such (a FIFO is never opened, so it cannot hang the command), and every
    ``OSError`` becomes a one-line :class:`MemornnError`. :func:`read_text` adds a size
    limit and UTF-8 decoding; :mod:`.npzfile` adds array headers checked before
    allocation.

Outputs
    :func:`atomic_file` writes to a unique temporary file in the output's own folder
    (``tempfile``: created with ``O_EXCL``, so a planted link is never followed), then
    renames it over the output; a failure leaves the output as it was.
    :func:`staged_folder` and :func:`staged_path` do the same for a folder of outputs
    and for a file that a tool writes by name. Folders are created inside the error
    handling. :func:`refuse_same_file` refuses an output that is one of the inputs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile

from .errors import MemornnError
from .limits import MAX_TEXT_BYTES, size_text

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str | None:
    """What a non-regular file is (``"a directory"``, ...), or ``None`` for a regular file."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) else "not a regular file"


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _stat_error(path: str, what: str, exc: OSError) -> MemornnError:
    if isinstance(exc, FileNotFoundError):
        if os.path.islink(path):
            return MemornnError(f"{what} {path!r} is a symbolic link to a file that does not exist")
        return MemornnError(f"{what} {path!r} does not exist")
    if isinstance(exc, NotADirectoryError):
        return MemornnError(f"{what} {path!r} does not exist (a folder in its path is a file)")
    return MemornnError(f"{what} {path!r} cannot be read: {_why(exc)}")


def open_input(path, what: str):
    """Open the regular file ``path`` for reading (binary).

    Raises
    ------
    MemornnError
        If it does not exist, is not a regular file (named: directory, FIFO, device,
        socket), or cannot be opened.
    """
    path = _fspath(path, what)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if isinstance(exc, IsADirectoryError):
            raise MemornnError(f"{what} {path!r} is a directory, not a regular file") from None
        raise _stat_error(path, what, exc) from None
    try:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind:
            raise MemornnError(f"{what} {path!r} is {kind}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_input_file(path, what: str) -> str:
    """``path`` if it names a readable regular file (see :func:`open_input`)."""
    with open_input(path, what):
        pass
    return os.fspath(path)


def read_bytes(f, path: str, what: str, limit: int) -> bytes:
    """All of the open file ``f``, refusing one larger than ``limit`` bytes."""
    try:
        data = f.read(limit + 1)
    except OSError as exc:
        raise MemornnError(f"{what} {path!r} cannot be read: {_why(exc)}") from None
    if len(data) > limit:
        raise MemornnError(f"{what} {path!r} is larger than the limit of {size_text(limit)} (golden/limits.py)")
    return data


def read_text(path, what: str, limit: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of the file ``path`` (at most ``limit`` bytes)."""
    path = _fspath(path, what)
    with open_input(path, what) as f:
        data = read_bytes(f, path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MemornnError(f"{what} {path!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                           f"{exc.start})") from None


def _fspath(path, what: str) -> str:
    try:
        path = os.fspath(path)
    except TypeError:
        raise MemornnError(f"{what}: {path!r} is not a file path") from None
    if not path:
        raise MemornnError(f"{what}: the file name is empty")
    if "\0" in path:
        raise MemornnError(f"{what} {path!r}: a file name cannot contain a NUL character")
    return path


# -- outputs -------------------------------------------------------------------------------------


def _existing_ancestor(folder: str) -> str:
    folder = os.path.abspath(folder)
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    return folder


def _check_folder_path(folder: str, path: str, what: str) -> None:
    """Refuse early when the folder of output ``path`` cannot exist (a file in its way)."""
    ancestor = _existing_ancestor(folder or ".")
    if not os.path.isdir(ancestor):
        raise MemornnError(f"cannot write {what} {path!r}: {ancestor!r} is a file, not a folder")


def check_output_file(path, what: str = "output") -> str:
    """``path`` if a file can be written there: it is no directory, FIFO or device, and no
    file stands where its folder should be. (Writability shows when writing.)"""
    path = _fspath(path, what)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        if not isinstance(exc, NotADirectoryError):
            raise MemornnError(f"cannot write {what} {path!r}: {_why(exc)}") from None
        st = None
    if st is not None:
        kind = file_kind(st.st_mode)
        if kind:
            raise MemornnError(f"cannot write {what} {path!r}: it is {kind}")
    _check_folder_path(os.path.dirname(path), path, what)
    return path


def check_output_folder(path, what: str = "output folder") -> str:
    """``path`` if it is a folder or can be created as one."""
    path = _fspath(path, what)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise MemornnError(f"{what} {path!r} exists and is not a folder")
    _check_folder_path(path, path, what)
    return path


def make_folder(folder: str, what: str = "output folder") -> None:
    """``os.makedirs(folder, exist_ok=True)`` with a one-line error."""
    if not folder:
        return
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise MemornnError(f"cannot create {what} {folder!r}: {_why(exc)}") from None


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name the same file (through links too)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.abspath(a) == os.path.abspath(b)


def refuse_same_file(outputs, inputs) -> None:
    """Refuse when an output path names the same file as an input (``None`` entries are skipped).

    ``outputs`` and ``inputs`` are iterables of paths or of ``(label, path)`` pairs; the
    labels (``"--waves"``, ``"--model"``) make the message name the options.
    """
    def pairs(items):
        return [item if isinstance(item, tuple) else ("", item) for item in items]

    for out_label, out in pairs(outputs):
        for in_label, inp in pairs(inputs):
            if out is not None and inp is not None and same_file(out, inp):
                raise MemornnError(f"output {out_label + ' ' if out_label else ''}{os.fspath(out)!r} is the same "
                                   f"file as input {in_label + ' ' if in_label else ''}{os.fspath(inp)!r}: "
                                   "refusing to overwrite it")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _write_errors(path: str, what: str):
    try:
        yield
    except OSError as exc:
        raise MemornnError(f"cannot write {what} {path!r}: {_why(exc)}") from None


@contextlib.contextmanager
def _new_folder(folder: str, what: str = "output folder"):
    """Create ``folder`` and its missing parents for the block; if the block fails, remove
    the folders it created (those still empty), so a failure leaves no trace."""
    folder = os.path.abspath(folder or ".")
    existing = _existing_ancestor(folder)
    make_folder(folder, what)
    try:
        yield
    except BaseException:
        while folder != existing and folder.startswith(existing):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
            folder = os.path.dirname(folder)
        raise


@contextlib.contextmanager
def atomic_file(path, what: str = "output", mode: str = "wb"):
    """Yield a file object whose contents replace ``path`` when the block ends without error.

    The temporary file is created in ``path``'s folder (created if missing) with a
    unique name and ``O_EXCL``, given the usual permissions (``0666`` less the umask),
    and renamed over ``path`` (a link at ``path`` is replaced, not followed). On any
    error it is removed and ``path`` is left as it was.
    """
    path = check_output_file(path, what)
    folder = os.path.dirname(path) or "."
    with _new_folder(folder):
        with _write_errors(path, what):
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            with _write_errors(path, what):
                os.fchmod(fd, 0o666 & ~_umask())
                f = os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""}))
            with f:
                yield f
            with _write_errors(path, what):
                os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def write_text(path, text: str, what: str = "output") -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_file(path, what, "w") as f, _write_errors(path, what):
        f.write(text)


@contextlib.contextmanager
def _staging_folder(parent: str, name: str, what: str):
    """A fresh folder in ``parent`` (created if missing) for the block, removed after it."""
    with _new_folder(parent):
        with _write_errors(os.path.join(parent, name), what):
            tmp = tempfile.mkdtemp(dir=parent or ".", prefix=f".{name}.", suffix=".tmp")
            os.chmod(tmp, 0o777 & ~_umask())
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_path(path, what: str = "output"):
    """Yield a path (same file name, in a fresh folder beside ``path``) for a tool that
    writes a file by name; when the block ends without error, that file (if written)
    replaces ``path``. On error ``path`` is left as it was."""
    path = check_output_file(path, what)
    folder, name = os.path.split(path)
    with _staging_folder(folder, name, what) as tmp:
        yield os.path.join(tmp, name)
        if os.path.lexists(os.path.join(tmp, name)):
            with _write_errors(path, what):
                os.replace(os.path.join(tmp, name), path)


def _plan_merge(src: str, dst: str, inputs, moves: list) -> None:
    """Check that every entry of ``src`` can move into ``dst``; list the moves."""
    for name in sorted(os.listdir(src)):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s) and not os.path.islink(s):
            if os.path.isdir(d) and not os.path.islink(d):
                _plan_merge(s, d, inputs, moves)
                continue
            if os.path.lexists(d):
                raise MemornnError(f"cannot write folder {d!r}: a file of that name is in the way")
        elif os.path.isdir(d) and not os.path.islink(d):
            raise MemornnError(f"cannot write {d!r}: it is a directory")
        refuse_same_file([d], inputs)
        moves.append((s, d))


@contextlib.contextmanager
def staged_folder(folder, inputs=(), what: str = "output folder"):
    """Yield a fresh folder to write into, beside ``folder`` (inside it if it exists); when
    the block ends without error its contents move into ``folder`` (the whole folder is
    renamed when ``folder`` does not exist yet; otherwise each entry replaces the one of
    the same name).

    Before anything moves, every entry is checked: no output may be the same file as
    one of ``inputs`` and no directory may stand where a file goes (or the reverse). On
    any error ``folder`` is left as it was.
    """
    folder = check_output_folder(folder, what)
    parent, name = os.path.split(os.path.abspath(folder))
    if os.path.isdir(folder):  # stage inside it: its parent may be anything ("-o ." or "-o /")
        parent, name = folder, "memornn"
    with _staging_folder(parent, name, what) as tmp:
        yield tmp
        with _write_errors(folder, what):
            if not os.path.lexists(folder):
                os.rename(tmp, folder)
                return
            moves: list = []
            _plan_merge(tmp, folder, inputs, moves)
            for s, d in moves:
                make_folder(os.path.dirname(d))
                os.replace(s, d)
