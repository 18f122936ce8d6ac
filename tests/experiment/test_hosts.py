"""Beyond one process (issue 16): a sweep on 2 local processes of 2 CPU devices each through
jax.distributed, killed mid-sweep and restarted, against the 1-process table; shards and
``zoprl merge`` against the unsharded sweep; the single-process face of ``zoprl.hosts``."""

import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import yaml
from cli_testing import ROOT, assert_refused, cli_env, zoprl_batch
from sweep_testing import assert_tables_equal

from zoprl import hosts
from zoprl.experiment import run_sweep
from zoprl.experiment.folder import FolderError
from zoprl.experiment.merge import merge_shards
from zoprl.experiment.shards import Shard, parse_shard, shard_runs
from zoprl.storage import read_table

# process I of ``zoprl sweep ... --coordinator localhost:PORT --num-processes 2 --process-id I``;
# with a kill count, process 0 SIGKILLs itself after writing that many chunks (the chunk and its
# carry on disk, the next not begun). jax.distributed starts before zoprl.experiment is imported
# (importing the environments starts JAX's backends); main() then finds it started.
PROCESS = """
import os, signal, sys
from zoprl import hosts
kill_after, port, index = (int(a) for a in sys.argv[1:4])
hosts.initialize(f"localhost:{port}", 2, index)
from zoprl.cli import main
from zoprl.experiment.runner import CellRunner
if kill_after:
    write, written = CellRunner._write_chunk, []
    def write_then_die(self, *args):
        write(self, *args)
        written.append(args[1])
        if len(written) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    CellRunner._write_chunk = write_then_die
argv = [*sys.argv[4:], "--coordinator", f"localhost:{port}", "--num-processes", "2"]
sys.exit(main([*argv, "--process-id", str(index)]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _launch(spec_file, folder, env, kill_after=0) -> list[subprocess.Popen]:
    """``zoprl sweep`` as processes 0 and 1 of a 2-process run (2 CPU devices each)."""
    port = _free_port()
    argv = ["sweep", spec_file, "--out", folder, "--quiet", "--no-plot"]
    return [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS, str(kill_after), str(port), i, *map(str, argv)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in ("0", "1")
    ]


def _finish(processes, timeout=240) -> list[tuple[int, str, str]]:
    out = []
    for p in processes:
        try:
            stdout, stderr = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            stdout, stderr = p.communicate()
        out.append((p.returncode, stdout, stderr))
    return out


# about 20 s on an idle 2-core machine (4 interpreters, 2 launches); in the default run because
# the scale-out issue requires CI to pass it
def test_two_processes_killed_and_restarted_give_the_table_of_one(tmp_path, tiny_sweep, cli_cache):
    spec, one_process, _ = tiny_sweep
    spec_file, folder = tmp_path / "tiny.yaml", tmp_path / "out"
    spec_file.write_text(yaml.safe_dump(spec.to_dict()))
    env = cli_env(cli_cache, XLA_FLAGS="--xla_force_host_platform_device_count=2")

    killed = _finish(_launch(spec_file, folder, env, kill_after=2))
    assert killed[0][0] == -signal.SIGKILL, killed[0][2][-2000:]
    assert killed[1][0] != 0  # process 1 stops by itself once process 0 is gone
    batch = folder / "chunks" / "cell-000" / "batch-0000"
    finished = {p: os.stat(batch / p).st_mtime_ns for p in ("chunk-0000.npz", "chunk-0001.npz")}
    assert not (batch / "chunk-0002.npz").exists() and not (folder / "results.parquet").exists()

    restarted = _finish(_launch(spec_file, folder, env))
    assert [code for code, _, _ in restarted] == [0, 0], restarted[0][2][-3000:]
    assert "wrote" in restarted[0][1] and restarted[1][1] == ""  # process 0 alone prints
    assert {p: os.stat(batch / p).st_mtime_ns for p in finished} == finished
    assert_tables_equal(read_table(str(folder)), one_process.table, atol=1e-5)
    with open(folder / "manifest.json") as f:
        manifest = json.load(f)
    assert manifest["device"]["count"] == 4
    processes = manifest["device"]["processes"]
    assert [p["process"] for p in processes] == [0, 1]
    assert all(len(p["devices"]) == 2 and p["host"] == socket.gethostname() for p in processes)
    cell = manifest["cells"][0]
    assert cell["chunks_resumed"] == 2 and cell["chunks_computed"] == 1
    assert cell["batch_size"] == 8 and len(manifest["invocations"]) == 1  # the one that finished


def test_shards_merge_into_the_table_and_manifest_of_the_unsharded_sweep(tmp_path, tiny_sweep):
    spec, whole, _ = tiny_sweep
    folders = [str(tmp_path / f"shard-{i}") for i in range(2)]
    for i, folder in enumerate(folders):
        part = run_sweep(spec, folder, progress=False, shard=Shard(i, 2))
        assert part.table.run_id.nunique() == 4 and part.manifest["shard"] == {
            "index": i,
            "count": 2,
        }
    merged = merge_shards(folders[::-1], str(tmp_path / "merged"))
    assert_tables_equal(merged.table, whole.table, atol=1e-5)
    assert_tables_equal(read_table(str(tmp_path / "merged")), merged.table)
    manifest, reference = merged.manifest, whole.manifest
    assert set(reference) <= set(manifest) and manifest["spec"] == reference["spec"]
    assert manifest["diverged"] == reference["diverged"]
    keep = ("cell", "label", "algorithm", "grid_points", "runs", "chunks_per_batch")
    assert [{k: c[k] for k in keep} for c in manifest["cells"]] == [
        {k: c[k] for k in keep} for c in reference["cells"]
    ]
    assert manifest["cells"][0]["chunks_computed"] == 6 and len(manifest["shards"]) == 2
    with open(tmp_path / "merged" / "spec.json") as f:
        assert json.load(f)["fingerprint"] == spec.fingerprint()

    with pytest.raises(FolderError, match="shards 1/2 are missing"):
        merge_shards(folders[:1], str(tmp_path / "m1"))
    with pytest.raises(FolderError, match="shard 0/2 is given twice"):
        merge_shards([folders[0], folders[0], folders[1]], str(tmp_path / "m2"))
    with pytest.raises(FolderError, match="is one of the shards"):
        merge_shards(folders, folders[0])
    with pytest.raises(FolderError, match="holds the results of a different shard"):
        run_sweep(spec, folders[0], progress=False, shard=Shard(1, 2))


def test_merge_refusals_on_the_command_line(tmp_path, tiny_sweep, cli_cache):
    _, _, whole = tiny_sweep
    results = zoprl_batch(
        [
            ["merge", whole, "--out", tmp_path / "a"],
            ["merge", tmp_path / "none", "--out", tmp_path / "b"],
            ["sweep", "x.yaml", "--shard", "2/2"],
        ],
        env=cli_env(cli_cache),
    )
    assert_refused(results[0], "is not the folder of a sweep run with --shard I/N")
    assert_refused(results[1], "is not the folder of a sweep run with --shard I/N")
    assert results[2].returncode == 2 and "--shard I/N needs 0 <= I < N" in results[2].stderr


def test_shards_split_every_cell_run_once_for_any_count():
    sizes = [8, 3, 5]
    for n in range(1, sum(sizes) + 1):
        parts = [shard_runs(sizes, Shard(i, n)) for i in range(n)]
        for c, size in enumerate(sizes):
            runs = np.concatenate([p[c] for p in parts])
            assert (runs == np.arange(size)).all(), (n, c)  # disjoint, ordered, complete
        assert all(sum(len(r) for r in p) >= sum(sizes) // n for p in parts)
    with pytest.raises(ValueError, match="fewer than 17 shards"):
        shard_runs(sizes, Shard(0, 17))
    assert parse_shard(" 3/4 ") == Shard(3, 4) and str(Shard(3, 4)) == "3/4"
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(bad)


def test_on_one_process_hosts_are_the_plain_operations():
    import jax

    assert hosts.process_count() == 1 and hosts.is_writer()
    assert hosts.share(lambda: {"a": 1}) == {"a": 1}
    with pytest.raises(FolderError, match="refused"):
        hosts.share(lambda: (_ for _ in ()).throw(FolderError("refused")))
    mesh = jax.make_mesh((1,), ("runs",), axis_types=(jax.sharding.AxisType.Auto,))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("runs"))
    keys = jax.random.split(jax.random.key(0), 3)
    placed = hosts.global_array(keys, sharding)
    assert (jax.random.key_data(placed) == jax.random.key_data(keys)).all()
    values = hosts.fetch({"x": hosts.global_array(np.arange(3.0), sharding)})
    assert isinstance(values["x"], np.ndarray) and values["x"].tolist() == [0.0, 1.0, 2.0]
    assert hosts.host_names() == [socket.gethostname()]
    assert hosts.initialize() is False  # no flags, no cluster: one process


def test_a_cluster_launch_is_detected_from_its_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("SLURM_", "OMPI_")):
            monkeypatch.delenv(name)
    assert hosts.cluster_processes() == 1
    slurm = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_PROCID": "0"}
    for name, value in {**slurm, "SLURM_NTASKS": "4"}.items():
        monkeypatch.setenv(name, value)
    assert hosts.cluster_processes() == 4
    for name in (*slurm, "SLURM_NTASKS"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("OMPI_MCA_orte_hnp_uri", "1.2.3.4")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "3")
    assert hosts.cluster_processes() == 3


EVERY_CORE = """
import argparse, json, os
from zoprl import hosts
from zoprl.cli import _start
_start(argparse.Namespace(no_compile_cache=True))  # what every computing command does first
import jax
print(json.dumps([jax.local_device_count(), hosts.usable_cores(), len(os.sched_getaffinity(0))]))
"""


def test_the_command_line_gives_a_cpu_one_device_per_core(monkeypatch):
    env = cli_env()
    for name in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", EVERY_CORE], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    devices, cores, affinity = json.loads(done.stdout.strip().splitlines()[-1])
    assert devices == cores == affinity
    import jax

    jax.devices()  # this process's backends are started: too late to change the count
    for name in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    assert hosts.use_every_core(jax.local_device_count() + 1) is None
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=3")
    assert hosts.use_every_core() is None  # the user's flags decide
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.setenv("JAX_NUM_CPU_DEVICES", "3")
    assert hosts.use_every_core() is None


def test_no_compile_cache_is_kept_by_the_reproductions(monkeypatch, tmp_path):
    import jax

    from zoprl.experiment import compile_cache

    monkeypatch.setattr(compile_cache, "_DECISION", {})
    before = jax.config.jax_compilation_cache_dir
    compile_cache.disable_compile_cache()  # what --no-compile-cache does
    assert compile_cache.enable_unless_decided() is None  # zoprl.reproduce leaves it off
    assert jax.config.jax_compilation_cache_dir == before
    monkeypatch.setattr(compile_cache, "_DECISION", {"folder": str(tmp_path)})
    assert compile_cache.enable_unless_decided() == str(tmp_path)
