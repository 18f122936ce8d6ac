"""The reach-avoid teacher: its utility on hand-made paths, its answers (Bradley-Terry on the
utility gap, teacher transforms on top), the swap that no additive reward can follow, and the
kind as a spec names it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.envs import GridWorld
from zoprl.experiment import SpecError, build_cells, spec_from_dict
from zoprl.oracles import ORACLE_KINDS, OracleParams, make_preference_oracle, teacher_params
from zoprl.oracles.reach_avoid import reach_avoid_utility
from zoprl.trajectory import Trajectory

# a 2x2 grid: states 0 (0,0) start, 1 (0,1) trap, 2 (1,0), 3 (1,1) goal
GOAL = jnp.array([0.0, 0.0, 0.0, 1.0])
TRAP = jnp.array([0.0, 1.0, 0.0, 0.0])
PATHS = {  # observed states s_1..s_4 and u
    "safe, at the goal": ([0, 2, 3, 3], 1.0),
    "through the trap": ([0, 1, 3, 3], 0.0),
    "safe, not there": ([0, 2, 2, 0], 0.0),
    "trap, not there": ([0, 1, 1, 0], 0.0),
    "left the goal?": ([3, 3, 3, 2], 0.0),
}


def _traj(states, valid=None) -> Trajectory:
    obs = jnp.asarray(states, jnp.int32)
    valid = jnp.ones(obs.shape) if valid is None else jnp.asarray(valid, jnp.float32)
    zeros = jnp.zeros(obs.shape)
    return Trajectory(obs, jnp.zeros(obs.shape, jnp.int32), zeros, valid, zeros)


def test_the_utility_is_one_only_at_the_goal_without_a_trap_under_jit_and_vmap():
    states = jnp.asarray([s for s, _ in PATHS.values()])
    expected = np.array([u for _, u in PATHS.values()])
    one = jax.jit(reach_avoid_utility)
    for (path, u), row in zip(PATHS.values(), states):
        assert float(one(row, jnp.ones(4), GOAL, TRAP)) == u, path
    batch = jax.vmap(reach_avoid_utility, (0, 0, None, None))(states, jnp.ones((5, 4)), GOAL, TRAP)
    np.testing.assert_array_equal(batch, expected)
    # only valid steps count: the last valid state decides, later (invalid) steps are ignored
    valid = jnp.array([1.0, 1.0, 1.0, 0.0])
    assert float(reach_avoid_utility(jnp.array([0, 2, 3, 1]), valid, GOAL, TRAP)) == 1.0


def test_no_additive_reward_follows_the_swap_of_continuations():
    """Prefixes A (through the trap) and B (safe) reach the same state at the same step;
    continuations C (to the goal) and D (not). An additive return gives
    R(BC) - R(BD) = R(AC) - R(AD) for every reward table; the teacher's u does not."""
    prefix = {"A": [0, 1, 0], "B": [0, 0, 0]}  # s_1..s_3, both at state 0 at step 3
    suffix = {"C": [2, 3, 3], "D": [2, 2, 2]}  # s_4..s_6
    path = {p + c: jnp.asarray(prefix[p] + suffix[c]) for p in prefix for c in suffix}
    u = {k: float(reach_avoid_utility(v, jnp.ones(6), GOAL, TRAP)) for k, v in path.items()}
    assert u["BC"] - u["BD"] == 1.0 and u["AC"] - u["AD"] == 0.0
    reward = jax.random.normal(jax.random.key(0), (6, 4))  # any r_h(s), time-dependent even
    ret = {k: float(jnp.sum(reward[jnp.arange(6), v])) for k, v in path.items()}
    assert ret["BC"] - ret["BD"] == pytest.approx(ret["AC"] - ret["AD"], abs=1e-5)


def _oracle(num_queries=1, **knobs):
    env = GridWorld(size=2, horizon=4)
    params = env.make_params(goals=[(1, 1)], traps=[(0, 1)])
    built = ORACLE_KINDS["reach_avoid"].build(env)
    teacher = {k: knobs.pop(k) for k in ("mistake", "skip", "equal_margin") if k in knobs}
    oracle = make_preference_oracle(built.model, num_queries)
    return oracle, OracleParams(built.params(params, **knobs), teacher_params(**teacher)), params


def test_answers_are_bradley_terry_on_the_utility_gap_with_the_teacher_transforms():
    win, lose = _traj(PATHS["safe, at the goal"][0]), _traj(PATHS["through the trap"][0])
    oracle, params, _ = _oracle(beta=2.0)
    np.testing.assert_allclose(oracle.prob(lose, win, params), jax.nn.sigmoid(2.0), rtol=1e-6)
    np.testing.assert_allclose(oracle.prob(win, lose, params), jax.nn.sigmoid(-2.0), rtol=1e-6)
    np.testing.assert_allclose(oracle.prob(lose, lose, params), 0.5)
    rational, params, _ = _oracle()  # beta = inf: the indicator decides
    assert float(rational.prob(lose, win, params)) == 1.0
    flipped, params, _ = _oracle(beta=2.0, mistake=0.1)
    p = jax.nn.sigmoid(2.0)
    np.testing.assert_allclose(flipped.prob(lose, win, params), 0.9 * p + 0.1 * (1 - p), 1e-6)
    tied, params, _ = _oracle(num_queries=10, equal_margin=1.5)  # |u_b - u_a| <= 1 < margin
    feedback = tied.query(jax.random.key(0), lose, win, params)
    assert bool(feedback.tie) and float(feedback.votes) == 5.0


def test_max_logit_is_beta_times_the_largest_gap():
    oracle, params, env_params = _oracle(beta=3.0)
    assert float(oracle.model.max_logit(params.model, env_params, None, 1.0)) == 3.0
    _, params, env_params = _oracle()
    assert float(oracle.model.max_logit(params.model, env_params, None, 1.0)) == 1.0


def test_a_spec_names_the_kind_and_it_reads_the_gridworlds_cells():
    raw = {
        "name": "ra",
        "environment": {"name": "GridWorld", "size": 3, "horizon": 5, "traps": [[1, 1]]},
        "oracle": {"kind": "reach_avoid", "beta": 2.0, "mistake": 0.1, "num_queries": 4},
        "algorithms": [{"name": "zpg", "static": {"num_pairs": 4}}],
    }
    cell = build_cells(spec_from_dict(raw))[0]
    assert cell.oracle == "reach_avoid:logistic/noisy"
    model = cell.oracle_params.model
    assert model.trap_mask.shape == (1, 9) and float(model.trap_mask[0, 4]) == 1.0
    assert float(model.goal_mask[0, 8]) == 1.0 and float(model.beta[0]) == 2.0
    assert float(cell.oracle_params.teacher.mistake[0]) == pytest.approx(0.1)
    raw["environment"] = {"name": "RandomMDP"}
    with pytest.raises(SpecError, match="reach_avoid teacher needs a finite environment with goal"):
        build_cells(spec_from_dict(raw))
