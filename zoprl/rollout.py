"""Fixed-length rollouts as one ``lax.scan``; batched and paired rollouts.

A rollout runs exactly H steps of any gymnax-API environment under a policy and returns a
``Trajectory`` with leaves [H, ...]. Step h is valid iff no earlier step terminated or was
truncated (gymnax auto-resets after a terminal step; the steps after it are masked out), so the
return sum_h latent_reward equals the episode return. zoprl's finite MDPs never end before H.

Keys: the rollout key is split into a reset key, a policy key and an environment key; step h
uses fold_in(., h) of the last two (no [H] array of keys is materialised). Paired rollouts
(tau_0 ~ pi_theta0, tau_1 ~ pi_theta1, N pairs) either draw independent keys for the two members
or, with common random numbers, the same key, so that both members see the same environment noise
and the same sampling uniforms.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from zoprl.policies.base import Policy, check_compatible
from zoprl.trajectory import Trajectory
from zoprl.validation import check_int


def make_rollout(env, policy: Policy, horizon: int | None = None) -> Callable:
    """rollout(key, params, env_params, reset_key=None) -> Trajectory with leaves [H, ...].

    ``reset_key``, when given, draws the start state instead of a key derived from ``key``:
    rollouts sharing it start from the same state and differ afterwards."""
    check_compatible(policy, env)
    horizon = check_int("horizon", env.horizon if horizon is None else horizon)
    finite = getattr(env, "is_finite", False)

    def env_step(key, state, action, env_params):
        if finite:  # never terminates within H: skip gymnax's auto-reset work
            obs, state, reward, done, _ = env.step_env(key, state, action, env_params)
            return obs, state, reward, done
        obs, state, reward, terminated, truncated, _ = env.step(key, state, action, env_params)
        return obs, state, reward, jnp.logical_or(terminated, truncated)

    def rollout(key, params, env_params, reset_key=None) -> Trajectory:
        k_reset, k_policy_base, k_env_base = jax.random.split(key, 3)
        obs, state = env.reset(k_reset if reset_key is None else reset_key, env_params)

        def step(carry, h):
            obs, state, alive = carry
            k_policy = jax.random.fold_in(k_policy_base, h)
            k_env = jax.random.fold_in(k_env_base, h)
            action, log_prob = policy.sample(k_policy, params, obs, h)
            next_obs, state, reward, done = env_step(k_env, state, action, env_params)
            out = Trajectory(obs, action, log_prob, alive, reward * alive)
            return (next_obs, state, alive * (1.0 - done.astype(alive.dtype))), out

        carry = (obs, state, jnp.float32(1.0))
        _, traj = jax.lax.scan(step, carry, jnp.arange(horizon))
        return traj

    return rollout


def make_batch_rollout(env, policy: Policy, num: int, horizon: int | None = None) -> Callable:
    """rollout(key, params, env_params) -> Trajectory with leaves [num, H, ...] (i.i.d.)."""
    num = check_int("number of trajectories", num)
    single = jax.vmap(make_rollout(env, policy, horizon), in_axes=(0, None, None))
    return lambda key, params, env_params: single(jax.random.split(key, num), params, env_params)


def make_paired_rollout(env, policy: Policy, num_pairs: int, horizon: int | None = None,
                        common_random_numbers: bool = False, shared_start: bool = False) -> Callable:
    """paired(key, params_0, params_1, env_params) -> (traj_0, traj_1), leaves [N, H, ...].

    tau_{n,0} ~ pi_{params_0}, tau_{n,1} ~ pi_{params_1}. Couplings of the two members of pair n:
    ``common_random_numbers`` shares their whole key (the same start, environment noise and
    sampling uniforms); ``shared_start`` shares only the start state (one "prompt", two
    independent continuations: the setting of DPO on contextual bandits). Default: independent.
    """
    num_pairs = check_int("num_pairs", num_pairs)
    rollout = make_rollout(env, policy, horizon)
    single = jax.vmap(rollout, in_axes=(0, None, None))
    from_starts = jax.vmap(rollout, in_axes=(0, None, None, 0))

    def paired(key, params_0, params_1, env_params):
        if shared_start and not common_random_numbers:
            k_pairs, k_starts = jax.random.split(key)
            keys = jax.random.split(k_pairs, (num_pairs, 2))
            starts = jax.random.split(k_starts, num_pairs)
            return (from_starts(keys[:, 0], params_0, env_params, starts),
                    from_starts(keys[:, 1], params_1, env_params, starts))
        keys = jax.random.split(key, (num_pairs, 2))
        keys_1 = keys[:, 0] if common_random_numbers else keys[:, 1]
        return single(keys[:, 0], params_0, env_params), single(keys_1, params_1, env_params)

    return paired


def make_monte_carlo_value(env, policy: Policy, num: int, horizon: int | None = None) -> Callable:
    """value(key, params, env_params) -> (mean return, standard error) over ``num`` rollouts."""
    batch = make_batch_rollout(env, policy, num, horizon)

    def value(key, params, env_params):
        returns = jnp.sum(batch(key, params, env_params).latent_reward, axis=-1)
        return jnp.mean(returns), jnp.std(returns, ddof=1) / jnp.sqrt(num)

    return value
