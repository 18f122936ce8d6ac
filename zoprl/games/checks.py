"""Python-side checks and shape handling shared by the public game functions.

Every check runs before tracing and only on concrete inputs (``zoprl.validation.is_concrete``):
inside ``jit`` or ``vmap`` the arguments were checked where they entered, or not at all.
Each failure is one ``ValueError`` that names the argument and the offending value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.validation import check_distribution, check_positive, is_concrete

PREFERENCE_ATOL = 1e-5  # |P + P^T - 1| allowed by the checks (float32 sigmoids are ~1e-7 off)
DISTRIBUTION_ATOL = 1e-5  # |sum(pi) - 1| allowed by the checks


def float_dtype(*arrays):
    """The floating dtype the computation runs in: the promotion of the inputs' dtypes with a
    (weak) Python float, so float64 stays float64 under x64, float32 stays float32, integers
    become the default float."""
    dtypes = [
        jax.dtypes.canonicalize_dtype(a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype)
        for a in arrays
    ]
    return jnp.result_type(*dtypes, 1.0)


def check_preference(P, name: str = "P") -> None:
    """P is [K, K] or [X, K, K], entries in [0, 1], P + P^T = 1 within ``PREFERENCE_ATOL``."""
    shape = np.shape(P)
    if len(shape) not in (2, 3) or shape[-1] != shape[-2] or shape[-1] < 1:
        raise ValueError(f"{name} must have shape [K, K] or [X, K, K], got {shape}")
    if is_concrete(P):
        # imported here: zoprl.oracles registers the game generators of zoprl.games on import
        from zoprl.oracles.preferences import validate_preference

        arr = np.asarray(P, np.float64)
        validate_preference(arr.reshape((-1,) + shape[-2:]), atol=PREFERENCE_ATOL)


def check_policy(name: str, pi, num_actions: int) -> None:
    """pi is [K] or [X, K] and each row a distribution (within ``DISTRIBUTION_ATOL``)."""
    shape = np.shape(pi)
    if len(shape) not in (1, 2) or shape[-1] != num_actions:
        raise ValueError(
            f"{name} must have shape [K] or [X, K] with K = {num_actions}, got {shape}"
        )
    check_distribution(name, pi, axis=-1, atol=DISTRIBUTION_ATOL)


def check_eta(eta) -> None:
    """eta is a finite scalar > 0 (a Python float or a 0-d array)."""
    if np.ndim(eta) != 0:
        raise ValueError(f"eta must be a scalar, got shape {np.shape(eta)}")
    check_positive("eta", eta)


def check_game(P, eta=None, **policies) -> int | None:
    """Check P, eta (unless None) and the named policies (pi0, pi, ...); return the number of
    contexts X (None when every input is unbatched). A [K, K] P or a [K] policy is shared by all
    contexts; inputs that are batched must agree on X."""
    check_preference(P)
    num_actions = np.shape(P)[-1]
    for name, pi in policies.items():
        check_policy(name, pi, num_actions)
    if eta is not None:
        check_eta(eta)
    sizes = {
        name: np.shape(a)[0]
        for name, a in (("P", P), *policies.items())
        if np.ndim(a) == (3 if name == "P" else 2)
    }
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the number of contexts X differs between inputs: {sizes}")
    return next(iter(sizes.values()), None)


def check_context_weights(d0, num_contexts: int) -> None:
    """d0 is a distribution over the X contexts."""
    if np.shape(d0) != (num_contexts,):
        raise ValueError(f"d0 must have shape [X] = ({num_contexts},), got {np.shape(d0)}")
    check_distribution("d0", d0, atol=DISTRIBUTION_ATOL)


def with_contexts(P, *policies):
    """Cast to the common float dtype and broadcast P to [X, K, K] and the policies to [X, K]
    (X = 1 when nothing is batched)."""
    dtype = float_dtype(P, *policies)
    P = jnp.asarray(P, dtype)
    policies = [jnp.asarray(pi, dtype) for pi in policies]
    num_contexts = max(
        [P.shape[0] if P.ndim == 3 else 1] + [pi.shape[0] if pi.ndim == 2 else 1 for pi in policies]
    )
    num_actions = P.shape[-1]
    P = jnp.broadcast_to(P, (num_contexts, num_actions, num_actions))
    policies = [jnp.broadcast_to(pi, (num_contexts, num_actions)) for pi in policies]
    return (P, *policies)
