"""A whole training run as one function of a key, every loop a ``lax.scan``.

    run = make_run(algorithm, num_iterations=T)
    final_state, metrics = run(key, hparams, env_params, oracle_params)

``metrics`` holds T + 1 entries per field (the initial policy, then after each iteration):

    value           J(theta): exact on finite environments, else the Monte Carlo mean return
                    over ``eval_episodes`` rollouts with a separate key (never charged as queries)
    grad_norm_sq    ||grad J(theta)||^2 (exact; finite environments and categorical policies)
    value_gap       J* - J(theta) (finite environments)
    trajectories    cumulative trajectories sampled by the learner
    queries         cumulative human queries asked
    plus the algorithm's per-iteration diagnostics (0 at iteration 0).

The run is a pure function of arrays, so ``jax.vmap`` over seeds (keys) and over a grid of
hyperparameters (or env / oracle params) gives a whole sweep in one compiled program.

``make_chunked_run`` cuts the same run into chunks, for the sweep engine: ``start`` initialises
and records iteration 0, each ``advance`` runs ``records_per_chunk * eval_every`` iterations and
records the metrics every ``eval_every`` iterations. The key of iteration t is
``fold_in(step_key, t)`` and its evaluation key ``fold_in(eval_key, t)``, so a run cut into chunks
(and stopped and resumed between them) draws exactly the numbers of the uncut run.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from zoprl.algorithms.base import Algorithm
from zoprl.evaluation import exact_evaluator
from zoprl.rollout import make_monte_carlo_value
from zoprl.validation import check_int


def make_policy_metrics(env, policy, eval_episodes: int = 256) -> Callable:
    """metrics(key, params, env_params, optimum) -> dict of the evaluation metrics of a policy,
    with ``optimum`` = J* (finite environments; computed once per run by the caller) or None."""
    if getattr(env, "is_finite", False) and policy.logits is not None:
        evaluator = exact_evaluator(env, policy)

        def exact(key, params, env_params, optimum):
            value, grad = evaluator.value_and_grad(params, env_params)
            grad_sq = sum(jnp.sum(g**2) for g in jax.tree.leaves(grad))
            return {"value": value, "grad_norm_sq": grad_sq, "value_gap": optimum - value}

        return exact
    monte_carlo = make_monte_carlo_value(env, policy, check_int("eval_episodes", eval_episodes))

    def estimated(key, params, env_params, optimum):
        mean, stderr = monte_carlo(key, params, env_params)
        return {"value": mean, "value_stderr": stderr}

    return estimated


class RunCarry(NamedTuple):
    """What a chunked run carries between chunks (a pytree; the sweep engine checkpoints it)."""

    state: Any            # the algorithm's state
    step_key: jax.Array   # iteration t steps with fold_in(step_key, t)
    eval_key: jax.Array   # and is evaluated with fold_in(eval_key, t)
    iteration: jax.Array  # int32: iterations done so far
    optimum: Any          # J* (finite environments), computed once per run; None otherwise


class ChunkedRun(NamedTuple):
    """start(key, hparams, env_params, oracle_params) -> (carry, metrics of iteration 0);
    advance(carry, hparams, env_params, oracle_params) -> (carry, metrics [records_per_chunk])."""

    start: Callable
    advance: Callable
    eval_every: int
    records_per_chunk: int

    @property
    def iterations_per_chunk(self) -> int:
        return self.eval_every * self.records_per_chunk


def make_chunked_run(algorithm: Algorithm, *, records_per_chunk: int, eval_every: int = 1,
                     eval_episodes: int = 256) -> ChunkedRun:
    """The run of ``make_run`` cut into chunks of ``records_per_chunk * eval_every`` iterations,
    recording the metrics (module doc) after every ``eval_every``-th iteration, together with the
    diagnostics of that iteration. Iteration 0's record (from ``start``) has no diagnostics."""
    records_per_chunk = check_int("records_per_chunk", records_per_chunk)
    eval_every = check_int("eval_every", eval_every)
    env = algorithm.env
    policy_metrics = make_policy_metrics(env, algorithm.policy, eval_episodes)
    finite = getattr(env, "is_finite", False) and algorithm.policy.logits is not None
    optimal_value = exact_evaluator(env, algorithm.policy).optimal_value if finite else None

    def record(carry: RunCarry, env_params):
        key = jax.random.fold_in(carry.eval_key, carry.iteration)
        out = dict(policy_metrics(key, carry.state.params, env_params, carry.optimum))
        out["trajectories"] = carry.state.counts.trajectories
        out["queries"] = carry.state.counts.queries
        return out

    def start(key, hparams, env_params, oracle_params):
        k_init, k_step, k_eval = jax.random.split(key, 3)
        state = algorithm.init(k_init, hparams, env_params, oracle_params)
        # J* does not depend on the policy: one value iteration per run, not per iteration
        optimum = optimal_value(env_params) if finite else None
        carry = RunCarry(state, k_step, k_eval, jnp.int32(0), optimum)
        return carry, record(carry, env_params)

    def one_iteration(carry: RunCarry, hparams, env_params, oracle_params):
        t = carry.iteration + 1
        state, info = algorithm.step(jax.random.fold_in(carry.step_key, t), carry.state, hparams,
                                     env_params, oracle_params)
        return carry._replace(state=state, iteration=t), info._asdict()

    def advance(carry: RunCarry, hparams, env_params, oracle_params):
        def interval(carry, _):
            carry, info = jax.lax.scan(
                lambda c, _: one_iteration(c, hparams, env_params, oracle_params), carry, None,
                length=eval_every)
            metrics = record(carry, env_params)
            metrics.update(jax.tree.map(lambda x: x[-1], info))   # the recorded iteration's
            return carry, metrics

        return jax.lax.scan(interval, carry, None, length=records_per_chunk)

    return ChunkedRun(start, advance, eval_every, records_per_chunk)


def make_run(algorithm: Algorithm, num_iterations: int, eval_episodes: int = 256) -> Callable:
    """run(key, hparams, env_params, oracle_params) -> (final state, metrics with leaves [T+1])."""
    num_iterations = check_int("num_iterations", num_iterations)
    chunked = make_chunked_run(algorithm, records_per_chunk=num_iterations,
                               eval_episodes=eval_episodes)

    def run(key, hparams, env_params, oracle_params):
        carry, first = chunked.start(key, hparams, env_params, oracle_params)
        carry, metrics = chunked.advance(carry, hparams, env_params, oracle_params)
        # the diagnostics of iteration 0 (no step yet) are zeros
        metrics = {name: jnp.concatenate([(first[name] if name in first
                                           else jnp.zeros_like(m[0]))[None], m])
                   for name, m in metrics.items()}
        return carry.state, metrics

    return run
