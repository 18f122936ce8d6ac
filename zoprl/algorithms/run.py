"""A whole training run as one function of a key, every loop a ``lax.scan``.

    run = make_run(algorithm, num_iterations=T)            # evaluator: the default
    final_state, metrics = run(key, hparams, env_params, oracle_params)

``metrics`` holds T + 1 entries per field (the initial policy, then after each iteration): the
evaluator's metrics (default: ``value``, ``grad_norm_sq`` and ``value_gap`` exact on finite
environments, else the Monte Carlo ``value`` and ``value_stderr``; see ``zoprl.evaluators``),
the cumulative ``trajectories`` and ``queries``, and the algorithm's per-iteration diagnostics.
A diagnostic describes an iteration's step, so iteration 0 has none: ``make_run`` gives NaN
there, and the sweep engine's table has no row for it.

The run is a pure function of arrays, so ``jax.vmap`` over seeds (keys) and over a grid of
hyperparameters (or env / oracle params) gives a whole sweep in one compiled program.

``make_chunked_run`` cuts the same run into chunks, for the sweep engine: ``start`` initialises
the algorithm and the evaluator's per-run constants and records iteration 0; each ``advance``
runs ``records_per_chunk * eval_every`` iterations and records the metrics every ``eval_every``
iterations. The key of iteration t (1-based) is ``fold_in(step_key, t)`` and the record after it
uses ``fold_in(eval_key, t)``, so a run cut into chunks (and stopped and resumed between them)
draws exactly the numbers of the uncut run. The carry's ``iteration`` is the same for every run
of a batch: vmap it with ``RUN_AXES`` (unbatched), so that ``step`` receives the iteration index
unbatched and schedules on it stay real branches.

Counts stay exact at any size: an algorithm's int32 counters wrap modulo 2^32 past 2^31, so the
carry also counts, per counter, how often an iteration wrapped it (``wraps``: the high word of a
64-bit count; an iteration adds less than 2^31), and every record holds both words
(``trajectories`` / ``trajectories_wraps``, ``queries`` / ``queries_wraps``;
``zoprl.storage.exact_counts`` joins them into int64 on the host).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zoprl.algorithms.base import Algorithm
from zoprl.evaluators import Evaluator, default_policy_evaluator
from zoprl.oracles.accounting import Counts
from zoprl.validation import check_int


class RunCarry(NamedTuple):
    """What a chunked run carries between chunks (a pytree; the sweep engine checkpoints it)."""

    state: Any  # the algorithm's state
    step_key: jax.Array  # iteration t steps with fold_in(step_key, t)
    eval_key: jax.Array  # and is recorded with fold_in(eval_key, t)
    aux: Any  # the evaluator's per-run constants (e.g. J*)
    iteration: jax.Array  # int32: iterations done so far, the same for every run of a batch
    wraps: Counts  # int32: times each int32 counter of ``state.counts`` wrapped past 2^32


AUX_KEY_DATA = 0xFFFFFFFF  # fold_in data of the evaluator's init key (records use t <= T)
WRAPS_SUFFIX = "_wraps"  # record name of a count's high word: "queries" + WRAPS_SUFFIX

RUN_AXES = RunCarry(state=0, step_key=0, eval_key=0, aux=0, iteration=None, wraps=0)
"""vmap axes of a carry over runs: everything batched but the shared iteration counter."""


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


def vmap_runs(chunked: ChunkedRun, env_batched: bool = False) -> tuple[Callable, Callable]:
    """(start, advance) vmapped over a runs axis of keys, hparams and oracle params (and env
    params when ``env_batched``), the carry's iteration left unbatched (``RUN_AXES``)."""
    env_axis = 0 if env_batched else None
    start = jax.vmap(chunked.start, (0, 0, env_axis, 0), (RUN_AXES, 0))
    advance = jax.vmap(chunked.advance, (RUN_AXES, 0, env_axis, 0), (RUN_AXES, 0))
    return start, advance


def _as_unsigned(count: jax.Array) -> jax.Array:
    return jax.lax.bitcast_convert_type(count.astype(jnp.int32), jnp.uint32)


