"""The penalty reformulation of bilevel RLHF (Kwon et al., ICLR 2024, arXiv 2309.01753, applied
to the bilevel RLHF problem of arXiv 2410.15610), exactly on tiny MDPs.

For a penalty weight lambda > 0, with z* = theta*(nu) the lower-level maximiser,

    Phi_lambda(nu) = min_theta { f(nu, theta) + lambda ( J_c(nu, z*) - J_c(nu, theta) ) },

    grad Phi_lambda(nu) = grad_nu f(nu, theta_lambda)
                          + lambda ( grad_nu J_c(nu, z*) - grad_nu J_c(nu, theta_lambda) ),

theta_lambda the inner minimiser (Danskin's theorem for the inner min; the envelope theorem for
J_c(nu, theta*(nu)) = max_theta J_c(nu, theta)). Phi_lambda <= F (theta = z* is feasible), and
near a lower-level solution with a non-singular Hessian, theta_lambda - z* = O(1 / lambda) and
grad Phi_lambda - grad F = O(1 / lambda), F(nu) = f(nu, theta*(nu)) the hyperobjective.

The inner problem is solved in the minimal (gauge-fixed) logits eta [H, S, A - 1] of
``lower_level`` over the reachable (h, s) (the other coordinates stay at z*, where neither term
depends on them), by a ``lax.while_loop`` of safeguarded Newton steps from the warm start z*:
the direction is -|Hessian|^{-1} gradient (eigenvalues replaced by their absolute values, floored
at 100 eps times the largest, so it always descends), capped at 5 in max-norm, with a backtracking
line search over the step sizes 2^0, ..., 2^-29 (Armijo constant 1e-4, with a slack of 64 eps
times |f| + lambda |J_c| for rounding). For large lambda the inner objective is strongly convex
near z* and these are pure Newton steps, converging quadratically.

Stopping rule. With g the max-norm of the inner gradient and scale = 1 + |J_c(nu, z*)|, the
loop stops (converged) when g <= tolerance * scale (default tolerance 32 eps of the working
dtype: 7.1e-15 in float64, 3.8e-6 in float32), or when it has reached the rounding floor: a full
Newton step with a positive definite Hessian failed to halve g while g was already below
1000 eps (1 + lambda) scale, the size of the rounding error of lambda grad J_c (O(1) at
theta_lambda but summed from terms of size lambda |J_c|). Otherwise it stops unconverged after
``max_iterations`` steps. The error of grad Phi_lambda is about g over the curvature of J_c per
unit of state occupancy, so in float32 the formula loses about log10(lambda) digits to the
cancellation in lambda (grad_nu J_c(nu, z*) - grad_nu J_c(nu, theta_lambda)): use float64 for
large lambda.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from zoprl.bilevel.hypergradient import masked_system, minimal_coordinate_mask
from zoprl.bilevel.lower_level import (
    logits_from_minimal,
    lower_level_objective,
    minimal_from_logits,
    soft_optimal_logits,
)
from zoprl.bilevel.problem import BilevelParams, RewardFn
from zoprl.bilevel.upper_level import upper_objective

NUM_LINE_SEARCH_STEPS = 30
MAX_STEP = 5.0
ARMIJO = 1e-4


class PenaltySolution(NamedTuple):
    """Phi_lambda(nu) (value), its gradient (a pytree like nu), the inner minimiser
    theta_lambda and the lower-level solution z* (logits [H, S, A]), the Newton steps taken,
    the max-norm of the inner gradient at theta_lambda and whether the stopping rule was met
    (rather than ``max_iterations``)."""

    value: jax.Array
    grad: object
    inner_logits: jax.Array
    lower_logits: jax.Array
    iterations: jax.Array
    inner_grad_norm: jax.Array
    converged: jax.Array


class _InnerProblem(NamedTuple):
    """The inner problem min_eta f(nu, theta(eta)) - lambda J_c(nu, theta(eta)) at a fixed nu
    (gradients stopped), over the flattened minimal logits eta of shape ``eta_shape``
    [H, S, A - 1] where ``mask`` is true, with the working dtype's ``eps``, the line-search
    ``step_sizes`` (0, then 2^0, ..., 2^-(K-1)) and the thresholds of the stopping rule
    (module doc). A plain container closed over by the functions below, not a pytree argument
    of any transformation."""

    reward_fn: RewardFn
    params: BilevelParams
    nu: object
    lam: jax.Array
    mask: jax.Array
    eta_shape: tuple
    eps: object
    step_sizes: jax.Array
    tol: jax.Array
    rounding_floor: jax.Array


def _inner_problem(
    reward_fn, params, nu, penalty_weight, z_star, dtype, tolerance
) -> _InnerProblem:
    """The inner problem of Phi_lambda(nu) around the lower-level solution ``z_star``, in the
    working ``dtype``: the stopping tolerance is ``tolerance`` (default 32 eps) times
    scale = 1 + |J_c(nu, z*)|, the rounding floor 1000 eps (1 + lambda) scale."""
    eta_shape = z_star.shape[:-1] + (z_star.shape[-1] - 1,)
    eps = jnp.finfo(dtype).eps
    lam = jnp.asarray(penalty_weight, dtype)
    mask = minimal_coordinate_mask(params, z_star)
    nu_fixed = jax.lax.stop_gradient(nu)
    scale = 1.0 + jnp.abs(lower_level_objective(reward_fn, params, nu_fixed, z_star))
    tol = (32 * eps if tolerance is None else jnp.asarray(tolerance, dtype)) * scale
    rounding_floor = 1e3 * eps * (1.0 + lam) * scale
    step_sizes = jnp.concatenate(
        [jnp.zeros(1, dtype), 2.0 ** -jnp.arange(NUM_LINE_SEARCH_STEPS, dtype=dtype)]
    )
    return _InnerProblem(
        reward_fn, params, nu_fixed, lam, mask, eta_shape, eps, step_sizes, tol, rounding_floor
    )


def _logits(inner: _InnerProblem, eta):
    """The logits theta [H, S, A] of the flattened minimal logits eta."""
    return logits_from_minimal(eta.reshape(inner.eta_shape))


def _objectives(inner: _InnerProblem, nu, eta):
    """(f(nu, theta), J_c(nu, theta)) at theta = the logits of eta."""
    theta = _logits(inner, eta)
    return (
        upper_objective(inner.reward_fn, inner.params, nu, jax.nn.softmax(theta, axis=-1)),
        lower_level_objective(inner.reward_fn, inner.params, nu, theta),
    )


def _inner_objective(inner: _InnerProblem, eta):
    """f(nu, theta(eta)) - lambda J_c(nu, theta(eta)) at the fixed nu."""
    f, j = _objectives(inner, inner.nu, eta)
    return f - inner.lam * j


def _masked_inner_grad(inner: _InnerProblem, eta):
    """The gradient of the inner objective in eta, zero off the mask (twice: value and aux, for
    ``jax.jacfwd(..., has_aux=True)``)."""
    grad = jnp.where(inner.mask, jax.grad(lambda e: _inner_objective(inner, e))(eta), 0.0)
    return grad, grad


def _descent_direction(inner: _InnerProblem, hessian, grad):
    """The safeguarded Newton direction -|H|^{-1} grad on the masked system (eigenvalues by
    absolute value, floored at 100 eps times the largest), capped at MAX_STEP in max-norm and
    zero off the mask. Returns (direction, uncapped Newton direction, eigenvalues)."""
    matrix, rhs = masked_system(0.5 * (hessian + hessian.T), grad, inner.mask)
    eigval, eigvec = jnp.linalg.eigh(matrix)
    scaled = jnp.maximum(jnp.abs(eigval), 1e2 * inner.eps * jnp.max(jnp.abs(eigval)))
    newton = -eigvec @ ((eigvec.T @ rhs) / scaled)
    direction = newton * jnp.minimum(1.0, MAX_STEP / jnp.max(jnp.abs(newton)))
    direction = jnp.where(inner.mask, direction, 0.0)
    return direction, newton, eigval


def _line_search(inner: _InnerProblem, eta, grad, direction):
    """The index into ``step_sizes`` of the largest step 2^-k that meets the Armijo condition
    (with a rounding slack of 64 eps (|f| + lambda |J_c|)); NUM_LINE_SEARCH_STEPS if none does."""
    step_sizes, lam = inner.step_sizes, inner.lam
    f, j = jax.vmap(lambda t: _objectives(inner, inner.nu, eta + t * direction))(step_sizes)
    trial, current = f - lam * j, f[0] - lam * j[0]
    slack = 64 * inner.eps * (jnp.abs(f[0]) + lam * jnp.abs(j[0]))
    accept = trial <= current + ARMIJO * step_sizes * jnp.vdot(grad, direction) + slack
    accept = accept.at[0].set(False)
    return jnp.where(jnp.any(accept), jnp.argmax(accept), NUM_LINE_SEARCH_STEPS)


def _newton_step(inner: _InnerProblem, state):
    """Gradient and Hessian at eta; stop there if converged, else take a step. The state is
    (eta, previous gradient max-norm, whether the previous step was a full Newton step with a
    positive definite Hessian, done, steps taken)."""
    eta, previous_norm, previous_was_newton, _, it = state
    hessian, grad = jax.jacfwd(lambda e: _masked_inner_grad(inner, e), has_aux=True)(eta)
    grad_norm = jnp.max(jnp.abs(grad))
    stalled = (
        previous_was_newton
        & (grad_norm > 0.5 * previous_norm)
        & (grad_norm <= inner.rounding_floor)
    )
    done = (grad_norm <= inner.tol) | stalled
    direction, newton, eigval = _descent_direction(inner, hessian, grad)
    index = _line_search(inner, eta, grad, direction)
    is_newton = (index == 1) & jnp.all(eigval > 0) & (jnp.max(jnp.abs(newton)) <= MAX_STEP)
    new_eta = jnp.where(done, eta, eta + inner.step_sizes[index] * direction)
    return new_eta, grad_norm, is_newton, done, it + jnp.where(done, 0, 1)


def _not_done(max_iterations: int, state):
    """Whether the Newton loop goes on: not stopped and fewer than ``max_iterations`` steps."""
    *_, done, it = state
    return ~done & (it < max_iterations)


def _minimise_inner(inner: _InnerProblem, eta_start, max_iterations: int):
    """Safeguarded Newton steps from ``eta_start`` until the stopping rule holds or
    ``max_iterations`` steps; returns (theta_lambda as minimal logits, converged, steps)."""
    inf, false = jnp.asarray(jnp.inf, eta_start.dtype), jnp.bool_(False)
    eta_lam, _, _, converged, iterations = jax.lax.while_loop(
        partial(_not_done, max_iterations),
        partial(_newton_step, inner),
        (eta_start, inf, false, false, jnp.int32(0)),
    )
    return eta_lam, converged, iterations


def _penalty_objective(inner: _InnerProblem, z_star, eta_lam, nu):
    """f(nu, theta_lambda) + lambda (J_c(nu, z*) - J_c(nu, theta_lambda)) with theta_lambda and
    z* held fixed: its value and nu-gradient are Phi_lambda(nu) and grad Phi_lambda(nu)."""
    f_lam, j_lam = _objectives(inner, nu, eta_lam)
    lower = lower_level_objective(inner.reward_fn, inner.params, nu, z_star)
    return f_lam + inner.lam * (lower - j_lam)


def penalty_solution(
    reward_fn: RewardFn,
    params: BilevelParams,
    nu,
    penalty_weight,
    *,
    tolerance=None,
    max_iterations: int = 100,
) -> PenaltySolution:
    """Phi_lambda(nu) and grad Phi_lambda(nu) for lambda = ``penalty_weight`` (module doc).
    Vmappable over params, nu and penalty_weight; ``max_iterations`` is static."""
    z_star = jax.lax.stop_gradient(soft_optimal_logits(reward_fn, params, nu))
    eta_star = minimal_from_logits(z_star).reshape(-1)
    inner = _inner_problem(reward_fn, params, nu, penalty_weight, z_star, eta_star.dtype, tolerance)
    eta_lam, converged, iterations = _minimise_inner(inner, eta_star, max_iterations)
    eta_lam = jax.lax.stop_gradient(eta_lam)
    inner_grad_norm = jnp.max(jnp.abs(_masked_inner_grad(inner, eta_lam)[0]))
    value, grad = jax.value_and_grad(lambda n: _penalty_objective(inner, z_star, eta_lam, n))(nu)
    return PenaltySolution(
        value, grad, _logits(inner, eta_lam), z_star, iterations, inner_grad_norm, converged
    )


def penalty_gradient(reward_fn: RewardFn, params: BilevelParams, nu, penalty_weight, **kwargs):
    """grad Phi_lambda(nu) alone (see ``penalty_solution`` for the keyword arguments)."""
    return penalty_solution(reward_fn, params, nu, penalty_weight, **kwargs).grad


__all__ = ["PenaltySolution", "penalty_gradient", "penalty_solution"]
