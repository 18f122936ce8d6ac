"""The fixed-capacity preference buffer: circular overwrite, sampling only from the filled part,
zero weight for skipped pairs, all under jit (and vmap over buffers)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.oracles import Feedback
from zoprl.preference_data import buffer_add, buffer_init, buffer_sample
from zoprl.trajectory import Trajectory

H = 3


def pairs(ids, skipped=()):
    """Pairs whose trajectories carry their id in ``obs`` (tau_0: id, tau_1: -id), 3 of 4 votes
    for tau_1, the ids in ``skipped`` unanswered."""
    ids = jnp.asarray(ids, jnp.int32)
    n = ids.shape[0]
    traj = lambda o: Trajectory(
        jnp.repeat(o[:, None], H, 1),
        jnp.zeros((n, H), jnp.int32),
        jnp.zeros((n, H)),
        jnp.ones((n, H)),
        jnp.zeros((n, H)),
    )
    answered = jnp.asarray([0.0 if int(i) in skipped else 1.0 for i in ids])
    feedback = Feedback(3.0 * answered, jnp.full((n,), 4.0), answered, jnp.zeros(n, bool))
    return traj(ids), traj(-ids), feedback


add = jax.jit(buffer_add)
sample = jax.jit(buffer_sample, static_argnums=2)


def test_empty_buffer_shapes_and_zero_weight():
    example = pairs([1])[0]
    buf = buffer_init(5, example)  # a batch example: one member's shape
    assert buf.traj_0.obs.shape == (5, H) and buf.capacity == 5
    assert int(buf.size) == 0 and int(buf.position) == 0
    batch = sample(jax.random.key(0), buf, 4)
    np.testing.assert_array_equal(batch.weight, 0.0)


def test_circular_overwrite_and_labels():
    buf = buffer_init(5, pairs([1])[0])
    buf = add(buf, *pairs([1, 2, 3]))
    assert (int(buf.size), int(buf.position)) == (3, 3)
    buf = add(buf, *pairs([4, 5, 6], skipped={5}))
    assert (int(buf.size), int(buf.position)) == (5, 1)
    # slot 0 was overwritten by the 6th pair; the oldest (id 1) is gone
    np.testing.assert_array_equal(buf.traj_0.obs[:, 0], [6, 2, 3, 4, 5])
    np.testing.assert_array_equal(buf.traj_1.obs[:, 0], [-6, -2, -3, -4, -5])
    np.testing.assert_allclose(buf.label, [0.75, 0.75, 0.75, 0.75, 0.5])  # skipped: 1/2
    np.testing.assert_array_equal(buf.answered, [1, 1, 1, 1, 0])


def test_add_more_than_capacity_raises():
    buf = buffer_init(2, pairs([1])[0])
    with pytest.raises(ValueError, match="cannot add 3 pairs to a buffer of capacity 2"):
        buffer_add(buf, *pairs([1, 2, 3]))


def test_sampling_uses_only_the_filled_part_and_skipped_pairs_weigh_zero():
    buf = buffer_init(8, pairs([1])[0])
    buf = add(buf, *pairs([1, 2, 3], skipped={2}))
    batch = sample(jax.random.key(3), buf, 8)
    ids = np.asarray(batch.traj_0.obs[:, 0])
    assert set(ids) <= {1, 2, 3} and len(set(ids)) == 3
    np.testing.assert_array_equal(batch.traj_1.obs[:, 0], -ids)  # pairs stay together
    np.testing.assert_array_equal(batch.weight, np.where(ids == 2, 0.0, 1.0))
    # uniform over the filled slots: 3 slots, 3000 draws, within 5 standard errors
    many = jax.vmap(lambda k: sample(k, buf, 8).traj_0.obs[:, 0])(
        jax.random.split(jax.random.key(4), 375)
    )
    freq = np.bincount(np.ravel(many), minlength=4)[1:] / many.size
    assert np.all(np.abs(freq - 1 / 3) < 5 * np.sqrt(2 / 9 / many.size)), freq


def test_vmap_over_buffers():
    buf = buffer_init(4, pairs([1])[0])
    stacked = jax.tree.map(lambda x: jnp.stack([x, x]), buf)
    t0, t1, fb = pairs([7, 8])
    out = jax.jit(jax.vmap(buffer_add, (0, None, None, None)))(stacked, t0, t1, fb)
    np.testing.assert_array_equal(out.size, [2, 2])
    batch = jax.vmap(lambda k, b: buffer_sample(k, b, 4))(
        jax.random.split(jax.random.key(0), 2), out
    )
    assert set(np.ravel(batch.traj_0.obs[..., 0])) <= {7, 8}


def test_batch_larger_than_capacity_raises():
    buf = buffer_init(4, pairs([1])[0])
    with pytest.raises(ValueError, match="batch_size 5 exceeds the buffer capacity 4"):
        buffer_sample(jax.random.key(0), buf, 5)
    with pytest.raises(ValueError, match="buffer_capacity must be >= 1, got 0"):
        buffer_init(0, pairs([1])[0])
