"""The zoprl command: a tiny demo writes its table; bad arguments exit with code 2."""

import csv
import os
import subprocess
import sys

import pytest

from zoprl.cli import main


def test_demo_writes_a_tidy_table(tmp_path, capsys):
    assert main(["demo", "--seeds", "2", "--iterations", "3", "--pairs", "4",
                 "--out", str(tmp_path)]) == 0
    with open(tmp_path / "demo.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["algorithm"] for r in rows} == {"zpg", "zbcpg", "zspo"}
    assert {r["metric"] for r in rows} == {"value", "value_gap", "grad_norm_sq"}
    first = next(r for r in rows if r["iteration"] == "0" and r["metric"] == "value")
    assert abs(float(first["value"]) - 2.1446) < 1e-3
    last = [r for r in rows if r["algorithm"] == "zpg" and r["iteration"] == "3"]
    assert int(last[0]["queries"]) == 3 * 4 * 10
    assert "zpg" in capsys.readouterr().out
    assert os.stat(tmp_path / "demo.csv").st_mode & 0o044      # readable by group and others
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.parametrize("args", [["demo", "--seeds", "0"], ["demo", "--pairs", "x"], ["fly"]])
def test_bad_arguments_exit_with_code_2_without_traceback(args):
    result = subprocess.run([sys.executable, "-m", "zoprl.cli", *args], capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "error" in result.stderr
