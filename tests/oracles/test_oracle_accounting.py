"""Query and trajectory accounting: exact integer counts, skipped pairs counted, scan-friendly."""

import jax
import jax.numpy as jnp
import numpy as np
from oracle_testing import pairs_with_gaps

from zoprl.oracles import Counts, Feedback, cumulative, feedback_queries, make_oracle, oracle_params


def test_zero_and_add():
    counts = Counts.zero()
    assert counts.trajectories.dtype == jnp.int32 and int(counts.queries) == 0
    counts = counts.add(trajectories=8, queries=40).add(queries=2)
    assert (int(counts.trajectories), int(counts.queries)) == (8, 42)
    assert Counts.zero(jnp.float32).add(queries=3).queries.dtype == jnp.float32


def test_skipped_pairs_are_counted_and_scan_accumulates():
    num_pairs, m, iterations = 6, 4, 5
    oracle = make_oracle("logistic", m)
    traj_a, traj_b = pairs_with_gaps(np.linspace(-1.0, 1.0, num_pairs))
    params = oracle_params("skip", skip=0.5)

    def step(counts, key):
        feedback = oracle.query(key, traj_a, traj_b, params)
        this = Counts.zero().add(trajectories=2 * num_pairs, queries=feedback_queries(feedback))
        return counts.add(*this), (this, feedback.answered.sum())

    keys = jax.random.split(jax.random.key(0), iterations)
    total, (per_iteration, answered) = jax.jit(lambda k: jax.lax.scan(step, Counts.zero(), k))(keys)
    assert float(answered.sum()) < iterations * num_pairs  # some pairs were skipped ...
    assert int(total.queries) == iterations * num_pairs * m  # ... and still counted
    assert int(total.trajectories) == iterations * 2 * num_pairs
    running = cumulative(per_iteration)
    np.testing.assert_array_equal(running.queries, np.arange(1, iterations + 1) * num_pairs * m)
    assert running.queries.dtype == np.int64


def test_feedback_queries_is_exact_beyond_float32():
    n = 2_000_001  # 20_000_010 votes: not representable in float32 (spacing 2 at 2e7)
    asked = jnp.full((n,), 10.0, jnp.float32)
    feedback = Feedback(jnp.zeros(n), asked, jnp.ones(n), jnp.zeros(n, bool))
    assert int(jax.jit(feedback_queries)(feedback)) == 20_000_010
