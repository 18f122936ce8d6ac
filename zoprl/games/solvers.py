"""Equilibria of the KL-regularised preference game (arXiv 2402.07314; see ``zoprl.games.exact``).

The equilibrium of one context is the fixed point pi* = pi0 exp(eta P pi*) / Z. Every solver here
works in the "value" coordinates v in R^K of Gibbs policies,

    pi(v) = pi0 exp(eta v) / Z(v),        G(v) = v - P pi(v),        pi* = pi(v*) with G(v*) = 0,

which keeps the support of pi0 exactly (no log 0 arithmetic) and turns each method into a short
recursion on v. All solvers are written for one context (P [K, K], pi0 [K]) and are pure and
jit-able; vmap them over contexts and games. ``equilibrium`` is the validated public entry point.

* ``mirror_descent``: magnetic mirror descent in self-play (Sokota et al. 2022, arXiv 2206.05825),
  log pi_{k+1} = normalise((log pi_k + alpha tau log pi0 + alpha P pi_k) / (1 + alpha tau)),
  tau = 1 / eta. Started at pi0 its iterates are Gibbs policies and the update is exactly the
  damped fixed-point step v_{k+1} = v_k + beta (P pi(v_k) - v_k), beta = alpha tau / (1 + alpha
  tau). Default step alpha = tau / L^2 with L = max_ab |P_ab - 1/2|: pi -> P pi is L-Lipschitz from
  l1 to l_inf on differences of distributions (P d = (P - 1/2) d when sum(d) = 0) and the entropy is
  1-strongly convex in l1, so Sokota et al.'s linear-convergence guarantee for steps alpha <= tau /
  L^2 gives KL(pi*, pi_k) <= (1 + tau^2 / L^2)^(-k) KL(pi*, pi0) (checked in the tests). For the
  linearised iteration, whose eigenvalues are (1 + i alpha w) / (1 + alpha tau) with w real, the
  modulus is smallest at alpha = tau / w^2: the default is that choice with the bound L for w.
  On random K = 10 games it needs 10-20 times fewer iterations than alpha = min(0.05, 0.5 / eta).
* ``nash_md``: Nash-MD (Munos et al. 2023, arXiv 2312.00886), pi_mu ∝ pi_k^(1 - alpha tau)
  pi0^(alpha tau), then pi_{k+1} ∝ pi_mu exp(alpha P pi_mu); in v: v_mu = (1 - alpha tau) v_k,
  v_{k+1} = v_mu + alpha tau P pi(v_mu). With a constant step its fixed point is biased: pi_mu
  converges to the equilibrium for eta - alpha (and pi_k to the best response to it), so the gap
  stalls at a level of order alpha^2 instead of reaching 0 (only a decreasing step removes the
  bias). Default alpha = min(0.05, 0.5 / eta).
* ``best_response_iteration``: undamped exact self-play, pi_{k+1} = BR(pi_k) (the fixed point of
  exact self-play IPO); it cycles when eta is large on intransitive games (e.g. a Condorcet cycle).
* ``newton_equilibrium``: damped Newton on G. Its Jacobian I - eta P J(pi), J = diag(pi) - pi pi^T,
  equals I - eta S J with S = P - 1/2 skew-symmetric (1^T J = 0); the eigenvalues of S J are those
  of the skew matrix J^(1/2) S J^(1/2), purely imaginary, so the Jacobian has eigenvalues
  1 - i eta w
  and is invertible everywhere. The Newton direction is then a descent direction of ||G||^2, G is
  coercive (P pi is bounded), and Armijo backtracking converges globally to the unique zero,
  quadratically near it: at most ~20 iterations to round-off for eta <= 20 on random games
  (median 4-7), ~70 at eta = 100, and up to a few hundred at eta = 1000.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from zoprl.games.checks import check_game, float_dtype
from zoprl.games.exact import context_best_response, context_gap, gap_given_values
from zoprl.validation import check_int

NEWTON_MAX_ITERATIONS = 2000  # eta <= 100 needs < 70 on random games, eta = 1000 up to ~500
NEWTON_NUM_BACKTRACKS = 10  # step sizes 1, 1/4, ..., 4^-9 tried at once
_ARMIJO = 1e-4


class SolverResult(NamedTuple):
    """policy: [K] (the last iterate); num_iterations: int32, updates made; gap: Gap(policy)."""

    policy: jax.Array
    num_iterations: jax.Array
    gap: jax.Array


def _prepare(P, pi0, eta):
    chex.assert_rank([P, pi0], [2, 1])
    chex.assert_equal_shape_prefix([P, pi0], 1)
    dtype = float_dtype(P, pi0)
    P, pi0 = jnp.asarray(P, dtype), jnp.asarray(pi0, dtype)
    return P, jnp.log(pi0), pi0, jnp.asarray(eta, dtype)


def _gibbs(v, log_pi0, eta):
    """pi(v) = pi0 exp(eta v) / Z."""
    return jax.nn.softmax(log_pi0 + eta * v)


def _iterate_until_gap(update, P, pi0, eta, log_pi0, tol, max_iterations):
    """Run v <- update(v, P pi(v)) from v = 0 (pi = pi0) while Gap(pi(v)) >= tol and
    k < max_iterations; the values P pi(v) serve both the gap and the next update."""
    tol = jnp.asarray(tol, pi0.dtype)

    def evaluate(v):
        pi = _gibbs(v, log_pi0, eta)
        values = P @ pi
        return values, gap_given_values(pi, values, pi0, eta)

    def cond(state):
        k, _, _, gap = state
        return (gap >= tol) & (k < max_iterations)

    def body(state):
        k, v, values, _ = state
        v = update(v, values)
        return (k + 1, v, *evaluate(v))

    v0 = jnp.zeros_like(pi0)
    k, v, _, gap = jax.lax.while_loop(cond, body, (jnp.int32(0), v0, *evaluate(v0)))
    return SolverResult(_gibbs(v, log_pi0, eta), k, gap)


def mirror_descent(P, pi0, eta, tol=1e-10, max_iterations=100_000, step=None) -> SolverResult:
    """Magnetic mirror descent in self-play from pi0 until Gap < tol (module docstring).

    P: [K, K]; pi0: [K]; eta, tol, step (alpha; default tau / L^2) scalars; max_iterations an
    int (may be traced). Returns the last iterate, the number of updates and its gap."""
    P, log_pi0, pi0, eta = _prepare(P, pi0, eta)
    if step is None:  # beta = alpha tau / (1 + alpha tau) = tau^2 / (L^2 + tau^2), finite at L = 0
        lipschitz_sq = jnp.max(jnp.abs(P - 0.5)) ** 2
        beta = 1.0 / (1.0 + (eta**2) * lipschitz_sq)
    else:
        step_tau = jnp.asarray(step, pi0.dtype) / eta
        beta = step_tau / (1.0 + step_tau)

    def update(v, values):
        return v + beta * (values - v)

    return _iterate_until_gap(update, P, pi0, eta, log_pi0, tol, max_iterations)


def nash_md(P, pi0, eta, tol=1e-10, max_iterations=100_000, step=None) -> SolverResult:
    """Nash-MD from pi0 until Gap < tol or max_iterations (biased for a constant step; module
    docstring). step alpha (default min(0.05, 0.5 / eta)) must satisfy alpha <= eta."""
    P, log_pi0, pi0, eta = _prepare(P, pi0, eta)
    step = jnp.minimum(0.05, 0.5 / eta) if step is None else jnp.asarray(step, pi0.dtype)
    mix = step / eta  # alpha tau, the weight of pi0 in the geometric mixture

    def update(v, values):
        del values  # the opponent is the geometric mixture, not pi(v)
        v_mixture = (1.0 - mix) * v
        return v_mixture + mix * (P @ _gibbs(v_mixture, log_pi0, eta))

    return _iterate_until_gap(update, P, pi0, eta, log_pi0, tol, max_iterations)


def best_response_iteration(P, pi0, eta, num_iterations: int, init=None):
    """Trajectory [num_iterations + 1, K] of pi_{k+1} = BR(pi_k) from init (default pi0).

    num_iterations is static (the scan length). No damping: for large eta on an intransitive
    game the iterates cycle around pi* instead of converging."""
    num_iterations = check_int("num_iterations", num_iterations, 0)
    P, _, pi0, eta = _prepare(P, pi0, eta)
    init = pi0 if init is None else jnp.asarray(init, pi0.dtype)
    chex.assert_equal_shape([init, pi0])

    def step(pi, _):
        nxt = context_best_response(pi, P, pi0, eta)
        return nxt, nxt

    _, trajectory = jax.lax.scan(step, init, None, length=num_iterations)
    return jnp.concatenate([init[None], trajectory])


def newton_equilibrium(
    P,
    pi0,
    eta,
    tol=0.0,
    max_iterations=NEWTON_MAX_ITERATIONS,
    init=None,
    num_backtracks: int = NEWTON_NUM_BACKTRACKS,
) -> SolverResult:
    """Damped Newton on G(v) = v - P pi(v) with Armijo backtracking on ||G||^2 (module docstring).

    Starts at v = P init (pi = BR(init)) or v = 0 (pi = pi0); stops when Gap < tol, when no step
    size decreases ||G||^2 (round-off reached; the default tol = 0 runs until then), or after
    max_iterations. Candidate step sizes 4^-j, j < num_backtracks (static), are tried in turn
    (``_backtrack``); the largest that satisfies Armijo is taken, else the best one if it still
    decreases ||G||^2."""
    P, log_pi0, pi0, eta = _prepare(P, pi0, eta)
    num_actions = pi0.shape[0]
    tol = jnp.asarray(tol, pi0.dtype)

    def residual_sq(v):
        g = v - P @ _gibbs(v, log_pi0, eta)
        return g @ g

    def gap_of(v):
        return context_gap(_gibbs(v, log_pi0, eta), P, pi0, eta)

    def newton_direction(v):
        pi = _gibbs(v, log_pi0, eta)
        jacobian = jnp.eye(num_actions, dtype=pi.dtype) - eta * P @ (
            jnp.diag(pi) - jnp.outer(pi, pi)
        )
        return -jnp.linalg.solve(jacobian, v - P @ pi)

    v0 = jnp.zeros_like(pi0) if init is None else P @ jnp.asarray(init, pi0.dtype)
    k, v, gap = damped_newton(
        residual_sq,
        newton_direction,
        v0,
        max_iterations,
        num_backtracks,
        monitor=gap_of,
        keep_going=lambda gap: gap >= tol,
    )
    return SolverResult(_gibbs(v, log_pi0, eta), k, gap)


def damped_newton(
    residual_sq,
    newton_direction,
    v0,
    max_iterations,
    num_backtracks: int = NEWTON_NUM_BACKTRACKS,
    monitor=None,
    keep_going=None,
):
    """The damped-Newton loop shared by ``newton_equilibrium`` and the MDP game's equilibrium
    (``zoprl.games.mdp_game.equilibrium``): from v0, v <- v + s d with d = newton_direction(v)
    and s the step size of ``_backtrack`` on the merit residual_sq(v) = ||G(v)||^2 (candidates
    4^-j, j < num_backtracks, static); a step is taken only if it decreases the merit, else the
    loop stops (round-off reached). It also stops after max_iterations, or when
    keep_going(monitor(v)) is false (monitor(v) is evaluated at v0 and after every step).

    Returns (the updates made, the last v, monitor(v) there; None without a monitor)."""
    step_sizes = 0.25 ** jnp.arange(num_backtracks, dtype=v0.dtype)
    watch = (lambda v: None) if monitor is None else monitor

    def cond(state):
        k, _, _, watched, stalled = state
        go = (k < max_iterations) & ~stalled
        return go if keep_going is None else keep_going(watched) & go

    def body(state):
        k, v, merit, _, _ = state
        direction = newton_direction(v)
        size, best_merit = _backtrack(residual_sq, v, direction, merit, step_sizes)
        improved = best_merit < merit
        v = v + jnp.where(improved, size, 0.0) * direction
        return k + 1, v, jnp.where(improved, best_merit, merit), watch(v), ~improved

    state = (jnp.int32(0), v0, residual_sq(v0), watch(v0), jnp.bool_(False))
    k, v, _, watched, stalled = jax.lax.while_loop(cond, body, state)
    return k - stalled.astype(k.dtype), v, watched


def _backtrack(residual_sq, v, direction, merit, step_sizes):
    """(step size, merit there): the largest of ``step_sizes`` (decreasing) that satisfies
    Armijo on ||G||^2, else the one with the lowest merit. The sizes are tried one after the
    other and the search stops at the first Armijo step, so a batch of games under vmap
    evaluates only as many sizes as its slowest member needs (usually one)."""
    num = step_sizes.shape[0]

    def cond(carry):
        j, _, _, found = carry
        return (j < num) & ~found

    def try_size(carry):
        j, best_size, best_merit, _ = carry
        size = jnp.sum(jnp.where(jnp.arange(num) == j, step_sizes, 0.0))  # no gather
        trial = residual_sq(v + size * direction)
        armijo = trial <= (1.0 - 2.0 * _ARMIJO * size) * merit
        take = armijo | (trial < best_merit)
        best_size = jnp.where(take, size, best_size)
        return j + 1, best_size, jnp.where(take, trial, best_merit), armijo

    start = (jnp.int32(0), step_sizes[0], jnp.asarray(jnp.inf, merit.dtype), jnp.bool_(False))
    _, size, best_merit, _ = jax.lax.while_loop(cond, try_size, start)
    return size, best_merit


def _equilibrium_policy(P, pi0, eta):
    return newton_equilibrium(P, pi0, eta).policy


_equilibrium_contexts = jax.jit(jax.vmap(_equilibrium_policy, in_axes=(0, 0, None)))


def equilibrium(P, pi0, eta):
    """The Nash equilibrium pi*(a|x) = pi0(a|x) exp(eta (P_x pi*)(a)) / Z_x of the game.

    P: [X, K, K] or [K, K] (shared by all contexts); pi0: [X, K] or [K]; eta > 0 a scalar (Python
    float or array). Returns pi* with pi0's shape, in the inputs' float dtype, solved per context by
    damped Newton (``newton_equilibrium``) to round-off: Gap(pi*) ~ 1e-30 and the fixed-point
    residual ~ eta * 1e-16 in float64; float32 precision in float32. Concrete inputs are validated
    (one ValueError naming the bad value). Works under jit and vmap."""
    check_game(P, eta, pi0=pi0)
    if np.ndim(P) == 3 and np.ndim(pi0) == 1:
        raise ValueError(
            f"pi0 has shape {np.shape(pi0)} but P is batched over contexts "
            f"{np.shape(P)}: give pi0 as [X, K] (pi* has the shape of pi0)"
        )
    dtype = float_dtype(P, pi0)
    P, pi0 = jnp.asarray(P, dtype), jnp.asarray(pi0, dtype)
    unbatched = pi0.ndim == 1
    pi0 = jnp.atleast_2d(pi0)
    P = jnp.broadcast_to(P, pi0.shape[:1] + P.shape[-2:])
    policy = _equilibrium_contexts(P, pi0, jnp.asarray(eta, dtype))
    return policy[0] if unbatched else policy


__all__ = [
    "SolverResult",
    "best_response_iteration",
    "damped_newton",
    "equilibrium",
    "mirror_descent",
    "nash_md",
    "newton_equilibrium",
]
