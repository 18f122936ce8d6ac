"""The sweep engine: tidy table contents, one compilation per cell, resume after a kill,
automatic batching, 1 vs 8 devices, and a results folder that belongs to another spec."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from sweep_testing import assert_tables_equal, tiny_raw

from zoprl.algorithms import make_chunked_run, make_run, zpg
from zoprl.experiment import SpecError, run_sweep, spec_from_dict
from zoprl.experiment.folder import FolderError
from zoprl.experiment.resources import ResourceError
from zoprl.oracles import make_oracle, oracle_params
from zoprl.storage import read_table, unwrap_counts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_chunked_run_draws_the_numbers_of_the_uncut_run(gridworld):
    env, env_params, policy = gridworld
    algo = zpg(env, policy, make_oracle("logistic", 5), num_pairs=4)
    hp, teacher, key = (
        algo.hparams(step_size=0.3, mu=1.0),
        oracle_params("noisy"),
        jax.random.key(3),
    )
    _, whole = jax.jit(make_run(algo, 6))(key, hp, env_params, teacher)
    chunked = make_chunked_run(algo, records_per_chunk=1, eval_every=2)
    carry, first = chunked.start(key, hp, env_params, teacher)
    advance = jax.jit(chunked.advance)
    records = [first]
    for _ in range(3):
        carry, metrics = advance(carry, hp, env_params, teacher)
        records.append({k: v[0] for k, v in metrics.items()})
    for name in ("value", "grad_norm_sq", "queries", "trajectories"):  # float32: rtol 1e-6
        np.testing.assert_allclose(
            np.asarray(whole[name])[::2], np.asarray([r[name] for r in records]), rtol=1e-6
        )
    assert int(carry.iteration) == 6


def test_the_tidy_table_holds_every_run_metric_and_count(tiny_sweep):
    spec, result, folder = tiny_sweep
    table = read_table(str(folder))
    assert_tables_equal(table, result.table)
    assert table.run_id.nunique() == 2 * 2 * 2  # slip x mu x seeds
    assert set(table.metric) == {
        "value",
        "value_gap",
        "grad_norm_sq",
        "value_difference_estimate",
        "gradient_norm",
        "clip_range",
        "value_ratio",
        "gap_closed",
    }
    for column in (
        "run_id",
        "cell",
        "algorithm",
        "environment",
        "oracle",
        "hp.step_size",
        "hp.mu",
        "env.slip",
        "oracle.beta",
        "static.num_pairs",
        "seed",
        "iteration",
        "trajectories",
        "queries",
        "metric",
        "value",
    ):
        assert column in table.columns, column
    value = table[table.metric == "value"]
    assert sorted(set(value.iteration)) == [0, 2, 4]
    last = value[value.iteration == 4]
    assert (last.queries == 4 * 4 * 3).all() and (last.trajectories == 4 * 2 * 4).all()
    # iteration 0 of every run is the uniform policy; slip 0 and 0.2 differ, mu does not matter
    first = value[value.iteration == 0]
    assert first.groupby("env.slip").value.nunique().tolist() == [1, 1]
    assert not (table.metric[table.iteration == 0] == "gradient_norm").any()  # no step yet
    assert np.isfinite(table.value).all()
    assert not [p for p in os.listdir(folder) if p.endswith(".tmp")]


def test_the_manifest_records_versions_device_spec_and_times(tiny_sweep):
    spec, result, folder = tiny_sweep
    with open(folder / "manifest.json") as f:
        manifest = json.load(f)
    for name in ("zoprl", "jax", "jaxlib", "flax", "optax", "gymnax"):
        assert manifest["versions"][name], name
    assert manifest["device"]["count"] == jax.device_count()
    assert manifest["spec"] == spec.to_dict()
    cell = manifest["cells"][0]
    assert cell["compilations"] == {"start": 1, "advance": 1}
    assert cell["chunks_computed"] == 3 and cell["compile_seconds"]["advance"] > 0


def test_a_16_by_16_sweep_compiles_once_per_cell(tmp_path):
    raw = tiny_raw(seeds=16, iterations=2, eval_every=2, chunk_size=2, grid={})
    raw["algorithms"][0]["grid"] = {"mu": [0.5, 1.0, 1.5, 2.0], "step_size": [0.1, 0.2, 0.3, 0.4]}
    result = run_sweep(spec_from_dict(raw), str(tmp_path), progress=False)
    cell = result.manifest["cells"][0]
    assert cell["runs"] == 256 and cell["batches"] == 1
    assert cell["compilations"] == {"start": 1, "advance": 1}
    assert result.table.run_id.nunique() == 256


KILL_AFTER_TWO_CHUNKS = textwrap.dedent("""
    import json, os, signal, sys
    from zoprl.experiment import engine, spec_from_dict
    commit, done = engine.CellRunner._commit, []
    def commit_then_die(self, folder, k, carry, metrics, seconds):
        commit(self, folder, k, carry, metrics, seconds)
        done.append(k)
        if len(done) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    engine.CellRunner._commit = commit_then_die
    engine.run_sweep(spec_from_dict(json.loads(sys.argv[1])), sys.argv[2], progress=False)
