"""Sampled self-play learners of the regularised preference game, tabular, on contextual bandits.

Each iteration draws N = ``num_pairs`` pairs sharing their context, has the oracle label them,
and updates the tabular policy log pi [X, K] by its paper's rule (tau = 1 / eta, alpha =
``step_size``; P(a > pi) = sum_b pi(b) P(a, b); "normalise" is a log-softmax per context):

  ipo            online / self-play IPO (Azar et al. 2023, arXiv 2310.12036; Calandriello et
                 al. 2024, arXiv 2403.08635): both actions from pi_theta (no gradient through
                 the sampling), one optimiser step on the mean IPO loss
                 (h - eta (y - 1/2))^2, h = log(pi/pi0)(a_1) - log(pi/pi0)(a_0), y the fraction
                 of votes for a_1. Its population minimiser has log(pi/pi0)(a) = eta P(a > mu) +
                 const for the sampling law mu; at mu = pi that is the equilibrium.
  nash_md        Nash-MD (Munos et al. 2023, arXiv 2312.00886): the geometric mixture
                 pi_mu ∝ pi^(1 - alpha tau) pi0^(alpha tau), a_1 ~ pi, a_0 ~ pi_mu, and
                 log pi' = normalise(log pi_mu + alpha v), v an estimate of P(. > pi_mu) - 1/2.
                 With a constant step its fixed point is biased (``zoprl.games.nash_md``).
  sppo           SPPO (Wu et al. 2024, arXiv 2405.00675): pi' ∝ pi exp(alpha (P(. > pi) - 1/2))
                 from self-play pairs, here with the KL term of the regularised game as a magnet
                 (a magnetic mirror step, Sokota et al. 2022, arXiv 2206.05825):
                 log pi' = normalise((log pi + alpha tau log pi0 + alpha v) / (1 + alpha tau)).
                 (Without the magnet SPPO targets the unregularised game.)
  extragradient  EGPO (Zhou, Fazel and Du 2025, arXiv 2503.08942), its tabular extragradient
                 form: v from self-play at pi, log pi_half = normalise((1 - alpha tau) log pi +
                 alpha tau log pi0 + alpha v); v_half from self-play at pi_half; log pi' =
                 normalise((1 - alpha tau) log pi + alpha tau log pi0 + alpha v_half). Two
                 batches of N pairs per iteration.

The value estimate v(x, a) of P_x(a > opponent) - 1/2 is importance-weighted, hence unbiased:
v(x, a) = sum_n 1[x_n = x, a_n = a] (y_n - 1/2) / (N_x mu(a|x)), over the sampled player
actions a_n ~ mu(.|x) (both members of a self-play pair, the second with label 1 - y_n), N_x the
number of samples in context x (a context without samples gets v = 0). Its variance grows as
mu(a|x) shrinks. With exact probabilities (``exact_probabilities``) the labels are the oracle's
exact probabilities, so the only noise left is the sampling of contexts and actions.

What they converge to (the exact-value recursions): sppo and extragradient converge linearly to
the equilibrium for alpha tau small enough, nash_md to a point biased by O(alpha) (its gap
stalls at O(alpha^2)), ipo to the equilibrium at a stationary point of its population loss; with
sampled values, a constant step leaves each within O(alpha) variance of its fixed point, and a
decreasing step (``step_decay`` > 0, alpha_t ~ 1 / t: stochastic approximation) removes both
that noise floor and Nash-MD's bias.
Counts: 2 N trajectories and N M queries per batch (extragradient: two batches).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zoprl.algorithms.base import Algorithm, ascent_update
from zoprl.algorithms.optimizers import Optimizer, resolve_optimizer
from zoprl.algorithms.preference_game import (
    PairSampler,
    bandit_inputs,
    magnetic_step,
    normalised,
    sample_comparisons,
)
from zoprl.games.models import Comparisons
from zoprl.oracles.accounting import Counts
from zoprl.validation import check_choice, make_hparams

UPDATES = ("ipo", "nash_md", "sppo", "extragradient")


class SelfPlayHparams(NamedTuple):
    """eta: the game's regularisation (tau = 1 / eta); step_size: alpha_0 > 0; step_decay
    >= 0: the step of iteration t is alpha_t = alpha_0 / (1 + step_decay t)."""

    eta: jax.Array
    step_size: jax.Array
    step_decay: jax.Array


class SelfPlayState(NamedTuple):
    params: jax.Array  # log pi [X, K]
    reference_params: jax.Array  # logits of pi0 [X, K]
    opt_state: Any  # the optimiser's (ipo); unused otherwise
    counts: Counts


class SelfPlayInfo(NamedTuple):
    value_norm: jax.Array  # ||v|| of the iteration's value estimate (ipo: of the loss gradient)
    label_mean: jax.Array  # mean label of the sampled pairs


class SelfPlaySetup(NamedTuple):
    sampler: PairSampler
    reference: jax.Array  # logits [X, K]
    update: str
    optimizer: Any


def player_values(data: Comparisons, log_mu, both_members: bool):
    """The importance-weighted estimate of P(a > opponent) - 1/2 [X, K] (module doc). The first
    action of every record is a player sample from mu; with ``both_members`` the second is one
    too (self-play), with label 1 - y."""
    if both_members:
        actions = jnp.concatenate([data.first, data.second])
        contexts = jnp.concatenate([data.contexts, data.contexts])
        excess = jnp.concatenate([data.labels - 0.5, 0.5 - data.labels])
        answered = jnp.concatenate([data.weights, data.weights]) > 0
    else:
        actions, contexts = data.first, data.contexts
        excess, answered = data.labels - 0.5, data.weights > 0
    dtype = log_mu.dtype
    answered = answered.astype(dtype)
    per_context = jnp.zeros(log_mu.shape[:1], dtype).at[contexts].add(answered)
    inverse_prob = jnp.exp(-log_mu[contexts, actions])
    sums = jnp.zeros_like(log_mu).at[contexts, actions].add(answered * excess * inverse_prob)
    return sums / jnp.maximum(per_context, 1.0)[:, None]


def _self_play_values(setup, key, log_pi, env_params, oracle_params):
    data, counts = sample_comparisons(setup.sampler, key, log_pi, log_pi, env_params, oracle_params)
    return player_values(data, log_pi, both_members=True), data, counts


def ipo_loss(params, reference, data: Comparisons, eta):
    """Mean over answered pairs of (h - eta (y - 1/2))^2 (module doc)."""
    log_ratio = normalised(params) - normalised(reference)
    h = log_ratio[data.contexts, data.first] - log_ratio[data.contexts, data.second]
    losses = (h - eta * (data.labels - 0.5)) ** 2
    weights = (data.weights > 0).astype(losses.dtype)
    return weights @ losses / jnp.maximum(jnp.sum(weights), 1.0)


def ipo_update(setup: SelfPlaySetup, key, state: SelfPlayState, hp, env_params, oracle_params):
    data, counts = sample_comparisons(
        setup.sampler, key, state.params, state.params, env_params, oracle_params
    )
    grad = jax.grad(ipo_loss)(state.params, state.reference_params, data, hp.eta)
    descent = jax.tree.map(jnp.negative, grad)
    params, opt_state = ascent_update(
        setup.optimizer, descent, state.opt_state, state.params, hp.step_size
    )
    info = SelfPlayInfo(jnp.linalg.norm(grad), jnp.mean(data.labels))
    return normalised(params), opt_state, counts, info


def nash_md_update(setup: SelfPlaySetup, key, state: SelfPlayState, hp, env_params, oracle_params):
    log_pi0 = normalised(state.reference_params)
    mix = hp.step_size / hp.eta
    log_mu = normalised((1.0 - mix) * state.params + mix * log_pi0)
    data, counts = sample_comparisons(
        setup.sampler, key, log_mu, state.params, env_params, oracle_params
    )
    values = player_values(data, state.params, both_members=False)
    params = normalised(log_mu + hp.step_size * values)
    info = SelfPlayInfo(jnp.linalg.norm(values), jnp.mean(data.labels))
    return params, state.opt_state, counts, info


def sppo_update(setup: SelfPlaySetup, key, state: SelfPlayState, hp, env_params, oracle_params):
    values, data, counts = _self_play_values(setup, key, state.params, env_params, oracle_params)
    log_pi0 = normalised(state.reference_params)
    params = magnetic_step(state.params, log_pi0, values, hp.step_size, hp.eta)
    info = SelfPlayInfo(jnp.linalg.norm(values), jnp.mean(data.labels))
    return params, state.opt_state, counts, info


def extragradient_update(
    setup: SelfPlaySetup, key, state: SelfPlayState, hp, env_params, oracle_params
):
    k_half, k_full = jax.random.split(key)
    log_pi0 = normalised(state.reference_params)
    mix = hp.step_size / hp.eta
    anchor = (1.0 - mix) * state.params + mix * log_pi0
    values, _, first = _self_play_values(setup, k_half, state.params, env_params, oracle_params)
    half = normalised(anchor + hp.step_size * values)
    values, data, second = _self_play_values(setup, k_full, half, env_params, oracle_params)
    params = normalised(anchor + hp.step_size * values)
    counts = first.add(second.trajectories, second.queries)
    info = SelfPlayInfo(jnp.linalg.norm(values), jnp.mean(data.labels))
    return params, state.opt_state, counts, info


UPDATE_RULES = {
    "ipo": ipo_update,
    "nash_md": nash_md_update,
    "sppo": sppo_update,
    "extragradient": extragradient_update,
}


def self_play_init(setup: SelfPlaySetup, key, hp, env_params, oracle_params=None):
    """pi = pi0."""
    del key, hp, env_params, oracle_params
    params = normalised(setup.reference)
    return SelfPlayState(params, setup.reference, setup.optimizer.init(params), Counts.zero())


def self_play_step(
    setup: SelfPlaySetup, key, state: SelfPlayState, hp, env_params, oracle_params, iteration
):
    """One iteration of the setup's update rule (module doc)."""
    hp = jax.tree.map(lambda x: x.astype(state.params.dtype), hp)
    hp = hp._replace(step_size=hp.step_size / (1.0 + hp.step_decay * iteration))
    rule = UPDATE_RULES[setup.update]
    params, opt_state, new, info = rule(setup, key, state, hp, env_params, oracle_params)
    counts = state.counts.add(new.trajectories, new.queries)
    return state._replace(params=params, opt_state=opt_state, counts=counts), info


