"""The reach-avoid objective E[u(tau)]: against hand-computed values on a 2x2 GridWorld, against
Monte Carlo on a 3x3 one, the evaluator's metrics under jit and vmap, the teacher evaluator's
dispatch, and the ceiling's terminal reward."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from policy_testing import random_theta

from zoprl.algorithms.ppo_reach_avoid import terminal_utility_rewards
from zoprl.envs import GridWorld, make
from zoprl.evaluators import make_evaluator
from zoprl.evaluators.reach_avoid import (
    optimal_reach_avoid_value,
    reach_avoid_value,
    uniform_reach_avoid_value,
)
from zoprl.oracles import make_oracle
from zoprl.oracles.oracle import make_preference_oracle
from zoprl.oracles.reach_avoid import reach_avoid_model, reach_avoid_utility
from zoprl.policies import tabular_softmax
from zoprl.rollout import make_batch_rollout
from zoprl.trajectory import Trajectory

UP, RIGHT, DOWN, LEFT = range(4)


class _State:
    """What an evaluator reads of an algorithm's state: the policy's params."""

    def __init__(self, params):
        self.params = params


def _tiny(slip: float):
    """2x2, H = 3: start 0 (0,0), trap 1 (0,1), 2 (1,0), goal 3 (1,1)."""
    env = GridWorld(size=2, horizon=3)
    params = env.make_params(slip=slip, goals=[(1, 1)], traps=[(0, 1)])
    return env, params, env.model(params)


def _deterministic(actions, horizon=3):
    return jnp.asarray(np.broadcast_to(np.eye(4)[actions], (horizon, len(actions), 4)))


@pytest.mark.parametrize("slip", [0.0, 0.3])
def test_hand_computed_values_on_a_two_by_two_grid(slip):
    """Down then right reaches the goal at s_3 with probability (1 - slip)^2 (a slip from (0,0)
    lands in the trap or stays, from (1,0) stays or goes back up); it is optimal. The uniform
    policy stays uniform under slips: 1/4 (down) x 1/4 (right) = 1/16."""
    env, params, model = _tiny(slip)
    goal, trap = params.goal_mask, params.trap_mask
    down_right = _deterministic([DOWN, UP, RIGHT, UP])  # state 1 and 3: any action
    np.testing.assert_allclose(
        reach_avoid_value(model, down_right, goal, trap), (1 - slip) ** 2, atol=1e-6
    )
    right_down = _deterministic([RIGHT, DOWN, RIGHT, UP])  # through the trap
    np.testing.assert_allclose(
        reach_avoid_value(model, right_down, goal, trap), slip / 3 * (1 - slip), atol=1e-6
    )
    np.testing.assert_allclose(optimal_reach_avoid_value(model, 3, goal, trap), (1 - slip) ** 2)
    np.testing.assert_allclose(uniform_reach_avoid_value(model, 3, goal, trap), 1 / 16, atol=1e-7)


def test_the_exact_value_matches_monte_carlo_within_five_standard_errors():
    env = GridWorld(size=3, horizon=6)
    params = env.make_params(slip=0.2, start=(1, 0), goals=[(1, 2)], traps=[(1, 1)])
    policy = tabular_softmax(env.num_states, env.num_actions, horizon=env.horizon)
    # random time-dependent logits, nudged round the trap through the bottom row
    route = jnp.zeros((9, 4)).at[3, DOWN].set(2.0).at[6:8, RIGHT].set(2.0).at[8, UP].set(2.0)
    theta = random_theta(jax.random.key(3), policy) + route
    traj = jax.jit(make_batch_rollout(env, policy, 20_000))(jax.random.key(4), theta, params)
    u = reach_avoid_utility(traj.obs, traj.valid, params.goal_mask, params.trap_mask)
    evaluator = make_evaluator("reach_avoid", env, policy)
    aux = evaluator.init(None, None, params, None)
    exact = evaluator.metrics(None, _State(theta), None, params, None, aux)["value"]
    se = float(jnp.std(u)) / np.sqrt(u.size)
    assert 0.05 < float(exact) < 0.95
    assert abs(float(jnp.mean(u)) - float(exact)) <= 5 * se, (float(jnp.mean(u)), float(exact))


def test_the_evaluator_metrics_under_jit_and_vmap():
    env, params, _ = _tiny(0.3)
    policy = tabular_softmax(env.num_states, env.num_actions)
    evaluator = make_evaluator("reach_avoid", env, policy)
    aux = evaluator.init(None, None, params, None)
    np.testing.assert_allclose(aux, (0.49, 1 / 16), atol=1e-6)
    metrics = jax.jit(lambda theta: evaluator.metrics(None, _State(theta), None, params, None, aux))
    uniform = metrics(policy.init(None))
    assert float(uniform["gap_closed"]) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(uniform["value_gap"], 0.49 - 1 / 16, atol=1e-6)
    assert float(uniform["grad_norm_sq"]) > 0
    good = jnp.zeros((4, 4)).at[0, DOWN].set(30.0).at[2, RIGHT].set(30.0)
    thetas = jnp.stack([policy.init(None), good])
    batch = jax.vmap(metrics)(thetas)
    np.testing.assert_allclose(batch["value"][0], uniform["value"], atol=1e-7)
    assert float(batch["gap_closed"][1]) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(batch["value_ratio"], batch["value"] / 0.49, rtol=1e-6)


def test_the_teacher_evaluator_follows_the_cells_teacher():
    env, _, _ = _tiny(0.0)
    policy = tabular_softmax(env.num_states, env.num_actions)
    reach = make_preference_oracle(reach_avoid_model(), 1)
    assert make_evaluator("teacher", env, policy, reach).name == "reach_avoid"
    assert make_evaluator("teacher", env, policy, make_oracle()).name == "exact"
    bandit, _ = make("Bandit")
    with pytest.raises(ValueError, match="goal and trap cells"):
        make_evaluator("reach_avoid", bandit, tabular_softmax(1, bandit.num_actions))


def test_the_ceiling_is_paid_the_utility_once_at_the_last_valid_step():
    _, params, _ = _tiny(0.0)
    masks = (params.goal_mask, params.trap_mask)
    obs = jnp.array([[0, 2, 3], [0, 1, 3], [0, 2, 3]])
    valid = jnp.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    zeros = jnp.zeros(obs.shape)
    traj = Trajectory(obs, jnp.zeros(obs.shape, jnp.int32), zeros, valid, zeros)
    rewards = jax.jit(terminal_utility_rewards)(masks, traj)
    np.testing.assert_array_equal(rewards, [[0, 0, 1], [0, 0, 0], [0, 0, 0]])
