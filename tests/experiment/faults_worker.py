"""Fault injection for the sweep engine, run by test_faults.py in one warm subprocess.

    python faults_worker.py ROOT_FOLDER            all cases; prints one JSON report
    python faults_worker.py --sigkill FOLDER K     a sweep that SIGKILLs itself at operation K

A small sweep (8 runs in 2 batches of 3 chunks: 6 chunk files, 5 carries, the spec, layouts,
the table and the manifest) is run under faults injected at the operations that change files in
its folder (os.open for writing, mkdir, replace, unlink, rmdir, fsync, ftruncate, pwrite, chmod;
numbered in the order the sweep makes them):

  kill      a process death at operation K, emulated in this process: operation K and every
            later one under the folder raise ``Killed`` without acting (so that no cleanup of the
            dead process reaches the disk), file descriptors close as at death; then the same
            sweep again, killed at another K or finishing. K is drawn with a fixed seed among the
            operations of an uninterrupted sweep; chains of kills end in a finishing sweep.
  sigkill   a real SIGKILL at operation K of a real subprocess, then a resumed sweep.
  readonly  every operation under a folder fails with EROFS (a read-only mount; as root, whom
            chmod does not stop) and, when not root, a real chmod 0555.
  enospc    operation K (a write) fails with ENOSPC (a full disk), then space is back.
  concurrent a sweep into a folder whose lock another process holds; two real sweeps started
            together into one folder.

Every case must end in the uninterrupted table, bit for bit, or in a one-line refusal (exit code
2, ``zoprl: error: ...``, no traceback); finished chunk files are never rewritten or lost, and
results.parquet, when present, is always the whole uninterrupted table.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from sweep_testing import tiny_raw  # noqa: E402

from zoprl.cli import main  # noqa: E402
from zoprl.experiment import run_sweep, spec_from_dict  # noqa: E402
from zoprl.experiment.folder import lock_folder  # noqa: E402
from zoprl.storage import read_table  # noqa: E402

RAW = tiny_raw(max_runs_per_batch=4)
PATH_OPS = ("open", "mkdir", "replace", "unlink", "rmdir", "chmod")
FD_OPS = ("fsync", "ftruncate", "pwrite")


class Killed(BaseException):
    """The emulated death of the process (not an Exception: no handler catches it)."""


class Faults:
    """Hooks on the os functions that change files, acting on those under ``folder``."""

    def __init__(self, folder: str, mode: str = "count", at: int = 0):
        self.folder, self.mode, self.at = os.path.abspath(str(folder)), mode, at
        self.count = 0
        self.dead = False
        self.fds: set[int] = set()
        self.saved = {}

    def _ours(self, name, args, kwargs) -> bool:
        if name in FD_OPS:
            return args[0] in self.fds
        if kwargs.get("dir_fd") is not None or not isinstance(args[0], (str, os.PathLike)):
            return False
        if name == "open" and not args[1] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            return False
        return os.path.abspath(os.fspath(args[0])).startswith(self.folder)

    def _fault(self, name, args):
        if self.dead:
            raise Killed
        counted = self.mode != "enospc" or _allocates(name, args)
        self.count += counted
        if self.mode == "readonly":
            raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), _path(args))
        if self.count != self.at or not counted:
            return
        if self.mode == "kill":
            self.dead = True
            raise Killed
        if self.mode == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.mode == "enospc":  # a failed write names no file; a failed path call does
            raise OSError(
                errno.ENOSPC, os.strerror(errno.ENOSPC), *([] if name in FD_OPS else [_path(args)])
            )

    def _wrap(self, name, real):
        def hooked(*args, **kwargs):
            ours = self._ours(name, args, kwargs)
            if ours:
                self._fault(name, args)
            result = real(*args, **kwargs)
            if ours and name == "open":
                self.fds.add(result)
            return result

        return hooked

    def __enter__(self):
        for name in (*PATH_OPS, *FD_OPS):
            self.saved[name] = getattr(os, name)
            setattr(os, name, self._wrap(name, self.saved[name]))
        return self

    def __exit__(self, *exc):
        for name, real in self.saved.items():
            setattr(os, name, real)
        for fd in self.fds:  # what a dead process leaves open is closed by its death
            with contextlib.suppress(OSError):
                os.close(fd)
        return False


def _allocates(name, args) -> bool:
    """Whether a real disk could refuse the operation for want of space: writing data, or
    creating a file or folder that does not exist yet."""
    if name in ("fsync", "pwrite"):
        return True
    return name in ("open", "mkdir") and not os.path.exists(args[0])


def _path(args):
    return os.fspath(args[0]) if isinstance(args[0], (str, os.PathLike)) else None


# checks -----------------------------------------------------------------------------------------
def chunk_files(folder) -> dict:
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            if name.startswith("chunk-") and name.endswith(".npz"):
                path = os.path.join(root, name)
                out[path] = os.stat(path).st_mtime_ns
    return out


def same_table(table, reference) -> bool:
    import pandas as pd

    try:
        pd.testing.assert_frame_equal(table, reference, check_exact=True)
    except AssertionError:
        return False
    return True


def check_invariants(folder, before: dict, reference) -> str | None:
    """None, or what went wrong: a finished chunk lost or rewritten, a table that is not the
    whole uninterrupted one."""
    after = chunk_files(folder)
    lost = [p for p, mtime in before.items() if after.get(p) != mtime]
    if lost:
        return f"finished chunks lost or rewritten: {lost}"
    table = os.path.join(folder, "results.parquet")
    if os.path.exists(table) and not same_table(read_table(table), reference):
        return "a results.parquet that is not the uninterrupted table"
    return None


def cli(argv) -> tuple[int, str]:
    """``zoprl argv`` in this process: (exit code, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:
            code = exit_.code
    return code, err.getvalue()


def one_line_refusal(code, err: str, *texts) -> str | None:
    lines = err.strip().splitlines()
    if code != 2 or len(lines) != 1 or not lines[0].startswith("zoprl: error: "):
        return f"not a one-line refusal: exit {code}, {err!r}"
    missing = [t for t in texts if t not in lines[0]]
    return f"refusal {lines[0]!r} lacks {missing}" if missing else None


def sweep(folder):
    return run_sweep(spec_from_dict(RAW), str(folder), progress=False)


def finish_and_compare(folder, reference) -> str | None:
    before = chunk_files(folder)
    result = sweep(folder)
    problem = check_invariants(folder, before, reference)
    if problem is None and not same_table(result.table, reference):
        problem = "the finished table differs from the uninterrupted one"
    leftovers = [n for _, _, files in os.walk(folder) for n in files if n.endswith(".tmp")]
    return problem or (f"temporary files left: {leftovers}" if leftovers else None)


# cases ------------------------------------------------------------------------------------------
def kill_cases(root, reference, operations: int, kills: int = 21, seed: int = 17) -> list[dict]:
    """Chains of emulated kills at random operations, each chain ending in a finished sweep."""
    rng = np.random.default_rng(seed)
    cases, episode, done = [], 0, 0
    folder = os.path.join(root, "kill-0")
    while done < kills:
        at = int(rng.integers(1, operations + 1))
        before = chunk_files(folder)
        faults = Faults(folder, "kill", at)
        try:
            with faults:
                result = sweep(folder)
        except Killed:
            done += 1
            problem = check_invariants(folder, before, reference)
            cases.append({"case": f"kill at operation {at}", "problem": problem})
            continue
        problem = check_invariants(folder, before, reference)
        if problem is None and not same_table(result.table, reference):
            problem = "the finished table differs from the uninterrupted one"
        cases.append(
            {"case": f"chain {episode} finished (K = {at} not reached)", "problem": problem}
        )
        episode += 1
        folder = os.path.join(root, f"kill-{episode}")
    cases.append(
        {"case": f"chain {episode} finished", "problem": finish_and_compare(folder, reference)}
    )
    return cases


def sigkill_cases(root, reference, operations: int, points=(5, 23)) -> list[dict]:
    """Real SIGKILLs of a subprocess at operations ``points`` of one folder, then a resume."""
    cases = []
    folder = os.path.join(root, "sigkill")
    for at in points:
        before = chunk_files(folder)
        child = subprocess.run([sys.executable, __file__, "--sigkill", folder, str(at)])
        problem = None if child.returncode == -signal.SIGKILL else f"exit {child.returncode}"
        problem = problem or check_invariants(folder, before, reference)
        cases.append({"case": f"SIGKILL at operation {at}", "problem": problem})
    cases.append(
        {"case": "resumed after SIGKILLs", "problem": finish_and_compare(folder, reference)}
    )
    return cases


def readonly_cases(root, spec_file, reference) -> list[dict]:
    cases = []
    parent = os.path.join(root, "readonly-parent")
    os.makedirs(parent)
    with Faults(parent, "readonly"):
        code, err = cli(["sweep", spec_file, "--out", os.path.join(parent, "out"), "--quiet"])
    problem = one_line_refusal(code, err, "Read-only file system", parent)
    cases.append({"case": "out folder in a read-only folder", "problem": problem})
    finished = os.path.join(root, "readonly-finished")
    sweep(finished)
    before = chunk_files(finished)
    with Faults(finished, "readonly"):
        code, err = cli(["sweep", spec_file, "--out", finished, "--quiet"])
    problem = one_line_refusal(code, err, "Read-only file system", finished)
    cases.append({"case": "rerun in a read-only results folder", "problem": problem})
    if os.geteuid() != 0:  # root writes through chmod: the hook above stands in for it
        os.chmod(finished, 0o555)
        code, err = cli(["sweep", spec_file, "--out", finished, "--quiet"])
        os.chmod(finished, 0o755)
        problem = one_line_refusal(code, err, "Permission denied")
        cases.append({"case": "rerun in a chmod 0555 results folder", "problem": problem})
    problem = check_invariants(finished, before, reference)
    cases.append(
        {"case": "writable again", "problem": problem or finish_and_compare(finished, reference)}
    )
    return cases


def enospc_cases(root, spec_file, reference, writes: int, points: int = 3, seed=5) -> list[dict]:
    """A full disk at a random write of a sweep (each in a folder of its own), then space is
    back and the same sweep finishes."""
    cases = []
    for at in sorted(np.random.default_rng(seed).choice(np.arange(1, writes + 1), points, False)):
        folder = os.path.join(root, f"enospc-{at}")
        with Faults(folder, "enospc", int(at)):
            code, err = cli(["sweep", spec_file, "--out", folder, "--quiet", "--no-plot"])
        problem = one_line_refusal(code, err, "No space left on device", folder)
        problem = problem or finish_and_compare(folder, reference)
        cases.append(
            {"case": f"ENOSPC at write {at} of {writes}, then space back", "problem": problem}
        )
    return cases


def concurrent_cases(root, spec_file, reference) -> list[dict]:
    cases = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "zoprl.cli", "sweep", spec_file, "--quiet", "--no-plot"]
    held = os.path.join(root, "held")
    with lock_folder(held):
        child = subprocess.run([*command, "--out", held], capture_output=True, text=True, env=env)
    problem = one_line_refusal(child.returncode, child.stderr, f"zoprl process {os.getpid()}")
    cases.append({"case": "a second sweep while the first holds the folder", "problem": problem})
    both = os.path.join(root, "both")
    children = [
        subprocess.Popen(
            [*command, "--out", both],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outcomes = [(c.wait(), c.stderr.read()) for c in children]
    problems = [
        None if code == 0 else one_line_refusal(code, err, "is in use by zoprl process")
        for code, err in outcomes
    ]
    if not any(code == 0 for code, _ in outcomes):
        problems.append("neither sweep finished")
    elif not same_table(read_table(os.path.join(both, "results.parquet")), reference):
        problems.append("the table differs from the uninterrupted one")
    codes = [code for code, _ in outcomes]
    problem = "; ".join(p for p in problems if p) or None
    cases.append({"case": f"two sweeps started together (exits {codes})", "problem": problem})
    return cases


def run_all(root) -> dict:
    import yaml

    spec_file = os.path.join(root, "sweep.yaml")
    with open(spec_file, "w") as f:
        yaml.safe_dump(RAW, f)
    counting = Faults(os.path.join(root, "reference"), "count")
    with counting:
        reference = sweep(os.path.join(root, "reference")).table
    writes = Faults(os.path.join(root, "writes"), "enospc", at=-1)
    with writes:
        sweep(os.path.join(root, "writes"))
    cases = kill_cases(root, reference, counting.count)
    cases += sigkill_cases(root, reference, counting.count)
    cases += readonly_cases(root, spec_file, reference)
    cases += enospc_cases(root, spec_file, reference, writes.count)
    cases += concurrent_cases(root, spec_file, reference)
    return {"operations": counting.count, "writes": writes.count, "cases": cases}


if __name__ == "__main__":
    if sys.argv[1] == "--sigkill":
        with Faults(sys.argv[2], "sigkill", int(sys.argv[3])):
            sweep(sys.argv[2])
        sys.exit(0)
    print(json.dumps(run_all(sys.argv[1])))
