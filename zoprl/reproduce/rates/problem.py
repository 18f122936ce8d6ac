"""The fixed measurement setting of the ``rates`` experiment: environment, policy, teacher, exact
evaluator and the measurement point theta, with the helpers shared by the measurements."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

from zoprl.reproduce.rates.profiles import ENVIRONMENT

# --------------------------------------------------------------------------------------------
# the problem


class Problem(NamedTuple):
    """The fixed measurement setting: environment, policy, exact evaluator and theta."""

    env: object
    env_params: object
    policy: object
    evaluator: object
    oracle_params: object
    theta: object  # the policy's params pytree at the measurement point
    theta_flat: object  # [d]
    unflatten: Callable
    dim: int
    value: float  # J(theta)
    grad_flat: object  # grad J(theta), [d]
    optimum: float  # J*
    clip_range: float  # R


@functools.lru_cache(maxsize=4)
def make_problem(theta_seed: int = 1, theta_scale: float = 1.0) -> Problem:
    """The default GridWorld, tabular softmax policy, noisy teacher and theta (module doc);
    cached (a Problem holds only immutable arrays and functions)."""
    import jax
    from jax.flatten_util import ravel_pytree

    from zoprl.envs import make
    from zoprl.evaluation import exact_evaluator
    from zoprl.oracles import oracle_params
    from zoprl.oracles.models import return_range
    from zoprl.policies import tabular_softmax

    env, env_params = make(ENVIRONMENT)
    policy = tabular_softmax(env.num_states, env.num_actions)
    evaluator = exact_evaluator(env, policy)

    @jax.jit
    def setup(key):  # one compiled program, not a dispatch per operation
        theta = jax.tree.map(
            lambda leaf: theta_scale * jax.random.normal(key, leaf.shape), policy.init(key)
        )
        value, grad = evaluator.value_and_grad(theta, env_params)
        return theta, value, ravel_pytree(grad)[0], evaluator.optimal_value(env_params)

    theta, value, grad_flat, optimum = setup(jax.random.key(theta_seed))
    theta_flat, unflatten = ravel_pytree(theta)
    return Problem(
        env,
        env_params,
        policy,
        evaluator,
        oracle_params("noisy"),
        theta,
        theta_flat,
        unflatten,
        int(theta_flat.size),
        float(value),
        grad_flat,
        float(optimum),
        float(return_range(env, env_params)),
    )  # beta = 1


def _hparams(problem: Problem, mu, step_size=0.0):
    import jax.numpy as jnp

    from zoprl.algorithms import ZerothOrderHparams

    return ZerothOrderHparams(
        jnp.float32(step_size), jnp.float32(mu), jnp.float32(problem.clip_range), jnp.float32(1.0)
    )


def _sphere(key, count: int, dim: int):
    import jax

    from zoprl.estimators.directions import sample_direction

    return jax.vmap(sample_direction, (0, None))(jax.random.split(key, count), dim)


def _flat_value(problem: Problem):
    """J as a function of flat parameter vectors [..., d] (vmapped over leading axes)."""
    import jax

    def value(flat):
        return problem.evaluator.value(problem.unflatten(flat), problem.env_params)

    return jax.jit(jax.vmap(value))
