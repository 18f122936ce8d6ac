"""Baselines for score-function (REINFORCE-type) gradient estimates."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def leave_one_out_mean(values: jax.Array) -> jax.Array:
    """b_n = mean over m != n of values[m] along the leading axis (at least 2 rows): for returns
    [E, H], the leave-one-out batch mean at every step. Subtracting it from values[n] leaves the
    gradient estimate unbiased (b_n does not depend on sample n) and lowers its variance."""
    total = jnp.sum(values, axis=0, keepdims=True)
    return (total - values) / (values.shape[0] - 1)


__all__ = ["leave_one_out_mean"]
