"""The algorithm interface shared by every method in zoprl.

An algorithm is a NamedTuple of pure functions built by a factory that closes over the static
settings (environment, policy, oracle, numbers of pairs / queries / directions, optimiser):

    state = algo.init(key, hparams, env_params, oracle_params)
    state, info = algo.step(key, state, hparams, env_params, oracle_params)

``init`` receives the oracle params too, so that offline methods can collect their preference
data set once, at initialisation. ``hparams`` is a pytree of the scalars a user sweeps (step
size, mu, clip range, ...), so one compiled program covers a whole grid by vmap. Every state has
``params`` (the policy's) and ``counts`` (trajectories sampled and human queries asked, both
cumulative), which ``make_run`` reads. ``info`` is a NamedTuple of small per-iteration
diagnostics.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import optax

from zoprl.oracles.accounting import Counts


class Algorithm(NamedTuple):
    name: str
    init: Callable
    step: Callable
    hparams: Callable          # (**overrides) -> validated hyperparameter pytree
    env: Any
    policy: Any
    reward_free: bool          # True: never reads the latent reward (only the oracle does)


class PolicyState(NamedTuple):
    """State of a policy-search algorithm: parameters, optimiser state and query accounting."""

    params: Any
    opt_state: Any
    counts: Counts


def ascent_update(optimizer: optax.GradientTransformation, gradient, opt_state, params, step_size):
    """theta <- theta + step_size * U(g), U the optimiser's update for ascent on g.

    The optimiser must be built with learning rate 1 (default: ``optax.sgd(1.0)``, so that
    U(g) = g); ``step_size`` lives in the hyperparameters so that it can be swept. optax
    minimises, so it is handed -g.
    """
    updates, opt_state = optimizer.update(jax.tree.map(lambda g: -g, gradient), opt_state, params)
    params = jax.tree.map(lambda p, u: p + step_size * u, params, updates)
    return params, opt_state
