"""Compiled bilevel functions and tiny instances shared by the bilevel tests (compile once)."""

from functools import partial

import jax
import jax.numpy as jnp

from zoprl.bilevel import bilevel_rlhf, random_bilevel_params, tabular_reward

S, A, H = 3, 2, 3
NUM_PAIRS = 20_000

problem = bilevel_rlhf(tabular_reward, num_pairs=NUM_PAIRS)
hyperobjective = jax.jit(problem.hyperobjective)
unrolled = jax.jit(problem.hypergradient_unrolled)
implicit = jax.jit(problem.hypergradient_implicit)
penalty = jax.jit(problem.penalty_solution)
batched_unrolled = jax.jit(jax.vmap(problem.hypergradient_unrolled))
batched_implicit = jax.jit(jax.vmap(problem.hypergradient_implicit))


@partial(jax.jit, static_argnames=("num", "branching"))
def _instances(key, num, branching, reference_scale, kl_coef):
    k_params, k_nu = jax.random.split(key)
    params = jax.vmap(
        lambda k: random_bilevel_params(
            k, S, A, H, branching=branching, reference_scale=reference_scale, kl_coef=kl_coef
        )
    )(jax.random.split(k_params, num))
    return params, jax.random.normal(k_nu, (num, S, A))


def instances(seed, num, branching=2, reference_scale=0.5, kl_coef=1.0):
    """``num`` random tiny instances (stacked BilevelParams) and model rewards nu [num, S, A]:
    Garnet MDPs with ``branching`` next states (default 2 of 3), random reference."""
    return _instances(jax.random.key(seed), num, branching, reference_scale, kl_coef)


def unbatch(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


def with_sparse_start(params):
    """The same instances started from state 0 only, with sparse transitions left as they are:
    some (h, s) become unreachable (exercises the masked solves)."""
    start = jnp.zeros_like(params.start).at[..., 0].set(1.0)
    return params._replace(start=start)


def to64(tree):
    """Floating leaves cast to float64 (environment params for the float64 tests)."""

    def leaf(x):
        x = jnp.asarray(x)
        return x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x

    return jax.tree.map(leaf, tree)


def tiny_learner_setting(num_states=3, num_actions=2, horizon=2, num_queries=3):
    """(env, float64 env params, time-dependent tabular policy, logistic oracle) of a tiny
    RandomMDP for the learner and evaluator tests."""
    from zoprl.envs import make
    from zoprl.oracles import make_oracle
    from zoprl.policies import tabular_softmax

    env, env_params = make(
        "RandomMDP", num_states=num_states, num_actions=num_actions, branching=2, horizon=horizon
    )
    policy = tabular_softmax(num_states, num_actions, horizon)
    return env, to64(env_params), policy, make_oracle("logistic", num_queries)
