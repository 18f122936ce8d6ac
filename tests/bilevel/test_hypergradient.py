"""The exact hypergradient grad F(nu): unrolled through soft value iteration against central
finite differences of F (float64, rtol 1e-5), and against the implicit-function-theorem form
(rtol 1e-9), for tabular and MLP reward models, with unreachable states, under jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bilevel_testing import (
    A,
    H,
    S,
    batched_implicit,
    batched_unrolled,
    hyperobjective,
    implicit,
    instances,
    unbatch,
    unrolled,
    with_sparse_start,
)
from jax.flatten_util import ravel_pytree

from zoprl.bilevel import (
    hypergradient_implicit,
    hypergradient_unrolled,
    reward_model_table,
)
from zoprl.envs import TabularMDP
from zoprl.reward_models import make_reward_model

NUM_INSTANCES = 3
STEP = 1e-5


@pytest.fixture(scope="module")
def batch():
    return instances(20, NUM_INSTANCES, reference_scale=1.0)


def relative_error(got, want):
    return float(np.linalg.norm(np.ravel(got - want)) / np.linalg.norm(np.ravel(want)))


def test_unrolled_hypergradient_matches_finite_differences(batch):
    params, nu = batch
    directions = jnp.eye(S * A).reshape(S * A, S, A)

    def central_difference(params, nu):
        f = jax.vmap(hyperobjective, (None, 0))
        return (
            (f(params, nu + STEP * directions) - f(params, nu - STEP * directions)) / (2 * STEP)
        ).reshape(S, A)

    finite_difference = jax.jit(jax.vmap(central_difference))(params, nu)
    grads = batched_unrolled(params, nu)
    errors = [relative_error(grads[i], finite_difference[i]) for i in range(NUM_INSTANCES)]
    assert max(errors) < 1e-5, errors  # measured 1e-10 to 2e-10


@pytest.mark.parametrize("sparse_start", [False, True])
def test_implicit_matches_unrolled(batch, sparse_start):
    params, nu = batch
    if sparse_start:  # start in state 0 with one next state per (s, a): unreachable (h, s)
        params, nu = instances(21, NUM_INSTANCES, branching=1)
        params = with_sparse_start(params)
    via_unrolling, via_implicit = batched_unrolled(params, nu), batched_implicit(params, nu)
    errors = [relative_error(via_implicit[i], via_unrolling[i]) for i in range(NUM_INSTANCES)]
    assert max(errors) < 1e-9, errors  # measured about 1e-15
    for i in range(NUM_INSTANCES):  # vmap against one instance at a time
        one = unbatch(params, i)
        np.testing.assert_allclose(via_unrolling[i], unrolled(one, nu[i]), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(via_implicit[i], implicit(one, nu[i]), rtol=1e-12, atol=1e-15)


def test_mlp_reward_model(batch):
    """nu a flax parameter pytree: r_nu(s, a) = MLP_nu([e_s, e_a]) (linear models are tabular
    ones in other coordinates: see test_lower_level)."""
    params = unbatch(batch[0], 0)
    mlp = make_reward_model("mlp", TabularMDP(S, A, H), hidden=(3,))
    nu = jax.tree.map(
        lambda x: jax.random.normal(jax.random.key(23), x.shape, jnp.float64),
        mlp.init(jax.random.key(24)),
    )
    reward_fn = reward_model_table(mlp, S, A)
    both = jax.jit(
        lambda p, n: (
            hypergradient_unrolled(reward_fn, p, n),
            hypergradient_implicit(reward_fn, p, n),
        )
    )
    via_unrolling, via_implicit = both(params, nu)
    assert jax.tree.structure(via_implicit) == jax.tree.structure(nu)
    flat_unrolled, flat_implicit = ravel_pytree(via_unrolling)[0], ravel_pytree(via_implicit)[0]
    assert flat_implicit.dtype == jnp.float64
    assert relative_error(flat_implicit, flat_unrolled) < 1e-9
