"""The penalty method for bilevel RLHF (arXiv 2410.15610), first order, after Kwon et al.'s
penalty reformulation (ICLR 2024, arXiv 2309.01753).

The bilevel problem min_nu F(nu) = f(nu, theta*(nu)), theta*(nu) = argmax_w J_c(nu, w), is
replaced by min_nu Phi_lambda(nu), Phi_lambda(nu) = min_theta f(nu, theta) + lambda (J_c(nu, z*)
- J_c(nu, theta)) with z* = theta*(nu), whose gradient is

    grad Phi_lambda = grad_nu f(nu, theta_lambda) + lambda (grad_nu J_c(nu, z*) - grad_nu J_c(nu,
    theta_lambda)),

and ||grad Phi_lambda - grad F|| = O(1 / lambda) (``zoprl.bilevel.penalty``). The method keeps
three iterates: z tracks z* (the policy optimal for the learned reward: ``state.params``, the
deployed policy), theta tracks theta_lambda (``state.penalty_params``) and nu the reward model
(``state.reward_params``). Iteration k, with lambda_k = penalty (1 + k)^penalty_growth
(non-decreasing) and every step size decayed by (1 + k)^(-step_decay):

  z     <- z + gamma_z g_z J_c(nu, z)
  theta <- theta - (gamma_theta / lambda_k) (g_theta f(nu, theta) - lambda_k g_theta J_c(nu, theta))
  nu    <- nu - gamma_nu (g_nu f(nu, theta) + lambda_k (g_nu J_c(nu, z) - g_nu J_c(nu, theta)))

all three from the same iterates (simultaneous updates). The theta step is scaled by 1 / lambda_k
(our choice, as in Kwon et al.'s analysis, where the step on the penalised variable shrinks like
1 / lambda): its curvature grows like lambda, so a fixed gamma_theta stays stable while lambda
grows. Double loop: with ``inner_steps`` = K > 1, nu moves only on iterations k with
(k + 1) % K == 0 (a ``lax.cond`` on the unbatched iteration index), z and theta on every one: K
lower-level steps per upper step. K = 1 is the single loop.

Gradients (``zoprl.bilevel.estimators``): g_theta f and g_nu f from N labelled pairs of pi_theta
(both members i.i.d.; 2N trajectories and N M queries), g_theta J_c and g_nu J_c(nu, theta) from
the same 2N trajectories, g_z J_c and g_nu J_c(nu, z) from E = ``num_envs`` trajectories of pi_z.
All unbiased. With ``exact=True`` (finite, enumerable environments and categorical policies)
they are the exact gradients instead (``zoprl.bilevel.finite``: f by enumeration with the
oracle's answer probabilities, J_c by backward induction), nothing is sampled or counted, and
the algorithm is labelled as reading the latent reward (it uses the teacher's exact answers):
a verification mode.

Counts per iteration (sampled): 2N + E trajectories and N M queries.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zoprl.algorithms.base import Algorithm, ascent_update
from zoprl.algorithms.bilevel_common import (
    check_reference_logits,
    combine,
    decayed,
    exact_reward_table,
    initial_reference,
    tree_norm,
)
from zoprl.algorithms.optimizers import Optimizer, resolve_optimizer
from zoprl.bilevel.estimators import (
    lower_surrogate,
    on_policy_pairs,
    stack_pairs,
    upper_surrogate,
)
from zoprl.bilevel.finite import exact_lower, exact_problem, exact_upper
from zoprl.bilevel.problem import resolve_reward_model
from zoprl.oracles.accounting import Counts
from zoprl.policies.base import check_compatible
from zoprl.reward_models.models import RewardModel
from zoprl.rollout import make_batch_rollout
from zoprl.validation import check_int, make_hparams


class PenaltyHparams(NamedTuple):
    """Sweepable scalars: the step sizes of z, theta and nu (> 0), lambda_0 = penalty (> 0) and
    its growth exponent (>= 0), the step-size decay exponent (>= 0), the KL weight c (> 0) and
    the ridge rho (>= 0)."""

    policy_step_size: jax.Array
    penalty_step_size: jax.Array
    reward_step_size: jax.Array
    penalty: jax.Array
    penalty_growth: jax.Array
    step_decay: jax.Array
    kl_coef: jax.Array
    ridge: jax.Array


class PenaltyState(NamedTuple):
    params: Any  # z, the deployed policy
    penalty_params: Any  # theta
    reward_params: Any  # nu
    reference_params: Any  # pi_ref
    opt_state: Any  # (z's, theta's, nu's)
    penalty: jax.Array  # lambda_k of the last step (lambda_0 before the first)
    counts: Counts


class PenaltyInfo(NamedTuple):
    """Per-iteration estimates at the iterates before the step."""

    upper_loss: jax.Array  # f(nu, theta)
    lower_value: jax.Array  # J_c(nu, z)
    penalty_lower_value: jax.Array  # J_c(nu, theta)
    penalty: jax.Array  # lambda_k
    reward_updated: jax.Array  # 1 on an upper (nu) step, else 0
    reward_direction_norm: jax.Array  # ||g_nu f + lambda (g_nu J_c(z) - g_nu J_c(theta))||


class Gradients(NamedTuple):
    """The six gradient estimates of an iteration, the three objective estimates and the counts
    of what was sampled for them."""

    upper_theta: Any  # g_theta f(nu, theta)
    upper_nu: Any  # g_nu f(nu, theta)
    lower_theta: Any  # g_theta J_c(nu, theta)
    lower_nu_at_theta: Any  # g_nu J_c(nu, theta)
    lower_z: Any  # g_z J_c(nu, z)
    lower_nu_at_z: Any  # g_nu J_c(nu, z)
    upper_value: jax.Array
    lower_value_theta: jax.Array
    lower_value_z: jax.Array
    counts: Counts


class PenaltySetup(NamedTuple):
    """The static pieces the penalty method is wired from (built by ``bilevel_penalty``)."""

    env: Any
    policy: Any
    model: RewardModel
    oracle: Any
    paired: Callable  # 2N trajectories of one policy: the pairs (``on_policy_pairs``)
    rollout: Callable
    num_pairs: int
    optimizer: Any
    inner_steps: int
    reference_logits: tuple | None
    reward_table: Callable | None  # nu -> r_nu [S, A]: the exact mode's, else None


def penalty_schedule(hp: PenaltyHparams, iteration) -> jax.Array:
    """lambda_k = penalty (1 + k)^penalty_growth (in the hyperparameters' dtype)."""
    return decayed(hp.penalty, -hp.penalty_growth, iteration)


def penalty_init(setup: PenaltySetup, key, hp: PenaltyHparams, env_params, oracle_params):
    """z = theta = pi_ref, nu from the reward model's init, lambda = lambda_0."""
    k_policy, k_reward = jax.random.split(key)
    reference = initial_reference(setup.policy, k_policy, setup.reference_logits)
    nu = setup.model.init(k_reward)
    opt = setup.optimizer
    opt_state = (opt.init(reference), opt.init(reference), opt.init(nu))
    return PenaltyState(
        reference, reference, nu, reference, opt_state, penalty_schedule(hp, 0), Counts.zero()
    )


def sampled_gradients(setup: PenaltySetup, key, state: PenaltyState, hp, env_params, oracle_params):
    """The estimators of ``zoprl.bilevel.estimators`` on N pairs of pi_theta and E trajectories
    of pi_z."""
    k_pairs, k_z = jax.random.split(key)
    theta, z, nu = state.penalty_params, state.params, state.reward_params
    ref = state.reference_params
    batch, _, counts = on_policy_pairs(
        k_pairs, setup.paired, setup.oracle, setup.num_pairs, theta, env_params, oracle_params
    )
    upper = functools.partial(upper_surrogate, setup.policy, setup.model)
    lower = functools.partial(lower_surrogate, setup.policy, setup.model)
    (g_f_theta, g_f_nu), f_value = jax.grad(upper, (0, 1), has_aux=True)(theta, nu, batch, hp.ridge)
    (g_j_theta, g_j_nu_theta), j_theta = jax.grad(lower, (0, 2), has_aux=True)(
        theta, ref, nu, stack_pairs(batch), hp.kl_coef
    )
    traj_z = setup.rollout(k_z, z, env_params)
    (g_j_z, g_j_nu_z), j_z = jax.grad(lower, (0, 2), has_aux=True)(z, ref, nu, traj_z, hp.kl_coef)
    counts = counts.add(traj_z.valid.shape[0])
    return Gradients(
        g_f_theta, g_f_nu, g_j_theta, g_j_nu_theta, g_j_z, g_j_nu_z, f_value, j_theta, j_z, counts
    )


def exact_gradients(setup: PenaltySetup, key, state: PenaltyState, hp, env_params, oracle_params):
    """The same six gradients exactly (``zoprl.bilevel.finite``); nothing sampled or counted."""
    problem = exact_problem(
        setup.env,
        setup.policy,
        setup.oracle,
        env_params,
        oracle_params,
        state.reference_params,
        hp.kl_coef,
        hp.ridge,
    )
    pieces = (setup.env, setup.policy, setup.reward_table, problem)
    upper = lambda w, nu: exact_upper(*pieces, nu, w)
    lower = lambda w, nu: exact_lower(*pieces, nu, w)
    theta, z, nu = state.penalty_params, state.params, state.reward_params
    f_value, (g_f_theta, g_f_nu) = jax.value_and_grad(upper, (0, 1))(theta, nu)
    j_theta, (g_j_theta, g_j_nu_theta) = jax.value_and_grad(lower, (0, 1))(theta, nu)
    j_z, (g_j_z, g_j_nu_z) = jax.value_and_grad(lower, (0, 1))(z, nu)
    return Gradients(
        g_f_theta,
        g_f_nu,
        g_j_theta,
        g_j_nu_theta,
        g_j_z,
        g_j_nu_z,
        f_value,
        j_theta,
        j_z,
        Counts.zero(),
    )


def penalty_step(
    setup: PenaltySetup,
    key,
    state: PenaltyState,
    hp: PenaltyHparams,
    env_params,
    oracle_params,
    iteration,
):
    """One iteration of the module doc's updates."""
    gradients = (exact_gradients if setup.reward_table is not None else sampled_gradients)(
        setup, key, state, hp, env_params, oracle_params
    )
    lam = penalty_schedule(hp, iteration)
    scale = lambda step_size: decayed(step_size, hp.step_decay, iteration)
    z_opt, theta_opt, nu_opt = state.opt_state
    z, z_opt = ascent_update(
        setup.optimizer, gradients.lower_z, z_opt, state.params, scale(hp.policy_step_size)
    )
    theta_ascent = combine(gradients.lower_theta, gradients.upper_theta, -1.0 / lam)
    theta, theta_opt = ascent_update(
        setup.optimizer, theta_ascent, theta_opt, state.penalty_params, scale(hp.penalty_step_size)
    )
    shift = combine(gradients.lower_nu_at_z, gradients.lower_nu_at_theta, -1.0)
    nu_descent = combine(gradients.upper_nu, shift, lam)
    ascent = jax.tree.map(jnp.negative, nu_descent)

    def move(carry):
        nu, opt = carry
        return ascent_update(setup.optimizer, ascent, opt, nu, scale(hp.reward_step_size))

    due = (iteration + 1) % setup.inner_steps == 0
    nu, nu_opt = jax.lax.cond(due, move, lambda carry: carry, (state.reward_params, nu_opt))
    counts = state.counts.add(gradients.counts.trajectories, gradients.counts.queries)
    new_state = PenaltyState(
        z, theta, nu, state.reference_params, (z_opt, theta_opt, nu_opt), lam, counts
    )
    info = PenaltyInfo(
        gradients.upper_value,
        gradients.lower_value_z,
        gradients.lower_value_theta,
        lam,
        due.astype(lam.dtype),
        tree_norm(nu_descent),
    )
    return new_state, info


def penalty_hparams(
    policy_step_size=0.5,
    penalty_step_size=0.5,
    reward_step_size=0.5,
    penalty=1.0,
    penalty_growth=0.5,
    step_decay=0.0,
    kl_coef=0.1,
    ridge=0.01,
) -> PenaltyHparams:
    """Validated hyperparameters; scalars or grids, broadcast to one common shape."""
    return make_hparams(
        PenaltyHparams,
        nonnegative=("penalty_growth", "step_decay", "ridge"),
        policy_step_size=policy_step_size,
        penalty_step_size=penalty_step_size,
        reward_step_size=reward_step_size,
        penalty=penalty,
        penalty_growth=penalty_growth,
        step_decay=step_decay,
        kl_coef=kl_coef,
        ridge=ridge,
    )


def bilevel_penalty(
    env,
    policy,
    oracle,
    *,
    num_pairs: int = 64,
    num_envs: int = 64,
    inner_steps: int = 1,
    exact: bool = False,
    reward_model: str | None = None,
    reward_hidden: tuple[int, ...] = (64, 64),
    reference_action_logits: tuple[float, ...] | None = None,
    optimizer: Optimizer = None,
) -> Algorithm:
    """The penalty method as an Algorithm named "bilevel_penalty" (module doc).

    num_pairs: N, labelled pairs of pi_theta per iteration (>= 2, default 64); num_envs: E,
    trajectories of pi_z per iteration (>= 2, default 64); inner_steps: K, lower-level steps
    per upper step (1: single loop); exact: exact gradients on a tiny finite MDP (nothing
    sampled); reward_model, reward_hidden, reference_action_logits: see ``bilevel_common``;
    optimizer: sgd (default), momentum, adam or an optax transformation with learning rate 1
    (one per iterate).
    All checked in Python, before compilation (ValueError naming the bad value).
    """
    check_compatible(policy, env)
    if policy.logits is None:
        raise ValueError(f"the penalty method needs a categorical policy, got {policy.name!r}")
    model = resolve_reward_model(env, reward_model, reward_hidden)
    num_pairs = check_int("num_pairs", num_pairs, minimum=2)
    setup = PenaltySetup(
        env=env,
        policy=policy,
        model=model,
        oracle=oracle,
        paired=make_batch_rollout(env, policy, 2 * num_pairs),
        rollout=make_batch_rollout(env, policy, check_int("num_envs", num_envs, minimum=2)),
        num_pairs=num_pairs,
        optimizer=resolve_optimizer(optimizer, "sgd"),
        inner_steps=check_int("inner_steps", inner_steps),
        reference_logits=check_reference_logits(policy, reference_action_logits),
        reward_table=exact_reward_table(env, policy, model) if exact else None,
    )
    return Algorithm(
        "bilevel_penalty",
        functools.partial(penalty_init, setup),
        functools.partial(penalty_step, setup),
        penalty_hparams,
        env,
        policy,
        reads_latent_reward=bool(exact),
    )


__all__ = [
    "PenaltyHparams",
    "PenaltyInfo",
    "PenaltySetup",
    "PenaltyState",
    "bilevel_penalty",
    "penalty_hparams",
    "penalty_schedule",
]
