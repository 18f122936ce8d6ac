"""The algorithm interface shared by every method in zoprl.

An algorithm is a NamedTuple of pure functions built by a factory that closes over the static
settings (environment, policy, oracle, numbers of pairs / queries / directions, optimiser):

    state = algo.init(key, hparams, env_params, oracle_params)
    state, info = algo.step(key, state, hparams, env_params, oracle_params, iteration)

``init`` receives the oracle params too, so that offline methods can collect their preference
data set once, at initialisation. ``iteration`` is the index of the iteration being taken (int32,
0 for the first step): it is the same for every run of a sweep and reaches ``step`` unbatched
under the sweep engine's vmap, so a schedule decided on it (refit every k iterations) stays a
real branch that skips the work on other iterations, instead of a select that computes both.

``hparams`` is a pytree of the scalars a user sweeps (step size, mu, clip range, ...): a
NamedTuple whose fields, with nested NamedTuples flattened (``hparam_fields``), are the names a
spec may sweep, so one compiled program covers a whole grid by vmap. ``algo.hparams(**values)``
builds and validates it from those names. Static settings are the factory's keyword-only
arguments. Every state has ``params`` (the policy's) and ``counts`` (trajectories sampled and
human queries asked, both cumulative), which the run reads. ``info`` is a NamedTuple of small
per-iteration diagnostics.

``reads_latent_reward`` is True only for the ceilings that optimise the environment's reward
itself; every learner from preferences (reward-free or with a learned reward model) has False.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import optax

from zoprl.oracles.accounting import Counts


class Algorithm(NamedTuple):
    name: str
    init: Callable
    step: Callable
    hparams: Callable  # (**values) -> validated hyperparameter pytree
    env: Any
    policy: Any
    reads_latent_reward: bool  # True: a ceiling on the environment's reward


class PolicyState(NamedTuple):
    """State of a policy-search algorithm: parameters, optimiser state and query accounting."""

    params: Any
    opt_state: Any
    counts: Counts


def hparam_fields(hparams) -> dict[str, Any]:
    """The leaves of a hyperparameter pytree by field name, nested NamedTuples flattened into
    one namespace (e.g. RLHF's PPO fields next to its reward-fit fields). A name used twice is
    an error: the flat names are what specs and tables use."""
    out: dict[str, Any] = {}
    for name, value in hparams._asdict().items():
        inner = hparam_fields(value) if hasattr(value, "_asdict") else {name: value}
        for key, leaf in inner.items():
            if key in out:
                raise ValueError(
                    f"hyperparameter name {key!r} appears twice in {type(hparams).__name__}"
                )
            out[key] = leaf
    return out


def ascent_update(optimizer: optax.GradientTransformation, gradient, opt_state, params, step_size):
    """theta <- theta + step_size * U(g), U the optimiser's update for ascent on g.

    The optimiser must be built with learning rate 1 (default: ``optax.sgd(1.0)``, so that
    U(g) = g); ``step_size`` lives in the hyperparameters so that it can be swept. optax
    minimises, so it is handed -g (``descent_step`` on -g).
    """
    return descent_step(
        optimizer, jax.tree.map(lambda g: -g, gradient), opt_state, params, step_size
    )


def descent_step(optimizer: optax.GradientTransformation, grads, opt_state, params, step_size):
    """params <- params + step_size * U(grad), U the optimiser's (descent) update (learning rate
    1, as for ``ascent_update``)."""
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return jax.tree.map(lambda p, u: p + step_size * u, params, updates), opt_state
