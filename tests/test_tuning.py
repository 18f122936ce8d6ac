"""The tuning protocol and the sample-complexity tables: designs, scores, the choice, and
`zoprl tune` then `zoprl compare` end to end on the demo spec at tiny sizes, with evaluation
seeds disjoint from the tuning seeds."""

import os
from dataclasses import replace

import jax
import numpy as np
import pandas as pd
import pytest

from zoprl.cli import DEMO_SPEC, main
from zoprl.compare import Threshold, bootstrap_interval, reach_budgets, sample_complexity
from zoprl.experiment import load_spec, seed_keys
from zoprl.tuning import choose, design_points, on_edge, position, run_scores

SPACE = {
    "step_size": {"low": 0.01, "high": 1.0, "log": True},
    "mu": {"low": 0.5, "high": 4.0, "log": False},
    "clip_range": {"values": [1.0, 3.0]},
}


def test_quasi_random_designs_fill_the_box_with_exactly_n_points():
    points = design_points(SPACE, 16)
    assert len(points) == 16 and len({tuple(p.values()) for p in points}) == 16
    steps = np.array([p["step_size"] for p in points])
    assert steps.min() >= 0.01 and steps.max() <= 1.0
    # log axis: about half the points below the geometric midpoint 0.1
    assert 5 <= (steps < 0.1).sum() <= 11
    assert {p["clip_range"] for p in points} == {1.0, 3.0}
    assert len(design_points(SPACE, 8, "grid")) == 2**3
    assert design_points({}, 5) == [{}]


def test_positions_and_edges():
    assert position(0.1, SPACE["step_size"]) == pytest.approx(0.5)
    assert on_edge(0.011, SPACE["step_size"]) and not on_edge(0.1, SPACE["step_size"])
    assert on_edge(3.0, SPACE["clip_range"])


def _table(values, queries, run_ids, cell="A"):
    rows = []
    for run_id, series in zip(run_ids, values):
        for i, (v, q) in enumerate(zip(series, queries)):
            rows.append(
                dict(
                    run_id=run_id,
                    cell=cell,
                    label=cell,
                    seed=run_id,
                    iteration=i,
                    queries=q,
                    trajectories=q,
                    metric="value_gap",
                    value=v,
                )
            )
    return pd.DataFrame(rows)


def test_scores_at_the_budget_and_by_area():
    table = _table([[3.0, 2.0, 1.0]], [0, 10, 20], [0])
    assert run_scores(table, "value_gap", "final", {}).loc[0] == 1.0
    assert run_scores(table, "value_gap", "final", {"queries": 15}).loc[0] == 2.0
    assert run_scores(table, "value_gap", "auc", {}).loc[0] == pytest.approx(2.0)
    assert run_scores(table, "value_gap", "auc", {"queries": 10}).loc[0] == pytest.approx(2.5)


def test_the_choice_is_the_best_mean_over_seeds_per_context():
    # 2 contexts x 3 designs x 2 seeds; run r = (c * 3 + d) * 2 + s; design 1 best in context 0,
    # design 2 in context 1
    finals = {(0, 0): 5, (0, 1): 1, (0, 2): 3, (1, 0): 4, (1, 1): 4, (1, 2): 2}
    values, ids = [], []
    for (c, d), v in finals.items():
        for s in range(2):
            ids.append((c * 3 + d) * 2 + s)
            values.append([9.0, v + 0.1 * s])
    table = _table(values, [0, 1], ids)
    scores = run_scores(table, "value_gap", "final", {})
    chosen = choose(table, scores, {"A": (2, 3)}, seeds=2, goal="min")
    assert chosen.design.tolist() == [1, 2]
    assert chosen.score.tolist() == pytest.approx([1.05, 2.05])


def test_censored_runs_are_kept_and_medians_say_more_than_the_budget():
    table = _table([[3, 2, 1], [3, 3, 3], [3, 1, 1]], [0, 10, 20], [0, 1, 2])
    threshold = Threshold("value_gap", "<=", 1.5)
    reach = reach_budgets(table, threshold, "queries")
    assert reach.reached_at.tolist() == [20.0, np.inf, 10.0] and reach.censored.sum() == 1
    row = sample_complexity(reach, threshold, "queries").iloc[0]
    assert row["median"] == 20.0 and row.censored == 1 and row.mean_is_lower_bound
    assert row["mean"] == pytest.approx(50.0 / 3)
    low, high = bootstrap_interval(np.array([1.0, np.inf, np.inf]), np.median)
    assert np.isinf(high) and low >= 1.0


TINY = [
    "environment.size=3",
    "environment.horizon=4",
    "iterations=4",
    "eval_every=2",
    "chunk_size=4",
    "seeds=2",
    "tuning.points=2",
    "tuning.seeds=2",
    "algorithms.ZPG.static.num_pairs=4",
    "algorithms.ZBCPG.static.num_pairs=4",
    "algorithms.ZBCPG.static.block_size=4",
    "algorithms.online DPO.static.num_pairs=4",
    "algorithms.online RLHF-PPO.static.num_pairs=4",
    "algorithms.online RLHF-PPO.static.num_envs=4",
    "algorithms.online RLHF-PPO.static.buffer_capacity=8",
    "algorithms.online RLHF-PPO.static.fit_steps=2",
    "algorithms.PPO.static.num_envs=4",
]


def test_tune_then_compare_the_demo_spec_end_to_end(tmp_path, capsys):
    out = str(tmp_path / "demo")
    args = ["tune", DEMO_SPEC, "--out", out, "--quiet", *sum((["--set", s] for s in TINY), [])]
    assert main(args) == 0
    for name in (
        "tuned.yaml",
        "chosen.csv",
        "chosen.md",
        "sensitivity.png",
        "tuning/results.parquet",
        "evaluation/results.parquet",
    ):
        assert os.path.exists(os.path.join(out, name)), name
    chosen = pd.read_csv(os.path.join(out, "chosen.csv"))
    assert set(chosen.cell) == {"ZPG", "ZBCPG", "online DPO", "online RLHF-PPO", "PPO"}
    tuning = pd.read_parquet(os.path.join(out, "tuning", "results.parquet"))
    evaluation = pd.read_parquet(os.path.join(out, "evaluation", "results.parquet"))
    assert set(tuning.seed) == {0, 1} and set(evaluation.seed) == {2, 3}
    # the tuned spec is a spec `zoprl sweep` runs: its keys are fresh, disjoint from tuning's
    tuned = load_spec(os.path.join(out, "tuned.yaml"))
    tuning_keys = jax.random.key_data(seed_keys(replace(load_spec(DEMO_SPEC), seeds=2)))
    evaluation_keys = jax.random.key_data(seed_keys(tuned))
    assert not {tuple(k) for k in np.asarray(tuning_keys)} & {
        tuple(k) for k in np.asarray(evaluation_keys)
    }
    # each method's evaluation runs use its chosen values
    zpg = evaluation[(evaluation.label == "ZPG")]
    chosen_step = chosen.loc[chosen.cell == "ZPG", "hp.step_size"].iloc[0]
    np.testing.assert_allclose(zpg["hp.step_size"].unique(), [chosen_step], rtol=1e-6)
    capsys.readouterr()
    assert main(["compare", out, "--reach", "gap_closed>=0.05", "--x", "trajectories"]) == 0
    printed = capsys.readouterr().out
    assert "gap_closed>=0.05" in printed and os.path.exists(os.path.join(out, "compare.md"))
    table = pd.read_csv(os.path.join(out, "compare.csv"))
    assert set(table.label) == set(chosen.cell) and (table.seeds == 2).all()
