"""Online Nash learning with a main agent and an enhancer (Ye et al. 2024, arXiv 2402.07314,
Algorithm 2), tabular, on contextual dueling bandits.

Round t (one iteration):
  1. the main agent pi1_t is the equilibrium of the game fitted on all data so far (P-hat_t,
     the tabular MLE; damped Newton per context, warm-started from pi1_{t-1});
  2. the enhancer pi2_t explores relative to pi1_t (``enhancer``, below);
  3. m = ``num_pairs`` pairs x ~ d0, a1 ~ pi1_t(.|x), a2 ~ pi2_t(.|x) are labelled by the oracle
     and added to the comparison table; P-hat_{t+1} and pi1_{t+1} are computed from it.
``state.params`` holds log pi1 of the latest fit, so the record after round t is the main agent
fitted on t rounds of data (iteration 0: no data, P-hat = 1/2 everywhere, pi1 = pi0).
The paper's guarantee: a gap of eps after on the order of 1 / eps^2 queries, whatever the
coverage of the reference policy.

The uncertainty of a pair of policies (ours, tabular; ``zoprl.games.confidence``):
Gamma_t(pi1, pi2)^2 = sum_x d0(x)^2 sum_{a<b} w_x(a, b)^2 / (lambda + n_t(x, {a, b}) / m), with
w_x(a, b) = pi1(a|x) pi2(b|x) - pi1(b|x) pi2(a|x) and n_t the number of answered pairs. Its
square is convex in pi2 and separable over contexts. Enhancer variants (a)-(e), ours:

  uncertainty  (a) argmax of Gamma_t over all policies: per context a vertex of the simplex,
               the action b maximising sum_{a != b} pi1(a)^2 / (lambda + n(a, b) / m);
  confidence   (b) argmax of Gamma_t over the Gibbs best responses pi0 exp(eta P pi1) / Z to
               pi1 under models P of the confidence box (half-width beta / sqrt(n + 1), n in
               votes) -- in our finite version the K + 1 candidates P-hat and the K box vertices
               that favour one action (``favouring_preferences``), chosen per context;
  best_of_n    (c) the best of ``best_of`` draws from pi1 ranked by the fitted win rate
               (P-hat pi1)(a) (the exact distribution of that maximum, ties by index);
  self_play    (d) no enhancer: both actions from pi1;
  reference    (e) a2 ~ pi0.

Counts: 2 m trajectories and m M queries per round. Diagnostics: Gamma_t(pi1_t, pi2_t) and the
entropy of the enhancer.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zoprl.algorithms.base import Algorithm
from zoprl.algorithms.preference_game import (
    PairSampler,
    bandit_inputs,
    context_weights,
    normalised,
    sample_comparisons,
)
from zoprl.games.confidence import (
    confidence_width,
    context_uncertainty_sq,
    favouring_preferences,
    uncertainty,
)
from zoprl.games.models import ComparisonTable, empty_table, table_add, table_estimate
from zoprl.games.solvers import newton_equilibrium
from zoprl.oracles.accounting import Counts
from zoprl.validation import check_choice, check_int, make_hparams

ENHANCERS = ("uncertainty", "confidence", "best_of_n", "self_play", "reference")
_EXCLUDED_LOGIT = -50.0  # log-probability of the actions a deterministic enhancer never plays


class NashOnlineHparams(NamedTuple):
    """eta: the game's regularisation; lam: lambda > 0 of the uncertainty; beta >= 0: the
    confidence width of the "confidence" enhancer."""

    eta: jax.Array
    lam: jax.Array
    beta: jax.Array


class NashOnlineState(NamedTuple):
    params: jax.Array  # log pi1, the main agent fitted on all data [X, K]
    reference_params: jax.Array  # logits of pi0 [X, K]
    preference_estimate: jax.Array  # P-hat [X, K, K]
    enhancer_params: jax.Array  # log pi2 of the last round [X, K]
    table: ComparisonTable
    counts: Counts


class NashOnlineInfo(NamedTuple):
    uncertainty: jax.Array  # Gamma_t(pi1_t, pi2_t) of the round
    enhancer_entropy: jax.Array  # E_x H(pi2_t(.|x))


class NashOnlineSetup(NamedTuple):
    sampler: PairSampler
    env: Any
    reference: jax.Array  # logits [X, K]
    enhancer: str
    best_of: int
    votes_per_pair: int


class EnhancerInputs(NamedTuple):
    """Per-context inputs of an enhancer (leaves [K] or [K, K])."""

    pi1: jax.Array
    P_hat: jax.Array
    pair_counts: jax.Array  # answered pairs n(x, {a, b})
    vote_counts: jax.Array  # answered votes
    pi0: jax.Array


def uncertainty_enhancer(inputs: EnhancerInputs, hp, pairs_per_round):
    """(a): the action maximising Gamma_x^2 against pi1, as log-probabilities [K]."""
    scores = (inputs.pi1**2)[:, None] / (hp.lam + inputs.pair_counts / pairs_per_round)
    scores = jnp.sum(scores, axis=0) - jnp.diag(scores)  # sum over a != b of column b
    best = jnp.arange(scores.shape[0]) == jnp.argmax(scores)
    return jnp.where(best, 0.0, _EXCLUDED_LOGIT).astype(inputs.pi1.dtype)


def confidence_enhancer(inputs: EnhancerInputs, hp, pairs_per_round):
    """(b): the most uncertain Gibbs best response to pi1 among the K + 1 candidate models."""
    width = confidence_width(inputs.vote_counts, hp.beta)
    models = jnp.concatenate([inputs.P_hat[None], favouring_preferences(inputs.P_hat, width)])
    log_pi0 = jnp.log(inputs.pi0)
    candidates = jax.vmap(lambda P: normalised(log_pi0 + hp.eta * (P @ inputs.pi1)))(models)
    scores = jax.vmap(
        lambda lp: context_uncertainty_sq(
            inputs.pi1, jnp.exp(lp), inputs.pair_counts, hp.lam, pairs_per_round
        )
    )(candidates)
    chosen = jnp.arange(scores.shape[0]) == jnp.argmax(scores)
    return jnp.tensordot(chosen.astype(candidates.dtype), candidates, axes=1)


def best_of_n_enhancer(inputs: EnhancerInputs, best_of: int):
    """(c): the law of the best of ``best_of`` draws from pi1 by the fitted win rate."""
    scores = inputs.P_hat @ inputs.pi1
    order = jnp.argsort(scores, stable=True)  # ascending; ties: the lower index ranks lower
    cdf = jnp.cumsum(inputs.pi1[order])
    below = jnp.concatenate([jnp.zeros((1,), cdf.dtype), cdf[:-1]])
    sorted_probs = jnp.clip(cdf, 0.0, 1.0) ** best_of - jnp.clip(below, 0.0, 1.0) ** best_of
    probs = jnp.zeros_like(sorted_probs).at[order].set(sorted_probs)
    return jnp.log(jnp.maximum(probs, jnp.finfo(probs.dtype).tiny))


def enhancer_logits(setup: NashOnlineSetup, inputs: EnhancerInputs, hp):
    """log pi2 [X, K] of the setup's enhancer (module doc), per context."""
    m = setup.sampler.num_pairs
    if setup.enhancer == "uncertainty":
        return jax.vmap(lambda i: uncertainty_enhancer(i, hp, m))(inputs)
    if setup.enhancer == "confidence":
        return jax.vmap(lambda i: confidence_enhancer(i, hp, m))(inputs)
    if setup.enhancer == "best_of_n":
        return jax.vmap(lambda i: best_of_n_enhancer(i, setup.best_of))(inputs)
    if setup.enhancer == "self_play":
        return jnp.log(inputs.pi1)
    return jnp.log(inputs.pi0)


