"""The "bilevel" evaluator (float64, see conftest) against the exact functions it wraps, its
Monte Carlo preference NLL against the exact one, the oracle's preference matrix in the exact
upper objective, and the Chain environment of the distribution-shift experiment."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bilevel_testing import tiny_learner_setting, to64

from zoprl.algorithms import bilevel_penalty
from zoprl.bilevel import hyperobjective, random_bilevel_params, tabular_reward, upper_objective
from zoprl.bilevel.finite import exact_problem, logits_table, preference_matrix
from zoprl.bilevel.hypergradient import hypergradient_unrolled
from zoprl.bilevel.lower_level import soft_optimal_logits
from zoprl.bilevel.penalty import penalty_solution
from zoprl.bilevel.problem import ridge_penalty
from zoprl.enumeration import enumerated_trajectories
from zoprl.envs import make
from zoprl.evaluation import optimal_value
from zoprl.evaluators import make_evaluator
from zoprl.evaluators.bilevel import sampled_metrics
from zoprl.oracles import make_oracle, oracle_params
from zoprl.rollout import make_batch_rollout

S, A, H = 3, 2, 2


@pytest.fixture(scope="module")
def setting():
    env, env_params, policy, oracle = tiny_learner_setting(S, A, H, num_queries=2)
    algorithm = bilevel_penalty(env, policy, oracle, num_pairs=2, num_envs=2)
    op = oracle_params("noisy", beta=2.0)
    hp = algorithm.hparams(kl_coef=0.5, ridge=0.1, penalty=1e3)
    state = algorithm.init(jax.random.key(0), hp, env_params, op)
    keys = jax.random.split(jax.random.key(1), 3)
    draw = lambda k, x: x + jax.random.normal(k, x.shape, x.dtype)
    state = state._replace(
        params=draw(keys[0], state.params),
        penalty_params=draw(keys[1], state.params),
        reward_params=draw(keys[2], state.reward_params),
    )
    problem = exact_problem(
        env, policy, oracle, env_params, op, state.reference_params, hp.kl_coef, hp.ridge
    )
    return env, env_params, policy, oracle, op, hp, state, problem


@pytest.mark.slow  # about 9 s: the oracle's matrix against the built-in teacher
def test_bt_preference_matrix_reproduces_the_bradley_terry_upper_objective():
    env, env_params = make("RandomMDP", num_states=S, num_actions=A, branching=2, horizon=H)
    env_params = to64(env_params)
    model = env.model(env_params)
    beta = 1.7
    params = random_bilevel_params(jax.random.key(3), S, A, H, teacher_beta=beta)._replace(
        transition=model.transition, start=model.start, true_reward=model.expected_reward()
    )
    oracle, op = make_oracle("logistic", 1), oracle_params("noisy", beta=beta)
    matrix = jax.jit(lambda e, o: preference_matrix(oracle, enumerated_trajectories(env, e), o))(
        env_params, op
    )
    nu = jax.random.normal(jax.random.key(4), (S, A))
    pi = jax.nn.softmax(jax.random.normal(jax.random.key(5), (H, S, A)), -1)
    both = jax.jit(
        lambda p: (
            upper_objective(tabular_reward, p, nu, pi),
            hyperobjective(tabular_reward, p, nu),
        )
    )
    # the oracle's beta is a float32 knob
    np.testing.assert_allclose(both(params._replace(preference=matrix)), both(params), rtol=1e-6)


def test_evaluator_metrics_are_the_exact_quantities(setting):
    env, env_params, policy, oracle, op, hp, state, problem = setting
    evaluator = make_evaluator("bilevel", env, policy, oracle, penalty_gradient=True)
    aux = evaluator.init(None, hp, env_params, op)
    metrics = jax.jit(evaluator.metrics)(jax.random.key(0), state, hp, env_params, op, aux)

    @jax.jit
    def references(nu):
        pi = jax.nn.softmax(state.params, -1)
        return (
            jnp.sum(hypergradient_unrolled(tabular_reward, problem, nu) ** 2),
            upper_objective(tabular_reward, problem, nu, pi) - ridge_penalty(nu, hp.ridge),
            jnp.sum(penalty_solution(tabular_reward, problem, nu, 1e3).grad ** 2),
        )

    grad_sq, nll, penalty_sq = references(state.reward_params)
    np.testing.assert_allclose(metrics["hypergradient_norm_sq"], grad_sq, rtol=1e-10)
    np.testing.assert_allclose(metrics["preference_nll"], nll, rtol=1e-10)
    np.testing.assert_allclose(metrics["penalty_gradient_norm_sq"], penalty_sq, rtol=1e-6)
    # lambda = 1000: grad Phi_lambda within O(1 / lambda) of grad F
    assert abs(metrics["penalty_gradient_norm_sq"] / metrics["hypergradient_norm_sq"] - 1) < 0.05
    for gap in ("lower_gap", "penalty_lower_gap", "regularised_value_gap", "value_gap"):
        assert float(metrics[gap]) > 0, gap
    assert metrics["value"].dtype == jnp.float64
    # at z = theta*(nu) the lower-level gap vanishes
    optimal = state._replace(
        params=soft_optimal_logits(tabular_reward, problem, state.reward_params)
    )
    again = jax.jit(evaluator.metrics)(jax.random.key(0), optimal, hp, env_params, op, aux)
    assert abs(float(again["lower_gap"])) < 1e-12


@pytest.mark.slow  # about 6 s: 200 batches of 512 rollouts
def test_monte_carlo_nll_is_unbiased_for_the_exact_one(setting):
    env, env_params, policy, oracle, op, hp, state, problem = setting
    model = bilevel_penalty(env, policy, oracle, num_pairs=2, num_envs=2).step.args[0].model
    rollout = make_batch_rollout(env, policy, 512)
    sample = lambda k: sampled_metrics(rollout, model, oracle, 256, k, state, env_params, op)
    estimate = jax.jit(jax.vmap(sample))(jax.random.split(jax.random.key(7), 200))
    estimate = np.asarray(estimate["preference_nll"])
    pi = jax.nn.softmax(logits_table(env, policy, state.params), -1)
    exact = upper_objective(tabular_reward, problem, state.reward_params, pi) - ridge_penalty(
        state.reward_params, hp.ridge
    )
    se = np.std(estimate, ddof=1) / np.sqrt(estimate.size)
    assert abs(np.mean(estimate) - float(exact)) < 5 * se, (np.mean(estimate), float(exact), se)


def test_evaluator_rejects_another_reward_model(setting):
    env, env_params, policy, oracle, op, hp, state, _ = setting
    evaluator = make_evaluator("bilevel", env, policy, oracle, reward_model="mlp")
    with pytest.raises(ValueError, match="reward_hidden"):
        evaluator.metrics(jax.random.key(0), state, hp, env_params, op, None)


def test_chain_tables_and_optimum():
    env, params = make("Chain", slip=0.1)
    model = env.model(params)
    assert env.num_states == 3 and env.num_actions == 2 and env.horizon == 3
    np.testing.assert_allclose(model.transition[1, 1], [0.0, 0.1, 0.9])
    np.testing.assert_allclose(model.transition[1, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(model.expected_reward(), [[0.4, 0.0], [0.0, 0.0], [2.0, 2.0]])
    # by hand: V_3 = (0.4, 0, 2); V_2(0) = 0.8, V_2(1) = 0.9 * 2 = 1.8; at h = 1 forward gives
    # 0.9 * 1.8 + 0.1 * 0.8 = 1.70 > back's 0.4 + 0.8
    assert float(optimal_value(model, 3)) == pytest.approx(1.70, rel=1e-6)
    with pytest.raises(ValueError, match="slip"):
        make("Chain", slip=1.5)
