"""The learners of the general-preference game on contextual bandits, scored by the exact gap.

Acceptance (issue 14) on the Condorcet trap at eta = 20 with exact (infinite-data) probabilities:
the Bradley-Terry pipeline's gap stays strictly positive, the general-preference learners'
gaps fall below 1e-3."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.algorithms import (
    bt_pipeline,
    make_run,
    nash_offline,
    nash_online,
    self_play,
    zpg_nash,
    zspo_nash,
)
from zoprl.algorithms.nash_online import (
    EnhancerInputs,
    best_of_n_enhancer,
    nash_online_hparams,
    uncertainty_enhancer,
)
from zoprl.algorithms.preference_game import (
    buffer_comparisons,
    comparisons,
    make_pair_sampler,
    reference_logits,
)
from zoprl.algorithms.self_play import player_values
from zoprl.envs import make
from zoprl.evaluators import nash_evaluator
from zoprl.games import equilibrium
from zoprl.games.generators import condorcet_game, skew_game
from zoprl.games.models import empty_table, table_add
from zoprl.oracles import OracleParams, make_tensor_oracle, teacher_params
from zoprl.policies import tabular_softmax
from zoprl.preference_data import buffer_add, buffer_init, collect_preferences

ETA = 20.0


class Game:
    """A contextual bandit, its tabular policy, an oracle with M votes and its params."""

    def __init__(self, env_name, generator, num_queries=1, **env_options):
        self.env, self.env_params = make(env_name, **env_options)
        self.policy = tabular_softmax(self.env.num_states, self.env.num_actions)
        self.oracle = make_tensor_oracle(num_queries)
        tensor = generator(self.env, self.env_params)
        self.oracle_params = OracleParams(tensor, teacher_params())
        self.P = tensor.preference

    def run(self, algorithm, iterations, hparams):
        evaluator = nash_evaluator(self.env, self.policy, self.oracle)
        run = jax.jit(make_run(algorithm, iterations, evaluator=evaluator))
        return run(jax.random.key(0), hparams, self.env_params, self.oracle_params)

    def run_grid(self, algorithm, iterations, hparams):
        evaluator = nash_evaluator(self.env, self.policy, self.oracle)
        run = jax.vmap(make_run(algorithm, iterations, evaluator=evaluator), (None, 0, None, None))
        return jax.jit(run)(jax.random.key(0), hparams, self.env_params, self.oracle_params)


@pytest.fixture(scope="module")
def condorcet():
    return Game("Bandit", condorcet_game, num_queries=10, num_actions=3)


@pytest.fixture(scope="module")
def skew():
    return Game("ContextualBandit", skew_game, num_queries=1, num_contexts=2, num_actions=3)


@pytest.fixture(scope="module")
def acceptance(condorcet):
    """Offline (beta = 0), online and the BT pipeline on the Condorcet trap at eta = 20, with
    exact probabilities: (final states, metrics) by learner."""
    c = condorcet
    offline = nash_offline(c.env, c.policy, c.oracle, num_pairs=64, exact_probabilities=True)
    online = nash_online(c.env, c.policy, c.oracle, num_pairs=16, exact_probabilities=True)
    bt = bt_pipeline(c.env, c.policy, c.oracle, num_pairs=64, exact_probabilities=True)
    return {
        "offline": c.run(offline, 2, offline.hparams(eta=ETA, beta=0.0)),
        "online": c.run(online, 20, online.hparams(eta=ETA)),
        "bt": c.run(bt, 20, bt.hparams(eta=ETA)),
    }


def test_acceptance_bt_pipeline_plateaus_where_the_nash_learners_reach_the_equilibrium(acceptance):
    offline_gap = np.asarray(acceptance["offline"][1]["gap"])
    online_gap = np.asarray(acceptance["online"][1]["gap"])
    state, m_bt = acceptance["bt"]
    bt_gap = np.asarray(m_bt["gap"])
    assert offline_gap[-1] < 1e-6 and online_gap[-1] < 1e-6, (offline_gap, online_gap)
    # the BT pipeline ranks action 0 first; its gap is reported and strictly positive (0.061)
    assert np.all(bt_gap[5:] > 0.05), bt_gap
    assert float(m_bt["model_gap"][-1]) < 1e-3  # it believes it is near its game's equilibrium
    assert int(jnp.argmax(state.rewards[0])) == 0


def test_offline_fit_then_solve_returns_the_true_equilibrium_and_counts_its_data(
    condorcet, acceptance
):
    state, metrics = acceptance["offline"]
    star = equilibrium(condorcet.P, jnp.full((1, 3), 1 / 3), ETA)
    np.testing.assert_allclose(jax.nn.softmax(state.params), star, atol=1e-5)
    np.testing.assert_array_equal(metrics["trajectories"], [128, 128, 128])
    np.testing.assert_array_equal(metrics["queries"], [640, 640, 640])
    np.testing.assert_array_equal(acceptance["online"][1]["queries"][-1], 20 * 16 * 10)


@pytest.mark.slow
def test_offline_pessimism_raises_the_pessimistic_value_with_votes(condorcet):
    c = condorcet
    algo = nash_offline(c.env, c.policy, c.oracle, num_pairs=32, reference="skewed")
    hparams = algo.hparams(eta=5.0, beta=jnp.asarray([0.0, 0.5]))
    _, metrics = c.run_grid(algo, 3, hparams)
    value = np.asarray(metrics["pessimistic_value"])[:, -1]
    assert value[0] == pytest.approx(0.5, abs=1e-5)  # beta = 0: the fitted game's value
    assert value[1] < 0.5  # pessimism: a worse game is plausible


@pytest.mark.parametrize(
    "enhancer",
    [
        "uncertainty",
        *(
            pytest.param(e, marks=pytest.mark.slow)
            for e in ("confidence", "best_of_n", "self_play", "reference")
        ),
    ],
)
def test_online_learner_gap_falls_with_votes(skew, enhancer):
    s = skew
    algo = nash_online(s.env, s.policy, s.oracle, num_pairs=16, enhancer=enhancer)
    _, metrics = s.run(algo, 60, algo.hparams(eta=5.0))
    gap = np.asarray(metrics["gap"])
    assert np.all(np.isfinite(metrics["uncertainty"][1:]))
    np.testing.assert_array_equal(metrics["queries"][-1], 60 * 16)
    assert gap[-10:].mean() < gap[0] / 3, (enhancer, gap[[0, -1]])


@pytest.mark.parametrize(
    "update, step_size",
    [
        pytest.param("ipo", 0.2, marks=pytest.mark.slow),
        pytest.param("nash_md", 2.0, marks=pytest.mark.slow),
        ("sppo", 2.0),
        ("extragradient", 2.0),
    ],
)
def test_self_play_learners_reach_the_equilibrium_with_decaying_steps(condorcet, update, step_size):
    c = condorcet
    algo = self_play(
        c.env, c.policy, c.oracle, update=update, num_pairs=64, exact_probabilities=True
    )
    _, metrics = c.run(algo, 1000, algo.hparams(eta=ETA, step_size=step_size, step_decay=0.1))
    gap = np.asarray(metrics["gap"])
    assert gap[-100:].max() < 1e-3, (update, gap[[0, 100, 500, -1]])
    pairs_per_iteration = 128 if update == "extragradient" else 64
    assert int(metrics["trajectories"][-1]) == 2 * pairs_per_iteration * 1000


@pytest.mark.slow
@pytest.mark.parametrize("factory", [zpg_nash, zspo_nash])
def test_zeroth_order_self_play_lowers_the_gap(condorcet, factory):
    c = condorcet
    algo = factory(
        c.env, c.policy, c.oracle, num_pairs=256, num_directions=4, exact_probabilities=True
    )
    step = 0.1 if factory is zpg_nash else 0.01
    _, metrics = c.run(algo, 3000, algo.hparams(eta=ETA, step_size=step, mu=0.3))
    gap = np.asarray(metrics["gap"])
    assert gap[-500:].mean() < gap[0] / 20, gap[[0, 1000, -1]]


def test_the_value_estimate_is_unbiased(condorcet):
    """E[v] = P pi - 1/2 per action (importance weights), within 5 standard errors."""
    c = condorcet
    logits = jnp.log(jnp.asarray([[0.5, 0.3, 0.2]]))
    sampler = make_pair_sampler(c.env, c.policy, c.oracle, 32)

    def estimate(key):
        traj_0, traj_1, feedback, _ = collect_preferences(
            key, sampler.paired, c.oracle, logits, logits, c.env_params, c.oracle_params
        )
        return player_values(comparisons(traj_0, traj_1, feedback), logits, True)

    values = jax.jit(jax.vmap(estimate))(jax.random.split(jax.random.key(1), 2000))
    expected = np.asarray(c.P[0] @ jax.nn.softmax(logits[0])) - 0.5
    mean, se = values.mean(0)[0], values.std(0)[0] / np.sqrt(2000)
    assert np.all(np.abs(mean - expected) < 5 * se + 1e-6), (mean, expected, se)


def test_enhancers_against_brute_force():
    pi1 = jnp.asarray([0.6, 0.3, 0.1])
    P_hat = jnp.asarray([[0.5, 0.8, 0.3], [0.2, 0.5, 0.9], [0.7, 0.1, 0.5]])
    counts = jnp.asarray([[0.0, 5.0, 0.0], [5.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    inputs = EnhancerInputs(pi1, P_hat, counts, counts, jnp.full(3, 1 / 3))
    hp = nash_online_hparams(lam=1.0)
    chosen = int(jnp.argmax(uncertainty_enhancer(inputs, hp, 2)))
    scores = [
        sum(pi1[a] ** 2 / (1.0 + counts[a, b] / 2) for a in range(3) if a != b) for b in range(3)
    ]
    assert chosen == int(np.argmax(scores))
    # best of 2 draws from pi1 by the fitted win rate P_hat pi1: brute force over draw pairs
    probs = np.exp(best_of_n_enhancer(inputs, 2))
    score = np.asarray(P_hat @ pi1)
    brute = np.zeros(3)
    for a in range(3):
        for b in range(3):
            best = a if (score[a], a) >= (score[b], b) else b
            brute[best] += pi1[a] * pi1[b]
    np.testing.assert_allclose(probs, brute, atol=1e-6)


def _bandit_parts():
    env, _ = make("Bandit", num_actions=3)
    return env, tabular_softmax(1, 3), make_tensor_oracle(), 4


def test_buffers_and_records_fill_the_same_table(skew):
    s = skew
    sampler = make_pair_sampler(s.env, s.policy, s.oracle, 16)
    logits = jnp.zeros((2, 3))

    def tables(key):
        traj_0, traj_1, feedback, _ = collect_preferences(
            key, sampler.paired, s.oracle, logits, logits, s.env_params, s.oracle_params
        )
        buffer = buffer_add(buffer_init(32, traj_0), traj_0, traj_1, feedback)
        records = comparisons(traj_0, traj_1, feedback)
        from_records = table_add(empty_table(2, 3), records)
        distinct = jnp.sum(records.first != records.second)
        return from_records, table_add(empty_table(2, 3), buffer_comparisons(buffer)), distinct

    from_records, from_buffer, distinct = jax.jit(tables)(jax.random.key(2))
    np.testing.assert_allclose(from_buffer.wins, from_records.wins)  # M = 1: weights agree
    np.testing.assert_allclose(from_buffer.counts, from_records.counts)
    # each pair of distinct actions is counted in both orders; an action against itself never
    assert float(jnp.sum(from_records.counts)) == 2 * int(distinct)


def test_references_and_validation():
    np.testing.assert_array_equal(reference_logits("uniform", 2, 3), np.zeros((2, 3)))
    skewed = np.asarray(reference_logits("skewed", 2, 3, strength=2.0))
    np.testing.assert_allclose(skewed, [[0.0, -1.0, -2.0]] * 2)
    random = reference_logits("random", 2, 3, strength=1.0, seed=4)
    assert not np.allclose(random, reference_logits("random", 2, 3, seed=5))
    env, policy, oracle, _ = _bandit_parts()
    with pytest.raises(ValueError, match="reference"):
        nash_online(env, policy, oracle, num_pairs=4, reference="flat")
    with pytest.raises(ValueError, match="enhancer"):
        nash_online(env, policy, oracle, num_pairs=4, enhancer="bold")
    grid, _ = make("GridWorld", size=3, horizon=4)
    with pytest.raises(ValueError, match="contextual bandit"):
        self_play(grid, tabular_softmax(9, 4), oracle, update="sppo", num_pairs=4)
