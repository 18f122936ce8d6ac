"""The lower level of bilevel RLHF (arXiv 2410.15610): the KL-regularised policy problem under
the model reward r_nu, and the policy parametrisations it is solved in.

For a tabular softmax policy with logits theta ([H, S, A] time-dependent, or [S, A] shared by
every step), pi_theta,h(a|s) = softmax(theta_h(s, .))_a, the lower-level objective is

    J_c(nu, theta) = E_{tau ~ pi_theta} [ sum_h ( r_nu(s_h, a_h)
                                                  - c KL(pi_theta,h(.|s_h) || pi_ref,h(.|s_h)) ) ],

computed exactly by backward induction (``zoprl.soft_value``). Its maximiser over time-dependent
policies is the soft-optimal policy pi*(nu) of soft value iteration; ``soft_optimal_logits``
returns log pi*(nu), one logit vector theta*(nu) representing it. (Over time-homogeneous logits
[S, A] the maximiser is a different, generally not closed-form, policy: the hypergradient and
penalty modules work with time-dependent logits.)

Uniqueness. Logits have a gauge freedom (adding a constant to theta_h(s, .) leaves pi unchanged),
so argmax_theta J_c is a set. The minimal parametrisation eta [H, S, A - 1],
eta_h(s, a) = theta_h(s, a) - theta_h(s, A - 1), fixes the gauge (theta = [eta, 0]); it is a
bijection between eta and the policies with full support. By the regularised
performance-difference identity, J_c(nu, pi*) - J_c(nu, pi) = c sum_h E_{s_h ~ pi}
KL(pi_h || pi*_h), so the maximiser eta*(nu) is unique on every (h, s) that is reachable (visited
with positive probability; all of them when rho and P have full support), and the Hessian of J_c
in eta there is -c d_h(s) (diag(pi*_h(.|s)) - pi*_h pi*_h^T) restricted to the first A - 1
actions: block diagonal and negative definite. Logits of unreachable (h, s) do not affect J_c
nor the upper objective; ``reachable_states`` marks them so solvers can leave them alone.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from zoprl.bilevel.problem import BilevelParams, RewardFn, model_reward, regularised_mdp
from zoprl.soft_value import (
    occupancy_measures,
    per_step,
    regularised_logits_value,
    soft_value_iteration,
)


def minimal_from_logits(theta: jax.Array) -> jax.Array:
    """eta(s, a) = theta(s, a) - theta(s, A - 1) for a < A - 1: [..., A] -> [..., A - 1]."""
    return theta[..., :-1] - theta[..., -1:]


def logits_from_minimal(eta: jax.Array) -> jax.Array:
    """theta = [eta, 0]: [..., A - 1] -> [..., A]."""
    return jnp.concatenate([eta, jnp.zeros_like(eta[..., :1])], axis=-1)


def soft_optimal_logits(reward_fn: RewardFn, params: BilevelParams, nu) -> jax.Array:
    """theta*(nu) = log pi*(nu) [H, S, A]: the soft-optimal policy of the lower level under r_nu
    (soft value iteration; differentiable in nu through the backward recursion)."""
    reward = model_reward(reward_fn, params, nu)
    return soft_value_iteration(regularised_mdp(params, reward), params.horizon).log_policy


def lower_level_objective(
    reward_fn: RewardFn, params: BilevelParams, nu, theta: jax.Array
) -> jax.Array:
    """J_c(nu, theta) for logits theta [H, S, A] or [S, A] (time-homogeneous), exact."""
    reward = model_reward(reward_fn, params, nu)
    chex.assert_shape(theta, (..., params.num_states, params.num_actions))
    return regularised_logits_value(
        regularised_mdp(params, reward), per_step(theta, params.horizon)
    )


def reachable_states(params: BilevelParams, theta: jax.Array) -> jax.Array:
    """Boolean [H, S]: Pr_theta(s_h = s) > machine epsilon. For full-support policies this is the
    set of (h, s) reachable under P and rho, whatever theta; below epsilon a state's share of any
    expectation is negligible at the working precision."""
    chex.assert_shape(theta, (params.horizon, params.num_states, params.num_actions))
    occupancy = occupancy_measures(params.transition, params.start, jax.nn.softmax(theta, -1))
    state_occupancy = jnp.sum(occupancy, axis=-1)
    return state_occupancy > jnp.finfo(state_occupancy.dtype).eps


__all__ = [
    "logits_from_minimal",
    "lower_level_objective",
    "minimal_from_logits",
    "reachable_states",
    "soft_optimal_logits",
]
