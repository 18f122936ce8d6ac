"""The shared iteration of the zeroth-order preference methods ZPG, ZBCPG and ZSPO.

One iteration (PAPERS.md section 3; arXiv 2409.17401 and 2506.03066):
  1. draw K directions v_k (law static: sphere, gaussian, rademacher or random block);
  2. for each k, N trajectory pairs: tau_{n,0} ~ pi_{theta} (or pi_{theta - mu v_k} when
     two-sided), tau_{n,1} ~ pi_{theta + mu v_k}; common random numbers optionally couple them;
  3. the oracle answers M queries per pair (one Binomial draw per pair);
  4. "gradient" update (ZPG, ZBCPG): g = mean_k (c / mu) D_k v_k with D_k the per-pair inverted
     and averaged preference (``preference_value_gap``) under the *assumed* link;
     "sign" update (ZSPO): g = mean_k s_k v_k, s_k the majority-vote sign;
  5. theta <- theta + step_size * U(g) (U: the optax optimiser, plain SGD ascent by default).

Counts per iteration: 2 K N trajectories, K N M queries (skipped queries were still asked).

Speed (benchmarks/RESULTS.md): the oracle answers the whole [K, N] batch in one call with one key
(it draws per pair itself); a key per pair under vmap cost twice as much on CPU. On finite
environments the rollouts take zoprl.rollout's bulk-uniform path.
The learner sees trajectories only through the oracle: nothing here reads the latent reward.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from zoprl.algorithms.base import Algorithm, PolicyState, ascent_update
from zoprl.estimators.zeroth_order import (majority_sign, preference_value_gap,
                                           zeroth_order_gradient)
from zoprl.oracles.accounting import Counts, feedback_queries
from zoprl.oracles.links import get_link
from zoprl.policies.base import check_compatible
from zoprl.rollout import make_paired_rollout
from zoprl.validation import check_int, make_hparams


UPDATES = ("gradient", "sign")


class ZerothOrderHparams(NamedTuple):
    """Sweepable scalars. step_size: alpha; mu: perturbation distance; clip_range: R, the
    inverse link's clip range (ignored by ZSPO); link_shape: shape parameter of the assumed link."""

    step_size: jax.Array
    mu: jax.Array
    clip_range: jax.Array
    link_shape: jax.Array


class ZerothOrderInfo(NamedTuple):
    value_gap_estimate: jax.Array  # mean_k D_k (for ZSPO: mean_k s_k)
    gradient_norm: jax.Array       # ||g||


def default_clip_range(env) -> float:
    """R = H (max R - min R) for finite environments, the largest possible |r(tau_1) - r(tau_0)|;
    H otherwise (rewards assumed in [0, 1] per step)."""
    if getattr(env, "is_finite", False):
        reward = np.asarray(env.model(env.default_params).reward)
        spread = float(reward.max() - reward.min())
        return env.horizon * spread if spread > 0 else float(env.horizon)
    return float(env.horizon)


