"""The hyperobjective F(nu) = f(nu, theta*(nu)) of bilevel RLHF and its exact gradient, two ways.

F is the upper objective (``upper_level.upper_objective``) evaluated at the soft-optimal policy
of the lower level under r_nu (arXiv 2410.15610). Its gradient

    grad F(nu) = grad_nu f(nu, theta*) + (d theta* / d nu)^T grad_theta f(nu, theta*)

carries the distribution shift: the trajectory pairs that fit nu come from a policy that depends
on nu. Two exact computations (tiny MDPs, since f is enumerated):

* ``hypergradient_unrolled``: reverse-mode differentiation through soft value iteration, whose
  backward recursion is a smooth function of r_nu, so jax.grad of nu -> f(nu, pi*(nu)) is exact.
* ``hypergradient_implicit``: the implicit function theorem on the lower-level stationarity
  condition grad_eta J_c(nu, eta*(nu)) = 0 in the minimal policy parametrisation eta
  [H, S, A - 1] (``lower_level``: the gauge-fixed logits, in which the maximiser is unique and
  the Hessian is negative definite on reachable states):

      d eta* / d nu = -[grad^2_{eta eta} J_c]^{-1} grad^2_{eta nu} J_c,
      grad F = grad_nu f - grad_nu < grad_eta J_c(nu, eta*), v >,
      v = [grad^2_{eta eta} J_c]^{-1} grad_eta f(nu, eta*).

  The Hessian is formed densely (H S (A - 1) rows) and solved by LU. Coordinates of unreachable
  (h, s) (``reachable_states``) get the identity in place of their (zero) rows and columns and a
  zero right-hand side: f and J_c do not depend on them, so this is the exact solution on the
  reachable block.

The two agree to rounding (about 1e-14 relative in float64); the implicit form is the template
for stochastic hypergradient estimators (it needs only derivatives at theta*).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zoprl.bilevel.lower_level import (
    logits_from_minimal,
    lower_level_objective,
    minimal_from_logits,
    reachable_states,
    soft_optimal_logits,
)
from zoprl.bilevel.problem import BilevelParams, RewardFn
from zoprl.bilevel.upper_level import upper_objective


def hyperobjective(reward_fn: RewardFn, params: BilevelParams, nu) -> jax.Array:
    """F(nu) = f(nu, pi*(nu)), f exact by enumeration, pi*(nu) by soft value iteration."""
    theta_star = soft_optimal_logits(reward_fn, params, nu)
    return upper_objective(reward_fn, params, nu, jax.nn.softmax(theta_star, axis=-1))


def hypergradient_unrolled(reward_fn: RewardFn, params: BilevelParams, nu):
    """grad F(nu) (a pytree like nu) by differentiating through soft value iteration."""
    return jax.grad(hyperobjective, argnums=2)(reward_fn, params, nu)


def minimal_coordinate_mask(params: BilevelParams, theta: jax.Array) -> jax.Array:
    """Boolean [H * S * (A - 1)]: the minimal coordinates eta_h(s, .) of reachable (h, s)."""
    reachable = reachable_states(params, theta)
    shape = (params.horizon, params.num_states, params.num_actions - 1)
    return jnp.broadcast_to(reachable[..., None], shape).reshape(-1)


def masked_system(matrix: jax.Array, vector: jax.Array, mask: jax.Array):
    """(M A M + (I - M), M b) for the diagonal 0/1 matrix M = diag(mask): the system restricted
    to the coordinates in ``mask``, the others pinned to 0."""
    both = mask[:, None] & mask[None, :]
    eye = jnp.eye(matrix.shape[0], dtype=matrix.dtype)
    return (
        jnp.where(both, matrix, 0.0) + jnp.where(mask, 0.0, 1.0)[:, None] * eye,
        jnp.where(mask, vector, 0.0),
    )


def hypergradient_implicit(reward_fn: RewardFn, params: BilevelParams, nu):
    """grad F(nu) (a pytree like nu) by the implicit function theorem (module doc)."""
    theta_star = jax.lax.stop_gradient(soft_optimal_logits(reward_fn, params, nu))
    eta_shape = theta_star.shape[:-1] + (theta_star.shape[-1] - 1,)
    eta_star = minimal_from_logits(theta_star).reshape(-1)

    def lower(nu_, eta):
        return lower_level_objective(
            reward_fn, params, nu_, logits_from_minimal(eta.reshape(eta_shape))
        )

    def upper(nu_, eta):
        policy = jax.nn.softmax(logits_from_minimal(eta.reshape(eta_shape)), axis=-1)
        return upper_objective(reward_fn, params, nu_, policy)

    grad_nu_f, grad_eta_f = jax.grad(upper, argnums=(0, 1))(nu, eta_star)
    hessian = jax.hessian(lower, argnums=1)(nu, eta_star)
    mask = minimal_coordinate_mask(params, theta_star)
    matrix, rhs = masked_system(0.5 * (hessian + hessian.T), grad_eta_f, mask)
    v = jnp.linalg.solve(matrix, rhs)
    cross = jax.grad(lambda nu_: jnp.vdot(jax.grad(lower, argnums=1)(nu_, eta_star), v))(nu)
    return jax.tree.map(jnp.subtract, grad_nu_f, cross)


__all__ = [
    "hypergradient_implicit",
    "hypergradient_unrolled",
    "hyperobjective",
    "masked_system",
    "minimal_coordinate_mask",
]
