"""ZPG, ZSPO, online DPO and online RLHF-PPO against the trajectory-outcome teacher through the
spec of the nash-gridworld reproduction and the sweep engine, scored by the "nash_mdp"
evaluator (tiny sizes: the spec's world with H = 3, a few iterations)."""

import os

import numpy as np
import pytest

from zoprl.experiment import run_sweep, spec_from_dict
from zoprl.experiment.spec_files import read_spec_file
from zoprl.reproduce import SPECS

OUTCOMES = ["outcome_goal_0", "outcome_goal_1", "outcome_goal_2", "outcome_no_goal"]
TINY_STATIC = {
    "ZPG": {"num_pairs": 4},
    "ZSPO": {"num_pairs": 4},
    "online DPO": {"num_pairs": 4},
    "online RLHF-PPO": {"num_pairs": 8, "num_envs": 4, "refit_every": 2, "buffer_capacity": 16},
}


def _tiny_spec(labels):
    raw = dict(read_spec_file(os.path.join(SPECS, "nash-gridworld.toml")))
    for key in ("profiles", "tuning"):
        raw.pop(key, None)
    raw.update(seeds=2, iterations=4, eval_every=2, chunk_size=4)
    raw["environment"] = {**raw["environment"], "horizon": 3}
    raw["algorithms"] = [
        {**a, "static": {**a.get("static", {}), **TINY_STATIC[a["label"]]}}
        for a in raw["algorithms"]
        if a["label"] in labels
    ]
    return spec_from_dict(raw)


@pytest.mark.parametrize(
    "labels",
    [["ZSPO"], pytest.param(list(TINY_STATIC), marks=pytest.mark.slow)],
    ids=["zspo", "side_by_side"],
)
def test_learners_run_against_the_outcome_teacher_scored_by_the_exact_gap(tmp_path, labels):
    spec = _tiny_spec(labels)
    assert spec.oracle.kind == "outcome" and spec.evaluation.name == "nash_mdp"
    result = run_sweep(spec, str(tmp_path), progress=False)
    wide = result.table.pivot_table(
        index=["algorithm", "seed", "iteration"], columns="metric", values="value"
    ).reset_index()
    assert len(wide) == len(labels) * 2 * 3  # seeds x recorded iterations (0, 2, 4)
    for column in ("gap", "kl_to_reference", "win_rate_vs_reference", *OUTCOMES):
        assert np.all(np.isfinite(wide[column])), column
    assert np.all(wide.gap >= -1e-6) and np.all(wide.kl_to_reference >= -1e-6)
    np.testing.assert_allclose(wide[OUTCOMES].sum(axis=1), 1.0, atol=1e-5)
    start = wide[wide.iteration == 0]
    # every learner starts at pi0 (uniform): KL 0, win rate 1/2 against pi0, one start gap
    np.testing.assert_allclose(start.kl_to_reference, 0.0, atol=1e-6)
    np.testing.assert_allclose(start.win_rate_vs_reference, 0.5, atol=1e-6)
    np.testing.assert_allclose(start.gap, start.gap.iloc[0], rtol=1e-5)
    assert float(start.gap.iloc[0]) > 0.01
    moved = wide[wide.iteration == 4]
    assert np.all(moved.kl_to_reference > 0), moved  # every learner has left pi0
