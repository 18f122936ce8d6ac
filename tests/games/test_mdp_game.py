"""The preference game on a GridWorld with three goals (ours, beyond arXiv 2402.07314): the
outcome teacher, the exact payoff, best response, gap and equilibrium of an MDP policy checked
against independent references (the exploitability over other policies, an enumeration of the
trajectories of a tiny world, the bandit game on outcomes), the intransitivity that no per-step
reward represents, and the "nash_mdp" evaluator."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from zoprl.enumeration import expected_step_returns, trajectory_probabilities
from zoprl.envs import make
from zoprl.evaluators import make_evaluator
from zoprl.games import equilibrium as bandit_equilibrium
from zoprl.games import mdp_game
from zoprl.games.outcome_teacher import goal_outcomes, outcome_model, outcome_params
from zoprl.oracles import (
    ORACLE_KINDS,
    OracleParams,
    make_oracle,
    make_preference_oracle,
    teacher_params,
)
from zoprl.policies import tabular_softmax
from zoprl.rollout import make_paired_rollout
from zoprl.soft_value import soft_value_iteration

GOALS = [[0, 2], [2, 0], [2, 2]]


def _world(slip=0.2, horizon=5):
    return make("GridWorld", size=3, horizon=horizon, slip=slip, goals=GOALS)


def _float64(tree):
    cast = lambda x: jnp.asarray(x, jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x
    return jax.tree.map(lambda x: cast(jnp.asarray(x)), tree)


def _game(slip=0.2, eta=5.0, return_weight=0.02):
    env, env_params = _world(slip)
    env_params = _float64(env_params)
    teacher = outcome_params(env, env_params, return_weight=return_weight)
    shape = (env.horizon, env.num_states, env.num_actions)
    log_reference = jnp.full(shape, -np.log(env.num_actions), jnp.float64)
    return mdp_game.outcome_game(env.model(env_params), teacher, log_reference, eta)


def _random_logits(seed, shape, scale=1.0):
    return scale * jax.random.normal(jax.random.key(seed), shape, jnp.float64)


def test_the_outcome_teacher_builds_rock_paper_scissors_over_the_goals():
    env, env_params = _world()
    params = ORACLE_KINDS["outcome"].build(env).params(env_params, strength=0.3, goal_bonus=0.4)
    C = np.asarray(params.outcome_matrix)
    np.testing.assert_allclose(C + C.T, 1.0, atol=1e-7)
    # goals in order of their cell index (2, 6, 8): 0 beats 1, 1 beats 2, 2 beats 0
    np.testing.assert_allclose(C[[0, 1, 2], [1, 2, 0]], 0.8, atol=1e-7)
    np.testing.assert_allclose(C[:3, 3], 0.9, atol=1e-7)  # any goal beats no goal
    outcome = np.asarray(goal_outcomes(env_params.goal_mask))
    assert outcome.shape == (9, 4) and np.all(outcome.sum(1) == 1)
    assert [int(np.argmax(outcome[s])) for s in (2, 6, 8, 0, 4)] == [0, 1, 2, 3, 3]


def test_the_outcome_teacher_validates_its_knobs():
    env, env_params = _world()
    with pytest.raises(ValueError, match="goal cells"):
        bandit, bandit_params = make("ContextualBandit")
        outcome_params(bandit, bandit_params)
    with pytest.raises(ValueError, match="shape"):
        outcome_params(env, env_params, outcome_matrix=[[0.5, 0.5], [0.5, 0.5]])
    bad = np.full((4, 4), 0.5)
    bad[0, 1] = 0.9
    with pytest.raises(ValueError, match="must equal 1"):
        outcome_params(env, env_params, outcome_matrix=bad.tolist())
    with pytest.raises(ValueError, match="return_weight"):
        outcome_params(env, env_params, return_weight=1.0)


@pytest.mark.slow
def test_the_oracle_answers_average_to_the_exact_win_rate():
    """Monte Carlo over 4096 pairs of rollouts, within 5 standard errors."""
    env, env_params = _world()
    policy = tabular_softmax(env.num_states, env.num_actions, env.horizon)
    teacher = outcome_params(env, env_params, return_weight=0.02)
    shape = (env.horizon, env.num_states, env.num_actions)
    logits_0, logits_1 = (1.5 * jax.random.normal(jax.random.key(s), shape) for s in (1, 2))
    paired = jax.jit(make_paired_rollout(env, policy, 4096))
    traj_0, traj_1 = paired(jax.random.key(0), logits_0, logits_1, env_params)
    p, tie_gap = outcome_model(env).prob(traj_0, traj_1, teacher)
    np.testing.assert_allclose(tie_gap, np.abs(np.asarray(p) - 0.5))
    log_reference = jnp.full(shape, -np.log(env.num_actions))
    game = mdp_game.outcome_game(env.model(env_params), teacher, log_reference, 5.0)
    exact = float(mdp_game.win_rate(game, logits_1, logits_0))
    standard_error = float(np.std(p)) / np.sqrt(p.size)
    assert abs(float(np.mean(p)) - exact) < 5 * standard_error, (np.mean(p), exact)


@jax.jit
def _exploitability(game, logits, others):
    """Gap(pi), J(pi, pi), J(BR, pi), J(pi, BR), max over ``others`` of J(other, pi), and the
    largest |d J(x, pi) / dx| at x = log BR."""
    best = mdp_game.best_response(game, logits).log_policy
    payoff_against = lambda x: mdp_game.payoff(game, x, logits)
    return (
        mdp_game.gap(game, logits),
        payoff_against(logits),
        payoff_against(best),
        mdp_game.payoff(game, logits, best),
        jnp.max(jax.vmap(payoff_against)(others)),
        jnp.max(jnp.abs(jax.grad(payoff_against)(best))),
    )


def test_the_gap_is_the_exploitability(x64):
    game = _game()
    shape = game.log_reference.shape
    others = jax.vmap(lambda k: _random_logits(k, shape, 2.0))(jnp.arange(10, 74))
    values = _exploitability(game, _random_logits(3, shape), others)
    gap, self_play, best_vs, vs_best, best_other, grad = (float(v) for v in values)
    assert gap > 0
    np.testing.assert_allclose(self_play, 0.5, atol=1e-14)
    # Gap = max_pi1 J(pi1, pi) - 1/2 = 1/2 - min_pi2 J(pi, pi2), attained by the best response
    np.testing.assert_allclose(best_vs - 0.5, gap, rtol=1e-10)
    np.testing.assert_allclose(0.5 - vs_best, gap, rtol=1e-10)
    # no other response does better, and the best response is a stationary point of J(., pi)
    assert best_other - 0.5 < gap and grad < 1e-10


def test_the_equilibrium_has_zero_gap_and_is_its_own_best_response(x64):
    game = _game(eta=20.0)
    star = mdp_game.equilibrium(game)
    assert float(star.gap) < 1e-12 and int(star.num_iterations) < 30
    assert abs(float(mdp_game.gap(game, star.log_policy))) < 1e-12
    best = mdp_game.best_response(game, star.log_policy).log_policy
    reached = jnp.sum(mdp_game.occupancy(game, star.log_policy), axis=-1) > 0
    np.testing.assert_allclose(
        jnp.where(reached[..., None], best, 0), jnp.where(reached[..., None], star.log_policy, 0),
        atol=1e-9,
    )  # fmt: skip
    np.testing.assert_allclose(jnp.sum(star.outcomes), 1.0, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("slip", [0.0, 0.2])
def test_without_slips_the_mdp_game_reduces_to_the_bandit_game_on_outcomes(x64, slip):
    game = _game(slip=slip, eta=10.0)
    neutral = mdp_game.response_mdp(game, jnp.zeros(4, jnp.float64))
    tilted = soft_value_iteration(neutral, game.horizon).log_policy
    q_lam = mdp_game.outcome_distribution(game, tilted)
    reduced = bandit_equilibrium(game.outcome_matrix, q_lam, 10.0)
    outcomes = mdp_game.equilibrium(game).outcomes
    if slip == 0.0:
        np.testing.assert_allclose(outcomes, reduced, atol=1e-10)
    else:  # a policy cannot tilt the slips: the reduction no longer holds
        assert float(jnp.max(jnp.abs(outcomes - reduced))) > 1e-3


class PolicyState(NamedTuple):
    params: jax.Array


@pytest.mark.slow  # the engine test of test_nash_mdp_sweep runs the evaluator by default
def test_the_evaluator_records_the_exact_game_metrics(x64):
    env, env_params = _world()
    env_params = _float64(env_params)
    policy = tabular_softmax(env.num_states, env.num_actions, env.horizon)
    oracle = make_preference_oracle(outcome_model(env), 10)
    oracle_params = OracleParams(outcome_params(env, env_params), teacher_params())
    evaluator = make_evaluator("nash_mdp", env, policy, oracle, eta=5.0)
    star = jax.jit(evaluator.init)(None, None, env_params, oracle_params)
    metrics = jax.jit(evaluator.metrics)
    at_star = metrics(None, PolicyState(star), None, env_params, oracle_params, star)
    assert float(at_star["gap"]) < 1e-12
    np.testing.assert_allclose(at_star["win_rate_vs_equilibrium"], 0.5, atol=1e-12)
    uniform = jnp.zeros(star.shape, jnp.float64)
    at_uniform = metrics(None, PolicyState(uniform), None, env_params, oracle_params, star)
    np.testing.assert_allclose(at_uniform["win_rate_vs_reference"], 0.5, atol=1e-12)
    assert float(at_uniform["kl_to_reference"]) == 0.0 and float(at_uniform["gap"]) > 0.01
    names = ["outcome_goal_0", "outcome_goal_1", "outcome_goal_2", "outcome_no_goal"]
    np.testing.assert_allclose(sum(float(at_uniform[n]) for n in names), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="outcome"):
        make_evaluator("nash_mdp", env, policy, make_oracle("logistic", 1), eta=1.0)


# A world small enough to enumerate: 3 x 3 cells, start in the centre, goals at three of its
# neighbours (one step away; the fourth neighbour is no goal), H = 3, slip 0.2. The
# trajectories (s_1 = start, a_1, s_2, a_2, s_3, a_3) of positive probability: 448 of them.
TINY = dict(size=3, horizon=3, slip=0.2, start=[1, 1], goals=[[0, 1], [1, 0], [1, 2]])


def _tiny_game(eta=4.0, return_weight=0.05):
    env, env_params = make("GridWorld", **TINY)
    env_params = _float64(env_params)
    teacher = outcome_params(env, env_params, return_weight=return_weight)
    shape = (env.horizon, env.num_states, env.num_actions)
    log_reference = jnp.full(shape, -np.log(env.num_actions), jnp.float64)
    game = mdp_game.outcome_game(env.model(env_params), teacher, log_reference, eta)
    S, A, H = env.num_states, env.num_actions, env.horizon
    digits = np.unravel_index(np.arange(A**H * S ** (H - 1)), (A,) + (S, A) * (H - 1))
    actions = np.stack(digits[0::2], axis=-1)
    start = np.full((actions.shape[0], 1), int(env_params.start))
    states = np.concatenate([start, np.stack(digits[1::2], -1)], -1)
    p0 = trajectory_probabilities(
        game.transition, game.start, jnp.exp(log_reference), states, actions
    )
    possible = np.asarray(p0) > 0  # under pi0 (uniform), hence under every policy of support A
    return game, states[possible], actions[possible]


def _enumerated(game, states, actions):
    """Independent references by summing over the enumerated trajectories: the trajectory law
    p_pi, the pairwise teacher matrix P(tau_i > tau_j) [N, N] and J(pi1, pi2)."""
    outcome = np.argmax(np.asarray(game.outcome), axis=-1)[states[:, -1]]  # o(tau) [N]
    returns = expected_step_returns(game.reward, states, actions)  # [N]
    pairs = game.outcome_matrix[outcome[:, None], outcome[None, :]] + game.return_weight * (
        returns[:, None] - returns[None, :]
    )
    law = lambda logits: trajectory_probabilities(
        game.transition, game.start, jax.nn.softmax(logits, -1), states, actions
    )
    p0 = law(game.log_reference)

    def kl(p):
        positive = p > 0  # where (and only where) p0 > 0 too: pi0 is uniform
        p_safe, p0_safe = jnp.where(positive, p, 1.0), jnp.where(positive, p0, 1.0)
        return jnp.sum(jnp.where(positive, p * (jnp.log(p_safe) - jnp.log(p0_safe)), 0.0))

    def payoff(logits_1, logits_2):
        p1, p2 = law(logits_1), law(logits_2)
        return p1 @ pairs @ p2 + (kl(p2) - kl(p1)) / game.eta

    return law, pairs, payoff


def test_the_exact_quantities_match_an_enumeration_of_the_trajectories(x64):
    game, states, actions = _tiny_game()
    law, pairs, payoff = _enumerated(game, states, actions)
    shape = game.log_reference.shape
    logits = [_random_logits(seed, shape, 1.5) for seed in range(3)]
    assert states.shape == (448, 3)
    np.testing.assert_allclose(jnp.sum(law(logits[0])), 1.0, rtol=1e-12)
    # the teacher is skew-symmetric on whole trajectories: P(a > b) + P(b > a) = 1
    np.testing.assert_allclose(pairs + pairs.T, 1.0, atol=1e-12)
    exact = jax.jit(mdp_game.payoff)
    for a, b in [(0, 1), (1, 2), (2, 0)]:
        np.testing.assert_allclose(
            exact(game, logits[a], logits[b]), jax.jit(payoff)(logits[a], logits[b]), rtol=1e-12
        )
        np.testing.assert_allclose(
            exact(game, logits[a], logits[b]) + exact(game, logits[b], logits[a]), 1.0
        )


def test_the_best_response_is_optimal_against_the_enumeration(x64):
    """No policy found by 3000 Adam steps on the enumerated J(., pi) beats the soft-value-
    iteration best response, which attains 1/2 + Gap(pi)."""
    game, states, actions = _tiny_game()
    _, _, payoff = _enumerated(game, states, actions)
    opponent = _random_logits(5, game.log_reference.shape, 1.5)
    best = mdp_game.best_response(game, opponent).log_policy
    optimiser = optax.adam(0.05)

    @jax.jit
    def ascend(logits):
        def step(carry, _):
            x, opt_state = carry
            updates, opt_state = optimiser.update(-jax.grad(payoff)(x, opponent), opt_state)
            return (x + updates, opt_state), None

        (x, _), _ = jax.lax.scan(step, (logits, optimiser.init(logits)), None, length=3000)
        return payoff(x, opponent)

    attained = float(jax.jit(payoff)(best, opponent))
    np.testing.assert_allclose(attained - 0.5, jax.jit(mdp_game.gap)(game, opponent), rtol=1e-10)
    found = [float(ascend(_random_logits(seed, best.shape))) for seed in (7, 8)]
    assert max(found) <= attained + 1e-12 and min(found) > attained - 1e-6, (found, attained)


def test_no_per_step_reward_represents_the_teacher(x64):
    """Three trajectories reaching goals 0, 1, 2 form a strict preference cycle, so no model
    P = Phi(R(tau1) - R(tau2)) with R a sum of per-step rewards and Phi increasing (Bradley-
    Terry, any link) can order them: one pair of the cycle is off by at least
    min P - 1/2 > 0.25. A maximum-likelihood fit of a logistic model with a time-dependent
    table r_h(s, a) to every pair of trajectories, with the teacher's exact probabilities as
    labels, misses by that much."""
    game, states, actions = _tiny_game()
    law, pairs, _ = _enumerated(game, states, actions)
    outcome = np.argmax(np.asarray(game.outcome), axis=-1)[states[:, -1]]
    cycle = [int(np.flatnonzero(outcome == g)[0]) for g in range(3)]
    wins = np.asarray([pairs[cycle[g], cycle[(g + 1) % 3]] for g in range(3)])
    assert np.all(wins > 0.75), wins  # goal g beats goal g + 1 on every edge: intransitive
    steps = np.arange(states.shape[1])

    def loss(reward):
        returns = jnp.sum(reward[steps, states, actions], axis=-1)
        logit = returns[:, None] - returns[None, :]
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logit, pairs))

    optimiser = optax.adam(0.1)

    @jax.jit
    def fit(reward):
        def step(carry, _):
            x, opt_state = carry
            updates, opt_state = optimiser.update(jax.grad(loss)(x), opt_state)
            return (x + updates, opt_state), None

        (x, _), _ = jax.lax.scan(step, (reward, optimiser.init(reward)), None, length=1000)
        return x

    reward = fit(jnp.zeros(game.log_reference.shape, jnp.float64))
    returns = np.asarray(jnp.sum(reward[steps, states, actions], axis=-1))
    fitted = 1 / (1 + np.exp(-(returns[:, None] - returns[None, :])))
    assert np.max(np.abs(fitted - pairs)) > np.min(wins) - 0.5 - 1e-9
    on_cycle = [fitted[cycle[g], cycle[(g + 1) % 3]] for g in range(3)]
    assert min(on_cycle) < 0.5  # the fit orders the three goals: one edge is reversed
