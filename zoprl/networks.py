"""Neural networks shared by policies, critics and reward models (flax.linen).

``MLP(hidden, out)``: x -> Dense(out)(tanh(Dense(h_k)(... tanh(Dense(h_1)(x))))). The output
layer's kernel starts at zero (its bias too, flax's default), so a fresh network outputs 0: a
categorical policy built on it starts uniform, a critic or a learned reward starts at 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
    """A tanh multilayer perceptron with a zero-initialised linear output layer (module doc)."""

    hidden: Sequence[int]
    out: int

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = jnp.tanh(nn.Dense(width)(x))
        return nn.Dense(self.out, kernel_init=nn.initializers.zeros)(x)


__all__ = ["MLP"]
