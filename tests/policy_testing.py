"""Helpers shared by tests that need policy parameters."""

import jax


def random_theta(key, policy, scale=1.0):
    """Policy parameters with i.i.d. N(0, scale^2) entries, shaped like ``policy.init``'s."""
    theta = policy.init(key)
    return jax.tree.map(lambda x: scale * jax.random.normal(key, x.shape), theta)
