"""Atomic file writes: write a temporary file in the target's folder, then ``os.replace`` it.

A reader (or a sweep resumed after a kill) sees either the old file or the whole new one, never
a partial file. Files get the usual mode (0666 less the umask), not mkstemp's 0600. A failed
write (a full disk, a read-only folder) removes the temporary file and raises the OSError with
the target's path.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str, write: Callable[[io.BufferedWriter], None]) -> str:
    """Call ``write(binary file)`` on a temporary file, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    except OSError as err:
        raise named(err, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise named(err, path) from None
        raise
    return path


def named(err: OSError, path: str) -> OSError:
    """``err`` naming ``path`` when it names no file (a failed write or fsync names none)."""
    if err.filename is not None:
        return err
    return type(err)(err.errno, err.strerror or str(err), path)


def write_bytes_atomically(path: str, data: bytes) -> str:
    return write_atomically(path, lambda f: f.write(data))


def write_json_atomically(path: str, payload: Any) -> str:
    text = json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"
    return write_bytes_atomically(path, text.encode())


class CorruptFileError(ValueError):
    """A results file that cannot be read back (one line naming it and the cause)."""


def load_arrays(path: str) -> dict:
    """The arrays of a file written by ``save_arrays_atomically`` (name -> numpy array), read
    whole; CorruptFileError naming the file when it cannot be read as one."""
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        if isinstance(err, OSError) and not isinstance(err, zipfile.BadZipFile) and err.errno:
            raise  # a filesystem error, not a corrupt file: the caller reports it
        detail = " ".join(str(err).split()) or type(err).__name__
        raise CorruptFileError(f"{path} is corrupt ({detail})") from None


def save_arrays_atomically(path: str, arrays: dict) -> str:
    """``numpy.savez`` of ``arrays`` (name -> array), atomically."""
    import numpy as np

    return write_atomically(path, lambda f: np.savez(f, **arrays))
