"""The "nash" evaluator against the public functions of zoprl.games, its conventions and dtype."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.envs import make
from zoprl.evaluators import game_metrics, make_evaluator, nash_evaluator
from zoprl.games import duality_gap, equilibrium, gap, kl_divergence, win_rate
from zoprl.oracles import OracleParams, make_oracle, make_tensor_oracle, teacher_params
from zoprl.oracles.models import TensorParams
from zoprl.policies import tabular_softmax


class NashLike(NamedTuple):
    params: jax.Array
    reference_params: jax.Array
    preference_estimate: jax.Array


class PlainState(NamedTuple):
    params: jax.Array


class EtaHparams(NamedTuple):
    eta: jax.Array


def _game(dtype):
    rng = np.random.default_rng(3)
    upper = np.triu(rng.normal(0.0, 1.5, (3, 4, 4)), 1)
    P = 1.0 / (1.0 + np.exp(-(upper - np.swapaxes(upper, 1, 2))))
    logits, reference = rng.normal(size=(2, 3, 4))
    P_hat = 1.0 / (1.0 + np.exp(-(upper - np.swapaxes(upper, 1, 2)) * 0.5))
    cast = lambda a: jnp.asarray(a, dtype)
    return cast(P), cast(logits), cast(reference), cast(P_hat)


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def test_game_metrics_agree_with_zoprl_games(x64):
    P, logits, reference, P_hat = _game(jnp.float64)
    pi, pi0 = jax.nn.softmax(logits), jax.nn.softmax(reference)
    d0 = jnp.asarray([0.2, 0.5, 0.3])
    metrics = jax.jit(game_metrics)
    out = metrics(pi, P, pi0, 2.0, d0, P_hat)
    assert all(v.dtype == jnp.float64 for v in out.values())
    np.testing.assert_allclose(out["gap"], gap(pi, P, pi0, 2.0, d0), rtol=1e-12)
    np.testing.assert_allclose(out["duality_gap"], duality_gap(pi, P, pi0, 2.0, d0), rtol=1e-12)
    np.testing.assert_allclose(out["duality_gap"], 2 * out["gap"], rtol=1e-10)
    np.testing.assert_allclose(out["model_gap"], gap(pi, P_hat, pi0, 2.0, d0), rtol=1e-12)
    kl = d0 @ jax.vmap(kl_divergence)(pi, pi0)
    np.testing.assert_allclose(out["kl_to_reference"], kl, rtol=1e-12)
    np.testing.assert_allclose(out["win_rate_vs_reference"], win_rate(pi, pi0, P, d0), rtol=1e-12)
    star = equilibrium(P, pi0, 2.0)
    np.testing.assert_allclose(
        out["win_rate_vs_equilibrium"], win_rate(pi, star, P, d0), rtol=1e-10
    )
    at_star = metrics(star, P, pi0, 2.0, d0)
    assert float(at_star["gap"]) < 1e-20 and "model_gap" not in at_star
    np.testing.assert_allclose(at_star["win_rate_vs_equilibrium"], 0.5, atol=1e-15)


def test_the_evaluator_reads_the_nash_convention():
    env, env_params = make("ContextualBandit", num_contexts=3, num_actions=4)
    policy = tabular_softmax(3, 4)
    P, logits, reference, P_hat = _game(jnp.float32)
    oracle_params = OracleParams(TensorParams(P), teacher_params())
    d0 = env_params.start
    evaluator = make_evaluator("nash", env, policy, make_tensor_oracle(3))
    metrics = jax.jit(evaluator.metrics)
    out = metrics(None, NashLike(logits, reference, P_hat), EtaHparams(2.0), env_params,
                  oracle_params, None)  # fmt: skip
    pi, pi0 = jax.nn.softmax(logits), jax.nn.softmax(reference)
    np.testing.assert_allclose(out["gap"], gap(pi, P, pi0, 2.0, d0), rtol=1e-5)
    assert "model_gap" in out and out["gap"].dtype == jnp.float32
    # no reference in the state: uniform pi0; the eta option overrides the hyperparameters
    fixed = nash_evaluator(env, policy, make_tensor_oracle(3), eta=5.0)
    plain = jax.jit(fixed.metrics)(None, PlainState(logits), None, env_params, oracle_params, None)
    uniform = jnp.full((3, 4), 0.25)
    np.testing.assert_allclose(plain["gap"], gap(pi, P, uniform, 5.0, d0), rtol=1e-5)
    assert "model_gap" not in plain
    with pytest.raises(ValueError, match="needs eta"):
        evaluator.metrics(None, PlainState(logits), None, env_params, oracle_params, None)


def test_the_evaluator_refuses_what_it_cannot_score():
    env, _ = make("ContextualBandit", num_contexts=3, num_actions=4)
    policy = tabular_softmax(3, 4)
    with pytest.raises(ValueError, match="general preference"):
        nash_evaluator(env, policy, make_oracle())
    grid, _ = make("GridWorld", size=3, horizon=4)
    with pytest.raises(ValueError, match="contextual bandit"):
        nash_evaluator(grid, tabular_softmax(9, 4), make_tensor_oracle())
