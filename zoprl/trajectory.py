"""The trajectory pytree shared by rollouts, oracles and algorithms.

A trajectory tau = (s_1, a_1, ..., s_H, a_H) of a finite-horizon episodic MDP (docs/methods.md
section 1) is stored with a leading horizon axis H on every leaf (and any batch axes in front of
it, e.g. [N, H] for N trajectories or [2, N, H] for N pairs).

The latent reward r_h(s_h, a_h) lives in the field ``latent_reward``. Reward-free learners (ZPG,
ZBCPG, ZSPO, DPO) must never read it: only oracles (simulated humans) and metrics may. The field
name is deliberately unique so that a test can search the reward-free modules' source for it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

LATENT_REWARD_FIELD = "latent_reward"


class Trajectory(NamedTuple):
    """One trajectory (leaves [H, ...]) or a batch of them (leaves [..., H, ...]).

    Attributes:
      obs: observation seen before each action, [H, *obs_shape].
      action: action taken, [H, *action_shape].
      log_prob: log pi_theta(a_h | s_h) of the behaviour policy at sampling time, [H].
      valid: 1.0 for steps taken before the episode terminated or was truncated, else 0.0, [H].
        Finite-horizon environments of zoprl never terminate early, so there it is all ones.
      latent_reward: r_h(s_h, a_h) already multiplied by ``valid``, [H]. Oracles and metrics only.
    """

    obs: Any
    action: jax.Array
    log_prob: jax.Array
    valid: jax.Array
    latent_reward: jax.Array

    @property
    def horizon(self) -> int:
        return self.valid.shape[-1]


def latent_return(traj: Trajectory) -> jax.Array:
    """r(tau) = sum_h r_h(s_h, a_h) over valid steps; shape = batch shape of ``traj``.

    For oracles and metrics only; reward-free learners must not call it.
    """
    return jnp.sum(traj.latent_reward, axis=-1)


def num_valid_steps(traj: Trajectory) -> jax.Array:
    """Number of environment steps actually taken (sum of the validity mask)."""
    return jnp.sum(traj.valid, axis=-1)