def make_preference_gradient(env, policy, oracle, *, num_pairs: int, scale: float,
                              update: str = "gradient", two_sided: bool = False,
                              common_random_numbers: bool = False,
                              assumed_link: str = "logistic") -> Callable:
    """estimate(key, params, directions [K, d], hparams, env_params, oracle_params)
    -> (g [d], per-direction D_k or s_k [K], Feedback with leaves [K, N]).

    Steps 2-4 of the module doc for given directions, so that tests can hold v fixed.
    """
    check_compatible(policy, env)
    num_pairs = check_int("num_pairs (N)", num_pairs)
    if update not in UPDATES:
        raise ValueError(f"unknown update {update!r}; valid: {', '.join(UPDATES)}")
    link = get_link(assumed_link)
    paired = make_paired_rollout(env, policy, num_pairs, common_random_numbers=common_random_numbers)
    per_pair = jax.vmap(jax.vmap(oracle.query, (0, 0, 0, None)), (0, 0, 0, None))

    def query_pairs(key, traj_0, traj_1, oracle_params):
        """One oracle call on the whole [K, N] batch with one key when the oracle answers
        batches (zoprl's ``make_oracle`` does: it draws per pair itself); else a key per pair."""
        batch = traj_0.valid.shape[:2]
        shapes = jax.eval_shape(oracle.query, key, traj_0, traj_1, oracle_params)
        if all(leaf.shape == batch for leaf in jax.tree.leaves(shapes)):
            return oracle.query(key, traj_0, traj_1, oracle_params)
        return per_pair(jax.random.split(key, batch), traj_0, traj_1, oracle_params)

    def estimate(key, params, v, hp: ZerothOrderHparams, env_params, oracle_params):
        k_roll, k_oracle = jax.random.split(key)
        theta, unflatten = ravel_pytree(params)
        plus = theta + hp.mu * v                                              # [K, d]
        base = theta - hp.mu * v if two_sided else jnp.broadcast_to(theta, v.shape)
        rollout = lambda k, a, b: paired(k, unflatten(a), unflatten(b), env_params)
        traj_0, traj_1 = jax.vmap(rollout)(jax.random.split(k_roll, v.shape[0]), base, plus)
        feedback = query_pairs(k_oracle, traj_0, traj_1, oracle_params)      # leaves [K, N]
        if update == "gradient":
            gaps = jax.vmap(preference_value_gap, (0, None, None, None))(
                feedback, link, hp.clip_range, hp.link_shape)
            grads = zeroth_order_gradient(gaps[:, None], v, hp.mu, scale, two_sided)
        else:
            gaps = jax.vmap(majority_sign)(feedback)
            grads = gaps[:, None] * v
        return jnp.mean(grads, axis=0), gaps, feedback

    return estimate


def make_zeroth_order(name: str, env, policy, oracle, *, direction: Callable, scale: float,
                      update: str, num_pairs: int, num_directions: int = 1,
                      two_sided: bool = False, common_random_numbers: bool = False,
                      assumed_link: str = "logistic",
                      optimizer: optax.GradientTransformation | None = None) -> Algorithm:
    """Build a zeroth-order algorithm; ``direction(key, dim) -> v`` is the direction law."""
    num_directions = check_int("num_directions (K)", num_directions)
    estimate = make_preference_gradient(
        env, policy, oracle, num_pairs=num_pairs, scale=scale, update=update,
        two_sided=two_sided, common_random_numbers=common_random_numbers,
        assumed_link=assumed_link)
    optimizer = optax.sgd(1.0) if optimizer is None else optimizer
    clip_default = default_clip_range(env)

    def hparams(step_size=0.1, mu=0.1, clip_range=None, link_shape=1.0) -> ZerothOrderHparams:
        """Validated hyperparameters; scalars or grids, broadcast to one common shape."""
        clip_range = clip_default if clip_range is None else clip_range
        return make_hparams(ZerothOrderHparams, step_size=step_size, mu=mu,
                            clip_range=clip_range, link_shape=link_shape)

    def init(key, hp, env_params, oracle_params=None) -> PolicyState:
        params = policy.init(key)
        return PolicyState(params, optimizer.init(params), Counts.zero())

    def step(key, state: PolicyState, hp: ZerothOrderHparams, env_params, oracle_params):
        k_dir, k_est = jax.random.split(key)
        theta, unflatten = ravel_pytree(state.params)
        v = jax.vmap(direction, (0, None))(jax.random.split(k_dir, num_directions), theta.size)
        g, gaps, feedback = estimate(k_est, state.params, v, hp, env_params, oracle_params)
        params, opt_state = ascent_update(optimizer, unflatten(g), state.opt_state, state.params,
                                          hp.step_size)
        counts = state.counts.add(trajectories=2 * num_directions * num_pairs,
                                  queries=feedback_queries(feedback))
        info = ZerothOrderInfo(jnp.mean(gaps), jnp.linalg.norm(g))
        return PolicyState(params, opt_state, counts), info

    return Algorithm(name, init, step, hparams, env, policy, reward_free=True)
