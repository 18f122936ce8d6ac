"""Sampled gradients of the two objectives of bilevel RLHF (arXiv 2410.15610), from trajectories
and votes only, for any environment, categorical policy and reward model.

Notation: a policy pi_w (parameters w, the reference pi_ref), a reward model r_nu
(``zoprl.reward_models``), the KL weight c, a trajectory tau with validity mask valid_h (steps
after the end of an episode carry no reward and no KL). The objectives are

    J_c(nu, w) = E_{tau ~ pi_w} [ sum_h valid_h ( r_nu(s_h, a_h)
                                                  - c log(pi_w(a_h|s_h) / pi_ref(a_h|s_h)) ) ],
    f(nu, w)   = E_{tau_0, tau_1 ~ pi_w i.i.d.} E_o [ answered l(D, p_hat) ] + (rho / 2) ||nu||^2,

l(D, p) = -p log sigma(D) - (1 - p) log sigma(-D) the soft-label Bradley-Terry loss of the model
return gap D = R_nu(tau_1) - R_nu(tau_0), p_hat = votes / M the vote frequency and answered the
teacher's answer mask. The sampled log-ratio in J_c has the per-state KL as its conditional
mean, so this J_c is the regularised value of ``docs/methods.md`` section 7. l is linear in
p_hat, so E_o[l(D, p_hat) | answered] = l(D, P(tau_1 preferred)): the f here is (1 - skip)
times the exact upper objective on answered pairs (the objective itself for a teacher that
never skips).

Estimators (each the gradient of a surrogate, so one ``jax.grad`` gives both arguments):

* ``lower_surrogate`` on E i.i.d. trajectories of pi_w. Its w-gradient is the score-function
  (REINFORCE) estimate with causality and a leave-one-out baseline,
      (1/E) sum_n sum_h valid_h grad_w log pi_w(a_h|s_h) (G_nh - b_nh),
  G_nh = sum_{k >= h} of the regularised rewards above, b_nh the mean of G_mh over the other
  E - 1 trajectories; unbiased for grad_w J_c (the term -c grad_w log pi_w(a_h|s_h) that
  differentiating the reward adds has conditional mean 0 and is left out; b_nh does not depend
  on trajectory n). Its nu-gradient (1/E) sum_n sum_h valid_h grad_nu r_nu(s_h, a_h) is unbiased
  for grad_nu J_c(nu, w) (the sampling law does not depend on nu).
* ``upper_surrogate`` on N labelled i.i.d. pairs of pi_w. Its nu-gradient,
  (1/N) sum_n answered_n grad_nu l(D_n, p_hat_n) + rho nu, and its w-gradient, the score
  function of the pair's density, (1/N) sum_n (grad_w log pi_w(tau_n0) + grad_w log pi_w(tau_n1))
  (answered_n l_n - b_n) with the leave-one-out baseline b_n over pairs, are unbiased for
  grad_nu f and grad_w f (log pi_w(tau) = sum_h valid_h log pi_w(a_h|s_h): the transition
  probabilities do not depend on w).

``on_policy_pairs`` draws the N pairs of one policy as a single batch rollout of 2N (+ any
extra) i.i.d. trajectories: one rollout program instead of one per member.

Nothing here reads the environment's reward: the teacher enters through the votes only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zoprl.bilevel.problem import ridge_penalty
from zoprl.bilevel.upper_level import soft_label_loss
from zoprl.estimators.baselines import leave_one_out_mean
from zoprl.oracles.accounting import Counts, feedback_queries
from zoprl.policies.base import per_step_log_probs
from zoprl.preference_data import PreferenceBatch, labelled_batch
from zoprl.reward_models.models import RewardModel, step_rewards, trajectory_reward


def batch_log_probs(policy, params, traj) -> jax.Array:
    """valid_h log pi_params(a_h | s_h, h) for a batch of trajectories, [E, H]."""
    log_pi = jax.vmap(per_step_log_probs, (None, None, 0))(policy, params, traj)
    return log_pi * traj.valid


def rewards_to_go(rewards: jax.Array) -> jax.Array:
    """G_h = sum_{k >= h} rewards_k along the last axis."""
    return jnp.flip(jnp.cumsum(jnp.flip(rewards, -1), axis=-1), -1)


def lower_surrogate(
    policy, model: RewardModel, params, reference_params, nu, traj, kl_coef
) -> tuple[jax.Array, jax.Array]:
    """(surrogate, estimate of J_c(nu, params)) on trajectories of pi_params [E, H] (module doc):
    grad of the surrogate in params and nu are the estimates of grad J_c."""
    log_pi = batch_log_probs(policy, params, traj)
    log_ref = batch_log_probs(policy, reference_params, traj)
    model_rewards = step_rewards(model, nu, traj)  # [E, H], valid-masked
    regularised = jax.lax.stop_gradient(model_rewards - kl_coef * (log_pi - log_ref))
    togo = rewards_to_go(regularised)
    advantage = (togo - leave_one_out_mean(togo)) * traj.valid
    score = jnp.mean(jnp.sum(log_pi * advantage, axis=-1))
    reward_term = jnp.mean(jnp.sum(model_rewards, axis=-1))
    return score + reward_term, jnp.mean(jnp.sum(regularised, axis=-1))


def pair_losses(model: RewardModel, nu, batch: PreferenceBatch) -> jax.Array:
    """answered_n l(D_n, p_hat_n) for every pair of ``batch``, [N]."""
    gap = trajectory_reward(model, nu, batch.traj_1) - trajectory_reward(model, nu, batch.traj_0)
    return batch.weight * soft_label_loss(gap, batch.label)


def upper_surrogate(
    policy, model: RewardModel, params, nu, batch: PreferenceBatch, ridge
) -> tuple[jax.Array, jax.Array]:
    """(surrogate, estimate of f(nu, params)) on pairs of pi_params (module doc): grad of the
    surrogate in params and nu are the estimates of grad f."""
    losses = pair_losses(model, nu, batch)
    fixed = jax.lax.stop_gradient(losses)
    log_pair = jnp.sum(batch_log_probs(policy, params, batch.traj_0), axis=-1) + jnp.sum(
        batch_log_probs(policy, params, batch.traj_1), axis=-1
    )
    score = jnp.mean(log_pair * (fixed - leave_one_out_mean(fixed)))
    value = jnp.mean(losses) + ridge_penalty(nu, ridge)
    return value + score, jax.lax.stop_gradient(value)


def split_pairs(traj, num_pairs: int):
    """(traj_0, traj_1, rest) of a batch of B >= 2N trajectories: trajectories n and N + n form
    pair n, ``rest`` the other B - 2N."""
    member = lambda i: jax.tree.map(lambda x: x[i * num_pairs : (i + 1) * num_pairs], traj)
    rest = jax.tree.map(lambda x: x[2 * num_pairs :], traj)
    return member(0), member(1), rest


def on_policy_pairs(key, rollout, oracle, num_pairs: int, params, env_params, oracle_params):
    """(batch, rest, counts): ``rollout(k, params, env_params)`` draws B >= 2N i.i.d.
    trajectories of pi_params; trajectories n and N + n form pair n, labelled by ``oracle`` in
    one call with one key; ``rest`` holds the other B - 2N trajectories (for another estimate)
    and ``counts`` charges all B trajectories and every vote asked."""
    k_roll, k_oracle = jax.random.split(key)
    traj = rollout(k_roll, params, env_params)
    traj_0, traj_1, rest = split_pairs(traj, num_pairs)
    feedback = oracle.query(k_oracle, traj_0, traj_1, oracle_params)
    counts = Counts.zero().add(traj.valid.shape[0], feedback_queries(feedback))
    return labelled_batch(traj_0, traj_1, feedback), rest, counts


def stack_pairs(batch: PreferenceBatch):
    """The 2N trajectories of a batch of pairs as one batch [2N, H] (both members)."""
    return jax.tree.map(lambda a, b: jnp.concatenate([a, b]), batch.traj_0, batch.traj_1)


__all__ = [
    "batch_log_probs",
    "leave_one_out_mean",
    "lower_surrogate",
    "on_policy_pairs",
    "pair_losses",
    "rewards_to_go",
    "split_pairs",
    "stack_pairs",
    "upper_surrogate",
]
