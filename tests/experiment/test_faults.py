"""Fault injection (issue 17): kills at random points, a read-only folder, a full disk and
concurrent sweeps; every case ends in the uninterrupted table or in a one-line refusal."""

import json
import os
import subprocess
import sys

from cli_testing import cli_env

HERE = os.path.dirname(os.path.abspath(__file__))


def test_every_fault_ends_in_the_uninterrupted_table_or_a_one_line_refusal(tmp_path, cli_cache):
    worker = subprocess.run(
        [sys.executable, os.path.join(HERE, "faults_worker.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=cli_env(cli_cache),
        timeout=900,
    )
    assert worker.returncode == 0, worker.stderr[-3000:]
    report = json.loads(worker.stdout.strip().splitlines()[-1])
    cases = report["cases"]
    failed = [c for c in cases if c["problem"]]
    assert failed == [], failed
    names = [c["case"] for c in cases]
    assert sum(n.startswith("kill at operation") for n in names) >= 20
    assert sum(n.startswith("SIGKILL at operation") for n in names) == 2
    assert any("read-only" in n for n in names) and any("ENOSPC" in n for n in names)
    assert any("holds the folder" in n for n in names)
    assert any("started together" in n for n in names)
