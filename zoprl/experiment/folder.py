"""The results folder of a sweep: one writer at a time, and only the results of its own spec.

    with lock_folder(out_dir):                 # FolderError if another process holds it
        remove_temporaries(out_dir)            # what a killed writer left behind
        prepare_folder(out_dir, spec, fresh)   # FolderError if the folder is not this spec's

``lock_folder`` holds an exclusive ``flock`` on ``<out_dir>/.zoprl.lock`` for the whole sweep;
the file names the holder (pid, host, start time) for the refusal message. A lock left behind by
a killed process is stale: the kernel dropped its flock with the process, so the next sweep takes
it over. Where the filesystem has no flock, the lock file's pid decides instead (stale when that
pid no longer runs on this host). ``prepare_folder`` refuses a folder that holds files this spec
did not write (another spec's results, a committed results folder without ``spec.json``, any
other files) unless ``fresh``, which removes zoprl's own files there (chunks, table, manifest,
spec.json) and keeps the rest.

Every refusal is a one-line ``FolderError`` (a ValueError: exit code 2 on the command line).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import shutil
import socket

from zoprl.storage import write_json_atomically
from zoprl.storage.atomic import named

LOCK_FILE = ".zoprl.lock"
SPEC_FILE = "spec.json"
OWN_FILES = ("chunks", "results.parquet", "manifest.json", SPEC_FILE)


class FolderError(ValueError):
    """A results folder that cannot be used (one line naming it and why)."""


def is_temporary(name: str) -> bool:
    """A file an atomic write creates before renaming it into place (``.<random>.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")


def _holder() -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder.get("pid"):
        return "another zoprl process"
    return (
        f"zoprl process {holder['pid']} on host {holder.get('host', '?')} "
        f"(since {holder.get('since', '?')})"
    )


def _alive_here(holder: dict) -> bool:
    """Whether the holder's pid still runs on this host (other hosts: assumed alive)."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return bool(holder.get("pid"))
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _take(fd: int) -> bool:
    """Try to take the lock on the open lock file ``fd``: flock, else the pid it names."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as err:  # no flock on this filesystem: the pid in the file decides
        if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
            raise
        holder = _read_holder(fd)
        return holder.get("pid") == os.getpid() or not _alive_here(holder)


def check_folder_path(folder: str) -> None:
    """FolderError when ``folder`` exists and is not a folder (``--out`` naming a file)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise FolderError(
            f"results folder {folder!r} is a file, not a folder; choose another --out"
        )


@contextlib.contextmanager
def lock_folder(folder: str):
    """Hold the exclusive lock of ``folder`` (created if missing) for the ``with`` block."""
    check_folder_path(folder)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK_FILE)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _take(fd):
            holder = _read_holder(fd)
            os.close(fd)
            raise FolderError(
                f"results folder {folder!r} is in use by {_describe(holder)}; wait for it to "
                "finish or choose another --out"
            )
        try:  # the file we locked may have been released and removed meanwhile: lock the new one
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(_holder()).encode(), 0)
        except OSError as err:
            raise named(err, path) from None
        yield
    finally:
        try:
            os.unlink(path)  # while still holding it, so no one locks the removed file
        except OSError:
            pass
        finally:
            os.close(fd)


def remove_temporaries(folder: str) -> list[str]:
    """Remove the temporary files of atomic writes (module ``zoprl.storage.atomic``) that a
    killed writer left in ``folder`` and its ``chunks`` tree; returns their paths. Call it while
    holding the folder's lock: no live writer owns them then."""
    removed = []
    for root, _, files in os.walk(folder):
        rel = os.path.relpath(root, folder)
        if rel != "." and rel.split(os.sep)[0] != "chunks":
            continue
        for name in files:
            if is_temporary(name):
                os.unlink(os.path.join(root, name))
                removed.append(os.path.join(root, name))
    return removed


def read_json_file(path: str, what: str) -> dict | None:
    """The JSON object in ``path`` (None when missing); FolderError naming it when corrupt."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        raise FolderError(
            f"{what} {path!r} is corrupt ({' '.join(str(err).split())}); rerun with --fresh to "
            "start the sweep over"
        ) from None
    if not isinstance(value, dict):
        raise FolderError(f"{what} {path!r} is corrupt (not a JSON object); rerun with --fresh")
    return value


def _remove_own_files(folder: str) -> None:
    for name in OWN_FILES:
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)


def prepare_folder(
    folder: str, fingerprint: str, spec_dict: dict, fresh: bool, extra: dict | None = None
) -> None:
    """Check that ``folder`` may take the results of the spec with ``fingerprint`` (module doc),
    clear it when ``fresh``, and record the spec (and ``extra``: a shard) in ``spec.json``."""
    spec_path = os.path.join(folder, SPEC_FILE)
    if fresh:
        _remove_own_files(folder)
    else:
        previous = read_json_file(spec_path, "the spec record")
        if previous is not None and previous.get("fingerprint") != fingerprint:
            other = "spec" if previous.get("spec") != spec_dict else "shard"
            raise FolderError(
                f"{folder} holds the results of a different {other}; rerun with --fresh "
                "to replace them, or choose another --out"
            )
        others = sorted(n for n in os.listdir(folder) if n != LOCK_FILE and not is_temporary(n))
        if previous is None and others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise FolderError(
                f"{folder} already holds files that no sweep of this spec wrote ({shown}); "
                "choose another --out, or rerun with --fresh to replace the results there"
            )
    write_json_atomically(
        spec_path, {"fingerprint": fingerprint, "spec": spec_dict, **(extra or {})}
    )
