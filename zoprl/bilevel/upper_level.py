"""The upper level of bilevel RLHF (arXiv 2410.15610): the preference likelihood of the model
reward on trajectory pairs drawn from the policy, exactly (tiny MDPs) or by Monte Carlo.

A trajectory tau = (s_1, a_1, ..., s_H, a_H) has model return R_nu(tau) = sum_h r_nu,h(s_h, a_h)
and true return r(tau) = sum_h r(s_h, a_h). A Bradley-Terry teacher on the true reward prefers
tau_1 to tau_0 (o = 1, sign s_o = +1; otherwise s_o = -1) with probability
sigma(beta (r(tau_1) - r(tau_0))). The upper objective is the expected negative log-likelihood

    f(nu, pi) = E_{tau_0, tau_1 ~ pi i.i.d.} E_o [ -log sigma(s_o (R_nu(tau_1) - R_nu(tau_0))) ]
                + (rho / 2) ||nu||^2,

where the inner expectation over the teacher's vote is taken in closed form,
E_o[.] = -p log sigma(D) - (1 - p) log sigma(-D), p = sigma(beta delta), D the model return gap and
delta the true one (``preference_loss``). The ridge term (rho >= 0) removes the invariance of the
likelihood to shifts of r_nu that leave every return gap unchanged.

``upper_objective`` computes f exactly by enumerating all (S A)^H state-action sequences and their
probabilities Pr_pi(tau) = rho(s_1) prod_h pi_h(a_h|s_h) prod_{h<H} P(s_{h+1}|s_h, a_h), so f is a
polynomial in the policy table and differentiable in both nu and pi. The pair sum costs
(S A)^{2H}: use it for tiny MDPs (S = 3, A = 2, H = 3 gives 216 trajectories) and
``upper_objective_monte_carlo`` otherwise.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from zoprl.bilevel.problem import BilevelParams, RewardFn, model_reward, ridge_penalty
from zoprl.enumeration import (
    MAX_ENUMERATED_TRAJECTORIES,
    enumerate_trajectories,
    trajectory_probabilities,
)
from zoprl.envs.finite import inverse_cdf
from zoprl.soft_value import floating_dtype, per_step


def soft_label_loss(model_gap, p) -> jax.Array:
    """-p log sigma(D) - (1 - p) log sigma(-D): the expected negative log-likelihood of a vote
    that prefers tau_1 with probability p, for the model return gap D = R_nu(tau_1) -
    R_nu(tau_0); elementwise. With p an empirical vote frequency it is the loss of the votes."""
    return -(p * jax.nn.log_sigmoid(model_gap) + (1.0 - p) * jax.nn.log_sigmoid(-model_gap))


def preference_loss(model_gap, true_gap, teacher_beta) -> jax.Array:
    """E_o[-log sigma(s_o D)] = -p log sigma(D) - (1 - p) log sigma(-D), p = sigma(beta delta),
    for the model return gap D = R_nu(tau_1) - R_nu(tau_0) and the true gap delta; elementwise."""
    return soft_label_loss(model_gap, jax.nn.sigmoid(teacher_beta * true_gap))


def _returns(reward_table, states, actions) -> jax.Array:
    """sum_h reward_table[h, s_h, a_h] for index arrays [..., H]; reward_table [H, S, A]."""
    steps = jnp.arange(reward_table.shape[0])
    return jnp.sum(reward_table[steps, states, actions], axis=-1)


def _check_policy(params: BilevelParams, policy) -> None:
    chex.assert_shape(policy, (params.horizon, params.num_states, params.num_actions))


def _teacher_matrix(params: BilevelParams, dtype) -> jax.Array:
    """P[i, j] = Pr(tau_j preferred to tau_i) over the enumeration: ``params.preference`` when
    given, else the Bradley-Terry teacher sigma(beta (r(tau_j) - r(tau_i)))."""
    if params.preference is not None:
        return params.preference.astype(dtype)
    states, actions = enumerate_trajectories(params.num_states, params.num_actions, params.horizon)
    true_table = per_step(params.true_reward, params.horizon).astype(dtype)
    true_return = _returns(true_table, states, actions)
    return jax.nn.sigmoid(params.teacher_beta * (true_return[None, :] - true_return[:, None]))


def upper_objective(reward_fn: RewardFn, params: BilevelParams, nu, policy) -> jax.Array:
    """f(nu, pi) exactly, by enumerating every pair of trajectories (see the module doc);
    ``policy`` is the probability table [H, S, A]; the teacher is ``params.preference`` when
    given (any oracle's answer probabilities), else Bradley-Terry on the true reward. At most
    MAX_ENUMERATED_TRAJECTORIES trajectories ((S A)^H), checked at trace time."""
    _check_policy(params, policy)
    model_table = model_reward(reward_fn, params, nu)
    dtype = floating_dtype(model_table, policy, params.transition)
    states, actions = enumerate_trajectories(params.num_states, params.num_actions, params.horizon)
    prob = trajectory_probabilities(
        params.transition.astype(dtype),
        params.start.astype(dtype),
        policy.astype(dtype),
        states,
        actions,
    )  # [N]
    model_return = _returns(model_table.astype(dtype), states, actions)  # [N]
    # losses[i, j]: tau_0 = trajectory i, tau_1 = trajectory j
    losses = soft_label_loss(
        model_return[None, :] - model_return[:, None], _teacher_matrix(params, dtype)
    )
    return prob @ losses @ prob + ridge_penalty(nu, params.ridge).astype(dtype)


def sample_state_actions(uniforms, transition, start, policy):
    """One trajectory's (states [H], actions [H]) drawn by inverse CDF from given uniforms
    [2 H] in [0, 1): s_1 from u[0], a_h from u[2h - 1] and s_{h+1} from u[2h] (h = 1..H; the
    state after the last action is not drawn).
    The same uniforms give the same trajectory wherever the CDFs allow: common random numbers
    across policies, rewards and instances."""
    horizon = policy.shape[0]
    chex.assert_shape(uniforms, (2 * horizon,))
    # the last step's transition uniform is a placeholder: s_{H+1} is discarded
    u_action, u_next = uniforms[1::2], jnp.concatenate([uniforms[2::2], uniforms[:1]])

    def forward(s, step):
        pi_h, u_a, u_s = step
        a = inverse_cdf(pi_h[s], u_a)
        return inverse_cdf(transition[s, a], u_s), (s, a)

    s1 = inverse_cdf(start, uniforms[0])
    _, (states, actions) = jax.lax.scan(forward, s1, (policy, u_action, u_next))
    return states, actions


def upper_objective_monte_carlo(
    key, reward_fn: RewardFn, params: BilevelParams, nu, policy, num_pairs: int
):
    """(estimate, standard error) of f(nu, pi) from ``num_pairs`` i.i.d. trajectory pairs drawn
    with the uniforms of ``key`` (common random numbers: reuse the key to compare nu or pi).
    Unbiased for f: the teacher's vote is averaged in closed form per pair, the ridge term is
    exact, and the standard error is the sample standard deviation of the per-pair losses over
    sqrt(num_pairs). ``num_pairs`` is static. Differentiable in nu, not in pi."""
    _check_policy(params, policy)
    model_table = model_reward(reward_fn, params, nu)
    dtype = floating_dtype(model_table, policy, params.transition)
    uniforms = jax.random.uniform(key, (num_pairs, 2, 2 * params.horizon), dtype)
    sample = jax.vmap(jax.vmap(sample_state_actions, (0, None, None, None)), (0, None, None, None))
    states, actions = sample(uniforms, params.transition, params.start, policy)  # [M, 2, H]
    model_return = _returns(model_table.astype(dtype), states, actions)  # [M, 2]
    true_table = jnp.broadcast_to(params.true_reward, model_table.shape).astype(dtype)
    true_return = _returns(true_table, states, actions)
    losses = preference_loss(
        model_return[:, 1] - model_return[:, 0],
        true_return[:, 1] - true_return[:, 0],
        params.teacher_beta,
    )
    estimate = jnp.mean(losses) + ridge_penalty(nu, params.ridge).astype(dtype)
    return estimate, jnp.std(losses, ddof=1) / jnp.sqrt(num_pairs)


__all__ = [
    "MAX_ENUMERATED_TRAJECTORIES",
    "enumerate_trajectories",
    "preference_loss",
    "sample_state_actions",
    "soft_label_loss",
    "trajectory_probabilities",
    "upper_objective",
    "upper_objective_monte_carlo",
]