def main_agent(P_hat, pi0, eta, previous):
    """pi1 [X, K]: the equilibrium of the fitted game per context, warm-started at previous."""
    solve = lambda P_x, ref, init: newton_equilibrium(P_x, ref, eta, init=init).policy
    return jax.vmap(solve)(P_hat, pi0, previous)


def nash_online_init(setup: NashOnlineSetup, key, hp, env_params, oracle_params=None):
    """No data: P-hat = 1/2, whose equilibrium is pi0."""
    del key, hp, env_params, oracle_params
    reference = setup.reference
    table = empty_table(*reference.shape, reference.dtype)
    log_pi0 = normalised(reference)
    P_hat = table_estimate(table).P_hat
    return NashOnlineState(log_pi0, reference, P_hat, log_pi0, table, Counts.zero())


def nash_online_step(
    setup: NashOnlineSetup, key, state: NashOnlineState, hp, env_params, oracle_params, iteration
):
    """One round (module doc)."""
    del iteration
    dtype = state.preference_estimate.dtype
    hp = jax.tree.map(lambda x: x.astype(dtype), hp)
    pi1 = jnp.exp(state.params)
    pi0 = jax.nn.softmax(state.reference_params, axis=-1)
    pair_counts = state.table.counts / setup.votes_per_pair
    inputs = EnhancerInputs(pi1, state.preference_estimate, pair_counts, state.table.counts, pi0)
    log_pi2 = enhancer_logits(setup, inputs, hp)
    data, new = sample_comparisons(
        setup.sampler, key, state.params, log_pi2, env_params, oracle_params
    )
    table = table_add(state.table, data)
    P_hat = table_estimate(table).P_hat
    main = main_agent(P_hat, pi0, hp.eta, pi1)
    d0 = context_weights(setup.env, env_params).astype(dtype)
    pi2 = jnp.exp(log_pi2)
    info = NashOnlineInfo(
        uncertainty(pi1, pi2, pair_counts, d0, hp.lam, setup.sampler.num_pairs),
        -d0 @ jnp.sum(pi2 * log_pi2, axis=-1),
    )
    counts = state.counts.add(new.trajectories, new.queries)
    state = NashOnlineState(jnp.log(main), state.reference_params, P_hat, log_pi2, table, counts)
    return state, info


