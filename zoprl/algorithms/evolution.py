"""Evolution strategies on the true return: the OpenAI-ES ceiling (evosax; Salimans et al. 2017).

OpenAI-ES (arXiv 1703.03864) searches the flattened policy parameters theta in R^d with a
Gaussian search distribution N(theta, sigma^2 I). One iteration:

  1. draw P = ``population_size`` members theta_i = theta + sigma z_i (antithetic pairs
     z, -z by default);
  2. fitness f_i = (1/R) sum_r r(tau_{i,r}), the Monte Carlo mean *true* return of R =
     ``rollouts_per_member`` rollouts of pi_{theta_i} (so this baseline reads the latent reward:
     a ceiling, never reward-free); with ``common_random_numbers`` every member sees the same R
     rollout keys;
  3. fitness shaped by centred ranks, g = (1 / (P sigma)) sum_i u_i z_i estimates the gradient
     of the Gaussian-smoothed return, and theta takes an Adam step of size ``learning_rate``
     along it.

The search itself is evosax's ``Open_ES`` (ask / tell; evosax minimises, so it is told -f). Its
optimiser is ``optax.inject_hyperparams(optax.adam)`` and its std is overwritten every iteration,
so that the learning rate and sigma live in the sweepable ``ESHparams``; the population size is
static. ``state.params`` is the current mean theta, unflattened (what ``make_run`` evaluates).
Counts: P R trajectories per iteration, no queries.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from evosax.algorithms.distribution_based.open_es import Open_ES

from zoprl.algorithms.base import Algorithm
from zoprl.oracles.accounting import Counts
from zoprl.policies.base import check_compatible
from zoprl.rollout import make_monte_carlo_value
from zoprl.validation import check_int, make_hparams


class ESHparams(NamedTuple):
    """Sweepable scalars: the Adam learning rate of the mean and the search std sigma (> 0)."""

    learning_rate: jax.Array
    sigma: jax.Array


class ESState(NamedTuple):
    params: Any  # the search mean theta, as policy parameters
    es_state: Any  # evosax's Open_ES state (mean flattened)
    counts: Counts


class ESInfo(NamedTuple):
    mean_return: jax.Array  # mean fitness over the population
    best_return: jax.Array  # best member's fitness
    return_std: jax.Array  # spread of the fitness across the population


def evolution_strategies(
    env,
    policy,
    *,
    population_size: int = 64,
    rollouts_per_member: int = 1,
    antithetic: bool = True,
    common_random_numbers: bool = False,
) -> Algorithm:
    """The OpenAI-ES ceiling "es_true_reward" (module doc); population_size >= 2 (even when
    ``antithetic``). All checks raise ValueError before any compilation."""
    check_compatible(policy, env)
    population = check_int("population_size", population_size, minimum=2)
    if antithetic and population % 2:
        raise ValueError(f"population_size must be even with antithetic sampling, got {population}")
    rollouts = check_int("rollouts_per_member", rollouts_per_member)
    monte_carlo = make_monte_carlo_value(env, policy, rollouts)  # (mean, stderr) of r(tau)
    fitness_of = jax.vmap(
        lambda key, params, env_params: monte_carlo(key, params, env_params)[0],
        (None if common_random_numbers else 0, 0, None),
    )
    solution = jax.eval_shape(policy.init, jax.random.key(0))
    solution = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), solution)
    strategy = Open_ES(
        population,
        solution,
        use_antithetic_sampling=antithetic,
        optimizer=optax.inject_hyperparams(optax.adam)(learning_rate=1.0),
    )

    default = ESHparams(0.2, 1.0) if getattr(env, "is_finite", False) else ESHparams(0.03, 0.1)

    def hparams(learning_rate=None, sigma=None) -> ESHparams:
        """Validated hyperparameters; scalars or grids, broadcast to one common shape. Defaults:
        0.2 and 1.0 on finite environments (tabular logits), else 0.03 and 0.1."""
        return make_hparams(
            ESHparams,
            learning_rate=default.learning_rate if learning_rate is None else learning_rate,
            sigma=default.sigma if sigma is None else sigma,
        )

    def with_hparams(es_state, hp: ESHparams):
        opt_state = es_state.opt_state
        hyper = dict(opt_state.hyperparams, learning_rate=hp.learning_rate)
        return es_state.replace(std=hp.sigma, opt_state=opt_state._replace(hyperparams=hyper))

    def init(key, hp: ESHparams, env_params, oracle_params=None) -> ESState:
        k_policy, k_es = jax.random.split(key)
        params = policy.init(k_policy)
        es_state = strategy.init(k_es, params, strategy.default_params)
        return ESState(params, with_hparams(es_state, hp), Counts.zero())

    def step(key, state: ESState, hp: ESHparams, env_params, oracle_params, iteration):
        k_ask, k_eval, k_tell = jax.random.split(key, 3)
        es_state = with_hparams(state.es_state, hp)
        members, es_state = strategy.ask(k_ask, es_state, strategy.default_params)
        keys = k_eval if common_random_numbers else jax.random.split(k_eval, population)
        fitness = fitness_of(keys, members, env_params)  # [P]
        es_state, _ = strategy.tell(k_tell, members, -fitness, es_state, strategy.default_params)
        es_state = with_hparams(es_state, hp)
        counts = state.counts.add(trajectories=population * rollouts)
        info = ESInfo(jnp.mean(fitness), jnp.max(fitness), jnp.std(fitness))
        return ESState(strategy.get_mean(es_state), es_state, counts), info

    return Algorithm("es_true_reward", init, step, hparams, env, policy, reads_latent_reward=True)