""")


def test_a_killed_sweep_resumes_without_recomputing_and_ends_with_the_same_table(
    tmp_path, tiny_sweep
):
    spec, uninterrupted, _ = tiny_sweep
    folder = tmp_path / "killed"
    child = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_TWO_CHUNKS, json.dumps(spec.to_dict()), str(folder)],
        cwd=ROOT,
    )
    assert child.returncode == -9  # SIGKILL after chunks 0 and 1
    batch = folder / "chunks" / "cell-000" / "batch-0000"
    finished = {p: os.stat(batch / p).st_mtime_ns for p in ("chunk-0000.npz", "chunk-0001.npz")}
    assert not (batch / "chunk-0002.npz").exists() and not (folder / "results.parquet").exists()
    result = run_sweep(spec, str(folder), progress=False)
    assert {p: os.stat(batch / p).st_mtime_ns for p in finished} == finished
    cell = result.manifest["cells"][0]
    assert cell["chunks_resumed"] == 2 and cell["chunks_computed"] == 1
    assert_tables_equal(result.table, uninterrupted.table)
    again = run_sweep(spec, str(folder), progress=False)  # everything finished: no work
    assert again.manifest["cells"][0]["chunks_computed"] == 0
    assert again.manifest["cells"][0]["compilations"] == {"start": 0, "advance": 0}
    assert_tables_equal(again.table, uninterrupted.table)


def test_runs_too_many_for_memory_are_split_into_batches(tmp_path, tiny_sweep):
    spec, uninterrupted, _ = tiny_sweep
    one_run = _bytes_of_one_run(spec)  # per device, for a batch of one run per device
    result = run_sweep(spec, str(tmp_path), progress=False, memory_budget_bytes=1.01 * one_run)
    cell = result.manifest["cells"][0]
    assert cell["batch_size"] < 8 and cell["batches"] == -(-8 // cell["batch_size"])
    assert_tables_equal(result.table, uninterrupted.table, atol=1e-5)
    one_batch = dataclasses.replace(spec, max_runs_per_batch=1)  # compiled once, at one run
    with pytest.raises(ResourceError, match="one run per device needs .* more than the budget"):
        run_sweep(
            one_batch, str(tmp_path / "refused"), progress=False, memory_budget_bytes=one_run / 2
        )
    assert not (tmp_path / "refused" / "chunks" / "cell-000" / "layout.json").exists()


def _bytes_of_one_run(spec) -> float:
    from zoprl.experiment import build_cells, runs_mesh, seed_keys
    from zoprl.experiment.engine import Budgets, CellRunner

    cell = build_cells(spec)[0]
    runner = CellRunner(spec, cell, "unused", runs_mesh(), Budgets(1e12, 1e12), seed_keys(spec))
    return runner.compile(jax.device_count())


def test_a_folder_of_another_spec_is_refused_unless_fresh(tmp_path, tiny_sweep):
    spec, _, _ = tiny_sweep
    other = spec_from_dict(tiny_raw(seed=1))
    run_sweep(spec, str(tmp_path), progress=False, memory_budget_bytes=1e12)
    with pytest.raises(FolderError, match="holds the results of a different spec"):
        run_sweep(other, str(tmp_path), progress=False)
    result = run_sweep(other, str(tmp_path), progress=False, fresh=True)
    assert result.manifest["spec"]["seed"] == 1


EIGHT_DEVICES = textwrap.dedent("""
    import json, sys
    import jax
    from zoprl.experiment import run_sweep, spec_from_dict
    assert jax.device_count() == 8, jax.devices()
    run_sweep(spec_from_dict(json.loads(sys.argv[1])), sys.argv[2], progress=False)
