"""Running the zoprl command in a subprocess, cheaply.

``zoprl(*args, env=...)`` runs ``python -m zoprl.cli`` once. ``zoprl_batch(argvs, env=...)``
runs several command lines in one subprocess, each through ``zoprl.cli.main`` with its own
stdout and stderr, exactly as ``python -m zoprl.cli`` would (``sys.exit(main())``: argparse's
SystemExit, and any exception that escaped, printed as the interpreter would print it), so that
a dozen refusals cost one interpreter start. ``cli_env(cache)`` points every subprocess at this
checkout and at a persistent compilation cache shared by the session, so that a program compiled
by one subprocess is loaded, not compiled, by the next.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BATCH = r"""
import contextlib, io, json, sys, traceback
from zoprl.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def cli_env(cache_dir=None, **extra) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    env["JAX_PLATFORMS"] = "cpu"
    if cache_dir is not None:
        env["ZOPRL_COMPILE_CACHE"] = str(cache_dir)  # the command line's cache (zoprl.cli)
        env["JAX_COMPILATION_CACHE_DIR"] = str(cache_dir)
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    env.update(extra)
    return env


def zoprl(*args, env=None, cwd=None, timeout=600) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "zoprl.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env or cli_env(),
        cwd=cwd or ROOT,
        timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def zoprl_batch(argvs, env=None, cwd=None, timeout=600) -> list[Result]:
    done = subprocess.run(
        [sys.executable, "-c", BATCH, json.dumps([[str(a) for a in argv] for argv in argvs])],
        capture_output=True,
        text=True,
        env=env or cli_env(),
        cwd=cwd or ROOT,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return [Result(*r) for r in json.loads(done.stdout.strip().splitlines()[-1])]


def assert_refused(result: Result, *texts: str) -> None:
    """Exit code 2 and one line ``zoprl: error: ...`` holding every text; no traceback."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zoprl: error: "), result.stderr
    for text in texts:
        assert text in lines[0], (text, lines[0])
