"""A Nash learner and ZPG side by side through a spec and the sweep engine, scored by the "nash"
evaluator: the exact gap lands in the results table."""

import numpy as np
import pytest

from zoprl.experiment import run_sweep, spec_from_dict

SPEC = {
    "name": "nash-tiny",
    "seeds": 1,
    "iterations": 4,
    "eval_every": 2,
    "environment": {"name": "ContextualBandit", "num_contexts": 2, "num_actions": 3},
    "oracle": {"kind": "tensor", "generator": "intransitive", "kappa": 2.0, "num_queries": 3},
    "evaluation": {"name": "nash", "eta": 2.0},
    "grid": {"oracle.seed": [0, 1]},
}
NASH_ONLINE = {"name": "nash_online", "static": {"num_pairs": 8}, "hparams": {"eta": 2.0}}
OTHERS = [
    {"name": "dpo_online", "static": {"num_pairs": 8}, "hparams": {"beta": 0.5}},
    {"name": "zpg", "static": {"num_pairs": 8, "shared_start": True}},
]


@pytest.mark.parametrize(
    "algorithms",
    [[NASH_ONLINE], pytest.param([NASH_ONLINE, *OTHERS], marks=pytest.mark.slow)],
    ids=["nash_online", "side_by_side"],
)
def test_nash_learners_run_through_the_engine_with_the_nash_evaluator(tmp_path, algorithms):
    spec = spec_from_dict({**SPEC, "algorithms": algorithms})
    result = run_sweep(spec, str(tmp_path), progress=False)
    wide = result.table.pivot_table(
        index=["algorithm", "oracle.seed", "iteration"], columns="metric", values="value"
    ).reset_index()
    assert set(wide.algorithm) == {a["name"] for a in algorithms}
    for column in ("gap", "duality_gap", "kl_to_reference", "win_rate_vs_equilibrium"):
        assert np.all(np.isfinite(wide[column])), column
    assert np.all(wide.gap >= 0)
    np.testing.assert_allclose(wide.duality_gap, 2 * wide.gap, atol=1e-5)
    online = wide[wide.algorithm == "nash_online"]
    assert np.all(np.isfinite(online.model_gap[online.iteration > 0]))  # it fits a P-hat
    assert set(online["oracle.seed"]) == {0, 1}
    start = online[online.iteration == 0].gap.to_numpy()
    end = online[online.iteration == 4].gap.to_numpy()
    assert np.all(start > 0) and np.all(end < start), (start, end)
