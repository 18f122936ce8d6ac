"""Fixed-length segments of continuing environments, and GAE bootstrapped at the segment end.

A competent PPO on gymnax environments (PureJaxRL's ``ppo.py``; Lu et al. 2022, arXiv
2210.05639) does not wait for whole episodes: E environments run on between iterations, and each
iteration takes the next T steps of every one of them (a segment), episodes ending and starting
inside it. An environment's episode ends at step h (0-based) when the environment terminates or
truncates it, or when h + 1 = H, the horizon of the finite-horizon objective (zoprl's episodes
never run past H; the rollout then resets the environment itself). After an end, gymnax's
auto-reset (or the rollout's reset) starts the next episode at h = 0.

What an iteration learns from, per environment (leaves [T]):  s_t, a_t, log pi_old(a_t | s_t, h_t),
r_t, h_t and d_t = 1 if step t ended its episode. The episode in flight at the segment's end is
not finished: its value is bootstrapped from the critic at the observation the next segment
starts from. Generalised advantage estimation (Schulman et al. 2016, arXiv 1506.02438, eq. 16)
over the segment, the done flags cutting both the bootstrap and the trace:

    delta_t = r_t + gamma (1 - d_t) V_{t+1} - V_t,      V_T = V(s_T, h_T) (the bootstrap),
    A_t     = delta_t + gamma lambda (1 - d_t) A_{t+1},  A_T = 0,

with V_t = V(s_t, h_t) the critic's value before the update; the regression target is A_t + V_t.
This is PureJaxRL's ``_calculate_gae``; zoprl's critics also see h_t / H, so the end of an episode
at the horizon is predictable and not a surprise to the critic. A whole episode (T = H, one
episode, d_{H-1} = 1) gives back ``policy_gradient.generalized_advantages``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from zoprl.policies.base import Policy, check_compatible
from zoprl.trajectory import Trajectory
from zoprl.validation import check_int


class EnvCarry(NamedTuple):
    """The E environments between segments (leaves [E, ...])."""

    obs: Any  # the observation the next step acts on
    env_state: Any
    step: jax.Array  # int32: h, the steps taken so far in the current episode
    episode_return: jax.Array  # float32: the current episode's return so far
    last_return: jax.Array  # float32: the latest completed episode's return (0 before any)


class Segment(NamedTuple):
    """T steps of each of E environments (leaves [E, T, ...]). ``traj.valid`` is all ones (every
    step is a real environment step); ``traj.latent_reward`` holds r_t."""

    traj: Trajectory
    step: jax.Array  # int32: h_t, each step's index within its episode
    done: jax.Array  # float32: d_t = 1 where the step ended its episode


class SegmentRollout(NamedTuple):
    """reset(key, env_params) -> EnvCarry;
    rollout(key, carry, params, env_params) -> (EnvCarry after the segment, Segment)."""

    reset: Callable
    rollout: Callable
    num_envs: int
    length: int


def make_segment_rollout(
    env, policy: Policy, num_envs: int, length: int, horizon: int | None = None
) -> SegmentRollout:
    """Segments of ``length`` = T steps of ``num_envs`` = E continuing environments under a policy
    (module doc); H = ``horizon`` (default: the environment's). Step t of environment e uses the
    key split(split(key, T)[t], E)[e], split again for the policy, the step and a reset."""
    check_compatible(policy, env)
    num_envs = check_int("num_envs", num_envs)
    length = check_int("segment_length", length)
    horizon = check_int("horizon", env.horizon if horizon is None else horizon)

    def reset(key, env_params) -> EnvCarry:
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(key, num_envs), env_params)
        zeros = jnp.zeros((num_envs,), jnp.float32)
        return EnvCarry(obs, state, jnp.zeros((num_envs,), jnp.int32), zeros, zeros)

    def env_step(key, params, env_params, obs, state, h):
        """One environment: (action, log-prob, reward, done, next obs, next state)."""
        k_policy, k_env, k_reset = jax.random.split(key, 3)
        action, log_prob = policy.sample(k_policy, params, obs, h)
        next_obs, next_state, reward, terminated, truncated, _ = env.step(
            k_env, state, action, env_params
        )
        ended = jnp.logical_or(terminated, truncated)  # gymnax has already reset
        cut = jnp.logical_and(h + 1 >= horizon, jnp.logical_not(ended))  # the horizon ends it
        fresh = env.reset(k_reset, env_params)
        next_obs, next_state = jax.tree.map(
            lambda r, s: jnp.where(cut, r, s), fresh, (next_obs, next_state)
        )
        return action, log_prob, reward, jnp.logical_or(ended, cut), next_obs, next_state

    step_all = jax.vmap(env_step, (0, None, None, 0, 0, 0))

    def rollout(key, carry: EnvCarry, params, env_params) -> tuple[EnvCarry, Segment]:
        def body(c: EnvCarry, k):
            action, log_prob, reward, done, obs, state = step_all(
                jax.random.split(k, num_envs), params, env_params, c.obs, c.env_state, c.step
            )
            reward = reward.astype(jnp.float32)
            ret = c.episode_return + reward
            out = (c.obs, action, log_prob, reward, c.step, done.astype(jnp.float32))
            c = EnvCarry(
                obs,
                state,
                jnp.where(done, 0, c.step + 1),
                jnp.where(done, 0.0, ret),
                jnp.where(done, ret, c.last_return),
            )
            return c, out

        carry, (obs, action, log_prob, reward, step, done) = jax.lax.scan(
            body, carry, jax.random.split(key, length)
        )
        env_first = lambda x: jnp.swapaxes(x, 0, 1)  # [T, E, ...] -> [E, T, ...]
        valid = jnp.ones((num_envs, length), jnp.float32)
        obs = jax.tree.map(env_first, obs)
        traj = Trajectory(obs, env_first(action), env_first(log_prob), valid, env_first(reward))
        return carry, Segment(traj, env_first(step), env_first(done))

    return SegmentRollout(reset, rollout, num_envs, length)


def segment_advantages(rewards, values, dones, last_value, discount, gae_lambda):
    """(A [T], targets A + V [T]) by GAE over one environment's segment (module doc): rewards,
    values V_t and done flags d_t have shape [T]; ``last_value`` = V_T, the bootstrap, is a
    scalar."""
    chex.assert_rank([rewards, values, dones], 1)
    chex.assert_equal_shape([rewards, values, dones])
    chex.assert_rank(last_value, 0)
    not_done = 1.0 - dones
    next_values = jnp.append(values[1:], last_value)
    deltas = rewards + discount * not_done * next_values - values

    def backward(a_next, x):
        delta, nd = x
        a = delta + discount * gae_lambda * nd * a_next
        return a, a

    _, advantages = jax.lax.scan(
        backward, jnp.zeros((), rewards.dtype), (deltas, not_done), reverse=True
    )
    return advantages, advantages + values
