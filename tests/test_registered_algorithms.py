"""Every registered algorithm, built from a spec as a user would: init, two steps, and every
metric finite (diagnostics from the first step on). A newly registered algorithm is tested here
without a line of new test code; give it sizes below if it needs more than its defaults."""

import jax
import numpy as np
import pytest

from zoprl.algorithms import make_run
from zoprl.experiment import ALGORITHMS, build_cells, spec_from_dict

SIZES = {"num_pairs": 8, "num_envs": 8, "population_size": 8, "block_size": 4}
SMALL_GRIDWORLD = {"name": "GridWorld", "size": 3, "horizon": 4}
UTILITY_ORACLE = {"num_queries": 3, "preset": "noisy"}
# small sizes of the environments of the registry's sections
SMALL = {"ContextualBandit": {"num_contexts": 2, "num_actions": 3}, "Chain": {"horizon": 2}}


def _cell(name: str):
    """The algorithm in its own setting (``AlgorithmEntry.sections``: e.g. a contextual bandit
    with a preference tensor and the game evaluator for the Nash learners, a tiny chain for the
    exact bilevel ceiling), at small sizes; else on a small GridWorld with the Bradley-Terry
    teacher."""
    entry = ALGORITHMS[name]
    static = {k: v for k, v in SIZES.items() if k in entry.static_names()}
    raw = {"name": "registry", "algorithms": [{"name": name, "static": static}]}
    if entry.sections:
        environment = entry.sections["environment"]
        raw.update(entry.sections, environment={**environment, **SMALL[environment["name"]]})
        raw["oracle"] = {**entry.sections.get("oracle", UTILITY_ORACLE), "num_queries": 3}
    else:
        raw.update(environment=SMALL_GRIDWORLD, oracle=UTILITY_ORACLE)
    return build_cells(spec_from_dict(raw))[0]


EXPECTED = {
    "default": {"value", "value_gap", "grad_norm_sq"},
    "nash": {"gap", "duality_gap"},
    "bilevel": {"value", "value_gap", "hypergradient_norm_sq", "lower_gap"},
}


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_registered_algorithm_takes_two_steps_with_finite_metrics(name):
    cell = _cell(name)
    first = lambda tree: jax.tree.map(lambda x: x[0], tree)
    run = jax.jit(make_run(cell.algorithm, 2, evaluator=cell.evaluator))
    state, metrics = run(
        jax.random.key(0), first(cell.hparams), cell.env_params, first(cell.oracle_params)
    )
    evaluation = ALGORITHMS[name].sections.get("evaluation", {}).get("name", "default")
    assert EXPECTED[evaluation] | {"trajectories", "queries"} <= set(metrics)
    for metric, series in metrics.items():
        series = np.asarray(series)
        assert series.shape == (3,), metric
        assert np.all(np.isfinite(series[1:])), (name, metric, series)
    entry = ALGORITHMS[name]
    exact = entry.uses_oracle and entry.reads_latent_reward  # exact answers: nothing sampled
    assert (int(metrics["trajectories"][-1]) > 0) != exact, name
    assert (int(metrics["queries"][-1]) > 0) == (entry.uses_oracle and not exact), name
    assert cell.reads_latent_reward == ALGORITHMS[name].reads_latent_reward
