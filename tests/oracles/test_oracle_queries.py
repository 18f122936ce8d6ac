"""Oracle: exact probabilities by hand, Monte Carlo agreement of query with prob for every link and
preset, teacher rates, determinism at beta = inf, ties, and jit / vmap over pairs and parameters."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from oracle_testing import assert_within_se, make_traj, pairs_with_gaps

from zoprl.oracles import (
    LINK_NAMES,
    PRESET_NAMES,
    make_oracle,
    oracle_params,
    total_return,
    vote_frequency,
)
from zoprl.oracles.teachers import BERNOULLI_SUM_MAX

M = 10
REPEATS = 10_000  # 1e5 votes per (link, preset, gap)
GAPS = np.array([-2.0, -0.6, -0.05, 0.0, 0.05, 0.3, 1.5], np.float32)
TRAJ_A, TRAJ_B = pairs_with_gaps(np.repeat(GAPS, REPEATS))


def _stack(params_list):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *params_list)


PRESET_GRID = _stack([oracle_params(name) for name in PRESET_NAMES])  # leaves [6]


@functools.cache
def _sweep(link_names, num_queries=M):
    """jit of: for each link, vmap over parameter settings of (query, prob) on a batch of pairs.

    All links share one compiled program (compiling the Binomial sampler dominates test time).
    """
    oracles = [make_oracle(name, num_queries) for name in link_names]

    def run(key, traj_a, traj_b, grid):
        keys = jax.random.split(key, grid.model.beta.shape[0])
        return [
            (
                jax.vmap(o.query, in_axes=(0, None, None, 0))(keys, traj_a, traj_b, grid),
                jax.vmap(o.prob, in_axes=(None, None, 0))(traj_a, traj_b, grid),
            )
            for o in oracles
        ]

    return jax.jit(run)


@functools.cache
def _preset_results(seed):
    """{link: (Feedback [6 presets, N pairs], prob [6, N])} on the GAPS design, as numpy."""
    out = _sweep(tuple(LINK_NAMES))(jax.random.key(seed), TRAJ_A, TRAJ_B, PRESET_GRID)
    return dict(zip(LINK_NAMES, jax.tree.map(np.asarray, out)))


@pytest.mark.parametrize("link", tuple(LINK_NAMES))
def test_vote_frequency_matches_prob(link):
    feedback, prob = _preset_results(0)[link]
    shape = (len(PRESET_NAMES), len(GAPS), REPEATS)
    prob = prob.reshape(shape)
    np.testing.assert_array_equal(prob, np.broadcast_to(prob[..., :1], shape))  # one p per gap
    p = prob[..., 0].astype(np.float64)
    answered = feedback.answered.reshape(shape).sum(-1)
    votes = feedback.votes.reshape(shape).sum(-1)
    freq = votes / (M * answered)
    se = np.sqrt(p * (1 - p) / (M * answered))
    for i, name in enumerate(PRESET_NAMES):
        assert_within_se(freq[i], p[i], se[i], what=f"{link}/{name}")
    np.testing.assert_array_equal(feedback.asked, M)


def test_large_m_uses_the_rejection_sampler_and_matches_prob():
    """M = 100 > BERNOULLI_SUM_MAX goes through jax.random.binomial; 1e5 votes per gap."""
    m, repeats = 100, 1_000
    assert m > BERNOULLI_SUM_MAX
    traj_a, traj_b = pairs_with_gaps(np.repeat(GAPS, repeats))
    grid = _stack([oracle_params("noisy"), oracle_params("mistake", beta=0.7)])
    [(feedback, prob)] = _sweep(("logistic",), m)(jax.random.key(5), traj_a, traj_b, grid)
    p = np.asarray(prob, np.float64).reshape(2, len(GAPS), repeats)[..., 0]
    freq = np.asarray(feedback.votes).reshape(2, len(GAPS), repeats).sum(-1) / (m * repeats)
    assert_within_se(freq, p, np.sqrt(p * (1 - p) / (m * repeats)), what="M = 100")


def test_prob_by_hand():
    oracle = make_oracle("logistic", M)
    a, b = make_traj([1.0, 0.0, 0.0]), make_traj([0.0, 0.0, 1.0])  # equal returns
    params = oracle_params("noisy", beta=2.0, gamma=0.5, mistake=0.2, skip=0.2)
    p = 1.0 / (1.0 + math.exp(-2.0 * (1.0 - 0.25)))  # myopic gap 1 - 0.5^2
    f = 0.2 / (1.0 - 0.2)
    np.testing.assert_allclose(jax.jit(oracle.prob)(a, b, params), p + f * (1 - 2 * p), rtol=1e-6)
    # ties look at the undiscounted return gap (0 here), not at the myopic utilities
    np.testing.assert_allclose(
        oracle.prob(a, b, params._replace(teacher=params.teacher._replace(equal_margin=0.01))), 0.5
    )
    # the asymmetric link depends on the order of presentation; symmetric links do not
    for name, symmetric in (("logistic", True), ("extreme_value", False)):
        o, noisy = make_oracle(name), oracle_params("noisy", gamma=0.5)
        total = o.prob(a, b, noisy) + o.prob(b, a, noisy)
        assert (abs(float(total) - 1.0) < 1e-6) == symmetric, name


@pytest.mark.parametrize("link", tuple(LINK_NAMES))
def test_infinite_beta_is_deterministic(link):
    oracle_index = PRESET_NAMES.index("oracle")
    gaps = np.repeat(GAPS, REPEATS)
    votes = [_preset_results(seed)[link][0].votes[oracle_index] for seed in (0, 1)]
    for v in votes:
        np.testing.assert_array_equal(v[gaps != 0], M * (gaps[gaps != 0] > 0))
    assert 0 < np.mean(votes[0][gaps == 0]) < M  # a fair coin when the utilities are equal


def test_teacher_rates():
    """Skip, mistake and tie rates within 5 standard errors of their parameters."""
    n = 20_000
    gaps = np.random.default_rng(0).uniform(-1.0, 1.0, n).astype(np.float32)
    traj_a, traj_b = pairs_with_gaps(gaps)
    settings = [
        dict(mistake=0.1, skip=0.0),
        dict(mistake=0.0, skip=0.1),
        dict(mistake=0.1, skip=0.1),
        dict(mistake=0.3, skip=0.2),
    ]
    grid = _stack([oracle_params("oracle", equal_margin=0.1, **s) for s in settings])
    [(feedback, _)] = jax.tree.map(
        np.asarray, _sweep(("logistic",))(jax.random.key(3), traj_a, traj_b, grid)
    )
    return_gap = np.asarray(total_return(traj_b) - total_return(traj_a))
    is_tie = np.abs(return_gap) < 0.1
    for i, s in enumerate(settings):
        mistake, skip = s["mistake"], s["skip"]
        answered = feedback.answered[i]
        assert_within_se(1 - answered.mean(), skip, math.sqrt(skip * (1 - skip) / n), what="skip")
        # equal: gaps ~ U(-1, 1), margin 0.1, so P(tie) = 0.1 among answered pairs
        np.testing.assert_array_equal(feedback.tie[i], is_tie & (answered > 0))
        tie_rate = feedback.tie[i].sum() / answered.sum()
        assert_within_se(tie_rate, 0.1, math.sqrt(0.09 / answered.sum()), what="tie")
        np.testing.assert_array_equal(feedback.votes[i][feedback.tie[i]], M / 2)
        # mistakes: beta = inf, so every vote against sign(gap) is a flip; per asked vote the flip
        # probability is `mistake` (see teachers.py), votes of a pair share its skip draw
        live = ~is_tie
        correct = np.where(gaps > 0, feedback.votes[i], M * answered - feedback.votes[i])
        flipped = (M * answered - correct)[live]
        f = mistake / (1 - skip)
        var_pair = (1 - skip) * M * f * (1 - f) + skip * (1 - skip) * (M * f) ** 2
        assert_within_se(
            flipped.sum() / (M * live.sum()),
            mistake,
            math.sqrt(var_pair / live.sum()) / M,
            what=f"mistake {s}",
        )
        skipped = answered == 0
        assert np.all(feedback.votes[i][skipped] == 0) and not feedback.tie[i][skipped].any()


def test_equal_utilities_tie_under_equal_preset():
    oracle = jax.jit(make_oracle("logistic", M).query)
    a, b = make_traj([0.3, 0.2]), make_traj([0.0, 0.5])
    feedback = oracle(jax.random.key(0), a, b, oracle_params("equal"))
    assert bool(feedback.tie) and float(feedback.votes) == M / 2 and float(feedback.answered) == 1
    assert float(vote_frequency(feedback)) == 0.5
    assert not bool(oracle(jax.random.key(0), a, b, oracle_params("oracle")).tie)


def test_vmap_over_pairs_equals_loop():
    oracle = make_oracle("extreme_value", 5)
    traj_a, traj_b = pairs_with_gaps(np.array([-1.0, 0.0, 0.05, 0.4, 2.0, 0.0]))
    keys = jax.random.split(jax.random.key(7), 6)
    params = oracle_params("noisy", mistake=0.2, skip=0.3, equal_margin=0.1)

    def both(keys, traj_a, traj_b):  # vmap over pairs, and a sequential loop (lax.map) over them
        batched = jax.vmap(oracle.query, in_axes=(0, 0, 0, None))(keys, traj_a, traj_b, params)
        looped = jax.lax.map(lambda args: oracle.query(*args, params), (keys, traj_a, traj_b))
        return batched, looped

    batched, looped = jax.jit(both)(keys, traj_a, traj_b)
    for got, want in zip(batched, looped):
        np.testing.assert_array_equal(got, want)
    assert set(np.asarray(batched.answered)) == {0.0, 1.0}  # both branches exercised


def test_vmap_over_params_equals_loop():
    oracle = make_oracle("linear")
    traj_a, traj_b = pairs_with_gaps(np.array([-0.5, 0.25, 3.0]))
    params = [oracle_params(name, link_shape=2.0) for name in PRESET_NAMES]
    swept = jax.jit(jax.vmap(oracle.prob, in_axes=(None, None, 0)))(traj_a, traj_b, _stack(params))
    single = jax.jit(oracle.prob)
    for row, p in zip(swept, params):
        np.testing.assert_allclose(row, single(traj_a, traj_b, p), rtol=1e-6)
    grid = oracle_params("noisy", beta=[0.5, 1.0, 2.0])  # a grid straight from oracle_params
    assert grid.model.gamma.shape == (3,)
    assert jax.vmap(oracle.prob, in_axes=(None, None, 0))(traj_a, traj_b, grid).shape == (3, 3)


def test_mistake_plus_skip_equal_to_one_gives_no_nan():
    """mistake 0.2 + skip 0.8 = 1: float32 rounds mistake / (1 - skip) above 1; the flip rate
    and the vote probability are clipped, so no NaN reaches the Binomial sampler (M > 32)."""
    from zoprl.trajectory import Trajectory

    def traj(r):
        return Trajectory(
            jnp.zeros((200, 1)),
            jnp.zeros((200, 1), jnp.int32),
            jnp.zeros((200, 1)),
            jnp.ones((200, 1)),
            jnp.full((200, 1), r),
        )

    oracle = make_oracle("logistic", 64)
    params = oracle_params("oracle", mistake=0.2, skip=0.8)
    keys = jax.random.split(jax.random.key(0), 200)
    fb = jax.jit(jax.vmap(oracle.query, (0, 0, 0, None)))(keys, traj(0.0), traj(1.0), params)
    assert np.all(np.isfinite(fb.votes))
    p = jax.vmap(oracle.prob, (0, 0, None))(traj(0.0), traj(1.0), params)
    assert np.all((np.asarray(p) >= 0) & (np.asarray(p) <= 1))
