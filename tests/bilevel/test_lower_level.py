"""Lower level and problem data: theta*(nu) is the maximiser of J_c(nu, .), the documented
Hessian in the minimal parametrisation, reachability, reward parametrisations, instances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bilevel_testing import A, H, S, instances, problem, unbatch, with_sparse_start

from zoprl.bilevel import (
    linear_reward,
    logits_from_minimal,
    lower_level_objective,
    make_bilevel_params,
    minimal_from_logits,
    reachable_states,
    reward_model_table,
    soft_optimal_logits,
    tabular_reward,
)
from zoprl.envs import TabularMDP
from zoprl.reward_models import make_reward_model
from zoprl.soft_value import occupancy_measures

optimal_logits = jax.jit(soft_optimal_logits, static_argnums=0)
objective = jax.jit(lower_level_objective, static_argnums=0)


@pytest.fixture(scope="module")
def instance():
    params, nu = instances(0, 1)
    return unbatch(params, 0), nu[0]


def test_soft_optimal_logits_maximise_lower_level(instance):
    params, nu = instance
    theta_star = optimal_logits(tabular_reward, params, nu)
    best = objective(tabular_reward, params, nu, theta_star)
    grad = jax.jit(jax.grad(lower_level_objective, argnums=3), static_argnums=0)(
        tabular_reward, params, nu, theta_star
    )
    assert float(jnp.max(jnp.abs(grad))) < 1e-12
    random = 2.0 * jax.random.normal(jax.random.key(1), (50, H, S, A))
    others = jax.vmap(objective, (None, None, None, 0))(tabular_reward, params, nu, random)
    assert float(jnp.max(others)) < float(best)
    # time-homogeneous logits [S, A] are a subset of the time-dependent ones
    shared = jax.vmap(objective, (None, None, None, 0))(tabular_reward, params, nu, random[:, 0])
    assert float(jnp.max(shared)) < float(best)


def test_minimal_parametrisation_round_trip():
    theta = jax.random.normal(jax.random.key(2), (H, S, A))
    eta = minimal_from_logits(theta)
    assert eta.shape == (H, S, A - 1)
    np.testing.assert_allclose(
        jax.nn.softmax(logits_from_minimal(eta)), jax.nn.softmax(theta), rtol=1e-14
    )
    np.testing.assert_allclose(minimal_from_logits(logits_from_minimal(eta)), eta, rtol=1e-14)


def test_lower_level_hessian_is_block_diagonal_fisher(instance):
    """At eta*: d^2 J_c / d eta^2 = -c d_h(s) (diag(pi) - pi pi^T) over the first A - 1
    actions, zero across different (h, s) (the form the implicit solver relies on)."""
    params, nu = instance
    theta_star = optimal_logits(tabular_reward, params, nu)
    eta_star = minimal_from_logits(theta_star)
    hessian = jax.jit(
        jax.hessian(
            lambda eta: lower_level_objective(tabular_reward, params, nu, logits_from_minimal(eta))
        )
    )(eta_star)
    pi = jax.nn.softmax(theta_star)
    state_occupancy = jax.jit(occupancy_measures)(params.transition, params.start, pi).sum(-1)
    p = pi[..., :-1]
    fisher = jax.vmap(jnp.diag)(p.reshape(-1, A - 1)).reshape(H, S, A - 1, A - 1) - (
        p[..., :, None] * p[..., None, :]
    )
    expected = jnp.zeros((H, S, A - 1, H, S, A - 1))
    hs = np.indices((H, S)).reshape(2, -1)
    expected = expected.at[hs[0], hs[1], :, hs[0], hs[1], :].set(
        (-params.kl_coef * state_occupancy[..., None, None] * fisher)[hs[0], hs[1]]
    )
    np.testing.assert_allclose(hessian, expected, atol=1e-13)


def test_reachable_states():
    params, _ = instances(3, 1, branching=1)
    params = with_sparse_start(unbatch(params, 0))
    reachable = reachable_states(params, jnp.zeros((H, S, A)))
    np.testing.assert_array_equal(reachable[0], [True, False, False])
    assert bool(jnp.all(reachable_states(unbatch(instances(3, 1)[0], 0), jnp.zeros((H, S, A)))))


def test_reward_parametrisations(instance):
    _, nu = instance
    one_hot = jnp.eye(S * A).reshape(S, A, S * A)
    np.testing.assert_allclose(linear_reward(one_hot)(nu.reshape(-1)), nu, rtol=1e-15)
    env = TabularMDP(S, A, H)
    tabular_model = make_reward_model("tabular", env)
    np.testing.assert_allclose(reward_model_table(tabular_model, S, A)(nu), nu, rtol=1e-15)
    mlp = make_reward_model("mlp", env, hidden=(4,))
    table = reward_model_table(mlp, S, A)(mlp.init(jax.random.key(4)))
    assert table.shape == (S, A)


def test_instances_are_valid_and_vmappable():
    params, _ = instances(5, 4, kl_coef=0.5, reference_scale=1.0)
    assert params.reference.shape == (4, H, S, A)
    np.testing.assert_allclose(params.reference.sum(-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(params.transition.sum(-1), 1.0, rtol=1e-14)
    assert params.transition.dtype == jnp.float64
    one = unbatch(instances(6, 1)[0], 0)
    assert one.horizon == H and one.num_states == S and one.num_actions == A
    built = make_bilevel_params(one.transition, one.start, one.true_reward, one.reference[0], H)
    np.testing.assert_allclose(built.reference, one.reference)
    with pytest.raises(ValueError, match="kl_coef"):
        make_bilevel_params(
            one.transition, one.start, one.true_reward, one.reference[0], H, kl_coef=0.0
        )


def test_jit_and_vmap_over_instances():
    params, nu = instances(7, 3)
    theta = jax.jit(jax.vmap(soft_optimal_logits, (None, 0, 0)), static_argnums=0)(
        tabular_reward, params, nu
    )
    values = jax.jit(jax.vmap(lower_level_objective, (None, 0, 0, 0)), static_argnums=0)(
        tabular_reward, params, nu, theta
    )
    reach = jax.jit(jax.vmap(reachable_states))(params, theta)
    for i in range(3):
        one, nu_i = unbatch(params, i), nu[i]
        np.testing.assert_allclose(
            theta[i], optimal_logits(tabular_reward, one, nu_i), rtol=1e-12, atol=1e-14
        )
        np.testing.assert_allclose(
            values[i], objective(tabular_reward, one, nu_i, theta[i]), rtol=1e-12
        )
        np.testing.assert_array_equal(reach[i], reachable_states(one, theta[i]))


def test_results_follow_input_dtype(instance):
    """float32 inputs give float32 results even with x64 on: no hard-coded float64 (traced
    with eval_shape, so nothing compiles)."""
    params, nu = jax.tree.map(lambda x: x.astype(jnp.float32), instance)
    policy = jnp.full((H, S, A), 1.0 / A, jnp.float32)
    calls = {
        "soft_optimal_logits": (problem.soft_optimal_logits, (params, nu)),
        "lower_level_objective": (problem.lower_level_objective, (params, nu, policy)),
        "upper_objective": (problem.upper_objective, (params, nu, policy)),
        "upper_objective_monte_carlo": (
            problem.upper_objective_monte_carlo,
            (jax.random.key(0), params, nu, policy),
        ),
        "hyperobjective": (problem.hyperobjective, (params, nu)),
        "hypergradient_unrolled": (problem.hypergradient_unrolled, (params, nu)),
        "hypergradient_implicit": (problem.hypergradient_implicit, (params, nu)),
        "penalty_solution": (problem.penalty_solution, (params, nu, jnp.float32(10.0))),
    }
    for name, (fn, args) in calls.items():
        for leaf in jax.tree.leaves(jax.eval_shape(fn, *args)):
            if jnp.issubdtype(leaf.dtype, jnp.floating):
                assert leaf.dtype == jnp.float32, name