def _wrapped(wraps: jax.Array, before: jax.Array, after: jax.Array) -> jax.Array:
    """``wraps`` plus one when an int32 counter went from ``before`` to ``after`` across 2^32
    (read as unsigned it decreased: an iteration adds less than 2^32)."""
    return wraps + (_as_unsigned(after) < _as_unsigned(before)).astype(wraps.dtype)


def make_chunked_run(
    algorithm: Algorithm,
    *,
    records_per_chunk: int,
    eval_every: int = 1,
    evaluator: Evaluator | None = None,
) -> ChunkedRun:
    """The run of ``make_run`` cut into chunks of ``records_per_chunk * eval_every`` iterations,
    recording the metrics (module doc) after every ``eval_every``-th iteration, together with the
    diagnostics of that iteration. Iteration 0's record (from ``start``) has no diagnostics."""
    records_per_chunk = check_int("records_per_chunk", records_per_chunk)
    eval_every = check_int("eval_every", eval_every)
    if evaluator is None:
        evaluator = default_policy_evaluator(algorithm.env, algorithm.policy)

    def record(carry: RunCarry, hparams, env_params, oracle_params):
        key = jax.random.fold_in(carry.eval_key, carry.iteration)
        out = dict(
            evaluator.metrics(key, carry.state, hparams, env_params, oracle_params, carry.aux)
        )
        for name, low, high in zip(Counts._fields, carry.state.counts, carry.wraps):
            out[name], out[name + WRAPS_SUFFIX] = low, high
        return out

    def start(key, hparams, env_params, oracle_params):
        k_init, k_step, k_eval = jax.random.split(key, 3)
        state = algorithm.init(k_init, hparams, env_params, oracle_params)
        # the evaluator's constants, once per run; records use fold_in(k_eval, t), t <= T
        k_aux = jax.random.fold_in(k_eval, AUX_KEY_DATA)
        aux = evaluator.init(k_aux, hparams, env_params, oracle_params)
        carry = RunCarry(state, k_step, k_eval, aux, jnp.int32(0), Counts.zero())
        return carry, record(carry, hparams, env_params, oracle_params)

    def one_iteration(carry: RunCarry, hparams, env_params, oracle_params):
        index = carry.iteration
        state, info = algorithm.step(
            jax.random.fold_in(carry.step_key, index + 1),
            carry.state,
            hparams,
            env_params,
            oracle_params,
            index,
        )
        wraps = jax.tree.map(_wrapped, carry.wraps, carry.state.counts, state.counts)
        return carry._replace(state=state, iteration=index + 1, wraps=wraps), info._asdict()

    def advance(carry: RunCarry, hparams, env_params, oracle_params):
        def interval(carry, _):
            carry, info = jax.lax.scan(
                lambda c, _: one_iteration(c, hparams, env_params, oracle_params),
                carry,
                None,
                length=eval_every,
            )
            metrics = record(carry, hparams, env_params, oracle_params)
            metrics.update(jax.tree.map(lambda x: x[-1], info))  # the recorded iteration's
            return carry, metrics

        return jax.lax.scan(interval, carry, None, length=records_per_chunk)

    return ChunkedRun(start, advance, eval_every, records_per_chunk)


def make_run(
    algorithm: Algorithm, num_iterations: int, *, evaluator: Evaluator | None = None
) -> Callable:
    """run(key, hparams, env_params, oracle_params) -> (final state, metrics with leaves [T+1]);
    diagnostics are NaN at iteration 0 (module doc)."""
    num_iterations = check_int("num_iterations", num_iterations)
    chunked = make_chunked_run(algorithm, records_per_chunk=num_iterations, evaluator=evaluator)

    def run(key, hparams, env_params, oracle_params):
        carry, first = chunked.start(key, hparams, env_params, oracle_params)
        carry, metrics = chunked.advance(carry, hparams, env_params, oracle_params)
        out = {}
        for name, series in metrics.items():
            if name.endswith(WRAPS_SUFFIX):  # int32 counts: unwrap them with unwrap_counts
                continue
            if name in first:
                out[name] = jnp.concatenate([first[name][None], series])
            else:  # a diagnostic: none before the first step
                series = series.astype(jnp.result_type(series.dtype, jnp.float32))
                out[name] = jnp.concatenate([jnp.full_like(series[:1], jnp.nan), series])
        return carry.state, out

    return run
