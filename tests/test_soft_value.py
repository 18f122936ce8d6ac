"""Soft value iteration, regularised values and occupancies (zoprl.soft_value), in float64.

Checks: the soft-optimal policy beats 200 random policies and is a stationary point of J_c in the
logits; J_c(pi*) = rho^T V_1; the regularised performance-difference identity (which also checks
the occupancy measures); the c -> 0 limit against zoprl.evaluation; the bandit closed form; zero
reference entries; dtypes; every public function under jit and vmap.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.envs import TabularModel, random_mdp_params
from zoprl.evaluation import optimal_value, policy_value
from zoprl.soft_value import (
    KLRegularisedMDP,
    kl_per_state,
    occupancy_measures,
    regularised_logits_value,
    regularised_policy_value,
    soft_optimal_value,
    soft_value_iteration,
)

S, A, H = 4, 3, 4
NUM_RANDOM_POLICIES = 200

soft_values = jax.jit(soft_value_iteration, static_argnums=1)
optimum = jax.jit(soft_optimal_value, static_argnums=1)
value = jax.jit(regularised_policy_value)
logits_value = jax.jit(regularised_logits_value)
occupancy = jax.jit(occupancy_measures)


@pytest.fixture(scope="module", autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


@partial(jax.jit, static_argnames=("time_dependent", "terminal"))
def random_regularised_mdp(
    key, kl_coef=0.7, time_dependent=True, terminal=True, reference_scale=1.0
):
    """A Garnet MDP with a time-dependent reward [H, S, A], a time-dependent random reference
    and a terminal reward: every option of the module at once."""
    k_mdp, k_rew, k_ref, k_term = jax.random.split(key, 4)
    params = random_mdp_params(k_mdp, S, A, 2, horizon=H)
    reward = (
        jax.random.normal(k_rew, (H, S, A))
        if time_dependent
        else TabularModel(params.transition, params.reward, params.start).expected_reward()
    )
    reference = jax.nn.softmax(reference_scale * jax.random.normal(k_ref, (H, S, A)), axis=-1)
    terminal_reward = jax.random.normal(k_term, (S,)) if terminal else None
    return KLRegularisedMDP(
        params.transition, params.start, reward, reference, jnp.asarray(kl_coef), terminal_reward
    )


@pytest.fixture(scope="module")
def mdp():
    return random_regularised_mdp(jax.random.key(0))


def test_soft_optimal_policy_beats_random_policies(mdp):
    solution = soft_values(mdp, H)
    best = value(mdp, solution.policy)
    np.testing.assert_allclose(best, optimum(mdp, H), rtol=1e-13)  # J_c(pi*) = rho^T V_1
    np.testing.assert_allclose(best, jnp.dot(mdp.start, solution.value[0]), rtol=1e-13)
    logits = 2.0 * jax.random.normal(jax.random.key(1), (NUM_RANDOM_POLICIES, H, S, A))
    others = jax.vmap(logits_value, (None, 0))(mdp, logits)
    assert others.shape == (NUM_RANDOM_POLICIES,)
    assert float(jnp.max(others)) < float(best)
    # small perturbations of the optimum lose too (a local check, not only a global one)
    nearby = jax.vmap(logits_value, (None, 0))(mdp, solution.log_policy + 1e-2 * logits)
    assert float(jnp.max(nearby)) < float(best)


def test_logit_gradient_vanishes_at_soft_optimum(mdp):
    log_pi = soft_values(mdp, H).log_policy
    logit_grad = jax.jit(jax.grad(regularised_logits_value, argnums=1))
    grad = logit_grad(mdp, log_pi)
    assert float(jnp.max(jnp.abs(grad))) < 1e-12  # measured about 1e-16 in float64
    grad_random = logit_grad(mdp, jnp.zeros((H, S, A)))
    assert float(jnp.max(jnp.abs(grad_random))) > 1e-2


def test_performance_difference_identity_and_occupancies(mdp):
    """J_c(pi*) - J_c(pi) = c sum_h E_{s_h ~ pi} KL(pi_h || pi*_h), and J_c(pi) from the
    occupancy measures d_h(s, a) equals the backward induction."""
    solution = soft_values(mdp, H)
    pi = jax.nn.softmax(jax.random.normal(jax.random.key(2), (H, S, A)), axis=-1)
    d = occupancy(mdp.transition, mdp.start, pi)
    np.testing.assert_allclose(jnp.sum(d, axis=(1, 2)), np.ones(H), rtol=1e-13)
    kl_to_optimum = kl_per_state(pi, jnp.log(pi), solution.log_policy)  # [H, S]
    gap = mdp.kl_coef * jnp.sum(jnp.sum(d, axis=-1) * kl_to_optimum)
    np.testing.assert_allclose(value(mdp, solution.policy) - value(mdp, pi), gap, rtol=1e-10)
    kl_to_reference = kl_per_state(pi, jnp.log(pi), jnp.log(mdp.reference))
    final_state = jnp.einsum("sa,sat->t", d[-1], mdp.transition)
    by_occupancy = (
        jnp.sum(d * mdp.reward)
        - mdp.kl_coef * jnp.sum(d.sum(-1) * kl_to_reference)
        + jnp.dot(final_state, mdp.terminal_reward)
    )
    np.testing.assert_allclose(value(mdp, pi), by_occupancy, rtol=1e-12)
    # d J_c / d r_h(s, a) = d_h(s, a)
    reward_grad = jax.grad(lambda r: value(mdp._replace(reward=r), pi))(mdp.reward)
    np.testing.assert_allclose(reward_grad, d, atol=1e-14)


@pytest.mark.parametrize("kl_coef", [1e-2, 1e-3])
def test_small_kl_weight_recovers_unregularised_optimum(kl_coef):
    """Uniform reference: J* - H c log A <= J_c(pi*) <= J* and J(pi*_c) >= J* - H c log A."""
    base = random_regularised_mdp(jax.random.key(3), time_dependent=False, terminal=False)
    mdp = base._replace(reference=jnp.full((S, A), 1.0 / A), kl_coef=jnp.asarray(kl_coef))
    model = TabularModel(
        mdp.transition, jnp.broadcast_to(mdp.reward[..., None], (S, A, S)), mdp.start
    )
    j_star = float(jax.jit(optimal_value, static_argnums=1)(model, H))
    bound = H * kl_coef * np.log(A)
    j_c = float(optimum(mdp, H))
    assert j_star - bound - 1e-12 <= j_c <= j_star + 1e-12
    unregularised = jax.jit(policy_value)(model, soft_values(mdp, H).policy)
    assert float(unregularised) >= j_star - bound - 1e-12


def test_bandit_closed_form():
    """H = 1: pi*(a|s) = pi_ref(a|s) e^{r(s,a)/c} / Z(s), V_1(s) = c log Z(s)."""
    reward = jnp.array([[1.0, 0.0, -1.0], [0.5, 0.5, 2.0]])
    reference = jnp.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    c = 0.5
    transition = jnp.full((2, 3, 2), 0.5)
    mdp = KLRegularisedMDP(transition, jnp.array([0.25, 0.75]), reward, reference, jnp.asarray(c))
    weights = np.asarray(reference) * np.exp(np.asarray(reward) / c)
    solution = soft_value_iteration(mdp, 1)
    np.testing.assert_allclose(
        solution.policy[0], weights / weights.sum(-1, keepdims=True), rtol=1e-14
    )
    np.testing.assert_allclose(solution.value[0], c * np.log(weights.sum(-1)), rtol=1e-14)
    np.testing.assert_allclose(
        soft_optimal_value(mdp, 1),
        0.25 * c * np.log(weights[0].sum()) + 0.75 * c * np.log(weights[1].sum()),
        rtol=1e-14,
    )


def test_reference_with_zeros():
    """pi* puts no mass where pi_ref has none; a policy that does gets J_c = -inf."""
    base = random_regularised_mdp(jax.random.key(4))
    reference = base.reference.at[:, :, 0].set(0.0)
    mdp = base._replace(reference=reference / reference.sum(-1, keepdims=True))
    solution = soft_values(mdp, H)
    assert float(jnp.max(solution.policy[:, :, 0])) == 0.0
    np.testing.assert_allclose(value(mdp, solution.policy), optimum(mdp, H), rtol=1e-13)
    assert np.isfinite(float(jax.grad(value, argnums=1)(mdp, solution.policy).sum()))
    assert float(value(mdp, jnp.full((H, S, A), 1.0 / A))) == -np.inf


def test_dtype_follows_inputs(mdp):
    """float32 tables give float32 results with x64 on (traced with eval_shape: no compiling);
    float64 tables give float64."""
    as32 = jax.tree.map(lambda x: x.astype(jnp.float32), mdp)
    pi32 = jnp.full((H, S, A), 1.0 / A, jnp.float32)
    for fn, args in [
        (soft_value_iteration, (as32, H)),
        (soft_optimal_value, (as32, H)),
        (regularised_policy_value, (as32, pi32)),
        (regularised_logits_value, (as32, pi32)),
        (occupancy_measures, (as32.transition, as32.start, pi32)),
    ]:
        static = (1,) if isinstance(args[-1], int) else ()
        shapes = jax.eval_shape(
            partial(fn, **({"horizon": H} if static else {})), *(args[:-1] if static else args)
        )
        for leaf in jax.tree.leaves(shapes):
            assert leaf.dtype == jnp.float32, fn.__name__
    for leaf in jax.tree.leaves(soft_values(mdp, H)):
        assert leaf.dtype == jnp.float64


def all_functions(mdp, pi):
    return {
        "soft": soft_value_iteration(mdp, H),
        "optimum": soft_optimal_value(mdp, H),
        "value": regularised_policy_value(mdp, pi),
        "logits": regularised_logits_value(mdp, jnp.log(pi)),
        "occupancy": occupancy_measures(mdp.transition, mdp.start, pi),
    }


def test_jit_and_vmap_over_instances():
    """vmap over 3 MDP instances and policies (one compiled program) against the separately
    jitted functions on each instance."""
    keys = jax.random.split(jax.random.key(5), 3)
    batch = jax.vmap(random_regularised_mdp)(keys)
    pis = jax.nn.softmax(jax.random.normal(jax.random.key(6), (3, H, S, A)), axis=-1)
    batched = jax.jit(jax.vmap(all_functions))(batch, pis)
    for i in range(3):
        one = unbatch(batch, i)
        single = {
            "soft": soft_values(one, H),
            "optimum": optimum(one, H),
            "value": value(one, pis[i]),
            "logits": logits_value(one, jnp.log(pis[i])),
            "occupancy": occupancy(one.transition, one.start, pis[i]),
        }
        for name, result in single.items():
            for got, want in zip(
                jax.tree.leaves(unbatch(batched[name], i)), jax.tree.leaves(result), strict=True
            ):
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=name)


def unbatch(tree, i):
    return jax.tree.map(lambda x: x[i], tree)
