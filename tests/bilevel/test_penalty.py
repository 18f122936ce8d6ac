"""The penalty function Phi_lambda of Kwon et al. (arXiv 2309.01753) on tiny MDPs: its gradient
formula against finite differences of Phi_lambda (Danskin), Phi_lambda <= F, and the bias
||grad Phi_lambda - grad F|| = O(1 / lambda): the log-log slope fitted over lambda = 1e2..1e4
measured -0.9989 to -1.0001 on five instances (two with unreachable states). Jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bilevel_testing import (
    A,
    S,
    hyperobjective,
    instances,
    penalty,
    problem,
    unbatch,
    unrolled,
    with_sparse_start,
)

LAMBDAS = np.geomspace(1e2, 1e4, 9)
SMALL_LAMBDAS = np.array([1e-2, 1e-1, 1.0, 10.0])
STEP = 1e-5
BATCH = 1 + 2 * S * A  # every call below has this batch size: one compilation

# one compiled program: nu and lambda both batched
batched_penalty = jax.jit(jax.vmap(problem.penalty_solution, (None, 0, 0)))


def instance(seed, sparse_start=False):
    params, nu = instances(seed, 1, reference_scale=1.0, branching=1 if sparse_start else 2)
    params = unbatch(params, 0)
    return (with_sparse_start(params) if sparse_start else params), nu[0]


def solve(params, nus, lambdas):
    """batched_penalty on BATCH (nu, lambda) pairs; nu [S, A] is repeated."""
    lambdas = jnp.asarray(np.broadcast_to(np.asarray(lambdas, np.float64), (BATCH,)))
    return batched_penalty(params, jnp.broadcast_to(nus, (BATCH, S, A)), lambdas)


@pytest.mark.parametrize("seed, sparse_start", [(30, False), (32, True)])
def test_penalty_bias_falls_like_one_over_lambda(seed, sparse_start):
    params, nu = instance(seed, sparse_start)
    lambdas = np.concatenate([SMALL_LAMBDAS, LAMBDAS])
    solution = solve(params, nu, lambdas)
    assert bool(jnp.all(solution.converged)), solution.inner_grad_norm
    hyper_value, hyper_grad = hyperobjective(params, nu), unrolled(params, nu)
    assert bool(jnp.all(solution.value <= hyper_value + 1e-12))  # Phi_lambda <= F
    bias = np.linalg.norm(np.asarray(solution.grad - hyper_grad).reshape(len(lambdas), -1), axis=-1)
    large = slice(len(SMALL_LAMBDAS), None)
    slope = np.polyfit(np.log(LAMBDAS), np.log(bias[large]), 1)[0]
    assert abs(slope + 1.0) < 0.02, (slope, bias)
    value_slope = np.polyfit(np.log(LAMBDAS), np.log(hyper_value - solution.value[large]), 1)[0]
    assert abs(value_slope + 1.0) < 0.02, value_slope
    assert np.all(np.diff(bias) < 0), bias


@pytest.mark.parametrize("penalty_weight", [1.0, 10.0])
def test_penalty_gradient_matches_finite_differences(penalty_weight):
    params, nu = instance(33)
    directions = jnp.eye(S * A).reshape(S * A, S, A)
    nus = jnp.concatenate([nu[None], nu + STEP * directions, nu - STEP * directions])
    solution = solve(params, nus, penalty_weight)
    assert bool(jnp.all(solution.converged))
    values = solution.value[1:].reshape(2, S, A)
    finite_difference = (values[0] - values[1]) / (2 * STEP)
    error = np.linalg.norm(solution.grad[0] - finite_difference) / np.linalg.norm(finite_difference)
    assert error < 1e-6, error  # measured 2e-10 (lambda = 1), 4e-9 (10)


def test_jit_matches_vmap():
    params, nu = instance(34)
    lambdas = np.geomspace(0.1, 1e3, BATCH)
    batched = solve(params, nu, lambdas)
    single = penalty(params, nu, lambdas[7])
    for got, want in zip(
        jax.tree.leaves(unbatch(batched, 7)), jax.tree.leaves(single), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