""")


def test_eight_simulated_devices_give_the_table_of_one(tmp_path, tiny_sweep):
    spec, one_device, _ = tiny_sweep
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",
    }
    subprocess.run(
        [sys.executable, "-c", EIGHT_DEVICES, json.dumps(spec.to_dict()), str(tmp_path)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    with open(tmp_path / "manifest.json") as f:
        assert json.load(f)["device"]["count"] == 8
    assert_tables_equal(read_table(str(tmp_path)), one_device.table, atol=1e-5)


def test_counts_that_wrapped_past_int32_are_restored():
    true = np.array([[0, 2**31 - 10, 2**31 + 5, 2**32 + 7]], np.int64)
    wrapped = true.astype(np.uint32).astype(np.int32)  # what int32 counters hold
    assert (unwrap_counts(wrapped) == true).all()


def test_a_non_finite_environment_records_monte_carlo_values(tmp_path):
    raw = tiny_raw(
        environment={"name": "CartPole-v1", "horizon": 8},
        grid={},
        evaluation={"eval_episodes": 4},
        iterations=2,
        eval_every=1,
        chunk_size=1,
    )
    raw["algorithms"][0]["hparams"] = {"step_size": 0.1}
    raw["algorithms"][0]["grid"] = {}
    table = run_sweep(spec_from_dict(raw), str(tmp_path), progress=False).table
    assert {"value", "value_stderr"} <= set(table.metric) and "value_gap" not in set(table.metric)
    assert np.isfinite(table.value).all()


def test_a_spec_built_in_python_is_validated_before_compiling(tmp_path, tiny_sweep):
    import dataclasses

    spec, _, _ = tiny_sweep
    bad = dataclasses.replace(spec, iterations=6, eval_every=4)
    with pytest.raises(SpecError, match="eval_every \\(4\\) must divide iterations \\(6\\)"):
        run_sweep(bad, str(tmp_path), progress=False)
    assert not os.path.exists(tmp_path / "spec.json")


def test_counts_are_exact_when_a_record_adds_more_than_2_to_the_32(tmp_path):
    """N M eval_every = 64 x 10^6 x 100 = 6.4e9 queries between records (issue 17, item 2)."""
    raw = tiny_raw(seeds=1, iterations=100, eval_every=100, chunk_size=100, grid={})
    raw["oracle"]["num_queries"] = 1_000_000
    raw["algorithms"][0]["static"] = {"num_pairs": 64}
    raw["algorithms"][0]["grid"] = {}
    table = run_sweep(spec_from_dict(raw), str(tmp_path), progress=False).table
    last = table[table.iteration == 100]
    assert (last.queries == 64 * 1_000_000 * 100).all() and last.queries.dtype == np.int64
    assert (last.trajectories == 2 * 64 * 100).all()


def test_mixed_algorithm_tables_keep_integer_settings_integer(tmp_path):
    """A column that one cell lacks stays Int64 with missing values (issue 17, item 16)."""
    import pandas as pd

    from zoprl.storage import consistent_columns, order_columns, sort_rows, tidy_frame, write_table

    def frame(run, params):
        metrics = {
            "value": np.array([[1.0, 2.0]]),
            "queries": np.array([[0, 2**40]], np.int64),
            "trajectories": np.array([[0, 4]], np.int32),
        }
        ids = {"cell": f"c{run}", "label": "x", "algorithm": "a", "environment": "e"}
        ids.update(oracle="o", reads_latent_reward=False)
        return tidy_frame(
            ids=ids, params=params, run_ids=[run], seeds=[0], iterations=[0, 1], metrics=metrics
        )

    both = pd.concat(
        [
            frame(0, {"static.num_pairs": np.array([64]), "static.two_sided": np.array([True])}),
            frame(1, {"static.num_envs": np.array([128])}),
        ],
        ignore_index=True,
    )
    table = sort_rows(order_columns(consistent_columns(both)))
    write_table(table, str(tmp_path / "t.parquet"))
    back = read_table(str(tmp_path / "t.parquet"))
    for column in ("static.num_pairs", "static.num_envs"):
        assert str(back[column].dtype) == "Int64", column
    assert (
        back["static.num_pairs"].tolist()[:2] == [64, 64]
        and back["static.num_pairs"].isna()[2:].all()
    )
    assert str(back["static.two_sided"].dtype) == "boolean"
    assert back["queries"].max() == 2**40  # int64 counts pass through exactly
