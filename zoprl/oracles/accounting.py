"""Sample and query accounting: the budgets on the x-axis of every plot (docs/methods.md, 2).

``Counts`` holds int32 scalars (exact; an algorithm reports the counts of one iteration, which stay
far below 2^31). Totals over many iterations can exceed 2^31 (1e6 pairs x M = 10 x 300
iterations), so accumulate them outside the compiled loop with ``cumulative`` (numpy int64), or
choose ``Counts.zero(jnp.float32)`` when an in-graph running total is wanted and 2^-24 relative
error is acceptable.

Conventions: ``trajectories`` counts environment rollouts sampled (a pair counts 2); ``queries``
counts every vote asked of the human, including those of skipped pairs (the human was asked).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.oracles.oracle import Feedback


class Counts(NamedTuple):
    """Trajectories sampled and queries asked (int32 scalars, or any batch shape under vmap)."""

    trajectories: jax.Array
    queries: jax.Array

    @staticmethod
    def zero(dtype=jnp.int32) -> Counts:
        return Counts(jnp.zeros((), dtype), jnp.zeros((), dtype))

    def add(self, trajectories=0, queries=0) -> Counts:
        """A new Counts with the increments added (cast to this Counts' dtype)."""
        return Counts(
            self.trajectories + jnp.asarray(trajectories, self.trajectories.dtype),
            self.queries + jnp.asarray(queries, self.queries.dtype),
        )


def feedback_queries(feedback: Feedback, dtype=jnp.int32):
    """Total votes asked in ``feedback`` = sum of ``asked`` over all pairs (skipped included).

    Each entry is cast to an integer before summing, so the total is exact up to 2^31 (a float32
    sum would stop being exact at 2^24 = 1.7e7).
    """
    return jnp.sum(jnp.round(feedback.asked).astype(dtype))


def cumulative(per_iteration: Counts) -> Counts:
    """Running totals (numpy int64) of per-iteration counts stacked on a leading [T] axis."""
    return Counts(*(np.cumsum(np.asarray(leaf, np.int64), axis=0) for leaf in per_iteration))
