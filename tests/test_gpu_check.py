"""benchmarks/gpu_check.sh in its --dry-run mode (issue 16): the GPU check's commands at tiny
sizes on the CPU, so that the script cannot rot while no GPU is lent."""

import json
import os
import subprocess
import sys
import tarfile

from cli_testing import ROOT, cli_env

SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.sh")


def test_the_gpu_check_runs_in_dry_run_mode(tmp_path, cli_cache):
    out = tmp_path / "check"
    env = cli_env(cli_cache, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    done = subprocess.run(
        ["bash", SCRIPT, "--dry-run", str(out)],
        capture_output=True,
        text=True,
        env={**env, "PYTHON": sys.executable},
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (out / "gpu_check.log").read_text()
    for stage in ("bench", "scaling", "reproduce"):
        assert f"gpu_check: stage {stage}: exit 0" in log, log[-3000:]
    assert "zoprl reproduce stochasticity --full would run" in log
    with open(out / "bench" / "bench.json") as f:
        bench = json.load(f)
    assert bench["cases"] == ["gridworld_zpg", "gridworld_zpg_cores"] and bench["complete"]
    cores = [r for r in bench["rows"] if r["case"] == "gridworld_zpg_cores"]
    assert {r["impl"] for r in cores} == {"zoprl", "numpy"}
    zoprl = next(r for r in cores if r["impl"] == "zoprl")
    assert zoprl["devices"] == 2 and zoprl["env_steps"] == 2 * (2 * 8 * 10)  # 2 runs of N = 8
    with open(out / "scaling" / "scaling-cpu.json") as f:
        scaling = json.load(f)
    assert scaling["complete"] and set(scaling["plans"]) == {"gridworld_zpg"}
    assert scaling["plans"]["gridworld_zpg"]["largest_fitting"] == 32  # --tiny plans no further
    (row,) = scaling["rows"]
    assert row["case"] == "gridworld_zpg" and row["batch"] == 8 and row["env_steps_per_s"] > 0
    assert (out / "scaling" / "scaling.png").stat().st_size > 0
    with tarfile.open(out / "gpu_check.tar.gz") as tar:
        names = tar.getnames()
    assert "./bench/bench.json" in names and "./scaling/scaling-cpu.json" in names
    assert not any(n.startswith("./jax-cache") for n in names)


def test_the_gpu_check_refuses_a_missing_folder_and_unknown_options():
    for argv in ([], ["--frobnicate", "x"]):
        done = subprocess.run(["bash", SCRIPT, *argv], capture_output=True, text=True)
        assert done.returncode == 2 and "gpu_check" in done.stderr
