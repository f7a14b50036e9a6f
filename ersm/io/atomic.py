"""Atomic file writes: a file is either absent, the old version, or complete.

Data go to a temporary file in the destination's directory, are flushed and fsynced,
then ``os.replace`` puts them in place (atomic on POSIX and Windows within one file
system); the directory entry is fsynced too where the platform allows. A killed
writer leaves at most a hidden ``.<name>.<random>.tmp`` file, never a partial output.
"""

from __future__ import annotations

import errno
import os
import re
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np


_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")
"""Names :func:`atomic_write` gives its temporary files: ``.<name>.<uuid4 hex>.tmp``."""


def temporary_path(path: Path) -> Path:
    """A fresh temporary name for ``path`` in its directory (``.<name>.<uuid4 hex>.tmp``)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path``'s name is one :func:`atomic_write` gives its temporary files."""
    return bool(_TEMPORARY.match(Path(path).name))


def clean_temporaries(directory: str | os.PathLike, older_than: float = 0.0) -> list[Path]:
    """Remove the temporary files a killed :func:`atomic_write` left in ``directory``.

    Call it when a job resumes, before it writes again: a writer that is still running in
    ``directory`` would lose its temporary file (use ``older_than`` to spare recent ones).

    Args:
        directory: where the outputs are (not recursive); a missing one is fine.
        older_than: only remove files last modified at least this many seconds ago.

    Returns:
        The removed files, sorted.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    now, removed = time.time(), []
    for entry in directory.iterdir():
        if not is_temporary(entry) or entry.is_symlink() or not entry.is_file():
            continue
        try:
            if now - entry.stat().st_mtime >= older_than:
                entry.unlink()
                removed.append(entry)
        except FileNotFoundError:  # another cleaner or its writer got there first
            continue
    return sorted(removed)


def ensure_directory(path: str | os.PathLike, what: str = "output directory") -> Path:
    """Create ``path`` (and parents) if needed; one clear message when that is impossible.

    Raises:
        NotADirectoryError: ``path`` or one of its parents is a file.
        PermissionError: not allowed to create it.
        OSError: any other failure; the message names ``what`` and ``path``.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise NotADirectoryError(f"{what} {path} exists and is not a directory") from exc
    except NotADirectoryError as exc:
        raise NotADirectoryError(f"cannot create {what} {path}: a parent of it is a file, "
                                 "not a directory") from exc
    except PermissionError as exc:
        raise PermissionError(f"cannot create {what} {path}: permission denied") from exc
    except OSError as exc:
        raise OSError(f"cannot create {what} {path}: {exc.strerror or exc}") from exc
    return path


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


def atomic_write(path: str | os.PathLike, write_fn: Callable[[BinaryIO], object],
                 durable: bool = True) -> Path:
    """Write ``path`` atomically with ``write_fn(binary_file)``.

    Args:
        path: destination; its directory must exist.
        write_fn: writes the whole content to the open binary file it is given (e.g.
            ``lambda f: np.savez(f, x=x)``); its return value is ignored.
        durable: fsync the file and its directory (survives a power loss). With False
            the write is still atomic for readers and against a killed process (the
            rename happens after the whole file is written), and costs no disk
            round trip: for batches of small files that are validated when read back
            (see :func:`sync_directory` to persist them all at the end).

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
    if path.is_dir():  # checked first: os.replace would name the temporary file
        raise IsADirectoryError(errno.EISDIR, "output is a directory, not a file", str(path))
    tmp = temporary_path(path)
    # os.open with mode 0o666 respects the umask, unlike tempfile (always 0o600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_directory(path.parent)
    return path


def sync_directory(directory: str | os.PathLike) -> None:
    """Flush the file system and persist ``directory``'s entries: the end of a batch of
    non-``durable`` :func:`atomic_write` calls (one disk round trip for all of them)."""
    if hasattr(os, "sync"):
        os.sync()
    _fsync_directory(Path(directory))


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


__all__ = ["atomic_save_npz", "atomic_write", "atomic_write_text", "clean_temporaries",
           "ensure_directory", "is_temporary", "sync_directory", "temporary_path"]
