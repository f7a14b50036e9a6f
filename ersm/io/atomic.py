"""Atomic file writes: a file is either absent, the old version, or complete.

Data go to a temporary file in the destination's directory, are flushed and fsynced,
then ``os.replace`` puts them in place (atomic on POSIX and Windows within one file
system); the directory entry is fsynced too where the platform allows. A killed
writer leaves at most a hidden ``.<name>.<random>.tmp`` file, never a partial output.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np


def _fsync_directory(directory: Path) -> None:
    """Persist a rename in ``directory`` (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write_fn: Callable[[BinaryIO], object]) -> Path:
    """Write ``path`` atomically with ``write_fn(binary_file)``.

    Args:
        path: destination; its directory must exist.
        write_fn: writes the whole content to the open binary file it is given (e.g.
            ``lambda f: np.savez(f, x=x)``); its return value is ignored.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        Whatever ``write_fn`` or the file system raises; the temporary file is removed
        and an existing ``path`` is left untouched.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "hello.txt"
        >>> atomic_write(out, lambda f: f.write(b"hi")).read_bytes()
        b'hi'
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    # os.open with mode 0o666 respects the umask, unlike tempfile (always 0o600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def atomic_save_npz(path: str | os.PathLike, **arrays: object) -> Path:
    """``np.savez`` to ``path`` atomically (no ``.npz`` suffix is appended).

    Args:
        path: destination file.
        **arrays: arrays (or values ``np.asarray`` accepts) stored under their names.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


__all__ = ["atomic_save_npz", "atomic_write", "atomic_write_text"]