def nash_online_hparams(eta=1.0, lam=1.0, beta=1.0) -> NashOnlineHparams:
    """Validated hyperparameters; scalars or grids, broadcast to one common shape."""
    return make_hparams(
        NashOnlineHparams,
        nonnegative=("beta",),
        positive=("eta", "lam"),
        eta=eta,
        lam=lam,
        beta=beta,
    )


def nash_online(
    env,
    policy,
    oracle,
    *,
    num_pairs: int = 64,
    enhancer: str = "uncertainty",
    best_of: int = 4,
    reference: str = "uniform",
    reference_strength: float = 1.0,
    reference_seed: int = 0,
    exact_probabilities: bool = False,
) -> Algorithm:
    """The online main-agent / enhancer learner of the module doc, named "nash_online".

    num_pairs: m pairs per round; enhancer: one of ``ENHANCERS``; best_of: n of "best_of_n";
    reference, reference_strength, reference_seed: pi0 (``preference_game.reference_logits``);
    exact_probabilities: label pairs with the oracle's exact probabilities."""
    inputs = bandit_inputs(
        env, policy, oracle, num_pairs, reference, reference_strength, reference_seed,
        exact_probabilities,
    )  # fmt: skip
    check_choice("enhancer", enhancer, ENHANCERS)
    setup = NashOnlineSetup(
        inputs.sampler,
        env,
        inputs.reference,
        enhancer,
        check_int("best_of", best_of),
        oracle.num_queries,
    )
    return Algorithm(
        "nash_online",
        functools.partial(nash_online_init, setup),
        functools.partial(nash_online_step, setup),
        nash_online_hparams,
        env,
        policy,
        reads_latent_reward=False,
    )
