"""Atomic file writes: readers see the old file or the complete new one, never a partial one.

Everything npconv writes (models, weights, IDX files, downloads, pictures, run records) goes
through :func:`atomic_path`: the content is written to a temporary file in the target's folder,
flushed to disk, given ordinary permissions, then renamed over the target. On any error the
temporary file is deleted and the previous file, if any, is left as it was.
"""

from __future__ import annotations

import os
from contextlib import contextmanager


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_path(path, where: str = "npconv") -> str:
    """``path`` (a str, bytes or ``os.PathLike``) as a str, or a ``TypeError`` naming
    ``where`` (``os.fspath``'s own names neither the caller nor the value; a bytes path
    failed later in ``tempfile``)."""
    try:
        return os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(f"{where}: expected a file path (a str or a pathlib.Path). "
                        f"Received: {path!r} of type {type(path).__name__}") from None


def check_file_target(path, where: str = "npconv") -> str:
    """The file that writing ``path`` replaces (``path`` as a str, or the file a symbolic link
    points to: the link stays, as when writing through it), or a clear error before anything
    is written when it cannot become a file: ``IsADirectoryError`` when it is a folder,
    ``NotADirectoryError`` when one of its parents is a file (the OS's own errors name a
    temporary file or only the parent), ``ValueError`` for a device, pipe or socket (which a
    rename would replace)."""
    path = file_path(path, where)
    if os.path.islink(path):
        try:
            path = os.path.realpath(path, strict=True)
        except FileNotFoundError:  # a link to a file that does not exist yet: made there
            path = os.path.realpath(path)
        except OSError as err:  # a loop of links (open() fails the same way)
            raise OSError(err.errno, f"{where}: cannot write {path}: {err.strerror}") from None
    if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):
        raise ValueError(f"{where}: cannot write {path}: it is {_kind(path)}, not a regular "
                         "file (give the path of a file)")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{where}: cannot write {path}: it is a folder, not a file "
                                f"(give a file name inside it, or remove it)")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(parent):  # the nearest part of the path that exists
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise NotADirectoryError(f"{where}: cannot write {path}: {parent} is a file, so it "
                                 "cannot hold a folder")
    return path


def _kind(path) -> str:
    import stat

    mode = os.stat(path).st_mode
    for test, kind in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a regular file"


@contextmanager
def atomic_path(path, suffix: str | None = None, where: str = "npconv"):
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    ``suffix`` (default: ``path``'s extension) lets writers that pick a format from the name
    (matplotlib, Pillow) behave as for ``path``. A ``path`` that is a folder or lies under a
    file is refused before anything is written (:func:`check_file_target`; ``where`` names
    the caller in that error).
    """
    path = check_file_target(path, where)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:  # its message names a folder only, not what was to be written
        raise type(err)(err.errno, f"{where}: cannot write {path}: cannot create the folder "
                                   f"{folder}: {err.strerror or err}") from None
    if suffix is None:
        suffix = os.path.splitext(path)[1]
    import tempfile  # (imports random and hashlib: not at npconv's import)

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix,
                                   dir=folder)
    except OSError as err:  # its message names the temporary file, not the target
        raise type(err)(err.errno, f"{where}: cannot write {path}: {err.strerror}") from None
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; ours are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
