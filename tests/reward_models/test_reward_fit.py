"""Maximum-likelihood reward fitting: the loss against hand values, recovery of a 10-arm bandit's
reward ordering and differences from Bradley-Terry feedback, invariance to a constant shift of the
true reward, L2, a hyperparameter sweep by vmap, and bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.envs import Bandit
from zoprl.oracles import Feedback, get_link, make_oracle, oracle_params
from zoprl.policies import tabular_softmax
from zoprl.preference_data import PreferenceBatch, buffer_add, buffer_init
from zoprl.reward_models import (
    fit_reward_model,
    init_reward_optimizer,
    make_reward_model,
    preference_loss,
    reward_fit_hparams,
)
from zoprl.rollout import make_paired_rollout
from zoprl.trajectory import Trajectory

ARMS = 10
# true arm rewards: a shuffled even grid on [-1.5, 1.5] (gaps of 1/3 between neighbours)
TRUE = np.linspace(-1.5, 1.5, ARMS)[np.random.default_rng(0).permutation(ARMS)]
NUM_PAIRS, NUM_QUERIES = 1000, 10  # 10k Bradley-Terry (beta = 1) votes from a uniform behaviour
FIT_STEPS, BATCH = 500, 256


def spearman(x, y):
    rank = lambda v: np.argsort(np.argsort(v)).astype(float)
    return float(np.corrcoef(rank(x), rank(y))[0, 1])


@pytest.fixture(scope="module")
def bandit_fit():
    """fit(key, env_params, hp) -> fitted table [1, A]: pairs of uniform arms, M votes each."""
    env = Bandit(ARMS)
    policy = tabular_softmax(1, ARMS)
    paired = make_paired_rollout(env, policy, NUM_PAIRS)
    oracle = make_oracle("logistic", NUM_QUERIES)
    model = make_reward_model("tabular", env)

    def fit(key, env_params, hp):
        k_policy, k_roll, k_query, k_model, k_fit = jax.random.split(key, 5)
        uniform = policy.init(k_policy)
        t0, t1 = paired(k_roll, uniform, uniform, env_params)
        feedback = jax.vmap(oracle.query, (0, 0, 0, None))(
            jax.random.split(k_query, NUM_PAIRS), t0, t1, oracle_params("noisy")
        )
        buf = buffer_add(buffer_init(NUM_PAIRS, t0), t0, t1, feedback)
        phi = model.init(k_model)
        phi, _, loss = fit_reward_model(
            k_fit, model, phi, init_reward_optimizer(phi), buf, hp, FIT_STEPS, BATCH
        )
        return phi[0], loss

    return env, jax.jit(fit)


def test_recovers_bandit_reward_ordering_and_differences(bandit_fit):
    """Spearman >= 0.9 (measured 1.0), and the centred fit r_phi - mean r_phi is within 0.25 of
    the centred true reward on every arm (measured max error 0.11; each arm gets about 2000 votes,
    so the standard error of its logit is about 0.05 and 0.25 is 5 standard errors)."""
    env, fit = bandit_fit
    phi, loss = fit(jax.random.key(0), env.make_params(TRUE[None]), reward_fit_hparams(0.05))
    phi = np.asarray(phi)
    assert spearman(phi, TRUE) >= 0.9
    centred_error = (phi - phi.mean()) - (TRUE - TRUE.mean())
    assert np.max(np.abs(centred_error)) < 0.25, centred_error
    assert 0.3 < float(loss) < math.log(2.0)


def test_fit_is_invariant_to_a_constant_shift_of_the_true_reward(bandit_fit):
    """The oracle sees only reward differences, so the same keys give the same votes and the
    same fit when every arm's reward is raised by 5."""
    env, fit = bandit_fit
    hp = reward_fit_hparams(0.05)
    phi, _ = fit(jax.random.key(0), env.make_params(TRUE[None]), hp)
    shifted, _ = fit(jax.random.key(0), env.make_params(TRUE[None] + 5.0), hp)
    np.testing.assert_allclose(shifted, phi, atol=1e-4)


