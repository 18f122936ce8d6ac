"""A results folder belongs to one spec and one process (issue 17, items 1, 4, 5)."""

import json
import os
import socket

import pytest
from cli_testing import assert_refused, cli_env, zoprl_batch
from sweep_testing import tiny_raw

from zoprl.experiment import SpecError, spec_from_dict
from zoprl.experiment.folder import LOCK_FILE, FolderError, lock_folder, prepare_folder

SPEC = 'name = "tiny"\n[[algorithms]]\nname = "zpg"\n'


def _committed_results(folder):
    """A results folder as the repository commits them: no spec.json."""
    folder.mkdir(parents=True)
    for name in ("results.parquet", "manifest.json", "slopes.csv", "rates.png"):
        (folder / name).write_bytes(name.encode())
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_the_command_line_refuses_a_folder_it_did_not_write_and_a_folder_in_use(
    tmp_path, cli_cache
):
    spec = tmp_path / "sweep.toml"
    spec.write_text(SPEC)
    committed = tmp_path / "results" / "rates"
    before = _committed_results(committed)
    busy = tmp_path / "busy"
    with lock_folder(str(busy)):  # held by this process while the command runs
        results = zoprl_batch(
            [
                ["sweep", spec, "--out", committed, "--quiet"],
                ["sweep", spec, "--out", busy, "--quiet"],
            ],
            env=cli_env(cli_cache),
        )
    assert_refused(results[0], "already holds files that no sweep of this spec wrote", "--fresh")
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in committed.iterdir()}
    assert after == before  # nothing rewritten, nothing added
    host = socket.gethostname()
    assert_refused(results[1], f"in use by zoprl process {os.getpid()} on host {host}")


def test_fresh_replaces_zoprls_files_and_keeps_the_others(tmp_path):
    folder = tmp_path / "rates"
    _committed_results(folder)
    spec = spec_from_dict(tiny_raw())
    with pytest.raises(FolderError, match="no sweep of this spec wrote"):
        prepare_folder(str(folder), spec.fingerprint(), spec.to_dict(), fresh=False)
    prepare_folder(str(folder), spec.fingerprint(), spec.to_dict(), fresh=True)
    assert sorted(os.listdir(folder)) == ["rates.png", "slopes.csv", "spec.json"]
    prepare_folder(str(folder), spec.fingerprint(), spec.to_dict(), fresh=False)  # its own now


def test_an_empty_folder_and_a_missing_one_are_fine(tmp_path):
    spec = spec_from_dict(tiny_raw())
    (tmp_path / "empty").mkdir()
    for name in ("empty", "missing"):
        with lock_folder(str(tmp_path / name)):
            prepare_folder(str(tmp_path / name), spec.fingerprint(), spec.to_dict(), False)
        assert sorted(os.listdir(tmp_path / name)) == ["spec.json"]


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    stale = {"pid": 2**22 + 12345, "host": socket.gethostname(), "since": "2026-01-01"}
    (folder / LOCK_FILE).write_text(json.dumps(stale))  # nobody holds its flock
    with lock_folder(str(folder)):
        holder = json.loads((folder / LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(FolderError, match=f"in use by zoprl process {os.getpid()}"):
            with lock_folder(str(folder)):
                pass
    assert not (folder / LOCK_FILE).exists()


def test_without_flock_the_pid_in_the_lock_file_decides(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    folder = tmp_path / "out"
    folder.mkdir()
    alive = {"pid": os.getppid(), "host": socket.gethostname(), "since": "2026-01-01"}
    (folder / LOCK_FILE).write_text(json.dumps(alive))
    with pytest.raises(FolderError, match=f"in use by zoprl process {os.getppid()}"):
        with lock_folder(str(folder)):
            pass
    dead = {**alive, "pid": 2**22 + 12345}
    (folder / LOCK_FILE).write_text(json.dumps(dead))
    with lock_folder(str(folder)):
        assert json.loads((folder / LOCK_FILE).read_text())["pid"] == os.getpid()


@pytest.mark.parametrize("name", [".", "..", ".hidden", "-x", "a/b", "x" * 101, ""])
def test_a_spec_name_is_one_safe_folder_name(name):
    with pytest.raises(SpecError):
        spec_from_dict(tiny_raw(name=name))
