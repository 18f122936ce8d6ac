"""A ceiling for the reach-avoid teacher: PPO with the teacher's utility as its reward.

The reach-avoid utility u(tau) = 1[s_H goal] prod_h 1[s_h not trap] (``zoprl.oracles.reach_avoid``)
is no sum of per-step rewards of the environment, so PPO on the environment's reward would chase
another objective. This ceiling pays the utility itself, once, at the last valid step:

    r_h = u(tau) 1[h = last valid step],

so that the return of every trajectory is u(tau) and PPO's objective E[sum_h r_h] is the teacher's
E[u(tau)] exactly. The reward is non-Markovian (it depends on the whole path), which a critic
V(s, h) cannot represent exactly; the policy gradient stays unbiased for lambda = 1 and its
variance grows, the price of a sparse terminal signal. Like every ceiling, it reads what the
learners from preferences never see (here the teacher's objective, from the environment's goal
and trap cells, instead of the environment's reward), and is labelled so in every table.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zoprl.algorithms.base import Algorithm
from zoprl.algorithms.policy_gradient import Critic
from zoprl.algorithms.ppo import make_ppo_update
from zoprl.oracles.reach_avoid import reach_avoid_utility, require_goal_and_trap_cells


def terminal_utility_rewards(masks, traj) -> jax.Array:
    """Per-step rewards [..., H]: u(tau) at the last valid step, 0 elsewhere; ``masks`` =
    (goal_mask, trap_mask)."""
    goal, trap = masks
    utility = reach_avoid_utility(traj.obs, traj.valid, goal, trap)
    last = jnp.maximum(jnp.sum(traj.valid, axis=-1).astype(jnp.int32) - 1, 0)
    return utility[..., None] * jax.nn.one_hot(last, traj.valid.shape[-1], dtype=utility.dtype)


def ppo_reach_avoid(
    env,
    policy,
    *,
    num_envs: int = 128,
    num_epochs: int = 4,
    num_minibatches: int = 4,
    critic: str | Critic | None = None,
    max_grad_norm: float | None = 0.5,
    normalize_advantages: bool = True,
) -> Algorithm:
    """The ceiling of the module doc on an environment whose params carry ``goal_mask`` and
    ``trap_mask`` (GridWorld); settings as ``ppo.make_ppo_update``."""
    require_goal_and_trap_cells(env, "ppo_reach_avoid")
    updater = make_ppo_update(
        env,
        policy,
        num_envs=num_envs,
        num_epochs=num_epochs,
        num_minibatches=num_minibatches,
        reward_fn=terminal_utility_rewards,
        critic=critic,
        max_grad_norm=max_grad_norm,
        normalize_advantages=normalize_advantages,
    )

    def init(key, hp, env_params, oracle_params=None):
        return updater.init(key)

    def step(key, state, hp, env_params, oracle_params, iteration):
        masks = (env_params.goal_mask, env_params.trap_mask)
        return updater.update(key, state, hp, env_params, masks)

    return Algorithm("ppo_reach_avoid", init, step, updater.hparams, env, policy, True)


__all__ = ["ppo_reach_avoid", "terminal_utility_rewards"]
