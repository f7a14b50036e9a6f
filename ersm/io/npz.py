"""Reading a ``.npz`` file the way every ersm file format does: no pickles, every array read
eagerly, and one error naming the file for anything unreadable or missing."""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np


def read_npz(path: str | os.PathLike, what: str, required: tuple[str, ...] = (),
             error: type[ValueError] = ValueError) -> dict[str, np.ndarray]:
    """All arrays of a ``.npz`` file (``allow_pickle=False``).

    Args:
        path: the file.
        what: what the file should be, for messages (e.g. ``"mask file"``).
        required: keys that must be present.
        error: the ``ValueError`` subclass to raise.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        error: unreadable, truncated or malformed file, or a missing key.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise error(f"{path}: not a readable {what} ({type(exc).__name__}: {exc})") from exc
    missing = [key for key in required if key not in arrays]
    if missing:
        raise error(f"{path}: missing entry {missing[0]!r}")
    return arrays
