"""Perturbation directions for zeroth-order gradient estimators, on flat vectors of dimension d.

Each law comes with a scale c such that E[c v v^T] = I, so that the one-point smoothed estimator
g = (c / mu) (J(theta + mu v) - J(theta)) v has E[g] -> grad J as mu -> 0 (Nesterov & Spokoiny
2017; Flaxman et al. 2005 for the sphere):

    sphere      v uniform on the unit sphere of R^d          c = d
    gaussian    v ~ N(0, I_d)                                c = 1
    rademacher  v_i = +-1 with probability 1/2               c = 1
    block       v uniform on the unit sphere of a random block B of b coordinates, 0 elsewhere
                (ZBCPG, arXiv 2409.17401)                     c = d

For the block law, E[v v^T] = I / d holds when every coordinate lies in B with probability b / d:
true for a uniformly random subset ("subset") and for one block drawn uniformly from a fixed
partition into d / b blocks of equal size b ("partition", which needs b to divide d).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

DIRECTION_LAWS = ("sphere", "gaussian", "rademacher")
BLOCK_LAWS = ("subset", "partition")


def direction_scale(law: str, dim: int) -> float:
    """The c with E[c v v^T] = I for ``law`` ("block" included) in dimension ``dim``."""
    return float(dim) if law in ("sphere", "block") else 1.0


def sample_direction(key, dim: int, law: str = "sphere") -> jax.Array:
    """One direction v in R^dim from ``law`` (see module doc)."""
    if law == "sphere":
        z = jax.random.normal(key, (dim,))
        return z / jnp.linalg.norm(z)
    if law == "gaussian":
        return jax.random.normal(key, (dim,))
    if law == "rademacher":
        return jax.random.rademacher(key, (dim,), dtype=jnp.float32)
    raise ValueError(f"unknown direction law {law!r}; valid: {', '.join(DIRECTION_LAWS)}")


def block_mask(key, dim: int, block_size: int, law: str = "subset") -> jax.Array:
    """A 0/1 mask [dim] with ``block_size`` ones: a uniform random subset, or one block of the
    fixed partition {0..b-1}, {b..2b-1}, ... drawn uniformly."""
    if law == "subset":
        scores = jax.random.uniform(key, (dim,))
        rank = jnp.argsort(jnp.argsort(scores))
        return (rank < block_size).astype(jnp.float32)
    if law == "partition":
        block = jax.random.randint(key, (), 0, dim // block_size)
        return (jnp.arange(dim) // block_size == block).astype(jnp.float32)
    raise ValueError(f"unknown block law {law!r}; valid: {', '.join(BLOCK_LAWS)}")


def sample_block_direction(key, dim: int, block_size: int, law: str = "subset") -> jax.Array:
    """v uniform on the unit sphere of a random block of ``block_size`` coordinates."""
    k_block, k_dir = jax.random.split(key)
    mask = block_mask(k_block, dim, block_size, law)
    z = jax.random.normal(k_dir, (dim,)) * mask
    return z / jnp.linalg.norm(z)
