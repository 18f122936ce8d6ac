"""Exact enumeration of the trajectories of tiny finite MDPs, for exact references in tests
and reproductions (expectations over pairs of trajectories that no backward induction gives).

A trajectory is the state-action sequence (s_1, a_1, ..., s_H, a_H); there are (S A)^H of them.
``enumerate_trajectories`` lists them as index arrays (a constant of the traced program), and
``trajectory_probabilities`` gives Pr_pi(tau) = rho(s_1) prod_h pi_h(a_h | s_h)
prod_{h < H} P(s_{h+1} | s_h, a_h), which sums to 1 over the enumeration.
``enumerated_trajectories`` gives the same list as the ``Trajectory`` pytree that rollouts
produce (for an oracle's exact answer probabilities).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.trajectory import Trajectory

MAX_ENUMERATED_TRAJECTORIES = 2048


def enumerate_trajectories(num_states: int, num_actions: int, horizon: int):
    """Every state-action sequence as two int32 NumPy index arrays (states [N, H], actions
    [N, H]), N = (S A)^H, trajectory n in lexicographic order of (s_1, a_1, ..., s_H, a_H).
    Built from static sizes, so it is a constant of the traced program."""
    n = (num_states * num_actions) ** horizon
    if n > MAX_ENUMERATED_TRAJECTORIES:
        raise ValueError(
            f"enumerating (S A)^H = {n} trajectories exceeds "
            f"{MAX_ENUMERATED_TRAJECTORIES} (their pairs would not fit): use a Monte Carlo "
            "estimate for this MDP"
        )
    digits = np.unravel_index(np.arange(n), (num_states, num_actions) * horizon)
    states = np.stack(digits[0::2], axis=-1).astype(np.int32)
    actions = np.stack(digits[1::2], axis=-1).astype(np.int32)
    return states, actions


def trajectory_probabilities(transition, start, policy, states, actions) -> jax.Array:
    """Pr_pi(tau) for trajectories given by index arrays states, actions [N, H]; policy
    [H, S, A]. Returns [N] (sums to 1 over a full enumeration)."""
    horizon = policy.shape[0]
    steps = jnp.arange(horizon)
    action_probs = policy[steps, states, actions]  # [N, H]
    transition_probs = transition[states[:, :-1], actions[:, :-1], states[:, 1:]]  # [N, H - 1]
    return (
        start[states[:, 0]] * jnp.prod(action_probs, axis=-1) * jnp.prod(transition_probs, axis=-1)
    )


def enumerated_trajectories(env, env_params):
    """Every trajectory of the finite environment ``env`` as a ``Trajectory`` with leaves [N, H]
    in the order of ``enumerate_trajectories``: obs the state index, valid 1, log_prob 0 (no
    behaviour policy), and the latent reward r(s_h, a_h) = sum_s' P(s'|s_h, a_h) R(s_h, a_h, s')
    that oracles read (environment side, like a rollout). An oracle's ``prob`` on these is the
    exact answer probability when the reward does not depend on s' (else that of the expected
    reward)."""
    model = env.model(env_params)
    states, actions = enumerate_trajectories(env.num_states, env.num_actions, env.horizon)
    reward = model.expected_reward()
    return Trajectory(
        obs=jnp.asarray(states),
        action=jnp.asarray(actions),
        log_prob=jnp.zeros(states.shape, reward.dtype),
        valid=jnp.ones(states.shape, reward.dtype),
        latent_reward=reward[states, actions],
    )


def expected_step_returns(reward_table, states, actions) -> jax.Array:
    """sum_h r(s_h, a_h) for index arrays [..., H] and an expected reward table [S, A]."""
    return jnp.sum(reward_table[states, actions], axis=-1)


__all__ = [
    "MAX_ENUMERATED_TRAJECTORIES",
    "enumerate_trajectories",
    "enumerated_trajectories",
    "expected_step_returns",
    "trajectory_probabilities",
]