def test_l2_shrinks_and_step_sizes_sweep_by_vmap(bandit_fit):
    env, fit = bandit_fit
    env_params = env.make_params(TRUE[None])
    hp = reward_fit_hparams(step_size=[0.05, 0.05], l2=[0.0, 1.0])
    phis, _ = jax.vmap(fit, (None, None, 0))(jax.random.key(0), env_params, hp)
    single, _ = fit(jax.random.key(0), env_params, reward_fit_hparams(0.05))
    np.testing.assert_allclose(phis[0], single, atol=1e-5)
    assert np.linalg.norm(phis[1]) < 0.8 * np.linalg.norm(phis[0])


def test_preference_loss_against_hand_values():
    """l = -mean over answered pairs of p log sigma(d) + (1 - p) log(1 - sigma(d))."""
    env = Bandit(3)
    model = make_reward_model("tabular", env)
    phi = jnp.array([[0.0, 1.0, -2.0]])
    traj = lambda a: jax.tree.map(jnp.asarray, make_batch(a))
    batch = PreferenceBatch(
        traj([0, 1, 2]), traj([1, 2, 2]), jnp.array([0.8, 0.1, 0.5]), jnp.array([1.0, 1.0, 0.0])
    )
    d = np.array([1.0, -3.0])
    p = np.array([0.8, 0.1])
    for name in ("logistic", "probit", "extreme_value"):
        s = np.asarray(get_link(name).prob(jnp.asarray(d)), np.float64)
        expected = -np.mean(p * np.log(s) + (1 - p) * np.log(1 - s))
        got = jax.jit(lambda ph, name=name: preference_loss(model, ph, batch, name))(phi)
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    # saturated differences stay finite for the logistic link: log sigma(-100) = -100
    far = jnp.array([[0.0, 100.0, 0.0]])
    one = PreferenceBatch(traj([1]), traj([0]), jnp.array([1.0]), jnp.array([1.0]))
    np.testing.assert_allclose(preference_loss(model, far, one), 100.0, rtol=1e-6)


def make_batch(actions):
    """Horizon-1 trajectories in context 0 taking ``actions``."""
    n = len(actions)
    return Trajectory(
        np.zeros((n, 1), np.int32),
        np.asarray(actions, np.int32)[:, None],
        np.zeros((n, 1), np.float32),
        np.ones((n, 1), np.float32),
        np.zeros((n, 1), np.float32),
    )


def test_bad_input_raises_before_compilation():
    with pytest.raises(ValueError, match="reward step_size must be > 0, got -0.1"):
        reward_fit_hparams(step_size=-0.1)
    with pytest.raises(ValueError, match="reward l2 must be >= 0, got -1"):
        reward_fit_hparams(l2=-1.0)
    env = Bandit(3)
    model = make_reward_model("tabular", env)
    t = make_batch([0, 1])
    buf = buffer_add(
        buffer_init(4, t), t, t, Feedback(jnp.ones(2), jnp.ones(2), jnp.ones(2), jnp.zeros(2, bool))
    )
    phi = model.init(jax.random.key(0))
    args = (jax.random.key(0), model, phi, init_reward_optimizer(phi), buf, reward_fit_hparams())
    with pytest.raises(ValueError, match="batch_size 8 exceeds the buffer capacity 4"):
        fit_reward_model(*args, 10, 8)
    with pytest.raises(ValueError, match="fit_steps must be >= 1, got 0"):
        fit_reward_model(*args, 0, 2)


def test_extreme_value_loss_is_exact_and_keeps_its_gradient_far_out():
    """log sigma(d) for the extreme-value link in closed form: at d = -5 the loss is the exact
    ln2 exp(5) = 102.9 and its gradient is not zero (a floor on sigma would flatten it)."""
    from zoprl.reward_models.fit import log_link_probs

    link = get_link("extreme_value")
    log_p, log_q = log_link_probs(link, jnp.array([-5.0, 0.0, 4.0]))
    np.testing.assert_allclose(-log_p[0], np.log(2.0) * np.exp(5.0), rtol=1e-5)
    np.testing.assert_allclose(np.exp(log_p[1:]), link.prob(jnp.array([0.0, 4.0])), rtol=1e-5)
    np.testing.assert_allclose(np.exp(log_q[1:]), 1 - link.prob(jnp.array([0.0, 4.0])), rtol=1e-5)
    grad = jax.grad(lambda d: -log_link_probs(link, d)[0])(-5.0)
    assert float(grad) < -100.0