def self_play_hparams(eta=1.0, step_size=0.1, step_decay=0.0) -> SelfPlayHparams:
    """Validated hyperparameters; scalars or grids, broadcast to one common shape."""
    return make_hparams(
        SelfPlayHparams,
        nonnegative=("step_decay",),
        eta=eta,
        step_size=step_size,
        step_decay=step_decay,
    )


def self_play(
    env,
    policy,
    oracle,
    *,
    update: str,
    num_pairs: int = 64,
    reference: str = "uniform",
    reference_strength: float = 1.0,
    reference_seed: int = 0,
    exact_probabilities: bool = False,
    optimizer: Optimizer = None,
) -> Algorithm:
    """A sampled self-play learner named "{update}_self_play" (module doc).

    update: one of ``UPDATES``; num_pairs: N pairs per batch; reference, reference_strength,
    reference_seed: pi0 (``preference_game.reference_logits``); exact_probabilities: label
    pairs with the oracle's exact probabilities; optimizer: of the ipo update (sgd default)."""
    inputs = bandit_inputs(
        env, policy, oracle, num_pairs, reference, reference_strength, reference_seed,
        exact_probabilities,
    )  # fmt: skip
    check_choice("update", update, UPDATES)
    setup = SelfPlaySetup(
        inputs.sampler,
        inputs.reference,
        update,
        resolve_optimizer(optimizer, "sgd"),
    )
    return Algorithm(
        f"{update}_self_play",
        functools.partial(self_play_init, setup),
        functools.partial(self_play_step, setup),
        self_play_hparams,
        env,
        policy,
        reads_latent_reward=False,
    )
