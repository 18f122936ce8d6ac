"""The Bradley-Terry pipeline: fit a reward to general preferences, then the KL-regularised
policy of that reward (the transitive baseline of arXiv 2402.07314), tabular, on contextual
bandits.

Per iteration: N = ``num_pairs`` pairs x ~ d0, a_0, a_1 ~ pi_s(.|x) (pi_s: the reference pi0,
or the current policy with ``sampling = "current"``) are labelled and added to the comparison
table; the reward r-hat [X, K] is refitted on the whole table by maximum likelihood under
Bradley-Terry, P(a > b | x) = sigma(r(x, a) - r(x, b)) (``zoprl.games.bradley_terry_model``;
``fit_steps`` line-searched Newton steps warm-started at the previous fit, plus (l2 / 2)
||r||^2), and the policy is pi ∝ pi0 exp(eta' r-hat) with eta' = reward_scale * eta.

For a logistic P the equilibrium and the KL-optimal policy of the reward agree to first order
in the reward differences when eta' = eta / 4 (the default reward_scale). On intransitive
preferences no reward represents P: with unlimited data the fit converges to the Bradley-Terry
projection of P and the true gap of the pipeline's policy stays above zero (on the Condorcet
trap, a BT fit ranks first an action that the third one beats). ``preference_estimate`` holds
the fitted sigma(r_a - r_b), so the nash evaluator's model_gap is the gap in the game the
pipeline believes in.

Counts: 2 N trajectories and N M queries per iteration.
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
    normalised,
    sample_comparisons,
)
from zoprl.games.models import (
    ComparisonTable,
    LearnedPreference,
    bradley_terry_model,
    empty_table,
    make_fit,
    table_add,
    table_records,
)
from zoprl.oracles.accounting import Counts
from zoprl.validation import check_choice, check_int, make_hparams

SAMPLING = ("reference", "current")


class BTPipelineHparams(NamedTuple):
    """eta: the game's regularisation; reward_scale: eta' / eta > 0; l2 >= 0: ridge of the
    reward fit (relative to the mean negative log-likelihood)."""

    eta: jax.Array
    reward_scale: jax.Array
    l2: jax.Array


class BTPipelineState(NamedTuple):
    params: jax.Array  # log pi [X, K]
    reference_params: jax.Array  # logits of pi0 [X, K]
    rewards: jax.Array  # r-hat [X, K]
    preference_estimate: jax.Array  # sigma(r_a - r_b) [X, K, K]
    table: ComparisonTable
    counts: Counts


class BTPipelineInfo(NamedTuple):
    fit_loss: jax.Array  # the fit's objective before its last Newton step


class BTPipelineSetup(NamedTuple):
    sampler: PairSampler
    reference: jax.Array  # logits [X, K]
    model: LearnedPreference
    fit: Any
    sampling: str


def bt_pipeline_init(setup: BTPipelineSetup, key, hp, env_params, oracle_params=None):
    """No data yet: r-hat = 0, pi = pi0."""
    del key, hp, env_params, oracle_params
    reference = setup.reference
    rewards = jnp.zeros_like(reference)
    table = empty_table(*reference.shape, reference.dtype)
    state = BTPipelineState(
        normalised(reference), reference, rewards, setup.model.prob(rewards), table, Counts.zero()
    )
    return state


def bt_pipeline_step(
    setup: BTPipelineSetup, key, state: BTPipelineState, hp, env_params, oracle_params, iteration
):
    """Collect, refit r-hat on the whole table, set pi ∝ pi0 exp(eta' r-hat) (module doc)."""
    del iteration
    sampling = state.reference_params if setup.sampling == "reference" else state.params
    data, new = sample_comparisons(
        setup.sampler, key, sampling, sampling, env_params, oracle_params
    )
    table = table_add(state.table, data)
    records = table_records(table)
    dtype = state.rewards.dtype
    rewards, losses = setup.fit(state.rewards, *records, l2=hp.l2.astype(dtype))
    eta_reward = (hp.reward_scale * hp.eta).astype(dtype)
    params = normalised(normalised(state.reference_params) + eta_reward * rewards)
    counts = state.counts.add(new.trajectories, new.queries)
    state = BTPipelineState(
        params, state.reference_params, rewards, setup.model.prob(rewards), table, counts
    )
    return state, BTPipelineInfo(losses[-1])


def bt_pipeline_hparams(eta=1.0, reward_scale=0.25, l2=1e-4) -> BTPipelineHparams:
    """Validated hyperparameters; scalars or grids, broadcast to one common shape."""
    return make_hparams(
        BTPipelineHparams, nonnegative=("l2",), eta=eta, reward_scale=reward_scale, l2=l2
    )


def bt_pipeline(
    env,
    policy,
    oracle,
    *,
    num_pairs: int = 64,
    sampling: str = "reference",
    fit_steps: int = 10,
    reference: str = "uniform",
    reference_strength: float = 1.0,
    reference_seed: int = 0,
    exact_probabilities: bool = False,
) -> Algorithm:
    """The Bradley-Terry pipeline of the module doc, named "bt_pipeline".

    num_pairs: N pairs per iteration; sampling: "reference" or "current"; fit_steps: Newton
    steps per refit; reference, reference_strength, reference_seed: pi0
    (``preference_game.reference_logits``); exact_probabilities: label pairs with the
    oracle's exact probabilities."""
    inputs = bandit_inputs(
        env, policy, oracle, num_pairs, reference, reference_strength, reference_seed,
        exact_probabilities,
    )  # fmt: skip
    check_choice("sampling", sampling, SAMPLING)
    model = bradley_terry_model(env.num_states, env.num_actions, inputs.reference.dtype)
    setup = BTPipelineSetup(
        inputs.sampler,
        inputs.reference,
        model,
        make_fit(model, check_int("fit_steps", fit_steps), "newton"),
        sampling,
    )
    return Algorithm(
        "bt_pipeline",
        functools.partial(bt_pipeline_init, setup),
        functools.partial(bt_pipeline_step, setup),
        bt_pipeline_hparams,
        env,
        policy,
        reads_latent_reward=False,
    )
