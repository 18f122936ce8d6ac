"""A fixed-capacity buffer of labelled trajectory pairs (the preference data set of RLHF).

All shapes are static: the buffer is a pytree whose trajectory leaves have a leading capacity
axis C, so adding and sampling compile once and work under ``jit`` and ``vmap``.

  traj_0, traj_1  the two members of each pair, leaves [C, H, ...]
  label           soft label p = votes / asked, the fraction of votes preferring traj_1
                  (1/2 for a skipped or empty slot, a placeholder that carries no weight)
  answered        1.0 for an answered pair, 0.0 for a skipped pair or an empty slot: the weight
                  a pair gets in the likelihood (skipped pairs are stored, never dropped)
  position        the next slot to write (int32), in [0, C)
  size            the number of filled slots (int32), min(pairs added, C)

``buffer_add`` writes N pairs at slots position, ..., position + N - 1 (mod C), overwriting the
oldest pairs once the buffer is full (a circular, first-in first-out buffer).
``buffer_sample`` draws a batch uniformly with replacement from the filled slots.

``collect_preferences`` draws N pairs from a policy and has the oracle label them (one oracle
call on the whole batch, with one key), charging 2 N trajectories and N M queries; DPO, RLHF and
the Nash learners collect their data through it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from zoprl.oracles.accounting import Counts, feedback_queries
from zoprl.oracles.oracle import Feedback, vote_frequency
from zoprl.validation import check_int


class PreferenceBuffer(NamedTuple):
    traj_0: Any
    traj_1: Any
    label: jax.Array
    answered: jax.Array
    position: jax.Array
    size: jax.Array

    @property
    def capacity(self) -> int:
        return self.label.shape[-1]


class PreferenceBatch(NamedTuple):
    """Sampled pairs: trajectories [B, H, ...], soft labels [B] and weights [B] (0 = no data)."""

    traj_0: Any
    traj_1: Any
    label: jax.Array
    weight: jax.Array


def buffer_init(capacity: int, example_traj) -> PreferenceBuffer:
    """An empty buffer of ``capacity`` pairs shaped like ``example_traj`` (one trajectory with
    leaves [H, ...], or a batch of them, of which the shape of one member is used)."""
    capacity = check_int("buffer_capacity", capacity)
    extra = jnp.ndim(example_traj.valid) - 1  # leading batch axes to drop
    empty = jax.tree.map(
        lambda x: jnp.zeros((capacity,) + jnp.shape(x)[extra:], x.dtype), example_traj
    )
    return PreferenceBuffer(
        empty, empty, jnp.full((capacity,), 0.5), jnp.zeros((capacity,)), jnp.int32(0), jnp.int32(0)
    )


def buffer_add(buffer: PreferenceBuffer, traj_0, traj_1, feedback: Feedback) -> PreferenceBuffer:
    """Add N labelled pairs (trajectory leaves [N, H, ...], feedback leaves [N]) in one scatter.

    N is static and must not exceed the capacity (ValueError otherwise, before compilation).
    """
    num = feedback.votes.shape[0]
    if num > buffer.capacity:
        raise ValueError(f"cannot add {num} pairs to a buffer of capacity {buffer.capacity}")
    slots = (buffer.position + jnp.arange(num)) % buffer.capacity
    put = lambda stored, new: stored.at[slots].set(new.astype(stored.dtype))
    return PreferenceBuffer(
        jax.tree.map(put, buffer.traj_0, traj_0),
        jax.tree.map(put, buffer.traj_1, traj_1),
        put(buffer.label, vote_frequency(feedback)),
        put(buffer.answered, feedback.answered),
        ((buffer.position + num) % buffer.capacity).astype(jnp.int32),
        jnp.minimum(buffer.size + num, buffer.capacity).astype(jnp.int32),
    )


def buffer_sample(key, buffer: PreferenceBuffer, batch_size: int) -> PreferenceBatch:
    """``batch_size`` pairs drawn uniformly with replacement from the filled slots.

    Skipped pairs come back with weight 0; an empty buffer gives a batch of weight 0.
    ``batch_size`` is static and must not exceed the capacity (ValueError before compilation).
    """
    batch_size = check_int("batch_size", batch_size)
    if batch_size > buffer.capacity:
        raise ValueError(f"batch_size {batch_size} exceeds the buffer capacity {buffer.capacity}")
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    take = lambda x: x[idx]
    weight = buffer.answered[idx] * (buffer.size > 0)
    return PreferenceBatch(
        jax.tree.map(take, buffer.traj_0),
        jax.tree.map(take, buffer.traj_1),
        buffer.label[idx],
        weight,
    )


def labelled_batch(traj_0, traj_1, feedback: Feedback) -> PreferenceBatch:
    """Labelled pairs as a batch: soft labels votes / M, weight 1 for answered pairs."""
    return PreferenceBatch(traj_0, traj_1, vote_frequency(feedback), feedback.answered)


def collect_preferences(key, paired, oracle, params_0, params_1, env_params, oracle_params):
    """(traj_0, traj_1, feedback, counts): N pairs tau_0 ~ pi_{params_0}, tau_1 ~ pi_{params_1}
    from ``paired`` (``zoprl.rollout.make_paired_rollout``), labelled by ``oracle`` in one call
    with one key; ``counts`` charges 2 N trajectories and every vote asked."""
    k_roll, k_oracle = jax.random.split(key)
    traj_0, traj_1 = paired(k_roll, params_0, params_1, env_params)
    feedback = oracle.query(k_oracle, traj_0, traj_1, oracle_params)
    counts = Counts.zero().add(2 * feedback.votes.shape[0], feedback_queries(feedback))
    return traj_0, traj_1, feedback, counts
